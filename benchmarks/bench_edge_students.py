"""Edge-student candidates side by side: int8 size, TFLM arena and host int8 time per 3 s utterance.

    .venv/bin/python benchmarks/bench_edge_students.py EXPORT_DIR [EXPORT_DIR ...]

Each EXPORT_DIR is the output of `eggemo export` (student_int8.tflite + export_report.json). Size
and arena come from the report (the arena is TFLM's smallest, measured by the export); the times
are measured here, one utterance at a time with the state reset, in ai-edge-litert (the host
runtime) and in the TFLite Micro Python interpreter (reference kernels on x86, not MCU timing).
Models are timed in interleaved rounds so that load on a shared machine hits them alike; ratios
are against the first directory.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.bench_export import synthetic_contours  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", type=Path, help="export folders; the first is the baseline")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median taken)")
    p.add_argument("--utterances", type=int, default=8, help="utterances per model and round")
    a = p.parse_args(argv)

    from eggemo.runtime import INT8_MODEL, REPORT, StudentRuntime
    from eggemo.export.verify import _tflm_interpreter

    models = []
    for d in a.dirs:
        report = json.loads((d / REPORT).read_text())
        buf = (d / INT8_MODEL).read_bytes()
        rt = StudentRuntime(buf)
        x = synthetic_contours(a.utterances, T=rt.input_shape[0])
        xq = [rt.quantize_input(u) for u in x]
        micro = _tflm_interpreter(buf, report["tflm"]["arena_bytes"])
        mc = report["checkpoint"]["model_config"]
        name = f"{mc['layers']}x{mc['hidden']}, stack {mc.get('stack', 1)}"
        models.append({"name": name, "report": report, "rt": rt, "xq": xq, "micro": micro, "lite": [], "tflm": []})

    def lite_once(m: dict) -> float:
        t0 = time.perf_counter()
        for u in m["xq"]:
            m["rt"].run_raw(u)
        return (time.perf_counter() - t0) / len(m["xq"])

    def tflm_once(m: dict) -> float:
        t0 = time.perf_counter()
        for u in m["xq"]:
            m["micro"].reset()
            m["micro"].set_input(np.ascontiguousarray(u[None]), 0)
            m["micro"].invoke()
        return (time.perf_counter() - t0) / len(m["xq"])

    for m in models:                      # warm-up
        lite_once(m)
        tflm_once(m)
    for _ in range(a.rounds):
        for m in models:
            m["lite"].append(lite_once(m))
            m["tflm"].append(tflm_once(m))

    base = models[0]
    b_lite, b_tflm = np.median(base["lite"]), np.median(base["tflm"])
    print(f"\nint8 edge students, per 3 s utterance, 1 thread; ratio = against {base['name']}")
    print("| student | LSTM steps | int8 bytes | TFLM arena bytes | int8 TFLite ms | ratio | TFLM (x86) ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for m in models:
        r = m["report"]
        lite, tflm = np.median(m["lite"]), np.median(m["tflm"])
        steps = r["input"].get("lstm_steps", r["input"]["frames"])
        print(f"| {m['name']} | {steps} | {r['int8']['size_bytes']:,} | {r['tflm']['arena_bytes']:,} | "
              f"{1e3 * lite:.2f} | {lite / b_lite:.2f} | {1e3 * tflm:.2f} | {tflm / b_tflm:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
