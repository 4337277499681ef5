"""What the board says it can do (HELLO flags) decides what the monitor compares, over a pty pair.

Plain firmware (no model on board) is the documented way to run --model on the host: the monitor
classifies alone and says so once; "unpaired" (host only / board only) is left to a board that
does claim the model and then segments otherwise or sends nothing."""
from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest

from eggemo.core import proto as P
from eggemo.host.display import PlainDisplay
from eggemo.host.monitor import HOST_ONLY, Monitor, MonitorOptions
from eggemo.host.pipeline import Classifier
from eggemo.host.record import Recorder, read_recording
from eggemo.host.replay import replay

from .conftest import FS, HELD_OUT
from .sim_board import SimBoard
from .pty_pair import Pty

pytestmark = pytest.mark.timeout(120)


def stream_of(corpus: dict, keys, gap_s: float = 0.8) -> np.ndarray:
    silence = np.zeros(int(gap_s * FS), np.int16)
    return np.concatenate([part for k in keys for part in (silence, corpus[k][1])] + [silence])


def run_until_streamed(samples: np.ndarray, classifier: Classifier, tmp_path, flags: int = 0):
    """A SimBoard with these HELLO flags streams the samples; the monitor runs until it has all."""
    pty = Pty()
    board = SimBoard(pty.master, samples, flags=flags).start()
    out = io.StringIO()
    mon = Monitor(pty.path, classifier, MonitorOptions(status_every_s=10.0, duration=60.0),
                  recorder=Recorder(tmp_path / "rec"), display=PlainDisplay(out, stats_every_s=0))
    runner = threading.Thread(target=mon.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while not board.finished and time.monotonic() < deadline:
            time.sleep(0.02)
        assert board.finished, "the board did not stream its samples"
        time.sleep(0.5)                      # the last F0 frames and the hangover after them
    finally:
        mon.stop()
        runner.join(10)
        board.stop()
        pty.close()
    return mon, out.getvalue()


def test_a_board_without_the_model_leaves_the_host_to_classify_alone(exported_model, corpus, tmp_path):
    """Every host prediction used to be shown as "host only (the board segmented otherwise)" and
    counted unpaired, as if the board disagreed, when the board simply has no model."""
    mon, text = run_until_streamed(stream_of(corpus, HELD_OUT[:2]), Classifier.from_model(exported_model), tmp_path)
    assert len(mon.predictions) >= 2 and not mon.board_predictions
    assert text.count("the board has no model (plain firmware): --model student_int8.tflite classifies on the "
                      "host alone") == 1
    assert "host only" not in text and "unpaired" not in text
    assert mon.agreement.summary()["unpaired"] == 0 and not mon.agreement.pairs
    assert mon.summary()["board_classifies"] is False
    assert not read_recording(tmp_path / "rec").of_type("compare")
    # its replay pairs nothing either: no board side to miss (it used to count every one "host only")
    res = replay(tmp_path / "rec", Classifier.from_model(exported_model))
    assert len(res.predictions) >= 2 and not res.board
    assert res.agreement.unpaired == 0 and res.agreement.counts[HOST_ONLY] == 0


def test_a_board_that_claims_the_model_and_sends_nothing_is_unpaired_and_told_its_normalisation(
        exported_model, corpus, tmp_path):
    """The same stream from a board whose HELLO says it classifies: every host prediction has no
    partner, a real mismatch, counted and shown. SET_NORM of the session mode used to be reported
    as "session statistics (mu 0.0000, sigma 0.0000)", values that were never measured or sent."""
    classifier = Classifier.from_model(exported_model, "session")
    mon, text = run_until_streamed(stream_of(corpus, HELD_OUT[:1]), classifier, tmp_path, flags=P.HELLO_FLAG_MODEL)
    n = len(mon.predictions)
    assert n >= 1 and mon.agreement.counts[HOST_ONLY] == n == mon.agreement.unpaired
    assert text.count("host only (the board segmented otherwise)") == n
    assert "the board has no model" not in text and mon.summary()["board_classifies"] is True
    assert "mu 0.0000" not in text
    # and its replay finds the same mismatch: the board said it classifies
    res = replay(tmp_path / "rec", Classifier.from_model(exported_model, "session"))
    assert res.agreement.counts[HOST_ONLY] == len(res.predictions) >= 1
    assert "the board normalises as the host does: with session statistics, measured from the voicing" in text
