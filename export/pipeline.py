"""Checkpoint -> ONNX, float and int8 TFLite, C array and report, each checked before it is written.

Hard checks stop the export and write nothing: a non-student checkpoint, Keras/ONNX/float-TFLite
parity with torch beyond 1e-4, an op TFLite Micro lacks, a tensor that is not int8 where it should
be, TFLM disagreeing with TFLite by more than one LSB. Targets (accuracy drop, agreement, size,
arena) are measured and reported, pass or fail.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eggemo import boards
from eggemo.boards import DEFAULT_BOARD

from . import cgen
from .data import ExportData, check_contours, subsample
from eggemo.runtime import FLOAT_MODEL, INT8_MODEL, MODEL_16X8, REPORT, StudentRuntime
from .tflite_check import check_int8_types, check_tflm_ops, io_quantization, read_model
from .verify import (agreement, captured_stderr, classification_metrics, compare_tflm, onnx_logits, state_leak,
                     tflm_arena_size)

PARITY_TOL = 1e-4          # max |logit diff| of Keras / ONNX / float TFLite against torch
TFLM_MAX_LSB = 1           # TFLM vs TFLite interpreter, int8 output units (target; per kernel: hard check)
ONNX_FILE = "student.onnx"
C_NAME = "emo_model_data"
REPORT_MD = "export_report.md"
TARGETS = {"max_accuracy_drop_points": 1.0, "min_argmax_agreement": 0.99,
           "edge_max_int8_bytes": 150 << 10, "edge_max_arena_bytes": 48 << 10}


class ExportError(ValueError):
    """The export cannot produce a model that is safe to ship; the message says why and what to do."""


def mcu_budget(board: str = DEFAULT_BOARD) -> dict[str, Any]:
    """The memory a model may take on `board`, from its firmware/boards/<board>/board.toml: the chip's
    flash and SRAM (a CCM is not counted). The default is the wearable (STM32F405: 1 MiB, 128 KiB)."""
    try:
        b = boards.board(board)
    except boards.BoardError as exc:
        raise ExportError(str(exc)) from None
    return {"name": b.chip, "board": b.name, "flash_bytes": b.memory["flash"].size,
            "ram_bytes": b.memory["ram"].size}


def _log_default(msg: str) -> None:
    print(msg, flush=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_student(ckpt_path: str | Path):
    """(torch model, checkpoint dict) for a student checkpoint; a clear error for anything else."""
    from eggemo.train.checkpoint import read_checkpoint
    from eggemo.train.models import STUDENT_ARCHS, TEACHER_ARCHS, build_model

    from .rebuild import EXPORT_ARCHS, check_exportable

    ckpt = read_checkpoint(ckpt_path)
    if ckpt["kind"] != "student" or ckpt["arch"] in TEACHER_ARCHS:
        raise ExportError(f"{ckpt_path} is a {ckpt['kind']} checkpoint (arch {ckpt['arch']!r}); "
                          f"export takes a student ({', '.join(STUDENT_ARCHS)}): train one with "
                          f"`eggemo train student` or distil one from this teacher")
    if ckpt["arch"] not in EXPORT_ARCHS:
        raise ExportError(f"{ckpt_path}: arch {ckpt['arch']!r} is not a model this eggemo knows how to export; "
                          f"export takes a student ({', '.join(EXPORT_ARCHS)})")
    try:
        check_exportable(ckpt["arch"], ckpt["model_config"])
    except ValueError as exc:
        raise ExportError(f"{ckpt_path}: {exc}") from None
    model = build_model(ckpt["arch"], **ckpt["model_config"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt


def _size_name(layers: int, hidden: int, stack: int) -> str:
    from eggemo.train.models import STUDENT_SIZES
    for name, cfg in STUDENT_SIZES.items():
        if (cfg["layers"], cfg["hidden"], cfg.get("stack", 1)) == (layers, hidden, stack):
            return name
    return "custom"


def _describe(shape) -> str:
    from .rebuild import describe
    return describe(shape)


def _parity(name: str, got: np.ndarray, ref: np.ndarray) -> float:
    diff = float(np.abs(np.asarray(got, np.float64) - ref).max())
    if not diff <= PARITY_TOL:
        raise ExportError(f"{name} logits differ from torch by {diff:.3g} (> {PARITY_TOL:g}): the rebuilt model "
                          f"is not the trained one (weight copy or graph bug); nothing was written")
    return diff


def _check_clips(which: str, clips: list[tuple[float, float]], cell_clip: float) -> None:
    """The LSTMs clip as export/tflite.py set them: float not at all (torch does not), int8 at
    INT8_CELL_CLIP (the 16-bit cell state's range)."""
    if any(c != cell_clip or p != 0.0 for c, p in clips):
        raise ExportError(f"the {which} TFLite LSTMs clip (cell, projection) at {clips}, expected ({cell_clip}, 0): "
                          f"the converter's clipping was not replaced (export/tflite.py); nothing was written")


ACTIVATIONS = ("int8", "int16")


def export_settings(ckpt: dict, activations: str | None = None, snap: bool | None = None,
                    fallback: dict | None = None, log: Callable[[str], None] | None = None) -> tuple[str, bool]:
    """(activations, snap) for an export: the arguments where given, else the [export] table of the
    config the checkpoint was trained with (configs/eggemo.toml deploys 16x8 with snapped weights),
    else `fallback` (a config's [export] table, for checkpoints trained before the table existed),
    else int8 without snapping (the paper's recipe). Both are CNN-student settings: for a BiLSTM
    student a config's values give way to int8 without snapping (said through log); flags asking for
    them are passed on, and export_student refuses them."""
    cfg = (ckpt.get("train_config") or {}).get("export") or fallback or {}
    act = activations if activations is not None else str(cfg.get("activations", "int8"))
    if act not in ACTIVATIONS:
        raise ExportError(f"activations {act!r}: choose int8 or int16 (TFLite's 16x8 mode)")
    do_snap = bool(snap if snap is not None else cfg.get("snap_weights", False))
    if ckpt.get("arch") != "cnn_student" and (act != "int8" or do_snap) and not (activations == "int16" or snap):
        if log is not None:
            log(f"export: the config's [export] (activations {act}, snap_weights {do_snap}) is for the CNN student; "
                f"this {ckpt.get('arch')} is exported in int8 without snapping")
        act, do_snap = "int8", False
    return act, do_snap


@dataclass
class _Student:
    """The student an export converts, and the contours it converts and checks it with."""
    ckpt_path: Path
    ckpt: dict[str, Any]
    model: Any                   # the torch model converted (snapped when asked)
    checkpoint_model: Any        # the checkpoint's own weights
    state: dict[str, np.ndarray]
    shape: Any                   # rebuild.StudentShape
    T: int
    lstm: bool
    size: str
    calib: np.ndarray            # calibration contours (training part)
    val_x: np.ndarray
    val_y: np.ndarray
    probe: np.ndarray            # the validation contours the parity checks use


def _student(ckpt_path: Path, data: ExportData, activations: str, snap: bool, calib_max: int,
             parity_utterances: int) -> _Student:
    """Load and check the checkpoint and the contours; snap the weights when asked."""
    from .rebuild import is_lstm, student_shape

    if activations not in ACTIVATIONS:
        raise ExportError(f"activations {activations!r}: choose int8 or int16 (TFLite's 16x8 mode)")
    model, ckpt = load_student(ckpt_path)
    checkpoint_model = model
    if (activations == "int16" or snap) and ckpt.get("arch") != "cnn_student":
        raise ExportError(f"--activations int16 and --snap are for the CNN student (the board's 16x8 kernels and "
                          f"the weight snapping have no LSTM); this is a {ckpt.get('arch')}: export it without them")
    if snap:
        from eggemo.train.snap import snap_weights
        try:
            model = snap_weights(model)
        except ValueError as exc:
            raise ExportError(f"snapping the weights to their int8 grid: {exc}") from None
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    T = int(ckpt.get("feature_config", {}).get("T", data.calib.shape[1] if data.calib.ndim == 3 else 0))
    try:
        shape = student_shape(ckpt["arch"], state, ckpt["model_config"], T)
    except ValueError as exc:
        raise ExportError(f"{ckpt_path.name}: {exc}") from None
    lstm = is_lstm(shape)
    calib_all = check_contours(data.calib, "representative (calibration) set", T, shape.in_channels)
    val_x = check_contours(data.val_x, "validation set", T, shape.in_channels)
    return _Student(ckpt_path, ckpt, model, checkpoint_model, state, shape, T, lstm,
                    _size_name(shape.layers, shape.hidden, shape.stack) if lstm else "custom",
                    calib_all[subsample(len(calib_all), calib_max)], val_x, np.asarray(data.val_y, np.int64),
                    val_x[subsample(len(val_x), parity_utterances)])


def _float_models(st: _Student, tmp: Path, tick, log) -> dict[str, Any]:
    """Steps 1-3: ONNX, the Keras rebuild and the float TFLite, each against torch on the probe."""
    from .keras_student import keras_logits
    from .onnx_export import export_onnx, onnx_info, torch_logits
    from .rebuild import build_keras
    from .tflite import convert_float, lstm_clips

    # 1. torch reference and ONNX
    t0 = time.perf_counter()
    ref_probe = torch_logits(st.model, st.probe)
    export_onnx(st.model, tmp / ONNX_FILE, st.T, st.shape.in_channels)
    onnx_diff = _parity("ONNX (onnxruntime)", onnx_logits(str(tmp / ONNX_FILE), st.probe), ref_probe)
    tick("onnx_s", t0)
    log(f"  onnx: opset {onnx_info(tmp / ONNX_FILE)['opset']}, max |logit diff| vs torch {onnx_diff:.2e}")

    # 2. Keras rebuild, float parity before any quantisation
    t0 = time.perf_counter()
    keras_diff = _parity("Keras", keras_logits(build_keras(st.state, st.shape, batch_size=None), st.probe), ref_probe)
    kmodel = build_keras(st.state, st.shape, batch_size=1)
    tick("keras_s", t0)
    log(f"  keras: max |logit diff| vs torch {keras_diff:.2e}")

    # 3. float TFLite
    t0 = time.perf_counter()
    float_buf = convert_float(kmodel)
    float_info = read_model(float_buf)
    check_tflm_ops(float_info)
    if st.lstm:
        _check_clips("float", lstm_clips(float_buf), 0.0)
    float_rt = StudentRuntime(float_buf)
    float_diff = _parity("float TFLite", float_rt.logits_batch(st.probe), ref_probe)
    tick("float_tflite_s", t0)
    log(f"  float tflite: {len(float_buf)} bytes, max |logit diff| vs torch {float_diff:.2e}")
    return dict(kmodel=kmodel, onnx_diff=onnx_diff, keras_diff=keras_diff, float_buf=float_buf,
                float_info=float_info, float_rt=float_rt, float_diff=float_diff)


def _int8_model(st: _Student, kmodel, tick, log):
    """Step 4: the int8 TFLite, calibrated on training contours; its ops and types must be TFLM-ready.
    Returns (model bytes, its ModelInfo, tensor type counts, input/output quantisation)."""
    from .tflite import INT8_CELL_CLIP, convert_int8, lstm_clips

    t0 = time.perf_counter()
    int8_buf = convert_int8(kmodel, st.calib)
    tick("int8_convert_s", t0)
    int8_info = read_model(int8_buf)
    check_tflm_ops(int8_info)
    type_counts = check_int8_types(int8_info)
    if st.lstm:
        _check_clips("int8", lstm_clips(int8_buf), INT8_CELL_CLIP)
        fused = int8_info.ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM")
        if fused != 2 * st.shape.layers:
            raise ExportError(f"expected {2 * st.shape.layers} fused UNIDIRECTIONAL_SEQUENCE_LSTM ops, found "
                              f"{fused}: the LSTMs were not fused; nothing was written")
    else:
        convs = int8_info.ops.count("CONV_2D")
        if convs != st.shape.layers:
            raise ExportError(f"expected {st.shape.layers} CONV_2D ops (one per block, BatchNorm and ReLU fused "
                              f"in), found {convs} in {int8_info.op_counts()}; nothing was written")
    log(f"  int8 tflite: {len(int8_buf)} bytes, ops {int8_info.op_counts()}")
    return int8_buf, int8_info, type_counts, io_quantization(int8_info)


def _int16x8_model(st: _Student, kmodel, float_val: np.ndarray, m_float: dict, ckpt_val: np.ndarray | None,
                   tflm_x: np.ndarray, tick, log):
    """Step 6b: TFLite's 16x8 mode (int16 activations, the same int8 weights). Returns (model bytes, its
    runtime, the report's 16x8 section)."""
    from .tflite import convert_int16x8

    t0 = time.perf_counter()
    w16_buf = convert_int16x8(kmodel, st.calib)
    w16_info = read_model(w16_buf)
    check_tflm_ops(w16_info)
    w16_rt = StudentRuntime(w16_buf)
    w16_val = w16_rt.logits_batch(st.val_x)
    m_w16 = classification_metrics(w16_val, st.val_y)
    w16 = {"file": MODEL_16X8, "size_bytes": w16_info.size_bytes, "op_counts": w16_info.op_counts(),
           "io": io_quantization(w16_info), **m_w16,
           "accuracy_drop_points": round(100.0 * (m_float["accuracy"] - m_w16["accuracy"]), 3),
           "vs_float": agreement(w16_val, float_val, step=w16_rt.output_scale)}
    if ckpt_val is not None:
        w16["vs_checkpoint"] = agreement(w16_val, ckpt_val)
    # whether TFLite Micro runs it too (the board runs it as C either way); what TFLM prints
    # while it tries is the report's, not stray lines on the terminal
    with captured_stderr() as said:
        try:
            w16["tflm"] = {"runs": True, **compare_tflm(w16_buf, tflm_x[:4], tflm_arena_size(w16_buf))}
        except (RuntimeError, ValueError) as exc:
            w16["tflm"] = {"runs": False, "error": (str(exc).splitlines() or [type(exc).__name__])[0],
                           "note": "the board runs this model as C (emo_model.c), checked against "
                                   "ai-edge-litert's reference kernels below"}
    if said.lines():
        w16["tflm"]["tflm_said"] = said.lines()[:8]
        if not w16["tflm"]["runs"]:          # TFLM's own words say more than the interpreter's exception
            w16["tflm"]["error"] = _tflm_words(said.lines())
    tick("int16x8_s", t0)
    log(f"  16x8 tflite: {len(w16_buf)} bytes; accuracy {m_w16['accuracy']:.4f}; argmax agreement with "
        f"float {w16['vs_float']['argmax_agreement']:.4f} ({w16['vs_float']['disagreements']} of "
        f"{len(st.val_x)} differ); TFLite Micro "
        + ("runs it too" if w16["tflm"]["runs"] else f"does not run it ({w16['tflm']['error']}): the board "
                                                     f"runs it as C"))
    return w16_buf, w16_rt, w16


def export_student(ckpt_path: str | Path, out_dir: str | Path, data: ExportData, *, calib_max: int = 256,
                   tflm_utterances: int = 32, parity_utterances: int = 64, activations: str = "int8",
                   snap: bool = False, board: str = DEFAULT_BOARD,
                   log: Callable[[str], None] = _log_default) -> dict[str, Any]:
    """Write all artefacts into out_dir and return the report dict (also written as JSON and MD).
    The model is checked against the memory of `board` (mcu_budget).

    activations "int16" also converts in TFLite's 16x8 mode (int16 activations, the same int8
    weights) and deploys that model (student_16x8.tflite: the board's emo_model.c, the host's
    --model DIR); the int8 model is written and checked beside it. snap puts the checkpoint's
    weights on their int8 grid first (train/snap.py snap_weights), so the quantised model
    parts from the float one only by its activations' rounding; the report says how many
    validation labels the snapping itself changed."""
    from .onnx_export import torch_logits

    t_start = time.perf_counter()
    ckpt_path, out_dir = Path(ckpt_path), Path(out_dir)
    budget = mcu_budget(board)
    st = _student(ckpt_path, data, activations, snap, calib_max, parity_utterances)
    val_x, val_y = st.val_x, st.val_y
    log(f"export: {ckpt_path.name}: {st.size} student ({_describe(st.shape)}), T={st.T}, "
        f"{len(st.calib)} calibration / {len(val_x)} validation utterances")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir.parent) as tmp:
        tmp = Path(tmp)
        timings: dict[str, float] = {}

        def tick(key: str, t0: float) -> None:
            timings[key] = round(time.perf_counter() - t0, 2)

        fl = _float_models(st, tmp, tick, log)                                 # 1-3
        int8_buf, int8_info, type_counts, io = _int8_model(st, fl["kmodel"], tick, log)   # 4

        # 5. accuracy: torch, float TFLite and int8 TFLite on the validation contours
        t0 = time.perf_counter()
        int8_rt = StudentRuntime(int8_buf)
        torch_val = torch_logits(st.model, val_x)
        float_val = fl["float_rt"].logits_batch(val_x)
        int8_val = int8_rt.logits_batch(val_x)
        tick("accuracy_s", t0)
        m_torch = classification_metrics(torch_val, val_y)
        m_float = classification_metrics(float_val, val_y)
        m_int8 = classification_metrics(int8_val, val_y)
        vs_float = agreement(int8_val, float_val, step=int8_rt.output_scale)
        drop = 100.0 * (m_float["accuracy"] - m_int8["accuracy"])
        snapped = ckpt_val = None
        if snap:   # what the snapping alone did, against the checkpoint's own weights
            ckpt_val = torch_logits(st.checkpoint_model, val_x)
            snapped = {"labels_changed": int(np.sum(np.argmax(ckpt_val, 1) != np.argmax(torch_val, 1))),
                       "utterances": int(len(val_x)), "checkpoint": classification_metrics(ckpt_val, val_y),
                       "snapped": m_torch}
        log(f"  accuracy ({data.val_kind}): torch {m_torch['accuracy']:.4f}, float tflite {m_float['accuracy']:.4f}, "
            f"int8 {m_int8['accuracy']:.4f}; argmax agreement int8/float {vs_float['argmax_agreement']:.4f} "
            f"({vs_float['disagreements']} of {vs_float['utterances']} differ; float top-2 margins of those, in int8 "
            f"output steps: {vs_float['disagreement_margins_steps']})")

        # 6. TFLite Micro: arena, and outputs against the TFLite interpreter
        t0 = time.perf_counter()
        arena = tflm_arena_size(int8_buf)
        tflm_x = val_x[subsample(len(val_x), tflm_utterances)]
        tflm = compare_tflm(int8_buf, tflm_x, arena)
        tick("tflm_s", t0)
        log(f"  tflm: arena {arena} bytes; vs ai-edge-litert on {tflm['utterances']} utterances: logits max "
            f"{tflm['max_lsb_diff']} LSB, argmax agreement {tflm['argmax_agreement']:.4f}, ops fed identical "
            f"inputs max {tflm['kernel_max_lsb_diff']} LSB")
        if tflm["kernel_max_lsb_diff"] > TFLM_MAX_LSB:
            raise ExportError(f"TFLite Micro and ai-edge-litert disagree by {tflm['kernel_max_lsb_diff']} LSB on an op fed "
                              f"identical inputs (> {TFLM_MAX_LSB}; per op: {tflm['per_op_max_lsb_diff']}): the MCU "
                              f"would not run the model that was verified; nothing was written")
        leak = state_leak(int8_buf, val_x[:min(len(val_x), 8)])

        # 6b. the 16x8 model, deployed when asked
        w16 = None
        deploy_buf, deploy_rt, deploy_file = int8_buf, int8_rt, INT8_MODEL
        if activations == "int16":
            deploy_buf, deploy_rt, w16 = _int16x8_model(st, fl["kmodel"], float_val, m_float, ckpt_val, tflm_x,
                                                        tick, log)
            deploy_file = MODEL_16X8

        # 7. write: ONNX is already in tmp; the rest now
        (tmp / FLOAT_MODEL).write_bytes(fl["float_buf"])
        (tmp / INT8_MODEL).write_bytes(int8_buf)
        if w16 is not None:
            (tmp / MODEL_16X8).write_bytes(deploy_buf)
        report = _report(ckpt_path, st.ckpt, st.shape, st.size, data, len(st.calib), len(val_x), tmp, fl["onnx_diff"],
                         fl["keras_diff"], fl["float_diff"], fl["float_info"], int8_info, type_counts, io, m_torch,
                         m_float, m_int8, vs_float, drop, arena, tflm, leak, timings, st.model, w16, snapped, budget)
        cgen.write(int8_buf, cgen.facts_from_report(report), tmp, C_NAME, INT8_MODEL)
        report["c_source"] = {"files": [f"{C_NAME}.h", f"{C_NAME}.c"], "symbol": C_NAME, "align_bytes": cgen.ALIGN}
        t0 = time.perf_counter()
        report["c_inference"] = _c_inference(deploy_buf, deploy_rt, val_x, report["label_names"],
                                             report.get("input", {}).get("feature_config"), tmp, st.lstm, log,
                                             deploy_file)
        tick("c_inference_s", t0)
        _deployed_budget(report)
        report["timings_s"]["total_s"] = round(time.perf_counter() - t_start, 2)
        from .report import render_markdown
        (tmp / REPORT).write_text(json.dumps(report, indent=2) + "\n")
        (tmp / REPORT_MD).write_text(render_markdown(report))
        out_dir.mkdir(exist_ok=True)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out_dir / f.name)
    log(f"  wrote {out_dir}/: {ONNX_FILE}, {FLOAT_MODEL}, {INT8_MODEL}, " + (f"{MODEL_16X8} (deployed), " if w16 else "")
        + f"{C_NAME}.c/.h, emo_model.c/.h, {REPORT}, {REPORT_MD}")
    return report


