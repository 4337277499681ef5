"""Display: the monitor's state as plain data, a pure ``render(state)`` for rich, and plain text.

``render`` takes a MonitorState and returns a rich renderable; it reads nothing else and
changes nothing, so it is tested by rendering states to a string. ``LiveDisplay`` puts it on
the terminal with ``rich.live.Live``; ``PlainDisplay`` prints one line per event for logs and CI.
"""
from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

SPARK = " ▁▂▃▄▅▆▇█"
TRACE_FRAMES = 500          # 5 s of F0 at 10 ms


@dataclass
class MonitorState:
    port: str = ""
    connected: bool = False
    board: str = ""                 # e.g. "qemu-netduinoplus2 fw 0.1.0, 16000 Hz"
    mode: str = ""
    streaming: bool = False
    label_names: tuple[str, ...] = ()
    probs: np.ndarray | None = None
    label: str = ""
    last_utterance_s: float = 0.0   # duration of the utterance behind the latest prediction
    predictions: int = 0
    history: deque = field(default_factory=lambda: deque(maxlen=6))   # recent labels
    f0_index: deque = field(default_factory=lambda: deque(maxlen=TRACE_FRAMES))
    f0_hz: deque = field(default_factory=lambda: deque(maxlen=TRACE_FRAMES))
    f0_last: float = 0.0
    link: dict[str, float] = field(default_factory=dict)   # counters shown in the link table
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=200))  # utterance end -> on screen
    rtt_ms: float | None = None
    events: deque = field(default_factory=lambda: deque(maxlen=4))
    note: str = ""                  # e.g. "no model: F0 only"

    def add_f0(self, index: np.ndarray, f0_hz: np.ndarray) -> None:
        self.f0_index.extend(np.asarray(index).tolist())
        self.f0_hz.extend(np.asarray(f0_hz, np.float64).tolist())
        voiced = np.asarray(f0_hz)[np.asarray(f0_hz) > 0]
        if len(voiced):
            self.f0_last = float(voiced[-1])

    def latency_percentiles(self) -> tuple[float, float] | None:
        if not self.latency_ms:
            return None
        p50, p95 = np.percentile(np.asarray(self.latency_ms), [50, 95])
        return float(p50), float(p95)


# --- pure text pieces ---------------------------------------------------------------------


def sparkline(f0_hz: np.ndarray, width: int, lo: float = 60.0, hi: float = 400.0) -> str:
    """The last `width` frames as block characters on a log scale; unvoiced frames blank."""
    x = np.asarray(f0_hz, np.float64)[-width:] if width > 0 else np.zeros(0)
    out = []
    for v in x:
        if v <= 0:
            out.append(" ")
            continue
        r = (np.log(min(max(v, lo), hi)) - np.log(lo)) / (np.log(hi) - np.log(lo))
        out.append(SPARK[1 + int(round(r * (len(SPARK) - 2)))])
    return "".join(out).rjust(width)


def bar(p: float, width: int) -> str:
    """A horizontal bar of p in [0, 1], in eighths of a character."""
    eighths = int(round(max(0.0, min(1.0, p)) * width * 8))
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(width)


def link_rows(state: MonitorState) -> list[tuple[str, str]]:
    k = state.link
    lat = state.latency_percentiles()
    return [
        ("bytes in / out", f"{int(k.get('bytes_in', 0)):,} / {int(k.get('bytes_out', 0)):,}"),
        ("frames", f"{int(k.get('frames', 0)):,}"),
        ("CRC errors", str(int(k.get("crc_errors", 0)))),
        ("format errors", str(int(k.get("format_errors", 0)) + int(k.get("payload_errors", 0)))),
        ("frames lost (seq)", str(int(k.get("seq_lost", 0)))),
        ("samples dropped", f"{int(k.get('samples_dropped', 0))} board, {int(k.get('samples_lost', 0))} link"),
        ("reconnects", str(int(k.get("reconnects", 0)))),
        ("round trip", "-" if state.rtt_ms is None else f"{state.rtt_ms:.1f} ms"),
        ("utterance end -> screen", "-" if lat is None else f"p50 {lat[0]:.1f} ms, p95 {lat[1]:.1f} ms"),
    ]


