"""The training loop on a tiny corpus whose classes are separable by construction.

Class k has its log-F0 level at k - 1 (student input) and its energy in Mel band block k
(teacher input), plus noise, so a working loop must beat chance (1/3) by a wide margin.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from eggemo.train.checkpoint import load_checkpoint
from eggemo.train.config import Config, replace
from eggemo.train.featureset import FeatureSet
from eggemo.train.loop import LOG_FIELDS, train

N_CLASSES, T, N_MELS = 3, 24, 12
REPO = Path(__file__).resolve().parents[2]


def toy_featureset(n: int, seed: int) -> FeatureSet:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % N_CLASSES
    f0 = np.zeros((n, T, 2), np.float32)
    f0[:, :, 0] = (labels[:, None] - 1.0) + 0.3 * rng.normal(size=(n, T))
    f0[:, :, 1] = 1.0
    logmel = rng.normal(size=(n, N_MELS, T)).astype(np.float32)
    for k in range(N_CLASSES):
        logmel[labels == k, 4 * k:4 * k + 4, :] += 2.0
    return FeatureSet(logmel, f0, labels.astype(np.int64), ("a", "b", "c"),
                      np.array([f"s{i % 4}" for i in range(n)]), np.array([f"u{seed}_{i}" for i in range(n)]))


TRAIN, VAL = toy_featureset(60, 0), toy_featureset(30, 1)
STUDENT = {"in_channels": 2, "hidden": 8, "layers": 1, "n_classes": N_CLASSES, "feature_dim": 16}
TEACHER = {"in_channels": 1, "n_classes": N_CLASSES, "width": 2}  # 16-d feature


def cfg(**optim) -> Config:
    base = {"lr": 1e-2, "max_epochs": 8, "patience": 8, "batch_size": 8, **optim}
    return replace(Config(), optim=base, run={"progress": False, "device": "cpu"})


def test_short_student_run_lowers_the_loss_and_beats_chance(tmp_path):
    res = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(), out_dir=tmp_path)
    losses = [r["train_loss"] for r in res.history]
    assert losses[-1] < 0.7 * losses[0]
    assert res.best_val_ua > 0.8          # chance is 1/3
    assert res.best_val_ua == max(r["val_ua"] for r in res.history)
    # logs: one row per epoch in both formats
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0].split(",") == list(LOG_FIELDS) and len(rows) == len(res.history) + 1
    jl = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in jl] == list(range(1, len(res.history) + 1))


def test_best_checkpoint_is_the_returned_model(tmp_path):
    res = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(max_epochs=4), out_dir=tmp_path)
    model, ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt["kind"] == "student" and ckpt["metrics"]["best_epoch"] == res.best_epoch
    assert ckpt["train_config"]["optim"]["max_epochs"] == 4 and ckpt["train_config"]["mode"] == "student"
    x = torch.as_tensor(VAL.f0)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], res.model(x)[0], rtol=0, atol=0)


def test_teacher_and_distillation_runs(tmp_path):
    t = train("resnet18", TEACHER, TRAIN, VAL, cfg(max_epochs=6), out_dir=tmp_path / "t")
    assert t.best_val_ua > 0.6
    assert load_checkpoint(tmp_path / "t" / "best.pt")[1]["kind"] == "teacher"
    d = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(), teacher=t.model, out_dir=tmp_path / "d")
    assert d.history[0]["train_kd"] > 0
    assert d.history[-1]["train_loss"] < d.history[0]["train_loss"]
    assert d.best_val_ua > 0.8
    assert load_checkpoint(tmp_path / "d" / "best.pt")[1]["train_config"]["mode"] == "distill"


def test_distillation_with_alpha_zero_trains_exactly_like_the_student():
    """alpha = 0 leaves only cross-entropy: the same seed must give the same weights."""
    teacher = train("resnet18", TEACHER, TRAIN, VAL, cfg(max_epochs=1)).model
    c = replace(cfg(max_epochs=3), distill={"alpha": 0.0})
    a = train("bilstm_student", STUDENT, TRAIN, VAL, c, teacher=teacher)
    b = train("bilstm_student", STUDENT, TRAIN, VAL, c)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        torch.testing.assert_close(va, vb, msg=k)


def test_early_stopping_follows_patience():
    # A learning rate too small to change the predictions: UA stops improving after epoch 1.
    res = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(lr=1e-9, patience=3, max_epochs=50))
    assert res.stopped_early
    assert len(res.history) == res.best_epoch + 3 < 50
    assert not any(r["best"] for r in res.history[res.best_epoch:])


def test_runs_to_max_epochs_without_early_stop():
    res = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(max_epochs=3, patience=5))
    assert len(res.history) == 3 and not res.stopped_early


def test_learning_rate_decays_on_schedule():
    res = train("bilstm_student", STUDENT, TRAIN, VAL,
                cfg(lr=1e-3, lr_decay=0.5, lr_decay_every=2, max_epochs=5, patience=10))
    assert [r["lr"] for r in res.history] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])


def test_student_alone_does_not_depend_on_the_distillation_width():
    """feature_dim only sizes the projection that the distillation loss reads: a student trained
    alone gets the same weights and history whatever it is (the sweeps rely on this to reuse runs)."""
    a = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(max_epochs=3))   # 2 x 8 = 16: no projection
    b = train("bilstm_student", {**STUDENT, "feature_dim": 40}, TRAIN, VAL, cfg(max_epochs=3))   # 16 -> 40
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    sb = b.model.state_dict()
    for k, v in a.model.state_dict().items():
        torch.testing.assert_close(v, sb[k], msg=k)


def test_seeded_runs_repeat():
    a = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(max_epochs=2))
    b = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(max_epochs=2))
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]


def test_distillation_needs_the_student_and_matching_labels():
    with pytest.raises(ValueError, match="student"):
        train("resnet18", TEACHER, TRAIN, VAL, cfg(), teacher=torch.nn.Identity())
    other = FeatureSet(VAL.logmel, VAL.f0, VAL.labels, ("x", "y", "z"), VAL.speakers, VAL.utt_ids)
    with pytest.raises(ValueError, match="label_names"):
        train("bilstm_student", STUDENT, TRAIN, other, cfg())


DDP_WORKER = textwrap.dedent("""
    import os, sys, numpy as np, torch
    sys.path.insert(0, sys.argv[2])
    from test_loop import toy_featureset, STUDENT, cfg, TRAIN, VAL
    from eggemo.train.loop import train
    import torch.distributed as dist
    res = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(max_epochs=3), out_dir=sys.argv[1])
    torch.save({"rank": int(os.environ["RANK"]), "state": res.model.state_dict(),
                "history": res.history}, os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.pt"))
""")


def test_ddp_two_processes_on_cpu_with_gloo(tmp_path):
    """torchrun with 2 CPU processes: DDP keeps both replicas identical, each rank sees half of
    every epoch, and the logged epoch statistics cover the whole training set."""
    script = tmp_path / "worker.py"
    script.write_text(DDP_WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script), str(tmp_path), str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k, v in r0["state"].items():
        torch.testing.assert_close(v, r1["state"][k], rtol=0, atol=0, msg=k)
    assert [h["train_loss"] for h in r0["history"]] == [h["train_loss"] for h in r1["history"]]
    _, ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt["train_config"]["world_size"] == 2
    # The same seed on one process draws other batches, so the weights differ from the DDP run.
    single = train("bilstm_student", STUDENT, TRAIN, VAL, cfg(max_epochs=3)).model.state_dict()
    assert any(not torch.equal(v, single[k]) for k, v in r0["state"].items())