def _c_inference(int8_buf: bytes, int8_rt: StudentRuntime, val_x: np.ndarray, label_names, feature_config,
                 tmp: Path, lstm: bool, log: Callable[[str], None], source: str = INT8_MODEL) -> dict[str, Any]:
    """Write the deployed graph (int8 or 16x8, in int8_buf) as C (emo_model.c/.h, export/cmodel.py)
    and check it, compiled for this machine, against ai-edge-litert's reference kernels on every
    validation utterance."""
    from . import cmodel

    if lstm:
        return {"available": False, "reason": "the C inference implements the CNN student's ops; a BiLSTM "
                                              "student runs in TFLite Micro (emo_model_data.c) only"}
    try:
        prog = cmodel.write_program(int8_buf, tmp, tuple(label_names), source, feature_config)
    except cmodel.LoweringError as exc:
        raise ExportError(f"{source} cannot be written as C: {exc}") from None
    with tempfile.TemporaryDirectory(prefix=".cmodel-") as build_dir:
        c = cmodel.CModel(tmp, build_dir)
        diffs, same_argmax = [], 0
        for x in val_x:
            q = int8_rt.quantize_input(x)
            ref, got = int8_rt.run_raw(q).astype(np.int32), c.run(q).astype(np.int32)
            diffs.append(int(np.abs(ref - got).max()))
            same_argmax += int(np.argmax(ref) == np.argmax(got))
    identical = sum(d == 0 for d in diffs)
    log(f"  C inference: scratch {prog.scratch_bytes} B, weights {prog.weight_bytes} B; vs ai-edge-litert on "
        f"{len(diffs)} utterances: {identical} identical, max {max(diffs, default=0)} LSB")
    if identical != len(diffs):
        raise ExportError(f"the generated C inference differs from ai-edge-litert on {len(diffs) - identical} of "
                          f"{len(diffs)} validation utterances (max {max(diffs)} LSB): the board would not run "
                          f"the model that was verified; nothing was written")
    return {"available": True, "source": source, "bits": prog.bits, "files": [f"{cmodel.NAME}.h", f"{cmodel.NAME}.c"],
            "scratch_bytes": prog.scratch_bytes, "streamed_convolutions": len(prog.streams),
            "weight_bytes": prog.weight_bytes, "model_id": prog.model_id, "ops": prog.op_counts,
            "parity": {"utterances": len(diffs), "identical": identical, "max_lsb": max(diffs, default=0),
                       "argmax_agreement": same_argmax / max(len(diffs), 1)}}


