"""The student rebuilt in Keras 2 (`tf_keras`) with the torch weights copied in.

Why this route (see docs/export.md): TFLite Micro runs a fused UNIDIRECTIONAL_SEQUENCE_LSTM but has
no REVERSE_V2 and no WHILE in the releases firmware builds use. A `tf_keras` LSTM converts to one
fused op; a Keras 3 LSTM or an ONNX->TF route converts to a WHILE loop of small ops. So every
direction of every layer is its own unidirectional LSTM, and the backward one reads the sequence
time-reversed by a GATHER with constant indices (T is fixed).

Layer l of the torch student (train/models.py):
    f = fwd[l](h);  b = flip(bwd[l](flip(h)));  h = cat(f, b)
with h = x for l = 0, or, for a student that stacks frames, h = x reshaped (T, C) -> (T / stack,
stack * C): a RESHAPE, which costs no arena in TFLM (its output shares the input's buffer).
and the utterance vector is cat(f[:, -1], b[:, 0]). Since b[:, 0] is the last step of the backward
LSTM's own output, the last layer needs no reversal of its output.

Weights: torch keeps W_ih (4H, in), W_hh (4H, H) and two biases; Keras keeps kernel (in, 4H),
recurrent_kernel (H, 4H) and one bias. Both order the gates i, f, g (cell), o, so the copy is a
transpose and a bias sum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StudentShape:
    """What the export needs to know about a BiLSTMStudent besides its weights."""
    in_channels: int             # channels per frame (the model input is (T, in_channels))
    hidden: int
    layers: int
    n_classes: int
    T: int                       # frames per utterance
    stack: int = 1               # frames per LSTM step; the LSTMs run T / stack steps

    @property
    def steps(self) -> int:
        return self.T // self.stack


def shape_from_state(state: dict[str, np.ndarray], T: int, stack: int = 1) -> StudentShape:
    """Read layers/hidden/in_channels/n_classes off a BiLSTMStudent state dict (checked).

    `stack` (the student's model_config) is not in the weights: the first LSTM reads
    stack * in_channels values per step."""
    layers = 0
    while f"fwd.{layers}.weight_ih_l0" in state:
        layers += 1
    if layers == 0 or "classifier.weight" not in state:
        keys = ", ".join(sorted(state)[:6])
        raise ValueError(f"not a BiLSTMStudent state dict (no fwd.0.weight_ih_l0 / classifier.weight; "
                         f"keys start {keys}); export only takes student checkpoints")
    four_h, n_in = state["fwd.0.weight_ih_l0"].shape
    if stack < 1 or n_in % stack:
        raise ValueError(f"the first LSTM reads {n_in} values per step, which is not a multiple of "
                         f"stack = {stack}; pass the checkpoint's model_config['stack']")
    if T % stack:
        raise ValueError(f"T = {T} frames is not a multiple of stack = {stack}; the student cannot "
                         f"read these features")
    shape = StudentShape(in_channels=int(n_in) // stack, hidden=four_h // 4, layers=layers,
                         n_classes=int(state["classifier.weight"].shape[0]), T=int(T), stack=int(stack))
    _check_state(state, shape)
    return shape


def _check_state(state: dict[str, np.ndarray], s: StudentShape) -> None:
    H = s.hidden
    for l in range(s.layers):
        n_in = s.stack * s.in_channels if l == 0 else 2 * H
        for d in ("fwd", "bwd"):
            want = {f"{d}.{l}.weight_ih_l0": (4 * H, n_in), f"{d}.{l}.weight_hh_l0": (4 * H, H),
                    f"{d}.{l}.bias_ih_l0": (4 * H,), f"{d}.{l}.bias_hh_l0": (4 * H,)}
            for key, shp in want.items():
                if key not in state:
                    raise ValueError(f"student state dict lacks {key}: a torch LSTM without biases or a "
                                     f"bidirectional=True LSTM cannot be exported; use BiLSTMStudent")
                if tuple(state[key].shape) != shp:
                    raise ValueError(f"{key} has shape {tuple(state[key].shape)}, expected {shp}")
    if tuple(state["classifier.weight"].shape) != (s.n_classes, 2 * H):
        raise ValueError(f"classifier.weight has shape {tuple(state['classifier.weight'].shape)}, "
                         f"expected ({s.n_classes}, {2 * H})")


def reverse_indices(T: int) -> np.ndarray:
    """The constant GATHER indices that reverse a sequence of length T."""
    return np.arange(T - 1, -1, -1, dtype=np.int32)


def lstm_weights(state: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """Keras [kernel, recurrent_kernel, bias] from torch `prefix.weight_ih_l0` etc."""
    w_ih = np.asarray(state[f"{prefix}.weight_ih_l0"], np.float32)
    w_hh = np.asarray(state[f"{prefix}.weight_hh_l0"], np.float32)
    bias = (np.asarray(state[f"{prefix}.bias_ih_l0"], np.float64)
            + np.asarray(state[f"{prefix}.bias_hh_l0"], np.float64)).astype(np.float32)
    return [w_ih.T.copy(), w_hh.T.copy(), bias]


def build_keras_student(state: dict[str, np.ndarray], shape: StudentShape, batch_size: int | None = 1):
    """A tf_keras Model (batch, T, in_channels) -> logits (batch, n_classes) with the torch weights.

    batch_size=1 is what the converter gets (TFLM runs one utterance at a time); None gives a
    model that evaluates whole batches for the parity check."""
    import tensorflow as tf
    import tf_keras as keras

    rev = tf.constant(reverse_indices(shape.steps))

    def time_reverse(x):
        return tf.gather(x, rev, axis=1)

    inp = keras.Input((shape.T, shape.in_channels), batch_size=batch_size, name="f0")
    h = inp
    if shape.stack > 1:
        h = keras.layers.Reshape((shape.steps, shape.stack * shape.in_channels), name="stack_frames")(h)
    f = b_rev = None
    for l in range(shape.layers):
        f = keras.layers.LSTM(shape.hidden, return_sequences=True, name=f"fwd{l}")(h)
        h_rev = keras.layers.Lambda(time_reverse, name=f"reverse_in{l}")(h)
        b_rev = keras.layers.LSTM(shape.hidden, return_sequences=True, name=f"bwd{l}")(h_rev)
        if l < shape.layers - 1:
            b = keras.layers.Lambda(time_reverse, name=f"reverse_out{l}")(b_rev)
            h = keras.layers.Concatenate(axis=-1, name=f"concat{l}")([f, b])
    last_f = keras.layers.Lambda(lambda t: t[:, -1], name="last_fwd")(f)
    last_b = keras.layers.Lambda(lambda t: t[:, -1], name="first_bwd")(b_rev)  # == b[:, 0]
    pooled = keras.layers.Concatenate(axis=-1, name="pooled")([last_f, last_b])
    logits = keras.layers.Dense(shape.n_classes, name="classifier")(pooled)
    model = keras.Model(inp, logits, name="bilstm_student")

    for l in range(shape.layers):
        for d in ("fwd", "bwd"):
            model.get_layer(f"{d}{l}").set_weights(lstm_weights(state, f"{d}.{l}"))
    model.get_layer("classifier").set_weights([np.asarray(state["classifier.weight"], np.float32).T.copy(),
                                               np.asarray(state["classifier.bias"], np.float32)])
    return model


def keras_logits(model, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Logits (N, n_classes) of the Keras model over x (N, T, C)."""
    step = batch if model.input_shape[0] is None else model.input_shape[0]
    return np.concatenate([model(x[i:i + step], training=False).numpy() for i in range(0, len(x), step)])
