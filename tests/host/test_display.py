"""The pure render(state) and the plain-text lines."""
from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from eggemo.host.display import (TRACE_FRAMES, MonitorState, PlainDisplay, axis_labels, bar, f0_axis, f0_trace,
                                 render, utterance_row)


def text_of(state: MonitorState, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(render(state, width))
    return console.export_text()


def test_render_shows_bars_prediction_f0_and_link():
    s = MonitorState(port="socket://127.0.0.1:4444", connected=True, board="qemu-netduinoplus2 fw 0.1.0",
                     label_names=("anger", "sadness"), probs=np.float32([0.25, 0.75]), label="sadness",
                     last_utterance_s=1.5, predictions=3)
    s.add_f0(np.arange(50), np.where(np.arange(50) % 10 < 7, 120.0, 0.0))
    s.mark_utterance(10, 45, "sadness")
    s.link = {"bytes_in": 12345, "frames": 67, "crc_errors": 2, "reconnects": 1}
    s.latency_ms.extend([10.0, 20.0])
    out = text_of(s)
    assert "anger" in out and " 25.0%" in out and " 75.0%" in out
    assert "sadness  (1.50 s utterance, #3)" in out
    assert "120 Hz now" in out and "-5 s" in out
    assert " 150 Hz ┤" in out and " 100 Hz ┤" in out           # the Hz scale of the trace
    assert any(0x2801 <= ord(c) <= 0x28FF for c in out)       # braille dots: the trace itself
    assert "├" in out and "┤" in out.split("100 Hz")[-1]        # the classified utterance under it
    assert "12,345" in out and "CRC errors" in out and "p95" in out
    assert "●" in out and "socket://127.0.0.1:4444" in out


def test_render_before_anything_arrived():
    out = text_of(MonitorState(port="loop://", note="no --model: F0 and link only"))
    assert "disconnected" in out and "no --model" in out and "-- Hz" in out


def dots(rows: list[str]) -> np.ndarray:
    """A braille plot back to its grid of dots (4 per text row, 2 per character)."""
    bit = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
    grid = np.zeros((4 * len(rows), 2 * len(rows[0])), bool)
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            for dr in range(4):
                for dc in range(2):
                    grid[4 * r + dr, 2 * c + dc] = bool((ord(ch) - 0x2800) & bit[dr][dc])
    return grid


def top_dot(grid: np.ndarray) -> np.ndarray:
    """Per dot column: the highest dot's row (0 = top), -1 where the column is empty."""
    return np.where(grid.any(axis=0), grid.argmax(axis=0), -1)


def test_trace_draws_the_contour_not_a_row_of_blocks():
    f0 = np.geomspace(80.0, 320.0, TRACE_FRAMES)               # a two-octave glide
    grid = dots(f0_trace(f0, 50, 6, lo=60.0, hi=400.0))
    top = top_dot(grid)
    assert (top >= 0).all()                                    # voiced everywhere: no holes
    assert top[0] > top[-1] and np.all(np.diff(top) <= 0)      # rises left to right, never falls
    assert grid.sum(axis=0).max() <= 3                         # a line, not filled blocks
    flat = dots(f0_trace(np.full(TRACE_FRAMES, 200.0), 50, 6, lo=60.0, hi=400.0))
    assert len(set(top_dot(flat))) == 1                        # a constant F0 is one level
    low = dots(f0_trace(np.full(TRACE_FRAMES, 100.0), 50, 6, lo=60.0, hi=400.0))
    assert top_dot(low)[0] > top_dot(flat)[0]                  # 100 Hz is drawn below 200 Hz


def test_trace_leaves_unvoiced_frames_as_gaps_and_grows_from_the_right():
    f0 = np.full(TRACE_FRAMES, 150.0)
    f0[200:300] = 0.0                                          # one second unvoiced
    f0[350] = np.nan                                           # a bad value draws nothing either
    grid = dots(f0_trace(f0, 50, 4))
    gap = slice(200 * 100 // TRACE_FRAMES + 1, 300 * 100 // TRACE_FRAMES - 1)
    assert not grid[:, gap].any() and grid[:, :gap.start].any() and grid[:, gap.stop + 1:].any()
    young = dots(f0_trace(np.full(100, 150.0), 50, 4))         # 1 s of 5 s so far: on the right
    assert not young[:, :75].any() and young[:, 81:].any(axis=0).all()


def test_axis_range_fits_the_voice_and_labels_in_hz():
    assert f0_axis(np.array([0.0, 95.0, 140.0, 0.0])) == (75.0, 150.0)
    assert f0_axis(np.array([180.0, 220.0])) == (150.0, 250.0)
    assert f0_axis(np.zeros(10)) == (60.0, 400.0)
    assert f0_axis(np.array([30.0, 1500.0])) == (50.0, 1000.0)
    labels = axis_labels(100.0, 400.0, 5)
    assert labels[0] == " 400 Hz" and labels[-1] == " 100 Hz" and labels[1] == "" and "Hz" in labels[2]


def test_utterance_row_marks_spans_and_labels_as_they_scroll():
    # trace positions: 1000 frames seen, the view holds the last 500 (500..999) in 50 characters
    row = utterance_row([(600, 700, "anger"), (850, 990, "sadness"), (100, 200, "gone")], 1000, 50)
    text = "".join(t for t, _ in row)
    assert len(text) == 50 and "gone" not in text
    assert text[10] == "├" and text[20] == "┤" and text[35] == "├" and text[49] == "┤"
    assert [lab for _, lab in row if lab] == ["anger", "sadness"]
    assert "anger" in text[11:20] and "sadness" in text[36:49]
    cut = "".join(t for t, _ in utterance_row([(450, 550, "neutral")], 1000, 50))
    assert cut[0] == "─" and cut[5] == "┤" and "├" not in cut   # its start has scrolled out
    assert cut[:6] == "─neu…┤"                                 # a label that no longer fits says so


def test_mark_utterance_survives_a_stream_restart():
    s = MonitorState()
    s.add_f0(np.arange(300), np.full(300, 120.0))
    s.add_f0(np.arange(100), np.full(100, 120.0))              # START again: indices from 0
    s.mark_utterance(20, 80, "fear")
    assert list(s.utterances) == [(320, 380, "fear")]          # positions in the second stream


def test_bar():
    assert bar(0.5, 4) == "██  " and bar(1.0, 2) == "██" and bar(0.0, 3) == "   "


def test_plain_display_lines():
    out = io.StringIO()
    d = PlainDisplay(out, stats_every_s=0)
    s = MonitorState(label_names=("a", "b"), probs=np.float32([0.1, 0.9]), label="b", predictions=1,
                     last_utterance_s=0.8)
    d.prediction(s)
    d.event(s, "link lost")
    assert out.getvalue().splitlines() == ["prediction 1: b (0.80 s) a=0.10 b=0.90", "link lost"]


def test_a_wide_trace_has_no_holes_in_a_voiced_stretch():
    f0 = np.geomspace(100.0, 200.0, TRACE_FRAMES)
    grid = dots(f0_trace(f0, 400, 4))                          # 800 dot columns for 500 frames
    drawn = grid[:, 1:]                                         # frame 0 lands on dot column 1
    assert drawn.any(axis=0).all() and np.all(np.diff(top_dot(drawn)) <= 0)


def test_render_shows_the_clock_the_board_runs_on_and_its_fallback():
    """HELLO's clock (and its clock-fallback flag, which was never shown) beside the board's name."""
    s = MonitorState(port="socket://127.0.0.1:4444", connected=True, board="stm32f405 fw 0.2.0, 16000 Hz",
                     clock="CPU 16 MHz, FALLBACK clock", clock_fallback=True)
    head = text_of(s, 120).splitlines()[0]
    assert "stm32f405 fw 0.2.0, 16000 Hz  CPU 16 MHz, FALLBACK clock" in head