def _tflm_words(lines: list[str]) -> str:
    """TFLite Micro's failure as one phrase: the node that failed, then why (it prints the why first)."""
    node = [line for line in lines if line.startswith("Node ")][:1]
    why = [line.rstrip(".") for line in lines if not line.startswith("Node ")][:2]
    return "; ".join(node) + (": " if node and why else "") + "; ".join(why)


def _mcu_verdict(mcu: dict[str, Any], model_bytes: int) -> str:
    if mcu["model_fits_flash"] and mcu["fits_ram"]:
        return "fits"
    return "does not fit: " + "; ".join(
        ([f"model {model_bytes} B > flash {mcu['flash_bytes']} B"] if not mcu["model_fits_flash"] else [])
        + ([f"{mcu['ram_use']} {mcu['ram_needed_bytes']} B > RAM {mcu['ram_bytes']} B"] if not mcu["fits_ram"] else []))


def _deployed_budget(report: dict[str, Any]) -> None:
    """The RAM budget is the deployed model's. Where the board runs it as C (a CNN student, int8 or
    16x8: emo_model.c) that is the C inference's scratch, and TFLite Micro's arena (of the int8 model)
    stays in the report as a cross-check, not a target; a BiLSTM student keeps the arena, as TFLite
    Micro runs it."""
    c = report.get("c_inference") or {}
    if not c.get("available"):
        return
    scratch = int(c["scratch_bytes"])
    targets = report["targets"]
    if "tflm_arena_bytes" in targets:            # the edge targets
        del targets["tflm_arena_bytes"]
        targets["c_scratch_bytes"] = {"value": scratch, "limit": TARGETS["edge_max_arena_bytes"],
                                      "met": scratch <= TARGETS["edge_max_arena_bytes"]}
    mcu = report["mcu"]
    mcu.update(runtime=f"C inference ({c['source']}, emo_model.c)", ram_use="C scratch", ram_needed_bytes=scratch,
               fits_ram=scratch <= mcu["ram_bytes"])
    mcu["verdict"] = _mcu_verdict(mcu, report["int8"]["size_bytes"])


