"""The gateway's model loading, checks and classification, without TensorFlow.

Uses the committed tiny synthetic model (tests/fixtures/models/tiny.*, made
by ``python -m converter.tiny_run``): synthetic beat shapes with context
features (:mod:`gateway.signal.context`), among them narrow beats that only their
context features tell from early ones, the real model's two inputs and
output.  Its metadata's chain fields are set to this gateway's chain in the
fixture, so a chain bump does not need a new binary; every test that
changes a field changes it away from the gateway's value.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import gateway.classify.interpreters as interpreters
from converter.tiny_run import LABELS, synthetic_beats
from gateway.signal.context import CONTEXT_FEATURES, N_CONTEXT
from gateway.classify.interpreters import BackendError, TensorInfo, make_interpreter
from gateway.classify.model import BeatClassifier, ModelError, chain_fields, load_model, shipped_model_path
from gateway.signal.spec import IMAGE_SIZE

FIXTURE = Path(__file__).parent / "fixtures" / "models" / "tiny.tflite"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A copy of the tiny model whose metadata matches this gateway's chain."""
    path = tmp_path / "tiny.tflite"
    shutil.copy(FIXTURE, path)
    meta = json.loads(FIXTURE.with_suffix(".json").read_text())
    meta.update(chain_fields())
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def edit_metadata(path: Path, **changes: object) -> None:
    """Change (or with value ``...``, delete) metadata fields of the model at ``path``."""
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    for key, value in changes.items():
        if value is ...:
            del meta[key]
        else:
            meta[key] = value
    meta_path.write_text(json.dumps(meta))


# --- loading and identity -------------------------------------------------------------

def test_a_checked_model_loads_with_its_labels_scheme_version_and_backend(tiny: Path) -> None:
    model = load_model(tiny)
    digest = hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert model.labels == LABELS
    assert model.scheme == "tiny"
    assert model.version == f"tiny-{digest[:8]}"
    assert model.backend == "ai_edge_litert"
    assert model.metadata["sha256"] == digest


def test_the_model_classifies_beats_it_was_trained_on(tiny: Path) -> None:
    images, context, labels = synthetic_beats(120, seed=123)
    indices, probs = load_model(tiny).classify(images, context)
    assert np.mean(indices == labels) >= 0.9


def test_the_context_features_reach_the_model(tiny: Path) -> None:
    """Narrow and early beats draw the same images: only the context, quantized and fed right, tells them apart."""
    images, context, labels = synthetic_beats(200, seed=7)
    narrow, early = LABELS.index("narrow"), LABELS.index("early")
    on_time = labels == narrow
    model = load_model(tiny)
    assert np.mean(model.classify(images[on_time], context[on_time])[0] == narrow) >= 0.9
    premature = context[on_time].copy()
    for name in ("pre", "long"):  # the same beats, arriving at 60 % of the usual RR
        premature[:, CONTEXT_FEATURES.index(name)] = -0.7
    assert np.mean(model.classify(images[on_time], premature)[0] == early) >= 0.9


def test_classify_returns_indices_and_probabilities_for_any_batch_size(tiny: Path) -> None:
    model = load_model(tiny)
    images, context, _ = synthetic_beats(5, seed=1)
    indices, probs = model.classify(images, context)
    assert indices.shape == (5,) and indices.dtype.kind == "i"
    assert probs.shape == (5, len(LABELS)) and probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=2 / 256)  # int8 softmax: steps of 1/256
    np.testing.assert_array_equal(indices, probs.argmax(axis=1))
    empty_idx, empty_probs = model.classify(np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
                                            np.zeros((0, N_CONTEXT), np.float32))
    assert empty_idx.shape == (0,) and empty_probs.shape == (0, len(LABELS))


def test_results_do_not_depend_on_how_beats_are_batched(tiny: Path) -> None:
    images, context, _ = synthetic_beats(70, seed=2)
    whole = load_model(tiny).classify(images, context)[1]
    chunked = load_model(tiny, batch_size=7).classify(images, context)[1]
    model = load_model(tiny)
    one_by_one = np.concatenate([model.classify(images[i:i + 1], context[i:i + 1])[1] for i in range(len(images))])
    np.testing.assert_array_equal(whole, chunked)
    np.testing.assert_array_equal(whole, one_by_one)


