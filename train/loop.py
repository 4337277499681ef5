"""The training loop: one function, `train`, for the teacher, the student and CMED distillation.

As in the paper: Adam, the learning rate multiplied by `lr_decay` every `lr_decay_every` epochs,
early stopping once the validation unweighted accuracy (UA) has not improved for `patience`
epochs, and the best checkpoint kept (its weights are also what `train` returns).

- Mode: a teacher arch trains on log-Mel with cross-entropy; the student trains on F0 with
  cross-entropy, or, when a `teacher` model is given, with the CMED loss against the teacher's
  512-d features. The teacher is frozen and has no augmentation, so its features are computed
  once before the first epoch.
- Device: CUDA when available (cfg.run.device = "auto"), otherwise CPU. Seeded.
- Multi-GPU / multi-process: under `torchrun --nproc_per_node=N` (WORLD_SIZE > 1) the model is
  wrapped in DistributedDataParallel (NCCL on GPUs, gloo on CPU) and a DistributedSampler shards
  every epoch; batch_size is per process. Every rank scores the whole validation set, so all
  ranks take the same early-stopping decision; only rank 0 writes logs and checkpoints.
- On the CPU, denormal floats are flushed to zero (process-wide): see the comment in `train`.
- Outputs in out_dir: log.csv and log.jsonl (one row per epoch) and best.pt.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from tqdm.auto import tqdm

from .checkpoint import make_checkpoint, save_checkpoint, unwrap
from .config import Config, to_dict
from .evaluate import model_inputs, predict, unweighted_accuracy, weighted_accuracy
from .featureset import FeatureSet
from .augment import augment_student, mixup, spec_augment
from .loss import cmed_loss, distill_loss, partial_label_loss, soft_cross_entropy, soft_targets
from .models import STUDENT_ARCHS, BandNorm, build_model

LOG_FIELDS = ("epoch", "lr", "train_loss", "train_ce", "train_kd", "train_acc", "val_loss", "val_ua",
              "val_wa", "best", "seconds")


@dataclass
class TrainResult:
    model: nn.Module                     # best-UA weights, unwrapped, eval mode
    history: list[dict[str, Any]]        # one row per epoch (LOG_FIELDS)
    best_epoch: int
    best_val_ua: float
    stopped_early: bool
    checkpoint: Path | None              # best.pt (rank 0 with out_dir only)
    checkpoint_dict: dict[str, Any] = field(repr=False, default_factory=dict)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class _Precomputed:
    """A teacher given by its outputs on the training utterances (e.g. cross-fitted teachers,
    each scoring only utterances it did not train on)."""
    logits: np.ndarray
    features: np.ndarray


class TrainingError(ValueError):
    """Training cannot go on (a non-finite loss or weight); the message says what to change."""


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if not (name == "cpu" or name == "cuda" or name.startswith("cuda:")):
        raise ValueError(f"run.device = {name!r} is not a device this trainer uses; "
                         f"use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"run.device = {name!r} but CUDA is not available on this machine; "
                             f"use --set run.device=auto (or cpu)")
        index = int(name.partition(":")[2] or 0) if name.partition(":")[2].isdigit() or name == "cuda" else -1
        if not 0 <= index < torch.cuda.device_count():
            raise ValueError(f"run.device = {name!r}: this machine has {torch.cuda.device_count()} CUDA "
                             f"device(s); use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    return torch.device(name)


def _lr_factor(epoch0: int, oc) -> float:
    """Learning-rate multiplier for 0-based epoch `epoch0`: linear warm-up from 1/10, then the
    paper's step decay or a cosine decay to 0 at max_epochs."""
    if epoch0 < oc.warmup_epochs:
        return 0.1 + 0.9 * epoch0 / oc.warmup_epochs
    if oc.schedule == "cosine":
        span = max(1, oc.max_epochs - oc.warmup_epochs)
        return 0.5 * (1 + math.cos(math.pi * (epoch0 - oc.warmup_epochs) / span))
    return oc.lr_decay ** ((epoch0 - oc.warmup_epochs) // oc.lr_decay_every)


DIVERGED_LOSS = 1e4   # cross-entropy starts near ln(classes); a loss this large means logits of ~1e4


def _check_finite(loss: torch.Tensor, epoch: int, cfg: Config) -> None:
    value = loss.item()
    if not math.isfinite(value) or value > DIVERGED_LOSS:
        raise TrainingError(f"the training loss became {value:.3g} in epoch {epoch} (learning rate "
                            f"{cfg.optim.lr:g}): training diverged and stopped; no checkpoint of this epoch was "
                            f"kept. Lower optim.lr (e.g. --set optim.lr=1e-3) or set optim.grad_clip")


def _band_statistics(logmel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and sd of log-Mel over the frames that are not padding (training set)."""
    x = np.asarray(logmel, np.float64)                          # (N, n_mels, T)
    keep = x.max(axis=1) > x.min() + 1e-3                       # (N, T) frames with content
    frames = x.transpose(0, 2, 1)[keep] if keep.any() else x.transpose(0, 2, 1).reshape(-1, x.shape[1])
    return frames.mean(axis=0).astype(np.float32), np.maximum(frames.std(axis=0), 1e-3).astype(np.float32)


def _distributed(device_name: str) -> tuple[int, int, int, bool]:
    """(world_size, rank, local_rank, we_initialised) from the torchrun environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 1, 0, 0, False
    local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    if dist.is_initialized():
        return dist.get_world_size(), dist.get_rank(), local_rank, False
    use_nccl = torch.cuda.is_available() and device_name in ("auto", "cuda") or device_name.startswith("cuda")
    dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    return dist.get_world_size(), dist.get_rank(), local_rank, True


@dataclass
class _Run:
    """What one call of `train` works with: the mode, the options in force and where it writes."""
    arch: str
    mode: str                            # teacher | student | distill
    oc: Any                              # cfg.optim, with the teacher's own epochs and patience
    device: torch.device
    world: int
    rank: int
    n_classes: int
    partial: bool = False                # distilling on a partly labelled training part (or with
                                         # distill.kd_on / confidence choosing where the teacher teaches)
    dc: Any = None                       # cfg.distill


def _teacher_of(arch: str, train_set: FeatureSet, cfg: Config, teacher: nn.Module | None,
                teacher_outputs: tuple[np.ndarray, np.ndarray | None] | None):
    """The teacher the student learns from (a model, its precomputed outputs, or None)."""
    if teacher is not None and teacher_outputs is not None:
        raise ValueError("give a teacher model or its precomputed outputs, not both")
    if teacher_outputs is not None:
        t_logits, t_feat = teacher_outputs
        if len(t_logits) != len(train_set) or (t_feat is None and cfg.distill.kind != "logit"):
            raise ValueError(f"teacher outputs: need logits for each of the {len(train_set)} training utterances "
                             f"(got {len(t_logits)}), and features unless distill.kind = 'logit'")
        teacher = _Precomputed(np.asarray(t_logits, np.float32),
                               np.asarray(t_feat if t_feat is not None else t_logits, np.float32))
    if teacher is not None and arch not in STUDENT_ARCHS:
        raise ValueError(f"distillation trains the student; got arch {arch!r}")
    return teacher


def _build(arch: str, model_config: dict[str, Any], train_set: FeatureSet, run: _Run) -> tuple[nn.Module, nn.Module]:
    """(model, the module that trains it: the model, or its DistributedDataParallel wrapper)."""
    model = build_model(arch, **model_config).to(run.device)
    for m in model.modules():
        if isinstance(m, BandNorm):     # per-band standardisation: the training set's statistics
            mean, std = _band_statistics(train_set.logmel)
            m.mean.copy_(torch.as_tensor(mean))
            m.std.copy_(torch.as_tensor(std))
    if run.world == 1:
        return model, model
    # Without a teacher the student's distillation projection gets no gradient.
    return model, nn.parallel.DistributedDataParallel(
        model, device_ids=[run.device.index] if run.device.type == "cuda" else None,
        find_unused_parameters=(run.mode == "student"))


def _batches(train_set: FeatureSet, teacher, run: _Run, seed: int):
    """(loader, its DistributedSampler or None) over inputs, labels and, for distillation, the
    frozen teacher's features and logits (computed once: the teacher has no augmentation)."""
    oc = run.oc
    x = torch.as_tensor(model_inputs(run.arch, train_set), dtype=torch.float32)
    y = torch.as_tensor(train_set.labels, dtype=torch.int64)
    tensors = [x, y]
    if isinstance(teacher, _Precomputed):
        tensors += [torch.as_tensor(teacher.features), torch.as_tensor(teacher.logits)]
    elif teacher is not None:
        teacher = teacher.to(run.device).eval()
        t_logits, t_feat = predict(teacher, train_set.logmel, oc.batch_size * 4, run.device)
        tensors += [torch.as_tensor(t_feat), torch.as_tensor(t_logits)]
        teacher.cpu()
    if teacher is not None and run.partial:
        tensors.append(torch.as_tensor(kd_weights(tensors[3].numpy(), train_set.labelled, run.dc)))
    dataset = TensorDataset(*tensors)
    drop_last = len(dataset) % oc.batch_size == 1   # a batch of one breaks BatchNorm
    if run.world > 1:
        sampler = DistributedSampler(dataset, num_replicas=run.world, rank=run.rank, shuffle=True, seed=seed)
        return DataLoader(dataset, batch_size=oc.batch_size, sampler=sampler, drop_last=drop_last), sampler
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=oc.batch_size, shuffle=True, generator=gen, drop_last=drop_last), None


def kd_weights(teacher_logits: np.ndarray, labelled: np.ndarray, dc) -> np.ndarray:
    """(N,) 1.0 where the teacher's soft target teaches, else 0.0: every utterance, or only the
    unlabelled ones (distill.kd_on), and only where the teacher's top class probability reaches
    distill.confidence."""
    z = np.asarray(teacher_logits, np.float64)
    z = z - np.max(np.where(np.isfinite(z), z, -np.inf), axis=1, keepdims=True)
    p = np.exp(z)
    top = p.max(axis=1) / p.sum(axis=1)
    w = top >= dc.confidence
    if dc.kd_on == "unlabelled":              # else "all" (Config checks it)
        w &= ~np.asarray(labelled, bool)
    return w.astype(np.float32)


def _batch_loss(net: nn.Module, batch: list[torch.Tensor], distilling: bool, channels: tuple[str, ...],
                cfg: Config, run: _Run, aug_gen: torch.Generator):
    """(loss, its CE and KD parts, logits, labels) of one augmented batch. The paper's loss path
    (hard labels) is kept exactly when nothing softens the targets and every utterance carries a
    label; on a partly labelled training part (label -1: unlabelled) CE reads the labelled rows
    and KD the rows kd_weights picks (loss.partial_label_loss)."""
    oc, ac = run.oc, cfg.augment
    soft = oc.label_smoothing > 0 or ac.mixup > 0
    xb, yb = batch[0], batch[1]
    xb = augment_student(xb, channels, ac, aug_gen) if run.arch in STUDENT_ARCHS else spec_augment(xb, ac, aug_gen)
    if run.partial and distilling:
        labelled = yb >= 0
        targets = soft_targets(yb.clamp(min=0), run.n_classes, oc.label_smoothing) * labelled[:, None]
        extra = [t.to(run.device) for t in batch[2:]]      # features, logits, KD weights
        if ac.mixup > 0:
            raise ValueError("augment.mixup does not mix unlabelled utterances: set it to 0 to distil onto a "
                             "partly labelled corpus")
        xb = xb.to(run.device)
        logits, feature = net(xb)
        parts = partial_label_loss(cfg.distill.kind, logits, feature, extra[1], extra[0],
                                   targets.to(run.device), labelled.to(run.device), extra[2],
                                   cfg.distill.tau, cfg.distill.alpha)
        return parts.total, parts.ce, parts.kd, logits, yb.to(run.device)
    targets = soft_targets(yb, run.n_classes, oc.label_smoothing) if soft else None
    extra = [t.to(run.device) for t in batch[2:]]          # the teacher's features and logits
    if ac.mixup > 0:
        xb, targets, perm, lam = mixup(xb, targets, ac.mixup, aug_gen)
        extra = [lam * t + (1 - lam) * t[perm.to(t.device)] for t in extra]
    xb, yb = xb.to(run.device), yb.to(run.device)
    logits, feature = net(xb)
    if not distilling:
        loss = soft_cross_entropy(logits, targets.to(run.device)) if soft else F.cross_entropy(logits, yb)
        return loss, loss, torch.zeros((), device=run.device), logits, yb
    if soft or cfg.distill.kind != "feature":
        tg = targets.to(run.device) if soft else soft_targets(yb, run.n_classes)
        parts = distill_loss(cfg.distill.kind, logits, feature, extra[1], extra[0], tg,
                             cfg.distill.tau, cfg.distill.alpha)
    else:
        parts = cmed_loss(logits, feature, extra[0], yb, cfg.distill.tau, cfg.distill.alpha)
    return parts.total, parts.ce, parts.kd, logits, yb


def _scores(model: nn.Module, x_val: np.ndarray, y_val: np.ndarray, run: _Run) -> tuple[float, float, float]:
    """(validation loss, UA, WA) of the model as it is now."""
    val_logits, _ = predict(model, x_val, run.oc.batch_size * 4, run.device)
    val_pred = val_logits.argmax(1)
    val_loss = float(F.cross_entropy(torch.as_tensor(val_logits), torch.as_tensor(y_val)))
    return val_loss, unweighted_accuracy(y_val, val_pred, run.n_classes), weighted_accuracy(y_val, val_pred)


def train(arch: str, model_config: dict[str, Any], train_set: FeatureSet, val_set: FeatureSet,
          cfg: Config, *, teacher: nn.Module | None = None,
          teacher_outputs: tuple[np.ndarray, np.ndarray | None] | None = None, out_dir: str | Path | None = None,
          feature_config: dict[str, Any] | None = None, run_info: dict[str, Any] | None = None) -> TrainResult:
    """Train `build_model(arch, **model_config)` on train_set, early-stopping on val_set's UA.

    teacher: a trained teacher model; then `arch` must be the student and the loss is CMED with
    cfg.distill.tau and cfg.distill.alpha. feature_config is stored in the checkpoint, run_info
    (e.g. the test split's utterance ids) in its train_config from the first best.pt on.

    Every best.pt carries metrics["state"]: "training" while the loop runs, "interrupted" when
    Ctrl-C stopped it (then the message says what best.pt holds), "trained" at the end. None of
    them has a test score; `eggemo train` adds it and the state "tested".
    """
    teacher = _teacher_of(arch, train_set, cfg, teacher, teacher_outputs)
    if tuple(train_set.label_names) != tuple(val_set.label_names):
        raise ValueError("train and validation sets have different label_names")
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(f"empty split: {len(train_set)} training and {len(val_set)} validation "
                         f"utterances; use a bigger corpus or change data.val_fraction")
    mode = "distill" if teacher is not None else ("student" if arch in STUDENT_ARCHS else "teacher")
    oc = cfg.optim
    if mode == "teacher" and (cfg.teacher.max_epochs or cfg.teacher.patience):
        oc = dataclasses.replace(oc, max_epochs=cfg.teacher.max_epochs or oc.max_epochs,
                                 patience=cfg.teacher.patience or oc.patience)
    world, rank, local_rank, own_group = _distributed(cfg.run.device)
    main_rank = rank == 0
    device = pick_device(cfg.run.device, local_rank)
    unlabelled = int((~train_set.labelled).sum())
    if unlabelled and teacher is None:
        raise ValueError(f"{unlabelled} of the {len(train_set)} training utterances carry no label, and only "
                         f"distillation learns from those (a teacher's soft targets); train the {mode} on the "
                         f"labelled ones, or distil (`eggemo train distill`)")
    if not val_set.labelled.all():
        raise ValueError("the validation part holds unlabelled utterances; it scores the model and needs labels")
    partial = teacher is not None and (unlabelled > 0 or cfg.distill.kd_on != "all" or cfg.distill.confidence > 0)
    run = _Run(arch, mode, oc, device, world, rank, len(train_set.label_names), partial, cfg.distill)
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    if device.type == "cpu":
        # The student's gradient enters at one time step and decays through 300 steps of
        # backpropagation into denormal floats, which made the CPU LSTM backward 10-20x slower
        # (benchmarks/bench_train.py). Flushing them to zero changes nothing above 1e-38.
        torch.set_flush_denormal(True)
    seed_everything(cfg.run.seed)

    model, net = _build(arch, model_config, train_set, run)
    loader, sampler = _batches(train_set, teacher, run, cfg.run.seed)
    x_val = model_inputs(arch, val_set)
    y_val = np.asarray(val_set.labels)
    opt_cls = torch.optim.AdamW if oc.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(net.parameters(), lr=oc.lr, weight_decay=oc.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: _lr_factor(e, oc))
    channels = tuple(train_set.f0_channels)
    aug_gen = torch.Generator().manual_seed(cfg.run.seed + 7919)

    out = Path(out_dir) if out_dir is not None and main_rank else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("log.csv", "log.jsonl", "best.pt"):       # a folder tells of one run
            (out / name).unlink(missing_ok=True)
    train_config = {**to_dict(cfg), "mode": mode, "world_size": world,
                    "n_train": len(train_set), "n_val": len(val_set), **(run_info or {})}
    history: list[dict[str, Any]] = []
    best_score, best_ua, best_epoch, bad_epochs, stopped_early = -math.inf, -1.0, 0, 0, False
    best_state: dict[str, torch.Tensor] = {}
    best_ckpt: dict[str, Any] = {}
    scores: list[float] = []                       # per epoch: higher is better (UA, or -val loss)

    def keep_best(metrics: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint of the model as it is now, written to best.pt when there is an out_dir."""
        ckpt = make_checkpoint(model, arch=arch, model_config=model_config, label_names=train_set.label_names,
                               feature_config=feature_config or {}, train_config=train_config,
                               metrics={**metrics, "state": "training"}, seed=cfg.run.seed)
        if out is not None:
            save_checkpoint(ckpt, out / "best.pt")
        return ckpt
    top: list[tuple[float, int, dict[str, torch.Tensor]]] = []   # the best `average_best` epochs

    epoch = 0
    try:
        for epoch in range(1, oc.max_epochs + 1):
            t0 = time.perf_counter()
            if sampler is not None:
                sampler.set_epoch(epoch)
            lr = optimizer.param_groups[0]["lr"]
            net.train()
            sums = torch.zeros(5, dtype=torch.float64, device=device)  # loss, ce, kd, correct, n
            bar = tqdm(loader, desc=f"{mode} epoch {epoch}", leave=False, disable=not (main_rank and cfg.run.progress))
            for batch in bar:
                loss, ce, kd, logits, yb = _batch_loss(net, batch, teacher is not None, channels, cfg, run, aug_gen)
                _check_finite(loss, epoch, cfg)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if oc.grad_clip > 0:
                    nn.utils.clip_grad_norm_(net.parameters(), oc.grad_clip)
                optimizer.step()
                n = len(yb)
                sums += torch.tensor([loss.item() * n, ce.item() * n, kd.item() * n,
                                      (logits.argmax(1) == yb).sum().item(), n], dtype=torch.float64, device=device)
                bar.set_postfix(loss=f"{loss.item():.3f}")
            if world > 1:
                dist.all_reduce(sums)
            loss_sum, ce_sum, kd_sum, correct, n_seen = sums.tolist()

            val_loss, val_ua, val_wa = _scores(unwrap(net), x_val, y_val, run)
            if not (np.isfinite(val_loss) and all(torch.isfinite(p).all() for p in model.parameters())):
                raise TrainingError(f"the model's weights or validation loss became non-finite in epoch {epoch} "
                                    f"(learning rate {oc.lr:g}); training stopped, no checkpoint of this epoch "
                                    f"was kept. Lower optim.lr or set optim.grad_clip")
            scores.append(val_ua if oc.early_stop == "val_ua" else -val_loss)
            score = float(np.mean(scores[-oc.smooth:]))
            improved = score > best_score
            row = {"epoch": epoch, "lr": lr, "train_loss": loss_sum / n_seen, "train_ce": ce_sum / n_seen,
                   "train_kd": kd_sum / n_seen, "train_acc": correct / n_seen, "val_loss": val_loss,
                   "val_ua": val_ua, "val_wa": val_wa, "best": improved,
                   "seconds": time.perf_counter() - t0}
            history.append(row)
            if oc.average_best > 1:
                top.append((score, epoch, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}))
                top = sorted(top, key=lambda t: -t[0])[:oc.average_best]
            if improved:
                best_score, best_ua, best_epoch, bad_epochs = score, val_ua, epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                if main_rank:
                    best_ckpt = keep_best({"best_epoch": epoch, "val_ua": val_ua, "val_wa": row["val_wa"]})
            else:
                bad_epochs += 1
            if out is not None:
                _append_log(out, row)
            if main_rank and cfg.run.progress:
                tqdm.write(f"[{mode}] epoch {epoch:3d}  lr {lr:.2e}  loss {row['train_loss']:.4f}  "
                           f"train acc {row['train_acc']:.3f}  val UA {val_ua:.3f}  WA {row['val_wa']:.3f}"
                           f"{'  *' if improved else ''}")
            if bad_epochs >= oc.patience:
                stopped_early = True
                break
            scheduler.step()

        # After the epochs, each step rescored on validation and kept: the best epochs' weights
        # averaged, the teacher's regression fused in, the student's weights put on their int8 grid.
        if len(top) > 1:
            # Checkpoint averaging: the mean of the best epochs' weights (integer buffers from the best).
            best_state = {k: (torch.stack([t[2][k] for t in top]).mean(0) if v.is_floating_point() else v)
                          for k, v in best_state.items()}
            model.load_state_dict(best_state)
            _, best_ua, _ = _scores(model, x_val, y_val, run)
            if main_rank:
                best_ckpt = keep_best({"best_epoch": best_epoch, "val_ua": best_ua,
                                       "averaged_epochs": sorted(t[1] for t in top)})
        model.load_state_dict(best_state)
        model.eval()
        if getattr(model, "moment_head", False):
            # the teacher's late fusion: the band-statistics regression, fitted on the same training
            # part, joins the trained network (models.ResNet18.fit_moment_head)
            model.fit_moment_head(train_set.logmel, train_set.labels)
            _, best_ua, val_wa = _scores(model, x_val, y_val, run)
            if main_rank:
                before = best_ckpt.get("metrics", {})
                best_ckpt = keep_best({**before, "best_epoch": best_epoch, "val_ua": best_ua, "val_wa": val_wa,
                                       "val_ua_network_alone": history[best_epoch - 1]["val_ua"] if best_epoch else None,
                                       "val_wa_network_alone": before.get("val_wa")})
        if cfg.export.snap_weights and mode != "teacher" and arch == "cnn_student":
            # The recipe deploys int8 weights ([export] snap_weights): the float model it keeps, scores
            # and exports is the one those weights define, each convolution (BatchNorm folded), hidden
            # and classifier weight rounded to its output channel's int8 step (train/snap.py).
            # Its quantised export then parts from it only by the activations' rounding.
            from .snap import snap_weights
            before_ua = best_ua
            model = snap_weights(model).eval()
            _, best_ua, val_wa = _scores(model, x_val, y_val, run)
            if main_rank:
                best_ckpt = keep_best({**best_ckpt.get("metrics", {}), "val_ua": best_ua, "val_wa": val_wa,
                                       "snapped_weights": True, "val_ua_before_snapping": before_ua})
        if main_rank and best_ckpt:
            best_ckpt = {**best_ckpt, "metrics": {**best_ckpt["metrics"], "state": "trained"}}
            if out is not None:
                save_checkpoint(best_ckpt, out / "best.pt")
    except KeyboardInterrupt:
        if main_rank and out is not None:
            mark_interrupted(out / "best.pt", best_ckpt, f"in epoch {epoch}" if epoch else "before its first epoch")
        raise

    if own_group:
        dist.destroy_process_group()
    return TrainResult(model=model.cpu(), history=history, best_epoch=best_epoch, best_val_ua=best_ua,
                       stopped_early=stopped_early,
                       checkpoint=(out / "best.pt") if out is not None else None, checkpoint_dict=best_ckpt)


def mark_interrupted(path: Path, ckpt: dict[str, Any], when: str) -> None:
    """Ctrl-C stopped a run: its best.pt (if any) records that it has no test score, and stderr says
    what it holds and what to do with it."""
    import sys

    if not ckpt:
        print(f"training interrupted {when}, before any epoch ended: no checkpoint was written", file=sys.stderr)
        return
    metrics = {k: v for k, v in ckpt["metrics"].items() if k not in ("test_ua", "test_wa")}
    save_checkpoint({**ckpt, "metrics": {**metrics, "state": "interrupted", "interrupted": when}}, path)
    where = ("`eggemo evaluate` scores it on its held-out test utterances (recorded in it)"
             if ckpt["train_config"].get("test_utt_ids") else "it records no test split")
    print(f"training interrupted {when}: {path} holds the best model so far (epoch {metrics.get('best_epoch')}, "
          f"validation UA {metrics.get('val_ua', float('nan')):.3f}) but no test score, and says so; {where}. "
          f"Run the same command again to train to the end", file=sys.stderr)


def _append_log(out: Path, row: dict[str, Any]) -> None:
    new = not (out / "log.csv").exists()
    with open(out / "log.csv", "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)
    with open(out / "log.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")
