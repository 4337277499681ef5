"""Training-time augmentation, applied to each batch in the training loop (never at evaluation).

Students read the F0 core's frame channels (FeatureSet.f0_channels); the augmentations act on the
channels they make sense for:
  time masks   a run of frames set to what an unvoiced, silent frame holds (every channel 0,
               energy at its floor);
  F0 shift     log_f0 += U(-s, s) on voiced frames (normalised units, so s = 0.3 is 0.3 of the
               speaker's F0 standard deviation);
  F0 scale     log_f0 and delta_log_f0 *= 1 + U(-s, s): a wider or narrower range;
  speed        the time axis stretched by 1 + U(-s, s), nearest frame (voicing stays 0/1).
Teachers get SpecAugment: two frequency masks and two time masks on the log-Mel, filled with the
utterance's mean.
Mixup (Zhang et al. 2018) mixes inputs and one-hot targets with a Beta(a, a) weight; it is applied
by the loop because it changes the targets.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .config import AugmentConfig

SILENT = {"energy": -6.0}   # what a masked frame holds per channel (features.F0_CLIP); others 0


def _uniform(n: int, half: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * 2 - 1) * half


def augment_student(x: torch.Tensor, channels: Sequence[str], ac: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, T, C) student batch -> an augmented copy."""
    B, T, C = x.shape
    x = x.clone()
    ch = {c: i for i, c in enumerate(channels)}
    voiced = x[:, :, ch["voiced"]] > 0.5 if "voiced" in ch else None
    if ac.speed > 0:
        rate = 1 + _uniform(B, ac.speed, gen)
        src = (torch.arange(T)[None, :] * rate[:, None]).round().long()
        valid = src < T
        src = src.clamp(max=T - 1)
        pad = torch.tensor([SILENT.get(c, 0.0) for c in channels], dtype=x.dtype)
        x = torch.where(valid[:, :, None], torch.gather(x, 1, src[:, :, None].expand(B, T, C)), pad)
        voiced = x[:, :, ch["voiced"]] > 0.5 if "voiced" in ch else None
    if "log_f0" in ch and voiced is not None and (ac.f0_shift > 0 or ac.f0_scale > 0):
        scale = 1 + _uniform(B, ac.f0_scale, gen)[:, None]
        shift = _uniform(B, ac.f0_shift, gen)[:, None]
        i = ch["log_f0"]
        x[:, :, i] = torch.where(voiced, x[:, :, i] * scale + shift, x[:, :, i])
        if "delta_log_f0" in ch:
            x[:, :, ch["delta_log_f0"]] *= scale
    if ac.time_mask > 0:
        fill = torch.tensor([SILENT.get(c, 0.0) for c in channels], dtype=x.dtype)
        for _ in range(ac.time_masks):
            width = torch.randint(0, ac.time_mask + 1, (B,), generator=gen)
            start = (torch.rand(B, generator=gen) * (T - width).clamp(min=1)).long()
            t = torch.arange(T)[None, :]
            mask = (t >= start[:, None]) & (t < (start + width)[:, None])
            x = torch.where(mask[:, :, None], fill, x)
    return x


def spec_augment(x: torch.Tensor, ac: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, n_mels, T) log-Mel batch -> a copy with two frequency and two time masks."""
    if ac.spec_freq_mask <= 0 and ac.spec_time_mask <= 0:
        return x
    B, F, T = x.shape
    x = x.clone()
    fill = x.mean(dim=(1, 2), keepdim=True).expand(B, F, T)
    for size, axis, n in ((ac.spec_freq_mask, 1, F), (ac.spec_time_mask, 2, T)):
        if size <= 0:
            continue
        for _ in range(2):
            width = torch.randint(0, size + 1, (B,), generator=gen)
            start = (torch.rand(B, generator=gen) * (n - width).clamp(min=1)).long()
            r = torch.arange(n)[None, :]
            m = (r >= start[:, None]) & (r < (start + width)[:, None])
            m = m[:, :, None] if axis == 1 else m[:, None, :]
            x = torch.where(m, fill, x)
    return x


def mixup(x: torch.Tensor, targets: torch.Tensor, alpha: float, gen: torch.Generator
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """(mixed x, mixed soft targets, permutation, weight) for a batch with soft targets (B, K)."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample()) if alpha > 0 else 1.0
    perm = torch.randperm(len(x), generator=gen)
    return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm], perm, lam
