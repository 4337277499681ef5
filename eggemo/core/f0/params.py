"""Parameters, result type and input checks shared by the NumPy reference and the C binding."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from eggemo.core import native

# csrc/emo_f0.h's limits, read from the header through cffi (never copied)
_, _lib = native()
FS_MIN = _lib.EMO_FS_MIN
FS_MAX = _lib.EMO_FS_MAX
AUTO_RATE = _lib.EMO_F0_AUTO_RATE      # auto decimation: largest D with fs / D >= AUTO_RATE
MAX_FRAME = _lib.EMO_F0_MAX_FRAME      # longest analysis frame, decimated samples
MAX_LAG = _lib.EMO_F0_MAX_LAG          # longest lag, decimated samples
NCAND = _lib.EMO_F0_NCAND              # candidate periods kept per frame
MAX_SEG = _lib.EMO_F0_MAX_SEG          # longest voiced segment tracked as one unit, frames
MAX_MEDIAN = _lib.EMO_F0_MAX_MEDIAN
MAX_ABS = float(_lib.EMO_F0_MAX_ABS)   # largest accepted |sample|; full scale is 1


@dataclass(frozen=True)
class F0Params:
    """Analysis parameters; the fields and defaults mirror ``emo_f0_params_t`` and
    ``emo_f0_default_params`` (tests/core/test_constants.py holds the defaults equal)."""

    decimation: int = 0          # D >= 1, or 0 = auto (fs / D >= 8 kHz)
    fmin: float = 50.0           # lowest F0 searched, Hz
    fmax: float = 500.0          # highest F0 searched, Hz
    frame_ms: float = 40.0       # analysis window; must span two periods of fmin
    hop_ms: float = 10.0         # hop between frames
    hpf_hz: float = 50.0         # drift high-pass corner (0 = off)
    energy_floor_db: float = -60.0   # absolute log-energy floor, dB re full scale
    energy_rel_db: float = 30.0      # voiced only within this of the running peak
    peak_release_db: float = 0.05    # running-peak decay per frame
    ac_threshold: float = 0.5        # minimum normalised autocorrelation peak
    octave_cost: float = 0.02        # score bonus per octave above fmin
    jump_weight: float = 0.3         # tracking: strength weight against the jump ratio
    min_voiced: int = 3              # shorter voiced runs are dropped, frames
    median_len: int = 5              # median smoothing window, odd; 1 = off

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Geometry:
    """Quantities derived from the parameters and the sample rate (as ``emo_f0_init``)."""

    fs: int
    dec: int
    fa: float          # analysis rate fs / dec, Hz
    frame_len: int     # N, decimated samples
    hop: int           # H, decimated samples
    lag_min: int
    lag_max: int
    hpf_a: float       # one-pole high-pass coefficient

    def num_frames(self, n_samples: int) -> int:
        m = n_samples // self.dec
        return 0 if m < self.frame_len else 1 + (m - self.frame_len) // self.hop

    def frame_times(self, n_frames: int) -> np.ndarray:
        centre = np.arange(n_frames) * self.hop + 0.5 * self.frame_len
        return centre * self.dec / self.fs


@dataclass(frozen=True)
class F0Track:
    """One analysed signal, a row per 10 ms frame."""

    times: np.ndarray        # frame centres, s
    f0: np.ndarray           # Hz, 0 where unvoiced
    voiced: np.ndarray       # bool
    periodicity: np.ndarray  # normalised autocorrelation at the chosen period
    energy_db: np.ndarray    # short-time log energy, dB re full scale
    cq: np.ndarray           # EGG contact quotient of the frame's glottal cycles, 0..1; 0 unvoiced
    jitter: np.ndarray       # period jitter (mean |T_k - T_k-1| / mean T); 0 unvoiced
    shimmer: np.ndarray      # contact-amplitude shimmer (mean |A_k - A_k-1| / mean A); 0 unvoiced

    def __len__(self) -> int:
        return len(self.f0)


def geometry(fs: int, p: F0Params) -> Geometry:
    """Validate the parameters for rate ``fs`` and derive the frame geometry.

    Raises ValueError naming the offending value and what would fix it.
    """
    if not isinstance(fs, (int, np.integer)) or isinstance(fs, bool):
        raise ValueError(f"sample rate must be an integer number of Hz, got {fs!r}")
    fs = int(fs)
    if not FS_MIN <= fs <= FS_MAX:
        raise ValueError(f"sample rate {fs} Hz is outside {FS_MIN}..{FS_MAX} Hz; resample the recording first")
    finite = all(np.isfinite(float(v)) for v in asdict(p).values())
    if not finite:
        raise ValueError(f"F0 parameters must be finite numbers: {p}")
    if not 0 < p.fmin < p.fmax:
        raise ValueError(f"need 0 < fmin < fmax, got fmin={p.fmin} Hz, fmax={p.fmax} Hz")
    checks = [
        (p.frame_ms > 0 and p.hop_ms > 0, "frame_ms and hop_ms must be positive"),
        (p.hpf_hz >= 0, "hpf_hz must be >= 0 (0 turns the high-pass off)"),
        (p.peak_release_db >= 0 and p.energy_rel_db >= 0, "energy_rel_db and peak_release_db must be >= 0"),
        (p.energy_floor_db > -400, "energy_floor_db must be above -400 dB"),
        (0 <= p.ac_threshold <= 1, "ac_threshold must be within 0..1"),
        (0 <= p.octave_cost <= 1, "octave_cost must be within 0..1"),
        (0 <= p.jump_weight <= 10, "jump_weight must be within 0..10"),
        (0 <= p.decimation <= 64 and int(p.decimation) == p.decimation, "decimation must be an integer 0..64"),
        (1 <= p.min_voiced <= MAX_SEG, f"min_voiced must be within 1..{MAX_SEG}"),
        (1 <= p.median_len <= MAX_MEDIAN and p.median_len % 2 == 1, f"median_len must be odd, 1..{MAX_MEDIAN}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValueError(f"bad F0 parameters: {msg} ({p})")
    # float32 like the C code, so both derive the same integers
    f32 = np.float32
    dec = int(p.decimation) or max(1, fs // AUTO_RATE)
    fa = f32(fs) / f32(dec)
    frame_len = int(f32(p.frame_ms) * fa / f32(1000) + f32(0.5))
    hop = int(f32(p.hop_ms) * fa / f32(1000) + f32(0.5))
    lag_min = int(fa / f32(p.fmax))
    lag_max = int(fa / f32(p.fmin))
    hpf_a = f32(1) - f32(2 * np.pi) * f32(p.hpf_hz) / fa
    g = Geometry(fs, dec, float(fa), frame_len, hop, lag_min, lag_max, float(hpf_a))
    if lag_min < 2:
        raise ValueError(f"fmax={p.fmax} Hz is too high for the analysis rate {fa:.0f} Hz; "
                         f"lower fmax below {float(fa) / 2:.0f} Hz or use less decimation")
    if lag_max > MAX_LAG:
        raise ValueError(f"fmin={p.fmin} Hz needs lags up to {lag_max} samples (max {MAX_LAG}); "
                         "raise fmin or the decimation")
    if hop < 1:
        raise ValueError(f"hop_ms={p.hop_ms} is shorter than one analysis sample")
    if frame_len > MAX_FRAME:
        raise ValueError(f"frame of {frame_len} samples exceeds {MAX_FRAME}; shorten frame_ms or raise decimation")
    if frame_len < 2 * lag_max:
        raise ValueError(f"frame_ms={p.frame_ms} must span two periods of fmin={p.fmin} Hz "
                         f"(need >= {2000.0 / p.fmin:.1f} ms); lengthen the frame or raise fmin")
    if not hpf_a > 0:
        raise ValueError(f"hpf_hz={p.hpf_hz} is too high for the analysis rate {fa:.0f} Hz")
    return g


def as_signal(x: np.ndarray) -> np.ndarray:
    """The input as float32 at full scale +-1, exactly as the firmware sees it.

    int16 is scaled by 1/32768 (exact in float32); float32/float64 pass through.
    Raises ValueError for other dtypes, non-1-D arrays, empty input or NaN/inf.
    """
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {a.shape}; pick one channel (EGG) first")
    if a.size == 0:
        raise ValueError("empty signal: nothing to analyse")
    if a.dtype == np.int16:
        return a.astype(np.float32) * np.float32(1.0 / 32768.0)
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"unsupported sample type {a.dtype}; pass int16 or float samples in [-1, 1]")
    if not np.all(np.isfinite(a)):
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise ValueError(f"signal has {bad} NaN/inf samples (first at {int(np.argmax(~np.isfinite(a)))}); "
                         "repair or cut the recording")
    if np.max(np.abs(a)) > MAX_ABS:
        raise ValueError(f"samples reach {float(np.max(np.abs(a))):.3g}, beyond +-{MAX_ABS:g}: the signal "
                         "must be at full scale +-1 (divide integer PCM by its full-scale value)")
    return a.astype(np.float32, copy=False)
