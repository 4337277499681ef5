"""The protocol object between the serial reader thread and the monitor: bytes in, typed
messages out, with the decoder's counters kept across reconnections.

The reader thread calls ``data_received``; every valid frame is parsed and put on a queue as
an ``Arrival`` (message, time of arrival), a frame whose payload is refused as ``Rejected``,
together with ``LinkUp``/``LinkDown`` events, so the
monitor handles everything on one thread in the order it happened.
"""
from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field

from eggemo.core import proto as P
from .transport import Protocol, SerialLink


@dataclass(frozen=True)
class Arrival:
    message: object            # a parsed message (P.Hello, P.F0Block, ...) or an unknown P.Frame
    t: float                   # time.perf_counter() when its last byte was read


@dataclass(frozen=True)
class LinkUp:
    t: float
    connects: int              # 1 for the first connection


@dataclass(frozen=True)
class LinkDown:
    t: float
    error: str                 # why ("" when closed on purpose)


@dataclass(frozen=True)
class VersionMismatch:
    """The board's frames carry another protocol version (their CRC is right): it runs the
    firmware of another release, and neither side can understand the other."""

    t: float
    version: int               # the board's
    message: str               # what to do, for the user (protocol.version_advice)


@dataclass(frozen=True)
class Rejected:
    """A frame whose CRC and format were right but whose payload was refused (protocol.parse
    raised): the board spoke, and what it said cannot be used."""

    t: float
    frame: P.Frame             # as received
    error: str                 # why it was refused (the ProtocolError's message)
    field: str = ""            # the field it was refused for, "f0.energy_db" (P.ProtocolError.field)


@dataclass
class DecodeCounters:
    """The decoder's counters summed over every connection, and payload errors after decoding."""

    bytes: int = 0
    frames: int = 0
    crc_errors: int = 0
    format_errors: int = 0
    seq_gaps: int = 0
    seq_lost: int = 0
    payload_errors: int = 0    # valid frames whose payload did not fit their type or its ranges
    payload_error_fields: dict[str, int] = field(default_factory=dict)   # the same per field: "f0.energy_db"

    def as_dict(self) -> dict:
        return {**self.__dict__, "payload_error_fields": dict(self.payload_error_fields)}


class MessageProtocol(Protocol):
    """Decodes frames (eggemo.core.proto.Decoder) and queues them with link events."""

    def __init__(self, out: "queue.Queue[object] | None" = None) -> None:
        self.queue: queue.Queue[object] = out if out is not None else queue.Queue()
        self.link: SerialLink | None = None
        self._decoder = P.Decoder()
        self._past = DecodeCounters()     # counters of decoders of earlier connections
        self._payload_errors = 0
        self._payload_fields: dict[str, int] = {}
        self._version_told = False

    @property
    def counters(self) -> DecodeCounters:
        s = self._decoder.stats
        p = self._past
        return DecodeCounters(p.bytes + s.bytes, p.frames + s.frames, p.crc_errors + s.crc_errors,
                              p.format_errors + s.format_errors, p.seq_gaps + s.seq_gaps,
                              p.seq_lost + s.seq_lost, self._payload_errors, dict(self._payload_fields))

    def connection_made(self, link: SerialLink) -> None:
        # A fresh decoder: a partial frame from before the loss must not glue onto new bytes,
        # and a board that reset numbers its frames from 0 again (not a sequence gap).
        s = self._decoder.stats
        for name in ("bytes", "frames", "crc_errors", "format_errors", "seq_gaps", "seq_lost"):
            setattr(self._past, name, getattr(self._past, name) + getattr(s, name))
        self._decoder = P.Decoder()
        self._version_told = False
        self.link = link
        self.queue.put(LinkUp(time.perf_counter(), link.stats.connects))

    def data_received(self, data: bytes) -> None:
        frames = self._decoder.feed(data)
        d = self._decoder
        # Only before any valid frame: later, a foreign version byte is a damaged frame whose CRC
        # matched by chance, counted as a format error like any other.
        if d.foreign_version is not None and not self._version_told and d.stats.frames == 0:
            self._version_told = True
            self.queue.put(VersionMismatch(time.perf_counter(), d.foreign_version,
                                           P.version_advice(d.foreign_version)))
        if not frames:
            return
        t = time.perf_counter()
        for frame in frames:
            try:
                msg = P.parse(frame)
            except P.ProtocolError as exc:
                name = exc.field or f"{P.FRAME_NAMES.get(frame.type, f'0x{frame.type:02x}')}.payload"
                self._payload_errors += 1
                # a new dict, not an update: the monitor's thread reads (copies) it meanwhile
                self._payload_fields = {**self._payload_fields, name: self._payload_fields.get(name, 0) + 1}
                self.queue.put(Rejected(t, frame, str(exc), name))
                continue
            self.queue.put(Arrival(msg, t))

    def connection_lost(self, exc: BaseException | None) -> None:
        self.queue.put(LinkDown(time.perf_counter(), "" if exc is None else str(exc)))

