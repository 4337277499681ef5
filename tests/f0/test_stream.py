"""Streaming (frame by frame, fixed memory: the firmware's API) == whole-signal analysis, both in the C core
(eggemo.core.f0.binding); the C against its NumPy reference is tests/core/test_f0_parity.py."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.core.f0 import F0Params, f0_track
from eggemo.core.f0.binding import F0Stream
from eggemo.core.f0.params import MAX_SEG
from eggemo.wavio import read_wav

from .conftest import DATA, long_phonation, synthetic_set


COLUMNS = ("index", "f0", "voiced", "periodicity", "energy_db", "cq", "jitter", "shimmer")


def assert_stream_equals_whole(cols: tuple[np.ndarray, ...], whole) -> None:
    """Every column F0Stream gives equals whole-signal analysis, bit for bit (float32)."""
    assert len(cols) == len(COLUMNS), f"F0Stream gives {len(cols)} columns, this test knows {COLUMNS}"
    got = dict(zip(COLUMNS, cols))
    np.testing.assert_array_equal(got["index"], np.arange(len(whole)))  # in order, each frame once
    np.testing.assert_array_equal(got["voiced"], whole.voiced)
    for name in COLUMNS[3:] + ("f0",):
        np.testing.assert_array_equal(got[name], getattr(whole, name).astype(np.float32), err_msg=name)


def stream(x: np.ndarray, fs: int, sizes: np.ndarray, params: F0Params | None = None):
    s = F0Stream(fs, params)
    parts, pos, i = [], 0, 0
    while pos < len(x):
        n = int(sizes[i % len(sizes)])
        parts.append(s.push(x[pos : pos + n]))
        pos += n
        i += 1
    parts.append(s.flush())
    return tuple(np.concatenate(cols) for cols in zip(*parts))


@pytest.mark.parametrize("chunking", ["hop", "random", "single"])
def test_stream_equals_whole_signal(chunking):
    rng = np.random.default_rng(3)
    fs = 16000
    x = synthetic_set(fs, count=1, seed=11)[0].egg
    if chunking == "single":
        x = x[: fs // 2]
    sizes = {"hop": np.array([160]), "random": rng.integers(1, 900, 50), "single": np.array([1])}[chunking]
    cols = stream(x, fs, sizes)
    whole = f0_track(x, fs)
    assert_stream_equals_whole(cols, whole)
    assert np.any(whole.cq > 0) and np.any(whole.jitter > 0) and np.any(whole.shimmer > 0)


def test_stream_real_recording_bit_exact():
    fs, x = read_wav(DATA / "M1_FrameSentence_EGG.wav")
    got = stream(x[:, 0], fs, np.array([441, 100, 7]))
    whole = f0_track(x[:, 0], fs)
    assert_stream_equals_whole(got, whole)


def test_voiced_segment_is_released_when_it_ends():
    """Unvoiced frames come out at once; a voiced segment's frames only at its end."""
    fs = 8000
    t = np.arange(int(0.6 * fs)) / fs
    x = np.where((t > 0.2) & (t < 0.4), 0.3 * np.maximum(np.sin(2 * np.pi * 150 * t), 0) ** 2, 0.0)
    s = F0Stream(fs)
    released_at = {}
    for pos in range(0, len(x), s.hop_samples):
        index, *_ = s.push(x[pos : pos + s.hop_samples])
        for i in index:
            released_at[int(i)] = pos
    for i in s.flush()[0]:
        released_at[int(i)] = len(x)
    whole = f0_track(x, fs)
    voiced = np.flatnonzero(whole.voiced)
    assert len(voiced) > 10
    # every voiced frame waits for the segment's end; unvoiced frames before it do not
    assert len({released_at[int(i)] for i in voiced}) == 1
    assert released_at[int(voiced[0]) - 1] < released_at[int(voiced[0])]


def test_long_phonation_is_cut_into_segments_identically():
    """Runs longer than MAX_SEG frames are tracked in MAX_SEG pieces by both APIs (the NumPy reference
    cuts them alike: tests/core/test_f0_parity.py)."""
    fs = 8000
    x = long_phonation(fs)
    whole = f0_track(x, fs)
    assert whole.voiced.sum() > MAX_SEG
    got = stream(x, fs, np.array([80]))
    assert_stream_equals_whole(got, whole)


def test_state_is_fixed_size():
    from eggemo._emo import ffi
    # 30.9 KB of F0 state and 3 KB of per-frame voice quality (seg_vq): fits the wearable's 128 KiB
    # SRAM beside the app and a model arena; the firmware Makefile checks the whole image's budget
    assert ffi.sizeof("emo_f0_state_t") < 34 * 1024
