"""The arrays that pass from feature extraction to training, export and evaluation.

This is the contract between `eggemo.train.features` (which fills it) and the
models (which read it). numpy only, so the host can import it.
"""
from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# The paper's student input channels, per 10 ms frame: normalised log-F0 (0 where unvoiced)
# and the voicing flag 0/1. Other recipes read more (eggemo.core.feat.STUDENT_INPUTS).
# A FeatureSet written by `eggemo features` holds every channel; a student picks its own by name
# (FeatureSet.select, from the config's features.student_inputs). A file written before channels
# were named holds these two.
F0_CHANNELS = ("log_f0", "voiced")

# The label of an utterance nobody labelled (a paired recording for distillation): it trains a
# student through a teacher's soft targets, and never scores a model.
UNLABELLED = -1


def npz_path(path: str | Path) -> Path:
    """The file a FeatureSet saved as `path` is in: numpy adds ".npz" to a name without it."""
    path = Path(path)
    return path if path.name.endswith(".npz") else path.with_name(path.name + ".npz")


def find_npz(path: str | Path) -> Path:
    """`path`, or `path` + ".npz" where only that exists: what `eggemo features --out path` wrote."""
    path = Path(path)
    return npz_path(path) if not path.exists() and npz_path(path).is_file() else path


class MissingChannels(ValueError):
    """A FeatureSet lacks a channel the config or the checkpoint reads; the message says how to re-extract."""


