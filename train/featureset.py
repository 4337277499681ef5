"""The arrays that pass from feature extraction to training, export and evaluation.

This is the contract between `eggemo.train.features` (which fills it) and the
models (which read it). numpy only, so the host can import it.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The paper's student input channels, per 10 ms frame: normalised log-F0 (0 where unvoiced)
# and the voicing flag 0/1. Other recipes read more (eggemo.train.features.STUDENT_INPUTS).
F0_CHANNELS = ("log_f0", "voiced")


@dataclass(frozen=True)
class FeatureSet:
    logmel: np.ndarray          # (N, n_mels, T) float32, the teacher's input
    f0: np.ndarray              # (N, T, len(f0_channels)) float32, the student's input
    labels: np.ndarray          # (N,) int64, index into label_names
    label_names: tuple[str, ...]
    speakers: np.ndarray        # (N,) str
    utt_ids: np.ndarray         # (N,) str
    f0_channels: tuple[str, ...] = F0_CHANNELS   # what each channel of f0 is

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in ("logmel", "f0", "speakers", "utt_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"FeatureSet.{name} has {len(getattr(self, name))} rows, labels has {n}")
        object.__setattr__(self, "f0_channels", tuple(str(c) for c in self.f0_channels))
        if self.f0.ndim != 3 or self.f0.shape[2] != len(self.f0_channels):
            raise ValueError(f"FeatureSet.f0 must be (N, T, {len(self.f0_channels)}) for the channels "
                             f"{list(self.f0_channels)}, got {self.f0.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> "FeatureSet":
        idx = np.asarray(idx)
        return FeatureSet(self.logmel[idx], self.f0[idx], self.labels[idx], self.label_names,
                          self.speakers[idx], self.utt_ids[idx], self.f0_channels)

    def channel(self, name: str) -> np.ndarray:
        """(N, T) one named channel of the student input."""
        if name not in self.f0_channels:
            raise KeyError(f"this FeatureSet has no {name!r} channel (it has {list(self.f0_channels)})")
        return self.f0[:, :, self.f0_channels.index(name)]

    def save(self, path: str | Path) -> None:
        np.savez(path, logmel=self.logmel, f0=self.f0, labels=self.labels,
                 label_names=np.array(self.label_names), speakers=self.speakers, utt_ids=self.utt_ids,
                 f0_channels=np.array(self.f0_channels))

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSet":
        try:
            with np.load(path, allow_pickle=False) as z:
                channels = tuple(str(s) for s in z["f0_channels"]) if "f0_channels" in z else F0_CHANNELS
                return cls(z["logmel"], z["f0"], z["labels"].astype(np.int64),
                           tuple(str(s) for s in z["label_names"]), z["speakers"], z["utt_ids"], channels)
        except (zipfile.BadZipFile, EOFError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path} is not a complete FeatureSet .npz ({type(exc).__name__}: {exc}); "
                             f"write it again with `eggemo features`") from None
        except ValueError as exc:
            if "pickle" in str(exc):
                raise ValueError(f"{path} is not a FeatureSet .npz (numpy cannot read it as one); "
                                 f"write one with `eggemo features`") from None
            raise
