"""A CNN student's weights put on their int8 grid: the last step of the recipe's training.

The recipe deploys the student with int8 weights (config [export] snap_weights). The converter
gives every weight row (output channel) its own symmetric int8 scale, max |w| / 127, so a student
whose weights already sit on that grid is the float model the deployed weights define: training
ends by snapping (train/loop.py), and the export snaps again before converting (a no-op then).
"""
from __future__ import annotations

import torch


def round_weights(w: torch.Tensor) -> torch.Tensor:
    """Per output channel (first axis), symmetric, [-127, 127]."""
    step = w.abs().flatten(1).amax(1).clamp_min(1e-30) / 127.0
    shape = (-1,) + (1,) * (w.dim() - 1)
    return torch.clamp(torch.round(w / step.view(shape)), -127, 127) * step.view(shape)


def snap_weights(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of a CNN student whose weights are the int8 model's: every convolution's weights
    with its BatchNorm folded in, the hidden layer's and the classifier's, rounded to their own
    output channel's int8 grid (max |w| / 127, as the converter sets it) and the fold undone. The
    converter rounds these weights to themselves, so an int8 (or 16x8) export of the copy parts
    from the copy only by its activations' rounding. Biases, BatchNorm statistics and the rest stay."""
    import copy

    from eggemo.train.models import CNNStudent
    if not isinstance(model, CNNStudent):
        raise ValueError(f"weight snapping folds the CNN student's BatchNorms; got {type(model).__name__}")
    m = copy.deepcopy(model).eval()
    blocks = list(m.blocks)
    with torch.no_grad():
        for conv, bn in zip(blocks[0::3], blocks[1::3]):
            s = (bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps))[:, None, None]
            conv.weight.copy_((round_weights(conv.weight.double() * s) / s).float())
        linears = [lin for lin in m.head.modules() if isinstance(lin, torch.nn.Linear)] + [m.classifier]
        for lin in linears:
            lin.weight.copy_(round_weights(lin.weight.double()).float())
    return m
