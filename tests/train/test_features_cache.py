"""The feature cache: a second run only reads; content, config and noise changes recompute."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import eggemo.train.features as features
from eggemo.train.audio import read_wav, write_wav
from eggemo.train.cache import cache_key
from eggemo.train.data import load_corpus
from eggemo.train.features import FeatureConfig, extract_features
from eggemo.train.noise import NoiseConfig
from eggemo.train.synth_corpus import CorpusConfig, write_corpus


@pytest.fixture(scope="module")
def master(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cache_corpus")
    write_corpus(out, CorpusConfig(n_utterances=7, n_speakers=1, seed=5))
    return out


@pytest.fixture
def corpus(master, tmp_path) -> Path:
    shutil.copytree(master, tmp_path / "c")
    return tmp_path / "c"


@pytest.fixture
def computed(monkeypatch) -> list[str]:
    """Counts the utterances whose features are really computed (the real function still runs)."""
    calls: list[int] = []
    real = features.compute_utterance

    def counting(speech, f0_signal, config):
        calls.append(len(speech))
        return real(speech, f0_signal, config)

    monkeypatch.setattr(features, "compute_utterance", counting)
    return calls


def test_second_run_only_reads(corpus, tmp_path, computed):
    items = load_corpus(corpus)
    first = extract_features(items, cache_dir=tmp_path / "cache")
    assert len(computed) == 7
    second = extract_features(items, cache_dir=tmp_path / "cache")
    assert len(computed) == 7
    np.testing.assert_array_equal(first.logmel, second.logmel)
    np.testing.assert_array_equal(first.f0, second.f0)
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 7


def test_a_changed_file_is_recomputed(corpus, tmp_path, computed):
    items = load_corpus(corpus)
    before = extract_features(items, cache_dir=tmp_path / "cache")
    x, fs = read_wav(items[2].speech_path)
    x[:, 0] *= 0.5                                     # same name, new content
    write_wav(items[2].speech_path, x, fs)
    after = extract_features(items, cache_dir=tmp_path / "cache")
    assert len(computed) == 7 + 1
    assert after.logmel[2].mean() < before.logmel[2].mean() - 1.0
    np.testing.assert_array_equal(after.logmel[3], before.logmel[3])


def test_config_and_noise_changes_recompute_but_t_and_normalisation_do_not(corpus, tmp_path, computed):
    items = load_corpus(corpus)
    cache = tmp_path / "cache"
    extract_features(items, FeatureConfig(), cache_dir=cache)
    extract_features(items, FeatureConfig(n_mels=40), cache_dir=cache)
    assert len(computed) == 14
    extract_features(items, FeatureConfig(f0_fmax=400.0), cache_dir=cache)
    assert len(computed) == 21
    short = extract_features(items, FeatureConfig(T=100, f0_norm="utterance", crop="start"), cache_dir=cache)
    assert len(computed) == 21 and short.logmel.shape[2] == 100          # pad/crop and F0 norm act after the cache
    extract_features(items, noise=NoiseConfig("white", 10.0), cache_dir=cache)
    assert len(computed) == 28
    extract_features(items, noise=NoiseConfig("white", 5.0), cache_dir=cache)
    assert len(computed) == 35
    extract_features(items, noise=NoiseConfig("white", 5.0), cache_dir=cache)
    assert len(computed) == 35


def test_a_damaged_entry_is_recomputed(corpus, tmp_path, computed):
    items = load_corpus(corpus)
    first = extract_features(items, cache_dir=tmp_path / "cache")
    for entry in (tmp_path / "cache").rglob("*.npz"):
        entry.write_bytes(b"broken")
    again = extract_features(items, cache_dir=tmp_path / "cache")
    assert len(computed) == 14
    np.testing.assert_array_equal(first.logmel, again.logmel)


def test_cache_key_is_canonical_and_sensitive():
    assert cache_key({"a": 1, "b": 2}, FeatureConfig()) == cache_key({"b": 2, "a": 1}, FeatureConfig())
    assert cache_key(FeatureConfig()) != cache_key(FeatureConfig(hop_ms=5.0))
    assert cache_key("x", np.int64(3)) == cache_key("x", 3)
