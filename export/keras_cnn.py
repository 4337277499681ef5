"""The 1-D convolutional student (CNNStudent, arch "cnn_student") rebuilt in tf_keras with the torch
weights copied in and every BatchNorm folded into its convolution.

torch (train/models.py), per block i of `layers`:
    h = relu(bn_i(conv1d_i(h)))     conv1d: `kernel` taps, stride 2 if i in strides_at else 1,
                                     kernel // 2 zeros on both sides, no bias
then pooling over time ("mean", "max" or "meanmax" = cat(mean, max)), dropout (identity at eval)
and the linear classifier. The distillation projection is not part of the deployed model.

Keras layout, chosen for the ops it converts to (all in TFLite Micro's op set):
- the input (T, C) is reshaped once to (T, 1, C), an image one pixel wide, so every block is a
  CONV_2D with a (kernel, 1) kernel, int8 per-channel weights and the ReLU fused into it (no
  EXPAND_DIMS / SQUEEZE around each conv as a Keras Conv1D would give);
- BatchNorm in eval mode is y = (x - mean) * gamma / sqrt(var + eps) + beta, an affine map per
  output channel, so it folds into the bias-free conv: w' = w * s, b' = beta - mean * s with
  s = gamma / sqrt(var + eps) (eps 1e-5, torch's default, which CNNStudent keeps);
- padding: torch pads kernel // 2 zeros on both sides. TFLite's SAME padding puts
  floor(total / 2) before the sequence, which for a stride-2 conv over an even length is one
  zero fewer than torch at the start: the windows would be shifted. So a block whose SAME padding
  is not exactly torch's (same output length, same zeros before) gets an explicit PAD of
  kernel // 2 zeros on both sides and a VALID conv; the others use SAME (identical, one op less);
- pooling: MEAN and REDUCE_MAX over the time axis, CONCATENATION for "meanmax", then
  FULLY_CONNECTED.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CNN_ARCH = "cnn_student"
BN_EPS = 1e-5                               # torch.nn.BatchNorm1d's default; CNNStudent does not change it
EXPORT_POOLINGS = ("mean", "max", "meanmax")
REFUSED_POOLINGS = {
    "stats": "the export does not rebuild its standard deviation over time (a square root of a variance, "
             "which an int8 model resolves poorly)",
    "attention": "the export does not rebuild its attention weights (a softmax over time)",
}


@dataclass(frozen=True)
class CNNShape:
    """What the export needs to know about a CNNStudent besides its weights."""
    in_channels: int
    width: int
    layers: int
    kernel: int
    strides: tuple[int, ...]     # per block, 1 or 2
    pooling: str                 # "mean" | "max" | "meanmax"
    n_classes: int
    T: int                       # frames per utterance
    pyramid: int = 0             # also the time means of this many equal stretches (0 = off)
    input_moments: bool = False  # also the input's time means of x, x * x and x * ramp
    head: int = 0                # hidden layer width before the classifier (0 = none)

    @property
    def padding(self) -> int:
        return self.kernel // 2

    @property
    def lengths(self) -> tuple[int, ...]:
        """Frames after each block (torch's Conv1d output length)."""
        out, L = [], self.T
        for s in self.strides:
            L = conv_length(L, self.kernel, s)
            out.append(L)
        return tuple(out)

    @property
    def pooled_dim(self) -> int:
        """Width of the utterance vector the head (or the classifier) reads."""
        d = 2 * self.width if self.pooling == "meanmax" else self.width
        if self.pyramid > 1:
            d += self.pyramid * self.width
        if self.input_moments:
            d += 3 * self.in_channels
        return d

    @property
    def classifier_in(self) -> int:
        return self.head if self.head > 0 else self.pooled_dim

    @property
    def folded_parameters(self) -> int:
        """Weights and biases of the deployed model (BatchNorm folded into the convolutions)."""
        convs = sum(self.width * (c_in * self.kernel + 1)
                    for c_in in [self.in_channels] + [self.width] * (self.layers - 1))
        head = self.head * (self.pooled_dim + 1) if self.head > 0 else 0
        return convs + head + self.n_classes * (self.classifier_in + 1)

    @property
    def strides_at(self) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.strides) if s == 2)

    def describe(self) -> str:
        at = ",".join(map(str, self.strides_at)) or "none"
        extra = "".join([f" + {self.pyramid}-part time pyramid" if self.pyramid > 1 else "",
                         " + input moments" if self.input_moments else "",
                         f", hidden layer {self.head}" if self.head > 0 else ""])
        return (f"{self.layers} conv blocks x {self.width}, kernel {self.kernel}, stride 2 at blocks {at}, "
                f"{self.pooling} pooling{extra}")


