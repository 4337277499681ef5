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

TRACE_FRAMES = 500          # 5 s of F0 at 10 ms
TRACE_ROWS = 6              # text rows of the F0 trace (4 braille dots each)
F0_MARGIN = 8               # characters of the Hz scale left of the trace's axis line
# F0 axis ranges (Hz): the trace takes the narrowest that holds what it shows, so a voice
# that moves between 90 and 140 Hz fills the panel instead of two rows of a fixed 60..400 Hz.
AXIS_LO = (50.0, 60.0, 75.0, 100.0, 125.0, 150.0, 200.0, 250.0)
AXIS_HI = (150.0, 200.0, 250.0, 300.0, 400.0, 500.0, 600.0, 800.0, 1000.0)
_DOT = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))   # braille bit of [row][column] in a cell


@dataclass
class MonitorState:
    port: str = ""
    connected: bool = False
    board: str = ""                 # e.g. "qemu-netduinoplus2 fw 0.1.0, 16000 Hz"
    clock: str = ""                 # the clock HELLO reports, e.g. "CPU 16 MHz, FALLBACK clock"
    clock_fallback: bool = False    # HELLO's clock-fallback flag: shown as a warning
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
    f0_seen: int = 0                # F0 frames shown so far: the trace position after the newest
    utterances: deque = field(default_factory=lambda: deque(maxlen=64))   # (first pos, last pos, label)
    link: dict[str, float] = field(default_factory=dict)   # counters shown in the link table
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=200))  # utterance end -> on screen
    rtt_ms: float | None = None
    events: deque = field(default_factory=lambda: deque(maxlen=4))
    note: str = ""                  # e.g. "no model: F0 only"
    # the board's own prediction (EMOTION, firmware built with a model)
    board_predictions: int = 0
    board_label: str = ""           # a class name, or "class k" without the model's label names
    board_scores: tuple[int, ...] = ()                  # its int8 scores
    board_probs: np.ndarray | None = None               # when the board runs the host's model
    board_cost: int = 0             # features + inference, in cost_unit
    cost_unit: str = ""             # "instructions" (QEMU) or "cycles" (hardware)
    board_utterance_s: float = 0.0
    # board vs host, per utterance (monitor.Agreement): counts and the latest comparison
    agreement: dict[str, int] = field(default_factory=dict)
    comparison: tuple | None = None  # (outcome, board label, host label, first, last)

    def add_f0(self, index: np.ndarray, f0_hz: np.ndarray) -> None:
        self.f0_index.extend(np.asarray(index).tolist())
        self.f0_hz.extend(np.asarray(f0_hz, np.float64).tolist())
        voiced = np.asarray(f0_hz)[np.asarray(f0_hz) > 0]
        if len(voiced):
            self.f0_last = float(voiced[-1])
        self.f0_seen += len(np.asarray(index))

    def mark_utterance(self, first: int, last: int, label: str) -> None:
        """The utterance of F0 frames first..last (indices of the current stream, which restart at 0
        on each START) was classified as label: remember it in trace positions, which never restart."""
        idx = list(self.f0_index)
        i = next((k for k in range(len(idx) - 1, -1, -1) if idx[k] == last), len(idx) - 1)
        p_last = self.f0_seen - len(idx) + i
        self.utterances.append((p_last - (last - first), p_last, label))

    def latency_percentiles(self) -> tuple[float, float] | None:
        if not self.latency_ms:
            return None
        p50, p95 = np.percentile(np.asarray(self.latency_ms), [50, 95])
        return float(p50), float(p95)


# --- pure text pieces ---------------------------------------------------------------------


def f0_axis(f0_hz: np.ndarray) -> tuple[float, float]:
    """(lo, hi) Hz: the narrowest AXIS_LO/AXIS_HI pair that holds the voiced values (60..400 Hz
    without any), at least a factor 1.3 apart so that jitter does not fill the panel."""
    x = np.asarray(f0_hz, np.float64)
    v = x[np.isfinite(x) & (x > 0)]
    if not len(v):
        return 60.0, 400.0
    lo = max([a for a in AXIS_LO if a <= v.min()], default=AXIS_LO[0])
    hi = min([b for b in AXIS_HI if b >= v.max() and b >= 1.3 * lo], default=AXIS_HI[-1])
    return lo, hi


