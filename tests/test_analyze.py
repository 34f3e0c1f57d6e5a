"""ecg-analyze: the processor over a record, written as a WFDB annotation file that scores."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb
from wfdb.processing import compare_annotations

from gateway.tools.analyze import RECORD_FRONT_END, analyze_record, main, score
from gateway.device import DeviceStream
from reference_classifier import BEAT_SYMBOLS, FIXTURES, ReferenceClassifier


@pytest.fixture(scope="module")
def e233(tmp_path_factory):
    out = tmp_path_factory.mktemp("ann")
    stream = DeviceStream("e233", "e233", 360, **RECORD_FRONT_END)
    return analyze_record(FIXTURES / "e233", ReferenceClassifier("e233", stream), out), out


def test_annotation_file_reads_back_with_beats_and_alarms(e233):
    analysis, out = e233
    assert analysis.annotation == out / "e233.ecg"
    ann = wfdb.rdann(str(out / "e233"), "ecg")
    beats = [(s, sym) for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS]
    assert len(beats) == len(analysis.beats)
    rhythms = [aux for sym, aux in zip(ann.symbol, ann.aux_note) if sym == "+"]
    assert "(VT" in rhythms and "(T" in rhythms and "(N" in rhythms
    comments = [aux for sym, aux in zip(ann.symbol, ann.aux_note) if sym == '"']
    assert "alert:frequent_pvc" in comments


def test_annotations_score_against_the_reference(e233):
    analysis, out = e233
    ref = wfdb.rdann(str(FIXTURES / "e233"), "atr")
    ref_beats = np.array([s for s, sym in zip(ref.sample, ref.symbol) if sym in BEAT_SYMBOLS])
    ours = wfdb.rdann(str(out / "e233"), "ecg")
    test = np.array([s for s, sym in zip(ours.sample, ours.symbol) if sym in BEAT_SYMBOLS])
    cmp = compare_annotations(ref_beats, test, 54)
    assert cmp.sensitivity > 0.98 and cmp.positive_predictivity > 0.98
    scored = score(FIXTURES / "e233", analysis)
    assert scored["sensitivity"] == pytest.approx(cmp.sensitivity, abs=0.01)
    assert scored["label_agreement"] > 0.97  # the reference classifier answers with the reference


def test_cli_reports_a_missing_model_clearly(tmp_path, capsys):
    assert main([str(FIXTURES / "e100"), "--out", str(tmp_path), "--model", str(tmp_path / "none.tflite")]) == 2
    assert "none.tflite" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_writes_the_file_and_prints_a_summary(tmp_path, capsys, monkeypatch):
    import gateway.classify.model

    monkeypatch.setattr(gateway.classify.model, "load_model", lambda *a, **k: ReferenceClassifier(
        "e100", DeviceStream("e100", "e100", 360, **RECORD_FRONT_END)))
    assert main([str(FIXTURES / "e100"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "e100:" in printed and "vs reference: Se" in printed and "label agreement" in printed
    assert (tmp_path / "e100.ecg").is_file()
    assert main([str(tmp_path / "nothere"), "--out", str(tmp_path)]) == 2
    assert "nothere" in capsys.readouterr().err


def test_rhythm_annotations_open_before_they_close(e233):
    _, out = e233
    ann = wfdb.rdann(str(out / "e233"), "ecg")
    rhythm = [(s, aux) for s, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note) if sym == "+"]
    opened = [s for s, aux in rhythm if aux != "(N"]
    closed = [s for s, aux in rhythm if aux == "(N"]
    assert len(opened) == len(closed) >= 2  # the run and the trigeminy each open and close
    assert rhythm[0][1] != "(N" and all(any(c > o for c in closed) for o in opened)
