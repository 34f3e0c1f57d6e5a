"""The beat rasterizer: what a beat image looks like, pixel by pixel, and what input it refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gateway.signal.chain import beat_windows, condition
from gateway.errors import SignalError
from gateway.signal.leads import read_record
from gateway.signal.raster import AUTOSCALE_MARGIN, INK, LINE_THICKNESS, PAPER, draw_polylines, render_beats
from gateway.signal.spec import IMAGE_SIZE, WINDOW
from training.reference import read_reference

FIXTURES = Path(__file__).parent / "fixtures" / "mitdb"


def fixture_windows(name: str) -> np.ndarray:
    """Real beat windows: a committed MIT-BIH excerpt, filtered, cut around its reference beats."""
    rec = read_record(FIXTURES / name)
    windows, _ = beat_windows(condition(rec.signal, rec.fs), read_reference(FIXTURES / name).beat_samples)
    return windows


@pytest.fixture(scope="module")
def real_beats() -> np.ndarray:
    """Normal beats, PVCs, fusion beats and a ventricular run: more than one internal chunk of them."""
    windows = np.concatenate([fixture_windows(n) for n in ("e100", "e233", "e208")])
    assert len(windows) > 300
    return windows


def dark_rows(column: np.ndarray) -> np.ndarray:
    return np.flatnonzero(column == INK)


def assert_strokes_connected(image: np.ndarray) -> None:
    """Every column has one unbroken run of ink, and neighbouring runs touch or overlap."""
    runs = []
    for c in range(image.shape[1]):
        rows = dark_rows(image[:, c])
        assert rows.size, f"column {c} has no ink"
        assert np.all(np.diff(rows) == 1), f"column {c} has a gap in its stroke: rows {rows}"
        runs.append((rows[0], rows[-1]))
    for c, ((top_a, bottom_a), (top_b, bottom_b)) in enumerate(zip(runs, runs[1:])):
        assert top_b <= bottom_a + 1 and top_a <= bottom_b + 1, f"columns {c} and {c + 1} do not touch"


def expected_row(v: np.ndarray, lo: float, hi: float, height: int) -> np.ndarray:
    """Row coordinate of a value: ``hi`` at the top row's centre, ``lo`` at the bottom row's."""
    return (hi - v) / (hi - lo) * (height - 1)


# -- shape, type, pixel values ----------------------------------------------

def test_a_batch_gives_one_uint8_square_image_per_window(real_beats):
    images = render_beats(real_beats[:7])
    assert images.shape == (7, IMAGE_SIZE, IMAGE_SIZE)
    assert images.dtype == np.uint8


def test_a_single_window_gives_a_single_image_and_an_empty_batch_gives_none(real_beats):
    assert render_beats(real_beats[0]).shape == (IMAGE_SIZE, IMAGE_SIZE)
    assert render_beats(np.empty((0, WINDOW))).shape == (0, IMAGE_SIZE, IMAGE_SIZE)
    assert render_beats(real_beats[:3], size=64).shape == (3, 64, 64)


def test_the_line_is_ink_on_paper_and_nothing_else(real_beats):
    images = render_beats(real_beats[:50])
    assert set(np.unique(images)) == {INK, PAPER} == {0, 255}
    assert (images == PAPER).mean() > 0.8  # a line, not a filled area


def test_same_input_gives_identical_bytes_and_the_input_is_left_alone(real_beats):
    batch = real_beats[:40].copy()
    first = render_beats(batch).tobytes()
    assert render_beats(batch).tobytes() == first
    np.testing.assert_array_equal(batch, real_beats[:40])


def test_a_batch_renders_exactly_like_one_beat_at_a_time(real_beats):
    batch = render_beats(real_beats)
    for i, window in enumerate(real_beats):
        np.testing.assert_array_equal(batch[i], render_beats(window), err_msg=f"beat {i}")


def test_integer_windows_render_like_the_same_values_as_floats():
    counts = np.random.default_rng(1).integers(-500, 500, (3, WINDOW))
    np.testing.assert_array_equal(render_beats(counts), render_beats(counts.astype(np.float64)))


# -- geometry -----------------------------------------------------------------

@pytest.mark.parametrize("thickness", [1, 2, 3, 4])
@pytest.mark.parametrize("level", [0.0, -3.7, 1e6])
def test_a_constant_window_is_a_horizontal_line_through_the_middle(level, thickness):
    image = render_beats(np.full(WINDOW, level), thickness=thickness)
    rows = np.flatnonzero((image == INK).any(axis=1))
    assert rows.size == thickness
    assert np.all(np.diff(rows) == 1)
    assert abs(rows.mean() - (IMAGE_SIZE - 1) / 2) <= 0.5
    assert np.all(image[rows] == INK)  # the full width, every column


def test_a_window_with_a_range_too_small_to_scale_is_drawn_flat():
    window = np.zeros(WINDOW)
    window[::7] = 5e-324  # the smallest float: the range would overflow any pixel scale
    np.testing.assert_array_equal(render_beats(window), render_beats(np.zeros(WINDOW)))


def test_an_even_thickness_line_at_the_exact_middle_is_centred():
    image = render_beats(np.zeros(WINDOW), thickness=2)
    assert list(np.flatnonzero((image == INK).any(axis=1))) == [IMAGE_SIZE // 2 - 1, IMAGE_SIZE // 2]


def test_a_rising_ramp_is_a_diagonal_from_bottom_left_to_top_right():
    image = render_beats(np.arange(WINDOW, dtype=float), thickness=1)
    m = AUTOSCALE_MARGIN
    for c in range(IMAGE_SIZE):
        # Per-beat autoscale: the ramp's range plus a margin of m on each side.
        expected = expected_row(c / (IMAGE_SIZE - 1), -m, 1 + m, IMAGE_SIZE)
        rows = dark_rows(image[:, c])
        assert rows.min() - 0.5 <= expected <= rows.max() + 0.5, f"column {c}: rows {rows}, line at {expected:.2f}"
    centres = [dark_rows(image[:, c]).mean() for c in range(IMAGE_SIZE)]
    assert np.all(np.diff(centres) < 0)
    assert centres[0] > IMAGE_SIZE * 0.9 and centres[-1] < IMAGE_SIZE * 0.1


def test_autoscale_fills_the_height_less_the_margin(real_beats):
    image = render_beats(real_beats[0], thickness=1)
    rows = np.flatnonzero((image == INK).any(axis=1))
    margin_rows = AUTOSCALE_MARGIN / (1 + 2 * AUTOSCALE_MARGIN) * (IMAGE_SIZE - 1)
    assert abs(rows[0] - margin_rows) <= 1
    assert abs(rows[-1] - (IMAGE_SIZE - 1 - margin_rows)) <= 1


def test_autoscale_ignores_the_gain_and_fixed_range_does_not(real_beats):
    beat = real_beats[3]
    np.testing.assert_array_equal(render_beats(4.0 * beat), render_beats(beat))
    fixed = (-2.0, 2.0)
    assert not np.array_equal(render_beats(4.0 * beat, v_range=fixed), render_beats(beat, v_range=fixed))


def test_values_outside_a_fixed_range_are_drawn_on_the_border_rows():
    window = np.zeros(WINDOW)
    window[100:200], window[300:400] = 5.0, -5.0
    image = render_beats(window, thickness=1, v_range=(-1.0, 1.0))
    column_high, column_low = 150 * (IMAGE_SIZE - 1) // (WINDOW - 1), 350 * (IMAGE_SIZE - 1) // (WINDOW - 1)
    assert list(dark_rows(image[:, column_high])) == [0]
    assert list(dark_rows(image[:, column_low])) == [IMAGE_SIZE - 1]


@pytest.mark.parametrize("thickness", [1, LINE_THICKNESS])
def test_real_beats_are_drawn_without_gaps(real_beats, thickness):
    for image in render_beats(real_beats[::5], thickness=thickness):
        assert_strokes_connected(image)


def test_a_one_sample_spike_is_drawn_from_the_baseline_to_its_tip():
    window = np.zeros(WINDOW)
    window[256] = 1.0
    image = render_beats(window, thickness=1)
    assert_strokes_connected(image)
    base, tip = expected_row(np.array([0.0, 1.0]), -AUTOSCALE_MARGIN, 1 + AUTOSCALE_MARGIN, IMAGE_SIZE)
    spike_rows = np.flatnonzero((image == INK).any(axis=1))
    assert spike_rows[0] == round(tip) and spike_rows[-1] == round(base)


def test_the_line_passes_through_every_sample():
    rng = np.random.default_rng(7)
    values = rng.standard_normal((4, 37)).cumsum(axis=1)
    lo, hi = values.min(axis=1) - 0.5, values.max(axis=1) + 0.5
    height, width = 60, 150  # fewer samples than columns: whole segments inside a column
    images = draw_polylines(values, height, width, lo, hi, thickness=1)
    x = np.arange(values.shape[1]) * (width - 1) / (values.shape[1] - 1)
    for image, v, a, b in zip(images, values, lo, hi):
        assert_strokes_connected(image)
        for col, row in zip(np.floor(x + 0.5).astype(int), expected_row(v, a, b, height)):
            assert image[int(np.floor(row + 0.5)), col] == INK


def test_a_thicker_line_is_wider_as_well_as_taller():
    window = np.zeros(WINDOW)
    window[250:262] = 1.0  # a plateau: two vertical edges
    thin = (render_beats(window, thickness=1) == INK).sum()
    thick = (render_beats(window, thickness=3) == INK).sum()
    assert thick > 2.5 * thin


def test_a_wide_strip_draws_one_image_per_trace():
    strip = np.tile(fixture_windows("e100")[:6].ravel(), (2, 1))  # ~8.5 s at 360 Hz
    images = draw_polylines(strip, 100, 600, strip.min(axis=1), strip.max(axis=1), LINE_THICKNESS)
    assert images.shape == (2, 100, 600)
    np.testing.assert_array_equal(images[0], images[1])
    assert_strokes_connected(images[0])


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, WINDOW, elements=st.floats(-1e3, 1e3)), st.integers(1, 4))
def test_any_finite_window_gives_a_connected_line(window, thickness):
    image = render_beats(window, thickness=thickness)
    assert set(np.unique(image)) <= {INK, PAPER}
    assert_strokes_connected(image)


# -- refused input --------------------------------------------------------------

@pytest.mark.parametrize("bad, problem", [
    (np.zeros((2, WINDOW - 1)), "expected 512 samples per window, got 511"),
    (np.zeros(WINDOW + 1), "expected 512 samples per window, got 513"),
    (np.zeros((2, 2, WINDOW)), r"expected shape \(n, 512\) or \(512,\), got \(2, 2, 512\)"),
    (np.float64(1.0), r"expected shape \(n, 512\) or \(512,\), got \(\)"),
    (np.zeros(WINDOW, dtype=bool), "dtype bool"),
    (np.zeros(WINDOW, dtype=complex), "dtype complex128"),
    (np.zeros(WINDOW, dtype=object), "dtype object"),
    (np.array(["a"] * WINDOW), "dtype <U1"),
])
def test_malformed_windows_are_refused_naming_the_problem(bad, problem):
    with pytest.raises(SignalError, match=problem):
        render_beats(bad)


@pytest.mark.parametrize("value, where", [(np.nan, "trace 1 at sample 17"), (np.inf, "trace 1 at sample 17"),
                                          (-np.inf, "trace 1 at sample 17")])
def test_non_finite_samples_are_refused_saying_where(value, where):
    batch = np.zeros((3, WINDOW))
    batch[1, 17] = value
    with pytest.raises(SignalError, match=f"non-finite.*{where}"):
        render_beats(batch)


def test_a_window_whose_range_overflows_float64_is_refused():
    window = np.zeros(WINDOW)
    window[:2] = -1.5e308, 1.5e308
    with pytest.raises(SignalError, match="range is too small or too large to scale"):
        render_beats(window)


@pytest.mark.parametrize("kwargs, problem", [
    ({"size": 1}, "size: must be at least 2"),
    ({"size": 12.5}, "size: expected a whole number"),
    ({"thickness": 0}, "thickness: must be at least 1"),
    ({"thickness": True}, "thickness: expected a whole number"),
    ({"v_range": (1.0, 1.0)}, "v_range: expected finite lo < hi"),
    ({"v_range": (0.0, np.nan)}, "v_range: expected finite lo < hi"),
    ({"v_range": "wide"}, r"v_range: expected \(lo, hi\) numbers"),
])
def test_bad_drawing_parameters_are_refused(kwargs, problem):
    with pytest.raises(SignalError, match=problem):
        render_beats(np.zeros(WINDOW), **kwargs)


@pytest.mark.parametrize("args, problem", [
    ((np.zeros((2, 1)), 10, 10, 0.0, 1.0, 1), "at least 2 samples per trace"),
    ((np.zeros(5), 10, 10, 0.0, 1.0, 1), r"expected a 2-D array \(n, samples\), got shape \(5,\)"),
    ((np.zeros((2, 5)), 10, 1, 0.0, 1.0, 1), "width: must be at least 2"),
    ((np.zeros((2, 5)), 10, 10, [0.0, 1.0], 1.0, 1), "every trace needs lo < hi; trace 1 does not"),
    ((np.zeros((2, 5)), 10, 10, [0.0, 0.0, 0.0], 1.0, 1), r"lo: expected a scalar or shape \(2,\)"),
    ((np.zeros((2, 5)), 10, 10, -np.inf, 1.0, 1), "value range is too small or too large"),
])
def test_draw_polylines_refuses_bad_input(args, problem):
    with pytest.raises(SignalError, match=problem):
        draw_polylines(*args)
