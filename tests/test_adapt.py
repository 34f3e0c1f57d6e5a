"""Patient-adaptive heads: fitting, what they keep, files, the ecg-adapt command and the processor using one."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.classify.adapt import (AdaptationError, AdaptedClassifier, Head, Settings, fit, for_patient, load,
                                    save, softmax)
from gateway.device import DeviceStream
from gateway.processor import ProcessorConfig
from gateway.signal.context import N_CONTEXT
from gateway.tools.adapt import main as adapt_main
from gateway.tools.analyze import RECORD_FRONT_END, analyze_record
from reference_classifier import FIXTURES, SEED8, ReferenceClassifier

CLASSES = ("a", "b", "c", "d")


def synthetic(n: int, swap: tuple[int, int] = (1, 2), seed: int = 0):
    """Beats of classes a, b, c (d absent) whose plain model calls every b a c and every c a b."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 3, n)
    called = true.copy()
    called[true == swap[0]], called[true == swap[1]] = swap[1], swap[0]
    probs = softmax(4 * np.eye(len(CLASSES))[called] + rng.normal(0, 0.5, (n, len(CLASSES))))
    images = np.full((n, 128, 128), 255, np.uint8)
    images[:, 64, :] = 0
    return probs, images, rng.normal(0, 1, (n, N_CONTEXT)).astype(np.float32), true


def test_fitting_recovers_a_relabelling_the_plain_model_gets_wrong():
    probs, images, context, true = synthetic(300)
    head = fit(probs, images, context, true, CLASSES, Settings(strength=0.01))
    new_probs, new_images, new_context, new_true = synthetic(300, seed=1)
    assert np.mean(new_probs.argmax(axis=1) == new_true) < 0.5
    assert np.mean(head.predict(new_probs, new_images, new_context).argmax(axis=1) == new_true) > 0.98
    assert head.info["counts"] == {c: int(np.sum(true == i)) for i, c in enumerate(CLASSES)}


@pytest.mark.parametrize("settings", [Settings(strength=0.01), Settings(strength=0.3, balance=0.5, morphology=4)])
def test_a_class_absent_from_the_labelled_beats_is_kept(settings):
    probs, images, context, true = synthetic(300)
    head = fit(probs, images, context, true, CLASSES, settings)
    sure_d = softmax(np.array([[0.0, 0.0, 0.0, 6.0]] * 5))
    assert (head.predict(sure_d, images[:5], context[:5]).argmax(axis=1) == 3).all()
    np.testing.assert_array_equal(head.weights[3, :4], np.eye(4)[3])  # its row is the plain model's


def test_a_strong_penalty_keeps_the_plain_decision():
    probs, images, context, true = synthetic(300)
    head = fit(probs, images, context, true, CLASSES, Settings(strength=1e4))
    assert (head.predict(probs, images, context).argmax(axis=1) == probs.argmax(axis=1)).all()


def test_save_and_load_round_trip_and_a_different_model_is_refused(tmp_path):
    probs, images, context, true = synthetic(200)
    info = {"model_sha256": "ab" * 32, "model_version": "x-abababab", "patient": "alice", "id": "0123456789"}
    head = fit(probs, images, context, true, CLASSES, Settings(morphology=3), info)
    path = save(head, tmp_path / "alice.npz")
    meta = {"sha256": "ab" * 32, "labels": list(CLASSES), "scheme": "x"}
    again = load(path, meta)
    np.testing.assert_array_equal(again.predict(probs, images, context), head.predict(probs, images, context))
    assert again.info["patient"] == "alice" and again.labels == CLASSES
    with pytest.raises(AdaptationError, match="fitted for model x-abababab.*fit it again"):
        load(path, {**meta, "sha256": "cd" * 32})
    with pytest.raises(AdaptationError, match="labels"):
        load(path, {**meta, "labels": ["a", "b", "c", "e"]})
    with np.load(path) as z:
        np.savez(tmp_path / "bent.npz", **{**dict(z), "bias": np.zeros(3)})
    with pytest.raises(AdaptationError, match="bent.npz: inconsistent"):
        load(tmp_path / "bent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(AdaptationError, match="junk.npz: cannot read"):
        load(tmp_path / "junk.npz")


def test_for_patient_uses_the_file_of_that_patient_only(tmp_path):
    probs, images, context, true = synthetic(200)
    base = type("Base", (), {"metadata": {"sha256": "ab" * 32, "labels": list(CLASSES), "scheme": "x"},
                             "labels": CLASSES, "scheme": "x", "version": "x-abababab"})()
    save(fit(probs, images, context, true, CLASSES, info={"model_sha256": "ab" * 32, "patient": "alice",
                                                             "id": "feedbeef00"}), tmp_path / "alice.npz")
    assert for_patient(base, tmp_path, "bob") is base
    assert for_patient(base, None, "alice") is base
    adapted = for_patient(base, tmp_path, "alice")
    assert isinstance(adapted, AdaptedClassifier) and adapted.version == "x-abababab+alice-feedbeef"


def swap_head(labels: tuple[str, ...], a: str, b: str, sha: str) -> Head:
    """A head that answers ``b`` where the plain model says ``a`` and the other way round."""
    k = len(labels)
    perm = np.eye(k)
    i, j = labels.index(a), labels.index(b)
    perm[[i, j]] = perm[[j, i]]
    return Head(labels, 20 * perm, np.zeros(k), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, 0)),
                {"model_sha256": sha, "patient": "e208", "id": "5a5a5a5a5a"})


