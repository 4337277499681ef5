"""The arrays that pass from feature extraction to training, export and evaluation.

This is the contract between `eggemo.train.features` (which fills it) and the
models (which read it). numpy only, so the host can import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Student input channels, per 10 ms frame.
F0_CHANNELS = ("log_f0_norm", "voiced")  # normalised log-F0 (0 where unvoiced), voicing flag 0/1


@dataclass(frozen=True)
class FeatureSet:
    logmel: np.ndarray          # (N, n_mels, T) float32, the teacher's input
    f0: np.ndarray              # (N, T, len(F0_CHANNELS)) float32, the student's input
    labels: np.ndarray          # (N,) int64, index into label_names
    label_names: tuple[str, ...]
    speakers: np.ndarray        # (N,) str
    utt_ids: np.ndarray         # (N,) str

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in ("logmel", "f0", "speakers", "utt_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"FeatureSet.{name} has {len(getattr(self, name))} rows, labels has {n}")
        if self.f0.ndim != 3 or self.f0.shape[2] != len(F0_CHANNELS):
            raise ValueError(f"FeatureSet.f0 must be (N, T, {len(F0_CHANNELS)}), got {self.f0.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> "FeatureSet":
        idx = np.asarray(idx)
        return FeatureSet(self.logmel[idx], self.f0[idx], self.labels[idx], self.label_names,
                          self.speakers[idx], self.utt_ids[idx])

    def save(self, path: str | Path) -> None:
        np.savez(path, logmel=self.logmel, f0=self.f0, labels=self.labels,
                 label_names=np.array(self.label_names), speakers=self.speakers, utt_ids=self.utt_ids)

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSet":
        with np.load(path, allow_pickle=False) as z:
            return cls(z["logmel"], z["f0"], z["labels"].astype(np.int64),
                       tuple(str(s) for s in z["label_names"]), z["speakers"], z["utt_ids"])