IMAGES = np.zeros((2, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
CONTEXT = np.zeros((2, N_CONTEXT), np.float32)


@pytest.mark.parametrize("images, context, problem", [
    (IMAGES.astype(np.float32), CONTEXT, "uint8"),
    (IMAGES[0], CONTEXT[:1], "shape"),
    (np.zeros((2, 64, 64), np.uint8), CONTEXT, "shape"),
    ([[0] * IMAGE_SIZE] * IMAGE_SIZE, CONTEXT, "uint8"),
    (IMAGES, CONTEXT.astype(np.float64), "float32"),
    (IMAGES, CONTEXT.tolist(), "float32"),
    (IMAGES, CONTEXT[:, :-1], "shape"),
    (IMAGES, CONTEXT[:1], r"context features of shape \(2, "),
    (IMAGES, np.full((2, N_CONTEXT), np.nan, np.float32), "finite"),
])
def test_classify_refuses_what_is_not_beat_images_with_their_context_features(tiny: Path, images: object,
                                                                               context: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        load_model(tiny).classify(images, context)


# --- finding and feeding the inputs ---------------------------------------------------

def tensor(index: int, item_shape: tuple[int, ...], dtype=np.int8, scale: float = 0.0,
           zero_point: int = 0) -> TensorInfo:
    return TensorInfo(index, item_shape, np.dtype(dtype), scale, zero_point)


IMAGE_INPUT = tensor(0, (IMAGE_SIZE, IMAGE_SIZE, 1), np.int8, 1.0, -128)
CONTEXT_INPUT = tensor(1, (N_CONTEXT,), np.int8, 0.01, 20)


class FakeInterpreter:
    """Just what BeatClassifier reads of an interpreter; ``run`` records what it is fed."""

    backend = "fake"

    def __init__(self, inputs: tuple[TensorInfo, ...], n_labels: int = 2):
        self.inputs = inputs
        self.output = tensor(9, (n_labels,), np.float32)
        self.fed: list[tuple[np.ndarray, ...]] = []

    def run(self, *xs: np.ndarray) -> np.ndarray:
        self.fed.append(xs)
        return np.full((len(xs[0]), self.output.item_shape[0]), 0.5, np.float32)


META = {"labels": ["a", "b"], "scheme": "fake", "sha256": "0" * 64}


@pytest.mark.parametrize("inputs, problem", [
    ((IMAGE_INPUT,), rf"no input tensor for the context features \({N_CONTEXT},\)"),
    ((CONTEXT_INPUT,), r"no input tensor for the beat image \(128, 128, 1\)"),
    ((tensor(0, (IMAGE_SIZE, IMAGE_SIZE, 3)), tensor(1, (N_CONTEXT + 1,))),
     "no input tensor for the beat image .* and the context features"),
    ((IMAGE_INPUT, CONTEXT_INPUT, tensor(2, (7,))), "3 input tensors"),
])
def test_a_model_without_exactly_the_image_and_context_inputs_is_refused(inputs: tuple, problem: str) -> None:
    with pytest.raises(ModelError, match=problem):
        BeatClassifier(FakeInterpreter(inputs), META)


@pytest.mark.parametrize("inputs", [(IMAGE_INPUT, CONTEXT_INPUT), (CONTEXT_INPUT, IMAGE_INPUT)])
def test_inputs_are_found_by_shape_and_quantized_with_their_own_scale(inputs: tuple) -> None:
    interp = FakeInterpreter(inputs)
    images = np.array([np.full((IMAGE_SIZE, IMAGE_SIZE), v, np.uint8) for v in (0, 255)])
    context = np.resize(np.array([-0.5, 0.004, 2.0, -1.2, 0.0, 0.016, -2.0, 1.0], np.float32), (2, N_CONTEXT))
    BeatClassifier(interp, META).classify(images, context)
    (fed,) = interp.fed
    fed_image, fed_context = (fed[0], fed[1]) if inputs[0] is IMAGE_INPUT else (fed[1], fed[0])
    np.testing.assert_array_equal(fed_image[:, 0, 0, 0], [-128, 127])  # pixel - 128, exactly
    expected = np.clip(np.rint(context / 0.01) + 20, -128, 127)  # +-2.0 -> 220 and -180 saturate
    np.testing.assert_array_equal(fed_context, expected.astype(np.int8))


def test_float_inputs_are_fed_unquantized() -> None:
    interp = FakeInterpreter((tensor(0, (IMAGE_SIZE, IMAGE_SIZE, 1), np.float32),
                              tensor(1, (N_CONTEXT,), np.float32)))
    context = np.linspace(-2, 2, 2 * N_CONTEXT, dtype=np.float32).reshape(2, N_CONTEXT)
    BeatClassifier(interp, META).classify(np.full((2, IMAGE_SIZE, IMAGE_SIZE), 200, np.uint8), context)
    (fed,) = interp.fed
    assert np.all(fed[0] == 200.0)
    np.testing.assert_array_equal(fed[1], context)


def test_the_interpreter_runs_one_batch_per_input_of_one_batch_size(tiny: Path) -> None:
    interp = make_interpreter(tiny)
    assert sorted(inp.item_shape for inp in interp.inputs) == sorted([(N_CONTEXT,), (IMAGE_SIZE, IMAGE_SIZE, 1)])
    batches = [np.zeros((3, *inp.item_shape), inp.dtype) for inp in interp.inputs]
    assert interp.run(*batches).shape == (3, len(LABELS))
    with pytest.raises(ValueError, match="2 input tensors, got 1 batches"):
        interp.run(batches[0])
    with pytest.raises(ValueError, match="same batch size"):
        interp.run(batches[0], batches[1][:2])
    with pytest.raises(ValueError, match="model input 1 expects"):
        interp.run(batches[0], batches[1].astype(np.float32))


# --- refusing models that do not fit this gateway ----------------------------------

def test_a_modified_tflite_is_refused(tiny: Path) -> None:
    data = bytearray(tiny.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tiny.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="modified"):
        load_model(tiny)


@pytest.mark.parametrize("field", ["format", "scheme", "labels", *chain_fields(), "sha256"])
def test_each_required_metadata_field_is_checked_for_presence(tiny: Path, field: str) -> None:
    edit_metadata(tiny, **{field: ...})
    with pytest.raises(ModelError, match=f"'{field}' is missing"):
        load_model(tiny)


@pytest.mark.parametrize("field, value", [
    ("chain_version", "chain-0"),
    ("window_before", chain_fields()["window_before"] + 44),
    ("window_after", chain_fields()["window_after"] - 56),
    ("image_size", chain_fields()["image_size"] // 2),
    ("sample_rate", 250),
    ("sample_rate", float(chain_fields()["sample_rate"])),
    ("context_features", list(CONTEXT_FEATURES)[:-1]),
    ("context_features", list(reversed(CONTEXT_FEATURES))),
    ("context_features", ",".join(CONTEXT_FEATURES)),
])
def test_a_model_built_for_another_signal_chain_is_refused_naming_the_field(tiny: Path, field: str,
                                                                             value: object) -> None:
    edit_metadata(tiny, **{field: value})
    with pytest.raises(ModelError, match=re.escape(f"'{field}' is {value!r} but this gateway's chain uses")):
        load_model(tiny)


@pytest.mark.parametrize("changes, problem", [
    ({"format": "ecg-edge-model/0"}, "'format'"),
    ({"labels": ["N", "N", "V"]}, "'labels'"),
    ({"labels": "NVA"}, "'labels'"),
    ({"labels": ["N"]}, "'labels'"),
    ({"labels": ["N", "V", "A", "L", "F"]}, "5 labels"),  # the output tensor has 4
    ({"scheme": ""}, "'scheme'"),
])
def test_inconsistent_metadata_is_refused(tiny: Path, changes: dict, problem: str) -> None:
    edit_metadata(tiny, **changes)
    with pytest.raises(ModelError, match=problem):
        load_model(tiny)


def test_a_model_of_another_scheme_than_asked_for_is_refused(tiny: Path) -> None:
    with pytest.raises(ModelError, match="'scheme' is 'tiny', expected 'seed8'"):
        load_model(tiny, scheme="seed8")


def test_missing_or_unreadable_files_are_refused(tiny: Path) -> None:
    tiny.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(tiny)
    tiny.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="not found"):
        load_model(tiny)
    with pytest.raises(ModelError, match="not found"):
        load_model(tiny.with_name("absent.tflite"))


def test_asking_for_a_scheme_that_is_not_shipped_names_the_shipped_ones() -> None:
    with pytest.raises(ModelError, match="no shipped model for scheme 'nonesuch'"):
        shipped_model_path("nonesuch")


# --- interpreter backends --------------------------------------------------------------

class ImportSpy:
    """Stands in for importlib.import_module: records attempts, hides or fakes modules."""

    def __init__(self, hidden: set[str], fakes: dict[str, types.ModuleType]):
        self.hidden, self.fakes, self.attempts = hidden, fakes, []
        self.real = interpreters.importlib.import_module

    def __call__(self, name: str) -> types.ModuleType:
        self.attempts.append(name)
        if name in self.hidden:
            raise ImportError(f"No module named {name!r}")
        return self.fakes[name] if name in self.fakes else self.real(name)


def fake_runtime(path: str) -> types.ModuleType:
    """A module that looks like a TFLite runtime (``path`` like 'lite.Interpreter'), backed by LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    module = types.ModuleType("fake")
    holder = module
    *parents, leaf = path.split(".")
    for part in parents:
        setattr(holder, part, types.SimpleNamespace())
        holder = getattr(holder, part)
    setattr(holder, leaf, Interpreter)
    return module


LITERT, TFLITE_RUNTIME, TENSORFLOW = "ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow"


@pytest.mark.parametrize("hidden, expected", [
    (set(), "ai_edge_litert"),
    ({LITERT}, "tflite_runtime"),
    ({LITERT, TFLITE_RUNTIME}, "tensorflow"),
])
def test_backends_are_tried_litert_then_tflite_runtime_then_tensorflow(monkeypatch, hidden: set[str],
                                                                        expected: str) -> None:
    spy = ImportSpy(hidden, {TFLITE_RUNTIME: fake_runtime("Interpreter"), TENSORFLOW: fake_runtime("lite.Interpreter")})
    monkeypatch.setattr(interpreters.importlib, "import_module", spy)
    interp = make_interpreter(FIXTURE)
    assert interp.backend == expected
    order = [LITERT, TFLITE_RUNTIME, TENSORFLOW]
    assert spy.attempts == order[:order.index(interpreters.BACKENDS[expected][0]) + 1]


def test_no_runtime_at_all_is_a_clear_error_naming_each_backend(monkeypatch) -> None:
    monkeypatch.setattr(interpreters.importlib, "import_module",
                        ImportSpy({LITERT, TFLITE_RUNTIME, TENSORFLOW}, {}))
    with pytest.raises(BackendError, match="no TFLite runtime") as err:
        make_interpreter(FIXTURE)
    for name in interpreters.BACKENDS:
        assert name in str(err.value)


def test_a_tensorflow_without_its_lite_interpreter_counts_as_missing(monkeypatch) -> None:
    monkeypatch.setattr(interpreters.importlib, "import_module",
                        ImportSpy({LITERT, TFLITE_RUNTIME}, {TENSORFLOW: types.ModuleType("tensorflow")}))
    with pytest.raises(BackendError, match="tensorflow has no lite.Interpreter"):
        make_interpreter(FIXTURE)


def test_a_named_backend_is_used_or_refused_but_never_substituted(monkeypatch) -> None:
    monkeypatch.setattr(interpreters.importlib, "import_module", ImportSpy({TFLITE_RUNTIME}, {}))
    assert make_interpreter(FIXTURE, backend="ai_edge_litert").backend == "ai_edge_litert"
    with pytest.raises(BackendError, match="tflite_runtime"):
        make_interpreter(FIXTURE, backend="tflite_runtime")
    with pytest.raises(ValueError, match="unknown interpreter backend 'coral'"):
        make_interpreter(FIXTURE, backend="coral")
    with pytest.raises(ValueError, match="num_threads"):
        make_interpreter(FIXTURE, num_threads=0)


def test_loading_and_classifying_never_imports_tensorflow(tiny: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from gateway.classify.model import load_model\n"
        f"m = load_model({str(tiny)!r})\n"
        "m.classify(np.full((3, m.metadata['image_size'], m.metadata['image_size']), 255, np.uint8),\n"
        "           np.zeros((3, len(m.metadata['context_features'])), np.float32))\n"
        "print(m.backend, sorted(k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ai_edge_litert", "[]"]
