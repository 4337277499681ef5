"""Speech-channel noise at a given SNR: exact SNR, reproducible, white, babble and file noise."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.train.audio import write_wav
from eggemo.train.noise import NoiseConfig, add_noise, make_noise, mix_at_snr

FS = 16000


def speech_like(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return (0.2 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 30.0])
def test_mix_hits_the_snr(snr):
    s = speech_like()
    noise = np.random.default_rng(0).standard_normal(len(s))
    y = mix_at_snr(s, noise, snr)
    n = y.astype(np.float64) - s
    assert 10 * np.log10(np.mean(s.astype(np.float64) ** 2) / np.mean(n ** 2)) == pytest.approx(snr, abs=1e-3)


@pytest.mark.parametrize("kind", ["white", "babble", "file"])
def test_each_kind_is_reproducible_per_utterance(kind, tmp_path):
    path = None
    if kind == "file":
        path = str(tmp_path / "fan.wav")
        write_wav(path, 0.1 * np.random.default_rng(3).standard_normal(FS // 2), 22050)   # short, other rate
    cfg = NoiseConfig(kind, 5.0, path)
    a = make_noise(cfg, 20000, FS, "03a01Fa")
    b = make_noise(cfg, 20000, FS, "03a01Fa")
    c = make_noise(cfg, 20000, FS, "03a02Fa")
    assert a.shape == (20000,) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.std(a) > 0


def test_babble_is_speech_shaped():
    b = make_noise(NoiseConfig("babble"), 3 * FS, FS, "x")
    spec = np.abs(np.fft.rfft(b)) ** 2
    f = np.fft.rfftfreq(len(b), 1 / FS)
    assert spec[(f > 100) & (f < 1000)].sum() > 3 * spec[(f > 4000)].sum()


def test_add_noise_and_bad_configs():
    s = speech_like()
    assert add_noise(s, FS, None, "k") is s
    assert not np.array_equal(add_noise(s, FS, NoiseConfig("white", 20.0), "k"), s)
    with pytest.raises(ValueError, match="kind"):
        NoiseConfig("pink")
    with pytest.raises(ValueError, match="needs a path"):
        NoiseConfig("file")
    with pytest.raises(ValueError, match="all zeros"):
        mix_at_snr(np.zeros(10), np.ones(10), 0.0)
