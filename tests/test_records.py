"""Any PhysioNet record works (issue #14): leads without standard names, invalid samples, other rates.

* The lead: asked for (``--lead NAME|INDEX``), else a standard lead by name
  (MLII, II, V5, V1, V2, V4, I), else the first signal -- and then the tools
  say so.  One rule, :func:`gateway.signal.leads.choose_lead`.
* Invalid samples (WFDB's missing-value code, NaN) are a gap: nothing spans
  it, the rest is analysed, the clock stays the record's, the gap is reported.
* Records at 128 Hz (svdb) and 250 Hz (vfdb) go through the same processor.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from gateway.errors import SignalError
from gateway.signal.leads import choose_lead, invalid_runs, read_record
from gateway.signal.spec import MODEL_FS, WINDOW_AFTER, WINDOW_BEFORE
from gateway.tools.analyze import analyze_record, main, score
from gateway.tools.replay import plan_frames, record_counts, record_signal, replay

FIXTURES = Path(__file__).parent / "fixtures"
E100 = FIXTURES / "mitdb" / "e100"
S824 = FIXTURES / "svdb" / "s824"  # 128 Hz, leads ECG1 / ECG2
BEATS = set("NLRBAaJSVrFejnE/fQ?!")


class StubClassifier:
    """Every beat normal: these tests are about which samples are analysed, not about labels."""

    labels = ("N", "V")
    scheme = "stub"
    version = "stub-1"

    def classify(self, images, context):
        probs = np.zeros((len(images), 2), dtype=np.float32)
        probs[:, 0] = 1.0
        return np.zeros(len(images), dtype=np.int64), probs


@pytest.fixture
def stub_model(monkeypatch):
    """``ecg-analyze`` loads the stub instead of a model."""
    import gateway.classify.model

    monkeypatch.setattr(gateway.classify.model, "load_model", lambda *a, **k: StubClassifier())


def beat_samples(record: Path, extension: str) -> np.ndarray:
    ann = wfdb.rdann(str(record), extension)
    return np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEATS])


def write_record(out: Path, name: str, mv: np.ndarray, fs: int, sig_name: list[str],
                 ann: tuple[np.ndarray, list[str]] | None = None) -> Path:
    """A format-212 record of ``mv`` (NaN: missing-value code), with an optional ``.atr``.

    ``wfdb.wrsamp`` refuses repeated signal names, which real headers have (vfdb: ``ECG``, ``ECG``),
    so those are written under stand-in names and put into the header afterwards.
    """
    stand_in = [f"SIGNAL{i}" for i in range(mv.shape[1])]
    wfdb.wrsamp(name, fs=fs, units=["mV"] * mv.shape[1], sig_name=stand_in, p_signal=mv, fmt=["212"] * mv.shape[1],
                adc_gain=[200.0] * mv.shape[1], baseline=[0] * mv.shape[1], write_dir=str(out))
    header = out / f"{name}.hea"
    lines = header.read_text().splitlines()
    for i, real in enumerate(sig_name):
        assert lines[1 + i].endswith(f" {stand_in[i]}")
        lines[1 + i] = lines[1 + i][: -len(stand_in[i])] + real
    header.write_text("\n".join(lines) + "\n")
    if ann is not None:
        wfdb.wrann(name, "atr", np.asarray(ann[0]), symbol=list(ann[1]), fs=fs, write_dir=str(out))
    return out / name


def with_invalid(source: Path, out: Path, stretches_s: list[tuple[float, float]]) -> Path:
    """A copy of ``source`` whose samples in the given stretches (seconds, both leads) are invalid."""
    rec = wfdb.rdrecord(str(source))
    mv = rec.p_signal.copy()
    for a, b in stretches_s:
        mv[int(round(a * rec.fs)):int(round(b * rec.fs))] = np.nan
    path = write_record(out, f"{source.name}nan", mv, int(rec.fs), rec.sig_name)
    shutil.copy(source.with_suffix(".atr"), path.with_suffix(".atr"))
    return path


# --- the lead rule -----------------------------------------------------------------------------

@pytest.mark.parametrize("names, index", [
    (["MLII", "V1"], 0), (["V5", "MLII"], 1),  # MIT-BIH 114: V5 first
    (["V5", "V2"], 0),  # MIT-BIH 102 and 104: no MLII
    (["V1", "II"], 1), (["I", "V4"], 1), (["III", "I"], 1),
    (["ML II", "V1"], 0), (["ECG lead I", "ECG lead II"], 1),  # spelled otherwise, still standard
])
def test_a_standard_lead_is_chosen_by_name_in_order_of_preference(names, index):
    choice = choose_lead(names)
    assert choice.index == index and choice.name == names[index] and not choice.fallback


@pytest.mark.parametrize("names", [["ECG", "ECG"], ["ECG1", "ECG2"], ["ECG"], ["ECG2", "ECG1"]])
def test_without_a_standard_lead_name_the_first_signal_is_used_and_the_choice_says_so(names):
    choice = choose_lead(names)
    assert choice.index == 0 and choice.fallback
    assert choice.describe("--lead to choose") == \
        f"{names[0]} (signal 0; no standard lead name in the header, the first is used; --lead to choose)"


def test_signals_named_as_something_else_than_an_ecg_are_passed_over():
    choice = choose_lead(["ABP", "ECG", "RESP"])
    assert choice.index == 1 and choice.fallback and "first ECG signal" in choice.reason
    with pytest.raises(SignalError, match="none of the leads"):
        choose_lead(["ABP", "RESP"])


@pytest.mark.parametrize("names, requested, index", [
    (["ECG1", "ECG2"], "ECG2", 1), (["ECG1", "ECG2"], "ecg2", 1),
    (["ECG1", "ECG2"], "1", 1),  # an index, not ECG1
    (["ECG1", "ECG2"], 0, 0), (["ECG", "ECG"], "1", 1),
    (["MLII", "V1"], "V1", 1),  # asking beats the preference
])
def test_a_lead_can_be_asked_for_by_name_or_index(names, requested, index):
    choice = choose_lead(names, requested)
    assert choice.index == index and not choice.fallback
    assert choice.describe("--lead to choose") == f"{names[index]} (signal {index}; {choice.reason})"


@pytest.mark.parametrize("names, requested, message", [
    (["ECG1", "ECG2"], "V9", "no signal has that name"),
    (["ECG1", "ECG2"], "2", "the record has 2 signals"),
    (["ECG1", "ECG2"], -1, "the record has 2 signals"),
    (["ECG", "ECG"], "ECG", "2 signals have that name"),
])
def test_a_lead_that_fits_no_signal_is_an_error_that_lists_the_leads(names, requested, message):
    with pytest.raises(SignalError, match=message) as refused:
        choose_lead(names, requested)
    assert f"0: {names[0]}, 1: {names[1]}" in str(refused.value)


def test_the_choice_unpacks_as_index_and_reason():
    index, reason = choose_lead(["V5", "MLII"])
    assert (index, reason) == (1, "the preferred lead")


def test_read_record_reads_the_lead_asked_for():
    default, v1 = read_record(E100), read_record(E100, lead="V5")
    assert (default.lead, default.index, v1.lead, v1.index) == ("MLII", 0, "V5", 1)
    assert not np.allclose(default.signal, v1.signal)


# --- ecg-analyze at 128 and 250 Hz, and --lead --------------------------------------------------

def test_a_128_hz_record_with_leads_named_ecg1_ecg2_is_analysed_and_says_which_lead(tmp_path, capsys, stub_model):
    assert main([str(S824), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "lead: ECG1 (signal 0; no standard lead name in the header, the first is used; --lead to choose)"
    ann = wfdb.rdann(str(tmp_path / "s824"), "ecg")
    assert ann.fs == 128
    analysis = analyze_record(S824, StubClassifier(), tmp_path)
    scored = score(S824, analysis)
    assert analysis.fs == 128 and scored["sensitivity"] >= 0.97 and scored["positive_predictivity"] >= 0.97


@pytest.mark.parametrize("option, line", [("ECG2", "lead: ECG2 (signal 1; chosen by name)"),
                                          ("1", "lead: ECG2 (signal 1; chosen by index)")])
def test_ecg_analyze_takes_the_lead_asked_for(tmp_path, capsys, stub_model, option, line):
    assert main([str(S824), "--out", str(tmp_path), "--lead", option]) == 0
    assert capsys.readouterr().out.splitlines()[0] == line
    assert beat_samples(tmp_path / "s824", "ecg").size > 30


def test_ecg_analyze_refuses_a_lead_the_record_does_not_have_and_names_those_it_has(tmp_path, capsys, stub_model):
    assert main([str(S824), "--out", str(tmp_path), "--lead", "MLII"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecg-analyze: lead 'MLII'") and "0: ECG1, 1: ECG2" in err
    assert not list(tmp_path.iterdir())


def test_a_250_hz_record_with_both_leads_named_ecg_is_analysed(tmp_path):
    """As the Malignant Ventricular Ectopy Database is: 250 Hz, leads named ECG (MIT-BIH e100 resampled)."""
    rec = wfdb.rdrecord(str(E100))
    mv = resample_poly(rec.p_signal, 25, 36, axis=0)
    ref = wfdb.rdann(str(E100), "atr")
    keep = [i for i, s in enumerate(ref.symbol) if s in BEATS]
    samples = np.round(ref.sample[keep] * 250 / 360).astype(np.int64)
    path = write_record(tmp_path, "v100", mv, 250, ["ECG", "ECG"], (samples, [ref.symbol[i] for i in keep]))
    analysis = analyze_record(path, StubClassifier())
    assert analysis.fs == 250 and analysis.lead.index == 0 and analysis.lead.fallback
    scored = score(path, analysis)
    assert scored["sensitivity"] >= 0.99 and scored["positive_predictivity"] >= 0.99
    ours = beat_samples(path, "ecg")
    assert ours.max() < mv.shape[0] and np.abs(ours[:, None] - samples[None, :]).min(axis=1).max() <= 0.05 * 250


# --- invalid samples ---------------------------------------------------------------------------

GAPS_S = [(10.0, 14.0), (20.0, 20.05)]  # a 4 s stretch, and 50 ms


@pytest.mark.parametrize("source", [E100, S824], ids=["360Hz", "128Hz"])
def test_invalid_samples_are_a_gap_that_no_beat_spans_and_the_rest_is_analysed(tmp_path, capsys, stub_model, source):
    path = with_invalid(source, tmp_path, GAPS_S)
    fs = int(wfdb.rdheader(str(path)).fs)
    gaps = [(int(round(a * fs)), int(round(b * fs))) for a, b in GAPS_S]
    assert invalid_runs(read_record(path).signal) == gaps

    gapped = analyze_record(path, StubClassifier(), tmp_path / "gapped")
    whole = analyze_record(source, StubClassifier(), tmp_path / "whole")
    assert list(gapped.gaps) == gaps and gapped.gap_seconds == pytest.approx(4.05, abs=1 / fs)

    # nothing inside a gap, no beat window and no RR interval across one (360 Hz samples of the processor)
    gaps360 = [(a * MODEL_FS / fs, b * MODEL_FS / fs) for a, b in gaps]
    for beat in gapped.beats:
        assert not any(a <= beat.sample < b for a, b in gaps360)
        if beat.label != "?":
            lo, hi = beat.sample - WINDOW_BEFORE, beat.sample + WINDOW_AFTER
            assert not any(lo < b and a < hi for a, b in gaps360)
    for a, b in gaps360:
        after = [beat for beat in gapped.beats if beat.sample >= b]
        assert after and after[0].rr is None

    # beats away from the gaps land where they land without the gaps: the record's clock is kept
    def far(samples):
        return [s for s in samples if all(s < a - 3 * fs or s >= b + 3 * fs for a, b in gaps)]

    ours, theirs = far(beat_samples(tmp_path / "gapped" / path.name, "ecg")), far(
        beat_samples(tmp_path / "whole" / source.name, "ecg"))
    assert len(ours) == len(theirs) > 10
    assert np.abs(np.array(ours) - np.array(theirs)).max() <= (0 if fs == MODEL_FS else 1)

    scored = score(path, gapped)  # reference beats in the gaps are not held against the analysis
    assert scored["in_gaps"] >= 4 and scored["sensitivity"] >= 0.97 and scored["positive_predictivity"] >= 0.97

    ann = wfdb.rdann(str(tmp_path / "gapped" / path.name), "ecg")
    comments = [(s, aux) for s, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note) if sym == '"']
    assert [s for s, aux in comments if aux.startswith("gap:")] == [a for a, _ in gaps]

    assert main([str(path), "--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out
    assert "invalid samples: 2 gaps, 4.0 s in all, at 10.00-14.00 s, 20.00-20.05 s (not analysed)" in printed
    assert "reference beats in the gaps not scored" in printed


def test_a_record_that_starts_and_ends_invalid_is_analysed_in_between(tmp_path):
    path = with_invalid(E100, tmp_path, [(0.0, 2.0), (55.0, 60.0)])
    analysis = analyze_record(path, StubClassifier())
    assert [(a / 360, b / 360) for a, b in analysis.gaps] == [(0.0, 2.0), (55.0, 60.0)]
    assert analysis.beats and all(2.0 < b.time < 55.0 for b in analysis.beats)
    assert analysis.duration == 60.0


# --- ecg-replay --------------------------------------------------------------------------------

def test_replay_plans_a_sequence_gap_over_invalid_samples():
    valid = np.ones(200, dtype=bool)
    valid[50:125] = False  # 75 invalid samples: 3 frames of 36 would have held them
    frames = plan_frames(valid, 36)
    assert [(f.seq, f.start, f.stop) for f in frames] == [
        (0, 0, 36), (1, 36, 50),  # the frame before the gap is short
        (5, 125, 161), (6, 161, 197), (7, 197, 200)]  # seq 2, 3, 4 skipped
    assert plan_frames(np.ones(72, dtype=bool), 36)[-1].seq == 1


def test_replay_marks_invalid_samples_and_keeps_them_in_place_at_another_rate(tmp_path):
    path = with_invalid(E100, tmp_path, GAPS_S)
    own = record_signal(str(path))
    assert own.rate == 360 and invalid_runs(np.where(own.valid, 0.0, np.nan)) == [(3600, 5040), (7200, 7218)]
    at250 = record_signal(str(path), rate=250)
    assert at250.counts.size == 60 * 250
    assert invalid_runs(np.where(at250.valid, 0.0, np.nan)) == [(2500, 3500), (5000, 5012)]
    assert 0 <= at250.counts.min() and at250.counts.max() <= 4095
    counts, rate = record_counts(str(path))  # the plain form: counts and rate
    assert rate == 360 and counts.size == own.counts.size


def test_replay_sends_the_lead_asked_for():
    v1 = read_record(E100, sampto=1800, lead="V5")
    sig = record_signal(str(E100), duration=5, lead="V5")
    assert sig.lead.name == "V5"
    from gateway.device import DeviceStream
    from gateway.tools.replay import REPLAY_GAIN

    mv = DeviceStream("d", "p", 360, gain=REPLAY_GAIN).counts_to_mv(sig.counts)
    assert np.allclose(mv, v1.signal, atol=0.02)


def test_replayed_invalid_samples_reach_the_gateway_as_a_gap_not_as_samples(tmp_path):
    from test_server import Harness

    path = with_invalid(E100, tmp_path, [(2.0, 3.0)])
    sig = record_signal(str(path), duration=5)

    async def scenario():
        async with Harness() as h:
            result = await replay(h.url(), "kit1", "secret-1", sig.counts, sig.rate, speed=0, valid=sig.valid)
            await h.settle(lambda: h.processors and h.processors[0].calls[-1:] == [("close",)])
            return result, h.processors[0]

    result, proc = asyncio.run(scenario())
    assert result.errors == 0 and result.samples == int(sig.valid.sum()) == 4 * 360
    kinds = [c[0] for c in proc.calls]
    assert kinds.count("gap") == 1 and ("gap", 10) in proc.calls  # 360 samples = ten 36-sample frames
    assert proc.fed() == sig.counts[sig.valid].tolist()
    before = sum(len(c[1]) for c in proc.calls[:kinds.index("gap")] if c[0] == "feed")
    assert before == 2 * 360  # the gap comes exactly where the invalid samples were


def test_ecg_replay_says_which_lead_and_what_it_skips_and_refuses_a_wrong_lead(tmp_path, capsys):
    from gateway.tools.localbroker import free_port
    from gateway.tools.replay import main as replay_main

    path = with_invalid(S824, tmp_path, [(2.0, 3.0)])
    nowhere = f"ws://127.0.0.1:{free_port()}/v1/stream"  # nothing listens: the replay fails after its report
    assert replay_main([str(path), "--url", nowhere, "--device", "kit1", "--token", "t", "--speed", "0"]) == 1
    err = capsys.readouterr().err
    assert "ecg-replay: lead: ECG1 (signal 0; no standard lead name in the header, the first is used; " \
           "--lead to choose)" in err
    assert "invalid samples: 1 gap, 1.0 s in all, first at 2.0 s (not sent; the sequence numbers skip them)" in err
    assert replay_main([str(path), "--url", nowhere, "--device", "kit1", "--token", "t", "--lead", "V1"]) == 2
    assert "0: ECG1, 1: ECG2" in capsys.readouterr().err
