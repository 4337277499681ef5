"""Partly labelled corpora: unlabelled paired recordings, the loss that reads them, class maps,
and the label-budget experiment on a small corpus."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from eggemo.train.budget import draw, keep_labels, masked
from eggemo.train.classmap import ClassMapError, identity, load, parse, resolve
from eggemo.train.cli import make_splits
from eggemo.train.config import Config, replace
from eggemo.train.featureset import UNLABELLED, FeatureSet
from eggemo.train.loop import kd_weights, train
from eggemo.train.loss import distill_loss, partial_label_loss, soft_targets

from test_loop import N_CLASSES, STUDENT, VAL, cfg, toy_featureset

REPO = Path(__file__).resolve().parents[2]
RAVDESS = ("angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised")
EMODB = ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral")


# --- class maps ------------------------------------------------------------------------------

def test_the_shipped_ravdess_map_sums_many_to_one_drops_and_renormalises():
    cm = load(REPO / "configs/classmaps/ravdess_to_emodb.toml", RAVDESS, EMODB)
    assert cm.covered == ("anger", "disgust", "fear", "happiness", "sadness", "neutral")
    p = np.array([[0.1, 0.2, 0.05, 0.05, 0.3, 0.1, 0.1, 0.1]])      # calm and surprised are dropped
    lp = cm.map_log_probs(np.log(p))
    q = np.exp(lp[0])
    kept = 1.0 - 0.2 - 0.1
    assert lp[0, EMODB.index("boredom")] == -np.inf                  # no teacher class reaches it
    assert q[EMODB.index("happiness")] == pytest.approx(0.3 / kept)
    assert q[EMODB.index("anger")] == pytest.approx(0.1 / kept)
    assert np.nansum(q) == pytest.approx(1.0)
    many = parse({"calm": "neutral", "neutral": "neutral", "happy": "happiness"}, RAVDESS, EMODB, "m")
    q = np.exp(many.map_log_probs(np.log(p))[0])
    assert q[EMODB.index("neutral")] == pytest.approx((0.2 + 0.1) / (0.2 + 0.1 + 0.3))


@pytest.mark.parametrize("text, words", [
    ('happy = "joy"\n', "'joy' is no class of the student"),
    ('cheerful = "happiness"\n', "'cheerful' is no class of the teacher"),
    ('happy = "happiness"\n', "reach 1 of the student's classes"),
    ('happy = 3\n', "maps to one student class name in quotes"),
    ('happy = "happiness\n', "not a TOML class map"),
])
def test_a_class_map_that_cannot_join_the_label_sets_is_refused_saying_why(tmp_path, text, words):
    f = tmp_path / "map.toml"
    f.write_text(text)
    with pytest.raises(ClassMapError, match=words):
        load(f, RAVDESS, EMODB)


def test_without_a_map_only_the_same_label_set_is_accepted():
    assert resolve(None, EMODB, EMODB) == identity(EMODB)
    with pytest.raises(ClassMapError, match="--class-map FILE"):
        resolve(None, RAVDESS, EMODB)


# --- splits and the loss ---------------------------------------------------------------------

def partly_labelled(n: int = 90, keep: float = 0.3, seed: int = 0) -> FeatureSet:
    fs = toy_featureset(n, seed)
    labels = fs.labels.copy()
    gone = np.random.default_rng(seed).permutation(n)[: int(n * (1 - keep))]
    labels[gone] = UNLABELLED
    return dataclasses.replace(fs, labels=labels)


def test_splits_draw_test_and_validation_from_labelled_utterances_and_train_on_the_rest():
    fs = partly_labelled()
    assert fs.label_count() == f"90 utterances, {fs.n_labelled} with a label, {90 - fs.n_labelled} without"
    sp = make_splits(fs, replace(Config(), data={"val_fraction": 0.2}))
    assert fs.labelled[sp["test"]].all() and fs.labelled[sp["val"]].all()
    assert set(np.flatnonzero(~fs.labelled)) <= set(sp["train"].tolist())
    assert sorted(np.concatenate(list(sp.values())).tolist()) == list(range(90))
    none = dataclasses.replace(fs, labels=np.full(90, UNLABELLED))
    with pytest.raises(ValueError, match="none of the 90 utterances carries a label"):
        make_splits(none, Config())


def test_the_partial_loss_is_the_plain_one_when_every_row_is_labelled_and_taught():
    g = torch.Generator().manual_seed(0)
    logits, feat = torch.randn(6, 3, generator=g), torch.randn(6, 5, generator=g)
    t_logits, t_feat = torch.randn(6, 3, generator=g), torch.randn(6, 5, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    tg = soft_targets(y, 3, 0.1)
    ref = distill_loss("logit", logits, feat, t_logits, t_feat, tg, 2.0, 0.5)
    got = partial_label_loss("logit", logits, feat, t_logits, t_feat, tg, torch.ones(6, dtype=torch.bool),
                             torch.ones(6), 2.0, 0.5)
    assert torch.allclose(got.total, ref.total) and torch.allclose(got.kd, ref.kd)


def test_the_partial_loss_reads_ce_from_labelled_rows_only_and_kd_from_taught_rows_only():
    g = torch.Generator().manual_seed(1)
    logits, t_logits = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    y = torch.tensor([0, -1, 2, -1])
    lab = y >= 0
    tg = soft_targets(y.clamp(min=0), 3) * lab[:, None]
    w = torch.tensor([0.0, 1.0, 0.0, 1.0])
    a = partial_label_loss("logit", logits, logits, t_logits, t_logits, tg, lab, w, 1.0, 0.5)
    # changing an unlabelled row's (meaningless) label target or a labelled row's teacher changes nothing
    t2 = t_logits.clone()
    t2[0] += 5.0
    b = partial_label_loss("logit", logits, logits, t2, t2, tg, lab, w, 1.0, 0.5)
    assert torch.allclose(a.total, b.total)
    ce_ref = torch.nn.functional.cross_entropy(logits[[0, 2]], y[[0, 2]])
    assert torch.allclose(a.ce, ce_ref)
    # a student class no teacher class maps to (-inf) is left out of KD, not NaN
    t3 = t_logits.clone()
    t3[:, 1] = -torch.inf
    c = partial_label_loss("logit", logits, logits, t3, t3, tg, lab, w, 1.0, 0.5)
    assert torch.isfinite(c.total)


def test_kd_weights_pick_confident_and_optionally_only_unlabelled_rows():
    z = np.log(np.array([[0.9, 0.05, 0.05], [0.4, 0.3, 0.3], [0.8, 0.1, 0.1]]))
    dc = replace(Config(), distill={"confidence": 0.5}).distill
    assert kd_weights(z, np.array([True, False, False]), dc).tolist() == [1.0, 0.0, 1.0]
    dc = replace(Config(), distill={"kd_on": "unlabelled"}).distill
    assert kd_weights(z, np.array([True, False, False]), dc).tolist() == [0.0, 1.0, 1.0]


def test_a_student_learns_from_unlabelled_utterances_through_a_teacher_only():
    """70 % of the training part unlabelled: the student alone is refused them; distilled from a
    teacher that knows the classes, it learns (the toy classes are separable)."""
    fs = partly_labelled(90, keep=0.1)
    with pytest.raises(ValueError, match="only distillation learns from those"):
        train("bilstm_student", STUDENT, fs, VAL, cfg())
    onehot = np.eye(N_CLASSES)[toy_featureset(90, 0).labels]
    t_logits = np.log(0.9 * onehot + 0.1 / N_CLASSES).astype(np.float32)
    c = replace(cfg(max_epochs=10, patience=10), distill={"kind": "logit", "alpha": 0.5})
    res = train("bilstm_student", STUDENT, fs, VAL, c, teacher_outputs=(t_logits, None))
    assert res.best_val_ua > 0.8


# --- the budget experiment -------------------------------------------------------------------

def test_the_budget_draw_keeps_a_stratified_fraction_and_the_same_test_part():
    fs = toy_featureset(300, 3)
    cfg0 = replace(Config(), data={"split_seed": 4})
    full, tenth = draw(fs, cfg0, 1.0, 4), draw(fs, cfg0, 0.1, 4)
    assert np.array_equal(full.test, tenth.test)
    assert np.array_equal(tenth.train_all, full.train_labelled)
    per_class = np.bincount(fs.labels[tenth.train_labelled], minlength=3)
    assert per_class.min() >= 7 and per_class.max() <= 8              # 10 % of ~72 per class
    assert set(tenth.val) <= set(full.val) and len(tenth.val) >= 3
    m = masked(fs, tenth)
    assert (m.labels[tenth.train_unlabelled] == UNLABELLED).all() and m.labelled[tenth.test].all()
    assert keep_labels(np.array([0, 0, 1]), 0.01, 0).tolist() == [0, 2] or \
        keep_labels(np.array([0, 0, 1]), 0.01, 0).tolist() == [1, 2]


def test_budget_experiment_writes_rows_per_role_and_fraction_with_paired_intervals(tmp_path):
    """A small budget run through the command line: every role at every fraction, per-seed values,
    the paired differences with their intervals, and the plot."""
    fs = toy_featureset(120, 5)
    fs = dataclasses.replace(fs, logmel=np.repeat(fs.logmel, 4, axis=1)[:, :48],
                             f0=np.concatenate([fs.f0, fs.f0[:, :, :1] * 0.5], axis=2),
                             f0_channels=("log_f0", "voiced", "energy"))
    path = fs.save(tmp_path / "toy.npz")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "eggemo.cli", "experiment", "budget", "--features", str(path),
           "--seeds", "0", "1", "--fractions", "0.25", "1.0", "--out", str(out),
           "--set", "optim.max_epochs=3", "--set", "optim.patience=3", "--set", "run.threads=1",
           "--set", "student.width=8", "--set", "student.layers=2", "--set", "student.head=8",
           "--set", 'features.student_inputs=["log_f0","voiced","energy"]']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "120 utterances, all labelled" in r.stdout
    doc = json.loads((out / "budget.json").read_text())
    got = {(row["role"], row["label_fraction"]) for row in doc["rows"]}
    roles = ("student", "selftrain", "distill", "recipe", "teacher", "teacher_speech", "floor_f0", "floor_frames",
             "floor_spectral")
    assert got == {(role, f) for role in roles for f in (0.25, 1.0)}
    for row in doc["rows"]:
        assert len(row["ua"]) == 2 and set(row["per_seed"]) == {"0", "1"}
        assert row["ua_mean"] == pytest.approx(np.mean(row["ua"]))
    p = {(q["a"], q["b"], q["label_fraction"]): q for q in doc["paired"]}
    d = p[("distill", "student", 0.25)]
    assert len(d["diff"]) == 2 and d["ci95"][0] <= d["mean"] <= d["ci95"][1]
    assert (out / "budget.png").stat().st_size > 1000
    # at f = 1 nothing is unlabelled: the distilled student's teacher only grades labelled utterances
    assert all(json.loads(f.read_text())["settings"]["n_unlabelled"] == 0
               for f in (out / "runs/budget/distill/f1").glob("seed*.json"))


def test_train_distill_takes_a_teacher_of_another_label_set_only_through_a_class_map(tmp_path):
    """The user's path: a teacher trained on one corpus (labels a, b, c), a partly labelled paired
    corpus with other names (x, y, z): refused without a map, saying how; taught with one."""
    tiny = ["--set", "teacher.width=2", "--set", "teacher.max_epochs=1", "--set", "optim.max_epochs=2",
            "--set", "run.threads=1", "--set", "student.width=8", "--set", "student.layers=2",
            "--set", "student.head=8", "--set", 'features.student_inputs=["log_f0","voiced"]', "--no-tsne"]
    src = toy_featureset(60, 7).save(tmp_path / "src.npz")
    dst = partly_labelled(90, keep=0.5, seed=8)
    dst = dataclasses.replace(dst, label_names=("x", "y", "z")).save(tmp_path / "dst.npz")
    run = lambda *a: subprocess.run([sys.executable, "-m", "eggemo.cli", "train", *a, *tiny],
                                    capture_output=True, text=True, timeout=600)
    r = run("teacher", "--features", str(src), "--out", str(tmp_path / "t"))
    assert r.returncode == 0, r.stderr[-2000:]
    teacher = str(tmp_path / "t" / "best.pt")
    r = run("distill", "--features", str(dst), "--teacher", teacher, "--set", "distill.source=teacher",
            "--out", str(tmp_path / "s0"))
    assert r.returncode == 2 and "say how they meet with --class-map FILE" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    (tmp_path / "bad.toml").write_text('a = "x"\n')
    r = run("distill", "--features", str(dst), "--teacher", teacher, "--class-map", str(tmp_path / "bad.toml"),
            "--out", str(tmp_path / "s1"))
    assert r.returncode == 2 and "reach 1 of the student's classes" in r.stderr, r.stderr[-2000:]
    (tmp_path / "map.toml").write_text('a = "x"\nb = "y"\nc = "z"\n')
    r = run("distill", "--features", str(dst), "--teacher", teacher, "--class-map", str(tmp_path / "map.toml"),
            "--out", str(tmp_path / "s2"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "90 utterances, 45 with a label, 45 without" in r.stdout and "x <- a; y <- b; z <- c" in r.stderr
    assert json.loads((tmp_path / "s2" / "test_results.json").read_text())["mode"] == "distill"


def test_the_recipe_distils_by_itself_where_the_corpus_has_unlabelled_paired_utterances(tmp_path):
    tiny = ["--set", "optim.max_epochs=2", "--set", "run.threads=1", "--set", "student.width=8",
            "--set", "student.layers=2", "--set", "student.head=8", "--set", 'features.student_inputs=["log_f0","voiced"]',
            "--no-tsne"]
    part = partly_labelled(90, keep=0.5, seed=9).save(tmp_path / "part.npz")
    full = toy_featureset(90, 9).save(tmp_path / "full.npz")
    run = lambda *a: subprocess.run([sys.executable, "-m", "eggemo.cli", "train", "student", *a, *tiny],
                                    capture_output=True, text=True, timeout=600)
    r = run("--features", str(part), "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "the recipe (distill.auto) trains the student on the labelled ones alone and distilled" in r.stderr
    assert "note: kept the " in r.stderr, r.stderr[-1500:]
    for sub in ("alone", "distilled"):
        assert (tmp_path / "a" / sub / "best.pt").is_file()
    kept = "distilled" if "kept the distilled student" in r.stderr else "alone"
    assert (tmp_path / "a" / "best.pt").read_bytes() == (tmp_path / "a" / kept / "best.pt").read_bytes()
    r = run("--features", str(full), "--out", str(tmp_path / "b"))
    assert r.returncode == 0 and '"mode": "student"' in r.stdout and "distill.auto" not in r.stderr
    r = run("--features", str(part), "--out", str(tmp_path / "c"), "--set", "distill.auto=false")
    assert r.returncode == 0 and '"mode": "student"' in r.stdout
    assert "trains on the 33 labelled training utterances; the 45 without a label" in r.stderr, r.stderr[-1500:]
