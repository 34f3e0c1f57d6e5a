"""How the MIT-BIH alert benchmark reads the reference: what counts as a ventricular run."""

from bench.alerts import ventricular_runs


def test_a_reference_ventricular_run_is_three_or_more_consecutive_v_beats():
    symbols = "NVVNVVVNNVVVVVAVVV"
    beats = [(float(i), s) for i, s in enumerate(symbols)]
    # a couplet is not a run; runs end at any other beat, and one that ends the record still counts
    assert ventricular_runs(beats) == [(4.0, 6.0), (9.0, 13.0), (15.0, 17.0)]


def test_escape_and_fusion_beats_break_a_run():
    beats = [(float(i), s) for i, s in enumerate("VVEVVFVV")]
    assert ventricular_runs(beats) == []
    assert ventricular_runs(beats, min_beats=2) == [(0.0, 1.0), (3.0, 4.0), (6.0, 7.0)]
