"""`eggemo f0` and the F0 part of `eggemo demo`, run as a user runs them."""
from __future__ import annotations

import subprocess
import sys

import numpy as np

from eggemo.cli import main

from .conftest import DATA


def test_f0_command_writes_csv_and_plot(tmp_path, capsys):
    wav = DATA / "M1_FrameSentence_stereo.wav"  # speech on channel 1, EGG on channel 2
    rc = main(["f0", str(wav), "--praat", str(DATA / "M1_FrameSentence_EGG.praat_f0.csv"),
               "--csv", str(tmp_path / "f0.csv"), "--plot", str(tmp_path / "f0.png"), "--every", "10"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "against Praat" in out and "GPE  0.00 %" in out
    assert "CQ" in out and "jitter" in out and "shimmer" in out        # summary line and table header
    header = (tmp_path / "f0.csv").read_text().splitlines()[0]
    assert header == "time_s,f0_hz,voiced,periodicity,energy_db,cq,jitter,shimmer"
    table = np.loadtxt(tmp_path / "f0.csv", delimiter=",", skiprows=1)
    assert table.shape[1] == 8 and 120 <= len(table) <= 135
    voiced = table[:, 2] == 1
    assert 130 < np.median(table[voiced, 1]) < 180
    cq, jitter, shimmer = table[:, 5], table[:, 6], table[:, 7]
    assert np.all(table[~voiced, 5:] == 0)                              # voice quality only where voiced
    assert 0.3 < np.median(cq[voiced]) < 0.6 and np.all((cq >= 0) & (cq <= 1))
    assert 0 < np.median(jitter[voiced]) < 0.03 and 0 < np.median(shimmer[voiced]) < 0.05
    assert (tmp_path / "f0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_f0_csv_voice_quality_is_the_tracks(tmp_path):
    """The CSV's cq, jitter and shimmer columns are the C core's, to the CSV's 6 digits."""
    from eggemo.core.f0 import f0_track
    from eggemo.wavio import read_wav

    wav = DATA / "M11_disyll_stereo.wav"
    assert main(["f0", str(wav), "--csv", str(tmp_path / "f0.csv"), "--every", "0"]) == 0
    table = np.loadtxt(tmp_path / "f0.csv", delimiter=",", skiprows=1)
    fs, x = read_wav(wav)
    track = f0_track(x[:, 1], fs)
    for col, name in ((5, "cq"), (6, "jitter"), (7, "shimmer")):
        np.testing.assert_allclose(table[:, col], getattr(track, name), rtol=1e-5, atol=1e-9, err_msg=name)


def test_f0_command_bad_input_is_a_clear_message(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    run = subprocess.run([sys.executable, "-m", "eggemo.cli", "f0", str(bad)], capture_output=True, text=True)
    assert run.returncode != 0
    assert f"{bad}: truncated WAV: the file ends inside its header" in run.stderr and "Traceback" not in run.stderr


def _eggemo(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eggemo.cli", *argv], capture_output=True, text=True)


def test_f0_refuses_a_truncated_wav(tmp_path):
    """A cut copy used to be analysed silently up to where it ends."""
    data = (DATA / "M1_FrameSentence_stereo.wav").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:len(data) // 2])
    run = _eggemo("f0", str(cut))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert f"{cut}: truncated WAV" in run.stderr and "copy or export the file again" in run.stderr


def test_f0_on_a_folder_says_it_is_a_folder(tmp_path):
    run = _eggemo("f0", str(tmp_path))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert f"{tmp_path}: is a folder, not a WAV file" in run.stderr and "no such file" not in run.stderr


def test_f0_csv_into_a_missing_folder_makes_it(tmp_path):
    csv = tmp_path / "new" / "sub" / "f0.csv"
    assert main(["f0", str(DATA / "M1_FrameSentence_stereo.wav"), "--csv", str(csv), "--every", "0"]) == 0
    assert csv.read_text().startswith("time_s,f0_hz")


def test_f0_output_onto_a_folder_or_under_a_file_is_refused_before_the_analysis(tmp_path):
    (tmp_path / "afile").write_text("keep me")
    for option, path, words in (("--csv", tmp_path, "is a folder, not a file"),
                                ("--plot", tmp_path / "afile" / "f0.png", "is a file, not a folder")):
        run = _eggemo("f0", str(DATA / "M1_FrameSentence_stereo.wav"), option, str(path))
        assert run.returncode != 0 and "Traceback" not in run.stderr
        assert f"{option} {path}: " in run.stderr and words in run.stderr
        assert "frames" not in run.stdout             # nothing was analysed
    assert (tmp_path / "afile").read_text() == "keep me"
