"""FLAC, OGG/Vorbis, AIFF and 24/32-bit WAV, written with soundfile (libsndfile) and read back by
both audio readers (eggemo.wavio for `f0`/the monitor, eggemo.train.audio for corpora), with
the same clear errors for cut, corrupt or empty files."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from eggemo import wavio
from eggemo.train import audio

sf = pytest.importorskip("soundfile")

REAL = Path(__file__).resolve().parent / "data" / "egg_real"
FS = 16000

# (format, subtype, suffix, tolerance): lossless formats to within their quantisation step
CASES = [
    ("FLAC", "PCM_16", "flac", 1 / 2**15), ("FLAC", "PCM_24", "flac", 1 / 2**23),
    ("OGG", "VORBIS", "ogg", None),
    ("AIFF", "PCM_16", "aiff", 1 / 2**15), ("AIFF", "PCM_24", "aiff", 1 / 2**23), ("AIFF", "FLOAT", "aiff", 1e-7),
    ("WAV", "PCM_24", "wav", 1 / 2**23), ("WAV", "PCM_32", "wav", 1 / 2**31), ("WAVEX", "PCM_24", "wav", 1 / 2**23),
    ("WAV", "FLOAT", "wav", 1e-7), ("WAV", "DOUBLE", "wav", 1e-7),
]


def signal(n: int = FS, channels: int = 2) -> np.ndarray:
    t = np.arange(n) / FS
    x = np.stack([0.5 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 131 * t + 0.5)], axis=1)
    return x[:, :channels]


@pytest.mark.parametrize("fmt, subtype, suffix, tol", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_both_readers_read_what_libsndfile_wrote(tmp_path, fmt, subtype, suffix, tol):
    x = signal()
    path = tmp_path / f"a.{suffix}"
    sf.write(path, x, FS, format=fmt, subtype=subtype)
    fs1, y1 = wavio.read_wav(path)
    y2, fs2 = audio.read_wav(path)
    for y in (y1, y2):
        assert y.dtype == np.float32 and y.shape == x.shape
        if tol is None:                                   # Vorbis is lossy: the tones survive
            assert np.corrcoef(y[:, 0], x[:, 0])[0, 1] > 0.99 and np.corrcoef(y[:, 1], x[:, 1])[0, 1] > 0.99
        else:
            assert np.max(np.abs(y - x)) <= tol + 1e-7
    assert fs1 == fs2 == FS
    info = audio.wav_info(path)
    assert (info.fs, info.channels, info.frames) == (FS, 2, len(x))


@pytest.mark.parametrize("fmt, subtype, suffix", [("FLAC", "PCM_16", "flac"), ("AIFF", "PCM_16", "aiff"),
                                                  ("OGG", "VORBIS", "ogg")])
def test_a_cut_file_is_an_error_not_half_a_signal(tmp_path, fmt, subtype, suffix):
    whole = tmp_path / f"whole.{suffix}"
    sf.write(whole, signal(), FS, format=fmt, subtype=subtype)
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) // 2])
    words = r"truncated|no samples|cut or corrupt"
    with pytest.raises(ValueError, match=words) as e1:
        wavio.read_wav(cut)
    with pytest.raises(audio.AudioError, match=words) as e2:
        audio.read_wav(cut)
    assert str(cut) in str(e1.value) and str(cut) in str(e2.value)
    if fmt != "OGG":                                      # OGG declares no length up front
        with pytest.raises(audio.AudioError, match=words):
            audio.load_channel(cut, 1, FS)


def test_corrupt_empty_and_nan_files_say_what_is_wrong(tmp_path):
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"fLaC" + bytes(200))
    for read in (wavio.read_wav, audio.read_wav, audio.wav_info):
        with pytest.raises(ValueError, match=r"junk.flac: not a readable FLAC file .*cut or corrupt"):
            read(junk)
    nan = signal()
    nan[100, 0] = np.nan
    sf.write(tmp_path / "nan.aiff", nan, FS, format="AIFF", subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN or infinite"):
        wavio.read_wav(tmp_path / "nan.aiff")
    with pytest.raises(audio.AudioError, match="NaN or infinite"):
        audio.read_wav(tmp_path / "nan.aiff")
    text = tmp_path / "notes.flac"                        # the name says FLAC, the bytes do not
    text.write_text("not audio at all, whatever the name says")
    with pytest.raises(audio.AudioError, match="not a WAV, FLAC, OGG/Vorbis or AIFF file"):
        audio.read_wav(text)
    with pytest.raises(ValueError, match="not a readable WAV file"):
        wavio.read_wav(text)


def test_files_are_told_apart_by_content_not_name(tmp_path):
    x = signal()
    sf.write(tmp_path / "really_flac.wav", x, FS, format="FLAC", subtype="PCM_24")
    assert np.max(np.abs(wavio.read_wav(tmp_path / "really_flac.wav")[1] - x)) <= 1 / 2**23 + 1e-7
    assert audio.wav_info(tmp_path / "really_flac.wav").bits == 24


def test_f0_command_on_flac_equals_the_wav(tmp_path, capsys):
    """The real EGG recording, losslessly as FLAC: `eggemo f0` gives the same table."""
    from eggemo.cli import main

    x, fs = sf.read(REAL / "M1_FrameSentence_EGG.wav", dtype="int32", always_2d=True)
    sf.write(tmp_path / "egg.flac", x, fs, format="FLAC", subtype="PCM_24")   # the WAV is 24-bit: lossless
    assert main(["f0", str(REAL / "M1_FrameSentence_EGG.wav"), "--csv", str(tmp_path / "wav.csv")]) == 0
    assert main(["f0", str(tmp_path / "egg.flac"), "--csv", str(tmp_path / "flac.csv")]) == 0
    assert (tmp_path / "flac.csv").read_text() == (tmp_path / "wav.csv").read_text()


def test_a_corpus_of_flac_files_gives_the_wav_features(tmp_path, capsys):
    from eggemo.cli import main
    from eggemo.train.featureset import FeatureSet

    assert main(["synth", "--out", str(tmp_path / "c"), "--utterances", "3", "--speakers", "1", "--seed", "5",
                 "--quiet"]) == 0
    manifest = (tmp_path / "c" / "manifest.csv").read_text()
    for wav in sorted((tmp_path / "c" / "wav").glob("*.wav")):
        data, fs = sf.read(wav, dtype="int16", always_2d=True)
        sf.write(wav.with_suffix(".flac"), data, fs, format="FLAC", subtype="PCM_16")
        wav.unlink()
    (tmp_path / "c" / "manifest.csv").write_text(manifest.replace(".wav", ".flac"))
    assert main(["features", "--corpus", str(tmp_path / "c"), "--out", str(tmp_path / "flac.npz"), "--quiet"]) == 0
    assert "wrote 3 utterances" in capsys.readouterr().out
    assert main(["synth", "--out", str(tmp_path / "w"), "--utterances", "3", "--speakers", "1", "--seed", "5",
                 "--quiet"]) == 0
    assert main(["features", "--corpus", str(tmp_path / "w"), "--out", str(tmp_path / "wav.npz"), "--quiet"]) == 0
    a, b = FeatureSet.load(tmp_path / "flac.npz"), FeatureSet.load(tmp_path / "wav.npz")
    np.testing.assert_array_equal(a.f0, b.f0)
    np.testing.assert_array_equal(a.logmel, b.logmel)


def test_without_soundfile_flac_says_what_to_install_and_wav_still_reads(tmp_path):
    sf.write(tmp_path / "a.flac", signal(), FS, format="FLAC")
    sf.write(tmp_path / "a.wav", signal(), FS, format="WAV", subtype="PCM_16")
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "soundfile":
                    raise ImportError("blocked")
        sys.meta_path.insert(0, Block())
        from eggemo import wavio
        from eggemo.train import audio
        assert wavio.read_wav({str(tmp_path / 'a.wav')!r})[1].shape == ({FS}, 2)
        assert audio.read_wav({str(tmp_path / 'a.wav')!r})[0].shape == ({FS}, 2)
        for read in (wavio.read_wav, audio.read_wav, audio.wav_info):
            try:
                read({str(tmp_path / 'a.flac')!r})
            except ValueError as exc:
                print(exc)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 3 and all("needs the soundfile package" in line and "pip install soundfile" in line
                                   for line in lines)


def _broken_headers(tmp_path: Path) -> dict[str, Path]:
    """A 16-bit mono WAV cut at several points inside its header, and with 0 channels or 0 Hz."""
    import struct

    good = tmp_path / "good.wav"
    audio.write_wav(good, signal(channels=1), FS)
    data = good.read_bytes()
    files = {}
    for n in (11, 14, 20, 30, 40, 43):                  # in RIFF, in fmt, before and inside the data header
        files[f"cut{n}"] = tmp_path / f"cut{n}.wav"
        files[f"cut{n}"].write_bytes(data[:n])
    for name, offset, fmt in (("zero_channels", 22, "<H"), ("zero_rate", 24, "<I")):
        b = bytearray(data)
        struct.pack_into(fmt, b, offset, 0)
        files[name] = tmp_path / f"{name}.wav"
        files[name].write_bytes(bytes(b))
    return files


def test_a_wav_cut_inside_its_header_or_without_channels_is_one_clear_line(tmp_path):
    """`eggemo f0` and `eggemo monitor --emulate` used to end in scipy's struct.error (a header cut
    before its data) or ZeroDivisionError (0 channels)."""
    import re

    from eggemo.cli import main

    for name, path in _broken_headers(tmp_path).items():
        want = ("truncated WAV: the file ends inside its header" if name.startswith("cut") else
                "corrupt WAV header: it declares 0 channels" if name == "zero_channels" else
                "corrupt WAV header: it declares a sample rate of 0 Hz")
        with pytest.raises(ValueError, match=want):
            wavio.read_wav(path)
        with pytest.raises(SystemExit, match=f"^eggemo f0: {re.escape(str(path))}: {want}"):
            main(["f0", str(path)])
        if name in ("cut20", "zero_channels"):       # the two tracebacks the monitor showed, as a user runs it
            run = subprocess.run([sys.executable, "-m", "eggemo.cli", "monitor", "--emulate", str(path), "--plain"],
                                 capture_output=True, text=True, timeout=120)
            assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-1500:]
            assert f"{path}: {want}" in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
