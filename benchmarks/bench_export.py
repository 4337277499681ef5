"""Export benchmark: host inference time per 3 s utterance (T = 300 frames of F0), one at a time.

    .venv/bin/python benchmarks/bench_export.py                       # edge BiLSTM, CNN and paper students
    .venv/bin/python benchmarks/bench_export.py --sizes edge cnn
    .venv/bin/python benchmarks/bench_export.py --checkpoint best.pt --calib train.npz

Rows per student: float torch (batch 1), float TFLite and int8 TFLite in ai-edge-litert (the host
runtime, state reset before each utterance as in eggemo.runtime), and the int8 model in the
TFLite Micro Python interpreter (reference kernels on x86, not MCU timing). Ratios are against float
torch measured in the same run. Without --checkpoint the students have torch's seeded initial
weights and calibrate on synthetic contours: the time of an LSTM or a convolution does not depend
on its weights. "cnn" is the 1-D convolutional student (CNN_BENCH: 4 blocks x 64 channels,
kernel 5, stride 2 at blocks 1 and 2, meanmax pooling) on 6 input channels.
The same number of threads (--threads, default 1) is given to torch and to the TFLite interpreter.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def per_call(fn, min_seconds: float, min_calls: int = 3) -> float:
    """Median seconds per call over repeated calls (after one warm-up)."""
    fn()
    times: list[float] = []
    t_end = time.perf_counter() + min_seconds
    while time.perf_counter() < t_end or len(times) < min_calls:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


CNN_BENCH = {"in_channels": 6, "width": 64, "layers": 4, "kernel": 5, "strides_at": [1, 2], "pooling": "meanmax"}


def synthetic_contours(n: int, T: int = 300, seed: int = 0, channels: int = 2) -> np.ndarray:
    """(n, T, channels): log-F0 and voicing, then (for more channels) stand-ins for the other student
    inputs: the log-F0 change per frame and smooth noise on voiced frames."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, T, channels), np.float32)
    for i in range(n):
        v = np.zeros(T, bool)
        v[rng.integers(5, 40):T - rng.integers(5, 60)] = True
        x[i, :, 0] = np.where(v, np.cumsum(rng.normal(0, 0.05, T)) + rng.normal(0, 0.5), 0)
        x[i, :, 1] = v
        if channels > 2:
            x[i, :, 2] = np.diff(x[i, :, 0], prepend=x[i, 0, 0])
        for c in range(3, channels):
            x[i, :, c] = np.where(v, np.convolve(rng.normal(0, 1, T), np.ones(9) / 3, mode="same"), 0)
    return x


def bench_student(label: str, model, arch: str, model_config: dict, calib: np.ndarray, threads: int,
                  min_seconds: float) -> list[tuple]:
    import torch

    from eggemo.export.rebuild import build_keras, student_shape
    from eggemo.runtime import StudentRuntime
    from eggemo.export.tflite import convert_float, convert_int8
    from eggemo.export.verify import tflm_arena_size, _tflm_interpreter

    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    shape = student_shape(arch, state, model_config, calib.shape[1])
    kmodel = build_keras(state, shape, batch_size=1)
    t0 = time.perf_counter()
    float_buf = convert_float(kmodel)
    int8_buf = convert_int8(kmodel, calib)
    convert_s = time.perf_counter() - t0
    x = calib[0]
    xt = torch.from_numpy(x[None])

    def run_torch():
        with torch.no_grad():
            model(xt)

    f_rt, q_rt = StudentRuntime(float_buf, num_threads=threads), StudentRuntime(int8_buf, num_threads=threads)
    micro = _tflm_interpreter(int8_buf, tflm_arena_size(int8_buf))
    xq = q_rt.quantize_input(x)[None]

    def run_tflm():
        micro.reset()
        micro.set_input(xq, 0)
        micro.invoke()

    t_torch = per_call(run_torch, min_seconds)
    torch_bytes = 4 * sum(v.size for k, v in state.items() if not k.startswith("project."))
    rows = [(label, "float torch", t_torch, torch_bytes)]
    rows.append((label, "float TFLite (ai-edge-litert)", per_call(lambda: f_rt.logits(x), min_seconds), len(float_buf)))
    rows.append((label, "int8 TFLite (ai-edge-litert)", per_call(lambda: q_rt.logits(x), min_seconds), len(int8_buf)))
    rows.append((label, "int8 TFLite Micro (Python, x86)", per_call(run_tflm, min_seconds), len(int8_buf)))
    print(f"  {label}: conversion to float + int8 TFLite took {convert_s:.1f} s; TFLM arena "
          f"{tflm_arena_size(int8_buf)} bytes", flush=True)
    return [(*r, t_torch) for r in rows]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["edge", "cnn", "paper"], choices=["edge", "cnn", "paper"],
                   help="edge / paper: the named BiLSTM students; cnn: the convolutional student (CNN_BENCH)")
    p.add_argument("--checkpoint", type=Path, help="a student checkpoint instead of the seeded students")
    p.add_argument("--calib", type=Path, help="with --checkpoint: FeatureSet .npz to calibrate with")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--min-seconds", type=float, default=2.0, help="measuring time per row")
    a = p.parse_args(argv)

    import torch

    from eggemo.train.models import STUDENT_SIZES, build_model

    torch.set_num_threads(a.threads)
    students = []
    if a.checkpoint is not None:
        from eggemo.export.pipeline import load_student
        from eggemo.train.featureset import FeatureSet
        model, ckpt = load_student(a.checkpoint)
        channels = int(ckpt["model_config"].get("in_channels", 2))
        calib = FeatureSet.load(a.calib).f0[:64] if a.calib else synthetic_contours(
            64, ckpt["feature_config"].get("T", 300), channels=channels)
        students.append((a.checkpoint.name, model, ckpt["arch"], ckpt["model_config"], calib))
    else:
        for size in a.sizes:
            torch.manual_seed(0)
            if size == "cnn":
                c = CNN_BENCH
                label = f"cnn {c['layers']}x{c['width']} k{c['kernel']}"
                students.append((label, build_model("cnn_student", **c).eval(), "cnn_student", c,
                                 synthetic_contours(64, channels=c["in_channels"])))
                continue
            kw = STUDENT_SIZES[size]
            stack = f"/{kw['stack']}" if kw.get("stack", 1) > 1 else ""
            students.append((f"{size} {kw['layers']}x{kw['hidden']}{stack}",
                             build_model("bilstm_student", **kw).eval(), "bilstm_student", dict(kw),
                             synthetic_contours(64)))
    rows = []
    for label, model, arch, config, calib in students:
        rows += bench_student(label, model, arch, config, calib, a.threads, a.min_seconds)
    print(f"\nHost inference per 3 s utterance (T=300, batch 1, {a.threads} thread(s)); ratio = time / float torch")
    print(f"| {'student':<14} | {'runtime':<32} | {'ms / utt':>9} | {'ratio':>6} | {'model bytes':>11} |")  # torch: float32 weights
    print(f"|{'-' * 16}|{'-' * 34}|{'-' * 10}:|{'-' * 7}:|{'-' * 12}:|")
    for label, name, t, size, base in rows:
        print(f"| {label:<14} | {name:<32} | {1e3 * t:>9.2f} | {t / base:>6.2f} | {size:>11} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
