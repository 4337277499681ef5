"""The C routine (what the firmware runs) against its NumPy specification.

Contract: voicing decisions identical; F0 within 0.01 Hz on at least 99.9 % of
frames. The C code is float32 and the reference float64, so a decision whose
statistic lies within float32 rounding of its threshold may flip; such frames
are counted and must stay rare (see docs/f0.md).

Voice quality (cq, jitter, shimmer of each voiced frame): within 1e-4 absolute on
at least 99.9 % of voiced frames. They are ratios of sums of float32 samples
(~1e-6 apart in practice), but each rests on discrete decisions: a sample within
rounding of its cycle's 35 % contact level counts in one CQ and not in the other
(a step of 1/period, >= 0.003), and a DEGG peak within rounding of the closure
threshold (40 % of the frame's largest) or of the 0.6-period gap can add, drop or
move a closure, which changes all three. Such frames must stay rare. On every
frame, of both: cq = jitter = shimmer = 0 where unvoiced; where voiced all three
are finite, 0 <= cq <= 1, jitter >= 0, shimmer >= 0.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from eggemo.eggsynth import synth_egg
from eggemo.core.f0 import F0Params, f0_track
from eggemo.core.f0.params import MAX_SEG
from eggemo.wavio import read_wav

from tests.f0.conftest import REAL_EGG, long_phonation, synthetic_set

TOL_HZ = 0.01
TOL_VQ = 1e-4
VQ_FIELDS = ("cq", "jitter", "shimmer")


def compare(x: np.ndarray, fs: int, params: F0Params | None = None):
    c = f0_track(x, fs, params, backend="c")
    r = f0_track(x, fs, params, backend="numpy")
    assert len(c) == len(r)
    np.testing.assert_array_equal(c.times, r.times)
    return c, r


def assert_parity(pairs, fa: float | None = None) -> None:
    """C against the NumPy reference. With `fa` (the analysis rate), a contact quotient beyond
    TOL_VQ is still accepted when the difference is what one-sample decisions give: float32 (C)
    and float64 (reference) may put a sample on either side of the 35 % level or move a DEGG
    peak by one sample, at most one sample at each of a cycle's two level crossings, so
    |dcq| <= 2 * f0 / fa (mean over the frame's cycles). Edge-case signals (clipped tones, whose
    flat tops sit exactly at the level) need this; the corpora keep the strict count."""
    frames = sum(len(c) for c, _ in pairs)
    voicing = sum(int(np.sum(c.voiced != r.voiced)) for c, r in pairs)
    f0_off = sum(int(np.sum(np.abs(c.f0 - r.f0) > TOL_HZ)) for c, r in pairs)
    assert voicing == 0, f"{voicing} of {frames} voicing decisions differ"
    assert f0_off <= 0.001 * frames, f"{f0_off} of {frames} frames differ by more than {TOL_HZ} Hz"
    for c, r in pairs:
        np.testing.assert_allclose(c.energy_db, r.energy_db, atol=1e-3)
        assert_voice_quality_valid(c)
        assert_voice_quality_valid(r)
    voiced = sum(int(np.sum(c.voiced)) for c, _ in pairs)
    for name in VQ_FIELDS:
        off = 0
        for c, r in pairs:
            d = np.abs(getattr(c, name) - getattr(r, name))[c.voiced]
            bad = d > TOL_VQ
            if name == "cq" and fa is not None:
                one_sample = 2.0 * np.maximum(c.f0, r.f0)[c.voiced] / fa
                assert np.all(d[bad] <= one_sample[bad]), \
                    f"cq differs by {d[bad].max():.4g}, more than one-sample decisions explain"
                bad[:] = False
            off += int(np.sum(bad))
        assert off <= 0.001 * voiced, f"{name}: {off} of {voiced} voiced frames differ by more than {TOL_VQ}"


def assert_voice_quality_valid(tr) -> None:
    """Zero where unvoiced; finite, 0 <= cq <= 1 and jitter, shimmer >= 0 where voiced."""
    for name in VQ_FIELDS:
        v = getattr(tr, name)
        assert v.shape == tr.f0.shape
        assert np.all(v[~tr.voiced] == 0), f"{name} is not 0 on an unvoiced frame"
        assert np.all(np.isfinite(v)), f"{name} is not finite"
        assert np.all(v >= 0), f"{name} is negative"
    assert np.all(tr.cq <= 1), "cq above 1"


@pytest.mark.parametrize("fs", [8000, 16000, 44100])
def test_parity_synthetic(fs):
    assert_parity([compare(s.egg, fs) for s in synthetic_set(fs, count=6, seed=fs)])


def test_parity_real_recordings():
    assert REAL_EGG, "tests/data/egg_real is missing"
    pairs = []
    for path in REAL_EGG:
        fs, x = read_wav(path)
        pairs.append(compare(x[:, 0], fs))
    assert_parity(pairs)


def test_parity_int16_input_matches_float_scaling():
    s = synthetic_set(16000, count=1, seed=5)[0]
    pcm = np.clip(np.round(s.egg * 20000), -32768, 32767).astype(np.int16)
    c, r = compare(pcm, 16000)
    as_float = f0_track(pcm.astype(np.float32) / np.float32(32768), 16000)
    np.testing.assert_array_equal(c.f0, as_float.f0)
    assert_parity([(c, r)])


def test_parity_non_default_parameters():
    p = F0Params(fmin=70, fmax=400, frame_ms=35, hop_ms=5, hpf_hz=60, median_len=7, min_voiced=2,
                 octave_cost=0.0, decimation=1)
    pairs = [compare(s.egg, 16000, p) for s in synthetic_set(16000, count=3, seed=9)]
    assert_parity(pairs)


def clipped_tone(seed: int, n: int, f: float, gain: float) -> np.ndarray:
    phase = np.random.default_rng(seed).uniform(0, 6)
    return np.clip(gain * np.sin(2 * np.pi * f * np.arange(n) / 8000 + phase), -1, 1)


signals = st.one_of(
    st.builds(lambda n: np.zeros(n), st.integers(800, 4000)),                       # silence
    st.builds(lambda n, v: np.full(n, v), st.integers(800, 4000), st.floats(-1, 1)),  # DC
    st.builds(lambda seed, n, a: a * np.random.default_rng(seed).standard_normal(n),
              st.integers(0, 2**31), st.integers(800, 6000),
              st.sampled_from([1e-9, 1e-5, 1e-2, 0.5, 50.0, 1000.0])),               # noise, any level
    st.builds(clipped_tone, st.integers(0, 2**31), st.integers(800, 6000), st.floats(60, 450), st.floats(0.5, 20)),  # clipped tones
    st.builds(lambda seed, n, f, oq, sq, jit, shim: synth_egg(np.full(n, f), 8000, oq=oq, sq=sq, jitter=jit,
                                                              shimmer=shim, amplitude=0.4, drift=1.0,
                                                              noise_snr_db=30, seed=seed).egg,
              st.integers(0, 2**31), st.integers(800, 6000), st.floats(60, 450), st.floats(0.1, 0.9),
              st.floats(0.5, 5), st.floats(0, 0.1), st.floats(0, 0.3)),               # EGG: voice quality
)


def test_parity_long_phonation_is_cut_into_segments_identically():
    """A voiced run longer than MAX_SEG frames is tracked in MAX_SEG pieces by the C and by the reference
    alike (the streaming API cuts it as the whole-signal one: tests/f0/test_stream.py)."""
    fs = 8000
    x = long_phonation(fs)
    whole = f0_track(x, fs)
    ref = f0_track(x, fs, backend="numpy")
    assert whole.voiced.sum() > MAX_SEG
    np.testing.assert_array_equal(whole.voiced, ref.voiced)
    np.testing.assert_allclose(whole.f0, ref.f0, atol=0.01)
    for name in ("cq", "jitter", "shimmer"):
        np.testing.assert_allclose(getattr(whole, name), getattr(ref, name), atol=1e-4, err_msg=name)


# derandomised: CI runs the same 60 examples every time, plus the one below, which a random
# run once found (cq 0.003 apart on 3 of 7 frames: one-sample decisions, see assert_parity)
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(x=signals)
@example(x=clipped_tone(2088, 800, 60.0, 1.0))
def test_parity_hypothesis_signals(x):
    """Edge-case signals at 8 kHz (shortest: just over one 40 ms frame; analysed at fa = 8 kHz)."""
    assert_parity([compare(x, 8000)], fa=8000.0)
