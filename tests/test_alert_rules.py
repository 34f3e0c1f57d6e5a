"""Each alert rule on its own, built from its settings slice: the specification of one rule at a time.

The policy-level behaviour (ordering, framing, the processor's alerts) is in
test_alerts.py; here every rule gets a shared :class:`BeatLog` and
:class:`Ledger` and nothing else, which is all a rule may depend on.
"""

from __future__ import annotations

import pytest

from gateway.alerts.atrial import AFSettings, AtrialFibrillation
from gateway.alerts.config import AlertConfig
from gateway.alerts.counts import CountSettings, EctopyCounts
from gateway.alerts.flutter import FlutterRule, FlutterSettings
from gateway.alerts.history import BeatLog, BeatRecord
from gateway.alerts.lead_signal import LeadRule, QualityRule, SignalSettings
from gateway.alerts.ledger import Ledger
from gateway.alerts.patterns import PatternSettings, Patterns
from gateway.alerts.rate import PauseRule, RateRule, RateSettings
from gateway.alerts.runs import RunSettings, VentricularRuns
from gateway.alerts.types import (AF, ASYSTOLE, BIGEMINY, BRADYCARDIA, FREQUENT_APB, FREQUENT_PVC, LEAD_OFF, PAUSE,
                                  POOR_SIGNAL, RUN, TACHYCARDIA, TRIGEMINY, VF)
from gateway.signal.rhythm import RhythmWindow
from gateway.signal.spec import MODEL_FS, WINDOW_AFTER

FS = MODEL_FS


def shared(**overrides) -> tuple[AlertConfig, BeatLog, Ledger]:
    """A config (clears go out at once unless the test asks for episodes), its beat log and ledger."""
    config = AlertConfig(**{"episode_merge_s": 0.0, **overrides})
    beats = BeatLog(config, FS)
    beats.segment_start = 0
    return config, beats, Ledger(config, beats)


def rhythm(vf: bool, vf_like: bool) -> RhythmWindow:
    return RhythmWindow(end=0, leakage=0.0, concentration=0.0, ptp=1.0, vf_like=vf_like, vf=vf, noisy=False)


def feed_beats(beats: BeatLog, rr_s: float, n: int, first: int = FS):
    """``n`` beats every ``rr_s`` seconds into the log; yields (at, record)."""
    peak, prev = first, None
    for _ in range(n):
        record = BeatRecord(peak, "N", None if prev is None else peak - prev)
        beats.add(record)
        beats.last_peak = peak
        yield peak + WINDOW_AFTER, record
        prev, peak = peak, peak + int(round(rr_s * FS))


