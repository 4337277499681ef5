"""Keras student -> float and full-integer TFLite flatbuffers.

The int8 model takes int8 input and gives int8 logits (TFLM and the firmware never see a float
tensor), keeps int8 weights and activations, int32 biases and a 16-bit LSTM cell state.

Quantiser choice, measured here with TensorFlow 2.21 (docs/export.md): the default MLIR
quantiser leaves the LSTM's gate 'intermediate' scales at 0, and the TFLite interpreters
(ai-edge-litert and tf.lite) then compute garbage from the int8 LSTM (a single LSTM layer: max
error 0.58 against float, where the output scale is 0.0025), while TFLM, which ignores those
scales, stays close. The older calibrator (`experimental_new_quantizer = False`) fills in the
scales the integer LSTM kernel needs; with it TFLite and TFLM agree within one LSB and both track
float. So the export uses it, and verify.py checks all three against each other every time.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np


def _converter(model):
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    # Keep the fused LSTM and only TFLite builtins: no Select TF ops, no flex delegate.
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return conv


def convert_float(model) -> bytes:
    """Float32 TFLite model of a batch-1 tf_keras model."""
    return bytes(_converter(model).convert())


def convert_int8(model, representative: np.ndarray) -> bytes:
    """Full-integer TFLite model, calibrated on `representative` (N, T, C) float32 inputs."""
    import tensorflow as tf
    rep = np.asarray(representative, dtype=np.float32)
    if rep.ndim != 3 or len(rep) == 0:
        raise ValueError(f"the representative set must be (N, T, C) with N >= 1, got shape {rep.shape}")
    want = tuple(model.input_shape[1:])
    if rep.shape[1:] != want:
        raise ValueError(f"representative inputs are (N, {rep.shape[1]}, {rep.shape[2]}) but the model takes "
                         f"(1, {want[0]}, {want[1]}); calibrate with features made with the checkpoint's "
                         f"feature config")

    def samples() -> Iterator[list[np.ndarray]]:
        for x in rep:
            yield [x[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = samples
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    conv.experimental_new_quantizer = False   # see the module docstring
    with warnings.catch_warnings():
        # "Statistics for quantized inputs were expected": only relevant to float-input models
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(conv.convert())
