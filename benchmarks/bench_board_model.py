"""The student on the board: instructions per inference, RAM and flash, against TFLite Micro's figures.

    python benchmarks/bench_board_model.py [--export DIR] [--utterances 6]

Builds the QEMU firmware twice, without and with a model (`make MODEL=`), and streams synthetic
EGG utterances of about 3 s through the emulated STM32F405 (-icount shift=0: one instruction per
ns, so the board's own cost counter reads instructions). The model is the export given, or a
student of configs/eggemo.toml's shape (the recipe's width and depth, all nine F0-core channels)
with random weights: cost and size do not depend on the weights. Each EMOTION frame carries the
instructions the board spent on that utterance's features and inference; the F0 core's mean cost
per 10 ms hop, measured in the same run, is the baseline. RAM and flash come from the linker
map (per object), beside the TFLite Micro arena and the .tflite size the export reports.
With --activations both (the default for the random-weight student), the same student is also
exported in TFLite's 16x8 mode (int16 activations, what configs/eggemo.toml deploys) and its model
cost, scratch, RAM and flash are set beside the int8 model's, as ratios.
Prints tables; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_firmware import sizes, table  # noqa: E402
from eggemo.host.emulator import build_firmware, missing_tools  # noqa: E402
from tests.firmware.qemu_board import QemuBoard  # noqa: E402

CPU_HZ = 168_000_000
INFER_GOAL = 17_000_000                    # 0.1 s of the 168 MHz core
CHIP_FLASH, CHIP_RAM = 1024 * 1024, 128 * 1024
ALL_CHANNELS = ("log_f0", "voiced", "delta_log_f0", "periodicity", "energy", "delta_energy", "cq", "jitter",
                "shimmer")


def recipe_student_export(root: Path, corpus: dict, export_args: tuple[str, ...] = ()) -> Path:
    """`eggemo export` of a random-weight student of configs/eggemo.toml's [student] shape."""
    import tests.host.conftest as hc

    student = tomllib.loads((ROOT / "configs" / "eggemo.toml").read_text())["student"]
    shape = {k: student[k] for k in ("width", "layers", "kernel", "strides_at", "pooling", "pyramid",
                                     "input_moments", "head", "feature_dim")}
    saved = hc.SMALL_CNN
    hc.SMALL_CNN = {**shape, "dropout": 0.0}
    root.mkdir(parents=True, exist_ok=True)
    try:
        return hc.export_test_student(root, corpus, ALL_CHANNELS, arch="cnn_student", f0_norm="speaker",
                                      export_args=export_args)
    finally:
        hc.SMALL_CNN = saved


