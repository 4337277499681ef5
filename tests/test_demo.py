"""`eggemo demo` as an integration test, on a smaller corpus: every part of the system in one run
(corpus, teacher, distilled student, int8 export checked in TFLite Micro, firmware under QEMU,
live monitor) must work together."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from eggemo.cli import main


def test_demo_end_to_end_small(tmp_path, capsys):
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        if os.environ.get("CI"):
            pytest.fail("CI needs arm-none-eabi-gcc and qemu-system-arm (make sysdeps installs them)")
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm: apt-get install gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi qemu-system-arm")
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--utterances", "140", "--speakers", "4", "--stream", "4", "--plain"])
    assert rc == 0
    text = capsys.readouterr().out
    for n in range(1, 7):
        assert f"== [{n}/6]" in text
    s = json.loads((out / "summary.json").read_text())
    assert s["utterances"] == 4
    assert s["utterances_without_live_prediction"] == 0      # the board's F0 reached the monitor for each one
    assert s["link"]["crc_errors"] == 0 and s["link"]["samples_dropped"] == 0 and s["link"]["samples_lost"] == 0
    assert 0 < s["firmware"]["hop_cost_mean"] <= s["firmware"]["hop_cost_max"] < 336000
    for acc in s["accuracy"].values():
        assert 0.0 <= acc <= 1.0
    assert (out / "export" / "student_int8.tflite").is_file()
    assert {p.name for p in (out / "plots").glob("*.png")} >= {"f0_tracks.png", "student_test_confusion.png", "student_test_tsne.png", "teacher_test_confusion.png"}

    # --skip-train reuses the model: same export input, no training step
    rc = main(["demo", "--out", str(out), "--utterances", "140", "--speakers", "4", "--stream", "2", "--plain",
               "--skip-train"])
    assert rc == 0
    assert "reusing" in capsys.readouterr().out
