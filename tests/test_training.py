"""Training pipeline: labels, matching, noisy stretches, lead choice, splits, augmentation, metrics, and a smoke run.

Everything runs on the committed MIT-BIH excerpts (tests/fixtures/mitdb);
the smoke runs train a few steps, which is enough to check that every
output exists and is consistent, not that the model is any good.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gateway.signal.chain import condition
from gateway.signal.leads import read_record
from gateway.signal.context import N_CONTEXT
from gateway.signal.spec import IMAGE_SIZE, MODEL_FS, WINDOW, WINDOW_BEFORE
from training.augment import STRETCH, augment, time_stretch
from training.batches import sampling_weights
from training.dataset import (build_record, cache_key, lead_preference, load_record, parse_record_id, record_id,
                              summarize)
from training.labels import SCHEMES, get_scheme
from training.metrics import confusion_matrix, ec57_gross, figures
from gateway.signal.matching import MATCH_WINDOW_S, match_beats
from training.reference import noisy_mask, read_reference
from training.noise import (EVAL_CHANNEL, NOISE_FS, NOISE_KINDS, TRAIN_CHANNEL, TRAIN_SNR_DB, add_noise,
                            evaluation_noise, qrs_power, training_noise)
from training.splits import DS1, DS2, INTER_VALIDATION, PACED, SVDB_TEST, SVDB_VALIDATION, make_split, records_for

FIXTURES = Path(__file__).parent / "fixtures" / "mitdb"
TOLERANCE = round(MATCH_WINDOW_S * MODEL_FS)


# -- label schemes -------------------------------------------------------------

def test_seed8_keeps_its_eight_symbols_each_as_its_own_class_and_leaves_out_the_rest():
    s = get_scheme("seed8")
    assert s.classes == ("N", "L", "R", "A", "V", "!", "E", "/")
    assert list(s.encode(list(s.classes))) == list(range(8))
    assert list(s.encode(["F", "a", "J", "Q", "f", "j", "e", "S"])) == [-1] * 8


def test_aami5_maps_mit_symbols_to_the_ec57_classes():
    s = get_scheme("aami5")
    expected = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}
    for cls, symbols in expected.items():
        assert set(s.encode(list(symbols))) == {s.classes.index(cls)}, cls
    assert list(s.encode(["!", "~", "+"])) == [-1, -1, -1]


def test_an_unknown_scheme_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown label scheme 'aami4'"):
        get_scheme("aami4")


# -- matching detections to the reference --------------------------------------

def test_detections_match_reference_beats_within_150_ms_one_to_one():
    ref = np.array([1000, 2000, 3000, 4000])
    det = np.array([1000 + TOLERANCE, 2000 - TOLERANCE - 1, 2990, 2995, 5000])
    m = match_beats(det, ref, TOLERANCE)
    # exactly at the tolerance matches; one sample beyond does not; of two
    # detections near 3000 the nearer one takes it; 5000 matches nothing
    assert list(m.ref_of_detection) == [0, -1, -1, 2, -1]
    assert list(m.missed) == [1, 3]


def test_counts_of_unmatched_detections_and_missed_beats_add_up_on_a_fixture(tmp_path):
    beats = build_record(FIXTURES / "e207")  # flutter waves the detector is built to refuse
    s = beats.stats
    assert s["missed_reference"] > 0
    assert sum(s["missed_by_symbol"].values()) == s["missed_reference"]
    assert s["matched"] + s["missed_reference"] + (s["reference_in_noise"] - s["matched_in_noise"]) \
        >= s["reference_beats"] - 1  # a noisy reference beat may match a clean detection
    assert s["labelled"] == s["matched"] - s["matched_in_noise"] - s["edge_dropped"] == len(beats)
    assert s["detections"] >= s["matched"] + s["unmatched_detections"]


def test_every_labelled_beat_is_a_detection_near_a_reference_beat_with_that_symbol():
    beats = build_record(FIXTURES / "e208")
    ref = read_reference(FIXTURES / "e208")
    nearest = np.abs(beats.peaks[:, None] - ref.beat_samples[None, :]).argmin(axis=1)
    assert np.all(np.abs(beats.peaks - ref.beat_samples[nearest]) <= TOLERANCE)
    assert list(beats.symbols) == list(ref.beat_symbols[nearest])


def test_windows_are_the_conditioned_signal_around_the_detected_peak():
    beats = build_record(FIXTURES / "e100")
    y = condition(read_record(FIXTURES / "e100").signal, MODEL_FS)
    k = len(beats) // 2
    p = beats.peaks[k]
    np.testing.assert_allclose(beats.windows[k], y[p - WINDOW_BEFORE:p - WINDOW_BEFORE + WINDOW], rtol=1e-6)


# -- noisy stretches per lead ----------------------------------------------------

def test_noise_subtype_bits_say_which_signal_is_noisy_and_minus_one_means_all():
    at = np.array([100, 200, 300, 400, 500])
    subtype = np.array([1, 0, 2, -1, 0])
    s = np.array([50, 100, 199, 200, 350, 450, 500])
    assert list(noisy_mask(s, at, subtype, 0)) == [False, True, True, False, False, True, False]
    assert list(noisy_mask(s, at, subtype, 1)) == [False, False, False, False, True, True, False]


def stretches(record: str, bit: int) -> list[tuple[int, int]]:
    """Sample ranges the fixture's ``~`` annotations mark noisy for signal ``bit``."""
    ref = read_reference(FIXTURES / record)
    ends = list(ref.noise_samples[1:]) + [10 ** 9]
    return [(a, b) for a, b, st in zip(ref.noise_samples, ends, ref.noise_subtypes) if (st >> bit) & 1]


