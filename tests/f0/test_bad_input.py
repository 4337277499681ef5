"""Bad input: a clear ValueError from Python, an error status from C; never a crash or garbage."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo._emo import ffi, lib
from eggemo.core.f0 import F0Params, f0_track
from eggemo.core.f0.binding import F0Stream

BACKENDS = ["c", "numpy"]
GOOD = 0.1 * np.sin(2 * np.pi * 150 * np.arange(8000) / 8000)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("x, fs, params, message", [
    (np.zeros(0), 8000, None, "empty"),
    (np.zeros((100, 2)), 8000, None, "1-D"),
    (np.zeros(8000, dtype=np.int32), 8000, None, "unsupported sample type"),
    (np.array(["a"] * 8000), 8000, None, "unsupported sample type"),
    (np.where(np.arange(8000) == 77, np.nan, GOOD), 8000, None, "NaN"),
    (np.where(np.arange(8000) == 5, np.inf, GOOD), 8000, None, "NaN/inf"),
    (GOOD * 1e6, 8000, None, "full scale"),
    (GOOD, 3999, None, "outside 4000..96000"),
    (GOOD, 96001, None, "outside 4000..96000"),
    (GOOD, 8000.0, None, "integer"),
    (GOOD, 8000, F0Params(fmin=300, fmax=200), "fmin < fmax"),
    (GOOD, 8000, F0Params(fmin=200, fmax=200), "fmin < fmax"),
    (GOOD, 8000, F0Params(fmin=float("nan")), "finite"),
    (GOOD, 8000, F0Params(fmin=30), "two periods"),
    (GOOD, 8000, F0Params(fmax=5000), "too high"),
    (GOOD, 8000, F0Params(median_len=4), "odd"),
    (GOOD, 8000, F0Params(ac_threshold=1.5), "ac_threshold"),
    (GOOD[:300], 8000, None, "shorter than one analysis frame"),
])
def test_python_rejects(backend, x, fs, params, message):
    with pytest.raises(ValueError, match=message):
        f0_track(x, fs, params, backend=backend)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown F0 backend"):
        f0_track(GOOD, 8000, backend="cuda")


def analyze_status(x: np.ndarray, fs: int, **overrides) -> int:
    p = ffi.new("emo_f0_params_t *")
    assert lib.emo_f0_default_params(p, fs) == lib.EMO_OK
    for k, v in overrides.items():
        setattr(p, k, v)
    st = ffi.new("emo_f0_state_t *")
    out = ffi.new("emo_f0_frame_t[]", 1000)
    n = ffi.new("int32_t *")
    x = np.ascontiguousarray(x, dtype=np.float32)
    return lib.emo_f0_analyze(st, p, ffi.cast("float *", ffi.from_buffer(x)), len(x), out, 1000, n)


@pytest.mark.parametrize("x, fs, overrides, status", [
    (GOOD, 8000, {}, "EMO_OK"),
    (GOOD, 3000, {}, "EMO_ERR_RATE"),
    (GOOD, 200000, {}, "EMO_ERR_RATE"),
    (GOOD, 8000, {"fmin": 300.0, "fmax": 200.0}, "EMO_ERR_PARAM"),
    (GOOD, 8000, {"fmin": float("nan")}, "EMO_ERR_PARAM"),
    (GOOD, 8000, {"fmin": 30.0}, "EMO_ERR_PARAM"),
    (GOOD, 8000, {"median_len": 4}, "EMO_ERR_PARAM"),
    (GOOD, 8000, {"decimation": -1}, "EMO_ERR_PARAM"),
    (GOOD[:300], 8000, {}, "EMO_ERR_SHORT"),
    (np.where(np.arange(8000) == 9, np.nan, GOOD), 8000, {}, "EMO_ERR_NONFINITE"),
    (np.where(np.arange(8000) == 9, -np.inf, GOOD), 8000, {}, "EMO_ERR_NONFINITE"),
    (GOOD * 1e6, 8000, {}, "EMO_ERR_RANGE"),
])
def test_c_status_codes(x, fs, overrides, status):
    assert analyze_status(x, fs, **overrides) == getattr(lib, status)
    assert ffi.string(lib.emo_status_str(getattr(lib, status))) != b"unknown status"


def test_c_null_pointers_and_capacity():
    p = ffi.new("emo_f0_params_t *")
    lib.emo_f0_default_params(p, 8000)
    st = ffi.new("emo_f0_state_t *")
    n = ffi.new("int32_t *")
    x = np.ascontiguousarray(GOOD, dtype=np.float32)
    xp = ffi.cast("float *", ffi.from_buffer(x))
    out = ffi.new("emo_f0_frame_t[]", 5)
    assert lib.emo_f0_init(ffi.NULL, p) == lib.EMO_ERR_NULL
    assert lib.emo_f0_init(st, ffi.NULL) == lib.EMO_ERR_NULL
    assert lib.emo_f0_default_params(ffi.NULL, 8000) == lib.EMO_ERR_NULL
    assert lib.emo_f0_analyze(st, p, ffi.NULL, len(x), out, 5, n) == lib.EMO_ERR_NULL
    assert lib.emo_f0_analyze(st, p, xp, len(x), out, 5, n) == lib.EMO_ERR_CAPACITY
    assert lib.emo_f0_init(st, p) == lib.EMO_OK
    assert lib.emo_f0_push(st, xp, lib.emo_f0_hop_samples(st) + 1, out, n) == lib.EMO_ERR_PARAM
    assert lib.emo_f0_push(st, xp, -1, out, n) == lib.EMO_ERR_PARAM
    assert lib.emo_f0_push(st, ffi.NULL, 0, out, n) == lib.EMO_OK and n[0] == 0


def test_stream_rejects_nan_and_loses_nothing():
    """A NaN block is refused whole; the stream goes on as if it had never come."""
    s, ref = F0Stream(8000), F0Stream(8000)
    bad = GOOD[:80].copy()
    bad[40] = np.nan
    got = [s.push(GOOD[:4000])]
    with pytest.raises(ValueError, match="NaN"):
        s.push(bad)
    got += [s.push(GOOD[4000:]), s.flush()]
    want = [ref.push(GOOD), ref.flush()]
    np.testing.assert_array_equal(np.concatenate([g[1] for g in got]), np.concatenate([w[1] for w in want]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_silence_is_unvoiced_not_garbage(backend):
    tr = f0_track(np.zeros(16000), 16000, backend=backend)
    assert not tr.voiced.any() and np.all(tr.f0 == 0) and np.all(np.isfinite(tr.energy_db))
