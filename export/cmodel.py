"""The int8 student as plain C: the .tflite graph lowered to calls into csrc/emo_nn.c.

`eggemo export` writes emo_model.c / emo_model.h beside student_int8.tflite, and the firmware
build regenerates them from the .tflite (`make -C firmware MODEL=DIR`), so the .tflite stays the
source of truth and the generated C is never committed. No interpreter and no arena allocator
run on the board: the generator resolves every shape, quantisation parameter and buffer offset
here, and the C is one call per op, except that a convolution whose output only the next
convolution reads is streamed into it where that lowers the scratch (emo_nn_conv_pair: the first
one's output is made 16 output frames of the second at a time; the student's largest tensor is
never held whole, which halves its scratch).

    lower(tflite bytes)  -> Program (ops with integer parameters; eggemo.core.nn.run_reference runs it)
    render(Program)      -> (emo_model.h, emo_model.c)
    build(dir)           -> a cffi module of the generated C + csrc/emo_nn.c, for parity tests

TFLite's 16x8 mode (int16 activations, int8 weights; export/tflite.py convert_int16x8) lowers too,
to the kernels' 16x8 twins (emo_nn_conv16 ...; the firmware runs both kinds): the same ops
with int16 clamps and 64-bit biases, CONV_2D's 64-bit accumulator scaled by requant_wide (the Q31
mantissa cut to 16 bits, one rounding) and FULLY_CONNECTED's by requant_once; MEAN, MUL and
QUANTIZE round as in int8 (checked op by op against ai-edge-litert's reference kernels on two
trained students, and in tests/export).

Quantisation facts (TFLite's int8 scheme, checked op by op against ai-edge-litert's reference
kernels, docs/inference.md): a real multiplier M becomes a Q31 mantissa and an exponent
(frexp, mantissa rounded half away from zero); CONV_2D and FULLY_CONNECTED use one per output
channel, M = in_scale * w_scale[c] / out_scale in double; every op rounds the product twice
(a rounding doubling high multiply, then a rounding shift) except FULLY_CONNECTED, which rounds
once in 64 bits; MEAN folds 1/len into its multiplier
by shifting the mantissa left by floor(log2 len) (at most 32, at most 31 + shift) and dividing by
len with truncation; PAD pads with the zero point, which a convolution that skips frames outside
the input reproduces exactly, so PAD is folded into the convolution that reads it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import struct
import sys
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from eggemo.core.feat import CHANNEL_CODES, CROP_CODES, NORM_CODES, PAPER_INPUTS, STUDENT_INPUTS
from eggemo.core.nn import MultiplierError, Op, Program, mean_multiplier, pack_conv_weights, quantize_multiplier

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
NAME = "emo_model"
ALIGN = 4

_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_INT8, _INT16, _INT32, _INT64 = (schema.TensorType.INT8, schema.TensorType.INT16, schema.TensorType.INT32,
                                 schema.TensorType.INT64)
_ACT_TYPES = {_INT8: 8, _INT16: 16}          # activation tensor type -> bits
_ACT_NONE, _ACT_RELU = 0, 1


class LoweringError(ValueError):
    """The .tflite holds something the C inference does not implement; the message says what."""




# --- the lowered program ---------------------------------------------------------------

def _act_range(fused: int, zp: int, what: str, bits: int = 8) -> tuple[int, int]:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if fused == _ACT_NONE:
        return lo, hi
    if fused == _ACT_RELU:
        return max(lo, zp), hi
    raise LoweringError(f"{what} has fused activation {fused}; the C inference takes none or RELU")


def _check_16x8(ops: list[Op]) -> None:
    """The ranges csrc/emo_nn.c's 16x8 kernels hold (emo_nn.h): zero points 0, convolution windows
    of at most 512 values, CONV_2D multipliers below 2^15, FULLY_CONNECTED accumulators below 2^32."""
    for op in ops:
        p, c = op.params, op.consts
        if any(p.get(z, 0) != 0 for z in ("in_zp", "out_zp", "a_zp", "b_zp")):
            raise LoweringError(f"{op.kind} with a non-zero int16 zero point; TFLite's 16x8 mode has none")
        if op.kind == "conv" and (p["kernel"] * p["ch_in"] > 512 or int(c["shift"].max()) > 14):
            raise LoweringError("a 16x8 CONV_2D window over 512 values or multiplier of 2^15 or more")
        if op.kind == "fc" and int(np.abs(c["bias"]).max()) + p["n_in"] * 32768 * 128 >= 2**32:
            raise LoweringError("a 16x8 FULLY_CONNECTED whose accumulator can reach 2^32")
        if op.kind in ("mean", "max") and p["len"] > 65535:
            raise LoweringError("a 16x8 reduction over more than 65535 values")


def lower(buf: bytes) -> Program:
    """Read an int8 (or 16x8) .tflite (the CNN student's op set) into a Program; LoweringError
    otherwise, also for a file cut short or corrupted (the flatbuffer reader and the graph walk
    then fail on offsets, indices or shapes the bytes do not hold)."""
    try:
        return _lower(buf)
    except LoweringError:
        raise
    except MultiplierError as exc:
        raise LoweringError(str(exc)) from None
    except (struct.error, IndexError, KeyError, TypeError, ValueError, AttributeError, OverflowError,
            RecursionError, MemoryError) as exc:
        raise LoweringError("not a readable TFLite model (the file is truncated or corrupt); export the student "
                            "again with `eggemo export CHECKPOINT --out DIR`") from None


class _Graph:
    """The .tflite's one subgraph as the lowering reads it: each tensor's shape, quantisation and
    constant data, the activation width, and what earlier ops left for later ones (RESHAPE aliases,
    PAD folded into the convolution that reads it, MUL's constant operands)."""

    def __init__(self, model, bits: int) -> None:
        self.model, self.T, self.bits = model, model.subgraphs[0].tensors, bits
        self.qmin, self.qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        self.wide = bits == 16            # 16x8: 64-bit biases and accumulators, requant_wide
        self.alias: dict[int, int] = {}   # RESHAPE output -> its input's tensor
        self.pads: dict[int, tuple[int, int]] = {}   # PAD output -> (source tensor, frames before)
        self.consts: dict[int, np.ndarray] = {}      # constant activation-type operands

    def shape(self, i: int) -> tuple[int, ...]:
        return tuple(int(d) for d in (self.T[i].shape if self.T[i].shape is not None else ()))

    def qp(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.T[i].quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            raise LoweringError(f"tensor {i} ({self.T[i].name!r}) has no quantisation parameters")
        return np.asarray(q.scale, np.float64), np.asarray(q.zeroPoint, np.int64)

    def sq(self, i: int) -> tuple[float, int]:
        s, z = self.qp(i)
        return float(s[0]), int(z[0])

    def const(self, i: int) -> np.ndarray | None:
        buffers = self.model.buffers
        data = buffers[self.T[i].buffer].data if self.T[i].buffer < len(buffers) else None
        if data is None or len(data) == 0:
            return None
        dt = {_INT8: np.int8, _INT16: np.int16, _INT32: np.int32, _INT64: np.int64}.get(self.T[i].type)
        if dt is None:
            raise LoweringError(f"constant tensor {i} has type {self.T[i].type}; the C inference takes "
                                f"int8/int16/int32/int64")
        return np.frombuffer(bytes(data), dt).reshape(self.shape(i)).copy()

    def src(self, i: int) -> int:
        """The tensor that holds i's values (through RESHAPEs, which move no data)."""
        while i in self.alias:
            i = self.alias[i]
        return i

    def per_channel(self, x: int, w_id: int, out: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(mult, shift) per output channel: M = in_scale * w_scale[c] / out_scale."""
        (si, _), (so, _) = self.sq(x), self.sq(out)
        ws = np.broadcast_to(self.qp(w_id)[0], (n,))
        mq = [quantize_multiplier(si * float(s) / so) for s in ws]
        return np.array([m for m, _ in mq], np.int32), np.array([s for _, s in mq], np.int32)


# One function per TFLite op: (graph, op name, inputs, output, options) -> the Op (None when the op
# only tells the next one something: PAD is folded into the convolution that reads it).

def _pad(g: _Graph, name: str, ins: list[int], out: int, opt) -> None:
    p = g.const(ins[1])
    if p is None or g.sq(ins[0]) != g.sq(out) or len(g.shape(ins[0])) != 4 or np.any(np.delete(p, 1, axis=0)):
        raise LoweringError("PAD other than zero-point padding of the frame axis of a (1, T, 1, C) tensor")
    g.pads[out] = (ins[0], int(p[1, 0]))


def _conv(g: _Graph, name: str, ins: list[int], out: int, opt) -> Op:
    x, w_id, b_id = ins[0], ins[1], ins[2]
    pad_before = 0
    if x in g.pads:
        x, pad_before = g.pads.pop(x)
    xs, ys, w, b = g.shape(x), g.shape(out), g.const(w_id), g.const(b_id)
    if w is None or b is None:
        raise LoweringError("CONV_2D with non-constant weights or bias")
    if len(xs) != 4 or xs[2] != 1 or w.shape[2] != 1 or opt.strideW not in (0, 1) \
            or opt.dilationHFactor != 1 or opt.dilationWFactor != 1:
        raise LoweringError(f"CONV_2D on {xs} with kernel {w.shape}: the C inference takes (k x 1) "
                            f"kernels over a (1, T, 1, C) input, no dilation")
    K, stride, L, Lout = w.shape[1], int(opt.strideH), xs[1], ys[1]
    if opt.padding == schema.Padding.SAME:
        pad_before += max((Lout - 1) * stride + K - L, 0) // 2
    (_, zi), (_, zo) = g.sq(x), g.sq(out)
    mult, shift = g.per_channel(x, w_id, out, w.shape[0])
    lo, hi = _act_range(opt.fusedActivationFunction, zo, "CONV_2D", g.bits)
    return Op("conv", [g.src(x)], out,
              dict(len_in=L, ch_in=xs[3], len_out=Lout, ch_out=ys[3], kernel=K, stride=stride,
                   pad_before=pad_before, in_zp=zi, out_zp=zo, act_min=lo, act_max=hi, wide=g.wide),
              dict(weights=w[:, :, 0, :].astype(np.int8), bias=b.astype(np.int64 if g.wide else np.int32),
                   mult=mult, shift=shift))


def _reduce(g: _Graph, name: str, ins: list[int], out: int, opt) -> Op:
    xs = g.shape(ins[0])
    axes = sorted({int(a) % len(xs) for a in np.atleast_1d(g.const(ins[1]))})
    if axes != list(range(axes[0], axes[-1] + 1)):
        raise LoweringError(f"{name} over axes {axes}, not contiguous")
    outer = int(np.prod(xs[:axes[0]]))
    n = int(np.prod([xs[a] for a in axes]))
    inner = int(np.prod(xs[axes[-1] + 1:]))
    (si, zi), (so, zo) = g.sq(ins[0]), g.sq(out)
    p = dict(outer=outer, len=n, inner=inner, in_zp=zi, out_zp=zo, mult=0, shift=0, qmin=g.qmin, qmax=g.qmax)
    if name == "MEAN":
        if si == so and zi == zo:
            raise LoweringError("MEAN with identical input and output quantisation (TFLite's plain "
                                "integer mean) is not implemented")
        p["mult"], p["shift"] = mean_multiplier(si / so, n)
    elif (si, zi) != (so, zo):
        raise LoweringError("REDUCE_MAX that changes quantisation")
    return Op("mean" if name == "MEAN" else "max", [g.src(ins[0])], out, p)


def _mul(g: _Graph, name: str, ins: list[int], out: int, opt) -> Op:
    a, b_ = ins
    ys = g.shape(out)
    rows, cols = int(np.prod(ys[:-1])), ys[-1]

    def strides(i: int) -> tuple[int, int]:
        s = (1,) * (len(ys) - len(g.shape(i))) + g.shape(i)
        r = int(np.prod(s[:-1]))
        if r not in (rows, 1) or s[-1] not in (cols, 1):
            raise LoweringError(f"MUL broadcast of {g.shape(i)} to {ys} is not implemented")
        return (s[-1] if r == rows else 0), (1 if s[-1] == cols else 0)

    (s1, z1), (s2, z2), (so, zo) = g.sq(a), g.sq(b_), g.sq(out)
    for i in (a, b_):
        c = g.const(i)
        if c is not None:
            g.consts[i] = c.reshape(-1)
    m, s = quantize_multiplier(s1 * s2 / so)
    lo, hi = _act_range(opt.fusedActivationFunction if opt is not None else 0, zo, "MUL", g.bits)
    (ar, ac), (br, bc) = strides(a), strides(b_)
    return Op("mul", [g.src(a), g.src(b_)], out,
              dict(rows=rows, cols=cols, a_row=ar, a_col=ac, b_row=br, b_col=bc, a_zp=z1, b_zp=z2,
                   out_zp=zo, mult=m, shift=s, act_min=lo, act_max=hi))


def _quantize(g: _Graph, name: str, ins: list[int], out: int, opt) -> Op:
    act_type = g.T[g.model.subgraphs[0].inputs[0]].type
    if g.T[ins[0]].type != act_type or g.T[out].type != act_type:
        raise LoweringError("QUANTIZE between types (a float input, or int8 inside a 16x8 model)")
    (si, zi), (so, zo) = g.sq(ins[0]), g.sq(out)
    m, s = quantize_multiplier(si / so)
    return Op("requantize", [g.src(ins[0])], out,
              dict(n=int(np.prod(g.shape(out))), in_zp=zi, out_zp=zo, mult=m, shift=s, qmin=g.qmin, qmax=g.qmax))


def _concat(g: _Graph, name: str, ins: list[int], out: int, opt) -> Op:
    ys = g.shape(out)
    if int(opt.axis) % len(ys) != len(ys) - 1 or int(np.prod(ys[:-1])) != 1:
        raise LoweringError("CONCATENATION other than along the last axis of a vector")
    if any(g.sq(i) != g.sq(out) for i in ins):
        raise LoweringError("CONCATENATION of differently quantised inputs")
    return Op("concat", [g.src(i) for i in ins], out, dict(sizes=[int(np.prod(g.shape(i))) for i in ins]))


def _fully_connected(g: _Graph, name: str, ins: list[int], out: int, opt) -> Op:
    x, w_id, b_id = ins[0], ins[1], ins[2]
    w, b = g.const(w_id), g.const(b_id) if b_id >= 0 else None
    if w is None:
        raise LoweringError("FULLY_CONNECTED with non-constant weights")
    n_out, n_in = w.shape
    b = np.zeros(n_out, np.int64) if b is None else b
    (_, zi), (_, zo) = g.sq(x), g.sq(out)
    mult, shift = g.per_channel(x, w_id, out, n_out)
    lo, hi = _act_range(opt.fusedActivationFunction, zo, "FULLY_CONNECTED", g.bits)
    return Op("fc", [g.src(x)], out, dict(n_in=n_in, n_out=n_out, in_zp=zi, out_zp=zo, act_min=lo, act_max=hi,
                                          wide=g.wide),
              dict(weights=w.astype(np.int8), bias=b.astype(np.int64 if g.wide else np.int32), mult=mult,
                   shift=shift))


_LOWERINGS = {"PAD": _pad, "CONV_2D": _conv, "MEAN": _reduce, "REDUCE_MAX": _reduce, "MUL": _mul,
              "QUANTIZE": _quantize, "CONCATENATION": _concat, "FULLY_CONNECTED": _fully_connected}


def _lower(buf: bytes) -> Program:
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise LoweringError("not a TFLite flatbuffer (no TFL3 identifier)")
    model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    if len(model.subgraphs) != 1:
        raise LoweringError(f"{len(model.subgraphs)} subgraphs; the C inference takes one")
    sg = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    T = sg.tensors
    (inp,), (outp,) = list(sg.inputs), list(sg.outputs)
    for i, what in ((inp, "input"), (outp, "output")):
        if T[i].type not in _ACT_TYPES or T[i].type != T[inp].type:
            raise LoweringError(f"the model's {what} is not int8 (or int16 throughout, TFLite's 16x8 mode); "
                                f"export the full-int8 student")
    g = _Graph(model, _ACT_TYPES[T[inp].type])
    in_shape = g.shape(inp)
    if len(in_shape) != 3 or in_shape[0] != 1:
        raise LoweringError(f"input shape {in_shape}; the C inference takes (1, frames, channels)")

    ops: list[Op] = []
    counts: dict[str, int] = {}
    for op in sg.operators or []:
        name = _OP_NAMES.get(codes[op.opcodeIndex], str(codes[op.opcodeIndex]))
        counts[name] = counts.get(name, 0) + 1
        ins, out = [int(i) for i in op.inputs], int(op.outputs[0])
        if name == "RESHAPE":
            g.alias[out] = ins[0]
            continue
        if name not in _LOWERINGS:
            raise LoweringError(f"op {name} is not implemented by the C inference (csrc/emo_nn.c); it takes "
                                f"CONV_2D, PAD, MEAN, REDUCE_MAX, MUL, QUANTIZE, CONCATENATION, FULLY_CONNECTED, "
                                f"RESHAPE")
        lowered = _LOWERINGS[name](g, name, ins, out, op.builtinOptions)
        if lowered is not None:
            ops.append(lowered)
    if g.pads:
        raise LoweringError("a PAD whose output no convolution reads")
    if g.wide:
        _check_16x8(ops)
    out_id = g.src(outp)
    if not ops or ops[-1].output != out_id:
        raise LoweringError("the model's output is not written by its last op")
    sizes = {op.output: int(np.prod(g.shape(op.output))) * g.bits // 8 for op in ops}
    (isc, izp), (osc, ozp) = g.sq(inp), g.sq(outp)
    prog = Program(ops, sizes, g.consts, inp, out_id, in_shape[1], in_shape[2], int(np.prod(g.shape(outp))),
                   isc, izp, osc, ozp, hashlib.sha256(buf).hexdigest(), counts, bits=g.bits)
    plan(prog)
    stream(prog)
    return prog


STREAM_TILE = 16   # output frames of the second convolution per tile of a streamed pair


def stream(prog: Program, tile: int = STREAM_TILE) -> None:
    """Stream a convolution into the next (emo_nn_conv_pair) where the next is its only reader and
    that lowers the scratch: its output is then held `tile` output frames of the next at a time,
    not whole (the student's first convolution's output is its largest tensor). Re-plans."""
    readers: dict[int, list[int]] = {}
    for k, op in enumerate(prog.ops):
        for i in op.inputs:
            readers.setdefault(i, []).append(k)
    for k in range(1, len(prog.ops)):
        a, b = prog.ops[k - 1], prog.ops[k]
        if a.kind != "conv" or b.kind != "conv" or (k - 1) in prog.streams or a.output == prog.output \
                or readers.get(a.output) != [k] or b.inputs[0] != a.output \
                or (a.params["len_out"], a.params["ch_out"]) != (b.params["len_in"], b.params["ch_in"]):
            continue
        before = prog.scratch_bytes
        prog.streams[k] = tile
        plan(prog)
        if prog.scratch_bytes >= before:
            del prog.streams[k]
            plan(prog)


def plan(prog: Program) -> None:
    """Place every intermediate tensor in one scratch buffer: first fit, largest first, two
    tensors share bytes only when their lifetimes (producing op .. last reading op) do not meet.
    A streamed pair (prog.streams) holds the first convolution's output as one tile's rows, and
    its input stays live until the second convolution has written its last frame."""
    live: dict[int, tuple[int, int]] = {}
    for k, op in enumerate(prog.ops):
        live[op.output] = (k, k)
        for i in op.inputs:
            if i in live:
                live[i] = (live[i][0], k)
        if k in prog.streams and prog.ops[k - 1].inputs[0] in live:
            i = prog.ops[k - 1].inputs[0]
            live[i] = (live[i][0], k)
    sizes = dict(prog.sizes)
    for k in prog.streams:
        sizes[prog.ops[k - 1].output] = prog.mid_bytes(k)
    placed: list[tuple[int, int, int]] = []      # (offset, end, tensor)
    offsets = {}
    for t in sorted((t for t in live if t != prog.output), key=lambda t: (-sizes[t], t)):
        a, b = live[t]
        size = -(-sizes[t] // ALIGN) * ALIGN
        clashes = sorted((o, e) for o, e, u in placed if not (live[u][1] < a or b < live[u][0]))
        off = 0
        for o, e in clashes:
            if off + size <= o:
                break
            off = max(off, e)
        offsets[t] = off
        placed.append((off, off + size, t))
    prog.offsets = offsets
    prog.scratch_bytes = max((e for _, e, _ in placed), default=0)


# --- C -------------------------------------------------------------------------------------

def _array(ctype: str, name: str, a: np.ndarray, align: int = 0) -> str:
    flat = np.asarray(a).reshape(-1)
    rows = [", ".join(str(int(v)) for v in flat[i:i + 24]) for i in range(0, len(flat), 24)]
    aligned = f" __attribute__((aligned({align})))" if align else ""
    return f"static const {ctype} {name}[{len(flat)}]{aligned} = {{\n    " + ",\n    ".join(rows) + "\n};\n"


def _c_float(x: float) -> str:
    return f"{float(np.float32(x))!r}f"


def board_features(feature_config: dict | None, channels: int) -> dict:
    """What the board needs besides the graph: how to build the student's input. Its channels by
    name and their emo_feat_channel_t codes (eggemo.core.feat.CHANNEL_CODES, read from
    csrc/emo_feat.h), crop and normalisation (the host's choose_normaliser without --norm:
    "utterance" stays, speaker statistics become the session's)."""
    fc = feature_config or {}
    names = tuple(fc.get("student_inputs") or PAPER_INPUTS)
    if len(names) != channels:
        raise LoweringError(f"the report names {len(names)} input channels ({list(names)}) but the model reads "
                            f"{channels}: the model and its report come from different exports")
    unknown = [n for n in names if n not in STUDENT_INPUTS]
    if unknown:
        raise LoweringError(f"input channel(s) {unknown} are not ones the board computes ({list(STUDENT_INPUTS)})")
    crop = str(fc.get("crop", "center"))
    if crop not in CROP_CODES:
        raise LoweringError(f"crop {crop!r}: the board crops {list(CROP_CODES)}")
    norm = "utterance" if fc.get("f0_norm") == "utterance" else "session"
    return {"channels": [CHANNEL_CODES[n] for n in names], "names": list(names), "crop": crop, "norm": norm}


def render(prog: Program, label_names: tuple[str, ...], source: str = "student_int8.tflite",
           feature_config: dict | None = None) -> tuple[str, str]:
    """(emo_model.h, emo_model.c) for a lowered Program."""
    feat = board_features(feature_config, prog.channels)
    if len(label_names) != prog.n_classes:
        raise ValueError(f"{len(label_names)} label names for a model with {prog.n_classes} outputs")
    for s in label_names:
        if not s.isascii() or any(ch in s for ch in '"\\\n'):
            raise ValueError(f"label {s!r}: use plain ASCII names without quotes or backslashes")
    note = (f"/* Generated by eggemo export (export/cmodel.py) from {source}; do not edit.\n"
            f" * model SHA-256: {prog.model_sha256}\n"
            f" * ops: {', '.join(f'{k} x{v}' for k, v in prog.op_counts.items())} */\n")
    decls, calls = _render_ops(prog)
    return _render_header(prog, feat, note), _render_source(prog, label_names, feat, note, decls, calls)


def _c_types(prog: Program) -> tuple[str, str, str]:
    """(the activations' C type, the kernels' suffix in csrc/emo_nn.h, the kind's name)."""
    return ("int16_t", "16", "int16") if prog.bits == 16 else ("int8_t", "", "int8")


def _render_header(prog: Program, feat: dict, note: str) -> str:
    act, _, kind = _c_types(prog)
    M = NAME.upper()
    return (
        f"{note}#ifndef {M}_H\n#define {M}_H\n\n#include <stdint.h>\n#include \"emo_common.h\"\n\n"
        f"#define {M}_FRAMES {prog.frames}            /* frames per utterance the model reads */\n"
        f"#define {M}_CHANNELS {prog.channels}           /* input channels per frame */\n"
        f"#define {M}_BITS {prog.bits}            /* activations: int8, or int16 (TFLite's 16x8 mode) */\n"
        f"#define {M}_INPUT_LEN {prog.frames * prog.channels}        /* {kind} input values, frames outer */\n"
        f"#define {M}_N_CLASSES {prog.n_classes}          /* {kind} scores out */\n"
        f"#define {M}_SCRATCH_BYTES {prog.scratch_bytes}   /* caller-owned scratch, {ALIGN}-byte aligned */\n"
        f"#define {M}_WEIGHT_BYTES {prog.weight_bytes}   /* constant weights, biases and requantisation */\n"
        f"#define {M}_INPUT_ZERO_POINT {prog.input_zero_point}\n"
        f"#define {M}_OUTPUT_ZERO_POINT {prog.output_zero_point}\n"
        f"#define {M}_ID {prog.model_id}u       /* first 4 bytes of the .tflite's SHA-256, little-endian */\n\n"
        f"/* {kind} input = round(x / input_scale) + INPUT_ZERO_POINT, saturated */\n"
        f"extern const float {NAME}_input_scale;\n"
        f"/* float logit = ({kind} score - OUTPUT_ZERO_POINT) * output_scale */\n"
        f"extern const float {NAME}_output_scale;\n"
        f"extern const char *const {NAME}_labels[{prog.n_classes}];\n\n"
        f"/* The input the board builds (csrc/emo_feat.h codes): {', '.join(feat['names'])};\n"
        f" * crop {feat['crop']}, normalisation {feat['norm']} */\n"
        f"#define {M}_CROP {CROP_CODES[feat['crop']]}\n"
        f"#define {M}_NORM {NORM_CODES[feat['norm']]}\n"
        f"extern const int32_t {NAME}_channels[{prog.channels}];\n\n"
        f"/* One utterance: input ({M}_INPUT_LEN {kind}), scores ({M}_N_CLASSES {kind}), scratch\n"
        f" * ({M}_SCRATCH_BYTES bytes, {ALIGN}-byte aligned). Bit-exact with TFLite's {kind} kernels. */\n"
        f"emo_status_t {NAME}_run(const {act} *input, {act} *scores, uint8_t *scratch);\n\n"
        f"#endif /* {M}_H */\n")


_C_TYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int16): "int16_t", np.dtype(np.int32): "int32_t",
            np.dtype(np.int64): "int64_t"}


def _render_ops(prog: Program) -> tuple[list[str], list[str]]:
    """(declarations of the constants and each op's parameters, the calls of emo_model_run in order;
    a call starting with memcpy is a statement, the rest return an emo_status_t)."""
    act, sfx, _ = _c_types(prog)
    wide = prog.bits == 16

    def buf(t: int) -> str:
        if t == prog.input:
            return "input"
        if t == prog.output:
            return "scores"
        if t in prog.consts:
            return f"c{t}"
        return f"({act} *)(scratch + {prog.offsets[t]})"

    def fields(p: dict, names: tuple[str, ...]) -> str:
        return ", ".join(f".{f} = {p[f]}" for f in names)

    decls = [_array(act, f"c{t}", a) for t, a in prog.consts.items()]
    calls: list[str] = []
    for k, op in enumerate(prog.ops):
        p, src, dst = op.params, buf(op.inputs[0]), buf(op.output)
        for cname, a in op.consts.items():
            if not (op.kind == "conv" and cname == "weights"):      # written packed below
                decls.append(_array(_C_TYPES[a.dtype], f"op{k}_{cname}", a))
        if op.kind == "conv":
            names = ("len_in", "ch_in", "len_out", "ch_out", "kernel", "stride", "pad_before") + \
                (() if wide else ("in_zp", "out_zp")) + ("act_min", "act_max")
            decls.append(_array("int16_t", f"op{k}_packed", pack_conv_weights(op.consts["weights"]), align=4))
            decls.append(f"static const emo_nn_conv{sfx}_t op{k} = {{{fields(p, names)}, .weights = op{k}_packed, "
                         f".bias = op{k}_bias, .mult = op{k}_mult, .shift = op{k}_shift}};\n")
            if k + 1 in prog.streams:
                continue                      # made tile by tile inside the next op's call
            if k in prog.streams:
                calls.append(f"emo_nn_conv{sfx}_pair(&op{k - 1}, &op{k}, {prog.streams[k]}, "
                             f"{buf(prog.ops[k - 1].inputs[0])}, {src}, {dst})")
            else:
                calls.append(f"emo_nn_conv{sfx}(&op{k}, {src}, {dst})")
        elif op.kind in ("mean", "max"):
            names = ("outer", "len", "inner", "in_zp", "out_zp", "mult", "shift")
            decls.append(f"static const emo_nn_reduce_t op{k} = {{{fields(p, names)}}};\n")
            fn = "emo_nn_mean" if op.kind == "mean" else "emo_nn_reduce_max"
            calls.append(f"{fn}{sfx}(&op{k}, {src}, {dst})")
        elif op.kind == "mul":
            names = ("rows", "cols", "a_row", "a_col", "b_row", "b_col", "a_zp", "b_zp", "out_zp", "mult", "shift",
                     "act_min", "act_max")
            decls.append(f"static const emo_nn_mul_t op{k} = {{{fields(p, names)}}};\n")
            calls.append(f"emo_nn_mul{sfx}(&op{k}, {src}, {buf(op.inputs[1])}, {dst})")
        elif op.kind == "requantize":
            names = ("n", "in_zp", "out_zp", "mult", "shift")
            decls.append(f"static const emo_nn_requantize_t op{k} = {{{fields(p, names)}}};\n")
            calls.append(f"emo_nn_requantize{sfx}(&op{k}, {src}, {dst})")
        elif op.kind == "concat":
            offs = np.concatenate([[0], np.cumsum(p["sizes"])[:-1]])
            calls.append("\n    ".join(f"memcpy({dst} + {off}, {buf(i)}, {n * prog.bits // 8});"
                                        for i, n, off in zip(op.inputs, p["sizes"], offs)))
        elif op.kind == "fc":
            names = ("n_in", "n_out") + (() if wide else ("in_zp", "out_zp")) + ("act_min", "act_max")
            decls.append(f"static const emo_nn_fc{sfx}_t op{k} = {{{fields(p, names)}, .weights = op{k}_weights, "
                         f".bias = op{k}_bias, .mult = op{k}_mult, .shift = op{k}_shift}};\n")
            calls.append(f"emo_nn_fc{sfx}(&op{k}, {src}, {dst})")
    return decls, calls


def _render_source(prog: Program, label_names: tuple[str, ...], feat: dict, note: str, decls: list[str],
                   calls: list[str]) -> str:
    act, _, _ = _c_types(prog)
    labels = ", ".join(f'"{s}"' for s in label_names)
    body = [f'{note}#include "{NAME}.h"\n\n#include <string.h>\n\n#include "emo_nn.h"\n\n',
            f"const float {NAME}_input_scale = {_c_float(prog.input_scale)};\n",
            f"const float {NAME}_output_scale = {_c_float(prog.output_scale)};\n",
            f"const char *const {NAME}_labels[{prog.n_classes}] = {{{labels}}};\n",
            f"const int32_t {NAME}_channels[{prog.channels}] = {{{', '.join(map(str, feat['channels']))}}};\n\n",
            *decls,
            f"\nemo_status_t {NAME}_run(const {act} *input, {act} *scores, uint8_t *scratch)\n{{\n"
            f"    emo_status_t s = EMO_OK;\n"
            f"    if (input == NULL || scores == NULL || scratch == NULL)\n        return EMO_ERR_NULL;\n"
            f"    if (((uintptr_t)scratch & {ALIGN - 1}u) != 0)\n        return EMO_ERR_PARAM;\n"]
    for call in calls:
        if call.startswith("memcpy"):
            body.append(f"    {call}\n")
        else:
            body.append(f"    if ((s = {call}) != EMO_OK)\n        return s;\n")
    body.append("    return s;\n}\n")
    return "".join(body)


def write(tflite: str | Path, out_dir: str | Path, label_names: tuple[str, ...] | None = None,
          feature_config: dict | None = None) -> Program:
    """Lower the file `tflite` and write emo_model.h / emo_model.c into out_dir; returns the Program.
    (main() reads the label names and feature config from the export report beside the model.)"""
    tflite = Path(tflite)
    return write_program(tflite.read_bytes(), out_dir, label_names, tflite.name, feature_config)


def write_program(buf: bytes, out_dir: str | Path, label_names: tuple[str, ...] | None = None,
                  source: str = "student_int8.tflite", feature_config: dict | None = None) -> Program:
    """Lower the .tflite bytes and write emo_model.h / emo_model.c into out_dir; returns the Program."""
    out_dir = Path(out_dir)
    prog = lower(buf)
    labels = tuple(label_names) if label_names else tuple(f"class{i}" for i in range(prog.n_classes))
    header, body = render(prog, labels, source, feature_config)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{NAME}.h").write_text(header)
    (out_dir / f"{NAME}.c").write_text(body)
    return prog


# --- a cffi build of the generated C, for parity tests and the host ------------------------

def build(c_dir: str | Path, tmp_dir: str | Path):
    """Compile c_dir/emo_model.c with csrc/emo_nn.c into a cffi module (in tmp_dir); returns (ffi, lib)."""
    from cffi import FFI

    from eggemo._cbuild import CFLAGS, cdef_from_header

    c_dir, tmp_dir = Path(c_dir).resolve(), Path(tmp_dir).resolve()
    text = (c_dir / f"{NAME}.h").read_text()
    digest = hashlib.sha256(text.encode() + (c_dir / f"{NAME}.c").read_bytes()).hexdigest()[:12]
    modname = f"_emo_model_{digest}"
    if modname in sys.modules:
        mod = sys.modules[modname]
        return mod.ffi, mod.lib
    ffi = FFI()
    ffi.cdef(cdef_from_header((CSRC / "emo_common.h").read_text()) + "\n" + cdef_from_header(text))
    ffi.set_source(modname, f'#include "{NAME}.h"',
                   sources=[str(c_dir / f"{NAME}.c"), str(CSRC / "emo_nn.c"), str(CSRC / "emo_common.c")],
                   include_dirs=[str(c_dir), str(CSRC)], extra_compile_args=CFLAGS)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    so = ffi.compile(tmpdir=str(tmp_dir), verbose=False)
    spec = importlib.util.spec_from_file_location(modname, so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[modname] = mod
    return mod.ffi, mod.lib


class CModel:
    """The generated C inference, callable from Python (the board's arithmetic on the host)."""

    def __init__(self, c_dir: str | Path, tmp_dir: str | Path) -> None:
        self.ffi, self.lib = build(c_dir, tmp_dir)
        self.frames, self.channels = self.lib.EMO_MODEL_FRAMES, self.lib.EMO_MODEL_CHANNELS
        self.n_classes = self.lib.EMO_MODEL_N_CLASSES
        self.dtype = np.dtype(np.int16 if self.lib.EMO_MODEL_BITS == 16 else np.int8)
        self._ctype = "int16_t[]" if self.dtype == np.int16 else "int8_t[]"
        self._scratch = np.zeros(max(self.lib.EMO_MODEL_SCRATCH_BYTES, 1) + ALIGN, np.uint8)
        start = (-self._scratch.ctypes.data) % ALIGN
        self._scratch_view = self._scratch[start:]

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, self.dtype)
        if x.shape != (self.frames, self.channels):
            raise ValueError(f"input must be {self.dtype} ({self.frames}, {self.channels}), got {x.shape}")
        out = np.zeros(self.n_classes, self.dtype)
        s = self.lib.emo_model_run(self.ffi.from_buffer(self._ctype, x), self.ffi.from_buffer(self._ctype, out),
                                   self.ffi.from_buffer("uint8_t[]", self._scratch_view))
        if s != 0:
            raise RuntimeError(f"emo_model_run failed with status {s}")
        return out


def main(argv: list[str] | None = None) -> int:
    """Write emo_model.c / emo_model.h from the model an export folder deploys (the firmware build):
    student_int8.tflite, or student_16x8.tflite after `eggemo export --activations int16`."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m eggemo.export.cmodel", description=main.__doc__)
    p.add_argument("export_dir", type=Path, help="folder written by `eggemo export`")
    p.add_argument("--out", type=Path, required=True, help="folder for emo_model.c/.h")
    a = p.parse_args(argv)
    from eggemo.runtime import deployed_model

    report = a.export_dir / "export_report.json"
    try:
        model = deployed_model(a.export_dir)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not model.is_file():
        print(f"error: {model} not found; run `eggemo export CHECKPOINT --out {a.export_dir}` first", file=sys.stderr)
        return 2
    labels, fc, written = None, None, None
    if report.is_file():
        try:
            r = json.loads(report.read_text())
            labels = tuple(r["label_names"])
            fc = r.get("input", {}).get("feature_config")
            c_inf = r.get("c_inference") or {}
            if c_inf.get("source") == model.name and isinstance(c_inf.get("model_id"), int):
                written = c_inf["model_id"]        # the id of the bytes the export verified
        except (ValueError, KeyError, TypeError, AttributeError):
            print(f"error: {report} is not a readable export report; export again", file=sys.stderr)
            return 2
    try:
        buf = model.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {model}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    got = int.from_bytes(hashlib.sha256(buf).digest()[:4], "little")       # Program.model_id
    if written is not None and got != written:
        print(f"error: {model} is not the model `eggemo export` verified (model id {got:#010x}, its report "
              f"says {written:#010x}): the file changed or is corrupt; export the student again with "
              f"`eggemo export CHECKPOINT --out {a.export_dir}`", file=sys.stderr)
        return 2
    try:
        prog = write_program(buf, a.out, labels, model.name, fc)
    except LoweringError as exc:
        print(f"error: {model}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {a.out}: {exc.strerror or exc}; choose a writable --out", file=sys.stderr)
        return 2
    print(f"wrote {a.out / (NAME + '.c')} and {a.out / (NAME + '.h')}: scratch {prog.scratch_bytes} B, "
          f"weights {prog.weight_bytes} B, model id {prog.model_id:#010x}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
