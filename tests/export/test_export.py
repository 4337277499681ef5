"""The artefacts of one `eggemo export` run, each checked against the model it came from."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

import numpy as np
import pytest

from eggemo.export.data import subsample
from eggemo.runtime import StudentRuntime
from eggemo.export.tflite_check import TFLM_OPS, check_int8_types, read_model
from eggemo.export.verify import agreement, onnx_logits, tflm_run
from eggemo.export.onnx_export import torch_logits


def test_all_artefacts_are_written(exported):
    names = {p.name for p in exported["out"].iterdir()}
    assert names == {"student.onnx", "student_float.tflite", "student_int8.tflite", "emo_model_data.c",
                     "emo_model_data.h", "export_report.json", "export_report.md"}
    r = exported["report"]
    assert r["onnx"]["opset"] >= 17
    assert r["int8"]["size_bytes"] == (exported["out"] / "student_int8.tflite").stat().st_size
    assert "## TFLite Micro" in (exported["out"] / "export_report.md").read_text()


def test_onnx_and_float_tflite_match_torch(exported):
    x = exported["val_x"][:6]
    ref = torch_logits(exported["model"], x)
    assert np.abs(onnx_logits(str(exported["out"] / "student.onnx"), x) - ref).max() <= 1e-4
    float_rt = StudentRuntime(exported["out"] / "student_float.tflite")
    assert np.abs(float_rt.logits_batch(x) - ref).max() <= 1e-4
    assert max(exported["report"]["parity_vs_torch"][k] for k in ("onnx", "keras", "float_tflite")) <= 1e-4


def test_int8_model_has_only_tflm_ops_and_fused_lstms(exported):
    info = read_model((exported["out"] / "student_int8.tflite").read_bytes())
    assert set(info.ops) <= TFLM_OPS
    assert info.ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 4        # 2 layers x 2 directions
    assert "REVERSE_V2" not in info.ops and "WHILE" not in info.ops
    assert "GATHER" in info.ops                                        # the time reversal
    assert list(info.ops) == exported["report"]["int8"]["ops"]


def test_int8_tensor_types(exported):
    info = read_model((exported["out"] / "student_int8.tflite").read_bytes())
    counts = check_int8_types(info)
    assert counts == exported["report"]["int8"]["tensor_types"]
    assert info.tensors[info.inputs[0]].type == "INT8" and info.tensors[info.outputs[0]].type == "INT8"
    cell = [t for t in info.tensors if t.type == "INT16"]
    assert len(cell) == 4 and all(t.is_variable for t in cell)         # one 16-bit cell state per LSTM
    weights = [t for t in info.tensors if t.is_constant and len(t.shape) == 2 and t.shape[0] >= 7]
    assert weights and all(t.type == "INT8" for t in weights)
    floats = [t for t in info.tensors if t.type == "FLOAT32"]
    assert all(int(np.prod(t.shape)) == 0 for t in floats)             # only empty LSTM intermediates


def test_tflm_agrees_with_litert(exported):
    """TFLM in the reported (minimal) arena against ai-edge-litert, recomputed here: the report's
    logit difference is what one gets, and ops fed identical inputs agree within one LSB."""
    model = (exported["out"] / "student_int8.tflite").read_bytes()
    rt = StudentRuntime(model)
    tm = exported["report"]["tflm"]
    x = exported["val_x"][subsample(len(exported["val_x"]), tm["utterances"])]   # the export's own draw
    xq = np.stack([rt.quantize_input(u) for u in x])
    lite = np.stack([rt.run_raw(u) for u in xq]).astype(int)
    micro = tflm_run(model, xq, tm["arena_bytes"]).astype(int)
    assert np.abs(lite - micro).max() == tm["max_lsb_diff"]
    assert tm["kernel_max_lsb_diff"] <= 1
    assert any("UNIDIRECTIONAL_SEQUENCE_LSTM" in k for k in tm["kernels_checked"])  # layer 0 sees the input
    assert np.mean(lite.argmax(1) == micro.argmax(1)) >= 0.8


def test_reported_arena_is_the_smallest_that_works(exported):
    from tflite_micro import runtime as tflm
    model = (exported["out"] / "student_int8.tflite").read_bytes()
    arena = exported["report"]["tflm"]["arena_bytes"]
    assert arena % 16 == 0
    tflm.Interpreter.from_bytes(model, arena_size=arena)
    with pytest.raises(RuntimeError):
        tflm.Interpreter.from_bytes(model, arena_size=arena - 16)


def test_int8_numbers_in_the_report_are_what_the_runtime_gives(exported):
    r = exported["report"]
    int8 = StudentRuntime.from_export_dir(exported["out"]).logits_batch(exported["val_x"])
    flt = StudentRuntime.from_export_dir(exported["out"], int8=False).logits_batch(exported["val_x"])
    agree = agreement(int8, flt, step=r["int8"]["io"]["output"]["scale"])
    assert agree["argmax_agreement"] == pytest.approx(r["int8"]["vs_float"]["argmax_agreement"])
    assert agree["disagreement_margins_steps"] == r["int8"]["vs_float"]["disagreement_margins_steps"]
    assert agree["disagreements"] == round((1 - agree["argmax_agreement"]) * len(flt))
    assert agree["max_abs_logit_diff"] == pytest.approx(r["int8"]["vs_float"]["max_abs_logit_diff"], rel=1e-5)
    assert float(np.mean(int8.argmax(1) == exported["val_y"])) == pytest.approx(r["int8"]["accuracy"])
    assert r["targets"]["accuracy_drop_points"]["value"] == pytest.approx(
        100 * (r["float"]["accuracy"] - r["int8"]["accuracy"]), abs=1e-3)
    # int8 tracks float: logits within a few output steps of the float ones.
    assert agree["max_abs_logit_diff"] <= 8 * r["int8"]["io"]["output"]["scale"] + 0.05 * np.abs(flt).max()
    assert r["int8"]["state_leak_without_reset_lsb"] > 0   # the LSTM state persists unless reset


def test_c_array_is_the_model_and_16_byte_aligned(exported, tmp_path):
    out = exported["out"]
    model = (out / "student_int8.tflite").read_bytes()
    header, source = (out / "emo_model_data.h").read_text(), (out / "emo_model_data.c").read_text()
    assert hashlib.sha256(model).hexdigest() in header and "Do not edit" in header
    assert f"#define EMO_MODEL_DATA_LEN {len(model)}" in header
    assert f"#define EMO_MODEL_DATA_ARENA_SIZE {exported['report']['tflm']['arena_bytes']}" in header
    body = source[source.index("{", source.index("emo_model_data[")) + 1:source.index("};")]
    assert bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", body)) == model
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no host C compiler")
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include <stdint.h>\n#include "emo_model_data.h"\n'
        "int main(void) {\n"
        "  if ((uintptr_t)emo_model_data % EMO_MODEL_DATA_ALIGN) return 3;\n"
        "  fwrite(emo_model_data, 1, EMO_MODEL_DATA_LEN, stdout);\n"
        '  fprintf(stderr, "%s %d", emo_model_data_labels[0], EMO_MODEL_DATA_N_CLASSES);\n'
        "  return 0;\n}\n")
    exe = tmp_path / "dump"
    subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-I", str(out), str(tmp_path / "main.c"),
                    str(out / "emo_model_data.c"), "-o", str(exe)], check=True)
    run = subprocess.run([str(exe)], capture_output=True, check=True)
    assert run.stdout == model and run.stderr.decode() == "anger 7"


def test_c_array_section_is_16_byte_aligned_for_the_mcu(exported, tmp_path):
    gcc, readelf = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-readelf")
    if gcc is None or readelf is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    obj = tmp_path / "model.o"
    subprocess.run([gcc, "-mcpu=cortex-m4", "-mthumb", "-std=c11", "-Os", "-fdata-sections", "-c",
                    str(exported["out"] / "emo_model_data.c"), "-o", str(obj)], check=True)
    sections = subprocess.run([readelf, "-SW", str(obj)], capture_output=True, text=True, check=True).stdout
    line = next(l for l in sections.splitlines() if ".rodata.emo_model_data " in l + " ")
    assert int(line.split()[-1]) >= 16                                   # sh_addralign