def _report(ckpt_path, ckpt, shape, size, data, n_calib, n_val, tmp, onnx_diff, keras_diff, float_diff,
            float_info, int8_info, type_counts, io, m_torch, m_float, m_int8, vs_float, drop, arena, tflm, leak,
            timings, model, w16=None, snapped=None, budget=None) -> dict[str, Any]:
    import ai_edge_litert
    import tensorflow as tf
    import tflite_micro
    from eggemo.train.models import count_parameters

    from .onnx_export import onnx_info
    from .rebuild import describe, is_lstm, shape_facts
    from .tflite import INT8_CELL_CLIP

    lstm = is_lstm(shape)
    int8_bytes = int8_info.size_bytes
    budget = budget or mcu_budget()
    fits_flash = int8_bytes <= budget["flash_bytes"]
    fits_ram = arena <= budget["ram_bytes"]
    edge = size != "paper"        # the MCU targets apply to every student but the host-only paper size
    # the accuracy targets are the deployed model's (the 16x8 one when there is one)
    d_drop = drop if w16 is None else w16["accuracy_drop_points"]
    d_agree = (vs_float if w16 is None else w16["vs_float"])["argmax_agreement"]
    targets = {
        "accuracy_drop_points": {"value": round(d_drop, 3), "limit": TARGETS["max_accuracy_drop_points"],
                                 "met": d_drop <= TARGETS["max_accuracy_drop_points"]},
        "argmax_agreement": {"value": d_agree, "limit": TARGETS["min_argmax_agreement"],
                             "met": d_agree >= TARGETS["min_argmax_agreement"]},
    }
    targets["tflm_vs_litert_max_lsb"] = {"value": tflm["max_lsb_diff"], "limit": TFLM_MAX_LSB,
                                         "met": tflm["max_lsb_diff"] <= TFLM_MAX_LSB}
    if edge:
        targets["int8_bytes"] = {"value": int8_bytes, "limit": TARGETS["edge_max_int8_bytes"],
                                 "met": int8_bytes <= TARGETS["edge_max_int8_bytes"]}
        targets["tflm_arena_bytes"] = {"value": arena, "limit": TARGETS["edge_max_arena_bytes"],
                                       "met": arena <= TARGETS["edge_max_arena_bytes"]}
    # the RAM the deployed model needs: TFLite Micro's arena here, the C scratch where the board runs C
    mcu = {**budget, "model_fits_flash": fits_flash, "arena_fits_ram": fits_ram, "runtime": "TFLite Micro",
           "ram_use": "TFLM arena", "ram_needed_bytes": arena, "fits_ram": fits_ram}
    mcu["verdict"] = _mcu_verdict(mcu, int8_bytes)
    return {
        "format": "eggemo-export-report-v1",
        "checkpoint": {"path": str(ckpt_path), "sha256": _sha256(Path(ckpt_path)), "arch": ckpt["arch"],
                       "model_config": ckpt["model_config"], "student_size": size,
                       "shape": shape_facts(shape), "description": describe(shape),
                       "deployed_parameters": count_parameters(model, deployed_only=True)},
        "label_names": list(ckpt["label_names"]),
        "input": {"frames": shape.T, "channels": shape.in_channels,
                  **({"frames_per_lstm_step": shape.stack, "lstm_steps": shape.steps} if lstm else
                     {"frames_after_blocks": shape.lengths[-1]}),
                  "channel_names": list(ckpt.get("feature_config", {}).get("student_inputs", [])),
                  "feature_config": ckpt.get("feature_config", {})},
        "data": {"calibration": {"source": data.calib_source, "utterances_used": n_calib,
                                 "utterances_available": int(len(data.calib))},
                 "validation": {"source": data.val_source, "kind": data.val_kind, "utterances": n_val}},
        "parity_vs_torch": {"tolerance": PARITY_TOL, "onnx": onnx_diff, "keras": keras_diff,
                            "float_tflite": float_diff},
        "onnx": {"file": ONNX_FILE, **onnx_info(tmp / ONNX_FILE)},
        "float": {"file": FLOAT_MODEL, "size_bytes": float_info.size_bytes, "ops": list(float_info.ops),
                  **{f"{k}": v for k, v in m_float.items()}},
        "torch": m_torch,
        "int8": {"file": INT8_MODEL, "size_bytes": int8_bytes, "size_kib": round(int8_bytes / 1024, 1),
                 "ops": list(int8_info.ops), "op_counts": int8_info.op_counts(),
                 "ops_all_in_tflm": True, "tensor_types": type_counts, "io": io,
                 **m_int8, "accuracy_drop_points": round(drop, 3), "vs_float": vs_float,
                 "state_leak_without_reset_lsb": leak,
                 **({"lstm_cell_clip": {"float": 0.0, "int8": INT8_CELL_CLIP},
                     "lstm_cell_state_scale_log2": [int(round(np.log2(t.scale[0]))) for t in int8_info.tensors
                                                    if t.scale and any(r.endswith(":input19") for r in t.roles)]}
                    if lstm else {})},
        "deploy": {"file": INT8_MODEL if w16 is None else MODEL_16X8,
                   "activations": "int8" if w16 is None else "int16", "snapped_weights": snapped is not None},
        **({"int16x8": w16} if w16 is not None else {}),
        **({"snap": snapped} if snapped is not None else {}),
        "tflm": {"arena_bytes": arena, "arena_kib": round(arena / 1024, 1), **tflm,
                 "note": "arena measured with the tflite-micro Python interpreter on x86-64 (64-bit pointers); "
                         "a 32-bit MCU build needs slightly less for its per-tensor structs"},
        "mcu": mcu,
        "targets": targets,
        "runtimes": {"host": f"ai-edge-litert {ai_edge_litert.__version__ if hasattr(ai_edge_litert, '__version__') else ''}".strip(),
                     "tflite_micro": tflite_micro.__version__, "tensorflow": tf.__version__,
                     "tflite_runtime": "not used: 2.14.0 installs beside numpy 2 but fails at Interpreter() "
                                       "(built against NumPy 1.x); see docs/export.md"},
        "timings_s": timings,
    }
