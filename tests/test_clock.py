"""Clock correction: a device whose samples do not come at the rate it declared is measured and corrected.

The patient's heart beats at a known rate (a synthetic ECG at 72/min: every
RR interval 0.8333 s, 300 samples at 360 Hz).  The device samples it at its
true rate, which is not the rate it declares: a crystal 2 % fast (367.2 Hz
declared as 360), 2 % slow (352.8 Hz), or the seed's sketch (``delay(3)``
per sample: 333.3 Hz) in the legacy form, which declares nothing, so the
gateway starts from ``legacy_rate`` (360).  Its frames reach the gateway
over Wi-Fi: a few milliseconds of delay, exponential jitter, and every 40 s
a 1.5 s stall whose frames then arrive in a burst.  The service's 1 s timer
ticks throughout.  Time is simulated; nothing sleeps.

Uncorrected, every RR interval would read off by the clock's error (2 %,
8 %).  The specification: within the first minutes the gateway measures the
true rate, corrects through the resampler, and from then on RR intervals
and the heart rate are within 0.5 % of the truth; the correction drops and
repeats no sample and moves no R peak (every sample is judged, every beat
is found once, R-peak times stay continuous); no alert is raised while it
converges; the status reports the estimate and the correction.  A good
clock is left alone: its beats are exactly those of an undisturbed run.
"""

from __future__ import annotations

import numpy as np
import pytest

from gateway.device import DeviceStream
from gateway.events import Alert, Beat, Status
from gateway.processor import ProcessorConfig, StreamProcessor
from gateway.service.protocol import parse_handshake
from gateway.service.server import MERGE_SPAN, _merge_legacy, _Op
from gateway.signal.chain import Conditioner, condition
from gateway.signal.resample import VariableResampler
from gateway.signal.spec import MODEL_FS
from gateway.timeline import RATE_FIRST_FIT_S, RateEstimator
from synthetic_ecg import regular_beats, synthetic_ecg

T0 = 1_700_000_000.0
BPM = 72.0
RR = 60.0 / BPM
DURATION = 240.0  # seconds of the patient's time
CONVERGED_S = 90.0  # from here on, the figures must be right ("after the first minutes")


class AllNormal:
    """Every beat is N: any alert would come from the clock or its correction."""

    labels, scheme, version = ("N",), "normal", "normal-1"

    def classify(self, images, context):
        return np.zeros(len(images), dtype=np.int64), np.ones((len(images), 1), dtype=np.float32)


def network_delays(times: np.ndarray, seed: int) -> np.ndarray:
    """Arrival delays of frames sent at ``times``: 3 ms + exponential jitter (mean 8 ms), a 1.5 s stall every 40 s.

    The frames sent during a stall arrive in a burst once it ends (at a hundred times the rate they were sent).
    """
    rng = np.random.default_rng(seed)
    arrival = times + 0.003 + rng.exponential(0.008, times.size)
    into = (times - times[0]) % 40.0 - 38.5  # seconds into the stall, where > 0
    stalled = into > 0
    burst = times + (1.5 - into) + 0.005 + 0.01 * into  # the stall's end, then the queue drains
    arrival[stalled] = np.maximum(arrival[stalled], burst[stalled])
    return np.maximum.accumulate(arrival)  # one TCP connection: frames arrive in order


