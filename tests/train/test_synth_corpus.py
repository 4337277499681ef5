"""The synthetic corpus: files and manifest, determinism, EGG F0 truth, and where the emotion cues show."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from eggemo.cli import main as eggemo
from eggemo.core.f0 import f0_track
from eggemo.train.audio import read_wav, wav_info
from eggemo.train.featureset import FeatureSet
from eggemo.train.synth_corpus import (EMOTIONS, CorpusConfig, make_speakers, make_texts, render,
                                       utterance_style, write_corpus)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    write_corpus(out, CorpusConfig(n_utterances=21, n_speakers=3, seed=1))
    return out


def rows(path: Path) -> list[dict]:
    with open(path / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_files_and_manifest(corpus):
    r = rows(corpus)
    assert len(r) == 21
    assert {x["label"] for x in r} == set(EMOTIONS) - {"surprise"}
    assert sorted({x["speaker"] for x in r}) == ["01", "02", "03"]
    assert {x["sex"] for x in r} == {"m", "f"}
    counts = {lab: sum(x["label"] == lab for x in r) for lab in {x["label"] for x in r}}
    assert set(counts.values()) == {3}                              # balanced over emotions
    for x in r:
        info = wav_info(corpus / x["speech_path"])
        assert (info.fs, info.channels, info.bits) == (16000, 2, 16)
        assert 1.0 < info.frames / 16000 < 5.5
    for name in ("speakers.csv", "f0_true.npz", "corpus.json"):
        assert (corpus / name).is_file()


def test_same_seed_same_bytes_other_seed_other_corpus(corpus, tmp_path):
    write_corpus(tmp_path / "again", CorpusConfig(n_utterances=21, n_speakers=3, seed=1))
    write_corpus(tmp_path / "other", CorpusConfig(n_utterances=21, n_speakers=3, seed=2))
    first = rows(corpus)[4]["speech_path"]
    assert (corpus / first).read_bytes() == (tmp_path / "again" / first).read_bytes()
    other = rows(tmp_path / "other")[4]["speech_path"]
    assert (corpus / first).read_bytes() != (tmp_path / "other" / other).read_bytes()


def test_cdesd_set_has_surprise_instead_of_boredom(tmp_path):
    write_corpus(tmp_path, CorpusConfig(n_utterances=7, n_speakers=1, label_set="cdesd"))
    labels = {x["label"] for x in rows(tmp_path)}
    assert "surprise" in labels and "boredom" not in labels and len(labels) == 7


def test_the_f0_core_recovers_the_true_f0_from_the_egg_channel(corpus):
    truth = np.load(corpus / "f0_true.npz")
    errors, agree = [], []
    for x in rows(corpus)[:10]:
        data, fs = read_wav(corpus / x["speech_path"])
        track = f0_track(data[:, 1], fs)
        true = truth[x["utt_id"]][: len(track)]
        agree.append(np.mean((true > 0) == track.voiced[: len(true)]))
        both = (true > 0) & track.voiced[: len(true)]
        errors.append(np.abs(track.f0[: len(true)][both] / true[both] - 1))
    e = np.concatenate(errors)
    assert np.median(e) < 0.01 and np.mean(e > 0.2) < 0.01
    assert np.mean(agree) > 0.85


def one_voice(emotion: str, **override):
    config = CorpusConfig(n_speakers=1, spread=0.0)
    speaker, text = make_speakers(config)[0], make_texts(config)[0]
    style = utterance_style(speaker, emotion, np.random.default_rng(0), spread=0.0)
    style.update(override)
    return render(speaker, text, emotion, style, 16000, np.random.default_rng(7))


def test_speech_only_cues_leave_the_egg_untouched():
    base = one_voice("neutral")
    changed = one_voice("neutral", f1=1.2, f2=0.8, tilt_oct=1.0, breath_db=10.0, level_db=6.0, bw=1.3)
    np.testing.assert_array_equal(base[1], changed[1])          # EGG
    np.testing.assert_array_equal(base[2], changed[2])          # true F0
    assert not np.array_equal(base[0], changed[0])              # speech


def test_emotions_move_the_cues_in_the_designed_direction():
    def stats(emotion):
        speech, egg, f0 = one_voice(emotion)
        spec = np.abs(np.fft.rfft(speech)) ** 2
        f = np.fft.rfftfreq(len(speech), 1 / 16000)
        return (np.median(f0[f0 > 0]), np.sqrt(np.mean(speech ** 2)),
                spec[f > 2000].sum() / spec[f < 1000].sum(), len(speech))

    anger, neutral, sad = stats("anger"), stats("neutral"), stats("sadness")
    assert anger[0] > neutral[0] > sad[0]          # F0 level
    assert anger[1] > neutral[1] > sad[1]          # vocal effort
    assert anger[2] > sad[2]                       # flatter spectral tilt
    assert anger[3] < neutral[3] < sad[3]          # speaking rate


def test_commands_synth_and_features(tmp_path, capsys):
    assert eggemo(["synth", "--out", str(tmp_path / "c"), "--utterances", "7", "--speakers", "1", "--seed", "4",
                   "--quiet"]) == 0
    assert eggemo(["features", str(tmp_path / "c"), "--out", str(tmp_path / "f.npz"), "--cache",
                   str(tmp_path / "cache"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| anger" in out and "wrote 7 utterances" in out
    fs = FeatureSet.load(tmp_path / "f.npz")
    assert fs.logmel.shape == (7, 80, 300) and fs.f0.shape == (7, 300, len(fs.f0_channels)) and len(fs.f0_channels) == 9
    with pytest.raises(SystemExit, match="no such file"):
        eggemo(["features", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g.npz")])


def test_synth_out_refuses_a_filled_folder_unless_replacing_its_own_corpus(tmp_path, capsys):
    """A second `synth --out` into the same folder used to replace the manifest silently and leave
    the first corpus's WAVs beside the new ones."""
    c = tmp_path / "c"
    synth = ["synth", "--out", str(c), "--speakers", "1", "--quiet"]
    assert eggemo([*synth, "--utterances", "3", "--seed", "5"]) == 0
    before = (c / "manifest.csv").read_bytes()
    with pytest.raises(SystemExit, match=r"holds a corpus already \(written by `eggemo synth`\); give a new or "
                                         r"empty folder, or add --replace to remove that corpus first"):
        eggemo([*synth, "--utterances", "2", "--seed", "6"])
    assert (c / "manifest.csv").read_bytes() == before and len(list((c / "wav").iterdir())) == 3
    capsys.readouterr()
    assert eggemo([*synth, "--utterances", "2", "--seed", "6", "--replace"]) == 0
    assert "removed the old corpus" in capsys.readouterr().out
    r = rows(c)
    assert len(r) == 2 and sorted(p.name for p in (c / "wav").iterdir()) == sorted(Path(x["speech_path"]).name for x in r)
    # --replace removes only what synth wrote: a folder with anything else is left as it is
    (c / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match=r"holds a corpus of `eggemo synth` and other files \(.*notes.txt\).*"
                                         r"--replace removes only a corpus `eggemo synth` wrote"):
        eggemo([*synth, "--utterances", "2", "--replace"])
    assert (c / "notes.txt").read_text() == "mine" and len(rows(c)) == 2
    other = tmp_path / "recordings"
    (other / "wav").mkdir(parents=True)
    (other / "wav" / "a.wav").write_bytes(b"RIFF")
    with pytest.raises(SystemExit, match=r"it holds files `eggemo synth` did not write"):
        eggemo(["synth", "--out", str(other), "--utterances", "1", "--quiet", "--replace"])
    assert (other / "wav" / "a.wav").read_bytes() == b"RIFF"