def f0_trace(f0_hz: np.ndarray, width: int, height: int = TRACE_ROWS, frames: int = TRACE_FRAMES,
             lo: float = 60.0, hi: float = 400.0) -> list[str]:
    """The last `frames` F0 values (oldest first, 0 = unvoiced) as a braille plot of `height` rows
    of `width` characters, two dots across and four down per character: time runs left to right
    with the newest frame at the right edge, log F0 from lo (bottom) to hi (top; values outside
    are drawn at the edge). Successive voiced frames are joined; an unvoiced frame draws nothing,
    so every unvoiced stretch is a gap."""
    x = np.asarray(f0_hz, np.float64)[-frames:] if frames > 0 else np.zeros(0)
    cols, rows = 2 * max(width, 1), 4 * max(height, 1)
    grid = np.zeros((rows, cols), bool)
    n = len(x)
    col = ((frames - n + np.arange(n) + 1) * cols - 1) // max(frames, 1)   # the newest frame in the last column
    voiced = np.isfinite(x) & (x > 0)
    r = (np.log(np.clip(np.where(voiced, x, lo), lo, hi)) - np.log(lo)) / (np.log(hi) - np.log(lo))
    row = (rows - 1) - np.round(r * (rows - 1)).astype(int)
    for i in np.flatnonzero(voiced):
        if i == 0 or not voiced[i - 1]:
            grid[row[i], col[i]] = True
            continue
        prev, c0 = row[i - 1], col[i - 1]
        for c in range(c0 + (col[i] > c0), col[i] + 1):   # wider than the frames: interpolate across
            r_c = int(round(prev + (row[i] - prev) * (c - c0) / max(col[i] - c0, 1)))
            grid[min(prev, r_c):max(prev, r_c) + 1, c] = True
            prev = r_c
    out = []
    for cr in range(height):
        cells = grid[4 * cr:4 * cr + 4].reshape(4, width, 2)
        bits = sum(cells[dr, :, dc] * _DOT[dr][dc] for dr in range(4) for dc in range(2))
        out.append("".join(chr(0x2800 + int(b)) for b in bits))
    return out


