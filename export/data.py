"""The F0 contours the export calibrates with (training split) and checks accuracy on (validation).

Three ways in, from the most to the least automatic:
- a corpus folder: features are extracted and split exactly as `eggemo train` did, from the
  training config stored in the checkpoint (eggemo.train.cli.load_features / make_splits);
- a FeatureSet .npz of the whole corpus (what `eggemo features` caches): split the same way;
- a calibration FeatureSet .npz (and optionally a validation one) used as given.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eggemo.train.featureset import F0_CHANNELS, FeatureSet, MissingChannels, find_npz


class ExportDataError(ValueError):
    """Calibration or validation data that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class ExportData:
    calib: np.ndarray            # (N, T, C) float32, training-split F0 contours
    calib_source: str
    val_x: np.ndarray            # (M, T, C)
    val_y: np.ndarray            # (M,) int64
    val_source: str
    val_kind: str                # "validation split" or what it is instead
    label_names: tuple[str, ...]


def checkpoint_channels(ckpt: dict[str, Any]) -> tuple[str, ...]:
    """The student channels a checkpoint reads, by name (a checkpoint from before they were recorded
    read the paper's two)."""
    return tuple(ckpt.get("feature_config", {}).get("student_inputs") or F0_CHANNELS)


def load_featureset(path: str | Path, what: str, channels: tuple[str, ...] | None = None) -> FeatureSet:
    """A FeatureSet .npz, narrowed to `channels` (the checkpoint's, by name) when given."""
    path = find_npz(path)              # `eggemo features --out X` wrote X.npz
    if not path.is_file():
        raise ExportDataError(f"{what} {path} not found; write one with FeatureSet.save (or `eggemo features`), "
                              f"or pass --corpus DIR to extract features from a corpus")
    try:
        fs = FeatureSet.load(path)
    except (OSError, KeyError, ValueError) as exc:
        raise ExportDataError(f"{what} {path} is not a FeatureSet .npz ({exc}); save one with FeatureSet.save") from None
    if channels is None:
        return fs
    try:
        return fs.select(channels, f"{what} {path}")
    except MissingChannels as exc:
        raise ExportDataError(str(exc)) from None


def check_contours(x: np.ndarray, what: str, T: int, in_channels: int) -> np.ndarray:
    """The (N, T, C) float32 array, or an error saying what is wrong with it."""
    x = np.asarray(x)
    if x.ndim != 3 or len(x) == 0:
        raise ExportDataError(f"the {what} has shape {x.shape}; it needs at least one (T, C) F0 contour")
    if x.shape[1:] != (T, in_channels):
        raise ExportDataError(f"the {what} has contours of shape {x.shape[1:]} but the checkpoint was trained on "
                              f"({T}, {in_channels}); extract features with the checkpoint's feature config")
    if not np.all(np.isfinite(x)):
        raise ExportDataError(f"the {what} contains NaN or inf; F0 features must be finite (0 when unvoiced)")
    if not np.any(x):
        raise ExportDataError(f"the {what} is all zeros (no voiced frame): it cannot calibrate the int8 ranges; "
                              f"use real training F0 contours")
    return x.astype(np.float32)


def training_config(train_config: dict[str, Any]):
    """The training Config stored in a checkpoint (its extra bookkeeping keys dropped)."""
    from eggemo.train.config import Config, from_dict
    tables = {f.name for f in dataclasses.fields(Config)}
    return from_dict({k: v for k, v in train_config.items() if k in tables})


def checkpoint_config(ckpt: dict[str, Any]):
    """The training Config of a checkpoint whose features read the checkpoint's own channels (a run
    trained from a FeatureSet file has them in its feature_config only)."""
    cfg = training_config(ckpt.get("train_config", {}))
    return dataclasses.replace(cfg, features={**cfg.features, "student_inputs": list(checkpoint_channels(ckpt))})


def split_like_training(fs: FeatureSet, train_config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(calibration idx, validation idx): the training and validation parts of the split that
    `eggemo train` drew (eggemo.train.cli.make_splits with the checkpoint's data config)."""
    from eggemo.train.cli import make_splits
    splits = make_splits(fs, training_config(train_config))
    return splits["train"], splits["val"]


def subsample(n: int, k: int, seed: int = 0) -> np.ndarray:
    """k of n indices (all when k <= 0 or k >= n), sorted, drawn with a fixed seed."""
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def from_featureset(fs: FeatureSet, train_config: dict[str, Any], source: str) -> ExportData:
    fit, val = split_like_training(fs, train_config)
    return ExportData(fs.f0[fit], f"{source} (training part, {len(fit)} utterances)", fs.f0[val],
                      fs.labels[val], f"{source} (validation part)", "validation split", fs.label_names)


def from_corpus(corpus: str | Path, ckpt: dict[str, Any]) -> ExportData:
    """Extract features of the corpus the way training did (its config, cache and label set) and
    split them like training."""
    from eggemo.train.cli import load_features

    corpus = Path(corpus)
    if not corpus.exists():
        raise ExportDataError(f"corpus {corpus} not found; pass the corpus folder the student was trained on")
    fs, _ = load_features(checkpoint_config(ckpt), corpus=corpus, progress=False)
    return from_featureset(fs, ckpt.get("train_config", {}), str(corpus))


def load_export_data(ckpt: dict[str, Any], *, corpus: str | Path | None = None,
                     features: str | Path | None = None, calib: str | Path | None = None,
                     val: str | Path | None = None) -> ExportData:
    """The calibration and validation contours from whichever source was given (exactly one)."""
    given = [n for n, v in (("--corpus", corpus), ("--features", features), ("--calib", calib)) if v is not None]
    if len(given) != 1:
        raise ExportDataError(
            "the int8 export needs a representative set of real training F0 contours: pass exactly one of "
            "--corpus DIR (the training corpus), --features FILE.npz (its FeatureSet) or --calib FILE.npz "
            f"(a training-split FeatureSet){'; got ' + ' and '.join(given) if given else ''}")
    if corpus is not None:
        data = from_corpus(corpus, ckpt)
    elif features is not None:
        data = from_featureset(load_featureset(features, "feature set", checkpoint_channels(ckpt)),
                               ckpt.get("train_config", {}), str(features))
    else:
        cal = load_featureset(calib, "calibration set", checkpoint_channels(ckpt))
        if val is not None:
            v = load_featureset(val, "validation set", checkpoint_channels(ckpt))
            data = ExportData(cal.f0, str(calib), v.f0, v.labels, str(val), "validation split", v.label_names)
        else:
            data = ExportData(cal.f0, str(calib), cal.f0, cal.labels, str(calib),
                              "calibration set (no --val given: accuracy is not a held-out number)",
                              cal.label_names)
    if tuple(data.label_names) != tuple(ckpt["label_names"]):
        raise ExportDataError(f"the data's labels {list(data.label_names)} differ from the checkpoint's "
                              f"{list(ckpt['label_names'])}; use features of the corpus the student was trained on")
    return data