def test_the_processor_with_an_adaptation_gives_the_adapted_labels(tmp_path):
    stream = DeviceStream("e208", "e208", 360, **RECORD_FRONT_END)
    plain = ReferenceClassifier("e208", stream)
    plain.metadata = {"sha256": "ref", "labels": list(SEED8), "scheme": "reference"}
    adapted = AdaptedClassifier(plain, swap_head(SEED8, "N", "V", "ref"))
    config = ProcessorConfig(strips=False)
    before = analyze_record(FIXTURES / "e208", plain, tmp_path, config)
    after = analyze_record(FIXTURES / "e208", adapted, tmp_path, config)
    swap = {"N": "V", "V": "N"}
    assert [b.sample for b in after.beats] == [b.sample for b in before.beats]
    assert {b.label for b in before.beats} >= {"N", "V"}
    assert [b.label for b in after.beats] == [swap.get(b.label, b.label) for b in before.beats]
    assert all(a.model_version == "reference-0+e208-5a5a5a5a" for a in after.alerts) and after.alerts


def test_ecg_adapt_fits_a_fixture_record_and_ecg_analyze_uses_it(tmp_path, capsys):
    out = tmp_path / "e208.npz"
    assert adapt_main([str(FIXTURES / "e208"), "--minutes", "1", "--scheme", "aami5", "--patient", "p7",
                       "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "p7: fitted on" in printed and "V " in printed and f"wrote {out}" in printed
    head = load(out)
    assert head.info["source"]["stop_s"] == 60.0 and head.info["counts"]["V"] > 10
    from gateway.tools.analyze import main as analyze_main
    assert analyze_main([str(FIXTURES / "e208"), "--scheme", "aami5", "--adaptation", str(out),
                         "--out", str(tmp_path)]) == 0
    assert "model aami5-" in capsys.readouterr().out
    assert analyze_main([str(FIXTURES / "e208"), "--scheme", "seed8", "--adaptation", str(out),
                         "--out", str(tmp_path)]) == 2
    assert "fitted for model aami5-" in capsys.readouterr().err


def test_ecg_adapt_refuses_a_span_without_enough_beats(tmp_path, capsys):
    assert adapt_main([str(FIXTURES / "e208"), "--from", "0", "--to", "5", "--scheme", "aami5",
                       "--out", str(tmp_path / "x.npz")]) == 2
    assert "labelled beats in 0.0..5.0 s; at least 30" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_the_gateway_gives_each_patient_its_own_head_and_the_plain_model_when_it_cannot(tmp_path, caplog):
    import logging

    from gateway.classify.model import load_model
    from gateway.service.config import ConfigError, parse_config
    from gateway.service.main import Gateway
    from gateway.service.protocol import StreamParams

    model = load_model(None, "aami5")
    devices = {"kit1": {"patient": "alice", "token": "t0ken-t0ken"}, "kit2": {"patient": "bob", "token": "t0ken-t0ke2"},
               "kit3": {"patient": "carol", "token": "t0ken-t0ke3"}}
    config = parse_config({"devices": devices, "state": {"dir": str(tmp_path)}, "recording": {"enabled": False},
                           "model": {"scheme": "aami5", "adaptation_dir": "heads"}}, tmp_path)
    assert config.model.adaptation_dir == str(tmp_path / "heads")
    k = len(model.labels)
    keep = Head(model.labels, np.eye(k), np.zeros(k), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, 0)),
                {"model_sha256": model.metadata["sha256"], "patient": "alice", "id": "a1a1a1a1a1"})
    save(keep, tmp_path / "heads" / "alice.npz")
    save(Head(**{**keep.__dict__, "info": {**keep.info, "model_sha256": "0" * 64}}), tmp_path / "heads" / "bob.npz")
    gw = Gateway(config, model)
    caplog.set_level(logging.INFO)
    versions = {kit: gw.make_processor(StreamParams(kit, "t"), config.devices[kit], 0.0).classifier.version
                for kit in devices}
    assert versions == {"kit1": f"{model.version}+alice-a1a1a1a1", "kit2": model.version, "kit3": model.version}
    assert "patient bob: the plain model is used" in caplog.text and "fit it again" in caplog.text
    with pytest.raises(ConfigError, match="model.adaptation_dir: expected a string"):
        parse_config({"model": {"adaptation_dir": 3}})


def test_ecg_gateway_check_lists_the_adapted_patients_and_refuses_a_head_for_another_model(tmp_path, capsys):
    from gateway.classify.model import load_model
    from gateway.service.main import main as gateway_main

    model = load_model(None, "aami5")
    k = len(model.labels)
    head = Head(model.labels, np.eye(k), np.zeros(k), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, 0)),
                {"model_sha256": model.metadata["sha256"], "patient": "alice", "id": "a1a1a1a1a1"})
    save(head, tmp_path / "heads" / "alice.npz")
    (tmp_path / "gw.toml").write_text(
        '[devices.kit1]\npatient = "alice"\ntoken = "t0ken-t0ken"\n[devices.kit2]\npatient = "bob"\n'
        f'token = "t0ken-t0ke2"\n[model]\nscheme = "aami5"\nadaptation_dir = "heads"\n[state]\ndir = "{tmp_path}"\n')
    assert gateway_main(["--config", str(tmp_path / "gw.toml"), "--check"]) == 0
    assert "adapted patients: alice" in capsys.readouterr().out
    save(Head(**{**head.__dict__, "info": {**head.info, "model_sha256": "0" * 64}}), tmp_path / "heads" / "bob.npz")
    assert gateway_main(["--config", str(tmp_path / "gw.toml"), "--check"]) == 3


def test_the_default_settings_are_the_ones_the_report_chose_on_the_validation_patients():
    import json
    from pathlib import Path

    report = json.loads((Path(__file__).parents[1] / "reports" / "aami5-adaptive" / "report.json").read_text())
    assert report["protocol"] == "adaptive" and report["chosen"] == Settings().__dict__