@pytest.mark.parametrize("slice_cls, bad, field", [
    (RunSettings, {"run_min_beats": 1}, "run_min_beats"),
    (CountSettings, {"pvc_count": 0}, "pvc_count"),
    (PatternSettings, {"trigeminy_cycles": 0}, "trigeminy_cycles"),
    (RateSettings, {"pause_s": 0}, "pause_s"),
    (RateSettings, {"asystole_s": 1.0}, "asystole_s"),
    (FlutterSettings, {"vf_clear_windows": 0}, "vf_clear_windows"),
    (SignalSettings, {"poor_signal_fraction": 1.5}, "poor_signal_fraction"),
])
def test_each_slice_checks_its_own_keys_alone_and_inside_the_whole_config(slice_cls, bad, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        slice_cls(**bad)
    with pytest.raises(ValueError, match=f"^{field}"):
        AlertConfig(**bad)


def test_the_whole_config_is_every_slice():
    names = {f for cls in (RunSettings, CountSettings, PatternSettings, RateSettings, FlutterSettings,
                           SignalSettings) for f in cls.__dataclass_fields__}
    assert names <= set(AlertConfig.__dataclass_fields__)


def test_a_run_is_raised_on_its_third_ventricular_beat_and_cleared_by_the_next_normal_one():
    config, beats, ledger = shared()
    runs = VentricularRuns(config, ledger, beats)
    findings = []
    for i, (at, record) in enumerate(feed_beats(beats, 0.5, 5)):
        findings += runs.beat(at, record, "V" if 1 <= i <= 3 else "n")
    assert [(f.type, f.state) for f in findings] == [(RUN, "raised"), (RUN, "cleared")]
    assert findings[0].severity == "critical" and "120/min" in findings[0].message
    assert "3 beats" in findings[1].message


def test_a_slow_ventricular_rhythm_is_high_not_critical():
    config, beats, ledger = shared()
    runs = VentricularRuns(config, ledger, beats)
    findings = [f for at, r in feed_beats(beats, 1.0, 3) for f in runs.beat(at, r, "V")]
    assert [f.severity for f in findings] == ["high"] and "slow ventricular rhythm" in findings[0].message


@pytest.mark.parametrize("unit, kind", [("nV", BIGEMINY), ("nnV", TRIGEMINY)])
def test_patterns_need_their_cycles_in_a_row_wherever_the_cycle_starts(unit, kind):
    config, beats, ledger = shared()
    cycles = config.bigeminy_cycles if kind == BIGEMINY else config.trigeminy_cycles
    for offset in range(len(unit)):
        config, beats, ledger = shared()
        patterns = Patterns(config, ledger, beats)
        sequence = ("n" * offset + unit * cycles)
        findings = [f for (at, _), cat in zip(feed_beats(beats, 0.8, len(sequence)), sequence)
                    for f in patterns.beat(at, at - WINDOW_AFTER, cat)]
        assert [(f.type, f.state) for f in findings] == [(kind, "raised")], offset


@pytest.mark.parametrize("rr_s", [7.5, 20.0, 61.0])
def test_a_pattern_slower_than_the_beat_log_starts_at_its_own_first_beat(rr_s):
    """The beat log keeps a minute; a trigeminy of 9 beats at 8/min or slower spans more (vfdb 418 crashed here)."""
    config, beats, ledger = shared()
    patterns = Patterns(config, ledger, beats)
    sequence = "nnV" * config.trigeminy_cycles
    fed = list(feed_beats(beats, rr_s, len(sequence)))
    findings = [f for (at, _), cat in zip(fed, sequence) for f in patterns.beat(at, at - WINDOW_AFTER, cat)]
    assert [(f.type, f.start) for f in findings] == [(TRIGEMINY, fed[0][1].peak)]


def test_a_long_bigeminy_setting_is_not_cut_short_by_the_trigeminy_length():
    config, beats, ledger = shared(bigeminy_cycles=8)
    patterns = Patterns(config, ledger, beats)
    sequence = "nV" * 8
    findings = [f for (at, _), cat in zip(feed_beats(beats, 0.8, len(sequence)), sequence)
                for f in patterns.beat(at, at - WINDOW_AFTER, cat)]
    assert [f.type for f in findings] == [BIGEMINY]


def test_more_than_six_pvcs_a_minute_is_one_event():
    config, beats, ledger = shared()
    counts = EctopyCounts(config, ledger, beats)
    findings = [f for at, r in feed_beats(beats, 5.0, 10) for f in counts.beat(at, r.peak, "V")]
    assert [(f.type, f.state) for f in findings] == [(FREQUENT_PVC, "raised")]
    assert findings[0].message.startswith("7 PVCs")


def test_rate_rules_wait_for_a_whole_window_then_raise_and_clear_with_hysteresis():
    config, beats, ledger = shared()
    rate = RateRule(config, ledger, beats, FlutterRule(config, ledger, beats))
    slow = [f for at, _ in feed_beats(beats, 60 / 35, 12) for f in rate.beat(at)]
    assert [(f.type, f.state) for f in slow] == [(BRADYCARDIA, "raised")]
    assert slow[0].at - WINDOW_AFTER >= config.rate_window_s * FS
    config, beats, ledger = shared()
    rate = RateRule(config, ledger, beats, FlutterRule(config, ledger, beats))
    fast = [f for at, _ in feed_beats(beats, 60 / 160, 40) for f in rate.beat(at)]
    assert [(f.type, f.state) for f in fast] == [(TACHYCARDIA, "raised")]


def test_a_pause_is_due_pause_s_after_the_last_beat_is_known_and_asystole_later():
    config, beats, ledger = shared()
    lead = LeadRule(config, ledger, beats)
    pauses = PauseRule(config, ledger, beats, FlutterRule(config, ledger, beats), lead)
    list(feed_beats(beats, 1.0, 1, first=FS))
    due = FS + int(config.pause_s * FS) + WINDOW_AFTER
    assert pauses.advance(due) == []  # decided only after the due sample
    raised = pauses.advance(due + 1)
    assert [(f.type, f.at) for f in raised] == [(PAUSE, due)]
    later = pauses.advance(FS + int(config.asystole_s * FS) + WINDOW_AFTER + 1)
    assert [f.type for f in later] == [ASYSTOLE]
    cleared = pauses.beat(10 * FS, 10 * FS - WINDOW_AFTER)
    assert {(f.type, f.state) for f in cleared} == {(PAUSE, "cleared"), (ASYSTOLE, "cleared")}


def test_no_pause_while_the_lead_is_off_or_flutter_is_seen():
    config, beats, ledger = shared()
    lead = LeadRule(config, ledger, beats)
    flutter = FlutterRule(config, ledger, beats)
    pauses = PauseRule(config, ledger, beats, flutter, lead)
    list(feed_beats(beats, 1.0, 1))
    lead.lead(FS, False, "flag")
    assert pauses.advance(20 * FS) == []
    lead.lead(20 * FS, True, "ok")
    flutter.window(20 * FS, rhythm(vf=False, vf_like=True), 4 * FS)
    assert pauses.advance(21 * FS) == []


def test_lead_off_is_debounced_and_stamped_when_due():
    config, beats, ledger = shared()
    lead = LeadRule(config, ledger, beats)
    lead.lead(1000, False, "saturated")
    due = 1000 + int(config.lead_off_s * FS)
    assert lead.advance(due - 1) == []
    raised = lead.advance(due + 500)
    assert [(f.type, f.at, f.start) for f in raised] == [(LEAD_OFF, due, 1000)]
    assert "ADC limit" in raised[0].message
    assert [f.state for f in lead.lead(due + 600, True, "ok")] == ["cleared"]


def test_poor_signal_needs_a_whole_window_of_mostly_noisy_verdicts():
    config, beats, ledger = shared()
    quality = QualityRule(config, ledger, beats)
    found = [f for k in range(1, 40) for f in quality.window(k * FS, True, 4 * FS)]
    assert [(f.type, f.state) for f in found] == [(POOR_SIGNAL, "raised")]
    assert found[0].at >= config.poor_signal_window_s * FS
    cleared = [f for k in range(40, 80) for f in quality.window(k * FS, False, 4 * FS)]
    assert [(f.type, f.state) for f in cleared] == [(POOR_SIGNAL, "cleared")]


def test_flutter_raises_on_a_vf_window_and_clears_after_the_quiet_windows():
    config, beats, ledger = shared()
    flutter = FlutterRule(config, ledger, beats)
    vf = rhythm(vf=True, vf_like=True)
    quiet = rhythm(vf=False, vf_like=False)
    raised = flutter.window(4 * FS, vf, 4 * FS)
    assert [(f.type, f.state, f.start) for f in raised] == [(VF, "raised", 0)]
    ends = [f for k in range(config.vf_clear_windows) for f in flutter.window((5 + k) * FS, quiet, 4 * FS)]
    assert [(f.type, f.state) for f in ends] == [(VF, "cleared")]


# ---------------------------------------------------------------- the ledger: episodes, priorities, bound
def test_a_condition_back_within_the_merge_window_is_one_episode_with_its_bouts_counted():
    config, beats, ledger = shared(episode_merge_s=60.0)
    merge = 60 * FS
    assert len(ledger.alert(RUN, 0, 100, "run", {})) == 1
    assert ledger.clear(RUN, 1000, "Run ended.") == []  # held: it may come back
    assert ledger.ongoing(RUN) is False and ledger.raised(RUN) is True
    assert ledger.alert(RUN, 5000, 5100, "run", {}) == []  # back: the same episode, no new raise
    assert ledger.clear(RUN, 6000, "Run ended.") == []
    assert ledger.advance(6000 + merge - 1) == []
    cleared = ledger.advance(6000 + merge)
    assert [(f.state, f.start, f.at) for f in cleared] == [("cleared", 0, 6000 + merge)]
    assert "2 bouts" in cleared[0].message
    assert len(ledger.alert(RUN, 6000 + merge + 10, 6000 + merge + 20, "run", {})) == 1  # a new episode


def test_flutter_supersedes_pauses_rates_and_runs_while_it_lasts():
    config, beats, ledger = shared()
    ledger.alert(PAUSE, 0, 10, "pause", {})
    raised = ledger.alert(VF, 20, 30, "vf", {})
    assert [(f.type, f.state) for f in raised] == [(VF, "raised"), (PAUSE, "cleared")]
    assert "superseded" in raised[1].message
    for kind in (PAUSE, ASYSTOLE, BRADYCARDIA, TACHYCARDIA, RUN, BIGEMINY, TRIGEMINY, FREQUENT_PVC):
        assert ledger.alert(kind, 40, 50, kind, {}) == [], kind
    cleared = ledger.clear(VF, 100, "VF ended.")
    assert "8 other alerts were held" in cleared[0].message
    assert ledger.alert(LEAD_OFF, 110, 120, "lead off", {})  # not suppressed by flutter


def test_the_hourly_bound_holds_non_critical_raises_but_never_a_critical_one():
    config, beats, ledger = shared(max_alerts_per_hour=2, alert_bound_window_s=3600.0, cooldown_s={FREQUENT_PVC: 0})
    assert ledger.alert(FREQUENT_PVC, 0, 1, "pvc", {}) and ledger.alert(FREQUENT_PVC, 0, 2, "pvc", {})
    assert ledger.alert(FREQUENT_PVC, 0, 3, "pvc", {}) == []
    assert ledger.held_by_bound == 1
    critical = ledger.alert(ASYSTOLE, 4, 4, "asystole", {})  # critical, and holds no frequent PVCs
    assert critical and critical[0].severity == "critical" and "1 other alerts held back" in critical[0].message
    assert len(ledger.alert(FREQUENT_PVC, 0, 3600 * FS + 5, "pvc", {})) == 1  # an hour later: room again


def test_the_bound_holds_pro_rata_over_every_window_so_a_short_stay_is_bounded_too():
    # 30 an hour over 20-minute windows: at most 10 raises in any 20 minutes
    config, beats, ledger = shared(max_alerts_per_hour=30, alert_bound_window_s=1200.0, cooldown_s={FREQUENT_PVC: 0})
    assert ledger.bound == 10
    went_out = [bool(ledger.alert(FREQUENT_PVC, 0, k * FS, "pvc", {})) for k in range(1, 13)]
    assert went_out == [True] * 10 + [False] * 2
    assert ledger.alert(ASYSTOLE, 13 * FS, 13 * FS, "asystole", {})  # a critical alert is never held or delayed
    assert ledger.alert(FREQUENT_PVC, 0, 1202 * FS, "pvc", {})  # 20 minutes after the first: room again


def test_a_condition_the_bound_held_is_raised_late_while_it_still_holds_and_an_ended_one_never():
    config, beats, ledger = shared(max_alerts_per_hour=2, alert_bound_window_s=3600.0, cooldown_s={FREQUENT_PVC: 0})
    assert ledger.alert(FREQUENT_PVC, 0, 1, "pvc", {}) and ledger.alert(FREQUENT_PVC, 0, 2, "pvc", {})
    assert ledger.alert(AF, 10 * FS, 20 * FS, "AF.", {}) == []  # the bound is full: held
    assert ledger.alert(BIGEMINY, 30 * FS, 40 * FS, "bigeminy", {}) == []
    assert ledger.ongoing(AF) and not ledger.raised(AF)
    assert ledger.advance(3000 * FS) == []  # still no room
    assert ledger.clear(BIGEMINY, 3100 * FS, "ended") == []  # bigeminy ended while held: never raised
    late = ledger.advance(3600 * FS + 2)  # the first raise left the window: room for one
    assert [(f.type, f.state, f.start) for f in late] == [(AF, "raised", 10 * FS)]
    assert "held by the alert bound" in late[0].message and ledger.raised(AF)
    assert ledger.alert(AF, 10 * FS, 3700 * FS, "AF.", {}) == []  # raised once
    assert [f.type for f in ledger.advance(7300 * FS)] == []  # and bigeminy stays ended


def test_an_open_ventricular_ectopy_episode_holds_the_frequent_pvc_count_and_bigeminy_holds_trigeminy():
    config, beats, ledger = shared(cooldown_s={FREQUENT_PVC: 0})
    ledger.alert(TRIGEMINY, 0, 10, "trigeminy", {})
    raised = ledger.alert(BIGEMINY, 20, 30, "bigeminy", {})
    assert [(f.type, f.state) for f in raised] == [(BIGEMINY, "raised"), (TRIGEMINY, "cleared")]
    assert ledger.alert(TRIGEMINY, 40, 50, "trigeminy", {}) == []
    assert ledger.alert(FREQUENT_PVC, 40, 60, "pvc", {}) == []
    assert "2 other alerts were held" in ledger.clear(BIGEMINY, 100, "ended")[0].message
    assert ledger.alert(FREQUENT_PVC, 100, 110, "pvc", {})  # the pattern over: the count alerts again
    for kind in (RUN, TRIGEMINY):
        config, beats, ledger = shared(cooldown_s={FREQUENT_PVC: 0})
        ledger.alert(kind, 0, 10, kind, {})
        assert ledger.alert(FREQUENT_PVC, 0, 20, "pvc", {}) == [], kind


def test_atrial_fibrillation_holds_frequent_apbs():
    config, beats, ledger = shared()
    ledger.alert(AF, 0, 10, "af", {})
    assert ledger.alert(FREQUENT_APB, 0, 20, "apb", {}) == []
    ledger.clear(AF, 30, "af ended")
    assert ledger.alert(FREQUENT_APB, 0, 40, "apb", {})


def test_irregularly_irregular_rr_raises_atrial_fibrillation_and_a_gap_ends_it():
    import numpy as np
    config, beats, ledger = shared()
    af = AtrialFibrillation(config, ledger, beats)
    rng = np.random.default_rng(1)
    peak, found = FS, []
    for rr in rng.uniform(0.4, 1.1, 300):
        step = int(rr * FS)
        peak += step
        found += af.beat(peak + WINDOW_AFTER, peak, step, "N", reliable=True)
    assert [(f.type, f.state) for f in found] == [("atrial_fibrillation", "raised")]
    assert 0 < af.burden() <= 1
    ended = af.reset(peak + WINDOW_AFTER)
    assert [(f.type, f.state) for f in ended] == [("atrial_fibrillation", "cleared")]


def test_regular_rhythm_or_beats_in_noise_raise_no_atrial_fibrillation():
    import numpy as np
    config, beats, ledger = shared()
    af = AtrialFibrillation(config, ledger, beats)
    rng = np.random.default_rng(2)
    peak, found = FS, []
    for k, rr in enumerate(rng.uniform(0.4, 1.1, 300)):
        step = int(rr * FS) if k % 2 else 288  # irregular beats all read in noise
        peak += step
        found += af.beat(peak + WINDOW_AFTER, peak, step, "N", reliable=not k % 2 == 1)
    assert found == []
