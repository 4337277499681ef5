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

Cell clipping, also measured here (TensorFlow 2.21): the converter fuses every tf_keras LSTM with
`cell_clip = 10`; torch and Keras do not clip. Trained fast-config students leave [-10, 10] (one
2x64 student's last backward LSTM calibrated to about +-200), and their float TFLite logits were
0.35 away from torch. So:
- the float model gets no clip (the field patched to 0 in the flatbuffer): torch parity ~1e-6;
- the int8 model gets `INT8_CELL_CLIP = 64`, set in the float model the converter hands to its
  calibrator. The integer LSTM kernels keep the 16-bit cell state at a power-of-two scale of at
  most 2^-9, i.e. within +-64: unclipped, that student calibrated to 2^-7 and its int8 logits
  were garbage (argmax agreement with float 0.04, TFLM vs TFLite 65 LSB). Measured on it, int8
  against the unclipped float on the validation split: clip 10 agreement 0.80, clip 32 0.89,
  clip 64 0.98. LSTMs whose cells stay small calibrate to finer scales and are not affected.
`lstm_clips` reads the clips back; the export checks them.
"""
from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator

import numpy as np

INT8_CELL_CLIP = 64.0      # the widest cell range (+-64, scale 2^-9) the integer LSTM kernels take
_LSTM_CLIP_SLOTS = (6, 8)   # vtable slots of cellClip and projClip in UnidirectionalSequenceLSTMOptions


def _lstm_options(buf: bytes | bytearray) -> list:
    """The UnidirectionalSequenceLSTMOptions tables of every fused LSTM, over `buf` itself."""
    from ai_edge_litert import schema_py_generated as schema
    model = schema.Model.GetRootAs(buf, 0)
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    found = []
    for g in range(model.SubgraphsLength()):
        sg = model.Subgraphs(g)
        for k in range(sg.OperatorsLength()):
            op = sg.Operators(k)
            if codes[op.OpcodeIndex()] != schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM:
                continue
            table = op.BuiltinOptions()
            if op.BuiltinOptionsType() != schema.BuiltinOptions.UnidirectionalSequenceLSTMOptions or table is None:
                raise ValueError(f"LSTM op {k} has no UnidirectionalSequenceLSTMOptions; cannot read its clipping")
            opts = schema.UnidirectionalSequenceLSTMOptions()
            opts.Init(table.Bytes, table.Pos)
            found.append(opts)
    return found


def lstm_clips(buf: bytes) -> list[tuple[float, float]]:
    """(cell_clip, proj_clip) of every fused LSTM, in op order; 0 means no clipping."""
    return [(float(o.CellClip()), float(o.ProjClip())) for o in _lstm_options(bytearray(buf))]


def with_lstm_clipping(buf: bytes, cell_clip: float = 0.0) -> bytes:
    """A copy of the flatbuffer with every fused LSTM's cell clip set to `cell_clip` (0 = off) and
    its projection clip off.

    The fields are overwritten in place (a float32 each), so nothing else in the file moves. A
    clip the converter left out of the table reads as 0 and can only stay 0."""
    out = bytearray(buf)
    for opts in _lstm_options(out):
        for slot, value in zip(_LSTM_CLIP_SLOTS, (float(cell_clip), 0.0)):
            off = opts._tab.Offset(slot)
            if off:
                struct.pack_into("<f", out, opts._tab.Pos + off, value)
            elif value != 0.0:
                raise ValueError("the converter left the LSTM clip out of the flatbuffer; it cannot be set in place")
    return bytes(out)


def _converter(model):
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    # Keep the fused LSTM and only TFLite builtins: no Select TF ops, no flex delegate.
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return conv


def convert_float(model) -> bytes:
    """Float32 TFLite model of a batch-1 tf_keras model, LSTMs unclipped like torch's."""
    return with_lstm_clipping(bytes(_converter(model).convert()), 0.0)


def _representative(model, representative: np.ndarray):
    """The converter's representative_dataset for (N, T, C) float32 inputs, checked against the model."""
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
    return samples


def convert_int8(model, representative: np.ndarray, cell_clip: float = INT8_CELL_CLIP) -> bytes:
    """Full-integer TFLite model, calibrated on `representative` (N, T, C) float32 inputs, with
    every LSTM cell state clipped at `cell_clip` (see the module docstring)."""
    import tensorflow as tf
    samples = _representative(model, representative)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = samples
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    conv.experimental_new_quantizer = False   # see the module docstring
    # The converter quantises through its `_quantize(float_model, ...)` step; set the LSTMs' clip in
    # the float model it passes there, before calibration (see the module docstring).
    quantize = getattr(conv, "_quantize", None)
    if quantize is None:
        raise RuntimeError(f"this TensorFlow ({tf.__version__}) has no TFLiteConverter._quantize step to "
                           f"set the LSTM cell clip before calibration; export/tflite.py needs updating for it")
    conv._quantize = lambda result, *args, **kwargs: quantize(with_lstm_clipping(result, cell_clip), *args, **kwargs)
    with warnings.catch_warnings():
        # "Statistics for quantized inputs were expected": only relevant to float-input models
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(conv.convert())


def convert_int16x8(model, representative: np.ndarray) -> bytes:
    """TFLite's 16x8 mode: int16 activations (symmetric, zero point 0), int8 per-channel weights,
    int16 input and logits (`eggemo export --activations int16`, what configs/eggemo.toml deploys;
    studies/agreement_study.py --activations int16 measures it)."""
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = _representative(model, representative)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    conv.inference_input_type = tf.int16
    conv.inference_output_type = tf.int16
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(conv.convert())
