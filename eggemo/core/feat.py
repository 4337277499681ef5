"""emo_feat's twin: the student's input from the F0 core's frame records (csrc/emo_feat.c).

The NumPy reference here is the specification; the C (`native_*` below, through eggemo._emo) is
what the board runs and the host's classifier calls, and tests/core/ holds the two together.

    F0Stats.from_frames    ln F0 and energy statistics of a group of frames
    normalise_f0           (ln f0 - mu) / sigma on voiced frames, clipped; 0 elsewhere
    student_input          the (T, channels) input, channels by name (STUDENT_INPUTS)
    fit_length             crop (centre, start or end) or pad to T frames
    quantize               the int8 or int16 input a quantised model reads

Channels, per 10 ms frame, from the records the board sends (f0, voiced, periodicity, energy,
cq, jitter, shimmer), so the host builds the same input as training:
    log_f0        (ln f0 - mu) / sigma on voiced frames, 0 elsewhere (mu, sigma: F0Stats)
    voiced        1 / 0
    delta_log_f0  log_f0[i] - log_f0[i-1] where both frames are voiced, else 0
    periodicity   the normalised autocorrelation at the chosen period (0..1), every frame
    energy        (energy_db - e_mu) / e_sigma, every frame, clipped to +-F0_CLIP
                  (e_mu, e_sigma: mean and sd of the voiced frames' energy in the same group)
    delta_energy  energy[i] - energy[i-1]
    cq            the EGG contact quotient: (cq - 0.5) * 4 on voiced frames with a measured cycle, else 0
    jitter        ln(jitter / 0.02) on voiced frames with two measured cycles, else 0, clipped to +-F0_CLIP
    shimmer       ln(shimmer / 0.05) likewise
(cq, jitter, shimmer: the F0 core's voice quality per frame, see eggemo/core/f0/reference.py; under
the speech-F0 proxy they are computed on the speech waveform and mean little.)
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eggemo.core import check, native
from eggemo.core.seg import Utterance

SIGMA_FLOOR = 0.05         # ln units (about 0.9 semitone)
ENERGY_SIGMA_FLOOR = 1.0   # dB
F0_CLIP = 6.0
CROPS = ("center", "start", "end")
F0_NORMS = ("speaker", "utterance", "global")
STUDENT_INPUTS = ("log_f0", "voiced", "delta_log_f0", "periodicity", "energy", "delta_energy",
                  "cq", "jitter", "shimmer")
VQ_INPUTS = ("cq", "jitter", "shimmer")
VQ_REF = {"jitter": 0.02, "shimmer": 0.05}
PAPER_INPUTS = ("log_f0", "voiced")


@dataclass(frozen=True)
class F0Stats:
    """Mean and standard deviation of ln F0 over voiced frames, and how many frames; also the
    mean and standard deviation of those frames' energy in dB (for the "energy" input)."""
    mu: float
    sigma: float
    n: int
    e_mu: float = 0.0
    e_sigma: float = 1.0

    @classmethod
    def from_frames(cls, f0_hz: np.ndarray | Sequence[np.ndarray],
                    voiced: np.ndarray | Sequence[np.ndarray],
                    energy_db: np.ndarray | Sequence[np.ndarray] | None = None) -> "F0Stats":
        """Statistics over one contour, or over a list of contours (a speaker's utterances)."""
        if isinstance(f0_hz, np.ndarray) and f0_hz.ndim == 1:
            f0_hz, voiced = [f0_hz], [voiced]
            energy_db = None if energy_db is None else [energy_db]
        masks = [np.asarray(v, bool) & (np.asarray(f) > 0) for f, v in zip(f0_hz, voiced)]
        logs = [np.log(np.asarray(f, np.float64)[m]) for f, m in zip(f0_hz, masks)]
        lf = np.concatenate(logs) if logs else np.zeros(0)
        if len(lf) == 0:
            return cls(float(np.log(100.0)), 1.0, 0)   # nothing voiced: any value works, all frames are 0
        e_mu, e_sigma = 0.0, 1.0
        if energy_db is not None:
            e = np.concatenate([np.asarray(x, np.float64)[m] for x, m in zip(energy_db, masks)])
            e_mu, e_sigma = float(e.mean()), float(max(e.std(), ENERGY_SIGMA_FLOOR))
        return cls(float(lf.mean()), float(max(lf.std(), SIGMA_FLOOR)), int(len(lf)), e_mu, e_sigma)


