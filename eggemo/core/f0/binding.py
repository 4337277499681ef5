"""F0 through the C routine (csrc/emo_f0.c, the code the firmware runs), via cffi."""
from __future__ import annotations

import numpy as np

from eggemo._emo import ffi, lib
from .params import F0Params, F0Track, as_signal, geometry

FIELDS = ("fs", "decimation", "fmin", "fmax", "frame_ms", "hop_ms", "hpf_hz", "energy_floor_db",
          "energy_rel_db", "peak_release_db", "ac_threshold", "octave_cost", "jump_weight",
          "min_voiced", "median_len")


class F0Error(ValueError):
    """The C routine returned an error status."""

    def __init__(self, status: int, what: str):
        self.status = status
        super().__init__(f"{what}: {ffi.string(lib.emo_status_str(status)).decode()} (status {status})")


def c_params(fs: int, p: F0Params):
    """An emo_f0_params_t filled from F0Params."""
    cp = ffi.new("emo_f0_params_t *")
    values = {"fs": fs, **p.as_dict()}
    for name in FIELDS:
        setattr(cp, name, values[name])
    return cp


def new_state():
    return ffi.new("emo_f0_state_t *")


def frames_to_arrays(buf, n: int) -> tuple[np.ndarray, ...]:
    """Columns (index, f0, voiced, periodicity, energy_db, cq, jitter, shimmer) of n emo_f0_frame_t."""
    raw = np.frombuffer(ffi.buffer(buf, n * ffi.sizeof("emo_f0_frame_t")), dtype=FRAME_DTYPE)
    return (raw["index"].astype(np.int64), raw["f0_hz"].copy(), raw["voiced"].astype(bool),
            raw["periodicity"].copy(), raw["energy_db"].copy(), raw["cq"].copy(), raw["jitter"].copy(),
            raw["shimmer"].copy())


_FIELDS = ("index", "f0_hz", "periodicity", "energy_db", "voiced", "cq", "jitter", "shimmer")
FRAME_DTYPE = np.dtype({
    "names": list(_FIELDS),
    "formats": [np.uint32, np.float32, np.float32, np.float32, np.uint8, np.float32, np.float32, np.float32],
    "offsets": [ffi.offsetof("emo_f0_frame_t", f) for f in _FIELDS],
    "itemsize": ffi.sizeof("emo_f0_frame_t"),
})


def f0_track(x: np.ndarray, fs: int, params: F0Params | None = None) -> F0Track:
    """Same signature and result as eggemo.core.f0.reference.f0_track, computed in C (float32)."""
    p = params or F0Params()
    g = geometry(fs, p)
    sig = np.ascontiguousarray(as_signal(x), dtype=np.float32)
    n_frames = g.num_frames(len(sig))
    if n_frames == 0:
        raise ValueError(f"signal of {len(sig)} samples ({len(sig) / fs * 1000:.1f} ms) is shorter than one "
                         f"analysis frame ({g.frame_len * g.dec} samples, {p.frame_ms} ms)")
    st = new_state()
    out = ffi.new("emo_f0_frame_t[]", n_frames)
    n_out = ffi.new("int32_t *")
    status = lib.emo_f0_analyze(st, c_params(fs, p), ffi.cast("float *", ffi.from_buffer(sig)), len(sig),
                                out, n_frames, n_out)
    if status != lib.EMO_OK:
        raise F0Error(status, "emo_f0_analyze")
    index, f0, voiced, periodicity, energy, cq, jitter, shimmer = frames_to_arrays(out, n_out[0])
    if not np.array_equal(index, np.arange(n_frames)):
        raise RuntimeError("emo_f0_analyze released frames out of order")  # a bug, never bad input
    f64 = np.float64
    return F0Track(g.frame_times(n_frames), f0.astype(f64), voiced, periodicity.astype(f64),
                   energy.astype(f64), cq.astype(f64), jitter.astype(f64), shimmer.astype(f64))


class F0Stream:
    """The streaming API, for tests and for hosts that get raw EGG: push blocks, get finished frames."""

    def __init__(self, fs: int, params: F0Params | None = None):
        p = params or F0Params()
        self.geometry = geometry(fs, p)
        self._st = new_state()
        status = lib.emo_f0_init(self._st, c_params(fs, p))
        if status != lib.EMO_OK:
            raise F0Error(status, "emo_f0_init")
        self._out = ffi.new("emo_f0_frame_t[]", lib.EMO_F0_OUT_MAX)
        self._n = ffi.new("int32_t *")
        self.hop_samples = lib.emo_f0_hop_samples(self._st)

    def push(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """Feed any number of samples; returns the columns of frames_to_arrays() of released frames."""
        sig = np.ascontiguousarray(as_signal(x), dtype=np.float32)
        parts = []
        for pos in range(0, len(sig), self.hop_samples):
            chunk = sig[pos : pos + self.hop_samples]
            status = lib.emo_f0_push(self._st, ffi.cast("float *", ffi.from_buffer(chunk)), len(chunk),
                                     self._out, self._n)
            if status != lib.EMO_OK:
                raise F0Error(status, "emo_f0_push")
            parts.append(frames_to_arrays(self._out, self._n[0]))
        return _concat(parts)

    def flush(self) -> tuple[np.ndarray, ...]:
        status = lib.emo_f0_flush(self._st, self._out, self._n)
        if status != lib.EMO_OK:
            raise F0Error(status, "emo_f0_flush")
        return frames_to_arrays(self._out, self._n[0])


def _concat(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    if not parts:
        return frames_to_arrays(ffi.new("emo_f0_frame_t[]", 1), 0)
    return tuple(np.concatenate(cols) for cols in zip(*parts))
