"""The board's own predictions on the host: pairing with the host's (Agreement), what the screen
and the plain lines say, and EMOTION frames through the monitor over a real socket."""
from __future__ import annotations

import io

import numpy as np
import pytest

from eggemo.core import proto as P
from eggemo.host.display import (MonitorState, PlainDisplay, agreement_text, comparison_text,
                                 plain_board_prediction)
from eggemo.host.monitor import (BOARD_ONLY, HOST_ONLY, IDENTICAL, OTHER_LABEL, SAME_LABEL, Agreement, Monitor,
                                 MonitorOptions, board_prediction)
from eggemo.host.pipeline import Prediction
from eggemo.host.record import Recorder, read_recording
from eggemo.host.replay import replay

from .test_display import text_of
from .test_monitor import OneShotBoard, hello

pytestmark = pytest.mark.timeout(60)

NAMES = ("anger", "joy", "sadness")


def emotion(first: int, last: int, scores=(5, -3, 1), model_id: int = 0xABCD, cost: int = 1_234_567) -> P.Emotion:
    return P.Emotion(first, last, last - first + 1, P.REASON_HANGOVER, int(np.argmax(scores)), model_id, cost,
                     4.8, 0.1, tuple(scores))


def host(first: int, last: int, scores=(5, -3, 1)) -> Prediction:
    raw = np.asarray(scores, np.int8)
    return Prediction(NAMES[int(np.argmax(raw))], np.full(3, 1 / 3, np.float32), raw, first, last, last - first + 1,
                      "hangover", 4.8, 0.1, 1, 0.1)


def board(first: int, last: int, scores=(5, -3, 1)):
    return board_prediction(emotion(first, last, scores), NAMES)


def test_pairs_by_frames_in_either_order_and_counts_what_differs():
    a = Agreement()
    assert a.host(host(0, 99)) == []                           # waits for the board's
    (q,) = a.board(board(0, 99))
    assert (q.outcome, q.first, q.last) == (IDENTICAL, 0, 99)
    assert a.board(board(150, 249, (5, -2, 1))) == []          # the board first this time
    assert [q.outcome for q in a.host(host(150, 249))] == [SAME_LABEL]
    a.board(board(300, 399, (0, 7, 1)))
    assert [q.outcome for q in a.host(host(300, 399))] == [OTHER_LABEL]
    assert a.summary() == {IDENTICAL: 1, SAME_LABEL: 1, OTHER_LABEL: 1, BOARD_ONLY: 0, HOST_ONLY: 0, "paired": 3,
                           "disagreements": 2, "unpaired": 0}


def test_an_utterance_segmented_otherwise_is_counted_apart_not_paired():
    a = Agreement()
    a.host(host(0, 99))
    a.board(board(0, 120))                                     # same start, other end: no partner
    # the host has moved past the board's 0..120, the board past the host's 0..99
    assert [q.outcome for q in a.host(host(200, 260))] == [BOARD_ONLY]
    assert [q.outcome for q in a.board(board(200, 260))] == [HOST_ONLY, IDENTICAL]
    a.host(host(300, 350))
    assert [q.outcome for q in a.end()] == [HOST_ONLY]         # the stream ended without the board's
    assert a.end() == []
    s = a.summary()
    assert (s["paired"], s["unpaired"], s[BOARD_ONLY], s[HOST_ONLY]) == (1, 3, 1, 2)


def test_board_prediction_names_classes_only_when_the_model_has_as_many():
    assert board_prediction(emotion(0, 9), NAMES).label == "anger"
    assert board_prediction(emotion(0, 9), ()).label == "class 0"
    assert board_prediction(emotion(0, 9, (1, 2, 3, 9)), NAMES).label == "class 3"   # another label set


def test_screen_and_plain_lines_show_the_board_beside_the_host():
    s = MonitorState(port="loop://", label_names=NAMES, label="anger", probs=np.float32([0.7, 0.1, 0.2]),
                     predictions=2, board_predictions=2, board_label="anger", board_scores=(5, -3, 1),
                     board_cost=1_234_567, cost_unit="instructions", board_utterance_s=1.0,
                     agreement={IDENTICAL: 1, SAME_LABEL: 0, OTHER_LABEL: 1, BOARD_ONLY: 0, HOST_ONLY: 1,
                                "paired": 2, "disagreements": 1, "unpaired": 1},
                     comparison=(OTHER_LABEL, "anger", "joy", 150, 249))
    screen = text_of(s, 120)
    assert "board anger" in screen and "scores 5 -3 1" in screen and "1,234,567 instructions per inference" in screen
    assert "board vs host: 1 identical, 1 disagree (1 in label), 1 unpaired (0 board only, 1 host only)" in screen
    assert "frames 150..249: board anger, host joy: DIFFERENT LABEL" in screen
    assert comparison_text(s) in screen and agreement_text(s) in screen
    s.board_probs = np.float32([0.8, 0.1, 0.1])
    assert "anger=0.80 joy=0.10 sadness=0.10" in plain_board_prediction(s)
    assert agreement_text(MonitorState()) == "" and comparison_text(MonitorState()) == ""


def test_emotion_frames_without_a_model_are_shown_recorded_and_replayed(tmp_path):
    """A board with a model and a monitor without one: the board's predictions are the only ones,
    named by class index, and the recording keeps them (an older reader passes them over)."""
    h = P.Hello((0, 1, 0), P.BOARD_QEMU, 16000, 160, 640, P.MODE_F0, True, P.COST_CYCLES, 168_000_000,
                P.HELLO_FLAG_MODEL).to_payload()
    bad = bytearray(emotion(0, 9).to_payload())
    bad[10] = 9                                                # reason 9 (no such reason): refused, counted
    board = OneShotBoard([(P.MSG_HELLO, h), (P.MSG_EMOTION, emotion(0, 99).to_payload()),
                          (P.MSG_EMOTION, bytes(bad)), (P.MSG_EMOTION, emotion(150, 199, (1, 2, 0)).to_payload())])
    out = io.StringIO()
    mon = Monitor(board.url, None, MonitorOptions(duration=1.5, status_every_s=10.0),
                  recorder=Recorder(tmp_path / "rec"), display=PlainDisplay(out, stats_every_s=0))
    try:
        mon.run()
    finally:
        board.close()
    assert [b.label for b in mon.board_predictions] == ["class 0", "class 1"]
    assert mon.protocol.counters.payload_errors == 1
    text = out.getvalue()
    assert "board prediction 2: class 1" in text and "cycles per inference" in text and "board vs host" not in text
    screen = text_of(mon.state)
    assert "board class 1" in screen and "classifies on board" in screen
    s = mon.summary()
    assert s["board_predictions"] == 2 and s["board_cost"]["unit"] == "cycles" and "agreement" not in s
    rec = read_recording(tmp_path / "rec")
    assert [e["label_name"] for e in rec.of_type("emotion")] == ["class 0", "class 1"]
    res = replay(tmp_path / "rec", None)
    assert [b.scores for b in res.board] == [(5, -3, 1), (1, 2, 0)] and res.agreement is None
