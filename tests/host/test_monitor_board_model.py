"""The monitor beside a board that classifies utterances itself (firmware built with MODEL=).

The board sends an EMOTION frame per utterance; the monitor shows it, and with --model pairs it
with its own prediction of the same frames. With the model the board carries, the two are
identical (the same segmenter, features and int8 kernels); with another model the monitor says
so once and counts the disagreements.
"""
from __future__ import annotations

import io

import numpy as np
import pytest

from eggemo.cli import main
from eggemo.core import proto as P
from eggemo.host.display import PlainDisplay
from eggemo.host.emulator import Emulator, build_firmware
from eggemo.host.monitor import IDENTICAL, Monitor, MonitorOptions, model_id_of
from eggemo.host.pipeline import Classifier
from eggemo.host.record import Recorder, read_recording
from eggemo.host.replay import replay
from eggemo.core.feat import STUDENT_INPUTS
from eggemo.wavio import write_wav

from .conftest import FS, HELD_OUT, export_test_student, require
from .test_display import text_of

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def board_model(tmp_path_factory, corpus):
    """(export folder, ELF): a small CNN student of all nine channels, compiled into the firmware."""
    for mod in ("torch", "tensorflow", "tf_keras", "tflite_micro"):
        try:
            __import__(mod)
        except ImportError:
            require(False, f"exporting the test model needs {mod}: pip install 'eggemo[train,export]'")
    from eggemo.host import emulator

    missing = emulator.missing_tools()
    require(not missing, f"the QEMU tests need {', '.join(missing)}")
    root = tmp_path_factory.mktemp("monitor_board_model")
    export = export_test_student(root, corpus, STUDENT_INPUTS, arch="cnn_student", f0_norm="speaker")
    return export, build_firmware(root / "fw", "qemu", model=export)


def stream_of(corpus: dict, keys, gap_s: float = 1.0) -> np.ndarray:
    silence = np.zeros(int(gap_s * FS), np.int16)
    return np.concatenate([part for k in keys for part in (silence, corpus[k][1])] + [silence])


def test_the_boards_predictions_equal_the_monitors(board_model, corpus, tmp_path):
    export, elf = board_model
    out = io.StringIO()
    with Emulator(elf) as emu:
        emu.wait_listening()
        opts = MonitorOptions(mode=P.MODE_F0, feed=stream_of(corpus, HELD_OUT[:2]), feed_speed=0.0,
                              stop_at_end=True, open_timeout=5.0, duration=180.0)
        mon = Monitor(emu.url, Classifier.from_model(export), opts, recorder=Recorder(tmp_path / "rec"),
                      display=PlainDisplay(out, stats_every_s=0)).run()
    assert mon.finished.is_set(), mon.link_counters()
    host, board = mon.predictions, mon.board_predictions
    assert len(host) >= 1 and len(board) == len(host)
    assert [(b.first, b.last, b.label) for b in board] == [(p.first, p.last, p.label) for p in host]
    for b, p in zip(board, host):
        assert list(b.scores) == p.raw.tolist()
        np.testing.assert_array_equal(b.probs, p.probs)     # the same scores, dequantised alike
        assert b.cost_unit == "instructions" and b.emotion.cost > 0
        assert b.emotion.model_id == model_id_of(export / "student_int8.tflite")
    a = mon.agreement.summary()
    assert (a[IDENTICAL], a["disagreements"], a["unpaired"]) == (len(host), 0, 0)
    s = mon.summary()
    assert s["board_runs_the_model"] is True and s["board_predictions"] == len(host)
    assert s["board_cost"]["max"] == max(b.emotion.cost for b in board)

    text = out.getvalue()
    assert text.count("board prediction ") == len(host) and text.count("prediction ") == 2 * len(host)
    assert f"board vs host: {len(host)} identical, 0 disagree, 0 unpaired" in text
    assert "instructions per inference" in text and "warning" not in text
    screen = text_of(mon.state, 120)
    assert f"board {board[-1].label}" in screen and "instructions per inference" in screen
    assert f"board vs host: {len(host)} identical, 0 disagree, 0 unpaired" in screen
    assert "classifies on board" in screen

    rec = read_recording(tmp_path / "rec")
    assert [e["scores"] for e in rec.of_type("emotion")] == [list(b.scores) for b in board]
    assert {e["outcome"] for e in rec.of_type("compare")} == {IDENTICAL}
    assert rec.of_type("stats")[-1]["agreement"]["identical"] == len(host)
    assert rec.of_type("hello")[0]["flags"] & P.HELLO_FLAG_MODEL
    res = replay(tmp_path / "rec", Classifier.from_model(export))   # the recording keeps the comparison
    assert res.all_match and len(res.board) == len(host)
    assert res.agreement.summary() == a


def test_a_board_running_another_model_is_said_once_and_counted(board_model, exported_model, corpus, tmp_path,
                                                                capsys):
    """--model is the BiLSTM student of the other host tests; the board runs the CNN."""
    _, elf = board_model
    wav = tmp_path / "one.wav"
    write_wav(wav, FS, stream_of(corpus, HELD_OUT[2:3], gap_s=0.5).astype(np.float64) / 32768.0)
    with Emulator(elf) as emu:
        emu.wait_listening()
        rc = main(["monitor", "--port", emu.url, "--feed", str(wav), "--speed", "0", "--exit-at-end",
                   "--model", str(exported_model), "--plain", "--open-timeout", "5", "--duration", "120",
                   "--record", str(tmp_path / "rec")])
    cap = capsys.readouterr()
    assert rc == 0 and "Traceback" not in cap.out + cap.err
    assert cap.out.count("warning: the board runs another model") == 1
    assert f"than --model student_int8.tflite (id {model_id_of(exported_model / 'student_int8.tflite'):#010x})" \
        in cap.out
    (stats,) = [e for e in read_recording(tmp_path / "rec").of_type("stats") if "agreement" in e]
    a = stats["agreement"]
    assert stats["board_predictions"] >= 1 and a["identical"] == 0      # other weights: never the same scores
    assert a["paired"] + a["unpaired"] >= 1 and a["disagreements"] == a["paired"]
    assert "the board runs another model than --model" in cap.err and "disagree" in cap.err
    # the replay of that recording says the same
    assert main(["monitor", "--replay", str(tmp_path / "rec"), "--model", str(exported_model)]) == 0
    cap = capsys.readouterr()
    assert f"board vs host: {a['paired']} paired, 0 identical, {a['disagreements']} disagree" in cap.out
    assert "the board ran another model" in cap.err
