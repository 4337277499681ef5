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
    table = np.loadtxt(tmp_path / "f0.csv", delimiter=",", skiprows=1)
    assert table.shape[1] == 5 and 120 <= len(table) <= 135
    voiced = table[:, 2] == 1
    assert 130 < np.median(table[voiced, 1]) < 180
    assert (tmp_path / "f0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_f0_command_bad_input_is_a_clear_message(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    run = subprocess.run([sys.executable, "-m", "eggemo.cli", "f0", str(bad)], capture_output=True, text=True)
    assert run.returncode != 0
    assert "not a readable WAV file" in run.stderr and "Traceback" not in run.stderr