def plain_prediction(state: MonitorState) -> str:
    probs = "" if state.probs is None else " ".join(
        f"{n}={p:.2f}" for n, p in zip(state.label_names, state.probs))
    return f"prediction {state.predictions}: {state.label} ({state.last_utterance_s:.2f} s) {probs}"


def plain_stats(state: MonitorState) -> str:
    return "link: " + "; ".join(f"{k} {v}" for k, v in link_rows(state))


# --- rich -----------------------------------------------------------------------------------


def render(state: MonitorState, width: int = 100):
    """The whole screen for one state (a rich renderable). Pure: no I/O, no clock."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    head = Text()
    head.append("● " if state.connected else "○ ", style="bold green" if state.connected else "bold red")
    head.append(f"{state.port}  ", style="bold")
    head.append(state.board or ("waiting for the board..." if state.connected else "disconnected, retrying..."))
    if state.mode:
        head.append(f"  mode {state.mode}{' streaming' if state.streaming else ''}", style="dim")

    emo = Table.grid(padding=(0, 1))
    emo.add_column(justify="right", style="bold")
    emo.add_column()
    emo.add_column(justify="right")
    bar_w = max(10, width // 3)
    if state.label_names:
        probs = state.probs if state.probs is not None else np.zeros(len(state.label_names))
        best = int(np.argmax(probs)) if state.probs is not None else -1
        for i, (name, p) in enumerate(zip(state.label_names, probs)):
            style = "bold magenta" if i == best else "cyan"
            emo.add_row(name, Text(bar(float(p), bar_w), style=style), f"{100 * float(p):5.1f}%")
    latest = Text()
    if state.label:
        latest.append(f"{state.label}", style="bold magenta")
        latest.append(f"  ({state.last_utterance_s:.2f} s utterance, #{state.predictions})")
        if state.history:
            latest.append("   recent: " + " ".join(state.history), style="dim")
    else:
        latest.append(state.note or "speak: a prediction follows each utterance", style="dim")

    trace_w = max(20, width - 14)
    f0_text = Text(sparkline(np.asarray(state.f0_hz), trace_w), style="green")
    f0_label = f"{state.f0_last:5.0f} Hz" if state.f0_last else "   -- Hz"

    stats = Table.grid(padding=(0, 2))
    stats.add_column(style="dim")
    stats.add_column()
    for k, v in link_rows(state):
        stats.add_row(k, v)

    parts = [head, Panel(Group(emo, latest), title="emotion", title_align="left"),
             Panel(Group(f0_text, Text(f"F0 (last {len(state.f0_hz) / 100:.1f} s)  {f0_label}", style="dim")),
                   title="F0", title_align="left"),
             Panel(stats, title="link", title_align="left")]
    if state.events:
        parts.append(Text("\n".join(state.events), style="yellow"))
    return Group(*parts)


class LiveDisplay:
    """rich Live around render(); update(now=True) repaints at once (after a prediction)."""

    def __init__(self, refresh_per_second: float = 8.0, console=None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self._live = Live(console=self.console, auto_refresh=False, transient=False)
        self._min_dt = 1.0 / refresh_per_second
        self._last = 0.0

    def __enter__(self) -> "LiveDisplay":
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._live.__exit__(*exc)

    def update(self, state: MonitorState, now: bool = False) -> None:
        t = time.perf_counter()
        if not now and t - self._last < self._min_dt:
            return
        self._live.update(render(state, self.console.width), refresh=True)
        self._last = t

    def event(self, state: MonitorState, text: str) -> None:
        state.events.append(text)

    def prediction(self, state: MonitorState) -> None:
        self.update(state, now=True)


class PlainDisplay:
    """One line per prediction and link event, a stats line every `stats_every_s`."""

    def __init__(self, out: TextIO | None = None, stats_every_s: float = 10.0) -> None:
        self.out = out or sys.stdout
        self.stats_every_s = stats_every_s
        self._last = time.perf_counter()

    def __enter__(self) -> "PlainDisplay":
        return self

    def __exit__(self, *exc) -> None:
        self.out.flush()

    def update(self, state: MonitorState, now: bool = False) -> None:
        t = time.perf_counter()
        if self.stats_every_s > 0 and t - self._last >= self.stats_every_s:
            self._last = t
            self._print(plain_stats(state))

    def event(self, state: MonitorState, text: str) -> None:
        self._print(text)

    def prediction(self, state: MonitorState) -> None:
        self._print(plain_prediction(state))

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
