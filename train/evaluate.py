"""Evaluation: accuracies, confusion matrix, t-SNE of the deep features, results JSON.

- UA, unweighted accuracy: the mean over classes of the per-class recall. Classes with no test
  utterance are left out of the mean (their recall is undefined).
- WA, weighted accuracy: the share of utterances classified correctly (recall weighted by class size).

The metric functions take and return arrays; the plotting and writing functions are the only
ones with side effects.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .featureset import FeatureSet
from .models import input_name


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) int64 counts; rows are the true class, columns the prediction."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def unweighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean per-class recall over the classes present in y_true."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        raise ValueError("no utterances to score")
    return float(np.mean(np.diag(cm)[present] / support[present]))


def weighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of correct predictions."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        raise ValueError("no utterances to score")
    return float(np.mean(y_true == y_pred))


def model_inputs(arch: str, fs: FeatureSet) -> np.ndarray:
    """The FeatureSet array that `arch` reads (log-Mel for teachers, F0 channels for the student)."""
    return getattr(fs, input_name(arch))


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 64,
            device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, C), features (N, D)) of the model in eval mode, as float32 numpy arrays."""
    was_training = model.training
    model.eval()
    logits, feats = [], []
    x = torch.as_tensor(x, dtype=torch.float32)
    for i in range(0, len(x), batch_size):
        lo, fe = model(x[i:i + batch_size].to(device))
        logits.append(lo.float().cpu())
        feats.append(fe.float().cpu())
    model.train(was_training)
    if not logits:
        raise ValueError("no utterances to predict")
    return torch.cat(logits).numpy(), torch.cat(feats).numpy()


@dataclass(frozen=True)
class EvalResult:
    ua: float
    wa: float
    confusion: np.ndarray      # (C, C) counts, rows = truth
    y_true: np.ndarray
    y_pred: np.ndarray
    features: np.ndarray       # (N, D) deep emotion features
    label_names: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        return {"ua": self.ua, "wa": self.wa, "n": int(len(self.y_true)),
                "confusion": self.confusion.tolist(), "label_names": list(self.label_names),
                "per_class_recall": per_class_recall(self.confusion)}


def per_class_recall(cm: np.ndarray) -> list[float | None]:
    support = cm.sum(axis=1)
    return [float(cm[i, i] / support[i]) if support[i] else None for i in range(len(cm))]


def evaluate(model: nn.Module, arch: str, fs: FeatureSet, batch_size: int = 64,
             device: str | torch.device = "cpu") -> EvalResult:
    """Score `model` (of architecture `arch`) on every utterance of `fs`."""
    logits, feats = predict(model, model_inputs(arch, fs), batch_size, device)
    y_pred = logits.argmax(axis=1)
    n = len(fs.label_names)
    return EvalResult(ua=unweighted_accuracy(fs.labels, y_pred, n), wa=weighted_accuracy(fs.labels, y_pred),
                      confusion=confusion_matrix(fs.labels, y_pred, n), y_true=np.asarray(fs.labels),
                      y_pred=y_pred, features=feats, label_names=tuple(fs.label_names))


# --- side effects: plots and files ------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_confusion(cm: np.ndarray, label_names: tuple[str, ...] | list[str], path: str | Path,
                   title: str = "") -> Path:
    """Row-normalised confusion matrix (recall per cell) with the counts written in, as PNG."""
    plt = _pyplot()
    support = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, support, out=np.zeros(cm.shape, float), where=support > 0)
    n = len(label_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 0.8 + 0.8 * n))
    ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(n), label_names, rotation=45, ha="right")
    ax.set_yticks(range(n), label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    return _save(fig, path, title)


def _save(fig, path: str | Path, title: str = "") -> Path:
    """Title, lay out and write a figure as PNG; close it."""
    plt = _pyplot()
    if title:
        fig.axes[0].set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def tsne_embedding(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-d t-SNE of (N, D) features (perplexity capped for small N)."""
    from sklearn.manifold import TSNE
    n = len(features)
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 utterances, got {n}")
    perplexity = float(min(30.0, (n - 1) / 3.0))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        np.asarray(features, np.float64))


def plot_tsne(features: np.ndarray, labels: np.ndarray, label_names: tuple[str, ...] | list[str],
              path: str | Path, title: str = "", seed: int = 0) -> Path:
    """Scatter of the t-SNE of the deep features, coloured by true emotion, as PNG."""
    plt = _pyplot()
    xy = tsne_embedding(features, seed)
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10")
    for k, name in enumerate(label_names):
        m = np.asarray(labels) == k
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=10, color=cmap(k % 10), label=name)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    return _save(fig, path, title)


def write_report(result: EvalResult, out_dir: str | Path, name: str = "test", *,
                 extra: dict[str, Any] | None = None, tsne: bool = True, seed: int = 0) -> dict[str, Any]:
    """Write {name}_results.json, {name}_confusion.png and (with tsne) {name}_tsne.png to out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {**result.summary(), **(extra or {})}
    title = f"{name}: UA {result.ua:.3f}  WA {result.wa:.3f}"
    summary["confusion_png"] = str(plot_confusion(result.confusion, result.label_names,
                                                  out / f"{name}_confusion.png", title))
    if tsne and len(result.features) >= 3:
        summary["tsne_png"] = str(plot_tsne(result.features, result.y_true, result.label_names,
                                            out / f"{name}_tsne.png", f"{name}: t-SNE of the deep features", seed))
    (out / f"{name}_results.json").write_text(json.dumps(summary, indent=2))
    return summary
