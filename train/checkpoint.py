"""Checkpoints: a torch.save'd dict that carries everything needed to rebuild and use the model.

Format "eggemo-checkpoint-v1" (contract in briefs/student_spec.md):
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
    """The checkpoint dict, checked for format and keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; train one with `eggemo train`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise ValueError(f"{path} is not a readable eggemo checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: expected format {FORMAT!r}, got {got!r}; "
                         f"was it written by `eggemo train`?")
    missing = [k for k in KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing}; retrain with this version of eggemo")
    return ckpt


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode on the CPU, checkpoint dict)."""
    ckpt = read_checkpoint(path)
    model = build_model(ckpt["arch"], **ckpt["model_config"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt
