"""`eggemo train` and `eggemo evaluate` on bad input, run as a user runs them: one clear line, a
non-zero exit status, no traceback, nothing written."""
import json

import numpy as np
import pytest

from eggemo.cli import main as eggemo
from eggemo.train.featureset import FeatureSet

TINY = """
[student]
layers = 1
hidden = 8
feature_dim = 16
[optim]
max_epochs = 1
batch_size = 8
[run]
progress = false
"""


def features(labels: list[int], names=("anger", "sadness", "neutral"), t: int = 20) -> FeatureSet:
    n = len(labels)
    rng = np.random.default_rng(0)
    f0 = np.stack([rng.normal(size=(n, t)), np.ones((n, t))], axis=2).astype(np.float32)
    return FeatureSet(rng.normal(size=(n, 12, t)).astype(np.float32), f0, np.array(labels, np.int64), tuple(names),
                      np.array([f"s{i % 3}" for i in range(n)]), np.array([f"u{i}" for i in range(n)]))


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    return tmp_path


def train(d, fs: FeatureSet, *extra: str) -> list[str]:
    fs.save(d / "fs.npz")
    return ["train", "student", "--features", str(d / "fs.npz"), "--config", str(d / "tiny.toml"), *extra]


def test_one_emotion_corpus_is_refused(tiny, capsys):
    """It used to train without a word to a UA of 0.0."""
    assert eggemo(train(tiny, features([0] * 30), "--out", str(tiny / "run"))) == 2
    err = capsys.readouterr().err
    assert "the corpus has 1 emotion(s) ['anger']: recognising emotions needs at least two" in err
    assert not (tiny / "run").exists()


def test_emotion_with_too_few_utterances_is_named(tiny, capsys):
    labels = [0, 1] * 15 + [2, 2]                      # neutral: 2 utterances, one short of train+val+test
    assert eggemo(train(tiny, features(labels), "--out", str(tiny / "run"))) == 2
    err = capsys.readouterr().err
    assert "too few utterances to split" in err and "'neutral' has 2 (train 1, val 0, test 1)" in err
    assert "anger" not in err and not (tiny / "run").exists()


def test_out_onto_a_file_is_refused(tiny, capsys):
    (tiny / "afile").write_text("keep me")
    assert eggemo(train(tiny, features([0, 1, 2] * 10), "--out", str(tiny / "afile"))) == 2
    assert f"--out {tiny / 'afile'}: is a file, not a folder" in capsys.readouterr().err
    assert (tiny / "afile").read_text() == "keep me"


def test_features_out_and_cache_in_a_read_only_folder_are_refused(tmp_path, read_only_dir, eggemo_as_user):
    corpus = tmp_path / "corpus"
    assert eggemo(["synth", "--out", str(corpus), "--utterances", "2", "--speakers", "1", "--quiet"]) == 0
    for extra, option, path in ((["--out", read_only_dir / "f.npz"], "--out", read_only_dir / "f.npz"),
                                (["--out", tmp_path / "f.npz", "--cache", read_only_dir / "c"], "--cache",
                                 read_only_dir / "c")):
        run = eggemo_as_user("features", "--corpus", corpus, "--quiet", *extra)
        assert run.returncode != 0 and "Traceback" not in run.stderr
        assert f"{option} {path}: cannot write into {read_only_dir}" in run.stderr
    assert not (tmp_path / "f.npz").exists()


def test_synth_out_read_only_is_refused_and_one_utterance_is_one(tmp_path, read_only_dir, eggemo_as_user, capsys):
    run = eggemo_as_user("synth", "--out", read_only_dir / "c", "--utterances", "1", "--quiet")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert f"--out {read_only_dir / 'c'}: cannot write into {read_only_dir}" in run.stderr
    assert eggemo(["synth", "--out", str(tmp_path / "c"), "--utterances", "1", "--speakers", "1", "--quiet"]) == 0
    assert "wrote 1 utterance of 1 speaker (emodb)" in capsys.readouterr().out


