"""Cross-modal emotion distillation (CMED) loss.

    Loss = alpha * tau^2 * KL(softmax(T/tau) || softmax(S/tau)) + (1 - alpha) * CE(student logits, y)

T is the teacher's 512-d deep emotion feature (speech, log-Mel) and S the student's 512-d feature
(EGG F0, after its projection). Both are turned into distributions over the 512 feature
dimensions by a softmax at temperature tau. The KL follows PyTorch's usual knowledge-distillation
convention:

    F.kl_div(F.log_softmax(S / tau, -1), F.softmax(T / tau, -1), reduction="batchmean")

i.e. the teacher distribution is the target (first argument of KL), the student's is given as
log-probabilities, and the sum over feature dimensions is divided by the batch size only.
The tau^2 factor keeps the gradient of the soft term at the same scale as tau changes
(Hinton et al. 2015). Defaults are the paper's: tau = 2, alpha = 0.6.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

TAU = 2.0
ALPHA = 0.6


def distillation_term(student_feature: torch.Tensor, teacher_feature: torch.Tensor,
                      tau: float = TAU) -> torch.Tensor:
    """tau^2 * KL(softmax(T/tau) || softmax(S/tau)), averaged over the batch."""
    if student_feature.shape != teacher_feature.shape:
        raise ValueError(f"student feature {tuple(student_feature.shape)} and teacher feature "
                         f"{tuple(teacher_feature.shape)} differ; give the student feature_dim equal "
                         f"to the teacher's feature size")
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    kl = F.kl_div(F.log_softmax(student_feature / tau, dim=-1),
                  F.softmax(teacher_feature.detach() / tau, dim=-1), reduction="batchmean")
    return tau * tau * kl


@dataclass(frozen=True)
class LossParts:
    total: torch.Tensor
    ce: torch.Tensor
    kd: torch.Tensor


def cmed_loss(student_logits: torch.Tensor, student_feature: torch.Tensor,
              teacher_feature: torch.Tensor, labels: torch.Tensor,
              tau: float = TAU, alpha: float = ALPHA) -> LossParts:
    """alpha * tau^2 * KL + (1 - alpha) * CE, with the parts kept for logging.

    alpha = 0 gives plain cross-entropy; alpha = 1 pure feature distillation.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    ce = F.cross_entropy(student_logits, labels)
    kd = distillation_term(student_feature, teacher_feature, tau)
    return LossParts(total=alpha * kd + (1.0 - alpha) * ce, ce=ce, kd=kd)


def logit_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """Hinton et al.'s knowledge distillation on the class logits: tau^2 * KL(softmax(zT/tau) ||
    softmax(zS/tau)), averaged over the batch (the same convention as distillation_term)."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ: the two must share the label set")
    return distillation_term(student_logits, teacher_logits, tau)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets (B, K) (label smoothing, mixup), batch mean."""
    return -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def soft_targets(labels: torch.Tensor, n_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """One-hot targets with `smoothing` spread evenly over all classes."""
    t = F.one_hot(labels, n_classes).float()
    return t * (1.0 - smoothing) + smoothing / n_classes


def distill_loss(kind: str, student_logits: torch.Tensor, student_feature: torch.Tensor,
                 teacher_logits: torch.Tensor, teacher_feature: torch.Tensor, targets: torch.Tensor,
                 tau: float = TAU, alpha: float = ALPHA) -> LossParts:
    """alpha * KD + (1 - alpha) * CE with soft `targets`; KD is the paper's feature term ("feature"),
    logit KD ("logit"), or the mean of the two ("both")."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    ce = soft_cross_entropy(student_logits, targets)
    if kind == "feature":
        kd = distillation_term(student_feature, teacher_feature, tau)
    elif kind == "logit":
        kd = logit_term(student_logits, teacher_logits, tau)
    elif kind == "both":
        kd = 0.5 * (distillation_term(student_feature, teacher_feature, tau)
                    + logit_term(student_logits, teacher_logits, tau))
    else:
        raise ValueError(f"distillation kind must be 'feature', 'logit' or 'both', got {kind!r}")
    return LossParts(total=alpha * kd + (1.0 - alpha) * ce, ce=ce, kd=kd)


def _kl_rows(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """(B,) tau^2 * KL(softmax(zT/tau) || softmax(zS/tau)) per row, over the classes the teacher
    scores: a column where the teacher's logit is -inf (a student class no teacher class maps to,
    classmap.map_log_probs) is left out of both distributions."""
    keep = torch.isfinite(teacher_logits).all(dim=0)
    s, t = student_logits[:, keep] / tau, teacher_logits[:, keep].detach() / tau
    log_q, log_p = F.log_softmax(s, dim=-1), F.log_softmax(t, dim=-1)
    return tau * tau * (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def partial_label_loss(kind: str, student_logits: torch.Tensor, student_feature: torch.Tensor,
                       teacher_logits: torch.Tensor, teacher_feature: torch.Tensor, targets: torch.Tensor,
                       labelled: torch.Tensor, kd_weight: torch.Tensor, tau: float = TAU,
                       alpha: float = ALPHA) -> LossParts:
    """alpha * KD + (1 - alpha) * CE on a batch where only some rows carry a label.

    CE (soft `targets`) is the mean over the `labelled` rows (0 when the batch has none); KD is the
    mean over the rows weighted by `kd_weight` (0 / 1: the teacher's confident rows, or only the
    unlabelled ones; distill.kd_on, distill.confidence), on the logits or, for kind "feature", the
    paper's feature term. With every row labelled and weighted it equals distill_loss."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    m = labelled.to(student_logits.dtype)
    ce_rows = -(targets * F.log_softmax(student_logits, dim=-1)).sum(dim=-1)
    ce = (ce_rows * m).sum() / m.sum().clamp(min=1.0)
    if kind == "logit":
        kd_rows = _kl_rows(student_logits, teacher_logits, tau)
    elif kind == "feature":
        kd_rows = _kl_rows(student_feature, teacher_feature, tau)
    elif kind == "both":
        kd_rows = 0.5 * (_kl_rows(student_feature, teacher_feature, tau) + _kl_rows(student_logits, teacher_logits, tau))
    else:
        raise ValueError(f"distillation kind must be 'feature', 'logit' or 'both', got {kind!r}")
    w = kd_weight.to(kd_rows.dtype)
    kd = (kd_rows * w).sum() / w.sum().clamp(min=1.0)
    return LossParts(total=alpha * kd + (1.0 - alpha) * ce, ce=ce, kd=kd)
