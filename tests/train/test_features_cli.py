"""One spelling for one thing: `features`, `train` and `experiment` all take the corpus as
--corpus and the F0 channel as --f0-source (config key data.f0_source); the old positional
`eggemo features CORPUS` still works, with a deprecation note."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from eggemo.cli import main as eggemo
from eggemo.train import cli as train_cli
from eggemo.train import experiments
from eggemo.train.featureset import FeatureSet


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("spelling")
    assert eggemo(["synth", "--out", str(d / "c"), "--utterances", "4", "--speakers", "1", "--seed", "3",
                   "--quiet"]) == 0
    return d / "c"


def parse(module, argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return p.parse_args(argv)


def test_features_takes_corpus_and_f0_source_as_train_does(corpus, tmp_path, capsys):
    assert eggemo(["features", "--corpus", str(corpus), "--f0-source", "speech", "--out", str(tmp_path / "s.npz"),
                   "--cache", str(tmp_path / "cache"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "proxy for the EGG F0" in out and "wrote 4 utterances" in out and "deprecated" not in err
    assert len(FeatureSet.load(tmp_path / "s.npz")) == 4


def test_the_old_positional_spelling_still_works_with_a_note(corpus, tmp_path, capsys):
    assert eggemo(["features", str(corpus), "--out", str(tmp_path / "old.npz"), "--cache", str(tmp_path / "cache"),
                   "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "wrote 4 utterances" in out
    assert "deprecated" in err and f"eggemo features --corpus {corpus}" in err
    assert eggemo(["features", "--corpus", str(corpus), "--out", str(tmp_path / "new.npz"), "--cache",
                   str(tmp_path / "cache"), "--quiet"]) == 0
    old, new = FeatureSet.load(tmp_path / "old.npz"), FeatureSet.load(tmp_path / "new.npz")
    np.testing.assert_array_equal(old.f0, new.f0)


def test_features_says_where_the_corpus_goes(corpus, tmp_path):
    with pytest.raises(SystemExit, match="give the corpus: --corpus DIR"):
        eggemo(["features", "--out", str(tmp_path / "f.npz")])
    with pytest.raises(SystemExit, match="given twice"):
        eggemo(["features", str(corpus), "--corpus", str(corpus), "--out", str(tmp_path / "f.npz")])
    assert not (tmp_path / "f.npz").exists()


@pytest.mark.parametrize("module, head", [(train_cli, ["student"]), (experiments, ["table4"])],
                         ids=["train", "experiment"])
def test_train_and_experiment_take_f0_source(module, head, corpus, tmp_path):
    args = parse(module, [*head, "--corpus", str(corpus), "--f0-source", "speech", "--out", str(tmp_path / "r")])
    cfg = train_cli.config_from_args(args)
    assert cfg.data.f0_source == "speech"
    same = train_cli.config_from_args(parse(module, [*head, "--corpus", str(corpus), "--set",
                                                     "data.f0_source=speech", "--out", str(tmp_path / "r")]))
    assert same == cfg                               # the flag and the config key say the same thing
    default = train_cli.config_from_args(parse(module, [*head, "--corpus", str(corpus), "--out", str(tmp_path)]))
    assert default.data.f0_source == "egg"


def test_train_extracts_with_the_f0_source_it_was_given(corpus, tmp_path):
    args = parse(train_cli, ["student", "--corpus", str(corpus), "--f0-source", "speech", "--out", str(tmp_path),
                             "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", "run.progress=false"])
    cfg = train_cli.config_from_args(args)
    speech, fc = train_cli.load_features(cfg, corpus=args.corpus, progress=False)
    assert fc["f0_source"] == "speech"
    egg, fc_egg = train_cli.load_features(train_cli.config_from_args(
        parse(train_cli, ["student", "--corpus", str(corpus), "--out", str(tmp_path),
                          "--set", f"data.cache_dir={tmp_path / 'cache'}"])), corpus=args.corpus, progress=False)
    assert fc_egg["f0_source"] == "egg" and not np.array_equal(speech.f0, egg.f0)


def test_f0_source_with_a_features_file_is_refused(tmp_path, capsys):
    for cmd in (["train", "student"], ["experiment", "table4"]):
        rc = eggemo([*cmd, "--features", str(tmp_path / "f.npz"), "--f0-source", "speech", "--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert rc == 2 and "--f0-source applies when features are extracted from --corpus" in err, err
        assert "eggemo features --corpus DIR --f0-source speech" in err and "Traceback" not in err


def test_features_out_without_npz_is_reported_and_found_as_written(corpus, tmp_path, capsys):
    """`features --out X` wrote X.npz but reported X, and `train --features X` then said "not found"."""
    assert eggemo(["features", "--corpus", str(corpus), "--out", str(tmp_path / "feats"), "--cache",
                   str(tmp_path / "cache"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"to {tmp_path / 'feats.npz'} in" in out and f"`--features {tmp_path / 'feats'}` finds it too" in out
    assert (tmp_path / "feats.npz").is_file() and not (tmp_path / "feats").exists()
    cfg = train_cli.config_from_args(parse(train_cli, ["student", "--features", str(tmp_path / "feats"),
                                                       "--out", str(tmp_path / "run")]))
    fs, fc = train_cli.load_features(cfg, features=tmp_path / "feats")
    assert len(fs) == 4 and fc["source"] == str(tmp_path / "feats.npz")
    # the export reads it by the same name
    from eggemo.export.data import load_featureset
    assert len(load_featureset(tmp_path / "feats", "--features")) == 4
