"""Synthetic electroglottograph (EGG) signals with exact ground truth.

A vocal-fold contact waveform per glottal cycle: a sharp closing (contact rises
fast), a slower opening, then an open phase with no contact. The same cycles also
give the glottal flow, which drives a vocal tract in the emotional corpus.

Cycle shape, for phase u in [0, 1) of a cycle (the closing instant at u = 0):
  - closed quotient CQ = 1 - oq; closing lasts CQ / (1 + sq), opening CQ * sq / (1 + sq),
    so the speed quotient sq = opening / closing duration (> 1: the opening is slower);
  - contact: raised-cosine rise over the closing, raised-cosine fall over the opening,
    zero while open;
  - flow: zero while closed, a Rosenberg pulse over the open phase (slow rise over 70 %
    of it, fast fall to zero at the next closing).
Per cycle, the period is perturbed by `jitter` and the amplitude by `shimmer`
(relative standard deviations). The EGG adds a slow baseline drift (larynx
movement) and white noise at a given SNR.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOP_S = 0.010
WIN_S = 0.040


@dataclass(frozen=True)
class SynthEGG:
    fs: int
    egg: np.ndarray          # contact + drift + noise, float64
    contact: np.ndarray      # clean contact waveform, 0..1 (times the cycle amplitude)
    flow: np.ndarray         # glottal flow of the same cycles, 0..1 (times the cycle amplitude)
    voiced: np.ndarray       # bool per sample: the contour is voiced there
    cycle_starts: np.ndarray # closing instants, s
    frame_times: np.ndarray  # analysis frame centres, s (i * hop + win / 2)
    f0_frames: np.ndarray    # true F0 at each frame centre, Hz, 0 = unvoiced


def contour(duration_s: float, fs: int, knots_s: np.ndarray, knots_hz: np.ndarray) -> np.ndarray:
    """A per-sample F0 contour through (time, Hz) knots, linear between them; 0 Hz knots mark
    unvoiced stretches (a sample is voiced only when both neighbouring knots are)."""
    t = np.arange(int(round(duration_s * fs))) / fs
    knots_s, knots_hz = np.asarray(knots_s, float), np.asarray(knots_hz, float)
    f = np.interp(t, knots_s, knots_hz)
    voiced = np.interp(t, knots_s, (knots_hz > 0).astype(float)) >= 1.0
    return np.where(voiced, f, 0.0)


def _cycles(f0: np.ndarray, fs: int, jitter: float,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Start times and periods of glottal cycles: each starts at a voiced sample and
    lasts one (jittered) period of the F0 found there."""
    starts, periods = [], []
    n = len(f0)
    voiced_idx = np.flatnonzero(f0 > 0)
    if len(voiced_idx) == 0:
        return np.zeros(0), np.zeros(0)
    t = voiced_idx[0] / fs
    while True:
        i = int(t * fs + 1e-6)  # t = k / fs must map back to sample k (float rounding), or this loops forever
        if i >= n:
            break
        if f0[i] <= 0:
            nxt = np.searchsorted(voiced_idx, i)
            if nxt >= len(voiced_idx):
                break
            t = voiced_idx[nxt] / fs
            continue
        factor = 1.0 + jitter * rng.standard_normal()
        period = 1.0 / (f0[i] * min(max(factor, 0.5), 1.5))
        starts.append(t)
        periods.append(period)
        t += period
    return np.asarray(starts), np.asarray(periods)


def _shapes(u: np.ndarray, oq: float, sq: float) -> tuple[np.ndarray, np.ndarray]:
    cq = 1.0 - oq
    closing = cq / (1.0 + sq)
    opening = cq - closing
    contact = np.where(u < closing, 0.5 * (1 - np.cos(np.pi * u / closing)),
                       np.where(u < cq, 0.5 * (1 + np.cos(np.pi * (u - closing) / opening)), 0.0))
    w = np.clip((u - cq) / oq, 0.0, 1.0)
    flow = np.where(u < cq, 0.0, np.where(w < 0.7, 0.5 * (1 - np.cos(np.pi * w / 0.7)),
                                          np.cos(0.5 * np.pi * (w - 0.7) / 0.3)))
    return contact, flow


def synth_egg(f0: np.ndarray, fs: int, *, oq: float = 0.5, sq: float = 3.0, jitter: float = 0.0,
              shimmer: float = 0.0, amplitude: float = 0.5, drift: float = 0.0,
              noise_snr_db: float | None = None, seed: int | None = None,
              hop_s: float = HOP_S, win_s: float = WIN_S) -> SynthEGG:
    """EGG for a per-sample F0 contour `f0` (Hz, 0 = unvoiced) at rate `fs`.

    drift: amplitude of the slow baseline wander relative to `amplitude` (real EGG
    drift is often larger than the contact signal itself). noise_snr_db: white
    noise relative to the voiced contact power; None for none.
    """
    f0 = np.asarray(f0, dtype=float)
    if f0.ndim != 1 or len(f0) == 0:
        raise ValueError("f0 must be a non-empty per-sample contour")
    if not (0.05 <= oq <= 0.95 and sq > 0):
        raise ValueError(f"need 0.05 <= oq <= 0.95 and sq > 0, got oq={oq}, sq={sq}")
    if np.any(f0 < 0) or not np.all(np.isfinite(f0)):
        raise ValueError("f0 must be finite and >= 0 (0 marks unvoiced samples)")
    rng = np.random.default_rng(seed)
    n = len(f0)
    t = np.arange(n) / fs
    starts, periods = _cycles(f0, fs, jitter, rng)
    contact = np.zeros(n)
    flow = np.zeros(n)
    if len(starts):
        gains = 1.0 + shimmer * rng.standard_normal(len(starts))
        k = np.searchsorted(starts, t, side="right") - 1
        inside = k >= 0
        kk = np.where(inside, k, 0)
        u = (t - starts[kk]) / periods[kk]
        inside &= u < 1.0
        c, fl = _shapes(np.clip(u, 0.0, 0.999999), oq, sq)
        contact = np.where(inside, c * gains[kk], 0.0)
        flow = np.where(inside, fl * gains[kk], 0.0)
    egg = amplitude * contact
    if drift > 0:
        wander = np.zeros(n)
        for _ in range(4):
            freq = rng.uniform(0.2, 4.0)
            wander += rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
        egg = egg + drift * amplitude * wander / 2.0
    voiced = f0 > 0
    if noise_snr_db is not None:
        ref = amplitude * contact[voiced] if voiced.any() else amplitude * contact
        power = np.mean((ref - ref.mean()) ** 2) if len(ref) else 0.0
        power = power if power > 0 else amplitude**2 * 0.1
        egg = egg + rng.standard_normal(n) * np.sqrt(power / 10 ** (noise_snr_db / 10))
    n_frames = max(0, 1 + int(np.floor((n / fs - win_s) / hop_s + 1e-9)))
    frame_times = np.arange(n_frames) * hop_s + win_s / 2
    idx = np.minimum(np.round(frame_times * fs).astype(int), n - 1)
    return SynthEGG(fs, egg, contact, flow, voiced, starts, frame_times, f0[idx])
