"""How the alert benchmarks read the reference and score raised alerts against it (bench/scoring.py)."""

import numpy as np
import pytest

from bench.scoring import (AlertRecord, af_counts, alert_episodes, alert_rate, false_raises, hours_outside,
                           reference_pauses, rhythms, run_counts, score_vf, union_length, ventricular_runs)


def raised(kind, start, time):
    return AlertRecord(kind, "raised", start, time)


def cleared(kind, start, time, end):
    return AlertRecord(kind, "cleared", start, time, end)


# ------------------------------------------------------------------ references
def test_a_reference_ventricular_run_is_three_or_more_consecutive_v_beats():
    symbols = "NVVNVVVNNVVVVVAVVV"
    beats = [(float(i), s) for i, s in enumerate(symbols)]
    # a couplet is not a run; runs end at any other beat, and one that ends the record still counts
    assert ventricular_runs(beats) == [(4.0, 6.0, 3), (9.0, 13.0, 5), (15.0, 17.0, 3)]


def test_escape_and_fusion_beats_break_a_run():
    beats = [(float(i), s) for i, s in enumerate("VVEVVFVV")]
    assert ventricular_runs(beats) == []
    assert ventricular_runs(beats, min_beats=2) == [(0.0, 1.0, 2), (3.0, 4.0, 2), (6.0, 7.0, 2)]


def test_a_rhythm_lasts_until_the_next_rhythm_annotation_and_adjacent_vf_labels_are_one_episode():
    marks = [(0.0, "(N"), (10.0, "(VFL"), (14.0, "(VF"), (20.0, "(NOISE"), (30.0, "(VFIB")]
    assert rhythms(marks, 40.0, ("(VF", "(VFL", "(VFIB")) == [(10.0, 20.0), (30.0, 40.0)]
    assert rhythms(marks, 40.0, ("(VT",)) == []


def test_union_length_counts_overlaps_once_and_clips_to_the_record():
    assert union_length([(0, 10), (5, 15), (20, 30), (35, 50)], 40.0) == 30.0


def test_reference_pauses_skip_rr_intervals_that_span_flutter():
    beats = np.array([0.0, 1.0, 5.0, 6.0, 11.0])
    assert reference_pauses(beats, 3.0, []) == [1.0, 6.0]
    assert reference_pauses(beats, 3.0, [(7.0, 9.0)]) == [1.0]


# ------------------------------------------------------------------ alert episodes
def test_an_alert_episode_runs_from_its_raise_to_the_end_its_clear_reports_or_the_record_end():
    alerts = [raised("v", 9.0, 10.0), cleared("v", 9.0, 80.0, 20.0), raised("v", 100.0, 101.0)]
    assert alert_episodes(alerts, "v", 200.0) == [(9.0, 10.0, 20.0), (100.0, 101.0, 200.0)]


# ------------------------------------------------------------------ flutter / fibrillation
def test_vf_episode_found_by_a_new_raise_has_its_delay_from_onset():
    alerts = [raised("vf", 11.0, 13.5), cleared("vf", 11.0, 90.0, 30.0)]
    [e] = score_vf([(10.0, 30.0)], alerts, 100.0, "vf")
    assert (e.delay, e.new, e.length) == (3.5, True, 20.0)


def test_vf_episode_inside_an_alert_already_on_is_found_with_no_delay():
    alerts = [raised("vf", 1.0, 3.0), cleared("vf", 1.0, 90.0, 40.0)]
    assert [(e.delay, e.new) for e in score_vf([(2.0, 6.0), (30.0, 35.0)], alerts, 100.0, "vf")] \
        == [(1.0, True), (0.0, False)]


def test_vf_episode_is_missed_when_the_alert_comes_later_than_the_tolerance_after_it():
    alerts = [raised("vf", 10.0, 35.0)]
    assert score_vf([(10.0, 30.0)], alerts, 100.0, "vf", tolerance=4.0)[0].delay is None
    assert score_vf([(10.0, 30.0)], alerts, 100.0, "vf", tolerance=5.0)[0].delay == 25.0


def test_false_vf_alarms_are_raises_outside_every_excused_episode_per_hour_outside_them():
    alerts = [raised("vf", 0, 100.0), raised("vf", 0, 203.0), raised("vf", 0, 500.0), cleared("vf", 0, 600.0, 550.0)]
    assert false_raises(alerts, "vf", [(190.0, 200.0)], tolerance=4.0) == [100.0, 500.0]
    assert hours_outside([(190.0, 200.0)], 3600.0, tolerance=4.0) == pytest.approx((3600 - 14) / 3600)


# ------------------------------------------------------------------ runs and AF
def test_ec57_run_counts_by_length_class_and_alerts_in_no_reference_run():
    runs = [(10.0, 11.0, 3), (50.0, 55.0, 8), (90.0, 91.0, 4)]
    alerts = [raised("run", 9.6, 12.0), cleared("run", 9.6, 70.0, 12.0),  # starts 0.4 s before the run: found
              raised("run", 30.0, 31.0), cleared("run", 30.0, 90.0, 32.0)]  # in no reference run
    c = run_counts(runs, alerts, 100.0, "run")
    assert c["short runs (3-5)"] == 2 and c["short runs (3-5) found"] == 1
    assert c["long runs (>= 6)"] == 1 and c["long runs (>= 6) found"] == 0
    assert (c["alerts"], c["alerts_true"]) == (2, 1)


def test_af_alert_episodes_are_scored_with_ec57_episode_and_duration_counts():
    alerts = [raised("af", 100.0, 130.0), cleared("af", 100.0, 400.0, 300.0), raised("af", 600.0, 620.0),
              cleared("af", 600.0, 700.0, 650.0)]
    c = af_counts([(90.0, 310.0)], alerts, 1000.0, "af")
    # one reference episode, found; two detected, one true; 220 s reference, 250 s detected, 200 s both
    assert list(c) == [1, 1, 2, 1, 220.0, 250.0, 200.0]


def test_alert_rate_counts_raises_per_hour_of_record():
    alerts = [raised("a", 0, t) for t in range(20)] + [cleared("a", 0, 30.0, 30.0)]
    assert alert_rate(alerts, 1800.0) == 40.0
