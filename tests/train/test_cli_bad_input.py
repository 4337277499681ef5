"""`eggemo train` and `eggemo evaluate` on bad input, run as a user runs them: one clear line, a
non-zero exit status, no traceback, nothing written."""
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
