"""Keras -> int8 TFLite conversion, its metadata, and the parity check (this module imports TensorFlow).

One tiny synthetic training run (converter.tiny_run: beat shapes with
context features, the real model's two inputs and output) is trained once
per module and converted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from converter.convert import RunError, convert_run, load_keras, load_run, main, to_tflite  # noqa: E402
from converter.parity import closeness, compare, context_outside_range, run_parity  # noqa: E402
from converter.parity import main as parity_main  # noqa: E402
from converter.tiny_run import LABELS, make_tiny_run  # noqa: E402
from gateway.signal.context import CONTEXT_FEATURES, N_CONTEXT  # noqa: E402
from gateway.classify.interpreters import TensorInfo, make_interpreter  # noqa: E402
from gateway.classify.model import BeatClassifier, chain_fields, load_model  # noqa: E402
from gateway.signal.raster import RASTER_PARAMS  # noqa: E402
from gateway.signal.spec import IMAGE_SIZE  # noqa: E402
from training.batches import to_model_input  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def converted(run: Path, tmp_path_factory) -> Path:
    return convert_run(run, tmp_path_factory.mktemp("models"))


def keras_predictions(run: Path, images: np.ndarray, context: np.ndarray) -> np.ndarray:
    return load_keras(load_run(run)).predict(to_model_input(images, context), verbose=0)


def heldout(run: Path, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    with np.load(run / "heldout.npz") as f:
        return f["images"][:n], f["context"][:n]


def test_the_int8_model_classifies_like_the_keras_model(run: Path, converted: Path) -> None:
    images, context = heldout(run)
    float_pred = keras_predictions(run, images, context).argmax(axis=1)
    int8_pred, _ = load_model(converted).classify(images, context)
    assert np.mean(int8_pred == float_pred) >= 0.97


def test_the_model_is_int8_end_to_end_and_uint8_pixels_map_to_it_exactly(run: Path, converted: Path) -> None:
    interp = make_interpreter(converted)
    by_shape = {inp.item_shape: inp for inp in interp.inputs}
    assert sorted(by_shape) == sorted([(IMAGE_SIZE, IMAGE_SIZE, 1), (N_CONTEXT,)])
    image, context_in = by_shape[IMAGE_SIZE, IMAGE_SIZE, 1], by_shape[N_CONTEXT,]
    assert image.dtype == context_in.dtype == interp.output.dtype == np.int8
    # Rescaling(1/255) inside the model lets the image input be pixel - 128, losslessly.
    assert (image.scale, image.zero_point) == (1.0, -128)
    # The context input has its own scale, calibrated on the representative beats: it spans their range.
    with np.load(run / "representative.npz") as f:
        lo, hi = f["context"].min(), f["context"].max()
    step, zero = context_in.scale, context_in.zero_point
    assert (-128 - zero) * step <= lo + step and (127 - zero) * step >= hi - step
    assert step < (hi - lo) / 200  # not a shared, coarser scale
    tensor_types = {interp.raw.get_tensor_details()[i]["dtype"] for i in range(len(interp.raw.get_tensor_details()))}
    assert np.float32 not in tensor_types


def test_the_metadata_records_chain_labels_provenance_and_hash(run: Path, converted: Path) -> None:
    meta = json.loads(converted.with_suffix(".json").read_text())
    run_meta = json.loads((run / "meta.json").read_text())
    assert converted.name == "tiny.tflite"  # named after the scheme by default
    assert meta["scheme"] == "tiny" and meta["labels"] == list(LABELS)
    assert {k: meta[k] for k in chain_fields()} == chain_fields()
    assert meta["context_features"] == run_meta["context_features"] == list(CONTEXT_FEATURES)
    assert meta["raster"] == RASTER_PARAMS
    assert meta["evaluation"] == run_meta["evaluation"]
    assert meta["training"]["split"] == run_meta["split"]
    assert meta["training"]["records"] == run_meta["records"]
    assert meta["converter"]["tensorflow"]
    assert meta["sha256"] == hashlib.sha256(converted.read_bytes()).hexdigest()


def test_the_command_line_writes_the_named_model(run: Path, tmp_path: Path, capsys) -> None:
    assert main([str(run), "--out", str(tmp_path), "--name", "seed8-test"]) == 0
    assert (tmp_path / "seed8-test.tflite").is_file() and (tmp_path / "seed8-test.json").is_file()
    assert "seed8-test.tflite" in capsys.readouterr().out


def copy_run(run: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in run.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


@pytest.mark.parametrize("changes, field", [
    ({"chain_version": "chain-0"}, "chain_version"),
    ({"window": {"before": 200, "after": 256}}, "window_before"),
    ({"image_size": 64}, "image_size"),
    ({"sample_rate": 250}, "sample_rate"),
    ({"window": 512}, "window"),
    ({"context_features": list(CONTEXT_FEATURES)[:-1]}, "context_features"),
    ({"context_features": None}, "context_features"),
])
def test_a_run_trained_for_another_chain_is_not_converted(run: Path, tmp_path: Path, changes: dict,
                                                          field: str) -> None:
    bad = copy_run(run, tmp_path / "bad")
    meta = json.loads((bad / "meta.json").read_text())
    meta.update(changes)
    (bad / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RunError, match=field):
        convert_run(bad, tmp_path / "out")
    assert main([str(bad), "--out", str(tmp_path / "out")]) == 2


@pytest.mark.parametrize("arrays, problem", [
    ({"images": np.zeros((4, 64, 64), np.uint8), "context": np.zeros((4, N_CONTEXT), np.float32)},
     "'images' must be uint8"),
    ({"images": np.zeros((4, IMAGE_SIZE, IMAGE_SIZE), np.uint8)}, "no 'context' array"),
    ({"images": np.zeros((4, IMAGE_SIZE, IMAGE_SIZE), np.uint8), "context": np.zeros((3, N_CONTEXT), np.float32)},
     "'context' must be finite float32 \\(4, "),
    ({"images": np.zeros((4, IMAGE_SIZE, IMAGE_SIZE), np.uint8), "context": np.zeros((4, N_CONTEXT), np.float64)},
     "'context' must be finite float32"),
    ({"images": np.zeros((4, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
      "context": np.full((4, N_CONTEXT), np.inf, np.float32)},
     "'context' must be finite float32"),
])
def test_malformed_representative_beats_are_refused(run: Path, tmp_path: Path, arrays: dict, problem: str) -> None:
    bad = copy_run(run, tmp_path / "bad")
    np.savez(bad / "representative.npz", **arrays)
    with pytest.raises(RunError, match="representative.npz: " + problem):
        convert_run(bad, tmp_path / "out")


def test_a_run_whose_model_lacks_the_context_input_is_not_converted(run: Path, tmp_path: Path) -> None:
    import keras

    bad = copy_run(run, tmp_path / "bad")
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="beat_image")
    x = keras.layers.GlobalAveragePooling2D()(image)
    keras.Model(image, keras.layers.Dense(len(LABELS), activation="softmax")(x)).save(bad / "model.keras")
    with pytest.raises(RunError, match=r"model inputs have item shapes \[\(128, 128, 1\)\]"):
        convert_run(bad, tmp_path / "out")


def test_a_run_with_missing_files_is_refused(run: Path, tmp_path: Path) -> None:
    bad = copy_run(run, tmp_path / "bad")
    (bad / "model.keras").unlink()
    with pytest.raises(RunError, match="model.keras"):
        convert_run(bad, tmp_path / "out")


def test_a_float_twin_runs_through_the_same_gateway_classifier(run: Path) -> None:
    tflite = to_tflite(load_keras(load_run(run)), None)
    model = BeatClassifier(make_interpreter(tflite), {"labels": list(LABELS), "scheme": "tiny", "sha256": "0" * 64})
    images, context = heldout(run, 40)
    _, probs = model.classify(images, context)
    np.testing.assert_allclose(probs, keras_predictions(run, images, context), atol=1e-4)


def test_parity_figures_follow_their_definitions() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    pred_float = np.array([0, 0, 1, 1, 1, 2])
    pred_int8 = np.array([0, 1, 1, 1, 0, 2])
    r = compare(labels, pred_float, pred_int8, ["N", "V", "A"])
    assert r["agreement"] == pytest.approx(100 * 4 / 6)
    assert r["float"]["accuracy"] == pytest.approx(100 * 5 / 6)
    assert r["int8"]["accuracy"] == pytest.approx(100 * 3 / 6)
    assert r["int8"]["per_class"]["N"] == {"n": 3, "se": pytest.approx(100 / 3), "ppv": pytest.approx(50.0)}
    assert r["float"]["per_class"]["V"] == {"n": 2, "se": 100.0, "ppv": pytest.approx(100 * 2 / 3)}
    assert r["disagreements"] == {"N -> V": 1, "V -> N": 1}
    assert not r["targets"]["agreement_met"] and not r["targets"]["accuracy_met"]


def test_closeness_measures_probability_error_and_near_ties() -> None:
    p_float = np.array([[0.90, 0.10], [0.52, 0.48], [0.30, 0.70], [0.44, 0.56]], dtype=np.float32)
    p_int8 = np.array([[0.90, 0.10], [0.48, 0.52], [0.30, 0.70], [0.75, 0.25]], dtype=np.float32)
    c = closeness(p_float, p_int8)
    assert c["max_abs_prob_diff_median"] == pytest.approx((0.0 + 0.04) / 2)  # errors 0, 0.04, 0, 0.31
    assert c["max_abs_prob_diff_p99"] == pytest.approx(0.31, abs=0.01)
    # two disagreements: beat 1 (float margin 0.04) and beat 3 (margin 0.12)
    assert c["disagreements_with_float_margin_below"] == {"0.05": 50.0, "0.1": 50.0, "0.2": 100.0}


def test_parity_check_of_the_converted_model_writes_json_and_markdown(run: Path, converted: Path,
                                                                      tmp_path: Path) -> None:
    assert parity_main([str(run), "--model", str(converted), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "parity.json").read_text())
    assert result == json.loads(json.dumps(run_parity(run, converted)))
    assert result["targets"]["agreement_met"] and result["n_beats"] > 0
    assert list(result["context_input"]["percent_outside"]) == list(CONTEXT_FEATURES)
    report = (tmp_path / "parity.md").read_text()
    assert "Top-1 agreement" in report and all(f"| {label} |" in report for label in LABELS)
    assert "Context input: int8 scale" in report


def test_context_values_outside_the_int8_input_range_are_counted() -> None:
    inp = TensorInfo(0, (N_CONTEXT,), np.dtype(np.int8), 0.01, 28)  # represents -1.56 .. +0.99
    context = np.zeros((4, N_CONTEXT), np.float32)
    context[0, 0], context[1, 0], context[2, 0] = -1.6, 1.2, 0.99  # below, above, at the edge
    context[3, -1] = -2.0
    q = context_outside_range(context, inp)
    assert q["range"] == pytest.approx([-1.56, 0.99])
    first, last = CONTEXT_FEATURES[0], CONTEXT_FEATURES[-1]
    assert q["percent_outside"] == {name: 0.0 for name in CONTEXT_FEATURES} | {first: 50.0, last: 25.0}
    float_input = TensorInfo(0, (N_CONTEXT,), np.dtype(np.float32), 0.0, 0)
    assert context_outside_range(context, float_input)["percent_outside"] is None
