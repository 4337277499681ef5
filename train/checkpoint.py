"""Checkpoints: a torch.save'd dict that carries everything needed to rebuild and use the model.

Format "eggemo-checkpoint-v1" (docs/training.md, "Checkpoints"):
    format, kind ("teacher" | "student"), arch, model_config (build_model kwargs), state_dict,
    label_names, feature_config (the FeatureConfig used to make the inputs, incl. T),
    train_config, metrics, seed.
Only plain Python values and tensors are stored, so loading uses torch.load(weights_only=True).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .models import STUDENT_ARCHS, TEACHER_ARCHS, build_model

FORMAT = "eggemo-checkpoint-v1"
# Beyond any weight or statistic a trained model holds (they stay within a few hundred; BatchNorm's
# running variances within ~1e4): a value this large is a damaged file, e.g. a flipped exponent bit.
WEIGHT_LIMIT = 1e6
KEYS = ("format", "kind", "arch", "model_config", "state_dict", "label_names", "feature_config",
        "train_config", "metrics", "seed")


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel/DataParallel wrapper."""
    return model.module if hasattr(model, "module") else model


def make_checkpoint(model: nn.Module, *, arch: str, model_config: dict[str, Any],
                    label_names: tuple[str, ...] | list[str], feature_config: dict[str, Any],
                    train_config: dict[str, Any], metrics: dict[str, Any], seed: int) -> dict[str, Any]:
    kind = "teacher" if arch in TEACHER_ARCHS else "student" if arch in STUDENT_ARCHS else None
    if kind is None:
        raise ValueError(f"unknown arch {arch!r}")
    state = {k: v.detach().cpu().clone() for k, v in unwrap(model).state_dict().items()}
    return {"format": FORMAT, "kind": kind, "arch": arch, "model_config": dict(model_config),
            "state_dict": state, "label_names": list(label_names), "feature_config": dict(feature_config),
            "train_config": dict(train_config), "metrics": dict(metrics), "seed": int(seed)}


def save_checkpoint(ckpt: dict[str, Any], path: str | Path) -> Path:
    """Write atomically (temp file, then rename), so an interrupted run never leaves half a file."""
    missing = [k for k in KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"checkpoint lacks {missing}; build it with make_checkpoint()")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, checked for format and keys, finite weights, and weights that fit
    the model its arch and model_config describe."""
    return _read(path)[0]


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on the CPU, checkpoint dict)."""
    ckpt, model = _read(path)
    model.eval()
    return model, ckpt


def _read(path: str | Path) -> tuple[dict[str, Any], nn.Module]:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a checkpoint; give the best.pt file in it")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; train one with `eggemo train`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        # torch's own advice (weights_only=False) would run code from an untrusted file: not given
        raise ValueError(f"{path} is not a readable eggemo checkpoint ({type(exc).__name__}): the file is damaged "
                         f"or was not written by `eggemo train`; copy it again or train one") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: expected format {FORMAT!r}, got {got!r}; "
                         f"was it written by `eggemo train`?")
    missing = [k for k in KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing}; retrain with this version of eggemo")
    return ckpt, _model(ckpt, path)


def _model(ckpt: dict[str, Any], path: Path) -> nn.Module:
    """The model the checkpoint describes, with its weights; a clear error when they do not fit."""
    arch, state = ckpt["arch"], ckpt["state_dict"]
    if arch not in TEACHER_ARCHS + STUDENT_ARCHS:
        raise ValueError(f"{path}: arch {arch!r} is not a model this eggemo knows (teachers {TEACHER_ARCHS}, "
                         f"students {STUDENT_ARCHS}); the checkpoint was edited or written by another version")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: its state_dict is not a dict of tensors; the checkpoint is damaged, train again")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"{path}: {len(bad)} weight tensor(s) hold NaN or infinite values ({', '.join(bad[:3])}"
                         f"{', ...' if len(bad) > 3 else ''}): the training diverged; this checkpoint cannot be "
                         f"used, train again (e.g. with a lower optim.lr)")
    huge = {k: float(v.abs().max()) for k, v in state.items()
            if v.is_floating_point() and v.numel() and float(v.abs().max()) > WEIGHT_LIMIT}
    if huge:
        name, value = max(huge.items(), key=lambda kv: kv[1])
        raise ValueError(f"{path}: the checkpoint is corrupt: {len(huge)} weight tensor(s) hold values no trained "
                         f"model has (|w| up to {value:.3g} in {name}; trained weights stay far below "
                         f"{WEIGHT_LIMIT:.0e}): a damaged copy or a flipped bit. Copy it again, or train again")
    if not isinstance(ckpt["model_config"], dict):
        raise ValueError(f"{path}: its model_config is not a table; the checkpoint is damaged, train again")
    model = build_model(arch, **ckpt["model_config"])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = "; ".join(line.strip() for line in str(exc).splitlines()[1:] if line.strip())
        raise ValueError(f"{path}: its weights do not fit the {arch} model that its model_config "
                         f"{ckpt['model_config']} describes ({detail[:300]}); the checkpoint was edited or "
                         f"damaged, train it again") from None
    return model