def build_model_only_cost(build: Path, export: Path) -> Path:
    """The firmware with the model, its EMOTION cost counting the model alone (no features)."""
    cmd = ["make", "-C", str(ROOT / "firmware"), "BOARD=qemu", f"BUILD={build}", f"MODEL={export.resolve()}",
           f"PYTHON={sys.executable}", "EXTRA_CFLAGS=-DEMO_APP_COST_MODEL_ONLY"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return build / "eggemo.elf"


def map_sizes(map_file: Path) -> dict[str, int]:
    """Bytes per input object in .bss/.data (RAM) and .text/.rodata (flash), from a GNU ld map
    (a long section name puts its address, size and object on the next line)."""
    out: dict[str, int] = {}
    pending = None
    for line in map_file.read_text().splitlines():
        if pending is not None:
            line, pending = pending + " " + line.strip(), None
        m = re.match(r"^ (\.\w+)(?:\.\S+)?\s*$", line)
        if m:
            pending = line.rstrip()
            continue
        m = re.match(r"^ (\.\w+)(?:\.\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+\.o)\s*$", line)
        if m:
            kind = {".bss": "ram", ".data": "ram", ".text": "flash", ".rodata": "flash"}.get(m.group(1))
            if kind:
                key = f"{Path(m.group(4)).name}:{kind}"
                out[key] = out.get(key, 0) + int(m.group(3), 16)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", type=Path, help="an `eggemo export` folder of a CNN student (default: the "
                                               "recipe's shape with random weights)")
    ap.add_argument("--utterances", type=int, default=6, help="utterances streamed")
    ap.add_argument("--activations", choices=["int8", "int16", "both"], default="both",
                    help="for the random-weight student: export int8, 16x8, or both side by side (default)")
    args = ap.parse_args()
    if missing_tools():
        print(f"needs {', '.join(missing_tools())}")
        return 1
    from tests.host.conftest import synthetic_utterances
    corpus = synthetic_utterances()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        flags = {"int8": ("--activations", "int8", "--no-snap"), "int16": ("--activations", "int16", "--snap")}
        first = "int16" if args.activations == "int16" else "int8"
        export = args.export or recipe_student_export(tmp / "student", corpus, flags[first])
        report = json.loads((export / "export_report.json").read_text())
        base_elf = build_firmware(tmp / "fw-base", "qemu")
        model_elf = build_firmware(tmp / "fw-model", "qemu", model=export)
        keys = sorted(corpus)[-args.utterances:]
        silence = np.zeros(16000, np.int16)
        stream = np.concatenate([p for k in keys for p in (silence, corpus[k][1])] + [silence])
        with QemuBoard(model_elf, timeout=60.0) as board:
            res = board.stream(stream)
        with QemuBoard(build_model_only_cost(tmp / "fw-model-only", export), timeout=60.0) as board:
            model_only = np.array([e.cost for e in board.stream(stream).emotions], np.int64)
        costs = np.array([e.cost for e in res.emotions], np.int64)
        lengths = np.array([(e.last - e.first + 1) / 100.0 for e in res.emotions])
        hop = res.status.hop_cost_mean
        base_flash, base_ram = sizes(base_elf)
        flash, ram = sizes(model_elf)
        per_obj = map_sizes(model_elf.with_suffix(".map"))
        wide = None
        if args.export is None and args.activations == "both":
            export16 = recipe_student_export(tmp / "student16", corpus, flags["int16"])
            elf16 = build_firmware(tmp / "fw-model16", "qemu", model=export16)
            with QemuBoard(elf16, timeout=60.0) as board:
                ems16 = board.stream(stream).emotions
            with QemuBoard(build_model_only_cost(tmp / "fw-model16-only", export16), timeout=60.0) as board:
                only16 = np.array([e.cost for e in board.stream(stream).emotions], np.int64)
            wide = {"report": json.loads((export16 / "export_report.json").read_text()), "cost": only16,
                    "sizes": sizes(elf16), "total": np.array([e.cost for e in ems16], np.int64),
                    "lengths": np.array([(e.last - e.first + 1) / 100.0 for e in ems16])}
    ci, tflm = report.get("c_inference", {}), report.get("tflm", {})
    print(f"model: {report.get('checkpoint', {}).get('shape_line') or report.get('checkpoint', {})}")
    print(f"streamed {len(keys)} utterances ({len(stream) / 16000:.1f} s); the board classified {len(costs)}")
    if len(costs) == 0:
        print("no EMOTION frames: nothing to measure")
        return 1
    table(f"Instructions per utterance (features + {report.get('deploy', {}).get('activations', 'int8')} inference; QEMU -icount shift=0)",
          ["what", "instructions", "x F0 hop", "ms at 168 MHz", "goal"],
          [["F0 core, mean per 10 ms hop (baseline)", f"{hop:,}", "1.0", f"{hop / CPU_HZ * 1e3:.2f}", ""],
           ["inference, mean", f"{int(costs.mean()):,}", f"{costs.mean() / hop:.0f}",
            f"{costs.mean() / CPU_HZ * 1e3:.1f}", f"<= {INFER_GOAL:,}: {'met' if costs.mean() <= INFER_GOAL else 'MISSED'}"],
           ["inference, utterances of 3 s or more (mean)", f"{int(costs[lengths >= 3.0].mean()):,}"
            if np.any(lengths >= 3.0) else "-", "", "", ""],
           ["inference, max", f"{int(costs.max()):,}", f"{costs.max() / hop:.0f}", f"{costs.max() / CPU_HZ * 1e3:.1f}", ""],
           ["  of which the model (mean)", f"{int(model_only.mean()):,}", f"{model_only.mean() / hop:.0f}",
            f"{model_only.mean() / CPU_HZ * 1e3:.1f}", ""],
           ["  of which features + normalisation (mean)", f"{int(costs.mean() - model_only.mean()):,}",
            f"{(costs.mean() - model_only.mean()) / hop:.0f}",
            f"{(costs.mean() - model_only.mean()) / CPU_HZ * 1e3:.1f}", ""]])
    print(f"  utterance lengths {lengths.min():.1f}..{lengths.max():.1f} s; the model reads "
          f"{report.get('input', {}).get('frames')} frames (3 s) whatever the length, so the cost hardly varies")
    objs = {k.split(":")[0] for k in per_obj}
    model_objs = [o for o in ("emo_model.o", "emo_nn.o", "emo_seg.o", "emo_feat.o", "emotion.o") if o in objs]
    rows = [[o, f"{per_obj.get(o + ':ram', 0):,}", f"{per_obj.get(o + ':flash', 0):,}"] for o in model_objs]
    table("What the model adds (linker map, bytes)", ["object", "RAM", "flash"], rows)
    table("Firmware, without and with the model", ["image", "flash", "of 1 MiB", "RAM", "of 128 KiB"],
          [["without a model (baseline)", f"{base_flash:,}", f"{100 * base_flash / CHIP_FLASH:.1f} %", f"{base_ram:,}",
            f"{100 * base_ram / CHIP_RAM:.1f} %"],
           ["with the model", f"{flash:,}", f"{100 * flash / CHIP_FLASH:.1f} %", f"{ram:,}",
            f"{100 * ram / CHIP_RAM:.1f} %"],
           ["ratio", f"{flash / base_flash:.2f}", "", f"{ram / base_ram:.2f}", ""]])
    table("Against TFLite Micro (the export's figures)", ["", "generated C (emo_model.c)", "TFLite Micro"],
          [["tensor memory", f"{ci.get('scratch_bytes', 0):,} B scratch (+ input {report.get('input', {}).get('frames', 0) * report.get('input', {}).get('channels', 0):,} B)",
            f"{tflm.get('arena_bytes', 0):,} B arena"],
           ["model bytes", f"{ci.get('weight_bytes', 0):,} B weights and parameters",
            f"{report.get('int8', {}).get('size_bytes', 0):,} B .tflite (+ interpreter code)"]])
    if wide is not None and len(wide["cost"]):
        c16, (f16, r16) = wide["report"].get("c_inference", {}), wide["sizes"]
        table("16x8 (int16 activations, what configs/eggemo.toml deploys) against int8 (baseline), same student",
              ["", "int8", "16x8", "ratio 16x8 / int8"],
              [["model instructions per utterance (mean)", f"{int(model_only.mean()):,}", f"{int(wide['cost'].mean()):,}",
                f"{wide['cost'].mean() / model_only.mean():.2f}"],
               ["  ms at 168 MHz", f"{model_only.mean() / CPU_HZ * 1e3:.1f}", f"{wide['cost'].mean() / CPU_HZ * 1e3:.1f}",
                ""],
               ["features + inference, utterances of 3 s or more (mean)",
                f"{int(costs[lengths >= 3.0].mean()):,}" if np.any(lengths >= 3.0) else "-",
                f"{int(wide['total'][wide['lengths'] >= 3.0].mean()):,}" if np.any(wide["lengths"] >= 3.0) else "-",
                f"{wide['total'][wide['lengths'] >= 3.0].mean() / costs[lengths >= 3.0].mean():.2f}"
                if np.any(lengths >= 3.0) and np.any(wide["lengths"] >= 3.0) else ""],
               ["  goal: at most 17 M (0.1 s at 168 MHz)", "", "met" if np.any(wide["lengths"] >= 3.0) and
                wide["total"][wide["lengths"] >= 3.0].mean() <= INFER_GOAL else "MISSED or not measured", ""],
               ["scratch (B)", f"{ci.get('scratch_bytes', 0):,}", f"{c16.get('scratch_bytes', 0):,}",
                f"{c16.get('scratch_bytes', 0) / max(ci.get('scratch_bytes', 1), 1):.2f}"],
               ["weights and parameters (B, flash)", f"{ci.get('weight_bytes', 0):,}", f"{c16.get('weight_bytes', 0):,}",
                f"{c16.get('weight_bytes', 0) / max(ci.get('weight_bytes', 1), 1):.2f}"],
               ["firmware RAM (QEMU image, B)", f"{ram:,}", f"{r16:,}", f"{r16 / ram:.2f}"],
               ["firmware flash (B)", f"{flash:,}", f"{f16:,}", f"{f16 / flash:.2f}"]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
