"""The live monitor: link events and board messages -> pipeline -> recording, display, LSL.

A board whose firmware carries the student (HELLO flag bit 1) also sends its own prediction of
each utterance it segmented (EMOTION). The monitor keeps them (``board_predictions``) and, with a
model of its own, pairs each with the host's prediction of the same frames (``Agreement``): the
two run the same segmenter, features and int8 model, so they should be identical. A board without
the model (plain firmware) has nothing to pair: the host classifies alone, and says so once.
When the host normalises with fixed statistics (--norm FILE.json) it gives them to the board
(SET_NORM) before each START, so the two use the same statistics.

One thread (the caller's) handles everything in arrival order; the serial reader thread only
decodes and queues (link.MessageProtocol), and a Feeder thread streams a recording (--feed) as
REPLAY frames into a board: the QEMU board, which has no ADC, or the chip, which then leaves its
ADC off (SET_MODE's REPLAY bit). The end of the recording ends the stream (STOP), as silence
would end its last utterance. Every input of the pipeline is written to the recording before it
is used ("f0" and "end" lines), so a replay drives the pipeline through the same calls.
"""
from __future__ import annotations

import dataclasses
import hashlib
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eggemo.flash import firmware_command, firmware_image

from eggemo.core import proto as P
from .display import MonitorState
from .emulator import Feeder
from .link import Arrival, LinkDown, LinkUp, MessageProtocol, Rejected, VersionMismatch
from .pipeline import (FRAME_COLUMNS, Classifier, Frames, HostF0, Pipeline, Prediction, SegmenterConfig,
                       frames_from_records)
from .record import Recorder
from .transport import SerialLink

MODE_NAMES = {P.MODE_F0: "f0", P.MODE_RAW: "raw", P.MODE_BOTH: "both"}
COST_UNITS = {P.COST_CYCLES: "cycles", P.COST_INSTRUCTIONS: "instructions"}
COMMAND_NAMES = {P.CMD_START: "START", P.CMD_STOP: "STOP", P.CMD_SET_MODE: "SET_MODE", P.CMD_SET_RATE: "SET_RATE",
                 P.CMD_REPLAY: "REPLAY", P.CMD_GET_STATUS: "GET_STATUS", P.CMD_GET_HELLO: "GET_HELLO",
                 P.CMD_SET_NORM: "SET_NORM"}


@dataclass(frozen=True)
class MonitorOptions:
    mode: int = P.MODE_F0              # what the board streams: F0 frames, RAW EGG, or both
    fs: int | None = None              # ask the board for this rate (None: keep its own)
    status_every_s: float = 1.0        # GET_STATUS period (board counters, round-trip time)
    seg: SegmenterConfig = SegmenterConfig()
    reconnect: bool = True
    open_timeout: float = 0.0          # keep trying the first open this long
    feed: np.ndarray | None = field(default=None, repr=False)   # int16 EGG for a board without ADC
    feed_speed: float = 1.0            # x real time; 0 = as fast as the link takes it
    stop_at_end: bool = False          # after the feed (always followed by STOP): return once the board's
    #                                    final STATUS is in
    duration: float | None = None      # return after this many seconds
    hello_hint_s: float = 3.0          # say what may be wrong when a connected board stays silent this long


FALLBACK_WARNING = ("warning: the board runs on its fallback clock (HELLO flag): its crystal or PLL did not "
                    "start, so its sampling and link run on the internal 16 MHz oscillator (about 1 % accurate; the "
                    "link 2.1 % off its rate at 16 MHz). Check the crystal; under QEMU, which models no clock "
                    "tree, the chip image always runs so")


def clock_text(h: P.Hello) -> str:
    """The clock the board says it runs on: 'CPU 168 MHz', 'CPU 16 MHz, FALLBACK clock'."""
    text = f"CPU {h.cpu_hz / 1e6:g} MHz"
    return f"{text}, FALLBACK clock" if h.clock_fallback else text


def norm_text(n: P.SetNorm) -> str:
    """What the board was told to normalise with: fixed statistics have values; the utterance and
    session modes have none yet (the board measures them from the voicing it sees)."""
    if n.mode == P.NORM_FIXED:
        return f"the board normalises with the host's fixed statistics (mu {n.mu:.4f}, sigma {n.sigma:.4f})"
    if n.mode == P.NORM_SESSION:
        return ("the board normalises as the host does: with session statistics, measured from the voicing "
                "of this stream as it comes")
    return "the board normalises as the host does: each utterance with its own statistics"


