"""Corpus loaders on tiny generated corpora: EMO-DB names (stereo and laryngo/), a manifest, the synthetic corpus."""
from __future__ import annotations

import csv
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from eggemo.train.audio import AudioError, write_wav
from eggemo.train.data import (CDESD_LABELS, EMODB_LABELS, UNLABELLED, CorpusError, Item, Skipped, label_names_for,
                               load_corpus, read_item)
from eggemo.train.synth_corpus import CorpusConfig, write_corpus

REAL = Path(__file__).resolve().parents[1] / "data" / "egg_real"
FS = 16000
NAMES = ["03a01Wa.wav", "03a02La.wav", "08b01Fb.wav", "08b10Tc.wav", "10a05Na.wav"]


def tone(f: float, seconds: float = 0.3, fs: int = FS) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return 0.3 * np.sin(2 * np.pi * f * t)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    write_corpus(out, CorpusConfig(n_utterances=14, n_speakers=2, seed=3))
    return out


def test_emodb_stereo_files_carry_the_egg_on_channel_2(tmp_path):
    for i, name in enumerate(NAMES):
        write_wav(tmp_path / name, np.stack([tone(200 + i), tone(100 + i)], axis=1), FS)
    items = load_corpus(tmp_path)
    assert [it.utt_id for it in items] == sorted(Path(n).stem for n in NAMES)
    assert [it.label for it in items] == ["anger", "boredom", "happiness", "sadness", "neutral"]
    assert [it.speaker for it in items] == ["03", "03", "08", "08", "10"]
    assert all(it.egg_channel == 2 and it.egg_path is None and it.f0_source == "egg" for it in items)
    speech, egg = read_item(items[0], FS)
    np.testing.assert_allclose(speech, tone(200), atol=1e-4)
    np.testing.assert_allclose(egg, tone(100), atol=1e-4)


def test_emodb_with_laryngo_folder_and_wav_subfolder(tmp_path):
    (tmp_path / "wav").mkdir()
    (tmp_path / "laryngo").mkdir()
    for name in NAMES[:3]:
        write_wav(tmp_path / "wav" / name, tone(300), FS)
        write_wav(tmp_path / "laryngo" / name, tone(120), FS)
    items = load_corpus(tmp_path)
    assert len(items) == 3
    assert all(it.egg_path == str(tmp_path / "laryngo" / Path(it.speech_path).name) and it.egg_channel == 1
               for it in items)
    speech, egg = read_item(items[0], FS)
    np.testing.assert_allclose(egg, tone(120), atol=1e-4)


def test_speech_only_corpus_needs_the_explicit_proxy(tmp_path):
    for name in NAMES[:2]:
        write_wav(tmp_path / name, tone(300), FS)
    with pytest.raises(CorpusError, match="f0_source='speech'"):
        load_corpus(tmp_path)
    items = load_corpus(tmp_path, f0_source="speech")
    assert all(it.f0_source == "speech" and it.f0_path == it.speech_path for it in items)
    speech, f0_signal = read_item(items[0], FS)
    assert f0_signal is speech


