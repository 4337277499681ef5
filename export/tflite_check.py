"""What is inside a .tflite file, and whether TFLite Micro can run it as an int8 model.

Reads the flatbuffer with the schema bindings that ship with ai-edge-litert (no TensorFlow), so
the checks run wherever the host runtime does.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

# Builtin ops of TensorFlow Lite Micro's op resolver that this project allows on the MCU.
# Two ops that current TFLM trees register are left out on purpose:
# - REVERSE_V2: missing from the TFLM releases the issue targets (a Keras Bidirectional wrapper
#   emits it); the export reverses time with a constant-index GATHER instead.
# - WHILE: what an unfused LSTM becomes (Keras 3, onnx2tf); dozens of small ops per step, far
#   slower and larger than UNIDIRECTIONAL_SEQUENCE_LSTM.
TFLM_OPS: frozenset[str] = frozenset("""
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE
DEPTHWISE_CONV_2D DEQUANTIZE DETECTION_POSTPROCESS DIV ELU EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS
FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER GREATER_EQUAL HARD_SWISH
IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG LOG_SOFTMAX LOGICAL_AND LOGICAL_NOT
LOGICAL_OR LOGISTIC MAX_POOL_2D MAXIMUM MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2
PRELU QUANTIZE READ_VARIABLE REDUCE_MAX REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND
SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF
TANH TRANSPOSE TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE ZEROS_LIKE
""".split())

LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"
# Tensors of an int8 model that are legitimately not int8, as (op, input index) -> type.
# TFLite's LSTM input order: 0 input, 1-8 weights, 9-11 peepholes, 12-15 gate biases,
# 16-17 projection, 18 output (hidden) state, 19 cell state, 20-23 layer-norm coefficients.
ALLOWED_NON_INT8: dict[tuple[str, int], str] = {
    **{(LSTM, i): "INT32" for i in (12, 13, 14, 15)},     # gate biases
    (LSTM, 17): "INT32",                                  # projection bias
    (LSTM, 19): "INT16",                                  # cell state (16-bit, as TFLM requires)
    **{(LSTM, i): "INT16" for i in (20, 21, 22, 23)},     # layer-norm coefficients
    ("FULLY_CONNECTED", 2): "INT32", ("CONV_2D", 2): "INT32", ("DEPTHWISE_CONV_2D", 2): "INT32",
    ("GATHER", 1): "INT32",                               # constant time-reversal indices
    **{("STRIDED_SLICE", i): "INT32" for i in (1, 2, 3)}, # begin/end/strides
    ("RESHAPE", 1): "INT32", ("MEAN", 1): "INT32", ("SUM", 1): "INT32",
    ("REDUCE_MAX", 1): "INT32", ("PAD", 1): "INT32",      # reduction axes, paddings (CNN student)
}

_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


class ExportCheckError(ValueError):
    """A converted model that must not be shipped; the message names the problem."""


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    type: str                    # "INT8", "INT16", "INT32", "FLOAT32", ...
    shape: tuple[int, ...]
    is_variable: bool
    is_constant: bool
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    roles: tuple[str, ...]       # "OP:input3", "OP:output0", "OP:intermediate", "model_input", ...


@dataclass(frozen=True)
class ModelInfo:
    size_bytes: int
    ops: tuple[str, ...]         # in execution order
    tensors: tuple[TensorInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def op_counts(self) -> dict[str, int]:
        return dict(Counter(self.ops))

    def type_counts(self) -> dict[str, int]:
        return dict(Counter(t.type for t in self.tensors))


def read_model(buf: bytes) -> ModelInfo:
    """Parse a .tflite flatbuffer: ops in order, every tensor with its type and roles."""
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ExportCheckError("not a TFLite flatbuffer (no TFL3 identifier)")
    model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    if len(model.subgraphs) != 1:
        raise ExportCheckError(f"the model has {len(model.subgraphs)} subgraphs; TFLM-ready students have "
                               f"one (more means control flow such as WHILE or IF)")
    sg = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    ops: list[str] = []
    roles: dict[int, list[str]] = {}
    for op in sg.operators or []:
        name = _OP_NAMES.get(codes[op.opcodeIndex], f"BUILTIN_{codes[op.opcodeIndex]}")
        if name == "CUSTOM":
            name = "CUSTOM:" + model.operatorCodes[op.opcodeIndex].customCode.decode()
        ops.append(name)
        for kind, idxs in (("input", op.inputs), ("output", op.outputs), ("intermediate", op.intermediates)):
            for k, t in enumerate([] if idxs is None else idxs):
                if t >= 0:
                    roles.setdefault(int(t), []).append(f"{name}:{kind}{k if kind != 'intermediate' else ''}")
    for t in sg.inputs:
        roles.setdefault(int(t), []).append("model_input")
    for t in sg.outputs:
        roles.setdefault(int(t), []).append("model_output")
    tensors = []
    for i, t in enumerate(sg.tensors):
        q = t.quantization
        data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
        tensors.append(TensorInfo(
            index=i, name=(t.name or b"").decode(errors="replace"), type=_TYPE_NAMES.get(t.type, str(t.type)),
            shape=tuple(int(d) for d in (t.shape if t.shape is not None else ())),
            is_variable=bool(t.isVariable), is_constant=data is not None and len(data) > 0,
            scale=tuple(float(s) for s in (q.scale if q is not None and q.scale is not None else ())),
            zero_point=tuple(int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None else ())),
            roles=tuple(roles.get(i, ()))))
    return ModelInfo(size_bytes=len(buf), ops=tuple(ops), tensors=tuple(tensors),
                     inputs=tuple(int(t) for t in sg.inputs), outputs=tuple(int(t) for t in sg.outputs))


def check_tflm_ops(info: ModelInfo) -> None:
    """Raise naming every op that the project's TFLite Micro op set does not have."""
    missing = sorted(set(info.ops) - TFLM_OPS)
    if missing:
        hints = {
            "REVERSE_V2": "build the backward LSTM over a GATHER-reversed input (export/keras_student.py), "
                          "not a Keras Bidirectional wrapper",
            "WHILE": "the LSTM was not fused: build it with tf_keras (Keras 2), not Keras 3 or onnx2tf",
        }
        detail = "; ".join(f"{op}: {hints.get(op, 'not implemented in TFLite Micro')}" for op in missing)
        raise ExportCheckError(f"the model uses op(s) TFLite Micro lacks: {', '.join(missing)} ({detail})")


