"""emo_nn's twin: the integer arithmetic of the edge student's kernels (csrc/emo_nn.c), the lowered
model they run, and the model run in NumPy, the specification the C follows.

    quantize_multiplier, mean_multiplier    a real multiplier as TFLite holds it (Q31 mantissa, shift)
    requant, requant_wide, requant_once     the three ways a kernel rounds an accumulator
    narrow16, argmax                        a 16x8 model's scores as an EMOTION frame carries them
    Op, Program                             a model lowered to kernel calls (export/cmodel.py lower)
    conv, conv_rows, conv_pair, fc          one CONV_2D / FULLY_CONNECTED op of a Program on its input
    run_reference(Program, x)               the Program in NumPy: what the generated C must give

The C side: `native_requant`, `native_requant_wide`, `native_requant_once` (and `_once64`),
`native_narrow16`, `native_argmax`, `native_conv`, `native_conv_rows`, `native_conv_pair` and
`native_fc` call the kernels in eggemo._emo with the same arguments (a refused call is a ValueError
naming the C's status); whole models run in C through the generated emo_model.c (export/cmodel.py
build). tests/core/ holds the two together.

Arithmetic (TFLite's integer scheme, checked op by op against ai-edge-litert's reference kernels;
docs/inference.md): a real multiplier M becomes a Q31 mantissa and an exponent (frexp, mantissa
rounded half away from zero); CONV_2D and FULLY_CONNECTED use one per output channel; every op
rounds the product twice (a rounding doubling high multiply, then a rounding shift) except
FULLY_CONNECTED, which rounds once in 64 bits, and 16x8's CONV_2D, which scales its 64-bit
accumulator with the mantissa cut to 16 bits (requant_wide).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from eggemo.core import check, native


class MultiplierError(ValueError):
    """A requantisation multiplier outside what TFLite's integer arithmetic holds."""


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(mult, shift) with real = mult * 2^(shift - 31), mult in [2^30, 2^31) (or 0)."""
    if real <= 0.0:
        if real == 0.0:
            return 0, 0
        raise MultiplierError(f"negative requantisation multiplier {real}")
    mant, exp = math.frexp(real)
    q = math.floor(mant * (1 << 31) + 0.5)
    if q == 1 << 31:
        q //= 2
        exp += 1
    if exp < -31:
        return 0, 0
    if exp > 30:
        raise MultiplierError(f"requantisation multiplier {real} is too large for TFLite's int8 arithmetic")
    return int(q), int(exp)


def mean_multiplier(real: float, n: int) -> tuple[int, int]:
    """MEAN's multiplier for in_scale / out_scale with 1 / n folded in, as TFLite computes it."""
    mult, shift = quantize_multiplier(real)
    s = min(n.bit_length() - 1, 32, 31 + shift)
    return int((mult << s) // n), shift - s


def requant(x: np.ndarray, mult: int | np.ndarray, shift: int | np.ndarray) -> np.ndarray:
    """NumPy twin of emo_nn_requant (int64 arithmetic, exact)."""
    x = np.asarray(x, np.int64)
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64)
    x = np.clip(x * (np.int64(1) << np.maximum(shift, 0)), -2**31, 2**31 - 1)
    ab = x * mult
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    hi = np.where(num >= 0, num // (1 << 31), -((-num) // (1 << 31)))
    hi = np.where((x == -2**31) & (mult == -2**31), 2**31 - 1, hi)
    e = np.maximum(-shift, 0)
    mask = (np.int64(1) << e) - 1
    rem = hi & mask
    threshold = (mask >> 1) + (hi < 0)
    return (hi >> e) + (rem > threshold)


def requant_wide(x: np.ndarray, mult: int | np.ndarray, shift: int | np.ndarray) -> np.ndarray:
    """NumPy twin of emo_nn_requant_wide: a 64-bit accumulator times M as TFLite's 16x8 CONV_2D
    rounds it, the Q31 mantissa cut to 16 bits (rounded; 0x7FFF at the top), one rounding shift
    by 15 - shift."""
    mult = np.asarray(mult, np.int64)
    reduced = np.where(mult < 0x7FFF0000, (mult + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - np.asarray(shift, np.int64)
    r = (np.asarray(x, np.int64) * reduced + (np.int64(1) << (total - 1))) >> total
    return np.clip(r, -2**31, 2**31 - 1)


def requant_once(x: np.ndarray, mult: int | np.ndarray, shift: int | np.ndarray) -> np.ndarray:
    """NumPy twin of emo_nn_requant_once (FULLY_CONNECTED's single rounding)."""
    total = np.maximum(31 - np.asarray(shift, np.int64), 1)
    r = (np.asarray(x, np.int64) * np.asarray(mult, np.int64) + (np.int64(1) << (total - 1))) >> total
    return np.clip(r, -2**31, 2**31 - 1)


def pack_conv_weights(w: np.ndarray) -> np.ndarray:
    """(ch_out, kernel, ch_in) int8 weights as emo_nn's blocked int16 layout (csrc/emo_nn.h)."""
    ch_out = w.shape[0]
    rows = w.reshape(ch_out, -1).astype(np.int16)
    n = rows.shape[1]
    n4, ch4 = n & ~3, ch_out & ~3
    order = np.concatenate([np.arange(n4).reshape(-1, 4)[:, [0, 2, 1, 3]].reshape(-1), np.arange(n4, n)])
    rows = rows[:, order]                                   # each group of four as j0, j2, j1, j3
    parts = []
    for b in range(0, ch4, 4):
        block = rows[b:b + 4]
        parts.append(block[:, :n4].reshape(4, n4 // 4, 4).transpose(1, 0, 2).reshape(-1))
        parts.append(block[:, n4:].reshape(-1))
    parts.append(rows[ch4:].reshape(-1))
    return np.concatenate(parts).astype(np.int16)


def narrow16(raw: np.ndarray) -> np.ndarray:
    """The int8 scores an EMOTION frame carries for a model's raw output: an int8 model's as they
    are, a 16x8 model's int16 ones as (x + 128) >> 8, saturated (emo_nn_narrow16; their scale is
    256 output scales)."""
    raw = np.asarray(raw)
    if raw.dtype == np.int16:
        return np.clip((raw.astype(np.int32) + 128) >> 8, -128, 127).astype(np.int8)
    return raw


def argmax(scores: np.ndarray) -> int:
    """Index of the largest score, the first on a tie (emo_nn_argmax, emo_nn_argmax16)."""
    return int(np.argmax(np.asarray(scores)))


# --- the lowered model ------------------------------------------------------------------------

@dataclass
class Op:
    kind: str                      # conv | mean | max | mul | requantize | concat | fc
    inputs: list[int]              # tensor ids (a constant operand is a tensor id too)
    output: int
    params: dict = field(default_factory=dict)
    consts: dict = field(default_factory=dict)   # name -> np.ndarray


@dataclass
class Program:
    ops: list[Op]
    sizes: dict[int, int]          # tensor id -> bytes
    consts: dict[int, np.ndarray]  # constant activation-type operands (MUL's ramp)
    input: int
    output: int
    frames: int
    channels: int
    n_classes: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    model_sha256: str
    op_counts: dict[str, int]
    bits: int = 8                  # activations: 8 (int8) or 16 (TFLite's 16x8 mode)
    offsets: dict[int, int] = field(default_factory=dict)   # activation tensor -> scratch offset
    scratch_bytes: int = 0
    streams: dict[int, int] = field(default_factory=dict)   # op k -> tile: op k - 1 streamed into it

    def mid_bytes(self, k: int) -> int:
        """Bytes of the rows of op k - 1's output that one tile of streamed op k reads
        (emo_nn_conv_pair's mid)."""
        a, b = self.ops[k - 1].params, self.ops[k].params
        rows = min((self.streams[k] - 1) * b["stride"] + b["kernel"], a["len_out"])
        return rows * a["ch_out"] * self.bits // 8

    @property
    def model_id(self) -> int:
        """The first four bytes of the model's SHA-256, as a little-endian u32 (EMOTION frames)."""
        return int.from_bytes(bytes.fromhex(self.model_sha256[:8]), "little")

    @property
    def weight_bytes(self) -> int:
        """Constant bytes of the generated C: convolution weights widened to int16 (emo_nn.h), the
        rest as in the .tflite."""
        return sum(int(a.nbytes) * (2 if op.kind == "conv" and name == "weights" else 1)
                   for op in self.ops for name, a in op.consts.items()) + \
            sum(int(a.nbytes) for a in self.consts.values())


# --- the model in NumPy -----------------------------------------------------------------------

def run_reference(prog: Program, x: np.ndarray) -> np.ndarray:
    """The Program in NumPy (the specification the C follows): int8 (frames, channels) -> int8 scores
    (int16 -> int16 for a 16x8 program)."""
    x = np.asarray(x)
    dt = np.dtype(np.int16 if prog.bits == 16 else np.int8)
    if x.dtype != dt or x.shape != (prog.frames, prog.channels):
        raise ValueError(f"input must be {dt} of shape ({prog.frames}, {prog.channels}), got {x.dtype} {x.shape}")
    vals: dict[int, np.ndarray] = {prog.input: x.reshape(-1).astype(np.int64)}
    vals.update({k: v.astype(np.int64) for k, v in prog.consts.items()})
    for op in prog.ops:
        vals[op.output] = eval_op(op, vals)
    return vals[prog.output].astype(dt)


def eval_op(op: Op, vals: dict[int, np.ndarray]) -> np.ndarray:
    """One op of a Program in NumPy; vals maps tensor ids to flat int64 arrays."""
    p = op.params
    if op.kind == "conv":
        return conv(op, vals[op.inputs[0]]).astype(np.int64)
    if op.kind in ("mean", "max"):
        a = vals[op.inputs[0]].reshape(p["outer"], p["len"], p["inner"])
        if op.kind == "max":
            return a.max(axis=1).reshape(-1)
        s = a.sum(axis=1) - p["len"] * p["in_zp"]
        return np.clip(requant(s, p["mult"], p["shift"]) + p["out_zp"], p["qmin"], p["qmax"]).reshape(-1)
    if op.kind == "mul":
        r, cc = np.meshgrid(np.arange(p["rows"]), np.arange(p["cols"]), indexing="ij")
        a = vals[op.inputs[0]][r * p["a_row"] + cc * p["a_col"]] - p["a_zp"]
        b = vals[op.inputs[1]][r * p["b_row"] + cc * p["b_col"]] - p["b_zp"]
        y = requant(a * b, p["mult"], p["shift"]) + p["out_zp"]
        return np.clip(y, p["act_min"], p["act_max"]).reshape(-1)
    if op.kind == "requantize":
        y = requant(vals[op.inputs[0]] - p["in_zp"], p["mult"], p["shift"]) + p["out_zp"]
        return np.clip(y, p["qmin"], p["qmax"])
    if op.kind == "concat":
        return np.concatenate([vals[i] for i in op.inputs])
    if op.kind == "fc":
        return fc(op, vals[op.inputs[0]]).astype(np.int64)
    raise ValueError(f"unknown op kind {op.kind!r}")


def _act(op: Op) -> np.dtype:
    """The activation type of a CONV_2D or FULLY_CONNECTED op: int16 in a 16x8 program, else int8."""
    return np.dtype(np.int16 if op.params["wide"] else np.int8)


def conv(op: Op, x: np.ndarray) -> np.ndarray:
    """A CONV_2D op (emo_nn_conv; emo_nn_conv16 when op.params["wide"]) on its len_in * ch_in input
    values, channels-last: the len_out * ch_out outputs, int8 (int16)."""
    p, c = op.params, op.consts
    a = np.asarray(x, np.int64).reshape(p["len_in"], p["ch_in"]) - p["in_zp"]
    w = c["weights"].astype(np.int64)
    acc = np.tile(c["bias"].astype(np.int64), (p["len_out"], 1))
    for k in range(p["kernel"]):
        src = np.arange(p["len_out"]) * p["stride"] + k - p["pad_before"]
        ok = (src >= 0) & (src < p["len_in"])
        acc[ok] += a[src[ok]] @ w[:, k, :].T
    y = (requant_wide if p["wide"] else requant)(acc, c["mult"][None, :], c["shift"][None, :]) + p["out_zp"]
    return np.clip(y, p["act_min"], p["act_max"]).reshape(-1).astype(_act(op))


def conv_rows(op: Op, held: np.ndarray, first: int, rows: int, t0: int, t1: int) -> np.ndarray:
    """Output frames t0 .. t1 - 1 of a CONV_2D op (emo_nn_conv_rows) from the input frames first ..
    first + rows - 1 alone (held, channels-last). A ValueError where those outputs do not exist or a
    window of theirs reaches a frame of the input that is not held."""
    p = op.params
    n_in, n_out = p["len_in"], p["len_out"]
    lo = max(t0 * p["stride"] - p["pad_before"], 0)                 # the input frames the windows reach
    hi = min((t1 - 1) * p["stride"] - p["pad_before"] + p["kernel"], n_in)
    if not (0 <= t0 <= t1 <= n_out and 0 <= first <= n_in and 0 <= rows <= n_in - first) \
            or (t1 > t0 and lo < hi and not (first <= lo and hi <= first + rows)):
        raise ValueError(f"output frames {t0}..{t1 - 1} from input frames {first}..{first + rows - 1} of "
                         f"{n_in}: parameter out of range or inconsistent")
    x = np.zeros(n_in * p["ch_in"], np.int64)
    x[first * p["ch_in"]:(first + rows) * p["ch_in"]] = np.asarray(held).reshape(-1)[:rows * p["ch_in"]]
    return conv(op, x)[t0 * p["ch_out"]:t1 * p["ch_out"]]


def conv_pair(a: Op, b: Op, tile: int, x: np.ndarray) -> np.ndarray:
    """CONV_2D a streamed into CONV_2D b, `tile` output frames of b at a time (emo_nn_conv_pair): the
    same values as b on a's whole output."""
    if tile < 1 or (a.params["len_out"], a.params["ch_out"]) != (b.params["len_in"], b.params["ch_in"]):
        raise ValueError(f"a pair of convolutions in tiles of {tile}: parameter out of range or inconsistent")
    return conv(b, conv(a, x))


def fc(op: Op, x: np.ndarray) -> np.ndarray:
    """A FULLY_CONNECTED op (emo_nn_fc; emo_nn_fc16 when op.params["wide"]) on its n_in input values:
    the n_out outputs, int8 (int16)."""
    p, c = op.params, op.consts
    acc = c["weights"].astype(np.int64) @ (np.asarray(x, np.int64).reshape(-1) - p["in_zp"]) + c["bias"]
    y = requant_once(acc, c["mult"], c["shift"]) + p["out_zp"]
    return np.clip(y, p["act_min"], p["act_max"]).astype(_act(op))


# --- the C kernels, with the same arguments -------------------------------------------------------

def _per_value(name: str, x, mult, shift, out_dtype) -> np.ndarray:
    ffi, lib = native()
    x, mult, shift = np.broadcast_arrays(np.asarray(x, np.int64), np.asarray(mult, np.int64),
                                         np.asarray(shift, np.int64))
    fn = getattr(lib, name)
    return np.array([fn(int(a), int(m), int(s)) for a, m, s in zip(x.ravel(), mult.ravel(), shift.ravel())],
                    dtype=out_dtype).reshape(x.shape)


def native_requant(x, mult, shift) -> np.ndarray:
    """emo_nn_requant on each value of a 32-bit accumulator (broadcast like requant)."""
    return _per_value("emo_nn_requant", x, mult, shift, np.int64)


def native_requant_wide(x, mult, shift) -> np.ndarray:
    """emo_nn_requant_wide on each value of a 64-bit accumulator."""
    return _per_value("emo_nn_requant_wide", x, mult, shift, np.int64)


def native_requant_once(x, mult, shift) -> np.ndarray:
    """emo_nn_requant_once on each value of a 32-bit accumulator."""
    return _per_value("emo_nn_requant_once", x, mult, shift, np.int64)


def native_requant_once64(x, mult, shift) -> np.ndarray:
    """emo_nn_requant_once64 on each value of a 64-bit accumulator (|x| < 2^32; requant_once's twin
    there)."""
    return _per_value("emo_nn_requant_once64", x, mult, shift, np.int64)


def native_narrow16(raw: np.ndarray) -> np.ndarray:
    """emo_nn_narrow16 of int16 scores."""
    ffi, lib = native()
    raw = np.ascontiguousarray(raw, np.int16)
    out = np.zeros(len(raw), np.int8)
    lib.emo_nn_narrow16(ffi.cast("const int16_t *", ffi.from_buffer(raw)), len(raw),
                        ffi.cast("int8_t *", ffi.from_buffer(out)))
    return out


def native_argmax(scores: np.ndarray) -> int:
    """emo_nn_argmax (int8 scores) or emo_nn_argmax16 (int16)."""
    ffi, lib = native()
    scores = np.ascontiguousarray(scores)
    if scores.dtype == np.int16:
        return int(lib.emo_nn_argmax16(ffi.cast("const int16_t *", ffi.from_buffer(scores)), len(scores)))
    scores = scores.astype(np.int8)
    return int(lib.emo_nn_argmax(ffi.cast("const int8_t *", ffi.from_buffer(scores)), len(scores)))


class _Kernel:
    """A CONV_2D or FULLY_CONNECTED op as the C kernel's parameter struct (emo_nn_conv_t, emo_nn_fc_t or
    their 16x8 twins), its arrays held in C memory (word-aligned) for as long as the struct lives."""

    def __init__(self, op: Op) -> None:
        ffi, _ = native()
        p, c = op.params, op.consts
        self.kind, self.dtype, wide = op.kind, _act(op), p["wide"]
        weights = pack_conv_weights(c["weights"]) if op.kind == "conv" else np.asarray(c["weights"], np.int8)
        self.s = ffi.new(f"emo_nn_{op.kind}{'16' if wide else ''}_t *")
        names = ("len_in", "ch_in", "len_out", "ch_out", "kernel", "stride", "pad_before") if op.kind == "conv" \
            else ("n_in", "n_out")
        for f in names + (() if wide else ("in_zp", "out_zp")) + ("act_min", "act_max"):
            setattr(self.s, f, p[f])
        self._keep = []
        for f, ctype, a in (("weights", "int16_t" if op.kind == "conv" else "int8_t", weights),
                            ("bias", "int64_t" if wide else "int32_t", c["bias"]),
                            ("mult", "int32_t", c["mult"]), ("shift", "int32_t", c["shift"])):
            a = np.ascontiguousarray(a, np.dtype(ctype.removesuffix("_t")))
            buf = ffi.new(f"{ctype}[]", max(a.size, 1))        # malloc'd: word-aligned, as emo_nn_conv asks
            ffi.memmove(buf, a.tobytes(), a.nbytes)
            setattr(self.s, f, buf)
            self._keep.append(buf)

    def ptr(self, a: np.ndarray):
        ffi, _ = native()
        return ffi.from_buffer("int16_t[]" if self.dtype == np.int16 else "int8_t[]", a)

    def values(self, x: np.ndarray, n: int, what: str) -> np.ndarray:
        """x as n contiguous activations of the op's type (a ValueError if it holds fewer)."""
        x = np.ascontiguousarray(np.asarray(x).reshape(-1), self.dtype)
        if x.size < n:
            raise ValueError(f"{what}: {x.size} values, the kernel reads {n}")
        return x

    def call(self, what: str, *args) -> None:
        """emo_nn_<kind>[16]<what>(this struct, *args); a refusal is a ValueError naming the status."""
        _, lib = native()
        name = f"emo_nn_{self.kind}{'16' if self.dtype == np.int16 else ''}{what}"
        check(getattr(lib, name)(self.s, *args), name)


def native_conv(op: Op, x: np.ndarray) -> np.ndarray:
    """emo_nn_conv (emo_nn_conv16) of conv's arguments."""
    k, p = _Kernel(op), op.params
    x = k.values(x, p["len_in"] * p["ch_in"], "conv input")
    out = np.zeros(p["len_out"] * p["ch_out"], k.dtype)
    k.call("", k.ptr(x), k.ptr(out))
    return out


def native_conv_rows(op: Op, held: np.ndarray, first: int, rows: int, t0: int, t1: int) -> np.ndarray:
    """emo_nn_conv_rows (emo_nn_conv16_rows) of conv_rows' arguments. The C checks first and rows
    against the input; held must hold the frames of those it reads."""
    k, p = _Kernel(op), op.params
    read = rows if 0 <= first and 0 <= rows <= p["len_in"] - first else 0    # else the C refuses, reading none
    held = k.values(held, read * p["ch_in"], "conv_rows held frames")
    out = np.zeros(max(t1 - t0, 1) * p["ch_out"], k.dtype)
    k.call("_rows", k.ptr(held), first, rows, t0, t1, k.ptr(out))
    return out[:(t1 - t0) * p["ch_out"]]


def native_conv_pair(a: Op, b: Op, tile: int, x: np.ndarray, mid: np.ndarray | None = None) -> np.ndarray:
    """emo_nn_conv_pair (emo_nn_conv16_pair) of conv_pair's arguments. mid is the rows of a's output
    one tile reads ((tile - 1) * b's stride + b's kernel frames, at most a's len_out); allocated when
    not given (a test passes its own to see that nothing is written past them)."""
    ka, kb, p = _Kernel(a), _Kernel(b), a.params
    x = ka.values(x, p["len_in"] * p["ch_in"], "conv_pair input")
    rows = min((max(tile, 1) - 1) * b.params["stride"] + b.params["kernel"], p["len_out"])
    mid = np.zeros(rows * p["ch_out"], ka.dtype) if mid is None else mid
    if mid.dtype != ka.dtype or not (mid.flags.c_contiguous and mid.flags.writeable) or mid.size < rows * p["ch_out"]:
        raise ValueError(f"conv_pair mid: {mid.size} {mid.dtype} values, the kernel writes {rows * p['ch_out']} "
                         f"{ka.dtype}")
    out = np.zeros(b.params["len_out"] * b.params["ch_out"], kb.dtype)
    ka.call("_pair", kb.s, tile, ka.ptr(x), ka.ptr(mid), kb.ptr(out))
    return out


def native_fc(op: Op, x: np.ndarray) -> np.ndarray:
    """emo_nn_fc (emo_nn_fc16) of fc's arguments."""
    k, p = _Kernel(op), op.params
    x = k.values(x, p["n_in"], "fc input")
    out = np.zeros(p["n_out"], k.dtype)
    k.call("", k.ptr(x), k.ptr(out))
    return out