def normalise_f0(f0_hz: np.ndarray, voiced: np.ndarray, stats: F0Stats) -> np.ndarray:
    """(L,) float32: (ln f0 - mu) / sigma on voiced frames, clipped to +-F0_CLIP; 0 elsewhere."""
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    v = np.asarray(voiced, dtype=bool) & (f0_hz > 0)
    out = np.zeros(len(f0_hz), dtype=np.float32)
    out[v] = np.clip((np.log(f0_hz[v]) - stats.mu) / stats.sigma, -F0_CLIP, F0_CLIP)
    return out


def fit_length(x: np.ndarray, T: int, crop: str = "center", pad_value: float | np.ndarray = 0.0,
               axis: int = 0) -> np.ndarray:
    """Crop (keep the centre, start or end) or pad at the end to length T on `axis`. pad_value is
    one number, or (for a (L, C) array padded on axis 0) one number per channel."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    x = np.asarray(x)
    L = x.shape[axis]
    if L > T:
        start = {"start": 0, "center": (L - T) // 2, "end": L - T}[crop]
        return np.take(x, np.arange(start, start + T), axis=axis)
    if L < T:
        if np.ndim(pad_value) == 0:
            pad = [(0, 0)] * x.ndim
            pad[axis] = (0, T - L)
            return np.pad(x, pad, constant_values=pad_value)
        tail = np.broadcast_to(np.asarray(pad_value, x.dtype), (T - L,) + x.shape[1:])
        return np.concatenate([x, tail], axis=0)
    return x


def _pad_value(channel: str) -> float:
    """What a padding frame (after the utterance's end) holds: silence, unvoiced."""
    return -F0_CLIP if channel == "energy" else 0.0


def student_input(f0_hz: np.ndarray, voiced: np.ndarray, stats: F0Stats, T: int = 300,
                  crop: str = "center", inputs: Sequence[str] = PAPER_INPUTS,
                  periodicity: np.ndarray | None = None, energy_db: np.ndarray | None = None, *,
                  cq: np.ndarray | None = None, jitter: np.ndarray | None = None,
                  shimmer: np.ndarray | None = None) -> np.ndarray:
    """The student's (T, len(inputs)) float32 input from the F0 core's frames (see STUDENT_INPUTS).

    periodicity, energy_db, cq, jitter and shimmer are needed only when `inputs` name a channel
    built from them."""
    vq = {"cq": cq, "jitter": jitter, "shimmer": shimmer}
    v = (np.asarray(voiced, dtype=bool) & (np.asarray(f0_hz) > 0))
    lf = normalise_f0(f0_hz, voiced, stats)
    cols: list[np.ndarray] = []
    energy = None
    for name in inputs:
        if name == "log_f0":
            col = lf
        elif name == "voiced":
            col = v.astype(np.float32)
        elif name == "delta_log_f0":
            col = np.zeros_like(lf)
            both = v[1:] & v[:-1]
            col[1:][both] = (lf[1:] - lf[:-1])[both]
        elif name == "periodicity":
            if periodicity is None:
                raise ValueError("the 'periodicity' input needs the F0 core's periodicity per frame")
            col = np.clip(np.nan_to_num(np.asarray(periodicity, np.float32)), -1.0, 1.0)
        elif name in ("energy", "delta_energy"):
            if energy_db is None:
                raise ValueError(f"the {name!r} input needs the F0 core's energy_db per frame")
            if energy is None:
                e = np.nan_to_num(np.asarray(energy_db, np.float64), nan=-200.0)
                energy = np.clip((e - stats.e_mu) / stats.e_sigma, -F0_CLIP, F0_CLIP).astype(np.float32)
            col = energy if name == "energy" else np.concatenate([[0.0], np.diff(energy)]).astype(np.float32)
        elif name in VQ_INPUTS:
            if vq[name] is None:
                raise ValueError(f"the {name!r} input needs the F0 core's {name} per frame")
            q = np.nan_to_num(np.asarray(vq[name], np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            have = v & (q > 0)
            col = np.zeros(len(q), np.float32)
            if name == "cq":
                col[have] = np.clip((q[have] - 0.5) * 4.0, -F0_CLIP, F0_CLIP)
            else:
                col[have] = np.clip(np.log(q[have] / VQ_REF[name]), -F0_CLIP, F0_CLIP)
        else:
            raise ValueError(f"unknown student input {name!r}; choose from {STUDENT_INPUTS}")
        cols.append(np.asarray(col, np.float32))
    x = np.stack(cols, axis=1)
    return fit_length(x, T, crop, np.array([_pad_value(c) for c in inputs], np.float32), axis=0).astype(np.float32)


def f0_input(f0_hz: np.ndarray, voiced: np.ndarray, stats: F0Stats, T: int = 300,
             crop: str = "center") -> np.ndarray:
    """The paper's (T, 2) float32 student input: normalised log-F0 and voiced flag."""
    return student_input(f0_hz, voiced, stats, T, crop, PAPER_INPUTS)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype = np.dtype(np.int8)) -> np.ndarray:
    """Affine quantisation round(x / scale) + zero_point, saturated to dtype, as TFLite's reference
    QUANTIZE kernel (and TF Lite Micro's) computes it: x / scale in float32, rounded half away from
    zero (emo_feat_quantize for int8, emo_feat_quantize16 for int16: the same bit for bit)."""
    info = np.iinfo(dtype)
    v = np.asarray(x, np.float32) / np.float32(scale)
    t = np.trunc(v)
    q = np.where(np.abs(v - t) >= 0.5, t + np.sign(v), t).astype(np.float64) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


# --- where each utterance's statistics come from ---------------------------------------------------

NORM_MODES = ("utterance", "session", "fixed")


class F0Normaliser:
    """The F0Stats (mean and std of ln F0 over voiced frames) each utterance is normalised with.

    - "utterance": the utterance's own frames (what training did with f0_norm = "utterance");
    - "session": every voiced frame of this session so far, this utterance included: the
      live form of training's label-free per-speaker statistics (f0_norm = "speaker"), since
      the wearer is one speaker; early utterances see fewer frames than training did;
    - "fixed": given statistics (a speaker's or the training set's, from a --norm JSON file).
    """

    def __init__(self, mode: str, fixed: F0Stats | None = None) -> None:
        if mode not in NORM_MODES:
            raise ValueError(f"normalisation mode {mode!r}: use one of {NORM_MODES}")
        if (mode == "fixed") != (fixed is not None):
            raise ValueError("mode 'fixed' needs statistics, and only it takes them")
        self.mode = mode
        self.fixed = fixed
        self._n = 0
        self._sum = 0.0
        self._sumsq = 0.0
        self._esum = 0.0       # energy_db of the same voiced frames
        self._esumsq = 0.0

    def stats_for(self, utt: Utterance) -> F0Stats:
        if self.mode == "fixed":
            return self.fixed
        if self.mode == "utterance":
            return F0Stats.from_frames(utt.f0_hz, utt.voiced, utt.energy_db)
        use = utt.voiced & (utt.f0_hz > 0)
        lf = np.log(utt.f0_hz[use].astype(np.float64))
        self._n += len(lf)
        self._sum += float(lf.sum())
        self._sumsq += float((lf * lf).sum())
        if utt.energy_db is not None:
            e = np.nan_to_num(utt.energy_db[use].astype(np.float64))
            self._esum += float(e.sum())
            self._esumsq += float((e * e).sum())
        if self._n == 0:
            return F0Stats.from_frames(np.zeros(0), np.zeros(0, bool))
        mu = self._sum / self._n
        sigma = math.sqrt(max(self._sumsq / self._n - mu * mu, 0.0))
        e_mu = self._esum / self._n
        e_sigma = math.sqrt(max(self._esumsq / self._n - e_mu * e_mu, 0.0))
        return F0Stats(mu, max(sigma, SIGMA_FLOOR), self._n, e_mu, max(e_sigma, ENERGY_SIGMA_FLOOR))


# --- the C core (csrc/emo_feat.c), with the same arguments ------------------------------------------

# csrc/emo_feat.h's codes by name, read from the header through cffi: the one map from a channel,
# crop or normalisation name to the number the board's emo_feat_build and emo_feat_norm_init take
# (export/cmodel.py writes a model's input with it; tests/core/test_constants.py checks it whole).
_, _lib = native()
CHANNEL_CODES = {name: getattr(_lib, "EMO_FEAT_" + name.upper()) for name in STUDENT_INPUTS}
CROP_CODES = {name: getattr(_lib, "EMO_FEAT_CROP_" + name.upper()) for name in CROPS}
NORM_CODES = {name: getattr(_lib, "EMO_FEAT_NORM_" + name.upper()) for name in NORM_MODES}
# emo_f0_frame_t's fields (csrc/emo_f0.h) and the Utterance column each is filled from
_FRAME_FIELDS = (("f0_hz", np.float32, "f0_hz"), ("voiced", np.uint8, "voiced"),
                 ("periodicity", np.float32, "periodicity"), ("energy_db", np.float32, "energy_db"),
                 ("cq", np.float32, "cq"), ("jitter", np.float32, "jitter"), ("shimmer", np.float32, "shimmer"))


def native_frames(utt: Utterance):
    """The utterance as the C core's emo_f0_frame_t array (what the board's F0 core releases). A
    column the utterance lacks (None) is 0, which gives the statistics and channels of its absence."""
    ffi, _ = native()
    n = len(utt)
    buf = ffi.new("emo_f0_frame_t[]", max(n, 1))
    names = ["index"] + [f for f, _, _ in _FRAME_FIELDS]
    dt = np.dtype({"names": names, "formats": [np.uint32] + [t for _, t, _ in _FRAME_FIELDS],
                   "offsets": [ffi.offsetof("emo_f0_frame_t", f) for f in names],
                   "itemsize": ffi.sizeof("emo_f0_frame_t")})
    rec = np.frombuffer(ffi.buffer(buf), dt)[:n]
    rec["index"] = utt.first + np.arange(n)
    for field_, _, col in _FRAME_FIELDS:
        v = getattr(utt, col)
        if v is not None:
            rec[field_] = v
    return buf


def _stats_to_c(stats: F0Stats) -> dict:
    return {"mu": stats.mu, "sigma": stats.sigma, "n": stats.n, "e_mu": stats.e_mu, "e_sigma": stats.e_sigma}


def native_student_input(utt: Utterance, stats: F0Stats, T: int, crop: str = "center",
                         inputs: tuple[str, ...] = PAPER_INPUTS) -> np.ndarray:
    """student_input() of the utterance by the C core (emo_feat_build): (T, len(inputs)) float32."""
    ffi, lib = native()
    unknown = [c for c in inputs if c not in CHANNEL_CODES]
    if unknown or crop not in CROP_CODES:
        raise ValueError(f"the C core has no student input {unknown} or crop {crop!r}")
    out = np.zeros((T, len(inputs)), np.float32)
    chans = ffi.new("int32_t[]", [CHANNEL_CODES[c] for c in inputs])
    st = ffi.new("emo_feat_stats_t *", _stats_to_c(stats))
    check(lib.emo_feat_build(native_frames(utt), len(utt), st, chans, len(inputs), T,
                                     CROP_CODES[crop], ffi.from_buffer("float[]", out), out.size),
                  "emo_feat_build")
    return out


def native_quantize(x: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """The model's int8 input (int16 for a 16x8 model) from float features x by the C core
    (emo_feat_quantize, emo_feat_quantize16)."""
    ffi, lib = native()
    x = np.ascontiguousarray(x, np.float32)
    wide = np.dtype(dtype) == np.int16
    q = np.zeros(x.shape, np.int16 if wide else np.int8)
    fn = lib.emo_feat_quantize16 if wide else lib.emo_feat_quantize
    status = fn(ffi.from_buffer("float[]", x), x.size, float(scale), int(zero_point),
                ffi.from_buffer("int16_t[]" if wide else "int8_t[]", q))
    if status == lib.EMO_ERR_NONFINITE:
        raise ValueError("the F0 features contain NaN or inf; unvoiced frames must be 0, not NaN")
    check(status, "emo_feat_quantize16" if wide else "emo_feat_quantize")
    return q


class NativeNormaliser(F0Normaliser):
    """F0Normaliser in the C core: its statistics, and a session's running sums, are the board's
    (emo_feat_norm_t). Same modes, same statistics as F0Normaliser to 1e-12 relative."""

    def __init__(self, mode: str, fixed: F0Stats | None = None) -> None:
        super().__init__(mode, fixed)
        ffi, lib = native()
        self._st = ffi.new("emo_feat_norm_t *")
        fx = ffi.NULL if fixed is None else ffi.new("emo_feat_stats_t *", _stats_to_c(fixed))
        check(lib.emo_feat_norm_init(self._st, NORM_CODES[mode], fx),
                      f"normaliser statistics {fixed}")

    @classmethod
    def like(cls, norm: F0Normaliser) -> "NativeNormaliser":
        """A C normaliser with norm's mode, statistics and session sums so far."""
        out = cls(norm.mode, norm.fixed)
        for name in ("n", "sum", "sumsq", "esum", "esumsq"):
            setattr(out._st, name, getattr(norm, "_" + name))
        return out

    def stats_for(self, utt: Utterance) -> F0Stats:
        ffi, lib = native()
        out = ffi.new("emo_feat_stats_t *")
        check(lib.emo_feat_norm_stats(self._st, native_frames(utt), len(utt), out), "emo_feat_norm_stats")
        return F0Stats(out.mu, out.sigma, int(out.n), out.e_mu, out.e_sigma)
