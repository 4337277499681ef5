"""Check exported students against the model they came from, and TFLite against TFLite Micro.

Functions take arrays and model bytes and return arrays or plain dicts; nothing here writes files.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from eggemo.runtime import StudentRuntime, dequantize

ARENA_ALIGN = 16


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy (share of argmax == label) and unweighted accuracy (mean per-class recall)."""
    pred = np.argmax(logits, axis=1)
    labels = np.asarray(labels)
    recalls = [float(np.mean(pred[labels == c] == c)) for c in np.unique(labels)]
    return {"accuracy": float(np.mean(pred == labels)) if len(labels) else float("nan"),
            "unweighted_accuracy": float(np.mean(recalls)) if recalls else float("nan")}


def agreement(a: np.ndarray, b: np.ndarray, step: float | None = None) -> dict[str, Any]:
    """Argmax agreement and max/mean |difference| between two (N, n_classes) logit arrays, `b`
    being the reference. With `step` (the int8 output's quantisation step), also where the
    disagreements lie: the reference's top-2 margin of each one, in steps, and the agreement on
    the utterances whose reference margin is at least one step. Below one step the two best
    classes are tied at the int8 output's resolution, so which one int8 picks is rounding."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = np.abs(a - b)
    same = a.argmax(1) == b.argmax(1)
    out: dict[str, Any] = {"argmax_agreement": float(np.mean(same)),
                           "max_abs_logit_diff": float(d.max()) if d.size else 0.0,
                           "mean_abs_logit_diff": float(d.mean()) if d.size else 0.0,
                           "disagreements": int(np.sum(~same)), "utterances": int(len(same))}
    if step is not None and len(b) and b.shape[1] > 1:
        top2 = np.sort(b, axis=1)[:, -2:]
        margin = (top2[:, 1] - top2[:, 0]) / step
        clear = margin >= 1.0
        out.update({"output_step": float(step),
                    "disagreement_margins_steps": sorted(round(float(m), 3) for m in margin[~same]),
                    "below_one_step": int(np.sum(~clear)),
                    "disagreements_below_one_step": int(np.sum(~same & ~clear)),
                    "argmax_agreement_beyond_one_step": float(np.mean(same[clear])) if clear.any() else float("nan")})
    return out


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


class Captured:
    """What was written to fd 2 inside `captured_stderr()`, once the block has ended."""
    text: str = ""

    def lines(self) -> list[str]:
        return [line.strip() for line in self.text.splitlines() if line.strip()]


@contextlib.contextmanager
def captured_stderr() -> Iterator[Captured]:
    """Take what native code (TFLite Micro's MicroPrintf) writes straight to fd 2 while probing a
    model, so the export reports it instead of printing stray lines beside its own."""
    import tempfile

    said = Captured()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buf:
        try:
            os.dup2(buf.fileno(), 2)
            yield said
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            buf.seek(0)
            said.text = buf.read().decode("utf-8", "replace")


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


def compare_tflm(model: bytes, f0: np.ndarray, arena_size: int) -> dict[str, Any]:
    """TFLM against ai-edge-litert on the same int8 inputs, every tensor kept in both.

    The final outputs come from a TFLM interpreter in an arena of `arena_size` (the one the
    firmware will use); the per-op ones from a second TFLM interpreter that keeps every tensor.

    - final output: largest difference in LSBs, bit-exact share, argmax agreement;
    - kernels: every op whose (non-constant) inputs were bit-identical in both runtimes is
      checked on its own. For a feed-forward op that is its whole output. For an LSTM it is the
      first time step: both kernels start from the same zero state, but they are different
      implementations of the integer LSTM, so a rounding difference at one step carries into
      the state and can grow over 300 steps (its whole-sequence difference is reported apart).
      Downstream, those differences travel on through the network as well.
    """
    import ai_edge_litert.schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tflite_micro import runtime as tflm

    from .tflite_check import read_model

    info = read_model(model)
    sizes = sum(int(np.prod(t.shape)) * 4 for t in info.tensors)
    micro = tflm.Interpreter.from_bytes(bytes(model), arena_size=max(8 << 20, 4 * sizes),
                                        intrepreter_config=tflm.InterpreterConfig.kPreserveAllTensors)
    deployed = _tflm_interpreter(model, arena_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "preserve_all_tensors is for debugging": that is the use here
        lite = Interpreter(model_content=bytes(model), experimental_preserve_all_tensors=True,
                           experimental_op_resolver_type=OpResolverType.BUILTIN_REF)   # as StudentRuntime
    lite.allocate_tensors()
    inp, out = lite.get_input_details()[0], lite.get_output_details()[0]
    rt = StudentRuntime(model)
    sg = schema.ModelT.InitFromPackedBuf(bytearray(model), 0).subgraphs[0]
    skip = {t.index for t in info.tensors if t.is_constant or t.is_variable}
    kernel_lsb = [0] * len(info.ops)
    kernel_seen = [0] * len(info.ops)
    cumulative = [0] * len(info.ops)
    lstm_seq: dict[int, int] = {}
    finals_lite, finals_micro = [], []
    for x in f0:
        xq = rt.quantize_input(x)[None]
        lite.reset_all_variables()
        lite.set_tensor(inp["index"], xq)
        lite.invoke()
        micro.reset()
        micro.set_input(np.ascontiguousarray(xq), 0)
        micro.invoke()
        deployed.reset()
        deployed.set_input(np.ascontiguousarray(xq), 0)
        deployed.invoke()
        diff: dict[int, int] = {}

        def d(t: int) -> int:
            if t not in diff:
                a = lite.get_tensor(t).astype(np.int64)
                b = np.asarray(micro.GetTensor(t, 0)["tensor_data"]).astype(np.int64).reshape(a.shape)
                diff[t] = int(np.abs(a - b).max()) if a.size else 0
            return diff[t]
        for k, op in enumerate(sg.operators):
            o = int(op.outputs[0])
            cumulative[k] = max(cumulative[k], d(o))
            if all(d(int(t)) == 0 for t in op.inputs if t >= 0 and int(t) not in skip):
                if info.ops[k] == "UNIDIRECTIONAL_SEQUENCE_LSTM":
                    a0 = lite.get_tensor(o)[:, 0].astype(np.int64)
                    b0 = np.asarray(micro.GetTensor(o, 0)["tensor_data"]).astype(np.int64).reshape(
                        lite.get_tensor(o).shape)[:, 0]
                    kernel_lsb[k] = max(kernel_lsb[k], int(np.abs(a0 - b0).max()))
                    lstm_seq[k] = max(lstm_seq.get(k, 0), d(o))
                else:
                    kernel_lsb[k] = max(kernel_lsb[k], d(o))
                kernel_seen[k] += 1
        finals_lite.append(lite.get_tensor(out["index"])[0].astype(np.int64))
        finals_micro.append(np.asarray(deployed.get_output(0)).reshape(-1).astype(np.int64))
    a, b = np.stack(finals_lite), np.stack(finals_micro)
    lsb = np.abs(a - b)
    checked = [k for k in range(len(info.ops)) if kernel_seen[k]]
    return {"utterances": int(len(f0)), "max_lsb_diff": int(lsb.max()) if lsb.size else 0,
            "bit_exact_share": float(np.mean(lsb == 0)) if lsb.size else 1.0,
            "argmax_agreement": float(np.mean(a.argmax(1) == b.argmax(1))),
            "max_abs_logit_diff": float(np.abs(dequantize(a, rt.output_scale, rt.output_zero_point)
                                               - dequantize(b, rt.output_scale, rt.output_zero_point)).max()),
            "kernel_max_lsb_diff": max((kernel_lsb[k] for k in checked), default=0),
            "kernels_checked": [f"{k}:{info.ops[k]}" for k in checked],
            "lstm_fed_identical_inputs_sequence_max_lsb_diff": max(lstm_seq.values(), default=0),
            "per_op_max_lsb_diff": [f"{k}:{info.ops[k]}={cumulative[k]}" for k in range(len(info.ops))]}


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
