"""`eggemo train`, `eggemo evaluate` and `eggemo experiment` end to end on a tiny saved FeatureSet."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from eggemo.cli import main as eggemo
from eggemo.train.checkpoint import load_checkpoint
from eggemo.train.config import load_config
from eggemo.train.featureset import FeatureSet

REPO = Path(__file__).resolve().parents[2]
TINY = """
[teacher]
width = 2
[student]
layers = 1
hidden = 8
feature_dim = 16
[optim]
lr = 1e-2
max_epochs = 3
batch_size = 8
[run]
progress = false
"""


def toy(n=90, seed=0, t=20, mels=12):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    f0 = np.zeros((n, t, 2), np.float32)
    f0[:, :, 0] = (y[:, None] - 1.0) + 0.3 * rng.normal(size=(n, t))
    f0[:, :, 1] = 1
    lm = rng.normal(size=(n, mels, t)).astype(np.float32)
    for k in range(3):
        lm[y == k, 4 * k:4 * k + 4] += 2
    return FeatureSet(lm, f0, y.astype(np.int64), ("anger", "sadness", "neutral"),
                      np.array([f"s{i % 3}" for i in range(n)]), np.array([f"u{i}" for i in range(n)]))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    toy().save(d / "toy.npz")
    (d / "tiny.toml").write_text(TINY)
    return d


def test_repo_configs_load_and_default_is_the_papers():
    cfg = load_config(REPO / "configs" / "default.toml")
    assert (cfg.optim.lr, cfg.optim.lr_decay, cfg.optim.lr_decay_every, cfg.optim.batch_size,
            cfg.optim.patience) == (1e-3, 0.8, 20, 16, 8)
    assert (cfg.distill.tau, cfg.distill.alpha) == (2.0, 0.6)
    assert (cfg.student.layers, cfg.student.hidden, cfg.teacher.arch) == (4, 256, "resnet18")
    fast = load_config(REPO / "configs" / "fast.toml")
    assert (fast.student.layers, fast.student.hidden, fast.student.stack) == (2, 48, 3)   # the edge student
    assert not cfg.teacher.moment_head                                                    # the paper's teacher
    recipe = load_config(REPO / "configs" / "eggemo.toml")
    assert recipe.student.arch == "cnn_student" and recipe.teacher.moment_head and recipe.teacher.band_moments
    from eggemo.train.config import teacher_config
    assert teacher_config(recipe, 7)["moment_head"] is True
    assert teacher_config(recipe, 7)["moment_stats"] == "functionals" and "moment_stats" not in teacher_config(cfg, 7)


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlearning_rate = 0.1\n")
    with pytest.raises(ValueError, match="unknown key.*learning_rate"):
        load_config(bad)
    bad.write_text("[optimiser]\nlr = 0.1\n")
    with pytest.raises(ValueError, match="unknown table"):
        load_config(bad)
    bad.write_text("[optim]\nlr = 'fast'\n")
    with pytest.raises(ValueError, match="optim.lr"):
        load_config(bad)
    bad.write_text("[distill]\nalpha = 1.5\n")
    with pytest.raises(ValueError, match="distill.alpha"):
        load_config(bad)
    with pytest.raises(ValueError, match="teacher.band_moments: needs teacher.input_norm"):
        load_config(REPO / "configs" / "eggemo.toml", ["teacher.input_norm=false"])
    with pytest.raises(ValueError, match="teacher.moment_head: needs teacher.band_moments"):
        load_config(REPO / "configs" / "eggemo.toml", ["teacher.band_moments=false"])
    assert not load_config(REPO / "configs" / "eggemo.toml", ["teacher.input_norm=false", "teacher.band_moments=false",
                                                              "teacher.moment_head=false"]).teacher.input_norm
    bad.write_text("")
    assert load_config(bad, ["optim.lr=5e-4", "data.test_speakers=['a']", "data.split=speaker"]).optim.lr == 5e-4
    with pytest.raises(ValueError, match="section.key=value"):
        load_config(bad, ["lr=1"])


def test_train_distill_evaluate(setup, capsys):
    d = setup
    common = ["--features", str(d / "toy.npz"), "--config", str(d / "tiny.toml")]
    assert eggemo(["train", "teacher", *common, "--out", str(d / "t")]) == 0
    assert eggemo(["train", "student", *common, "--out", str(d / "s"), "--seed", "3"]) == 0
    assert eggemo(["train", "distill", *common, "--teacher", str(d / "t" / "best.pt"), "--out", str(d / "c")]) == 0
    for run, kind in (("t", "teacher"), ("s", "student"), ("c", "student")):
        res = json.loads((d / run / "test_results.json").read_text())
        assert res["n"] == 18 and 0 <= res["ua"] <= 1
        assert (d / run / "test_confusion.png").stat().st_size > 0 and (d / run / "test_tsne.png").exists()
        _, ck = load_checkpoint(d / run / "best.pt")
        assert ck["kind"] == kind and len(ck["train_config"]["test_utt_ids"]) == 18
        assert ck["metrics"]["test_ua"] == res["ua"]
    assert load_checkpoint(d / "s" / "best.pt")[1]["seed"] == 3
    # evaluate re-scores the same test utterances and gets the same numbers
    assert eggemo(["evaluate", str(d / "c" / "best.pt"), "--features", str(d / "toy.npz"),
                   "--out", str(d / "ev"), "--no-tsne"]) == 0
    ev = json.loads((d / "ev" / "eval_results.json").read_text())
    assert ev["ua"] == json.loads((d / "c" / "test_results.json").read_text())["ua"] and ev["n"] == 18
    # a student is no teacher
    assert eggemo(["train", "distill", *common, "--teacher", str(d / "s" / "best.pt"), "--out", str(d / "x")]) == 2
    assert "distill needs a teacher" in capsys.readouterr().err


def test_teacher_check_ignores_only_what_a_teacher_never_reads():
    from eggemo.train.cli import check_teacher
    fs = toy()
    splits = {"test": np.arange(18)}
    fc = {"source": "a.npz", "n_mels": 12, "T": 20, "hop_ms": 10.0, "student_inputs": ["log_f0", "voiced"],
          "f0_norm": "speaker", "f0_source": "speech"}
    tck = {"kind": "teacher", "label_names": list(fs.label_names),
           "train_config": {"test_utt_ids": fs.utt_ids[:18].tolist()},
           "feature_config": {**fc, "source": "b.npz", "student_inputs": ["log_f0", "voiced", "cq"],
                              "f0_norm": "utterance"}}
    check_teacher(tck, fs, splits, fc, "t.pt")   # other frame channels: the teacher reads the log-Mel only
    with pytest.raises(ValueError, match="other features"):
        check_teacher({**tck, "feature_config": {**tck["feature_config"], "hop_ms": 20.0}}, fs, splits, fc, "t.pt")
    with pytest.raises(ValueError, match="another test split"):
        check_teacher(tck, fs, {"test": np.arange(1, 19)}, fc, "t.pt")


def test_train_errors_are_clear(setup, capsys):
    d = setup
    assert eggemo(["train", "distill", "--features", str(d / "toy.npz"), "--config", str(d / "tiny.toml"),
                   "--out", str(d / "x")]) == 2
    assert "--teacher" in capsys.readouterr().err
    assert eggemo(["train", "student", "--features", str(d / "missing.npz"), "--out", str(d / "x")]) == 2
    assert "not found" in capsys.readouterr().err


def test_experiment_writes_table_json_and_plot(setup):
    d = setup
    out = d / "exp"
    args = ["experiment", "alpha", "--features", str(d / "toy.npz"), "--config", str(d / "tiny.toml"),
            "--seeds", "0", "1", "--alphas", "0", "0.5", "--out", str(out)]
    assert eggemo(args) == 0
    md = (out / "alpha.md").read_text()
    assert "| student alone |" in md and "| CMED alpha = 0.5 |" in md and "±" in md
    rows = json.loads((out / "alpha.json").read_text())["rows"]
    # the two floors come first, on the same splits
    assert [r["role"] for r in rows[:2]] == ["floor_f0", "floor_spectral"] and "| floor: logistic regression" in md
    rows = rows[2:]
    assert [len(r["ua"]) for r in rows] == [2, 2, 2]
    # alpha = 0 is the student alone, run for run (same seeds, same splits)
    assert rows[1]["ua"] == rows[0]["ua"]
    assert rows[1]["ua_diff_vs_student_mean"] == 0.0 and "ua_diff_vs_student_mean" not in rows[0]
    assert "| ΔUA vs student (points) |" in md and "| +0.0 ± 0.0 |" in md
    assert (out / "alpha.png").stat().st_size > 0
    # a second call reuses every finished run
    before = {p: p.stat().st_mtime for p in out.glob("runs/*/*/best.pt")}
    assert eggemo(args) == 0
    assert before == {p: p.stat().st_mtime for p in out.glob("runs/*/*/best.pt")}
    # a sweep over another student size reuses the teachers (they do not depend on the student
    # settings) and trains only its own student and CMED runs
    assert eggemo(["experiment", "tau", *args[2:9], "--set", "student.hidden=4", "--taus", "4", "--out", str(out)]) == 0
    after = {p: p.stat().st_mtime for p in out.glob("runs/*/*/best.pt")}
    assert {p: t for p, t in after.items() if p in before} == before
    assert sorted({p.parent.parent.name for p in after if p not in before}) == ["cmed_1x4_tau4_alpha0.6", "student_1x4"]


def test_recipes_sets_both_recipes_beside_the_floors_with_paired_intervals(setup):
    d = setup
    toy_cfg = d / "recipe.toml"
    toy_cfg.write_text(TINY.replace("[student]\n", "[student]\narch = \"cnn_student\"\nwidth = 4\nkernel = 3\n"
                                                  "input_moments = true\npyramid = 0\n")
                       + "[distill]\nkind = \"logit\"\nalpha = 0.5\n")
    out = d / "recipes"
    t30 = toy(t=30)                      # the paper's edge student stacks 3 frames: T a multiple of 3
    FeatureSet(t30.logmel, t30.f0, t30.labels, t30.label_names, np.array([f"s{i % 5}" for i in range(90)]),
               t30.utt_ids).save(d / "toy30.npz")   # 5 speakers, each with every emotion
    args = ["experiment", "recipes", "--features", str(d / "toy30.npz"), "--config", str(toy_cfg), "--seeds", "0", "1",
            "--paper-config", str(d / "tiny.toml"), "--out", str(out)]
    assert eggemo(args) == 0
    res = json.loads((out / "recipes.json").read_text())
    roles = [r["role"] for r in res["rows"]]
    assert roles == ["floor_f0", "floor_spectral", "paper_teacher", "paper_student", "paper_distill",
                     "eggemo_teacher", "eggemo_student", "eggemo_distill"]
    by_role = {r["role"]: r for r in res["rows"]}
    whats = {p["what"]: p for p in res["paired"]}
    p = whats["eggemo student - LR on F0 statistics"]
    assert p["diff"] == pytest.approx(np.array(by_role["eggemo_student"]["ua"]) - by_role["floor_f0"]["ua"])
    assert p["ci95"][0] <= p["mean"] <= p["ci95"][1] and p["n"] == 2
    md = (out / "recipes.md").read_text()
    assert "| eggemo teacher - LR on band statistics | 2 |" in md and "95 % CI" in md
    # the held-out-speaker protocol: each fold holds out its own speakers, the seeds are the folds
    assert eggemo(["experiment", "recipes", "--features", str(d / "toy30.npz"), "--config", str(toy_cfg),
                   "--protocol", "speakers", "--folds", "3", "--parts", "student", "--out", str(d / "spk")]) == 0
    spk = json.loads((d / "spk" / "recipes.json").read_text())
    assert [r["role"] for r in spk["rows"]] == ["floor_f0", "floor_spectral", "eggemo_student"]
    assert len(spk["rows"][2]["ua"]) == 3
    assert "held-out speakers, 3 folds: [['s0', 's3'], ['s1', 's4'], ['s2']]" in (d / "spk" / "recipes.md").read_text()
    # the paper's edge student alone, without its teacher
    assert eggemo(["experiment", "recipes", "--features", str(d / "toy30.npz"), "--config", str(toy_cfg), "--seeds", "0",
                   "--paper-config", str(d / "tiny.toml"), "--parts", "paper-student", "--out", str(d / "ps")]) == 0
    ps = json.loads((d / "ps" / "recipes.json").read_text())
    assert [r["role"] for r in ps["rows"]] == ["floor_f0", "floor_spectral", "paper_student"]