def conv_length(L: int, kernel: int, stride: int) -> int:
    """torch Conv1d output length with padding kernel // 2 on both sides."""
    return (L + 2 * (kernel // 2) - kernel) // stride + 1


def same_padding_matches_torch(L: int, kernel: int, stride: int) -> bool:
    """Whether TFLite's SAME padding gives exactly torch's windows for this conv: the same output
    length and kernel // 2 zeros before the sequence (zeros after it are then unused or equal)."""
    out = -(-L // stride)
    before = max((out - 1) * stride + kernel - L, 0) // 2
    return out == conv_length(L, kernel, stride) and before == kernel // 2


def check_pooling(pooling: str) -> None:
    """Refuse a pooling the export does not rebuild, saying which ones it does."""
    if pooling in REFUSED_POOLINGS:
        raise ValueError(f"this CNN student pools with {pooling!r}, which the export does not take: "
                         f"{REFUSED_POOLINGS[pooling]}. Export takes pooling {', '.join(map(repr, EXPORT_POOLINGS))}; "
                         f"train the student with one of those (student.pooling)")
    if pooling not in EXPORT_POOLINGS:
        raise ValueError(f"unknown CNN pooling {pooling!r}; the export takes {', '.join(EXPORT_POOLINGS)}")


def _defaults() -> dict[str, Any]:
    """CNNStudent's constructor defaults, for model_config keys a checkpoint leaves out."""
    import inspect

    from eggemo.train.models import CNNStudent
    return {k: p.default for k, p in inspect.signature(CNNStudent.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


def cnn_shape_from_state(state: dict[str, np.ndarray], model_config: dict[str, Any], T: int) -> CNNShape:
    """Read a CNNStudent's shape off its state dict (layers, width, kernel, channels, classes) and
    model_config (strides and pooling, which are not in the weights); checked, clear errors."""
    cfg = {**_defaults(), **dict(model_config)}
    pooling = cfg["pooling"]
    if "attention.weight" in state:
        pooling = "attention"
    check_pooling(pooling)
    layers = 0
    while f"blocks.{3 * layers}.weight" in state:
        layers += 1
    if layers == 0 or "classifier.weight" not in state:
        keys = ", ".join(sorted(state)[:6])
        raise ValueError(f"not a CNNStudent state dict (no blocks.0.weight / classifier.weight; keys start {keys})")
    w0 = state["blocks.0.weight"]
    if w0.ndim != 3:
        raise ValueError(f"blocks.0.weight has shape {tuple(w0.shape)}; a CNNStudent conv weight is "
                         f"(width, in_channels, kernel)")
    width, in_channels, kernel = (int(d) for d in w0.shape)
    if kernel % 2 == 0:
        raise ValueError(f"the convolutions have an even kernel ({kernel}); CNNStudent's are odd, so torch's "
                         f"padding of kernel // 2 keeps the frame rate")
    for key, want in (("in_channels", in_channels), ("width", width), ("kernel", kernel), ("layers", layers)):
        if key in model_config and int(model_config[key]) != want:
            raise ValueError(f"model_config says {key} = {model_config[key]} but the weights have {want}: "
                             f"the checkpoint's config and state dict do not belong together")
    strides_at = {int(i) for i in cfg["strides_at"]}
    strides = tuple(2 if i in strides_at else 1 for i in range(layers))
    n_classes = int(state["classifier.weight"].shape[0])
    head = int(state["head.1.weight"].shape[0]) if "head.1.weight" in state else 0
    if head != int(cfg.get("head", 0) or 0):
        raise ValueError(f"model_config says head = {cfg.get('head')} but the weights have a hidden layer of "
                         f"{head}: the checkpoint's config and state dict do not belong together")
    shape = CNNShape(in_channels=in_channels, width=width, layers=layers, kernel=kernel, strides=strides,
                     pooling=pooling, n_classes=n_classes, T=int(T), pyramid=int(cfg.get("pyramid", 0) or 0),
                     input_moments=bool(cfg.get("input_moments", False)), head=head)
    if shape.pyramid > 1 and shape.lengths[-1] % shape.pyramid:
        raise ValueError(f"pyramid = {shape.pyramid} does not divide the {shape.lengths[-1]} frames after the "
                         f"last block; the student could not have been trained on T = {T}")
    _check_state(state, shape)
    if T < 1 or shape.lengths[-1] < 1:
        raise ValueError(f"T = {T} frames is too short for {layers} blocks with strides {strides}")
    return shape


def _check_state(state: dict[str, np.ndarray], s: CNNShape) -> None:
    for i in range(s.layers):
        c_in = s.in_channels if i == 0 else s.width
        conv, bn = f"blocks.{3 * i}", f"blocks.{3 * i + 1}"
        want = {f"{conv}.weight": (s.width, c_in, s.kernel),
                **{f"{bn}.{p}": (s.width,) for p in ("weight", "bias", "running_mean", "running_var")}}
        if f"{conv}.bias" in state:
            raise ValueError(f"{conv} has a bias; CNNStudent's convolutions have none (bias=False)")
        for key, shp in want.items():
            if key not in state:
                raise ValueError(f"CNN student state dict lacks {key}: every block must be Conv1d(bias=False) -> "
                                 f"BatchNorm1d(affine, tracked statistics) -> ReLU, as in CNNStudent")
            if tuple(state[key].shape) != shp:
                raise ValueError(f"{key} has shape {tuple(state[key].shape)}, expected {shp}")
        var = np.asarray(state[f"{bn}.running_var"], np.float64)
        if not np.all(np.isfinite(var)) or np.any(var < 0):
            raise ValueError(f"{bn}.running_var has negative or non-finite entries; the checkpoint is broken")
    if s.head > 0 and tuple(state["head.1.weight"].shape) != (s.head, s.pooled_dim):
        raise ValueError(f"head.1.weight has shape {tuple(state['head.1.weight'].shape)}, expected "
                         f"({s.head}, {s.pooled_dim}) for {s.describe()}: are model_config's pooling, pyramid "
                         f"and input_moments the ones the student was trained with?")
    if tuple(state["classifier.weight"].shape) != (s.n_classes, s.classifier_in):
        raise ValueError(f"classifier.weight has shape {tuple(state['classifier.weight'].shape)}, expected "
                         f"({s.n_classes}, {s.classifier_in}) for {s.describe()}: "
                         f"is model_config['pooling'] the one the student was trained with?")
    if f"blocks.{3 * s.layers}.weight" in state or f"blocks.{3 * s.layers + 1}.weight" in state:
        raise ValueError("the state dict has blocks beyond the last conv/BatchNorm pair; not a CNNStudent")


def fold_batchnorm(state: dict[str, np.ndarray], block: int, eps: float = BN_EPS) -> tuple[np.ndarray, np.ndarray]:
    """(Keras Conv2D kernel (kernel, 1, c_in, width), bias (width,)) of block `block` with its
    eval-mode BatchNorm folded in; computed in float64, returned as float32."""
    w = np.asarray(state[f"blocks.{3 * block}.weight"], np.float64)            # (width, c_in, k)
    bn = f"blocks.{3 * block + 1}"
    gamma, beta = (np.asarray(state[f"{bn}.{p}"], np.float64) for p in ("weight", "bias"))
    mean, var = (np.asarray(state[f"{bn}.{p}"], np.float64) for p in ("running_mean", "running_var"))
    scale = gamma / np.sqrt(var + eps)
    kernel = (w * scale[:, None, None]).transpose(2, 1, 0)[:, None, :, :]     # (k, 1, c_in, width)
    bias = beta - mean * scale
    return kernel.astype(np.float32), bias.astype(np.float32)


def build_keras_cnn(state: dict[str, np.ndarray], shape: CNNShape, batch_size: int | None = 1):
    """A tf_keras Model (batch, T, in_channels) -> logits (batch, n_classes) with the torch weights
    (BatchNorm folded). batch_size=1 is what the converter gets; None evaluates whole batches."""
    import tensorflow as tf
    import tf_keras as keras

    inp = keras.Input((shape.T, shape.in_channels), batch_size=batch_size, name="f0")
    h = keras.layers.Reshape((shape.T, 1, shape.in_channels), name="frames_as_image")(inp)
    L = shape.T
    for i, stride in enumerate(shape.strides):
        padding = "same"
        if not same_padding_matches_torch(L, shape.kernel, stride):
            p = shape.padding
            h = keras.layers.ZeroPadding2D(((p, p), (0, 0)), name=f"pad{i}")(h)
            padding = "valid"
        h = keras.layers.Conv2D(shape.width, (shape.kernel, 1), strides=(stride, 1), padding=padding,
                                activation="relu", name=f"conv{i}")(h)
        L = conv_length(L, shape.kernel, stride)
    pooled = []
    if shape.pooling in ("mean", "meanmax"):
        pooled.append(keras.layers.GlobalAveragePooling2D(name="time_mean")(h))
    if shape.pooling in ("max", "meanmax"):
        pooled.append(keras.layers.GlobalMaxPooling2D(name="time_max")(h))
    if shape.pyramid > 1:
        # (L, 1, W) -> (P, L / P, W) -> time mean per part -> (P, W), flattened part-major; torch
        # flattens channel-major (w * P + p), which the next layer's weights are permuted to match
        P = shape.pyramid
        part = keras.layers.Reshape((P, L // P, shape.width), name="pyramid_parts")(h)
        part = keras.layers.Lambda(lambda t: tf.reduce_mean(t, axis=2), name="pyramid_mean")(part)
        pooled.append(keras.layers.Flatten(name="pyramid")(part))
    if shape.input_moments:
        ramp = tf.constant(np.linspace(-1.0, 1.0, shape.T, dtype=np.float32)[None, :, None])
        pooled.append(keras.layers.Lambda(lambda t: tf.reduce_mean(t, axis=1), name="input_mean")(inp))
        pooled.append(keras.layers.Lambda(lambda t: tf.reduce_mean(t * t, axis=1), name="input_square_mean")(inp))
        pooled.append(keras.layers.Lambda(lambda t: tf.reduce_mean(t * ramp, axis=1), name="input_trend")(inp))
    h = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(axis=-1, name="pooled")(pooled)
    if shape.head > 0:
        h = keras.layers.Dense(shape.head, activation="relu", name="head")(h)
    logits = keras.layers.Dense(shape.n_classes, name="classifier")(h)
    model = keras.Model(inp, logits, name="cnn_student")

    for i in range(shape.layers):
        model.get_layer(f"conv{i}").set_weights(list(fold_batchnorm(state, i)))
    first = "head" if shape.head > 0 else "classifier"
    w_first = np.asarray(state["head.1.weight" if shape.head > 0 else "classifier.weight"], np.float32)
    w_first = w_first[:, keras_order(shape)]
    b_first = np.asarray(state["head.1.bias" if shape.head > 0 else "classifier.bias"], np.float32)
    model.get_layer(first).set_weights([w_first.T.copy(), b_first])
    if shape.head > 0:
        model.get_layer("classifier").set_weights([np.asarray(state["classifier.weight"], np.float32).T.copy(),
                                                   np.asarray(state["classifier.bias"], np.float32)])
    return model


def keras_order(shape: CNNShape) -> np.ndarray:
    """For each entry of the Keras utterance vector, its index in torch's: identical but for the
    pyramid block, which Keras flattens part-major and torch channel-major."""
    order = np.arange(shape.pooled_dim)
    if shape.pyramid > 1:
        start = 2 * shape.width if shape.pooling == "meanmax" else shape.width
        P, W = shape.pyramid, shape.width
        p, w = np.divmod(np.arange(P * W), W)          # Keras entry k = p * W + w
        order[start:start + P * W] = start + w * P + p
    return order
