"""Fixtures for the host tests: held-out synthetic utterances, an exported int8 student, the
QEMU firmware image. Missing prerequisites (the ARM toolchain/QEMU, torch/TensorFlow for the
export) skip the tests that need them in a dev environment and fail them under CI (CI set).

The student is the edge size (2 x 64 BiLSTM) with fixed random weights, calibrated on F0
contours of the synthetic corpus and exported by `eggemo export`, as tests/export does.
Random weights are honest here: these tests check that the host feeds the model exactly the
offline features and gets bit-identical outputs, not accuracy. (A briefly trained student was
tried first; its export stops at the float-TFLite parity check, 1.8e-3 > 1e-4, reported.)
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from eggemo.host import emulator

FS = 16000
CALIB = range(0, 42)            # utterances the int8 ranges are calibrated on
VAL = range(42, 49)
HELD_OUT = (49, 50, 53)         # never seen by the export: streamed in the end-to-end tests


def require(ok: bool, msg: str) -> None:
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and a prerequisite is missing: {msg}", pytrace=False)
    pytest.skip(msg)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


@pytest.fixture(scope="session")
def corpus() -> dict:
    return synthetic_utterances()


def synthetic_utterances() -> dict:
    """{k: (emotion, int16 EGG)} of the synthetic corpus utterances the tests use."""
    from eggemo.train.synth_corpus import CorpusConfig, plan, synth_utterance

    cfg = CorpusConfig(n_utterances=56, n_speakers=4, seed=7)
    utts = plan(cfg)
    out = {}
    for k in [*CALIB, *VAL, *HELD_OUT]:
        _, egg, _ = synth_utterance(cfg, k, utts[k])
        out[k] = (utts[k].emotion, to_int16(egg))
    return out


def offline_features(egg: np.ndarray, T: int = 300) -> np.ndarray:
    """The training features of one utterance file: F0 core on the whole signal, per-utterance
    normalisation, pad/crop (eggemo.train.features, f0_norm="utterance")."""
    from eggemo.core.f0 import f0_track
    from eggemo.core.feat import F0Stats, f0_input
    from eggemo.train.features import FeatureConfig

    fc = FeatureConfig(f0_norm="utterance", T=T)
    tr = f0_track(egg, FS, fc.f0_params())
    f0 = np.where(tr.voiced, tr.f0, 0.0).astype(np.float32)
    return f0_input(f0, tr.voiced, F0Stats.from_frames(f0, tr.voiced), T, fc.crop)


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory, corpus) -> Path:
    """An `eggemo export` folder (student_int8.tflite + export_report.json)."""
    for mod in ("torch", "tensorflow", "tf_keras", "tflite_micro"):
        try:
            __import__(mod)
        except ImportError:
            require(False, f"exporting the test model needs {mod}: pip install 'eggemo[train,export]'")
    return export_test_student(tmp_path_factory.mktemp("host_model"), corpus)


def offline_student_input(egg: np.ndarray, inputs: tuple[str, ...], T: int = 300) -> np.ndarray:
    """offline_features() for a student reading `inputs` (eggemo.core.feat.STUDENT_INPUTS):
    every per-frame column of the F0 core on the whole file, per-utterance normalisation."""
    from eggemo.core.f0 import f0_track
    from eggemo.core.feat import F0Stats, student_input
    from eggemo.train.features import FeatureConfig

    fc = FeatureConfig(f0_norm="utterance", T=T, student_inputs=inputs)
    tr = f0_track(egg, FS, fc.f0_params())
    f0 = np.where(tr.voiced, tr.f0, 0.0).astype(np.float32)
    return student_input(f0, tr.voiced, F0Stats.from_frames(f0, tr.voiced, tr.energy_db), T, fc.crop, inputs,
                         tr.periodicity, tr.energy_db, cq=tr.cq, jitter=tr.jitter, shimmer=tr.shimmer)


# A small student of the recipe's CNN shape (configs/eggemo.toml: time pyramid, input moments,
# hidden layer), for the board's own inference (tests/firmware/test_board_model.py).
SMALL_CNN = {"width": 16, "layers": 3, "kernel": 5, "strides_at": [1, 2], "pooling": "meanmax", "pyramid": 3,
             "input_moments": True, "head": 24, "feature_dim": 64, "dropout": 0.0}


def export_test_student(root: Path, corpus: dict, inputs: tuple[str, ...] | None = None, hidden: int = 64,
                        layers: int = 2, arch: str = "bilstm_student", f0_norm: str = "utterance",
                        export_args: tuple[str, ...] = ()) -> Path:
    """Export the random-weight edge student calibrated on the corpus contours into root/export;
    with `inputs`, a student that reads those channels (its export report lists them); with
    arch "cnn_student", SMALL_CNN (hidden and layers unused); export_args go to `eggemo export`
    (e.g. --activations int16)."""
    import torch

    from eggemo.cli import main
    from eggemo.train.checkpoint import make_checkpoint, save_checkpoint
    from eggemo.train.features import FeatureConfig
    from eggemo.train.featureset import FeatureSet
    from eggemo.train.models import build_model
    from eggemo.train.synth_corpus import LABELS

    labels = LABELS["emodb"]
    for name, ks in (("calib", CALIB), ("val", VAL)):
        if inputs is None:
            f0 = np.stack([offline_features(corpus[k][1]) for k in ks])
        else:
            f0 = np.stack([offline_student_input(corpus[k][1], inputs) for k in ks])
        y = np.array([labels.index(corpus[k][0]) for k in ks], np.int64)
        extra = {} if inputs is None else {"f0_channels": inputs}
        FeatureSet(np.zeros((len(ks), 1, 300), np.float32), f0, y, labels, np.array(["s"] * len(ks)),
                   np.array([f"u{k}" for k in ks]), **extra).save(root / f"{name}.npz")
    cfg = {"in_channels": f0.shape[2], "hidden": hidden, "layers": layers, "n_classes": len(labels),
           "feature_dim": 512}
    if arch == "cnn_student":
        cfg = {"in_channels": f0.shape[2], "n_classes": len(labels), **SMALL_CNN}
    torch.manual_seed(0)
    model = build_model(arch, **cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    ckpt = make_checkpoint(model, arch=arch, model_config=cfg, label_names=labels,
                           feature_config=dataclasses.asdict(FeatureConfig(f0_norm=f0_norm, **(
                               {} if inputs is None else {"student_inputs": inputs}))), train_config={},
                           metrics={}, seed=0)
    save_checkpoint(ckpt, root / "student.pt")
    out = root / "export"
    rc = main(["export", str(root / "student.pt"), "--out", str(out), "--calib", str(root / "calib.npz"),
               "--val", str(root / "val.npz"), "--calib-max", "42", "--tflm-utterances", "2", *export_args])
    assert rc == 0 and (out / "student_int8.tflite").is_file()
    return out


@pytest.fixture(scope="session")
def firmware_elf(tmp_path_factory) -> Path:
    missing = emulator.missing_tools()
    require(not missing, f"the QEMU tests need {', '.join(missing)}: apt-get install gcc-arm-none-eabi "
                         f"libnewlib-arm-none-eabi qemu-system-arm")
    return emulator.build_firmware(tmp_path_factory.mktemp("fw-qemu"), "qemu")
