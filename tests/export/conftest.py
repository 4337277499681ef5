"""One export per test session (TF conversion is slow): an edge-size student with fixed random
weights, calibrated on synthetic F0 contours, exported through the `eggemo export` command.

Random weights are honest for what these tests check (weight copy, graph, ops, tensor types,
TFLM against TFLite, the C array, the runtime, the report's numbers against a recomputation).
They say nothing about accuracy: the accuracy drop of a trained student is measured by the
export report and docs/export.md, not asserted here. Training even the edge student takes many
minutes on two shared cores.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
pytest.importorskip("tflite_micro")

from eggemo.train.featureset import FeatureSet  # noqa: E402

T = 300
LABELS = ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral")
EDGE = {"in_channels": 2, "hidden": 64, "layers": 2, "n_classes": len(LABELS), "feature_dim": 512}


def f0_contours(n: int, seed: int, T: int = T) -> tuple[np.ndarray, np.ndarray]:
    """(f0 (n, T, 2), labels (n,)): voiced stretches with pauses; the class sets the log-F0 slope
    and the rate of its undulation; level, phase, voicing and noise vary per utterance."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(LABELS)
    t = np.linspace(0.0, 1.0, T)
    f0 = np.zeros((n, T, 2), np.float32)
    for i, c in enumerate(labels):
        voiced = np.zeros(T, bool)
        voiced[rng.integers(5, 40):T - rng.integers(5, 60)] = True
        for _ in range(rng.integers(1, 4)):               # pauses
            p = rng.integers(40, T - 40)
            voiced[p:p + rng.integers(5, 20)] = False
        logf0 = ((c - 3) * 0.6 * (t - 0.5) + 0.5 * np.sin(2 * np.pi * (1 + c) * t + rng.uniform(0, 2 * np.pi))
                 + rng.normal(0, 0.2) + 0.1 * rng.normal(size=T))
        f0[i, :, 0] = np.where(voiced, np.clip(logf0, -6, 6), 0.0)
        f0[i, :, 1] = voiced
    return f0, labels.astype(np.int64)


def featureset(f0: np.ndarray, labels: np.ndarray, prefix: str) -> FeatureSet:
    n = len(labels)
    return FeatureSet(np.zeros((n, 1, f0.shape[1]), np.float32), f0, labels, LABELS,
                      np.array([f"spk{i % 3}" for i in range(n)]), np.array([f"{prefix}{i}" for i in range(n)]))


def random_student(seed: int = 0):
    """The edge student with fixed random weights, uniform in +-0.3: large enough that the LSTM
    states and logits span a realistic range (torch's default init leaves them near zero)."""
    from eggemo.train.models import build_model
    torch.manual_seed(seed)
    model = build_model("bilstm_student", **EDGE).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    return model


def save_student(model, path: Path, arch: str = "bilstm_student", config: dict | None = None) -> Path:
    from eggemo.train.checkpoint import make_checkpoint, save_checkpoint
    ckpt = make_checkpoint(model, arch=arch, model_config=config or EDGE, label_names=LABELS,
                           feature_config={"T": T}, train_config={}, metrics={}, seed=0)
    return save_checkpoint(ckpt, path)


@pytest.fixture(scope="session")
def export_data(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("export_data")
    cx, cy = f0_contours(84, seed=1)
    vx, vy = f0_contours(42, seed=2)
    featureset(cx, cy, "cal").save(root / "calib.npz")
    featureset(vx, vy, "val").save(root / "val.npz")
    model = random_student()
    ckpt = save_student(model, root / "edge_student.pt")
    return {"root": root, "ckpt": ckpt, "calib": root / "calib.npz", "val": root / "val.npz",
            "model": model, "val_x": vx, "val_y": vy}


@pytest.fixture(scope="session")
def exported(export_data) -> dict:
    """Run `eggemo export` once; the folder and its report."""
    from eggemo.cli import main
    out = export_data["root"] / "out"
    rc = main(["export", str(export_data["ckpt"]), "--out", str(out), "--calib", str(export_data["calib"]),
               "--val", str(export_data["val"]), "--calib-max", "48", "--tflm-utterances", "12"])
    assert rc == 0
    return {"out": out, "report": json.loads((out / "export_report.json").read_text()), **export_data}


# The stacked edge design (docs/export.md, "Edge student design"): 2 x 48 per direction, three 10 ms
# frames per LSTM step, so the LSTMs run 100 steps. One more export, of this student.
EDGE_STACKED = {"in_channels": 2, "hidden": 48, "layers": 2, "n_classes": len(LABELS), "feature_dim": 512,
                "stack": 3}


@pytest.fixture(scope="session")
def exported_stacked(export_data) -> dict:
    """`eggemo export` of a frame-stacking student with fixed random weights (same data as above)."""
    from eggemo.cli import main
    from eggemo.train.models import build_model
    root = export_data["root"]
    torch.manual_seed(1)
    model = build_model("bilstm_student", **EDGE_STACKED).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    ckpt = save_student(model, root / "stacked_student.pt", config=EDGE_STACKED)
    out = root / "out_stacked"
    rc = main(["export", str(ckpt), "--out", str(out), "--calib", str(export_data["calib"]),
               "--val", str(export_data["val"]), "--calib-max", "48", "--tflm-utterances", "12"])
    assert rc == 0
    return {"out": out, "report": json.loads((out / "export_report.json").read_text()), "model": model,
            "val_x": export_data["val_x"], "val_y": export_data["val_y"]}
