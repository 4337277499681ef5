"""F0 of an EGG signal: the NumPy reference and the specification of csrc/emo_f0.c.

Written to be read, in float64. The C routine computes the same thing in float32,
frame by frame; tests hold the two together (voicing identical, F0 within 0.01 Hz,
contact quotient, jitter and shimmer within 1e-4).

Steps, for a signal x at rate fs (see ``F0Params`` for every knob):

1. Decimate by D: the mean of each block of D samples (a trailing partial block
   is dropped). The analysis rate is fa = fs / D.
2. Remove DC and the slow baseline drift of the larynx: two one-pole high-passes
   y[n] = x[n] - x[n-1] + a*y[n-1], a = 1 - 2*pi*hpf_hz/fa, starting from the
   first sample so a DC offset gives no step.
3. Frames of N samples every H samples. Per frame:
   - log energy E = 10*log10(mean(x^2) + 1e-12), dB re full scale;
   - normalised autocorrelation over lags k = lag_min-1 .. lag_max+1,
       nac[k] = sum_n x[n] x[n+k] / sqrt(sum_{n<N-k} x[n]^2 * sum_{n>=k} x[n]^2),
     which is the paper's Eq. (1) made amplitude-independent;
   - candidates: local maxima of nac in [lag_min, lag_max] (nac[k] > nac[k-1],
     nac[k] >= nac[k+1], nac[k] > 0), refined by a parabola through the three
     points, scored strength + octave_cost * log2(lag_max / lag) (a small bias
     to the shorter period, as Praat's octave cost), best NCAND kept.
4. Voicing: a running energy peak P = max(E, P - peak_release_db) (P = E on the
   first frame); a frame is voiced when E >= energy_floor_db, E >= P -
   energy_rel_db and the best candidate's strength >= ac_threshold.
5. Voiced runs shorter than min_voiced frames become unvoiced. Each run is cut
   into segments of at most MAX_SEG frames. In each segment, a bidirectional
   search starts at the frame whose best candidate scores highest (the most
   reliable one) and walks forward and then backward, at each frame choosing the
   candidate with the least cost  (max(l, r)/min(l, r) - 1) - jump_weight *
   strength  against the lag r chosen for its neighbour. F0 = fa / lag, then a
   median over median_len frames, truncated symmetrically at segment ends.
6. Voice quality of each voiced frame (``voice_quality``), from its glottal cycles,
   with the frame's best candidate lag L as the period: closures are the peaks of
   the derivative d[i] = x[i+1] - x[i] (d[i] > d[i-1], d[i] >= d[i+1], d[i] >=
   CLOSURE_REL * max d), taken left to right, a peak within CLOSURE_GAP * L of the
   previous closure replacing it when larger, at most MAX_CYCLES; each closure is
   placed by a parabola through d. A cycle runs between two closures; it counts if
   its period T lies in [CYCLE_MIN, CYCLE_MAX] * L and its peak-to-peak contact A is
   positive; its contact quotient is the share of its samples x[i_k + 1 .. i_(k+1)]
   above min + CQ_LEVEL * A. The frame's CQ is the mean over its cycles, jitter
   mean |T_k - T_k-1| / mean T and shimmer mean |A_k - A_k-1| / mean A over
   consecutive counted cycles; each is 0 where it has no cycle (pair) to measure.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from eggemo.core import native
from .params import MAX_SEG, NCAND, F0Params, F0Track, Geometry, as_signal, geometry

# csrc/emo_f0.h's (and emo_f0.c's EMO_ENERGY_EPS) float constants, which cffi does not expose:
# tests/core/test_constants.py holds each equal to the C source's number.
ENERGY_EPS = 1e-12
CQ_LEVEL = 0.35
CLOSURE_REL = 0.4
CLOSURE_GAP = 0.6
CYCLE_MIN, CYCLE_MAX = 0.7, 1.5   # 0.7: a high-passed long contact recovers with a DEGG peak ~0.6 periods on
MAX_CYCLES = native()[1].EMO_F0_MAX_CYCLES   # glottal cycles measured per frame (emo_f0.h)


def decimate_boxcar(x: np.ndarray, dec: int) -> np.ndarray:
    m = len(x) // dec
    return x[: m * dec].astype(np.float64).reshape(m, dec).mean(axis=1)


def remove_drift(x: np.ndarray, a: float) -> np.ndarray:
    """Two cascaded one-pole high-passes, started at the first sample."""
    b_coef, a_coef = [1.0, -1.0], [1.0, -a]
    y = lfilter(b_coef, a_coef, x - x[0])
    return lfilter(b_coef, a_coef, y)


def frame_signal(x: np.ndarray, g: Geometry) -> np.ndarray:
    n_frames = g.num_frames(len(x) * g.dec)
    starts = np.arange(n_frames) * g.hop
    return x[starts[:, None] + np.arange(g.frame_len)[None, :]]


def log_energy(frames: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + ENERGY_EPS)


def normalised_autocorrelation(frames: np.ndarray, g: Geometry) -> np.ndarray:
    """nac[:, k] for k in 0 .. lag_max+1 (entries below lag_min-1 are unused zeros)."""
    n = g.frame_len
    energy_prefix = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    total = energy_prefix[:, n]
    nac = np.zeros((len(frames), g.lag_max + 2))
    for k in range(g.lag_min - 1, g.lag_max + 2):
        r = np.sum(frames[:, : n - k] * frames[:, k:], axis=1)
        den = np.sqrt(energy_prefix[:, n - k] * (total - energy_prefix[:, k]))
        nac[:, k] = np.divide(r, den, out=np.zeros_like(r), where=den > 1e-20)
    return nac


def candidates(nac_row: np.ndarray, g: Geometry, p: F0Params) -> np.ndarray:
    """Candidate periods of one frame: rows (lag, strength, score), best score first."""
    k = np.arange(g.lag_min, g.lag_max + 1)
    a, b, c = nac_row[k - 1], nac_row[k], nac_row[k + 1]
    peak = (b > a) & (b >= c) & (b > 0)
    k, a, b, c = k[peak], a[peak], b[peak], c[peak]
    curvature = a - 2 * b + c
    delta = np.where(curvature < 0, 0.5 * (a - c) / np.where(curvature < 0, curvature, 1.0), 0.0)
    lag = k + delta
    score = b + p.octave_cost * np.log2(g.lag_max / lag)
    order = np.argsort(-score, kind="stable")[:NCAND]
    return np.stack([lag[order], b[order], score[order]], axis=1)


def voice_quality(w: np.ndarray, lag: float) -> tuple[float, float, float]:
    """(contact quotient, jitter, shimmer) of one frame w whose period is about lag samples."""
    d = np.diff(w)
    if len(d) == 0 or not d.max() > 0:
        return 0.0, 0.0, 0.0
    thr = CLOSURE_REL * d.max()
    i = np.arange(1, len(d) - 1)
    peaks = i[(d[i] > d[i - 1]) & (d[i] >= d[i + 1]) & (d[i] >= thr)]
    idx: list[int] = []
    t: list[float] = []
    for k in peaks:
        a, b, c = d[k - 1], d[k], d[k + 1]
        pos = k + 0.5 * (a - c) / (a - 2 * b + c)
        if idx and k - idx[-1] < CLOSURE_GAP * lag:
            if b > d[idx[-1]]:
                idx[-1], t[-1] = int(k), pos
            continue
        if len(idx) == MAX_CYCLES:
            break
        idx.append(int(k))
        t.append(pos)
    cq, periods, amps, jit, shim, prev = [], [], [], [], [], None
    for k in range(len(idx) - 1):
        period = t[k + 1] - t[k]
        cyc = w[idx[k] + 1: idx[k + 1] + 1]
        amp = cyc.max() - cyc.min()
        if not (CYCLE_MIN * lag <= period <= CYCLE_MAX * lag and amp > 0):
            prev = None
            continue
        cq.append(np.mean(cyc > cyc.min() + CQ_LEVEL * amp))
        periods.append(period)
        amps.append(amp)
        if prev is not None:
            jit.append(abs(period - prev[0]))
            shim.append(abs(amp - prev[1]))
        prev = (period, amp)
    if not cq:
        return 0.0, 0.0, 0.0
    if not jit:
        return float(np.mean(cq)), 0.0, 0.0
    return float(np.mean(cq)), float(np.mean(jit) / np.mean(periods)), float(np.mean(shim) / np.mean(amps))


def voiced_runs(voiced: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def track_segment(cands: list[np.ndarray], p: F0Params) -> tuple[np.ndarray, np.ndarray]:
    """Bidirectional search over one segment: chosen lags and their strengths."""
    n = len(cands)
    lags = np.zeros(n)
    strength = np.zeros(n)
    anchor = int(np.argmax([cd[0, 2] for cd in cands]))
    lags[anchor], strength[anchor] = cands[anchor][0, 0], cands[anchor][0, 1]

    def pick(j: int, ref: float) -> None:
        cand_lag, cand_strength = cands[j][:, 0], cands[j][:, 1]
        ratio = np.maximum(cand_lag, ref) / np.minimum(cand_lag, ref)
        best = int(np.argmin((ratio - 1.0) - p.jump_weight * cand_strength))
        lags[j], strength[j] = cand_lag[best], cand_strength[best]

    for j in range(anchor + 1, n):
        pick(j, lags[j - 1])
    for j in range(anchor - 1, -1, -1):
        pick(j, lags[j + 1])
    return lags, strength


def median_smooth(f0: np.ndarray, length: int) -> np.ndarray:
    half, n = length // 2, len(f0)
    out = np.empty(n)
    for j in range(n):
        h = min(half, j, n - 1 - j)
        out[j] = np.median(f0[j - h : j + h + 1])
    return out


def f0_track(x: np.ndarray, fs: int, params: F0Params | None = None) -> F0Track:
    """F0 contour of an EGG signal, one frame per hop (10 ms by default).

    x: 1-D int16, or float at full scale +-1. Raises ValueError on bad input.
    """
    p = params or F0Params()
    g = geometry(fs, p)
    sig = as_signal(x)
    n_frames = g.num_frames(len(sig))
    if n_frames == 0:
        raise ValueError(f"signal of {len(sig)} samples ({len(sig) / fs * 1000:.1f} ms) is shorter than one "
                         f"analysis frame ({g.frame_len * g.dec} samples, {p.frame_ms} ms)")

    y = decimate_boxcar(sig, g.dec)
    if p.hpf_hz > 0:
        y = remove_drift(y, g.hpf_a)
    frames = frame_signal(y, g)
    energy = log_energy(frames)
    nac = normalised_autocorrelation(frames, g)
    cands = [candidates(row, g, p) for row in nac]
    best_strength = np.array([cd[0, 1] if len(cd) else 0.0 for cd in cands])

    peak = np.empty(n_frames)
    for i, e in enumerate(energy):
        peak[i] = e if i == 0 else max(e, peak[i - 1] - p.peak_release_db)
    voiced = ((energy >= p.energy_floor_db) & (energy >= peak - p.energy_rel_db)
              & (best_strength >= p.ac_threshold) & np.array([len(cd) > 0 for cd in cands]))

    f0 = np.zeros(n_frames)
    periodicity = best_strength.copy()
    for start, stop in voiced_runs(voiced):
        if stop - start < p.min_voiced:
            voiced[start:stop] = False
            continue
        for s in range(start, stop, MAX_SEG):
            e = min(s + MAX_SEG, stop)
            lags, strength = track_segment(cands[s:e], p)
            f0[s:e] = median_smooth(g.fa / lags, p.median_len)
            periodicity[s:e] = strength
    vq = np.zeros((n_frames, 3))
    for i in np.flatnonzero(voiced):
        vq[i] = voice_quality(frames[i], cands[i][0, 0])
    return F0Track(g.frame_times(n_frames), f0, voiced, periodicity, energy, vq[:, 0], vq[:, 1], vq[:, 2])
