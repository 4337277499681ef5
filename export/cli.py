"""`eggemo export CHECKPOINT --out DIR`: ONNX, float and int8 (or 16x8) TFLite, C and a report."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eggemo.boards import all_boards
from eggemo.options import add_board


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="student checkpoint (.pt) written by `eggemo train`")
    p.add_argument("--out", type=Path, required=True, help="folder for the artefacts (created)")
    src = p.add_argument_group("representative data (exactly one; real training F0 contours)")
    src.add_argument("--corpus", type=Path, help="corpus folder the student was trained on: features are "
                     "extracted and split as `eggemo train` did (config from the checkpoint)")
    src.add_argument("--features", type=Path, help="a FeatureSet .npz of the whole corpus: split like training")
    src.add_argument("--calib", type=Path, help="FeatureSet .npz of training-split utterances, used as given")
    p.add_argument("--val", type=Path, help="with --calib: FeatureSet .npz of the validation split for accuracy")
    p.add_argument("--calib-max", type=int, default=256, help="calibration utterances to use (default 256; 0 = all)")
    p.add_argument("--activations", choices=["int8", "int16"], default=None,
                   help="int8, or int16 (TFLite's 16x8 mode: int16 activations, int8 weights; deployed as "
                        "student_16x8.tflite, the int8 model written beside it). Default: the [export] table of the "
                        "config the checkpoint was trained with (configs/eggemo.toml: int16), else int8")
    p.add_argument("--snap", action=argparse.BooleanOptionalAction, default=None,
                   help="put the weights on their int8 grid before converting, so the quantised model parts from "
                        "the float one only by its activations' rounding (default: the config's export.snap_weights)")
    add_board(p, "whose flash and RAM the model is checked against (the report's mcu)", all_boards())
    p.add_argument("--tflm-utterances", type=int, default=32,
                   help="validation utterances run in TFLite Micro against ai-edge-litert (default 32; 0 = all)")


def main(args: argparse.Namespace) -> int:
    from eggemo.outpath import check_out_dir
    from eggemo.train.checkpoint import read_checkpoint

    from .data import ExportDataError, load_export_data
    from .pipeline import ExportError, export_settings, export_student, load_student
    from .tflite_check import ExportCheckError

    try:
        check_out_dir(args.out, "--out")   # before minutes of export work
        load_student(args.checkpoint)   # the kind check first: no feature extraction for a teacher
        ckpt = read_checkpoint(args.checkpoint)
        data = load_export_data(ckpt, corpus=args.corpus, features=args.features, calib=args.calib,
                                val=args.val)
        activations, snap = export_settings(ckpt, args.activations, args.snap,
                                            log=lambda m: print(m, file=sys.stderr))
        report = export_student(args.checkpoint, args.out, data, calib_max=args.calib_max,
                                tflm_utterances=args.tflm_utterances, activations=activations, snap=snap,
                                board=args.board)
    except (ExportError, ExportDataError, ExportCheckError, FileNotFoundError, ValueError) as exc:
        print(f"eggemo export: {exc}", file=sys.stderr)
        return 2
    missed = [k for k, v in report["targets"].items() if not v["met"]]
    if missed:
        print(f"eggemo export: targets not met: {', '.join(missed)} (see {args.out}/export_report.md)",
              file=sys.stderr)
    return 0
