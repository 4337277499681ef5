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
import json
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
from .loss import cmed_loss
from .models import STUDENT_ARCHS, build_model

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


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"run.device = {name!r} but CUDA is not available; use 'auto' or 'cpu'")
    return torch.device(name)


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


def train(arch: str, model_config: dict[str, Any], train_set: FeatureSet, val_set: FeatureSet,
          cfg: Config, *, teacher: nn.Module | None = None, out_dir: str | Path | None = None,
          feature_config: dict[str, Any] | None = None) -> TrainResult:
    """Train `build_model(arch, **model_config)` on train_set, early-stopping on val_set's UA.

    teacher: a trained teacher model; then `arch` must be the student and the loss is CMED with
    cfg.distill.tau and cfg.distill.alpha. feature_config is stored in the checkpoint.
    """
    if teacher is not None and arch not in STUDENT_ARCHS:
        raise ValueError(f"distillation trains the student; got arch {arch!r}")
    if tuple(train_set.label_names) != tuple(val_set.label_names):
        raise ValueError("train and validation sets have different label_names")
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(f"empty split: {len(train_set)} training and {len(val_set)} validation "
                         f"utterances; use a bigger corpus or change data.val_fraction")
    mode = "distill" if teacher is not None else ("student" if arch in STUDENT_ARCHS else "teacher")
    oc = cfg.optim
    world, rank, local_rank, own_group = _distributed(cfg.run.device)
    main_rank = rank == 0
    device = pick_device(cfg.run.device, local_rank)
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    if device.type == "cpu":
        # The student's gradient enters at one time step and decays through 300 steps of
        # backpropagation into denormal floats, which made the CPU LSTM backward 10-20x slower
        # (benchmarks/bench_train.py). Flushing them to zero changes nothing above 1e-38.
        torch.set_flush_denormal(True)
    seed_everything(cfg.run.seed)

    model = build_model(arch, **model_config).to(device)
    net: nn.Module = model
    if world > 1:
        # Without a teacher the student's distillation projection gets no gradient.
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=(mode == "student"))

    # Tensors: inputs, labels and (for distillation) the frozen teacher's features.
    x = torch.as_tensor(model_inputs(arch, train_set), dtype=torch.float32)
    y = torch.as_tensor(train_set.labels, dtype=torch.int64)
    tensors = [x, y]
    if teacher is not None:
        teacher = teacher.to(device).eval()
        _, t_feat = predict(teacher, train_set.logmel, oc.batch_size * 4, device)
        tensors.append(torch.as_tensor(t_feat))
        teacher.cpu()
    dataset = TensorDataset(*tensors)
    drop_last = len(dataset) % oc.batch_size == 1   # a batch of one breaks BatchNorm
    if world > 1:
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.run.seed)
        loader = DataLoader(dataset, batch_size=oc.batch_size, sampler=sampler, drop_last=drop_last)
    else:
        sampler = None
        gen = torch.Generator().manual_seed(cfg.run.seed)
        loader = DataLoader(dataset, batch_size=oc.batch_size, shuffle=True, generator=gen, drop_last=drop_last)
    x_val = model_inputs(arch, val_set)
    y_val = np.asarray(val_set.labels)
    n_classes = len(train_set.label_names)

    optimizer = torch.optim.Adam(net.parameters(), lr=oc.lr, weight_decay=oc.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=oc.lr_decay_every, gamma=oc.lr_decay)

    out = Path(out_dir) if out_dir is not None and main_rank else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("log.csv", "log.jsonl"):
            (out / name).unlink(missing_ok=True)
    train_config = {**to_dict(cfg), "mode": mode, "world_size": world,
                    "n_train": len(train_set), "n_val": len(val_set)}
    history: list[dict[str, Any]] = []
    best_ua, best_epoch, bad_epochs, stopped_early = -1.0, 0, 0, False
    best_state: dict[str, torch.Tensor] = {}
    best_ckpt: dict[str, Any] = {}

    for epoch in range(1, oc.max_epochs + 1):
        t0 = time.perf_counter()
        if sampler is not None:
            sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        net.train()
        sums = torch.zeros(5, dtype=torch.float64, device=device)  # loss, ce, kd, correct, n
        bar = tqdm(loader, desc=f"{mode} epoch {epoch}", leave=False, disable=not (main_rank and cfg.run.progress))
        for batch in bar:
            xb, yb = batch[0].to(device), batch[1].to(device)
            logits, feature = net(xb)
            if teacher is not None:
                parts = cmed_loss(logits, feature, batch[2].to(device), yb, cfg.distill.tau, cfg.distill.alpha)
                loss, ce, kd = parts.total, parts.ce, parts.kd
            else:
                loss = ce = F.cross_entropy(logits, yb)
                kd = torch.zeros((), device=device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n = len(yb)
            sums += torch.tensor([loss.item() * n, ce.item() * n, kd.item() * n,
                                  (logits.argmax(1) == yb).sum().item(), n], dtype=torch.float64, device=device)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if world > 1:
            dist.all_reduce(sums)
        loss_sum, ce_sum, kd_sum, correct, n_seen = sums.tolist()

        val_logits, _ = predict(unwrap(net), x_val, oc.batch_size * 4, device)
        val_pred = val_logits.argmax(1)
        val_loss = float(F.cross_entropy(torch.as_tensor(val_logits), torch.as_tensor(y_val)))
        val_ua = unweighted_accuracy(y_val, val_pred, n_classes)
        improved = val_ua > best_ua
        row = {"epoch": epoch, "lr": lr, "train_loss": loss_sum / n_seen, "train_ce": ce_sum / n_seen,
               "train_kd": kd_sum / n_seen, "train_acc": correct / n_seen, "val_loss": val_loss,
               "val_ua": val_ua, "val_wa": weighted_accuracy(y_val, val_pred), "best": improved,
               "seconds": time.perf_counter() - t0}
        history.append(row)
        if improved:
            best_ua, best_epoch, bad_epochs = val_ua, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if main_rank:
                best_ckpt = make_checkpoint(
                    model, arch=arch, model_config=model_config, label_names=train_set.label_names,
                    feature_config=feature_config or {}, train_config=train_config,
                    metrics={"best_epoch": epoch, "val_ua": val_ua, "val_wa": row["val_wa"]},
                    seed=cfg.run.seed)
                if out is not None:
                    save_checkpoint(best_ckpt, out / "best.pt")
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

    model.load_state_dict(best_state)
    model.eval()
    if own_group:
        dist.destroy_process_group()
    return TrainResult(model=model.cpu(), history=history, best_epoch=best_epoch, best_val_ua=best_ua,
                       stopped_early=stopped_early,
                       checkpoint=(out / "best.pt") if out is not None else None, checkpoint_dict=best_ckpt)


def _append_log(out: Path, row: dict[str, Any]) -> None:
    new = not (out / "log.csv").exists()
    with open(out / "log.csv", "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)
    with open(out / "log.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")