def firmware_advice(hello: P.Hello | None, model: Path) -> str:
    """The command that builds the firmware of the board `hello` came from with the model of the
    export folder `model`, and puts it on the board (pasteable from the current folder)."""
    if hello is not None and hello.board == P.BOARD_QEMU:
        return f"{firmware_command('qemu', model)}, then restart QEMU with {firmware_image('qemu', model)}"
    return firmware_command("stm32f405", model)


def model_id_of(path: str | Path) -> int:
    """The id a board reports for the model built from this .tflite (Emotion.model_id): the
    first 4 bytes of the file's SHA-256 as a little-endian u32."""
    return int.from_bytes(hashlib.sha256(Path(path).read_bytes()).digest()[:4], "little")


@dataclass(frozen=True)
class BoardPrediction:
    """One EMOTION frame: an utterance the board segmented and classified itself."""

    emotion: P.Emotion
    label: str                             # the class name from --model's labels, else "class k"
    probs: np.ndarray | None = field(default=None, repr=False)   # softmax of the dequantised scores,
    #                                        when the board runs --model's model
    cost_unit: str = "instructions"        # of emotion.cost (the HELLO's cost unit)

    @property
    def first(self) -> int:
        return self.emotion.first

    @property
    def last(self) -> int:
        return self.emotion.last

    @property
    def scores(self) -> tuple[int, ...]:
        return self.emotion.scores

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self.emotion), "scores": list(self.emotion.scores),
                "reason_name": self.emotion.reason_name, "label_name": self.label, "cost_unit": self.cost_unit,
                "probs": None if self.probs is None else [float(p) for p in self.probs]}


def board_prediction(e: P.Emotion, label_names: tuple[str, ...] = (), runtime=None, cost_unit: str = "instructions"
                     ) -> BoardPrediction:
    """The board's prediction with the host model's label names (when they are as many as its
    classes) and, given that model's quantised runtime (int8 or 16x8; pass it only when the board
    runs that model),
    the probabilities the host would show for the same scores."""
    label = label_names[e.label] if len(label_names) == e.n_classes else f"class {e.label}"
    probs = None
    if runtime is not None and runtime.quantized and len(runtime.label_names) == e.n_classes:
        from eggemo.runtime import dequantize, softmax

        zp = 0 if runtime.bits == 16 else runtime.output_zero_point     # a 16x8 model's narrowed scores
        probs = softmax(dequantize(np.asarray(e.scores), runtime.frame_scale, zp))
    return BoardPrediction(e, label, probs, cost_unit)


# How a board prediction and a host prediction of the same utterance compare (Agreement.counts).
IDENTICAL = "identical"              # same label, same int8 scores (a 16x8 model's narrowed: eggemo.core.nn.narrow16)
SAME_LABEL = "same_label"            # same label, other scores
OTHER_LABEL = "other_label"
BOARD_ONLY = "board_only"            # the host segmented these frames otherwise (or not at all)
HOST_ONLY = "host_only"              # the board segmented these frames otherwise (or not at all)
OUTCOMES = (IDENTICAL, SAME_LABEL, OTHER_LABEL, BOARD_ONLY, HOST_ONLY)


@dataclass(frozen=True)
class Pair:
    outcome: str
    board: BoardPrediction | None
    host: Prediction | None

    @property
    def first(self) -> int:
        return (self.board or self.host).first

    @property
    def last(self) -> int:
        return (self.board or self.host).last


def compare(b: BoardPrediction, p: Prediction) -> str:
    if b.label != p.label:
        return OTHER_LABEL
    from eggemo.core.nn import narrow16

    raw = np.asarray(p.raw)
    same = raw.dtype.kind == "i" and narrow16(raw).tolist() == list(b.scores)
    return IDENTICAL if same else SAME_LABEL