class Kit:
    """A device sampling the patient at ``true_rate`` while declaring ``declared``, streamed to a processor."""

    def __init__(self, true_rate: float, declared: int, legacy: bool = False, seed: int = 1):
        self.true_rate, self.legacy = true_rate, legacy
        self.r_times = regular_beats(BPM, DURATION)
        self.stream = DeviceStream("kit1", "p1", declared, 12, gain=300.0)
        self.counts = self.stream.mv_to_counts(synthetic_ecg(self.r_times, DURATION, fs=true_rate, seed=seed))
        self.proc = StreamProcessor(self.stream, AllNormal(), ProcessorConfig(), T0)
        self.events: list = []
        self.fed = 0
        self._seed = seed
        self._next_tick = T0 + 1.0

    def _until(self, now: float) -> None:
        while self._next_tick <= now:
            self.events += self.proc.tick(self._next_tick)
            self._next_tick += 1.0

    def run(self) -> Kit:
        n = self.counts.size
        if self.legacy:  # one sample per WebSocket frame, sent as it is taken
            ends = np.arange(1, n + 1)
        else:  # the kit's frames: a tenth of a second at the declared rate
            ends = np.append(np.arange(self.stream.fs // 10, n, self.stream.fs // 10), n)
        arrivals = T0 + network_delays(ends / self.true_rate, self._seed)
        starts = np.concatenate([[0], ends[:-1]])
        if self.legacy:
            # the server takes what queued up every 20 ms and merges one-sample frames (within MERGE_SPAN)
            jobs = np.searchsorted(arrivals, np.arange(arrivals[0], arrivals[-1] + 0.02, 0.02), side="right")
            ops = []
            for a, b in zip(np.concatenate([[0], jobs[:-1]]), jobs):
                ops += _merge_legacy([_Op("feed", float(arrivals[k]), self.counts[k:k + 1]) for k in range(a, b)])
            feeds = [(op.samples, op.now) for op in ops]
        else:
            feeds = [(self.counts[a:b], float(t)) for a, b, t in zip(starts, ends, arrivals)]
        for samples, now in feeds:
            self._until(now)
            self.events += self.proc.feed(samples, now)
            self.fed += samples.size
        self.judged = self.proc._clock.judged + self.proc._raw.size  # before close drains the last block
        self.events += self.proc.close(feeds[-1][1])
        return self

    # what came out
    def beats(self) -> list[Beat]:
        return [e for e in self.events if isinstance(e, Beat)]

    def alerts(self) -> list[Alert]:
        return [e for e in self.events if isinstance(e, Alert)]

    def statuses(self) -> list[Status]:
        return [e for e in self.events if isinstance(e, Status)]

    def matched(self) -> tuple[np.ndarray, np.ndarray]:
        """(true R time, beat time - T0) of every beat, each matched to the true peak it shows.

        Beats are followed in order: before the correction the ECG time drifts from the patient's (by the
        clock's error, up to 8 % of an RR interval per beat), so each beat is looked for where the previous
        one's offset says.
        """
        beat_t = np.array([b.time for b in self.beats()]) - T0
        truth, offset = [], beat_t[0] - self.r_times[0]
        for t in beat_t:
            k = int(np.abs(self.r_times - (t - offset)).argmin())
            truth.append(self.r_times[k])
            offset = t - self.r_times[k]
        return np.array(truth), beat_t


CASES = {
    "2 % fast": (360 * 1.02, 360, False),
    "2 % slow": (360 * 0.98, 360, False),
    "333 Hz sent as 360 (legacy form, no rate declared)": (1000 / 3, None, True),
}


@pytest.fixture(scope="module", params=list(CASES), ids=["fast", "slow", "legacy333"])
def kit(request) -> Kit:
    true_rate, declared, legacy = CASES[request.param]
    if declared is None:  # what the server makes of a seed sketch's handshake
        declared = parse_handshake("/v1/stream?device=kit1&token=t&format=legacy", {}, legacy_rate=360).rate
        assert declared == 360
    return Kit(true_rate, declared, legacy).run()


def test_every_sample_is_judged_and_every_beat_found_once(kit):
    assert kit.judged == kit.fed == kit.counts.size
    truth, _ = kit.matched()
    assert len(kit.beats()) == kit.r_times.size  # the edge beats too (as "?")
    assert np.array_equal(truth, kit.r_times)  # each true peak exactly once, in order


def test_after_the_first_minutes_rr_intervals_are_within_half_a_percent_of_the_truth(kit):
    late = [b.rr for b in kit.beats() if b.rr is not None and b.time - T0 > CONVERGED_S]
    assert len(late) > 100
    assert max(abs(rr / RR - 1) for rr in late) < 0.005  # every single interval (one sample is 0.33 %)
    assert abs(np.mean(late) / RR - 1) < 0.0005


def test_after_the_first_minutes_the_heart_rate_is_within_half_a_percent(kit):
    rates = [s.heart_rate for s in kit.statuses() if s.time - T0 > CONVERGED_S and s.heart_rate]
    assert len(rates) >= 10
    assert max(abs(hr / BPM - 1) for hr in rates) < 0.005, rates


def test_before_the_correction_the_clock_error_shows_in_the_rr_intervals(kit):
    """What the correction is for: uncorrected, each interval reads off by the clock's error."""
    early = [b.rr for b in kit.beats() if b.rr is not None and b.time - T0 < 0.8 * RATE_FIRST_FIT_S]
    error = kit.true_rate / kit.stream.fs - 1
    assert abs(np.mean(early) / RR - 1 - error) < 0.002


def test_r_peak_times_stay_continuous_while_the_correction_converges(kit):
    """No splice: each beat lies one true RR after the previous one, at the uncorrected or the corrected rate."""
    truth, beat_t = kit.matched()
    step = np.diff(beat_t) / np.diff(truth)  # 1.0 when corrected, true/declared before
    uncorrected = kit.true_rate / kit.stream.fs
    lo, hi = min(1.0, uncorrected), max(1.0, uncorrected)
    one_sample = 1 / MODEL_FS / RR
    assert np.all(step > lo - 1.5 * one_sample) and np.all(step < hi + 1.5 * one_sample)
    late = beat_t > CONVERGED_S
    residual = (beat_t - truth)[late]
    assert np.ptp(residual) <= 2.5 / MODEL_FS  # after convergence the ECG time runs with the patient's


def test_no_alert_is_raised_while_it_converges(kit):
    assert kit.alerts() == []
    assert kit.proc.gaps == 0  # the stalls are shorter than stall_s: nothing is restarted


def test_the_status_reports_the_estimate_and_the_correction(kit):
    declared = kit.stream.fs
    error = kit.true_rate / declared - 1
    measured = [s for s in kit.statuses() if s.extra["rate_estimate_hz"] is not None]
    first = min(s.time for s in measured) - T0
    assert RATE_FIRST_FIT_S <= first <= RATE_FIRST_FIT_S + 15
    for s in measured:
        assert abs(s.extra["rate_estimate_hz"] / kit.true_rate - 1) < 2e-4, s.extra
        assert abs(s.extra["rate_correction"] - error) < 2e-4
        assert s.extra["rate_error"] is not None  # still reported beside them
    before = [s for s in kit.statuses() if s.time - T0 < RATE_FIRST_FIT_S]
    assert before and all(s.extra["rate_estimate_hz"] is None and s.extra["rate_correction"] == 0
                          for s in before)


def test_a_good_clock_behind_jittery_wi_fi_is_left_alone():
    """An accurate clock is not "corrected" by noise: the beats are exactly those of perfect arrival times."""
    kit = Kit(360.0, 360).run()
    statuses = [s for s in kit.statuses() if s.extra["rate_estimate_hz"] is not None]
    assert statuses and all(abs(s.extra["rate_estimate_hz"] / 360 - 1) < 1e-4 for s in statuses)
    assert all(s.extra["rate_correction"] == 0 for s in kit.statuses())
    perfect = StreamProcessor(kit.stream, AllNormal(), ProcessorConfig(), T0)
    events = []
    for i in range(0, kit.counts.size, 36):
        events += perfect.feed(kit.counts[i:i + 36], T0 + (i + 36) / 360)
    events += perfect.close(T0 + kit.counts.size / 360)
    assert [(b.sample, b.rr) for b in kit.beats()] == [(b.sample, b.rr) for b in events if isinstance(b, Beat)]


def test_after_a_gap_the_correction_stays_and_the_estimate_starts_again():
    kit = Kit(360 * 1.02, 360)
    n = kit.counts.size // 2
    first = kit.counts[:n]
    for i in range(0, n, 36):
        kit.events += kit.proc.feed(first[i:i + 36], T0 + (i + 36) / kit.true_rate + 0.004)
    corrected = kit.proc._clock.rate
    assert corrected == pytest.approx(kit.true_rate, rel=1e-4)
    resume = T0 + n / kit.true_rate + 5.0
    kit.events += kit.proc.gap(3, resume)  # 3 frames lost: the reconnected stream goes on at the same clock
    rest = kit.counts[n + 108:]
    for i in range(0, rest.size, 36):
        kit.events += kit.proc.feed(rest[i:i + 36], resume + (i + 36) / kit.true_rate + 0.004)
    kit.events += kit.proc.close(resume + rest.size / kit.true_rate)
    assert kit.proc._clock.rate == corrected
    after = [b.rr for b in kit.beats() if b.rr is not None and b.time > resume + 2]
    assert after and max(abs(rr / RR - 1) for rr in after) < 0.005  # right at once, no minute to wait
    assert kit.alerts() == []


# -- the estimator -----------------------------------------------------------

@pytest.mark.parametrize("rate", [333.3, 352.8, 360.0, 367.2, 251.3])
def test_the_estimate_ignores_late_frames(rate):
    """A third of the frames come up to half a second late, and bursts: the lower envelope is unmoved."""
    rng = np.random.default_rng(int(rate))
    est = RateEstimator(360)
    ends = np.arange(36, int(rate * 300), 36)
    delay = 0.002 + rng.exponential(0.005, ends.size)
    late = rng.random(ends.size) < 0.33
    delay[late] += rng.uniform(0, 0.5, late.sum())
    arrival = np.maximum.accumulate(T0 + ends / rate + delay)
    fits = []
    for k, (end, t) in enumerate(zip(ends, arrival)):
        if est.add(36, float(t)):
            fits.append((t - T0, est.estimate))
    assert fits[0][0] == pytest.approx(RATE_FIRST_FIT_S, abs=1.0)
    assert all(abs(f / rate - 1) < 1e-4 for _, f in fits), fits[:3]


def test_no_estimate_from_less_than_a_minute():
    est = RateEstimator(360)
    assert not any(est.add(36, T0 + k * 0.1) for k in range(1, 590))
    assert est.estimate is None


# -- the resampler -----------------------------------------------------------

def _tones(t: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * 1.3 * t) + 0.5 * np.sin(2 * np.pi * 17 * t + 1) + 0.2 * np.sin(2 * np.pi * 39 * t) + 2.0


@pytest.mark.parametrize("fs, rate", [(360, 367.2), (360, 333.3), (250, 245.0), (1000, 1020.0)])
def test_the_variable_resampler_places_samples_at_the_true_rate_and_does_not_depend_on_blocks(fs, rate):
    x = _tones(np.arange(fs * 20) / rate)
    rng = np.random.default_rng(fs)
    r = VariableResampler(fs, 360, rate)
    out, i = [], 0
    while i < x.size:
        k = int(rng.integers(1, 100))
        out.append(r.process(x[i:i + k]))
        i += k
    y = np.concatenate(out + [r.flush()])
    assert y.size == int(np.ceil(x.size * 360 / rate))
    np.testing.assert_allclose(y[400:-400], _tones(np.arange(y.size) / 360)[400:-400], atol=2e-3)
    once = VariableResampler(fs, 360, rate)
    np.testing.assert_array_equal(np.concatenate([once.process(x), once.flush()]), y)
    constant = VariableResampler(fs, 360, rate)
    flat = np.concatenate([constant.process(np.full(5000, 1.75)), constant.flush()])
    assert np.abs(flat - 1.75).max() < 1e-12  # every phase's weights are normalised: no ripple on a baseline


@pytest.mark.parametrize("fs, rate, at", [(360, 367.2, 5000), (360, 333.3, 17), (250, 245.0, 3001),
                                          (1000, 1020.0, 7777)])
def test_retuning_the_conditioner_mid_segment_drops_repeats_and_shifts_nothing(fs, rate, at):
    """The device's samples are 1/fs apart up to sample ``at``, then 1/rate: the output is the patient's signal."""
    j = np.arange(fs * 40)
    t = np.where(j < at, j / fs, at / fs + (j - at) / rate)
    x = _tones(t)
    c = Conditioner(fs)
    rng = np.random.default_rng(at)
    out, i = [], 0
    while i < x.size:
        k = int(rng.integers(1, 120))
        k = min(k, at - i) if i < at else k
        out.append(c.process(x[i:i + k]))
        i += k
        if i == at:
            c.retune(rate)
    y = np.concatenate(out + [c.flush()])
    truth = condition(_tones(np.arange(int(np.ceil(at * 360 / fs + (x.size - at) * 360 / rate))) / 360), 360)
    assert y.size == truth.size
    switch = int(at * 360 / fs)
    err = np.abs(y - truth)
    assert err[1000:-1000].max() < 3e-3  # the kernels' ripple; a dropped or repeated sample would be ~0.5
    if switch > 1100:
        before = err[1000:switch - 100].max()
        assert before == 0 if fs == 360 else before < 3e-3  # the fixed path untouched up to the retune


def test_an_untuned_conditioner_is_the_training_chain():
    x = _tones(np.arange(250 * 30) / 250)
    c = Conditioner(250)
    np.testing.assert_allclose(np.concatenate([c.process(x[:4000]), c.process(x[4000:]), c.flush()]),
                               condition(x, 250), rtol=0, atol=1e-12)