def _student_checkpoint(path, damage=None):
    import torch

    from eggemo.train.checkpoint import make_checkpoint
    from eggemo.train.models import build_model
    mc = {"in_channels": 2, "hidden": 8, "layers": 1, "n_classes": 3, "feature_dim": 16}
    ckpt = make_checkpoint(build_model("bilstm_student", **mc), arch="bilstm_student", model_config=mc,
                           label_names=("anger", "sadness", "neutral"), feature_config={"T": 20}, train_config={},
                           metrics={}, seed=0)
    if damage is not None:
        damage(ckpt)
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("damage, words", [
    (lambda c: c["state_dict"].pop(next(iter(c["state_dict"]))), "Missing key(s)"),
    (lambda c: c["model_config"].update(hidden=9), "size mismatch"),
])
def test_evaluate_refuses_inconsistent_checkpoints(tmp_path, capsys, damage, words):
    """They used to crash with torch's RuntimeError."""
    features([0, 1, 2] * 5).save(tmp_path / "fs.npz")
    ckpt = _student_checkpoint(tmp_path / "bad.pt", damage)
    assert eggemo(["evaluate", str(ckpt), "--features", str(tmp_path / "fs.npz"), "--split", "all",
                   "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert f"{ckpt}: its weights do not fit the bilstm_student model" in err and words in err
    assert "train it again" in err


def test_evaluate_random_bytes_checkpoint_gets_no_weights_only_false_advice(tmp_path, capsys):
    features([0, 1, 2] * 5).save(tmp_path / "fs.npz")
    (tmp_path / "noise.pt").write_bytes(np.random.default_rng(1).bytes(4096))
    assert eggemo(["evaluate", str(tmp_path / "noise.pt"), "--features", str(tmp_path / "fs.npz"),
                   "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert "not a readable eggemo checkpoint" in err and "weights_only" not in err


@pytest.mark.parametrize("content, words", [
    (None, "not a complete FeatureSet"),                      # a cut .npz (BadZipFile)
    (b"utt,label\nu1,anger\n", "not a FeatureSet .npz"),      # a text file
])
def test_train_features_that_are_no_feature_set(tiny, capsys, content, words):
    path = tiny / "fs.npz"
    features([0, 1, 2] * 10).save(path)
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2] if content is None else content)
    assert eggemo(["train", "student", "--features", str(path), "--config", str(tiny / "tiny.toml"),
                   "--out", str(tiny / "run")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and words in err and "allow_pickle" not in err and "Traceback" not in err


def test_list_setting_written_as_a_word_gets_an_example(tiny, capsys):
    assert eggemo(train(tiny, features([0, 1, 2] * 10), "--out", str(tiny / "run"), "--set", "data.split=speaker",
                        "--set", "data.test_speakers=01")) == 2
    assert 'write it in TOML, e.g. --set data.test_speakers=["01","02"]' in capsys.readouterr().err


def test_skip_bad_on_train_points_to_features(tiny, capsys):
    with pytest.raises(SystemExit) as exit_:
        eggemo(train(tiny, features([0, 1, 2] * 10), "--out", str(tiny / "run"), "--skip-bad"))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --skip-bad" in err and "`eggemo features --corpus DIR --skip-bad" in err


def test_ctrl_c_during_training_is_one_line_and_status_130(tmp_path, capsys):
    """SIGINT used to print a KeyboardInterrupt traceback. The run's best.pt then had no test split
    and did not say it had no test score, and `eggemo evaluate` advised --split all, which scores
    the utterances it trained on."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # no early stopping: on random features the validation score stalls within a few epochs, and a
    # run that has already ended cannot be interrupted (CI saw 0, and -2 when the signal hit the exit)
    (tmp_path / "tiny.toml").write_text(TINY.replace("max_epochs = 1", "max_epochs = 100000\npatience = 100000"))
    features([0, 1, 2] * 100).save(tmp_path / "fs.npz")
    proc = subprocess.Popen([sys.executable, "-m", "eggemo.cli", "train", "student", "--features",
                             str(tmp_path / "fs.npz"), "--config", str(tmp_path / "tiny.toml"), "--out",
                             str(tmp_path / "run"), "--no-tsne"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            # as from a terminal: a shell running the suite in the background (&)
                            # starts it with SIGINT ignored, which the child would inherit
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:                                  # the split table: training starts next
        if line.startswith("| total"):
            break
    run = tmp_path / "run"
    for _ in range(1200):                                     # the first epoch's best.pt
        if (run / "best.pt").exists():
            break
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=300)        # CI under heavy load once passed 120 s here
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"eggemo train did not end within 300 s of Ctrl-C; its stderr: {err[-2000:]}")
    # its stderr in the message: a loaded CI once saw -2 (killed by the signal) with nothing else to go on
    assert proc.returncode == 130 and "eggemo train: interrupted" in err and "Traceback" not in err, \
        (proc.returncode, err[-2000:])
    # best.pt records that it has no test score, and training said so
    assert f"training interrupted in epoch" in err and f"{run / 'best.pt'} holds the best model so far" in err
    assert "but no test score" in err and "`eggemo evaluate` scores it on its held-out test utterances" in err
    from eggemo.train.checkpoint import read_checkpoint
    ck = read_checkpoint(run / "best.pt")
    assert ck["metrics"]["state"] == "interrupted" and "test_ua" not in ck["metrics"]
    assert ck["metrics"]["interrupted"].startswith("in epoch ") and len(ck["train_config"]["test_utt_ids"]) == 60
    assert not (run / "test_results.json").exists()
    # evaluate scores its held-out test part, and says whose scores they are
    assert eggemo(["evaluate", str(run / "best.pt"), "--features", str(tmp_path / "fs.npz"), "--out",
                   str(tmp_path / "ev"), "--no-tsne"]) == 0
    err = capsys.readouterr().err
    assert f"note: {run / 'best.pt'} is from a training run interrupted in epoch" in err
    assert json.loads((tmp_path / "ev" / "eval_results.json").read_text())["n"] == 60
    # a checkpoint of a run that recorded no test split: never advised to score the corpus it trained on
    import torch
    del ck["train_config"]["test_utt_ids"]
    torch.save(ck, tmp_path / "old.pt")
    assert eggemo(["evaluate", str(tmp_path / "old.pt"), "--features", str(tmp_path / "fs.npz"), "--out",
                   str(tmp_path / "ev2")]) == 2
    err = capsys.readouterr().err
    assert "records no test split and is from a training run interrupted in epoch" in err
    assert "--split all on the corpus it trained on would score its training utterances" in err
    assert "Train it again to the end" in err and "a corpus it has never seen with --split all" in err


def test_distill_teacher_is_refused_where_it_would_be_ignored(tiny, capsys):
    """Under the default recipe (distill.source = "crossfit") --teacher used to be ignored: any file,
    even random bytes, was accepted and recorded in best.pt as the teacher."""
    junk = tiny / "junk.pt"
    junk.write_bytes(np.random.default_rng(2).bytes(4096))
    fs = features([0, 1, 2] * 10)
    fs.save(tiny / "fs.npz")
    base = ["--features", str(tiny / "fs.npz"), "--teacher", str(junk), "--set", "optim.max_epochs=1", "--no-tsne"]
    assert eggemo(["train", "distill", *base, "--out", str(tiny / "run")]) == 2
    err = capsys.readouterr().err
    assert f"--teacher {junk}: this config distils from cross-fitted regressions" in err
    assert "(distill.source = 'crossfit'), which reads no teacher checkpoint" in err
    assert "add --set distill.source=teacher" in err and not (tiny / "run").exists()
    # where the teacher is read, random bytes are refused before any feature is loaded
    assert eggemo(["train", "distill", *base, "--set", "distill.source=teacher", "--out", str(tiny / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{junk} is not a readable eggemo checkpoint" in err and "Traceback" not in err
    assert not (tiny / "run").exists()
    # a student trained alone reads no teacher either
    assert eggemo(["train", "student", *base, "--out", str(tiny / "run")]) == 2
    assert "only `eggemo train distill` reads a teacher" in capsys.readouterr().err
    assert not (tiny / "run").exists()


def test_nan_in_features_is_said_as_such_not_as_a_learning_rate(tiny, capsys):
    """NaN in a FeatureSet used to surface as a diverging loss: "Lower optim.lr"."""
    fs = features([0, 1, 2] * 10)
    fs.f0[3, 5, 0] = np.nan
    assert eggemo(train(tiny, fs, "--out", str(tiny / "run"))) == 2
    err = capsys.readouterr().err
    assert f"{tiny / 'fs.npz'} holds NaN or infinite values (1 in the frame channel(s) 'log_f0' of 1 utterance(s): " \
           f"u3)" in err
    assert f"extract it again with `eggemo features --corpus DIR --out {tiny / 'fs.npz'}`" in err
    assert "optim.lr" not in err and not (tiny / "run").exists()


@pytest.mark.parametrize("labels", [[0, 1, 2] * 9 + [7, 7, 7], [5] * 30], ids=["some", "all"])
def test_labels_out_of_range_are_named_not_counted_as_no_emotion(tiny, capsys, labels):
    """Labels beyond the label names used to read as "the corpus has 0 emotion(s)" (or a traceback)."""
    argv = train(tiny, features([0, 1, 2] * 10), "--out", str(tiny / "run"))
    with np.load(tiny / "fs.npz") as z:              # a file with labels no FeatureSet would hold
        arrays = {**z, "labels": np.array(labels, np.int64)}
    np.savez(tiny / "fs.npz", **arrays)
    assert eggemo(argv) == 2
    err = capsys.readouterr().err
    n_bad = sum(1 for x in labels if x > 2)
    assert f"{tiny / 'fs.npz'}: not a usable FeatureSet: {n_bad} of its 30 labels are not indices 0..2 into its 3 " \
           f"label names ['anger', 'sadness', 'neutral']" in err
    assert "emotion(s)" not in err and "Traceback" not in err and not (tiny / "run").exists()


def test_a_bit_flipped_checkpoint_is_called_corrupt_by_evaluate_and_export(tmp_path, capsys):
    """A weight of 1.5e29 (one flipped exponent bit) used to evaluate with exit 0, and its export
    blamed "a weight copy or graph bug"."""
    def flip(ckpt):
        w = ckpt["state_dict"]["fwd.0.weight_ih_l0"]
        w.view(-1)[5] = 1.5e29
    features([0, 1, 2] * 5).save(tmp_path / "fs.npz")
    ckpt = _student_checkpoint(tmp_path / "flipped.pt", flip)
    want = (f"{ckpt}: the checkpoint is corrupt: 1 weight tensor(s) hold values no trained model has (|w| up to "
            f"1.5e+29 in fwd.0.weight_ih_l0")
    assert eggemo(["evaluate", str(ckpt), "--features", str(tmp_path / "fs.npz"), "--split", "all",
                   "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err
    assert want in err and "Copy it again, or train again" in err and not (tmp_path / "ev").exists()
    assert eggemo(["export", str(ckpt), "--features", str(tmp_path / "fs.npz"), "--out", str(tmp_path / "ex")]) == 2
    err = capsys.readouterr().err
    assert want in err and "graph bug" not in err and not (tmp_path / "ex").exists()
