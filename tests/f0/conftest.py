from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eggemo.core.f0.params import MAX_SEG
from eggemo.eggsynth import contour, synth_egg

DATA = Path(__file__).resolve().parent.parent / "data" / "egg_real"
REAL_EGG = sorted(DATA.glob("*_EGG.wav"))
MODAL = ["M1_FrameSentence_EGG.wav", "M11_disyll_EGG.wav"]


def synthetic_set(fs: int, count: int = 8, seed: int = 0):
    """Varied synthetic EGG utterances: male and female ranges, rises and falls, pauses,
    jitter, shimmer, strong drift and noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        base = rng.uniform(85, 130) if i % 2 == 0 else rng.uniform(170, 260)
        dur = rng.uniform(1.5, 3.0)
        knots_t = [0.0, 0.15, 0.1501]
        knots_f = [0.0, 0.0, base]
        t = 0.15
        while t < dur - 0.4:
            t += rng.uniform(0.2, 0.5)
            if rng.random() < 0.25:  # a pause
                knots_t += [t, t + 0.0001, t + 0.12, t + 0.1201]
                knots_f += [knots_f[-1], 0.0, 0.0, base * rng.uniform(0.85, 1.2)]
                t += 0.12
            else:
                knots_t.append(t)
                knots_f.append(base * rng.uniform(0.75, 1.4))
        knots_t += [dur - 0.15, dur - 0.1499, dur]
        knots_f += [knots_f[-1], 0.0, 0.0]
        f0 = contour(dur, fs, knots_t, knots_f)
        out.append(synth_egg(f0, fs, oq=rng.uniform(0.4, 0.65), sq=rng.uniform(2, 4),
                             jitter=rng.uniform(0.002, 0.01), shimmer=rng.uniform(0.01, 0.06),
                             amplitude=rng.uniform(0.1, 0.6), drift=rng.uniform(0.0, 3.0),
                             noise_snr_db=rng.uniform(25, 40), seed=int(rng.integers(1 << 30))))
    return out


def long_phonation(fs: int) -> np.ndarray:
    """One voiced run longer than the C core's MAX_SEG frames, which it tracks in MAX_SEG pieces."""
    t = np.arange(int((MAX_SEG * 0.01 + 1.0) * fs)) / fs
    f = 140 + 30 * np.sin(2 * np.pi * 0.4 * t)
    return 0.3 * np.maximum(np.sin(2 * np.pi * np.cumsum(f) / fs), 0) ** 2


@pytest.fixture(scope="session")
def synth16k():
    return synthetic_set(16000, count=8, seed=1)
