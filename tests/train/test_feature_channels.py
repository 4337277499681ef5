"""A FeatureSet holds every channel; a student picks its own by name, and says so when one is missing.

The two-step workflow (`eggemo features --out f.npz`, then `--features f.npz`) must give the recipe
the same channels as `--corpus`, and an older file that lacks them must be refused with the command
that writes a complete one, never read as whatever channels it happens to hold.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from eggemo.cli import main as eggemo
from eggemo.export.data import ExportDataError, load_export_data
from eggemo.train import cli as train_cli
from eggemo.train.cli import REPO_CONFIGS
from eggemo.train.config import load_config
from eggemo.core.feat import PAPER_INPUTS, STUDENT_INPUTS
from eggemo.train.featureset import FeatureSet, MissingChannels

RECIPE = load_config(REPO_CONFIGS / "eggemo.toml")
PAPER = load_config(REPO_CONFIGS / "default.toml")


@pytest.fixture(scope="module")
def two_step(tmp_path_factory):
    d = tmp_path_factory.mktemp("channels")
    assert eggemo(["synth", "--out", str(d / "c"), "--utterances", "7", "--speakers", "1", "--seed", "5",
                   "--quiet"]) == 0
    assert eggemo(["features", "--corpus", str(d / "c"), "--out", str(d / "f.npz"), "--cache", str(d / "cache"),
                   "--quiet"]) == 0
    return d


def test_features_writes_every_channel_and_its_settings(two_step):
    fs = FeatureSet.load(two_step / "f.npz")
    assert fs.f0_channels == STUDENT_INPUTS
    assert fs.feature_config["f0_source"] == "egg" and fs.feature_config["T"] == fs.f0.shape[1]


@pytest.mark.parametrize("cfg", [RECIPE, PAPER], ids=["recipe", "paper"])
def test_the_two_step_workflow_gives_the_configs_channels(two_step, cfg):
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, cache_dir=str(two_step / "cache")))
    from_file, fc_file = train_cli.load_features(cfg, features=two_step / "f.npz")
    from_corpus, fc_corpus = train_cli.load_features(cfg, corpus=two_step / "c", progress=False)
    wanted = tuple(cfg.features.get("student_inputs") or PAPER_INPUTS)
    assert from_file.f0_channels == from_corpus.f0_channels == wanted
    np.testing.assert_array_equal(from_file.f0, from_corpus.f0)
    # the checkpoint records the same channels and settings either way
    assert fc_file["student_inputs"] == fc_corpus["student_inputs"] == list(wanted)
    for key in ("f0_norm", "crop", "T", "f0_fmin", "f0_fmax", "f0_source"):
        assert fc_file[key] == fc_corpus[key], key


def old_file(path, channels):
    """A FeatureSet .npz as an older eggemo wrote it: the config's channels only, no settings
    (and, older still, no channel names)."""
    fs = FeatureSet.load(path)
    old = fs.select(channels)
    arrays = dict(logmel=old.logmel, f0=old.f0, labels=old.labels, label_names=np.array(old.label_names),
                  speakers=old.speakers, utt_ids=old.utt_ids)
    if channels != PAPER_INPUTS:
        arrays["f0_channels"] = np.array(channels)
    return arrays


def test_an_old_two_channel_file_is_refused_by_the_recipe_with_the_command_to_fix_it(two_step, capsys):
    np.savez(two_step / "old.npz", **old_file(two_step / "f.npz", PAPER_INPUTS))
    with pytest.raises(MissingChannels, match=r"no 'delta_log_f0'.*eggemo features --corpus DIR --out"):
        train_cli.load_features(RECIPE, features=two_step / "old.npz")
    # the paper's recipe reads exactly those two: it loads, and says the file records no settings
    fs, fc = train_cli.load_features(PAPER, features=two_step / "old.npz")
    assert fs.f0_channels == PAPER_INPUTS and fc["student_inputs"] == list(PAPER_INPUTS)
    assert "older eggemo" in capsys.readouterr().err


def test_train_refuses_a_file_without_the_recipes_channels_in_one_line(two_step, capsys):
    np.savez(two_step / "old2.npz", **old_file(two_step / "f.npz", ("log_f0", "voiced", "energy")))
    assert eggemo(["train", "student", "--features", str(two_step / "old2.npz"), "--out", str(two_step / "s")]) == 2
    err = capsys.readouterr().err
    assert "no 'delta_log_f0'" in err and "eggemo features --corpus" in err and "Traceback" not in err
    assert not (two_step / "s" / "best.pt").exists()


def test_export_reads_the_checkpoints_channels_by_name(two_step):
    ckpt = {"label_names": list(FeatureSet.load(two_step / "f.npz").label_names),
            "feature_config": {"student_inputs": ["voiced", "energy", "cq"]},
            "train_config": {"data": {"split": "stratified", "val_fraction": 0.3, "test_fraction": 0.3}}}
    data = load_export_data(ckpt, calib=two_step / "f.npz")
    full = FeatureSet.load(two_step / "f.npz")
    assert data.calib.shape[2] == 3
    np.testing.assert_array_equal(data.calib, full.select(["voiced", "energy", "cq"]).f0)
    ckpt["feature_config"]["student_inputs"] = ["log_f0", "shimmer"]
    np.savez(two_step / "old3.npz", **old_file(two_step / "f.npz", PAPER_INPUTS))
    with pytest.raises(ExportDataError, match="no 'shimmer'"):
        load_export_data(ckpt, calib=two_step / "old3.npz")
