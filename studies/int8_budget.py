"""Where a CNN student's int8 export parts from its float model: every rounding the full-integer
model makes, simulated in torch one at a time.

The converter (export/tflite.py) gives every activation tensor one int8 scale and zero point from
its min / max over the calibration contours, and every weight row (output channel) its own
symmetric int8 scale (max |w| / 127). The simulation reproduces those ranges from the same
calibration contours and rounds the float model's tensors to them at the points the int8 graph
does (export/keras_cnn.py):

    input       the int8 input contour (one scale for every channel)
    weights     every convolution (BatchNorm folded in), the hidden layer and the classifier
    conv1       the first convolution's weights only (it reads channels of very different ranges)
    convs       the output of every block (after its ReLU)
    pooled      the time mean and the pyramid's part means (the time max keeps its block's scale)
    moments     the input moments: mean, x * x and its mean, x * ramp and its mean (the ramp itself
                is an int8 constant)
    concat      CONCATENATION: every pooled part requantised to the joined vector's one scale
    hidden      the hidden layer's output
    logits      the int8 logits

`flips(...)` counts the utterances whose label changes when one of them (or all) is applied. The
rounding is the float kind (round half to even, no fixed-point multipliers), so "all" follows the
real int8 model closely but not bit for bit; the real model's agreement is measured beside it by
studies/agreement_study.py. A study, not part of the package: run it from the repo root.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from eggemo.train.snap import round_weights as _round_weights

ROUNDINGS = ("input", "weights", "conv1", "convs", "pooled", "moments", "concat", "hidden", "logits")


def _qparams(lo: float, hi: float) -> tuple[float, int]:
    """int8 scale and zero point of a [lo, hi] range widened to hold 0, as the calibrator sets them."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    z = -128 - lo / scale
    z = np.sign(z) * np.floor(abs(z) + 0.5)          # half away from zero, as std::round
    return scale, int(np.clip(z, -128, 127))


def _round_act(t: torch.Tensor, sz: tuple[float, int]) -> torch.Tensor:
    s, z = sz
    return (torch.clamp(torch.round(t / s) + z, -128, 127) - z) * s


class Int8Simulation:
    """A trained CNNStudent (eval mode) with the int8 model's ranges read off `calib` (N, T, C)."""

    def __init__(self, model: torch.nn.Module, calib: np.ndarray) -> None:
        from eggemo.train.models import CNNStudent
        if not isinstance(model, CNNStudent):
            raise ValueError(f"the int8 budget simulates the CNN student's graph; got {type(model).__name__}")
        if model.pooling not in ("mean", "max", "meanmax"):
            raise ValueError(f"the export does not take pooling {model.pooling!r}, so there is no int8 model to simulate")
        self.model = model.eval()
        seen: dict[str, tuple[float, float]] = {}
        with torch.no_grad():
            self._forward(torch.as_tensor(np.asarray(calib, np.float32)), set(), seen)
        self.ranges = {k: _qparams(*v) for k, v in seen.items()}

    def logits(self, x: np.ndarray, roundings: set[str] | frozenset[str]) -> np.ndarray:
        unknown = set(roundings) - set(ROUNDINGS)
        if unknown:
            raise ValueError(f"unknown rounding(s) {sorted(unknown)}; choose from {', '.join(ROUNDINGS)}")
        with torch.no_grad():
            return self._forward(torch.as_tensor(np.asarray(x, np.float32)), set(roundings), None).numpy()

    def _forward(self, x: torch.Tensor, on: set[str], seen: dict | None) -> torch.Tensor:
        m = self.model

        def act(name: str, group: str, t: torch.Tensor) -> torch.Tensor:
            if seen is not None:
                lo, hi = float(t.min()), float(t.max())
                a, b = seen.get(name, (lo, hi))
                seen[name] = (min(a, lo), max(b, hi))
                return t
            return _round_act(t, self.ranges[name]) if group in on else t

        def weights(w: torch.Tensor, first: bool = False) -> torch.Tensor:
            return _round_weights(w) if ("weights" in on or (first and "conv1" in on)) else w

        x = act("input", "input", x)
        h = x.transpose(1, 2)
        blocks = list(m.blocks)
        for i in range(0, len(blocks), 3):
            conv, bn = blocks[i], blocks[i + 1]
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w = weights(conv.weight * s[:, None, None], first=(i == 0))
            h = F.relu(F.conv1d(h, w, bn.bias - bn.running_mean * s, conv.stride, conv.padding))
            h = act(f"conv{i // 3}", "convs", h)
        parts = []
        if m.pooling in ("mean", "meanmax"):
            parts.append(act("time_mean", "pooled", h.mean(dim=2)))
        if m.pooling in ("max", "meanmax"):
            parts.append(h.amax(dim=2))
        if m.pyramid > 1:
            B, W, L = h.shape
            parts.append(act("pyramid", "pooled", h.reshape(B, W, m.pyramid, L // m.pyramid).mean(dim=3)).flatten(1))
        if m.input_moments:
            ramp = torch.linspace(-1.0, 1.0, x.shape[1])
            if "moments" in on:
                ramp = torch.round(ramp * 127.0) / 127.0
            ramp = ramp[None, :, None]
            parts.append(act("input_mean", "moments", x.mean(dim=1)))
            parts.append(act("square_mean", "moments", act("square", "moments", x * x).mean(dim=1)))
            parts.append(act("trend_mean", "moments", act("trend", "moments", x * ramp).mean(dim=1)))
        v = parts[0] if len(parts) == 1 else act("concat", "concat", torch.cat(parts, dim=1))
        if not isinstance(m.head, torch.nn.Identity):
            lin = m.head[1]
            v = act("hidden", "hidden", F.relu(F.linear(v, weights(lin.weight), lin.bias)))
        return act("logits", "logits", F.linear(v, weights(m.classifier.weight), m.classifier.bias))


def flips(model: torch.nn.Module, calib: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    """For each rounding alone and for all of them: how many of the utterances `x` change label
    against the float model."""
    sim = Int8Simulation(model, calib)
    ref = sim.logits(x, set()).argmax(1)
    out: dict[str, Any] = {"utterances": int(len(x))}
    for name in ROUNDINGS + ("all",):
        on = set(ROUNDINGS) if name == "all" else {name}
        out[name] = int(np.sum(sim.logits(x, on).argmax(1) != ref))
    return out