def inside(peaks: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
    return np.array([any(a <= p < b for a, b in ranges) for p in peaks], dtype=bool)


def test_e203_beats_where_mlii_is_noisy_are_skipped():
    noisy = stretches("e203", 0)
    assert noisy, "the e203 excerpt has stretches annotated noisy on MLII"
    beats = build_record(FIXTURES / "e203")
    assert beats.lead == "MLII"
    assert not inside(beats.peaks, noisy).any()
    assert beats.stats["detections_in_noise"] > 0


def test_e105_noise_on_v1_only_does_not_drop_mlii_beats_but_does_when_v1_is_the_lead():
    v1_only = [r for r in stretches("e105", 1) if r not in stretches("e105", 0)]
    assert v1_only, "the e105 excerpt has a stretch annotated noisy on V1 only"
    on_mlii = build_record(FIXTURES / "e105")
    ref = read_reference(FIXTURES / "e105")
    in_stretch = inside(ref.beat_samples, v1_only).sum()
    assert in_stretch > 0 and inside(on_mlii.peaks, v1_only).sum() == in_stretch
    on_v1 = build_record(FIXTURES / "e105", preference=("V1",))
    assert on_v1.lead == "V1"
    assert not inside(on_v1.peaks, v1_only).any()


# -- lead choice -------------------------------------------------------------------

def test_lead_is_chosen_by_name_mlii_second_in_e114_and_v5_when_e102_has_no_mlii():
    e114 = build_record(FIXTURES / "e114")
    assert (e114.lead, e114.stats["signal_index"]) == ("MLII", 1)
    e102 = build_record(FIXTURES / "e102")
    assert (e102.lead, e102.stats["signal_index"]) == ("V5", 0)
    assert set(e102.symbols) == {"/"}


# -- other databases: svdb at 128 Hz, its leads named ECG1 / ECG2 ---------------------

def svdb_like(tmp_path: Path, record: str = "e100") -> Path:
    """A MIT-BIH fixture as svdb stores it: 128 Hz, leads named ECG2 then ECG1 (MLII), labels at 128 Hz."""
    import wfdb
    from scipy.signal import resample_poly

    src = wfdb.rdrecord(str(FIXTURES / record))
    mlii = src.p_signal[:, src.sig_name.index("MLII")]
    other = src.p_signal[:, 1 - src.sig_name.index("MLII")]
    x = np.stack([resample_poly(other, 16, 45), resample_poly(mlii, 16, 45)], axis=1)
    out = tmp_path / "svdb"
    out.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(record, fs=128, units=["mV", "mV"], sig_name=["ECG2", "ECG1"], p_signal=x, fmt=["212", "212"],
                adc_gain=[200, 200], baseline=[0, 0], write_dir=str(out))
    ann = wfdb.rdann(str(FIXTURES / record), "atr")
    wfdb.wrann(record, "atr", np.round(np.asarray(ann.sample) * 128 / 360).astype(np.int64),
               symbol=ann.symbol, subtype=np.asarray(ann.subtype), write_dir=str(out))
    return out / record


def test_svdb_is_read_in_ecg1_by_name_and_its_128_hz_labels_land_on_the_360_hz_beats(tmp_path):
    path = svdb_like(tmp_path)
    beats = build_record(path, "svdb")
    assert (beats.lead, beats.stats["signal_index"], beats.stats["fs"]) == ("ECG1", 1, 128)
    assert beats.record == "svdb/e100" and parse_record_id(beats.record) == ("svdb", "e100")
    at_360 = build_record(FIXTURES / "e100")
    # the same beats, found on the resampled signal, within the 128 Hz rounding of the reference
    assert abs(len(beats) - len(at_360)) <= 2 and beats.stats["missed_reference"] <= 1
    near = np.abs(beats.peaks[:, None] - at_360.peaks[None, :]).min(axis=1)
    assert np.median(near) <= 2 and list(beats.symbols[:50]) == list(at_360.symbols[:50])


def test_each_database_names_its_lead_and_an_unknown_one_is_refused():
    assert lead_preference("mitdb")[0] == "MLII" and lead_preference("svdb") == ("ECG1",)
    with pytest.raises(ValueError, match="no lead rule for database 'incartdb'"):
        lead_preference("incartdb")
    assert record_id("mitdb", "100") == "100" and record_id("svdb", "800") == "svdb/800"
    assert parse_record_id("100") == ("mitdb", "100")


# -- noise -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def noise_dir(tmp_path_factory) -> Path:
    """nstdb-like noise records: bw and ma, two channels of different noise each, 360 Hz."""
    import wfdb

    out = tmp_path_factory.mktemp("nstdb")
    rng = np.random.default_rng(5)
    for kind in NOISE_KINDS:
        x = np.cumsum(rng.normal(0, 0.01, (60 * NOISE_FS, 2)), axis=0) if kind == "bw" else \
            rng.normal(0, 0.1, (60 * NOISE_FS, 2))
        wfdb.wrsamp(kind, fs=NOISE_FS, units=["mV", "mV"], sig_name=["noise1", "noise2"], p_signal=x - x.mean(0),
                    fmt=["212", "212"], adc_gain=[200, 200], baseline=[0, 0], write_dir=str(out))
    return out


def test_qrs_power_is_the_median_peak_to_peak_as_a_sinusoid():
    x = np.zeros(2000)
    beats = np.array([200, 600, 1000, 1400])
    x[beats] = [1.0, 2.0, 2.0, 4.0]
    assert qrs_power(x, beats, 360) == pytest.approx(2.0 ** 2 / 8)


@pytest.mark.parametrize("kind, fs, snr", [("ma", 360, 6.0), ("bw", 128, 18.0)])
def test_noise_is_added_at_the_snr_asked_for_at_the_record_rate(noise_dir, kind, fs, snr):
    rng = np.random.default_rng(0)
    n = 20 * fs
    beats = np.arange(fs // 2, n - fs // 2, fs)
    x = np.zeros(n)
    x[beats] = rng.uniform(0.9, 1.1, beats.size)
    spec = evaluation_noise("100", kind, snr)
    noisy = add_noise(x, fs, beats, spec, noise_dir)
    added = noisy - x
    assert 10 * np.log10(qrs_power(x, beats, fs) / np.mean(added ** 2)) == pytest.approx(snr, abs=1e-6)
    np.testing.assert_array_equal(noisy, add_noise(x, fs, beats, spec, noise_dir))


def test_training_and_evaluation_draw_from_different_noise_channels_reproducibly():
    train = training_noise("118", 6, seed=0)
    assert {s.channel for s in train} == {TRAIN_CHANNEL} != {EVAL_CHANNEL}
    assert all(TRAIN_SNR_DB[0] <= s.snr_db <= TRAIN_SNR_DB[1] for s in train)
    assert train == training_noise("118", 6, seed=0) != training_noise("119", 6, seed=0)
    assert evaluation_noise("100", "ma", 12).channel == EVAL_CHANNEL


def test_a_noisy_copy_keeps_the_labels_and_is_cached_apart_from_the_clean_record(tmp_path, noise_dir):
    root = tmp_path / "data"
    root.mkdir()
    (root / "mitdb").symlink_to(FIXTURES)
    (root / "nstdb").symlink_to(noise_dir)
    clean = load_record(root, "e100", tmp_path / "cache")
    spec = training_noise("e100", 1, seed=0)[0]
    noisy = load_record(root, "e100", tmp_path / "cache", noise=spec)
    assert noisy.stats["noise"] == spec.tag and clean.stats["noise"] is None
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 2
    assert abs(len(noisy) - len(clean)) <= 0.05 * len(clean)
    assert not np.allclose(noisy.windows[:10], clean.windows[:10])


# -- cache -------------------------------------------------------------------------

def test_the_cache_returns_what_was_built_and_is_keyed_on_the_chain(tmp_path, monkeypatch):
    first = load_record(FIXTURES.parent, "e119", tmp_path)
    files = list(tmp_path.rglob("e119.npz"))
    assert len(files) == 1 and cache_key() in str(files[0])
    again = load_record(FIXTURES.parent, "e119", tmp_path)
    np.testing.assert_array_equal(first.windows, again.windows)
    assert list(first.symbols) == list(again.symbols) and first.stats == again.stats
    monkeypatch.setattr("training.dataset.cache_key", lambda: "chain-changed")
    load_record(FIXTURES.parent, "e119", tmp_path)
    assert len(list(tmp_path.rglob("e119.npz"))) == 2


def test_summary_counts_classes_under_a_scheme_and_what_it_leaves_out(tmp_path):
    beats = {"e208": load_record(FIXTURES.parent, "e208", tmp_path)}
    aami = summarize(beats, "aami5")
    seed = summarize(beats, "seed8")
    assert aami["class_counts"]["F"] == int(np.sum(beats["e208"].symbols == "F")) > 0
    assert seed["left_out_by_symbol"]["F"] == aami["class_counts"]["F"]
    assert sum(aami["class_counts"].values()) + sum(aami["left_out_by_symbol"].values()) == len(beats["e208"])


# -- splits ------------------------------------------------------------------------

def test_intra_split_is_70_20_10_per_class_and_disjoint():
    rng = np.random.default_rng(1)
    labels = rng.integers(-1, 4, size=5000)
    records = rng.choice(["a", "b", "c"], size=5000)
    s = make_split("intra", records, labels, seed=3)
    parts = [s.train, s.test, s.validation]
    assert sum(len(p) for p in parts) == np.sum(labels >= 0) == len(np.unique(np.concatenate(parts)))
    for cls in range(4):
        n = np.sum(labels == cls)
        assert [np.sum(labels[p] == cls) / n for p in parts] == pytest.approx([0.7, 0.2, 0.1], abs=0.002)


def test_inter_split_keeps_patients_apart_and_leaves_out_paced_records():
    records = np.repeat(sorted(DS1 + DS2 + PACED), 3)
    labels = np.zeros(records.size, dtype=int)
    s = make_split("inter", records, labels, seed=0)
    train, val, test = (set(records[p]) for p in (s.train, s.validation, s.test))
    assert test == set(DS2) and train | val == set(DS1) and val == set(INTER_VALIDATION)
    assert not (train & val) and not (train & test) and not (set(PACED) & (train | val | test))


def test_all_split_has_validation_patients_and_no_test():
    records = np.repeat(["100", "118", "124", "200", "215", "217", "223"], 2)
    s = make_split("all", records, np.zeros(records.size, dtype=int), seed=0)
    assert s.test.size == 0
    assert set(records[s.validation]) == {"118", "124", "215", "217", "223"}
    assert set(records[s.train]) == {"100", "200"}


SVDB = [f"svdb/{n}" for n in range(800, 895)]  # a superset of the 58 records is fine for the rule


def test_svdb_patients_join_inter_by_the_fixed_rule_and_its_test_group_is_held_out():
    records = np.repeat(sorted(DS1 + DS2 + PACED) + SVDB, 2)
    s = make_split("inter", records, np.zeros(records.size, dtype=int), seed=0)
    train, val, test = (set(records[p]) for p in (s.train, s.validation, s.test))
    assert test == set(DS2) | set(SVDB_TEST) and val == set(INTER_VALIDATION) | set(SVDB_VALIDATION)
    assert train == set(DS1) - set(INTER_VALIDATION) | set(SVDB) - set(SVDB_TEST) - set(SVDB_VALIDATION)
    assert s.records["test"] == sorted(DS2) + sorted(SVDB_TEST)


def test_svdb_test_group_trains_under_all_and_a_partial_svdb_is_refused_under_inter():
    records = np.repeat(["100", "118", "217"] + SVDB, 2)
    s = make_split("all", records, np.zeros(records.size, dtype=int), seed=0)
    assert set(records[s.validation]) == {"118", "217"} | set(SVDB_VALIDATION)
    assert set(SVDB_TEST) <= set(records[s.train])
    with pytest.raises(ValueError, match="svdb/804"):
        records_for("inter", list(DS1 + DS2) + ["svdb/801"])


# -- augmentation and sampling -------------------------------------------------------

def test_time_stretch_keeps_the_r_peak_centred_and_widens_the_beat():
    ramp = (np.arange(WINDOW, dtype=float) - WINDOW_BEFORE)[None, :]
    out = time_stretch(ramp)
    assert out[0, WINDOW_BEFORE] == 0
    np.testing.assert_allclose(np.diff(out[0, 100:400]), 1 / STRETCH)


def test_augmentation_is_deterministic_for_a_seed_and_changes_the_beats():
    w = np.random.default_rng(0).normal(size=(16, WINDOW))
    a = augment(w, np.random.default_rng(7))
    np.testing.assert_array_equal(a, augment(w, np.random.default_rng(7)))
    assert a.shape == w.shape and not np.allclose(a, w)
    assert not np.array_equal(a, augment(w, np.random.default_rng(8)))


def test_sampling_gives_each_class_a_share_proportional_to_count_to_the_balance_power():
    labels = np.array([0] * 900 + [1] * 100)
    for balance, share1 in ((1.0, 0.1), (0.5, 10 / 40), (0.0, 0.5)):
        w = sampling_weights(labels, balance)
        assert w.sum() == pytest.approx(1)
        assert w[labels == 1].sum() == pytest.approx(share1)


# -- metrics -------------------------------------------------------------------------

def test_per_class_figures_follow_their_definitions():
    true = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    f = figures(true, pred, ["a", "b", "c"])
    assert f["accuracy"] == pytest.approx(4 / 6)
    b = f["per_class"]["b"]
    assert (b["se"], b["ppv"], b["sp"]) == pytest.approx((1 / 2, 1 / 2, 3 / 4))
    assert f["macro_f1"] == pytest.approx(np.mean([2 * 1 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 / 1.5]))
    assert f["confusion"] == confusion_matrix(true, pred, 3).tolist()


def test_ec57_does_not_count_fusion_called_veb_or_q_called_sveb_as_false_positives():
    classes = ["N", "S", "V", "F", "Q"]
    cm = np.zeros((5, 5), dtype=int)
    cm[0, 0], cm[0, 2], cm[0, 1] = 90, 2, 3     # N: 2 called V, 3 called S
    cm[1, 1], cm[1, 0] = 8, 2                  # S: 2 missed
    cm[2, 2], cm[2, 1] = 19, 1                 # V: 1 called S
    cm[3, 2] = 5                               # F called V: not a VEB false positive
    cm[4, 1] = 4                               # Q called S: not an SVEB false positive
    g = ec57_gross(cm, classes)
    assert (g["VEB"]["tp"], g["VEB"]["fn"], g["VEB"]["fp"]) == (19, 1, 2)
    assert g["VEB"]["ppv"] == pytest.approx(19 / 21)
    assert (g["SVEB"]["tp"], g["SVEB"]["fn"], g["SVEB"]["fp"]) == (8, 2, 4)
    # negatives: every other beat not called the class (N 93 + S 10 + F 0 + Q 4; N 92 + V 19 + F 5 + Q 0)
    assert g["VEB"]["fpr"] == pytest.approx(2 / (2 + 107))
    assert g["SVEB"]["fpr"] == pytest.approx(4 / (4 + 116))


# -- smoke runs: build, train briefly, evaluate --------------------------------------

def smoke_run(tmp_path_factory, scheme: str, split: str) -> tuple[Path, Path]:
    pytest.importorskip("tensorflow")
    from training.evaluate import main as evaluate_main
    from training.train import main as train_main

    base = tmp_path_factory.mktemp(f"{scheme}-{split}")
    run, report = base / "run", base / "report"
    train_main(["--scheme", scheme, "--split", split, "--out", str(run), "--data-root", str(FIXTURES.parent),
                "--cache", str(base / "cache"), "--epochs", "1", "--epoch-size", "256", "--batch-size", "64",
                "--threads", "2"])
    evaluate_main([str(run), "--out", str(report)])
    return run, report


@pytest.fixture(scope="module")
def seed8_intra(tmp_path_factory):
    return smoke_run(tmp_path_factory, "seed8", "intra")


@pytest.fixture(scope="module")
def aami5_all(tmp_path_factory):
    return smoke_run(tmp_path_factory, "aami5", "all")


def test_a_run_writes_the_model_metadata_and_image_sets_the_converter_reads(seed8_intra):
    run, _ = seed8_intra
    meta = json.loads((run / "meta.json").read_text())
    assert meta["labels"] == list(SCHEMES["seed8"].classes) and meta["split"] == "intra"
    assert meta["image_size"] == IMAGE_SIZE and meta["sample_rate"] == MODEL_FS
    assert meta["training"]["epochs_run"] == 1 and (run / "model.keras").stat().st_size > 0
    with np.load(run / "heldout.npz") as h, np.load(run / "representative.npz") as r:
        assert h["images"].dtype == np.uint8 and h["images"].shape[1:] == (IMAGE_SIZE, IMAGE_SIZE)
        assert len(h["labels"]) == len(h["images"]) == meta["beats"]["test"]
        assert r["images"].dtype == np.uint8
        # every class the training split has is in the calibration set
        trained = {c for c, n in meta["class_counts"]["train"].items() if n > 0}
        assert {meta["labels"][i] for i in np.unique(r["labels"])} == trained


def test_the_report_states_the_split_the_anchors_and_what_was_not_evaluated(seed8_intra):
    _, report = seed8_intra
    md = (report / "report.md").read_text()
    data = json.loads((report / "report.json").read_text())
    assert "intra-patient" in md and "Jun et al. 2018" in md and "Seed thesis" in md
    assert "missed, not evaluated" in md and "false detections, not evaluated" in md
    assert data["figures"]["n"] == sum(sum(row) for row in data["figures"]["confusion"])
    assert 0 <= data["headline"]["accuracy"] <= 1
    for png in ("confusion.png", "misclassified.png"):
        assert (report / png).read_bytes()[:4] == b"\x89PNG"


def test_an_aami_run_reports_ec57_gross_statistics(aami5_all):
    run, report = aami5_all
    data = json.loads((report / "report.json").read_text())
    assert set(data["figures"]["ec57"]) == {"VEB", "SVEB"}
    assert data["heldout"] == "validation" and data["anchors"] == []
    assert "VEB" in (report / "report.md").read_text()


# -- prior correction ----------------------------------------------------------------

def test_prior_correction_with_tau_one_undoes_balanced_sampling_and_tau_zero_changes_nothing():
    from training.prior import apply_offsets, log_offsets

    counts = np.array([900, 100])
    flat = np.array([[0.5, 0.5]])
    np.testing.assert_allclose(apply_offsets(flat, log_offsets(counts, 0.0, 1.0)), [[0.9, 0.1]])
    np.testing.assert_allclose(apply_offsets(flat, log_offsets(counts, 0.5, 1.0)), [[0.75, 0.25]])
    np.testing.assert_allclose(log_offsets(counts, 0.0, 0.0), [0.0, 0.0])


def test_tau_is_chosen_by_validation_macro_f1():
    from training.prior import choose_tau

    # a model that over-calls the rare class 1: correcting towards the natural prior helps
    proba = np.array([[0.45, 0.55]] * 8 + [[0.2, 0.8]] * 2)
    labels = np.array([0] * 8 + [1] * 2)
    tau, scores = choose_tau(proba, labels, np.array([800, 200]), 0.0, ["a", "b"])
    assert tau > 0 and scores[tau] == pytest.approx(1.0) and scores[0.0] < 1.0


def test_offsets_folded_into_the_model_equal_adjusting_its_probabilities():
    pytest.importorskip("tensorflow")
    from training.model import build_model
    from training.prior import apply_offsets, fold_into_model

    model = build_model(3, seed=1)
    rng = np.random.default_rng(0)
    x = [rng.integers(0, 256, (4, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32),
         rng.normal(0, 0.5, (4, N_CONTEXT)).astype(np.float32)]
    before = model.predict(x, verbose=0)
    offsets = np.array([0.5, -0.2, -0.3])
    fold_into_model(model, offsets)
    np.testing.assert_allclose(model.predict(x, verbose=0), apply_offsets(before, offsets), rtol=1e-4, atol=1e-6)


def test_init_from_copies_the_matching_layers_and_freeze_conv_keeps_the_convolutions(aami5_all, tmp_path):
    import keras

    from training.train import main as train_main

    source, _ = aami5_all
    run = tmp_path / "run"
    train_main(["--scheme", "seed8", "--split", "all", "--out", str(run), "--data-root", str(FIXTURES.parent),
                "--cache", str(tmp_path / "cache"), "--epochs", "1", "--epoch-size", "256", "--batch-size", "64",
                "--threads", "2", "--init-from", str(source), "--freeze-conv"])
    transfer = json.loads((run / "meta.json").read_text())["transfer"]
    assert {"conv0", "bn3", "context_dense", "dense"} <= set(transfer["copied"])
    assert transfer["initialised"] == ["probabilities"]  # 8 classes, not 5
    before, after = keras.models.load_model(source / "model.keras"), keras.models.load_model(run / "model.keras")
    for name in ("conv0", "conv3", "bn2"):
        for a, b in zip(before.get_layer(name).get_weights(), after.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.allclose(before.get_layer("dense").get_weights()[0], after.get_layer("dense").get_weights()[0])
