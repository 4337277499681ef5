"""The host runtime (numpy + ai-edge-litert) on an exported student."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from eggemo.core.feat import quantize
from eggemo.runtime import StudentRuntime, dequantize


def test_runtime_imports_neither_torch_nor_tensorflow():
    code = ("import sys, eggemo.runtime; "
            "bad = [m for m in ('torch', 'tensorflow', 'tf_keras') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_quantize_round_trip_and_saturation():
    x = np.array([-10.0, -0.26, 0.0, 0.24, 10.0])
    q = quantize(x, 0.05, 3)
    assert q.dtype == np.int8 and q.tolist() == [-128, -2, 3, 8, 127]
    assert np.allclose(dequantize(q[1:4], 0.05, 3), [-0.25, 0.0, 0.25])


def test_predict_gives_labels_and_probabilities(exported):
    rt = StudentRuntime.from_export_dir(exported["out"])
    assert rt.quantized and rt.input_shape == (300, 2) and rt.label_names == tuple(exported["report"]["label_names"])
    x, y = exported["val_x"], exported["val_y"]
    label, p = rt.predict(x[0])
    assert p.shape == (7,) and p.sum() == pytest.approx(1.0, abs=1e-5) and (p >= 0).all()
    assert label == rt.label_names[int(np.argmax(p))]
    hits = [rt.predict(u)[0] == rt.label_names[c] for u, c in zip(x, y)]
    assert np.mean(hits) == pytest.approx(exported["report"]["int8"]["accuracy"])


def test_every_utterance_starts_from_a_reset_state(exported):
    rt = StudentRuntime.from_export_dir(exported["out"])
    x = exported["val_x"]
    first = rt.logits(x[3])
    for u in x[:5]:
        rt.logits(u)
    assert np.array_equal(rt.logits(x[3]), first)
    fresh = StudentRuntime.from_export_dir(exported["out"])
    assert np.array_equal(fresh.logits(x[3]), first)


def test_bad_feature_arrays_are_refused(exported):
    rt = StudentRuntime.from_export_dir(exported["out"])
    with pytest.raises(ValueError, match=r"\(300, 2\)"):
        rt.logits(np.zeros((250, 2), np.float32))
    bad = exported["val_x"][0].copy()
    bad[10, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rt.logits(bad)


def test_missing_model_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="eggemo export"):
        StudentRuntime(tmp_path / "student_int8.tflite")


def test_corrupt_model_and_report_name_the_file(tmp_path):
    from eggemo.runtime import StudentRuntime, read_report
    from eggemo.host.pipeline import ModelInfo
    bad = tmp_path / "student_int8.tflite"
    bad.write_bytes(b"not a flatbuffer at all" * 10)
    with pytest.raises(ValueError, match=str(bad)):
        StudentRuntime(bad)
    report = tmp_path / "export_report.json"
    report.write_text("{cut")
    with pytest.raises(ValueError, match="export_report.json"):
        read_report(report)
    with pytest.raises(ValueError, match="export_report.json"):
        ModelInfo.from_model(tmp_path)
