"""The pure render(state) and the plain-text lines."""
from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from eggemo.host.display import MonitorState, PlainDisplay, bar, render, sparkline


def text_of(state: MonitorState, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(render(state, width))
    return console.export_text()


def test_render_shows_bars_prediction_f0_and_link():
    s = MonitorState(port="socket://127.0.0.1:4444", connected=True, board="qemu-netduinoplus2 fw 0.1.0",
                     label_names=("anger", "sadness"), probs=np.float32([0.25, 0.75]), label="sadness",
                     last_utterance_s=1.5, predictions=3)
    s.add_f0(np.arange(50), np.where(np.arange(50) % 10 < 7, 120.0, 0.0))
    s.link = {"bytes_in": 12345, "frames": 67, "crc_errors": 2, "reconnects": 1}
    s.latency_ms.extend([10.0, 20.0])
    out = text_of(s)
    assert "anger" in out and " 25.0%" in out and " 75.0%" in out
    assert "sadness  (1.50 s utterance, #3)" in out
    assert "120 Hz" in out and sparkline(np.array([120.0]), 1) in out
    assert "12,345" in out and "CRC errors" in out and "p95" in out
    assert "●" in out and "socket://127.0.0.1:4444" in out


def test_render_before_anything_arrived():
    out = text_of(MonitorState(port="loop://", note="no --model: F0 and link only"))
    assert "disconnected" in out and "no --model" in out and "-- Hz" in out


def test_sparkline_and_bar():
    assert sparkline(np.array([0.0, 60.0, 400.0, 0.0]), 4) == " ▁█ "
    assert sparkline(np.array([100.0]), 3) == "  " + sparkline(np.array([100.0]), 1)
    assert bar(0.5, 4) == "██  " and bar(1.0, 2) == "██" and bar(0.0, 3) == "   "


def test_plain_display_lines():
    out = io.StringIO()
    d = PlainDisplay(out, stats_every_s=0)
    s = MonitorState(label_names=("a", "b"), probs=np.float32([0.1, 0.9]), label="b", predictions=1,
                     last_utterance_s=0.8)
    d.prediction(s)
    d.event(s, "link lost")
    assert out.getvalue().splitlines() == ["prediction 1: b (0.80 s) a=0.10 b=0.90", "link lost"]
