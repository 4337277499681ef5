"""Check exported students against the model they came from, and TFLite against TFLite Micro.

Functions take arrays and model bytes and return arrays or plain dicts; nothing here writes files.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import numpy as np

from .runtime import StudentRuntime, dequantize

ARENA_ALIGN = 16


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy (share of argmax == label) and unweighted accuracy (mean per-class recall)."""
    pred = np.argmax(logits, axis=1)
    labels = np.asarray(labels)
    recalls = [float(np.mean(pred[labels == c] == c)) for c in np.unique(labels)]
    return {"accuracy": float(np.mean(pred == labels)) if len(labels) else float("nan"),
            "unweighted_accuracy": float(np.mean(recalls)) if recalls else float("nan")}


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Argmax agreement and max/mean |difference| between two (N, n_classes) logit arrays."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = np.abs(a - b)
    return {"argmax_agreement": float(np.mean(a.argmax(1) == b.argmax(1))),
            "max_abs_logit_diff": float(d.max()) if d.size else 0.0,
            "mean_abs_logit_diff": float(d.mean()) if d.size else 0.0}


# --------------------------------------------------------------------------------------------
# TFLite Micro (the `tflite-micro` package's Python interpreter around the real TFLM runtime)

@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """TFLM prints allocation failures straight to fd 2; silence them while probing arena sizes."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _tflm_interpreter(model: bytes, arena_size: int):
    from tflite_micro import runtime as tflm
    return tflm.Interpreter.from_bytes(bytes(model), arena_size=int(arena_size))


def tflm_arena_size(model: bytes, upper: int = 8 << 20) -> int:
    """The smallest arena (bytes, a multiple of 16) in which TFLM allocates the model's tensors."""
    def fits(n: int) -> bool:
        try:
            with _quiet_stderr():
                _tflm_interpreter(model, n)
            return True
        except RuntimeError:
            return False

    if not fits(upper):
        raise RuntimeError(f"TFLite Micro cannot allocate this model even in {upper} bytes of arena; "
                           f"run it with tflite_micro directly to see the error")
    lo, hi = 0, upper // ARENA_ALIGN          # in units of 16 bytes: lo fails, hi fits
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid * ARENA_ALIGN):
            hi = mid
        else:
            lo = mid
    return hi * ARENA_ALIGN


def tflm_run(model: bytes, x_int8: np.ndarray, arena_size: int) -> np.ndarray:
    """Raw int8 outputs (N, n_classes) of TFLM for quantised inputs (N, T, C), state reset per utterance."""
    interp = _tflm_interpreter(model, arena_size)
    out = []
    for x in np.asarray(x_int8):
        interp.reset()
        interp.set_input(np.ascontiguousarray(x[None]), 0)
        interp.invoke()
        out.append(np.array(interp.get_output(0)).reshape(-1))
    return np.stack(out)


def compare_tflm(model: bytes, f0: np.ndarray, arena_size: int) -> dict[str, float | int]:
    """TFLM against ai-edge-litert on the same int8 inputs: largest output difference in LSBs."""
    rt = StudentRuntime(model)
    xq = np.stack([rt.quantize_input(x) for x in f0])
    lite = np.stack([rt.run_raw(x) for x in xq]).astype(np.int32)
    micro = tflm_run(model, xq, arena_size).astype(np.int32)
    lsb = np.abs(lite - micro)
    return {"utterances": int(len(f0)), "max_lsb_diff": int(lsb.max()) if lsb.size else 0,
            "bit_exact_share": float(np.mean(lsb == 0)) if lsb.size else 1.0,
            "argmax_agreement": float(np.mean(lite.argmax(1) == micro.argmax(1))),
            "max_abs_logit_diff": float(np.abs(dequantize(lite, rt.output_scale, rt.output_zero_point)
                                               - dequantize(micro, rt.output_scale, rt.output_zero_point)).max())}


def state_leak(model: bytes, f0: np.ndarray) -> int:
    """Largest output change (raw units) when utterances run back to back without a state reset:
    shows that the reset in StudentRuntime matters (0 would mean the model keeps no state)."""
    rt = StudentRuntime(model)
    reset = np.stack([rt.run_raw(rt.quantize_input(x)) for x in f0]).astype(np.float64)
    interp, inp, out = rt._interp, rt._in, rt._out
    interp.reset_all_variables()
    chained = []
    for x in f0:
        interp.set_tensor(inp["index"], rt.quantize_input(x)[None])
        interp.invoke()
        chained.append(interp.get_tensor(out["index"])[0].copy())
    return int(np.abs(np.stack(chained).astype(np.float64) - reset).max())


# --------------------------------------------------------------------------------------------
# ONNX

def onnx_logits(path: str, f0: np.ndarray) -> np.ndarray:
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: f0[i:i + 64].astype(np.float32)})[0]
                           for i in range(0, len(f0), 64)])