def axis_labels(lo: float, hi: float, height: int = TRACE_ROWS) -> list[str]:
    """Hz at the top, middle and bottom rows of a trace (blank for the others), right-aligned."""
    def hz(cr: int) -> float:          # at the middle of text row cr
        frac = 1.0 - (4 * cr + 1.5) / (4 * height - 1)
        return lo * (hi / lo) ** min(max(frac, 0.0), 1.0)

    marked = {0: hi, height - 1: lo, height // 2: hz(height // 2)} if height >= 3 else {0: hi, height - 1: lo}
    return [f"{marked[cr]:4.0f} Hz" if cr in marked else "" for cr in range(height)]


def utterance_row(utterances, seen: int, width: int, frames: int = TRACE_FRAMES) -> list[tuple[str, str]]:
    """The row under the trace: each classified utterance still in view as ├── label ──┤ under its
    frames (trace positions from MonitorState.mark_utterance); (text, label) pieces, label ""
    for the gaps between them."""
    cols = [" "] * width
    names: list[tuple[int, int, str]] = []
    start = seen - frames
    for p0, p1, label in utterances:
        c0 = (p0 - start) * width // frames
        c1 = (p1 - start) * width // frames
        if c1 < 0 or c0 >= width:
            continue
        a, b = max(c0, 0), min(c1, width - 1)
        for c in range(a, b + 1):
            cols[c] = "─"
        if c0 >= 0:
            cols[c0] = "├"
        if c1 < width:
            cols[c1] = "┤"
        inner = b - a - 1
        text = f" {label} " if len(label) + 2 <= inner else (f"{label[:inner - 1]}…" if inner >= 3 else "")
        if text.strip():
            at = a + 1 + (inner - len(text)) // 2
            cols[at:at + len(text)] = list(text)
            names.append((a, b, label))
    out, pos = [], 0
    for a, b, label in sorted(names):
        out += [("".join(cols[pos:a]), ""), ("".join(cols[a:b + 1]), label)]
        pos = b + 1
    out.append(("".join(cols[pos:]), ""))
    return [(t, lab) for t, lab in out if t]


def bar(p: float, width: int) -> str:
    """A horizontal bar of p in [0, 1], in eighths of a character."""
    eighths = int(round(max(0.0, min(1.0, p)) * width * 8))
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(width)


def payload_errors_text(link: dict) -> str:
    """'0', or '4: f0.energy_db 3, hello.fs 1': board frames refused for a value outside its range
    (or a payload of the wrong length), per field, most first."""
    n = int(link.get("payload_errors", 0))
    per_field = sorted(dict(link.get("payload_error_fields") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    return f"{n}: " + ", ".join(f"{name} {c}" for name, c in per_field) if n and per_field else str(n)


def link_rows(state: MonitorState) -> list[tuple[str, str]]:
    k = state.link
    lat = state.latency_percentiles()
    return [
        ("bytes in / out", f"{int(k.get('bytes_in', 0)):,} / {int(k.get('bytes_out', 0)):,}"),
        ("frames", f"{int(k.get('frames', 0)):,}"),
        ("CRC errors", str(int(k.get("crc_errors", 0)))),
        ("format errors", str(int(k.get("format_errors", 0)))),
        ("payload errors", payload_errors_text(k)),
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


def board_text(state: MonitorState) -> str:
    """The board's latest prediction after its label: scores or probabilities, and its cost."""
    if state.board_probs is not None and len(state.label_names) == len(state.board_probs):
        scores = " ".join(f"{n}={p:.2f}" for n, p in zip(state.label_names, state.board_probs))
    else:
        scores = "scores " + " ".join(str(v) for v in state.board_scores)
    return (f"({state.board_utterance_s:.2f} s, #{state.board_predictions}) {scores}; "
            f"{state.board_cost:,} {state.cost_unit} per inference")


OUTCOME_TEXT = {"identical": "identical", "same_label": "same label, other scores", "other_label": "DIFFERENT LABEL",
                "board_only": "board only (the host segmented otherwise)",
                "host_only": "host only (the board segmented otherwise)"}


def comparison_text(state: MonitorState) -> str:
    """The latest board/host comparison: 'frames 0..151: board anger, host anger: identical'."""
    if state.comparison is None:
        return ""
    outcome, board, host, first, last = state.comparison
    who = ", ".join(x for x in (f"board {board}" if board else "", f"host {host}" if host else "") if x)
    return f"frames {first}..{last}: {who}: {OUTCOME_TEXT.get(outcome, outcome)}"


def agreement_text(state: MonitorState) -> str:
    """'board vs host: 5 identical, 0 disagree, 1 unpaired' (empty before any comparison)."""
    a = state.agreement
    if not a:
        return ""
    differ = (f"{a.get('disagreements', 0)} disagree ({a.get('other_label', 0)} in label)"
              if a.get("disagreements") else "0 disagree")
    unpaired = a.get("unpaired", 0)
    return (f"board vs host: {a.get('identical', 0)} identical, {differ}, {unpaired} unpaired"
            + (f" ({a.get('board_only', 0)} board only, {a.get('host_only', 0)} host only)" if unpaired else ""))


def plain_board_prediction(state: MonitorState) -> str:
    return f"board prediction {state.board_predictions}: {state.board_label} {board_text(state)}"


def plain_comparison(state: MonitorState) -> str:
    return f"  {comparison_text(state)}  [{agreement_text(state)}]"


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
    if state.clock:
        head.append(f"  {state.clock}", style="bold yellow" if state.clock_fallback else "dim")
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
    elif not state.board_label:
        latest.append(state.note or "speak: a prediction follows each utterance", style="dim")
    lines = [emo, latest]
    if state.board_label:
        board = Text()
        board.append("board ", style="bold")
        board.append(state.board_label, style="bold magenta")
        board.append(f"  {board_text(state)}")
        lines.append(board)
    if state.agreement:
        bad = state.agreement.get("disagreements", 0) or state.agreement.get("unpaired", 0)
        lines.append(Text(agreement_text(state), style="bold red" if bad else "green"))
        if state.comparison is not None:
            lines.append(Text("latest: " + comparison_text(state), style="dim"))

    f0_panel = f0_view(state, max(20, width - 4 - F0_MARGIN - 1))    # panel borders, Hz scale, axis line

    stats = Table.grid(padding=(0, 2))
    stats.add_column(style="dim")
    stats.add_column()
    for k, v in link_rows(state):
        stats.add_row(k, v)

    parts = [head, Panel(Group(*lines), title="emotion", title_align="left"),
             Panel(f0_panel, title="F0", title_align="left"),
             Panel(stats, title="link", title_align="left")]
    if state.events:
        parts.append(Text("\n".join(state.events), style="yellow"))
    return Group(*parts)


def f0_view(state: MonitorState, trace_w: int, height: int = TRACE_ROWS):
    """The F0 panel's contents: the last TRACE_FRAMES frames as a braille trace with an Hz scale,
    classified utterances marked under it with their labels, and a time axis."""
    from rich.console import Group
    from rich.text import Text

    f0 = np.asarray(state.f0_hz, np.float64)
    lo, hi = f0_axis(f0)
    margin = F0_MARGIN
    lines = []
    for label, row in zip(axis_labels(lo, hi, height), f0_trace(f0, trace_w, height, TRACE_FRAMES, lo, hi)):
        t = Text(f"{label:>{margin - 1}} ┤" if label else " " * margin + "│", style="dim")
        t.append(row, style="green")
        lines.append(t)
    marks = Text(" " * margin + "└", style="dim")
    for piece, label in utterance_row(state.utterances, state.f0_seen, trace_w):
        marks.append(piece, style="bold magenta" if label else "dim")
    lines.append(marks)
    span = TRACE_FRAMES / 100
    now = f"{state.f0_last:.0f} Hz now" if state.f0_last else "-- Hz now"
    axis = Text(" " * (margin + 1) + f"-{span:g} s".ljust(max(trace_w - len(now), 1)) + now, style="dim")
    lines.append(axis)
    return Group(*lines)


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

    def board_prediction(self, state: MonitorState) -> None:
        self.update(state, now=True)

    def comparison(self, state: MonitorState) -> None:
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

    def board_prediction(self, state: MonitorState) -> None:
        self._print(plain_board_prediction(state))

    def comparison(self, state: MonitorState) -> None:
        self._print(plain_comparison(state))

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