def test_unknown_emotion_letter_is_an_error_or_a_reported_skip(tmp_path):
    for name in ["03a01Wa.wav", "03a01Xa.wav"]:
        write_wav(tmp_path / name, np.stack([tone(200), tone(100)], axis=1), FS)
    with pytest.raises(CorpusError, match="unknown EMO-DB emotion letter 'X'"):
        load_corpus(tmp_path)
    skipped: list[Skipped] = []
    with pytest.warns(UserWarning, match="03a01Xa"):
        items = load_corpus(tmp_path, skip_bad=True, skipped=skipped)
    assert [it.utt_id for it in items] == ["03a01Wa"]
    assert len(skipped) == 1 and skipped[0].path.endswith("03a01Xa.wav") and "letter" in skipped[0].reason


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(CorpusError, match="no .wav files"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus(tmp_path / "nowhere")


def test_corrupt_emodb_file_is_named(tmp_path):
    write_wav(tmp_path / "03a01Wa.wav", np.stack([tone(200), tone(100)], axis=1), FS)
    (tmp_path / "03a02Wa.wav").write_bytes(b"garbage")
    with pytest.raises(CorpusError, match="03a02Wa.wav.*not a WAV"):
        load_corpus(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(load_corpus(tmp_path, skip_bad=True)) == 1


def test_features_refuses_a_corpus_with_a_truncated_file(tmp_path, capsys):
    from eggemo.cli import main as eggemo

    write_wav(tmp_path / "03a01Wa.wav", np.stack([tone(200), tone(100)], axis=1), FS)
    write_wav(tmp_path / "whole.wav", np.stack([tone(220), tone(110)], axis=1), FS)
    data = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "whole.wav").unlink()
    (tmp_path / "03a02Wa.wav").write_bytes(data[:len(data) // 2])         # a cut copy
    with pytest.raises(SystemExit, match="03a02Wa.wav.*truncated WAV"):
        eggemo(["features", str(tmp_path), "--out", str(tmp_path / "f.npz"), "--quiet"])
    assert not (tmp_path / "f.npz").exists()


def write_manifest(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_manifest_with_separate_egg_files_and_channels(tmp_path):
    (tmp_path / "audio").mkdir()
    write_wav(tmp_path / "audio" / "u1_speech.wav", tone(300), FS)
    write_wav(tmp_path / "audio" / "u1_egg.wav", tone(110), FS)
    write_wav(tmp_path / "audio" / "u2.wav", np.stack([tone(130), tone(310)], axis=1), FS)  # EGG first
    manifest = write_manifest(tmp_path / "list.csv", [
        {"speech_path": "audio/u1_speech.wav", "egg_path": "audio/u1_egg.wav", "speech_channel": "",
         "egg_channel": "", "label": "Surprise", "speaker": "A"},
        {"speech_path": "audio/u2.wav", "egg_path": "", "speech_channel": "2", "egg_channel": "1",
         "label": "anger", "speaker": "B"},
    ])
    items = load_corpus(manifest, label_set="cdesd")
    assert [(it.utt_id, it.label, it.speaker) for it in items] == [("u1_speech", "surprise", "A"), ("u2", "anger", "B")]
    s1, e1 = read_item(items[0], FS)
    s2, e2 = read_item(items[1], FS)
    np.testing.assert_allclose(e1, tone(110), atol=1e-4)
    np.testing.assert_allclose(s2, tone(310), atol=1e-4)
    np.testing.assert_allclose(e2, tone(130), atol=1e-4)
    assert label_names_for(items) == CDESD_LABELS


@pytest.mark.parametrize("row, words", [
    ({"speech_path": "a.wav", "label": "joy", "speaker": "A"}, "unknown label 'joy'"),
    ({"speech_path": "missing.wav", "label": "anger", "speaker": "A"}, "does not exist"),
    ({"speech_path": "a.wav", "label": "anger", "speaker": "A", "egg_channel": "two"}, "channel number"),
    ({"speech_path": "mono.wav", "label": "anger", "speaker": "A"}, "no EGG"),
])
def test_manifest_errors(tmp_path, row, words):
    write_wav(tmp_path / "a.wav", np.stack([tone(300), tone(100)], axis=1), FS)
    write_wav(tmp_path / "mono.wav", tone(300), FS)
    manifest = write_manifest(tmp_path / "manifest.csv", [row])
    with pytest.raises(CorpusError, match=words):
        load_corpus(tmp_path, label_set="emodb")


def test_manifest_missing_columns(tmp_path):
    manifest = write_manifest(tmp_path / "m.csv", [{"file": "a.wav", "emotion": "anger"}])
    with pytest.raises(CorpusError, match=r"missing column\(s\).*speaker.*speech_path.*optionally label"):
        load_corpus(manifest)


def test_a_manifest_row_with_an_empty_label_is_an_unlabelled_paired_recording(tmp_path):
    """Unlabelled paired recordings (speech + EGG nobody labelled) load beside labelled ones; they
    add no label name, and a manifest without a label column is wholly unlabelled."""
    write_wav(tmp_path / "a.wav", np.stack([tone(300), tone(100)], axis=1), FS)
    write_wav(tmp_path / "b.wav", np.stack([tone(250), tone(120)], axis=1), FS)
    write_manifest(tmp_path / "manifest.csv", [
        {"speech_path": "a.wav", "label": "anger", "speaker": "A", "utt_id": "a"},
        {"speech_path": "b.wav", "label": "", "speaker": "A", "utt_id": "b"},
        {"speech_path": "a.wav", "label": " ", "speaker": "B", "utt_id": "c"}])
    items = load_corpus(tmp_path, label_set="emodb")
    assert [it.label for it in items] == ["anger", UNLABELLED, UNLABELLED]
    assert label_names_for(items) == EMODB_LABELS
    bare = write_manifest(tmp_path / "bare.csv", [{"speech_path": "a.wav", "speaker": "A"}])
    assert [it.label for it in load_corpus(bare)] == [UNLABELLED]
    # an unknown label is still an error: only an empty one means "nobody labelled it"
    bad = write_manifest(tmp_path / "bad.csv", [{"speech_path": "a.wav", "label": "joy", "speaker": "A"}])
    with pytest.raises(CorpusError, match="unknown label 'joy'"):
        load_corpus(bad, label_set="emodb")


def test_a_folder_of_paired_recordings_loads_unlabelled_with_speakers_from_subfolders(tmp_path):
    for spk in ("alice", "bob"):
        (tmp_path / spk).mkdir()
        for k in range(2):
            write_wav(tmp_path / spk / f"session{k}.wav", np.stack([tone(300), tone(100)], axis=1), FS)
    items = load_corpus(tmp_path)
    assert sorted((it.utt_id, it.speaker, it.label) for it in items) == [
        ("alice/session0", "alice", ""), ("alice/session1", "alice", ""),
        ("bob/session0", "bob", ""), ("bob/session1", "bob", "")]
    speech, egg = read_item(items[0], FS)
    assert len(speech) == len(egg) > 0
    write_wav(tmp_path / "alice" / "mono.wav", tone(300), FS)
    with pytest.raises(CorpusError, match="one channel: a paired recording"):
        load_corpus(tmp_path)


def test_synthetic_corpus_loads_as_a_manifest(synth):
    items = load_corpus(synth)
    assert len(items) == 14 and {it.speaker for it in items} == {"01", "02"}
    assert {it.label for it in items} == set(EMODB_LABELS)
    assert label_names_for(items) == EMODB_LABELS
    speech, egg = read_item(items[0], FS)
    assert speech.dtype == np.float32 and len(speech) == len(egg) > FS
    # the synthetic files also follow EMO-DB's naming, so the EMO-DB loader reads them (EGG on channel 2)
    emodb = load_corpus(synth / "wav", kind="emodb")
    assert sorted((it.utt_id, it.label, it.speaker) for it in emodb) == sorted((it.utt_id, it.label, it.speaker)
                                                                               for it in items)


def test_a_file_at_another_rate_is_resampled(tmp_path):
    shutil.copy(REAL / "M1_FrameSentence_stereo.wav", tmp_path / "03a01Na.wav")   # 44.1 kHz, 24-bit, 1.32 s
    (item,) = load_corpus(tmp_path)
    speech, egg = read_item(item, FS)
    assert abs(len(speech) - round(58272 * FS / 44100)) <= 1 and len(egg) == len(speech)


def test_unreadable_item_is_an_audio_error(tmp_path):
    item = Item("x", str(tmp_path / "gone.wav"), "anger", "A")
    with pytest.raises(AudioError, match="cannot read"):
        read_item(item, FS)


def test_a_manifest_that_is_not_utf8_names_its_file_line_and_encoding(tmp_path, capsys):
    """A Latin-1 manifest used to stop `eggemo features` with Python's bare "'utf-8' codec can't decode
    byte 0xe9 in position 127", naming no file."""
    from eggemo.cli import main as eggemo

    write_wav(tmp_path / "a.wav", np.stack([tone(300), tone(100)], axis=1), FS)
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes("speech_path,label,speaker\na.wav,anger,A\na.wav,sadness,Jos\u00e9\n".encode("latin-1"))
    with pytest.raises(SystemExit, match=rf"^eggemo features: {manifest}:3: the manifest is not UTF-8 text \(byte "
                                         rf"0xe9 at offset 57 .*a Latin-1 or Windows-1252 file\?\); save it as UTF-8"):
        eggemo(["features", "--corpus", str(tmp_path), "--out", str(tmp_path / "f.npz"), "--quiet"])
    # far into a long file (past the chunk the text reader decodes at once), still the right line
    rows = "".join(f"a.wav,anger,S{i}\n" for i in range(2000))
    manifest.write_bytes(f"speech_path,label,speaker\n{rows}a.wav,sadness,Jos\u00e9\n".encode("latin-1"))
    with pytest.raises(SystemExit, match=rf"{manifest}:2002: the manifest is not UTF-8 text"):
        eggemo(["features", "--corpus", str(tmp_path), "--out", str(tmp_path / "f.npz"), "--quiet"])
    # the same file as UTF-8, saved by a spreadsheet with a byte-order mark, reads
    write_wav(tmp_path / "b.wav", np.stack([tone(300), tone(100)], axis=1), FS)
    manifest.write_bytes("speech_path,label,speaker\na.wav,anger,A\nb.wav,sadness,Jos\u00e9\n".encode("utf-8-sig"))
    assert [it.speaker for it in load_corpus(tmp_path)] == ["A", "Jos\u00e9"]