class Agreement:
    """Pairs board and host predictions of the same utterance (the same first and last frame
    index), in whichever order they arrive. One that cannot have a partner any more -- the other
    side has classified frames after it, or the stream ended -- is counted unpaired. No I/O."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.pairs: list[Pair] = []
        self._board: list[BoardPrediction] = []
        self._host: list[Prediction] = []

    def board(self, b: BoardPrediction) -> list[Pair]:
        return self._add(b, self._board, self._host, lambda h: Pair(compare(b, h), b, h), HOST_ONLY)

    def host(self, p: Prediction) -> list[Pair]:
        return self._add(p, self._host, self._board, lambda b: Pair(compare(b, p), b, p), BOARD_ONLY)

    def end(self) -> list[Pair]:
        """The stream ended (frame indices restart with the next one): what waits is unpaired."""
        out = [Pair(BOARD_ONLY, b, None) for b in self._board] + [Pair(HOST_ONLY, None, h) for h in self._host]
        self._board.clear()
        self._host.clear()
        return self._count(sorted(out, key=lambda q: q.first))

    def _add(self, x, mine: list, theirs: list, pair_with, lonely: str) -> list[Pair]:
        out = []
        for y in list(theirs):
            if (y.first, y.last) == (x.first, x.last):
                theirs.remove(y)
                out.append(pair_with(y))
                x = None
                break
            if y.last < x.first:             # this side is past it: its partner never comes
                theirs.remove(y)
                out.append(Pair(lonely, *((None, y) if lonely == HOST_ONLY else (y, None))))
        if x is not None:
            mine.append(x)
        return self._count(sorted(out, key=lambda q: q.first))

    def _count(self, pairs: list[Pair]) -> list[Pair]:
        for q in pairs:
            self.counts[q.outcome] += 1
        self.pairs += pairs
        return pairs

    @property
    def disagreements(self) -> int:
        """Pairs whose scores differ (the label too, or not)."""
        return self.counts[SAME_LABEL] + self.counts[OTHER_LABEL]

    @property
    def unpaired(self) -> int:
        return self.counts[BOARD_ONLY] + self.counts[HOST_ONLY]

    def summary(self) -> dict[str, int]:
        return {**self.counts, "paired": self.counts[IDENTICAL] + self.disagreements,
                "disagreements": self.disagreements, "unpaired": self.unpaired}


class Monitor:
    """Runs until ``stop()``, the duration, or (stop_at_end) the end of the fed recording."""

    def __init__(self, url: str, classifier: Classifier | None, options: MonitorOptions = MonitorOptions(), *,
                 recorder: Recorder | None = None, display=None, lsl=None) -> None:
        self.url = url
        self.options = options
        self.classifier = classifier
        self.recorder = recorder
        self.display = display
        self.lsl = lsl
        self.state = MonitorState(port=url, label_names=tuple(classifier.label_names) if classifier else (),
                                  mode=MODE_NAMES.get(options.mode, str(options.mode)),
                                  note="" if classifier else "no --model: F0 and link only")
        self.queue: queue.Queue[object] = queue.Queue()
        self.protocol = MessageProtocol(self.queue)
        self.link = SerialLink(url, self.protocol, reconnect=options.reconnect, open_timeout=options.open_timeout)
        self.pipeline = Pipeline(classifier, options.seg)
        self.predictions: list[Prediction] = []
        self.board_predictions: list[BoardPrediction] = []      # the board's own (EMOTION frames)
        self.agreement = Agreement()             # board vs host, per utterance (with a classifier)
        self.board_classifies: bool | None = None   # HELLO's model flag (or an EMOTION frame); None: unknown
        self._said_host_alone = False
        self.model_id = model_id_of(classifier.info.path) if getattr(classifier, "info", None) else None
        self.board_model_ids: set[int] = set()   # the ids the board's EMOTION frames carried
        self.latencies_ms: list[float] = []
        self.board_status: P.Status | None = None
        self.hello: P.Hello | None = None
        self.streaming = False
        self.samples_lost = 0                    # RAW samples missing (gaps in their indices)
        self.f0_frames = 0                       # F0 frames that reached the pipeline (board's or host's)
        self.f0_voiced = 0
        self.feed_refused: str | None = None     # why the board would not take the fed recording
        self.finished = threading.Event()
        self.error: str | None = None            # why the monitor gave up (a board of another protocol version)
        self._encoder = P.Encoder()
        self._send_lock = threading.Lock()
        self._pending: dict[int, tuple[int, float]] = {}   # seq -> (command, time sent)
        self._starting = False
        self._board_norm: P.SetNorm | None = None  # the last SET_NORM sent
        self.board_norm: P.SetNorm | None = None   # the last one the board acknowledged
        self._stopping = False
        self._status_t: float | None = None
        self._raw_next: int | None = None
        self._host_f0: HostF0 | None = None
        self._feeder: Feeder | None = None
        self._feed_sent = 0                      # samples fed by earlier feeders (a reconnection starts another)
        self._down_since: float | None = None
        self._up_since: float | None = None      # when the link came up, until the board says anything
        self._hello_rejected = False             # a refused HELLO was said on this connection
        self._payload_fields_told: set[str] = set()   # payload error fields said once (link panel counts the rest)
        self._raw_rate_told: int | None = None   # a rate egg.wav cannot take, said once
        self._stop = threading.Event()
        self._closing = False

    # --- commands -----------------------------------------------------------------------

    def send(self, type_: int, payload: bytes = b"") -> bool:
        """Encode and write one command (thread-safe: the feeder sends too)."""
        with self._send_lock:
            seq = self._encoder.seq
            wire = self._encoder.encode(type_, payload)
            if type_ != P.CMD_REPLAY:             # only refused REPLAYs are acknowledged
                self._pending[seq] = (type_, time.perf_counter())
            return self.link.write(wire)

    def stop(self) -> None:
        self._stop.set()

    # --- main loop ----------------------------------------------------------------------

    def run(self) -> "Monitor":
        norm = self.classifier.normaliser if self.classifier is not None else None
        self._record("config", segmenter=dataclasses.asdict(self.options.seg), mode=self.options.mode,
                     norm=None if norm is None else norm.mode,
                     norm_fixed=None if norm is None or norm.fixed is None else dataclasses.asdict(norm.fixed))
        self.link.start()                        # PortError if the port cannot be opened
        t_end = None if self.options.duration is None else time.perf_counter() + self.options.duration
        next_status = time.perf_counter() + self.options.status_every_s
        try:
            while not self._stop.is_set() and not self.finished.is_set():
                try:
                    batch = [self.queue.get(timeout=0.05)]
                except queue.Empty:
                    batch = []
                while len(batch) < 256:
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                for item in batch:
                    self._handle(item)
                self._flush()
                now = time.perf_counter()
                if self._up_since is not None and now - self._up_since >= self.options.hello_hint_s:
                    self._silent_board(now - self._up_since)
                if self.link.connected and self.hello is not None and now >= next_status:
                    next_status = now + self.options.status_every_s
                    self._status_t = now
                    self.send(P.CMD_GET_STATUS)
                if t_end is not None and now >= t_end:
                    break
        finally:
            self._shutdown()
        return self

    def _flush(self) -> None:
        self.state.link = self.link_counters()
        if self.recorder is not None:
            self.recorder.flush()
        if self.display is not None:
            self.display.update(self.state)

    def link_counters(self) -> dict[str, Any]:
        c = self.protocol.counters.as_dict()
        s = self.board_status
        return {**c, "bytes_in": self.link.stats.bytes_in, "bytes_out": self.link.stats.bytes_out,
                "reconnects": self.link.stats.reconnects, "writes_dropped": self.link.stats.writes_dropped,
                "samples_dropped": 0 if s is None else s.samples_dropped + s.samples_lost + s.rx_overflows,
                "samples_lost": self.samples_lost}

    @property
    def feed_sent(self) -> int:
        """Samples of the fed recording the board was sent (by the feeder that ran furthest)."""
        return max(self._feed_sent, self._feeder.sent if self._feeder is not None else 0)

    def _stop_feeder(self) -> None:
        if self._feeder is not None:
            self._feeder.stop()
            self._feed_sent = max(self._feed_sent, self._feeder.sent)
            self._feeder = None

    def _shutdown(self) -> None:
        if self._feeder is not None:
            self._feeder.stop()
        self._closing = True
        self.link.close()
        while True:                              # what arrived before the close still counts
            try:
                self._handle(self.queue.get_nowait())
            except queue.Empty:
                break
        if self._host_f0 is not None:
            self._frames(self._host_f0.flush(), "host", time.perf_counter())
        self._end("monitor_stopped", time.perf_counter())
        self.state.link = self.link_counters()
        if self.recorder is not None:
            self.recorder.write("stats", **self.state.link, predictions=len(self.predictions),
                                board_predictions=len(self.board_predictions),
                                agreement=self.agreement.summary() if self.classifier is not None else None)
            self.recorder.close()
        if self.lsl is not None:
            self.lsl.close()

    # --- events -------------------------------------------------------------------------

    def _event(self, text: str) -> None:
        if self.display is not None:
            self.display.event(self.state, text)

    def _record(self, type_: str, **fields: Any) -> None:
        if self.recorder is not None:
            self.recorder.write(type_, **fields)

    def _handle(self, item: object) -> None:
        if isinstance(item, Arrival):
            self._message(item.message, item.t)
        elif isinstance(item, Rejected):
            self._payload_error(item)
            self._rejected(item)
        elif isinstance(item, LinkUp):
            self.state.connected = True
            self._up_since = item.t
            self._hello_rejected = False
            self.board_classifies = None         # until its HELLO: the board may have been reflashed
            self._record("link", state="up", connects=item.connects)
            if self._down_since is not None:
                gap = item.t - self._down_since
                wav = self.recorder.wav_samples if self.recorder is not None else 0
                self._record("gap", wav_sample=wav, seconds=round(gap, 4))
                self._event(f"link back after {gap:.2f} s (reconnect {item.connects - 1})")
                self._down_since = None
            else:
                self._event(f"connected to {self.url}")
            self.send(P.CMD_GET_HELLO)           # a board that did not reset says nothing by itself
        elif isinstance(item, LinkDown):
            self.state.connected = False
            self._up_since = None
            self._down_since = item.t
            self._record("link", state="down", error=item.error)
            if item.error or not self._closing:
                self._event(f"link lost: {item.error or 'closed'}" + ("; retrying" if self.options.reconnect else ""))
            self._stop_feeder()
            if self._host_f0 is not None:
                self._frames(self._host_f0.flush(), "host", item.t)
            self._end("link_lost", item.t)
            self.hello, self.streaming, self._starting, self._raw_next = None, False, False, None
            self._pending.clear()
            self.state.streaming = False
            if not self.options.reconnect:
                self._stop.set()
        elif isinstance(item, VersionMismatch):
            # the board drops every command of this host too: nothing can work until one side is updated
            self._record("version_mismatch", board=item.version, host=P.VERSION, message=item.message)
            self._event(item.message)
            self.error = item.message
            self._stop.set()

    def _silent_board(self, waited: float) -> None:
        # A board of another protocol version drops this host's GET_HELLO as a format error and
        # answers nothing; one that never sends (a HELLO missed at boot) cannot be told apart.
        self._up_since = None                    # said once per connection
        self._record("silent", seconds=round(waited, 3))
        self._event(f"no answer from the board {waited:.0f} s after connecting (it ignored GET_HELLO). Is it "
                    f"running? Firmware of another protocol version than this host's ({P.VERSION}) drops the "
                    f"host's commands without a word: then reflash it with this eggemo's firmware "
                    f"({firmware_command()}), or use the host of the board's release")

    def _payload_error(self, r: Rejected) -> None:
        """A board frame with a value outside its range (docs/protocol.md "Ranges"), or a payload of the
        wrong length: kept in the recording as received, never passed on, said once per field."""
        f = r.frame
        self._record("rejected", frame=P.FRAME_NAMES.get(f.type, f"0x{f.type:02x}"), frame_type=f.type, seq=f.seq,
                     payload=f.payload.hex(), field=r.field, error=r.error)
        if r.field not in self._payload_fields_told:
            self._payload_fields_told.add(r.field)
            self._event(f"payload error ({r.field}): {r.error}; the frame is skipped and kept in the recording, "
                        f"and further ones are counted in the link panel")

    def _rejected(self, r: Rejected) -> None:
        """A frame of the board's whose payload was refused (counted in payload_errors): the board
        speaks, so the silent-board hint would be wrong. A refused HELLO leaves the host without the
        board's rate and F0 geometry, so nothing streams until a valid one comes: said once per
        connection, with what was wrong."""
        self._up_since = None
        if r.frame.type == P.MSG_HELLO and self.hello is None and not self._hello_rejected:
            self._hello_rejected = True
            self._record("hello_rejected", error=r.error)
            self._event(f"the board answers, but its HELLO was rejected: {r.error}. Without a valid HELLO the "
                        f"host does not know the board's rate and F0 geometry, so nothing is streamed. The "
                        f"firmware does not match this host: build and flash the firmware of this eggemo "
                        f"({firmware_command()}; under QEMU, {firmware_command('qemu')} and boot "
                        f"{firmware_image('qemu')})")

    def _message(self, msg: object, t: float) -> None:
        self._up_since = None                    # the board speaks
        if isinstance(msg, P.F0Block):
            self._frames(frames_from_records(msg.records), "board", t)
        elif isinstance(msg, P.SampleBlock):
            self._raw(msg, t)
        elif isinstance(msg, P.Emotion):
            self._emotion(msg)
        elif isinstance(msg, P.Hello):
            self._hello(msg, t)
        elif isinstance(msg, P.Ack):
            self._ack(msg, t)
        elif isinstance(msg, P.Status):
            self.board_status = msg
            self._record("status", **dataclasses.asdict(msg))
            if self._status_t is not None:
                self.state.rtt_ms = 1000.0 * (t - self._status_t)
                self._status_t = None
            if self._stopping and not self.streaming and self.options.stop_at_end:
                self.finished.set()              # the STATUS after STOP: the stream's final account

    def _hello(self, h: P.Hello, t: float) -> None:
        restarted = self.streaming and not h.streaming     # the board reset under us
        self.hello = h
        self._record("hello", fw_version=list(h.fw_version), board=h.board_name, fs=h.fs,
                     f0_hop_samples=h.f0_hop_samples, f0_frame_samples=h.f0_frame_samples, mode=h.mode,
                     streaming=h.streaming, cpu_hz=h.cpu_hz, cost_unit=h.cost_unit, flags=h.flags)
        board = (f"{h.board_name} fw {'.'.join(map(str, h.fw_version))}, {h.fs} Hz, "
                 f"F0 hop {1000 * h.f0_hop_samples / h.fs:.0f} ms" + (", classifies on board" if h.has_model else ""))
        clock = clock_text(h)
        if (board, clock) != (self.state.board, self.state.clock):   # a new board, or another clock: say it
            self._event(f"board: {board}; {clock}")
            if h.clock_fallback:
                self._event(FALLBACK_WARNING)
        self.state.board, self.state.clock, self.state.clock_fallback = board, clock, h.clock_fallback
        if h.has_model and self.classifier is None:
            self.state.note = "no --model: the board's own predictions, F0 and link"
        self.board_classifies = h.has_model
        if not h.has_model and self.classifier is not None and not self._said_host_alone:
            self._said_host_alone = True
            path = getattr(getattr(self.classifier, "info", None), "path", None)
            self._event(f"the board has no model (plain firmware): --model{f' {path.name}' if path else ''} "
                        f"classifies on the host alone, with no board prediction to compare")
        self._check_geometry(h)
        if restarted:
            self._end("restart", t)
            self.streaming = False
        if h.streaming:
            self.streaming = True                # rejoin a stream that kept running
            self.state.streaming = True
            return
        if self._starting:
            return
        self._starting = True
        if self.options.fs is not None and self.options.fs != h.fs:
            self.send(P.CMD_SET_RATE, P.set_rate_payload(self.options.fs))
        self.send(P.CMD_SET_MODE, P.set_mode_payload(self.options.mode, replay=self.options.feed is not None))
        norm = self.board_norm_payload() if h.has_model else None
        if norm is not None:
            self._board_norm = P.SetNorm.from_payload(norm)
            self.send(P.CMD_SET_NORM, norm)
        self.send(P.CMD_START)

    def board_norm_payload(self) -> bytes | None:
        """SET_NORM for a board that classifies itself: the host's normalisation (its fixed statistics
        from --norm FILE.json, or its utterance / session mode, which may not be the one the model's
        export gives the board), so that the board normalises each utterance as the host does."""
        norm = self.classifier.normaliser if self.classifier is not None else None
        if norm is None:
            return None
        try:
            if norm.mode != "fixed":
                return P.set_norm_payload(mode=P.NORM_UTTERANCE if norm.mode == "utterance" else P.NORM_SESSION)
            return P.set_norm_payload(norm.fixed)
        except ValueError as exc:                # statistics the board would refuse: say so, stream anyway
            self._event(f"the board keeps its model's own normalisation: {exc}")
            return None

    def _check_geometry(self, h: P.Hello) -> None:
        info = getattr(self.classifier, "info", None)
        if info is None:
            return
        hop_ms = 1000.0 * h.f0_hop_samples / h.fs
        if abs(hop_ms - info.hop_ms) > 1e-6:
            self._event(f"warning: the board's F0 hop is {hop_ms:g} ms but the model was trained on "
                        f"{info.hop_ms:g} ms frames; predictions will be off")

    def _ack(self, a: P.Ack, t: float) -> None:
        cmd, _ = self._pending.pop(a.seq, (a.command, t))
        name = COMMAND_NAMES.get(cmd, f"0x{cmd:02X}")
        if not a.ok and cmd == P.CMD_REPLAY:    # every frame of the feed would say it: said once, as the feed's
            self._record("refused", command=name, status=a.status)
            self._feed_refused(a)
            return
        if not a.ok:
            why = a.reason_text if isinstance(a, P.Nack) else ""      # a NACK says which value it refused
            self._record("refused", command=name, status=a.status,
                         **({"reason": a.reason, "reason_text": why} if why else {}))
            self._event(f"the board refused {name} (status {a.status}{': ' + why if why else ''})"
                        + (": it normalises with its model's own statistics, so its predictions and the host's "
                           "will differ" if cmd == P.CMD_SET_NORM else ""))
            if cmd == P.CMD_START:
                self._starting = False
            return
        if cmd == P.CMD_START:
            self._starting = False
            self.streaming = True
            self.state.streaming = True
            fs = self.options.fs or (self.hello.fs if self.hello else 16000)
            self._record("start", fs=fs, mode=self.options.mode)
            self._end("restart", t)              # nothing should be open; indices restart at 0
            self._raw_next = None
            self._host_f0 = HostF0(fs) if self.options.mode == P.MODE_RAW else None
            if self.options.feed is not None and self.feed_refused is None:
                self._feeder = Feeder(self.options.feed, self.send, fs=fs, speed=self.options.feed_speed,
                                      on_done=self._feed_done).start()
        elif cmd == P.CMD_SET_NORM and self._board_norm is not None:
            n = self.board_norm = self._board_norm
            self._record("board_norm", **dataclasses.asdict(n), mode_name=n.mode_name)
            self._event(norm_text(n))
        elif cmd == P.CMD_STOP:
            self.streaming = False
            self.state.streaming = False
            if self._host_f0 is not None:
                self._frames(self._host_f0.flush(), "host", t)
            self._end("stream_end", t)
            if self.options.feed is not None and not self.options.stop_at_end:
                self._event("the recording has been streamed, and its stream stopped (Ctrl-C quits)")

    def _feed_done(self) -> None:
        # feeder thread: everything is sent. STOP makes the board release its last F0 segment (it
        # holds a voiced segment until it ends) and ends the open utterance, as silence would, so
        # its prediction is shown whether or not the monitor exits now (stop_at_end).
        self._stopping = True
        self.send(P.CMD_STOP)

    def _feed_refused(self, a: P.Ack) -> None:
        """The board refused a REPLAY frame: it will refuse the rest too. Stop feeding, say it once
        (what was refused and what to do); with stop_at_end there is nothing left to wait for."""
        self._stop_feeder()
        if self.feed_refused is not None:
            return
        board = self.hello.board_name if self.hello is not None else "the board"
        self.feed_refused = (f"{board} refused the fed recording's samples (REPLAY, status {a.status}): its "
                             f"firmware does not take samples from the host in place of its ADC. Build and "
                             f"flash (or boot under QEMU) the firmware of this eggemo, whose SET_MODE takes the "
                             f"REPLAY bit; without --feed the board streams what its own ADC samples")
        self._record("feed_refused", status=a.status, message=self.feed_refused)
        self._event(self.feed_refused)
        if self.options.stop_at_end:
            self.error = self.feed_refused
            self._stop.set()

    def _raw(self, block: P.SampleBlock, t: float) -> None:
        n = len(block.samples)
        if self._raw_next is not None and block.first != self._raw_next:
            self.samples_lost += max(0, block.first - self._raw_next)
        self._raw_next = block.first + n
        if self.recorder is not None and self.hello is not None:
            fs = self.options.fs or self.hello.fs
            try:
                pos = self.recorder.samples(fs, block.samples)
            except ValueError as exc:            # egg.wav holds one rate: a board at another one is left out
                pos = None
                if fs != self._raw_rate_told:
                    self._raw_rate_told = fs
                    self._event(f"{exc}: its RAW samples at {fs} Hz are not written to egg.wav (their \"raw\" "
                                f"lines say so); F0 and predictions go on")
            self.recorder.write("raw", first=block.first, n=n, wav_sample=pos)
        if self._host_f0 is not None:
            self._frames(self._host_f0.push(block), "host", t)

    def _frames(self, frames: Frames, source: str, t: float) -> None:
        if len(frames) == 0:
            return
        self._record("f0", source=source, **{c: getattr(frames, c) for c in FRAME_COLUMNS})
        self.f0_frames += len(frames)
        self.f0_voiced += int(np.count_nonzero(frames.voiced))
        self.state.add_f0(frames.index, frames.f0_hz)
        if self.lsl is not None and self.hello is not None:
            self.lsl.push_f0(self.hello.f0_time(frames.index), frames.f0_hz, frames.voiced, frames.periodicity,
                             frames.energy_db, frames.cq, frames.jitter, frames.shimmer)
        self._show(self.pipeline.f0(frames), t)

    def _end(self, reason: str, t: float) -> None:
        # recorded even with nothing open: it also resets the segmenter's preroll, which replay must see
        self._record("end", reason=reason)
        self._show(self.pipeline.end(reason), t)
        self._compared(self.agreement.end())     # frame indices restart: what waits has no partner

    def _emotion(self, e: P.Emotion) -> None:
        """The board's own prediction of an utterance (firmware built with a model)."""
        self.board_classifies = True
        if e.model_id not in self.board_model_ids:
            self.board_model_ids.add(e.model_id)
            if self.model_id is not None and e.model_id != self.model_id:
                path = self.classifier.info.path
                self._record("model_mismatch", board=e.model_id, host=self.model_id, model=str(path))
                self._event(f"warning: the board runs another model (id {e.model_id:#010x}) than --model "
                            f"{path.name} (id {self.model_id:#010x}); both predictions are shown, and they will "
                            f"disagree. To compare the same model, build the firmware with it: "
                            f"{firmware_advice(self.hello, path.parent)}")
        same_model = self.model_id is not None and e.model_id == self.model_id
        unit = COST_UNITS.get(self.hello.cost_unit, "cost units") if self.hello is not None else "cost units"
        b = board_prediction(e, self.state.label_names, self.classifier.runtime if same_model else None, unit)
        self.board_predictions.append(b)
        self._record("emotion", **b.as_dict())
        st = self.state
        st.board_label, st.board_scores, st.board_probs = b.label, tuple(e.scores), b.probs
        st.board_cost, st.cost_unit = e.cost, unit
        st.board_predictions += 1
        st.board_utterance_s = (e.last - e.first + 1) * self.options.seg.hop_ms / 1000.0
        if self.classifier is None:              # the board's are the only predictions: mark them
            st.history.append(b.label)
            st.mark_utterance(e.first, e.last, b.label)
        show = getattr(self.display, "board_prediction", None)
        if show is not None:
            show(st)
        if self.classifier is not None:
            self._compared(self.agreement.board(b))

    def _compared(self, pairs: list[Pair]) -> None:
        if self.classifier is None or not pairs:
            return
        st = self.state
        st.agreement = self.agreement.summary()
        for q in pairs:
            st.comparison = (q.outcome, q.board.label if q.board else "", q.host.label if q.host else "",
                             q.first, q.last)
            self._record("compare", outcome=q.outcome, first=q.first, last=q.last,
                         board=None if q.board is None else q.board.label,
                         host=None if q.host is None else q.host.label)
            show = getattr(self.display, "comparison", None)
            if show is not None:
                show(st)

    def summary(self) -> dict[str, Any]:
        """What the run gave: host and board predictions, and (with a model) how they agree."""
        costs = [b.emotion.cost for b in self.board_predictions]
        out: dict[str, Any] = {"predictions": len(self.predictions), "board_predictions": len(self.board_predictions)}
        if costs:
            out["board_cost"] = {"mean": float(np.mean(costs)), "max": int(max(costs)),
                                 "unit": self.board_predictions[-1].cost_unit}
            out["board_model_ids"] = sorted(self.board_model_ids)
        out["board_classifies"] = self.board_classifies
        if self.classifier is not None:
            out["agreement"] = self.agreement.summary()
            out["board_runs_the_model"] = (None if not self.board_model_ids
                                           else self.board_model_ids == {self.model_id})
        return out

    def _show(self, preds: list[Prediction], t_arrival: float) -> None:
        for p in preds:
            st = self.state
            st.probs, st.label, st.predictions = p.probs, p.label, st.predictions + 1
            st.last_utterance_s = (p.last - p.first + 1) * self.options.seg.hop_ms / 1000.0
            st.history.append(p.label)
            st.mark_utterance(p.first, p.last, p.label)
            if self.display is not None:
                self.display.prediction(st)
            latency = 1000.0 * (time.perf_counter() - t_arrival)
            st.latency_ms.append(latency)
            self.latencies_ms.append(latency)
            self.predictions.append(p)
            self._record("prediction", **p.as_dict(), latency_ms=round(latency, 3))
            if self.recorder is not None:
                self.recorder.flush()
            if self.lsl is not None:
                self.lsl.push_prediction(p.probs)
            if self.board_classifies:            # plain firmware: no board prediction will come
                self._compared(self.agreement.host(p))