def check_int8_types(info: ModelInfo) -> dict[str, int]:
    """Every tensor int8, apart from the int16 cell states, int32 biases and int32 index operands the
    op specs require, and the empty float 'intermediate' tensors that carry LSTM quantisation
    parameters. Returns the count per type; raises naming every tensor out of line."""
    bad: list[str] = []
    for t in info.tensors:
        if t.type == "INT8":
            continue
        if t.type == "FLOAT32" and t.roles and all(r.endswith(":intermediate") for r in t.roles) \
                and int(np.prod(t.shape)) == 0:
            continue
        uses = [r for r in t.roles if ":input" in r]
        allowed = bool(uses) and all(
            ALLOWED_NON_INT8.get((r.split(":")[0], int(r.split(":input")[1]))) == t.type for r in uses)
        if t.type == "INT16" and uses and allowed and not t.is_variable \
                and any(r == f"{LSTM}:input19" for r in uses):
            allowed = False  # the cell state must be a variable tensor
        if not allowed or "model_input" in t.roles or "model_output" in t.roles:
            bad.append(f"#{t.index} {t.name!r} {t.type} {list(t.shape)} used as {', '.join(t.roles) or 'nothing'}")
    if bad:
        raise ExportCheckError("tensors that are not int8 where the int8 spec needs int8:\n  " + "\n  ".join(bad))
    return info.type_counts()


def io_quantization(info: ModelInfo) -> dict[str, dict[str, float | int | str | list[int]]]:
    """Type, shape, scale and zero point of the model's input and output."""
    out = {}
    for key, idx in (("input", info.inputs[0]), ("output", info.outputs[0])):
        t = info.tensors[idx]
        out[key] = {"type": t.type, "shape": list(t.shape),
                    "scale": t.scale[0] if t.scale else 0.0, "zero_point": t.zero_point[0] if t.zero_point else 0}
    return out
