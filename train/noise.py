"""Additive noise on the speech channel at a given SNR; the EGG is never touched.

For the robustness study (issue 4, `eggemo experiment noise`): the teacher
hears noisy speech while the student's F0 still comes from the clean EGG, as
on the wearable, where the laryngograph sits on the neck and hardly picks up
airborne noise.

SNR is defined over the whole utterance: 10 log10(mean(speech^2) / mean(noise^2)).
Kinds:
  white   Gaussian white noise.
  babble  the sum of `talkers` synthetic talkers from the corpus synthesiser
          (eggemo.train.synth_corpus), each a different random speaker saying
          a different random sentence in a neutral voice; speech-shaped and
          modulated like real babble, and needs no download.
  file    a WAV file (channel 1), resampled, looped if short, and read from a
          random offset.
The noise for an utterance is a pure function of (config, utterance key), so a
noisy feature set is reproducible and cacheable.
"""
from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eggemo.options import NOISE_KINDS



@dataclass(frozen=True)
class NoiseConfig:
    kind: str = "white"          # white | babble | file
    snr_db: float = 10.0
    path: str | None = None      # the noise WAV for kind="file"
    talkers: int = 6             # voices in the babble
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"noise kind must be one of {NOISE_KINDS}, got {self.kind!r}")
        if self.kind == "file" and not self.path:
            raise ValueError("noise kind 'file' needs a path to a noise WAV")
        if not np.isfinite(self.snr_db):
            raise ValueError(f"snr_db must be finite, got {self.snr_db}")
        if self.talkers < 1:
            raise ValueError(f"talkers must be >= 1, got {self.talkers}")


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + g * noise with g chosen so that the SNR over the whole signal is snr_db."""
    speech = np.asarray(speech, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)[: len(speech)]
    if len(noise) != len(speech):
        raise ValueError(f"noise has {len(noise)} samples, speech {len(speech)}")
    ps = float(np.mean(speech ** 2))
    pn = float(np.mean(noise ** 2))
    if ps <= 0.0 or pn <= 0.0:
        raise ValueError("speech or noise is all zeros; SNR is undefined")
    gain = np.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0)))
    return (speech + gain * noise).astype(np.float32)


def _rng(config: NoiseConfig, key: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{config.seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _file_noise(path: str, n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    from .audio import load_channel

    x = load_channel(path, 1, fs, name=f"noise file {path}")
    if len(x) < n:
        x = np.tile(x, int(np.ceil(n / len(x))) + 1)
    start = int(rng.integers(0, len(x) - n + 1))
    return x[start:start + n]


def make_noise(config: NoiseConfig, n: int, fs: int, key: str) -> np.ndarray:
    """n samples of the configured noise (unit scale), deterministic in (config, key)."""
    rng = _rng(config, key)
    if config.kind == "white":
        return rng.standard_normal(n).astype(np.float32)
    if config.kind == "file":
        return _file_noise(str(config.path), n, fs, rng)
    from .synth_corpus import babble

    return babble(n, fs, talkers=config.talkers, seed=int(rng.integers(0, 2**31 - 1)))


def add_noise(speech: np.ndarray, fs: int, config: NoiseConfig | None, key: str) -> np.ndarray:
    """The speech with noise at config.snr_db (unchanged when config is None). key: the utterance id."""
    if config is None:
        return speech
    return mix_at_snr(speech, make_noise(config, len(speech), fs, key), config.snr_db)


def noise_identity(config: NoiseConfig | None) -> dict | None:
    """What identifies the noise for a cache key: the config, plus the noise file's content hash."""
    if config is None:
        return None
    ident = {"kind": config.kind, "snr_db": float(config.snr_db), "talkers": config.talkers, "seed": config.seed}
    if config.kind == "file":
        from .cache import file_digest

        ident["file"] = file_digest(Path(str(config.path)))
    return ident


def noise_from_args(args: argparse.Namespace):
    """The NoiseConfig that eggemo.options.add_noise's options ask for, or None for clean speech."""
    kind, snr = getattr(args, "noise", None), getattr(args, "snr", None)
    if kind is None and snr is None:
        if getattr(args, "noise_file", None):
            raise ValueError("--noise-file is the WAV for --noise file; add --noise file (and --snr DB)")
        return None
    return NoiseConfig(kind or "white", 10.0 if snr is None else float(snr), getattr(args, "noise_file", None),
                       seed=getattr(args, "noise_seed", 0) or 0)