@dataclass(frozen=True)
class FeatureSet:
    logmel: np.ndarray          # (N, n_mels, T) float32, the teacher's input
    f0: np.ndarray              # (N, T, len(f0_channels)) float32, the student's input
    labels: np.ndarray          # (N,) int64, index into label_names
    label_names: tuple[str, ...]
    speakers: np.ndarray        # (N,) str
    utt_ids: np.ndarray         # (N,) str
    f0_channels: tuple[str, ...] = F0_CHANNELS   # what each channel of f0 is
    # The feature settings the arrays were made with (FeatureConfig as a dict, plus f0_source);
    # None for a file written before they were recorded.
    feature_config: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in ("logmel", "f0", "speakers", "utt_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"FeatureSet.{name} has {len(getattr(self, name))} rows, labels has {n}")
        object.__setattr__(self, "f0_channels", tuple(str(c) for c in self.f0_channels))
        labels, k = np.asarray(self.labels), len(self.label_names)
        if n and (labels.dtype.kind not in "iu" or labels.min() < UNLABELLED or labels.max() >= k):
            bad = labels[(labels < UNLABELLED) | (labels >= k)] if labels.dtype.kind in "iu" else labels
            raise ValueError(f"{len(bad)} of its {n} labels are not indices 0..{k - 1} into its {k} label names "
                             f"{list(self.label_names)} nor {UNLABELLED} (unlabelled) (e.g. {bad[:3].tolist()})")
        if self.f0.ndim != 3 or self.f0.shape[2] != len(self.f0_channels):
            raise ValueError(f"FeatureSet.f0 must be (N, T, {len(self.f0_channels)}) for the channels "
                             f"{list(self.f0_channels)}, got {self.f0.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def labelled(self) -> np.ndarray:
        """(N,) bool: which utterances carry a label."""
        return np.asarray(self.labels) != UNLABELLED

    @property
    def n_labelled(self) -> int:
        return int(self.labelled.sum())

    def label_count(self) -> str:
        """"N utterances, M with a label" (or "N utterances, all labelled"): what every command says."""
        n, m = len(self), self.n_labelled
        return f"{n} utterances, " + ("all labelled" if m == n else f"{m} with a label, {n - m} without")

    def subset(self, idx: np.ndarray) -> "FeatureSet":
        idx = np.asarray(idx)
        return dataclasses.replace(self, logmel=self.logmel[idx], f0=self.f0[idx], labels=self.labels[idx],
                                   speakers=self.speakers[idx], utt_ids=self.utt_ids[idx])

    def select(self, channels: Sequence[str], source: str = "this FeatureSet") -> "FeatureSet":
        """The same utterances with only `channels`, in that order: what a student reads.

        A channel this set lacks is a MissingChannels error naming `source` and how to write one
        that has it; never a silent fall-back to the channels it holds."""
        channels = tuple(str(c) for c in channels)
        missing = [c for c in channels if c not in self.f0_channels]
        if missing:
            raise MissingChannels(
                f"{source} has no {', '.join(repr(c) for c in missing)} channel (it holds {list(self.f0_channels)}; "
                f"the student reads {list(channels)}); extract the features again with this eggemo, "
                f"`eggemo features --corpus DIR --out FILE.npz`, which writes every channel, or train with "
                f"--corpus DIR")
        if channels == self.f0_channels:
            return self
        idx = [self.f0_channels.index(c) for c in channels]
        return dataclasses.replace(self, f0=np.ascontiguousarray(self.f0[:, :, idx]), f0_channels=channels)

    def check_finite(self, source: str, remedy: str) -> None:
        """Refuse arrays that hold NaN or infinity, saying where they are, where they came from
        (`source`) and what to do (`remedy`): no model learns from them, and training on them would
        only show as a diverging loss."""
        where = []
        for name, arr, axis in (("logmel", self.logmel, (1, 2)), ("f0", self.f0, (1,))):
            bad = ~np.isfinite(arr)
            if not bad.any():
                continue
            rows = np.flatnonzero(bad.any(axis=axis) if name == "logmel" else bad.any(axis=1).any(axis=1))
            part = "log-Mel" if name == "logmel" else "frame channel(s) " + ", ".join(
                repr(self.f0_channels[c]) for c in np.flatnonzero(bad.any(axis=(0, 1))))
            ids = ", ".join(str(u) for u in self.utt_ids[rows[:3]]) + (", ..." if len(rows) > 3 else "")
            where.append(f"{int(bad.sum())} in the {part} of {len(rows)} utterance(s): {ids}")
        if where:
            raise ValueError(f"{source} holds NaN or infinite values ({'; '.join(where)}); no model can learn "
                             f"from them. {remedy}")

    def channel(self, name: str) -> np.ndarray:
        """(N, T) one named channel of the student input."""
        if name not in self.f0_channels:
            raise KeyError(f"this FeatureSet has no {name!r} channel (it has {list(self.f0_channels)})")
        return self.f0[:, :, self.f0_channels.index(name)]

    def save(self, path: str | Path) -> Path:
        """Write the arrays to `path`, or to `path`.npz where the name lacks it (as numpy does); returns
        the file written."""
        path = npz_path(path)
        extra = {} if self.feature_config is None else {"feature_config": np.array(json.dumps(self.feature_config))}
        np.savez(path, logmel=self.logmel, f0=self.f0, labels=self.labels,
                 label_names=np.array(self.label_names), speakers=self.speakers, utt_ids=self.utt_ids,
                 f0_channels=np.array(self.f0_channels), **extra)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSet":
        try:
            with np.load(path, allow_pickle=False) as z:
                channels = tuple(str(s) for s in z["f0_channels"]) if "f0_channels" in z else F0_CHANNELS
                settings = json.loads(str(z["feature_config"])) if "feature_config" in z else None
                fs = cls(z["logmel"], z["f0"], z["labels"].astype(np.int64),
                         tuple(str(s) for s in z["label_names"]), z["speakers"], z["utt_ids"], channels, settings)
        except (zipfile.BadZipFile, EOFError, KeyError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a complete FeatureSet .npz ({type(exc).__name__}: {exc}); "
                             f"write it again with `eggemo features`") from None
        except ValueError as exc:
            if "pickle" in str(exc):
                raise ValueError(f"{path} is not a FeatureSet .npz (numpy cannot read it as one); "
                                 f"write one with `eggemo features`") from None
            raise ValueError(f"{path}: not a usable FeatureSet: {exc}; the file is damaged or was not written by "
                             f"`eggemo features`: extract it again with `eggemo features --corpus DIR --out "
                             f"{path}`") from None
        fs.check_finite(str(path), f"They came from this file: extract it again with `eggemo features --corpus DIR "
                                   f"--out {path}`")
        return fs
