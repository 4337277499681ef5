"""Which Keras rebuild a student checkpoint gets: one place that knows both student archs.

- "bilstm_student": export/keras_student.py (fused unidirectional LSTMs, GATHER time reversal);
- "cnn_student": export/keras_cnn.py (CONV_2D blocks with BatchNorm folded in, MEAN / REDUCE_MAX).
"""
from __future__ import annotations

from typing import Any, Union

import numpy as np

from .keras_cnn import CNN_ARCH, CNNShape, build_keras_cnn, check_pooling, cnn_shape_from_state
from .keras_student import StudentShape, build_keras_student, shape_from_state

LSTM_ARCH = "bilstm_student"
EXPORT_ARCHS = (LSTM_ARCH, CNN_ARCH)
LSTM_EXPORT_POOLINGS = ("last",)

Shape = Union[StudentShape, CNNShape]


def check_exportable(arch: str, model_config: dict[str, Any]) -> None:
    """Refuse, before any work, a student whose arch or options the export cannot rebuild."""
    if arch not in EXPORT_ARCHS:
        raise ValueError(f"arch {arch!r} has no export route; the export rebuilds {', '.join(EXPORT_ARCHS)}")
    if arch == LSTM_ARCH and model_config.get("pooling", "last") not in LSTM_EXPORT_POOLINGS:
        raise ValueError(f"this BiLSTM student pools with {model_config['pooling']!r}; the export rebuilds the "
                         f"BiLSTM's 'last' pooling only (the last forward and first backward step)")
    if arch == CNN_ARCH:
        check_pooling(model_config.get("pooling", "meanmax"))


def student_shape(arch: str, state: dict[str, np.ndarray], model_config: dict[str, Any], T: int) -> Shape:
    """The checked shape of the student `arch` from its state dict and model_config."""
    check_exportable(arch, model_config)
    if arch == CNN_ARCH:
        return cnn_shape_from_state(state, model_config, T)
    return shape_from_state(state, T, int(model_config.get("stack", 1)))


def build_keras(state: dict[str, np.ndarray], shape: Shape, batch_size: int | None = 1):
    """The tf_keras rebuild for a shape from student_shape."""
    if isinstance(shape, CNNShape):
        return build_keras_cnn(state, shape, batch_size=batch_size)
    return build_keras_student(state, shape, batch_size=batch_size)


def is_lstm(shape: Shape) -> bool:
    return isinstance(shape, StudentShape)


def describe(shape: Shape) -> str:
    """One line for logs and the report title."""
    if isinstance(shape, CNNShape):
        return f"CNN, {shape.describe()}"
    return (f"{shape.layers}x{shape.hidden} BiLSTM"
            + (f", {shape.stack} frames per LSTM step" if shape.stack > 1 else ""))


def shape_facts(shape: Shape) -> dict[str, Any]:
    """The shape as plain values for the report."""
    if isinstance(shape, CNNShape):
        return {"family": "cnn", "layers": shape.layers, "width": shape.width, "kernel": shape.kernel,
                "strides": list(shape.strides), "strides_at": list(shape.strides_at), "pooling": shape.pooling,
                "frames_after_blocks": list(shape.lengths), "pooled_dim": shape.pooled_dim,
                "parameters_after_batchnorm_folding": shape.folded_parameters,
                "batchnorm": "folded into the convolutions"}
    return {"family": "bilstm", "layers": shape.layers, "hidden": shape.hidden, "stack": shape.stack,
            "lstm_steps": shape.steps, "pooling": "last"}
