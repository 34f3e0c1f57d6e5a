"""Alert types, their severities and cool-downs: the names every rule, the config and the docs share."""

from __future__ import annotations

VF = "ventricular_fibrillation"
RUN = "ventricular_run"
FREQUENT_PVC = "frequent_pvc"
BIGEMINY = "bigeminy"
TRIGEMINY = "trigeminy"
FREQUENT_APB = "frequent_apb"
BRADYCARDIA = "bradycardia"
TACHYCARDIA = "tachycardia"
PAUSE = "pause"
ASYSTOLE = "asystole"
LEAD_OFF = "lead_off"
SIGNAL_LOST = "signal_lost"
POOR_SIGNAL = "poor_signal"
AF = "atrial_fibrillation"

SEVERITIES = ("critical", "high", "medium", "low", "info")

#: Default severity of each alert type (a ventricular run's severity also
#: depends on its rate, see :attr:`RunSettings.run_fast_bpm`).
DEFAULT_SEVERITY: dict[str, str] = {
    VF: "critical", RUN: "critical", FREQUENT_PVC: "medium", BIGEMINY: "medium", TRIGEMINY: "medium",
    FREQUENT_APB: "low", BRADYCARDIA: "high", TACHYCARDIA: "high", PAUSE: "high", ASYSTOLE: "critical",
    LEAD_OFF: "high", SIGNAL_LOST: "high", POOR_SIGNAL: "low", AF: "medium",
}
#: Default cool-down of each type, seconds: no second raise of the type within it.
DEFAULT_COOLDOWN: dict[str, float] = {
    VF: 0.0, RUN: 0.0, FREQUENT_PVC: 300.0, BIGEMINY: 60.0, TRIGEMINY: 60.0, FREQUENT_APB: 300.0,
    BRADYCARDIA: 60.0, TACHYCARDIA: 60.0, PAUSE: 0.0, ASYSTOLE: 0.0, LEAD_OFF: 30.0, SIGNAL_LOST: 0.0,
    POOR_SIGNAL: 300.0, AF: 0.0,
}
ALERT_TYPES = tuple(DEFAULT_SEVERITY)
#: Types that are raised and later cleared (the others are one-off events).
CONDITIONS = frozenset(ALERT_TYPES) - {FREQUENT_PVC, FREQUENT_APB}
#: Conditions whose returning bouts merge into one episode.  Lead off and signal lost clear at once: "monitoring
#: resumed" is news the caregiver needs now, and their debounce and cool-down already stop a flickering lead.
EPISODIC = CONDITIONS - {LEAD_OFF, SIGNAL_LOST}

#: While an episode of the key is open (until its clear goes out), raises of these types are held and their open
#: episodes end.  Why each (docs/alerts.md, "Arbitration"):
#: * VF: in flutter/fibrillation R peaks are not beats, so pauses, rates, runs and patterns read from them are its
#:   artefacts;
#: * a ventricular run, bigeminy or trigeminy: an open ventricular-ectopy alarm already says the PVCs are frequent;
#:   the minute count would page again with no news;
#: * bigeminy over trigeminy: a patient whose ectopy switches between every second and every third beat has one
#:   pattern episode, and bigeminy is the heavier burden;
#: * AF over frequent APBs: in AF the irregular early beats the classifier calls atrial are AF's own irregularity.
SUPPRESSES: dict[str, frozenset[str]] = {
    VF: frozenset({PAUSE, ASYSTOLE, BRADYCARDIA, TACHYCARDIA, RUN, BIGEMINY, TRIGEMINY, FREQUENT_PVC, POOR_SIGNAL,
                   AF}),
    RUN: frozenset({FREQUENT_PVC}),
    BIGEMINY: frozenset({TRIGEMINY, FREQUENT_PVC}),
    TRIGEMINY: frozenset({FREQUENT_PVC}),
    AF: frozenset({FREQUENT_APB}),
}
