"""The serial protocol between the wearable and the host, in pure Python (no I/O).

This is the twin of ``csrc/emo_proto.c``; ``docs/protocol.md`` is the specification
and the parity tests hold the two byte-identical. Bytes in, frames out::

    decoder = Decoder()
    for frame in decoder.feed(chunk):          # any chunking, garbage allowed
        msg = parse(frame)                     # Hello | RawBlock | F0Block | Status | Ack | Emotion
    wire = Encoder().encode(CMD_START)         # host -> board command, COBS + 0x00

A frame is ``version:u8 | type:u8 | seq:u16 | payload | crc:u16`` (little-endian),
COBS-encoded and ended by one 0x00 byte. The CRC is CRC-16/CCITT-FALSE.
"""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, field, fields

import numpy as np

VERSION = 2  # 2: F0 records carry the contact quotient, jitter and shimmer (29 bytes instead of 17)
HEADER_LEN = 4
CRC_LEN = 2
MAX_PAYLOAD = 1024
MAX_FRAME = HEADER_LEN + MAX_PAYLOAD + CRC_LEN
MAX_ENCODED = MAX_FRAME + MAX_FRAME // 254 + 2

# CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740): poly 0x1021, init 0xFFFF,
# no reflection, no final XOR. binascii.crc_hqx is exactly this register.
CRC_POLY = 0x1021
CRC_INIT = 0xFFFF
CRC_REFLECTED = False
CRC_XOROUT = 0x0000
CRC_CHECK = 0x29B1  # CRC of b"123456789"

# Frame types, board -> host.
MSG_HELLO = 0x01
MSG_RAW = 0x02
MSG_F0 = 0x03
MSG_STATUS = 0x04
MSG_ACK = 0x05
MSG_EMOTION = 0x06
# Frame types, host -> board.
CMD_START = 0x81
CMD_STOP = 0x82
CMD_SET_MODE = 0x83
CMD_SET_RATE = 0x84
CMD_REPLAY = 0x85
CMD_GET_STATUS = 0x86
CMD_GET_HELLO = 0x87
CMD_EXIT = 0x88
CMD_STALL = 0x89
CMD_SET_NORM = 0x8A

MODE_RAW = 1
MODE_F0 = 2
MODE_BOTH = MODE_RAW | MODE_F0
MODE_REPLAY = 4   # SET_MODE bit: the samples come as REPLAY frames (a board with an ADC leaves it off)

BOARD_STM32F405 = 1
BOARD_QEMU = 2
BOARD_NAMES = {BOARD_STM32F405: "stm32f405", BOARD_QEMU: "qemu-netduinoplus2"}

COST_CYCLES = 0
COST_INSTRUCTIONS = 1

HELLO_LEN = 20
HELLO_FLAG_CLOCK_FALLBACK = 0x01   # HELLO flags bit 0: the board runs on its fallback clock
HELLO_FLAG_MODEL = 0x02            # bit 1: the board runs the student and sends EMOTION frames
STATUS_LEN = 68
ACK_LEN = 4
F0_RECORD_LEN = 29
F0_PER_FRAME = 35  # 35 * 29 = 1015 <= MAX_PAYLOAD
RAW_MAX = 510  # int16 samples in one RAW or REPLAY frame
EMOTION_HEAD = 29      # EMOTION payload before its n_classes int8 scores
EMOTION_CLASSES = 16   # most classes in one EMOTION
SET_NORM_LEN = 1          # SET_NORM payload in utterance or session mode: the mode byte
SET_NORM_FIXED_LEN = 33   # in fixed mode: the mode byte, then mu, sigma, e_mu, e_sigma as f64

# Where the board's classifier takes each utterance's normalisation statistics: the SET_NORM mode
# byte, the codes of csrc/emo_feat.h (emo_feat_norm_mode_t), and the host's F0Normaliser mode names.
NORM_UTTERANCE = 0
NORM_SESSION = 1
NORM_FIXED = 2
NORM_NAMES = {NORM_UTTERANCE: "utterance", NORM_SESSION: "session", NORM_FIXED: "fixed"}

# Why an utterance ended: the EMOTION reason byte, the codes of csrc/emo_seg.h (emo_seg_reason_t), and
# the names the host's Segmenter (eggemo.host.pipeline) gives them. Its "link_lost" never comes from a board.
REASON_HANGOVER = 1
REASON_MAX_LENGTH = 2
REASON_STREAM_END = 3
REASON_GAP = 4
REASON_RESTART = 5
REASON_NAMES = {REASON_HANGOVER: "hangover", REASON_MAX_LENGTH: "max_length", REASON_STREAM_END: "stream_end",
                REASON_GAP: "gap", REASON_RESTART: "restart"}

# One F0 record on the wire, packed, little-endian.
F0_DTYPE = np.dtype(
    [("index", "<u4"), ("f0_hz", "<f4"), ("periodicity", "<f4"), ("energy_db", "<f4"), ("voiced", "u1"),
     ("cq", "<f4"), ("jitter", "<f4"), ("shimmer", "<f4")]
)
assert F0_DTYPE.itemsize == F0_RECORD_LEN and F0_PER_FRAME * F0_RECORD_LEN <= MAX_PAYLOAD


class ProtocolError(ValueError):
    """A frame or payload that does not follow docs/protocol.md."""


class CrcError(ProtocolError):
    """The frame's CRC does not match its contents."""


class FormatError(ProtocolError):
    """The frame is malformed: COBS, length or version."""


class VersionError(FormatError):
    """A frame whose CRC is right but whose version byte is not VERSION: the board runs firmware
    of another protocol version than this host. It counts as a format error, like in C."""

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__(version_advice(version))


def version_advice(version: int) -> str:
    """What to tell the user when the board speaks protocol `version` and this host VERSION."""
    if version < VERSION:
        from eggemo.flash import firmware_command
        todo = f"reflash the board with the firmware of this eggemo ({firmware_command()})"
    else:
        todo = "update the host (this eggemo) to the release of the board's firmware"
    return (f"the board speaks protocol version {version}, this host speaks {VERSION}, and the two cannot "
            f"understand each other: {todo}")


class PayloadError(ProtocolError):
    """The frame is well formed and its CRC is right, but a value in its payload is impossible
    (a HELLO with fs = 0, a voiced F0 record of NaN Hz): a board bug or a corrupted memory."""


# The rates the F0 core analyses (emo_f0.c); a HELLO outside them cannot be placed in time.
FS_MIN, FS_MAX = 4000, 96000


# --- CRC and COBS ---------------------------------------------------------------------


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE of data, continuing from crc."""
    return binascii.crc_hqx(data, crc)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode data (no delimiter). A run of 254 non-zero bytes always closes its
    block, so a frame ending in such a run gets a trailing 0x01 code byte (as the C encoder)."""
    out = bytearray()
    for part in bytes(data).split(b"\x00"):
        # each zero-free part becomes blocks of at most 254 bytes; between parts, the
        # zero is implied by a block shorter than 254
        while len(part) >= 254:
            out.append(0xFF)
            out += part[:254]
            part = part[254:]
        out.append(len(part) + 1)
        out += part
    return bytes(out)


def cobs_decode(data: bytes, limit: int = MAX_FRAME) -> bytes:
    """Decode one COBS block sequence (without delimiter). Raises FormatError if it
    contains a zero, a block is truncated, or the result would exceed limit bytes."""
    out = bytearray()
    i, n = 0, len(data)
    code = 0
    too_long = False
    while i < n:
        if i > 0 and code != 0xFF:
            out.append(0)
        code = data[i]
        if code == 0:
            raise FormatError("COBS data contains a 0x00 byte")
        block = data[i + 1 : i + code]
        if 0 in block:
            raise FormatError("COBS data contains a 0x00 byte")
        out += block
        if len(out) > limit:
            too_long = True
            del out[limit:]
        if len(block) < code - 1:
            raise FormatError("truncated COBS block")
        i += code
    if too_long:
        raise FormatError(f"frame longer than {limit} bytes")
    return bytes(out)


# --- frames ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One valid frame: its type, sequence number and raw payload."""

    type: int
    seq: int
    payload: bytes
    version: int = VERSION


def encode_frame(type_: int, seq: int, payload: bytes = b"") -> bytes:
    """Frame bytes on the wire: COBS(version, type, seq, payload, crc) + 0x00."""
    if not 0 <= type_ <= 0xFF:
        raise ValueError(f"frame type {type_} is not a byte")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}; split it")
    body = struct.pack("<BBH", VERSION, type_, seq & 0xFFFF) + bytes(payload)
    body += struct.pack("<H", crc16(body))
    return cobs_encode(body) + b"\x00"


def decode_frame(encoded: bytes) -> Frame:
    """Decode one frame given without its delimiter. Raises CrcError or FormatError."""
    raw = cobs_decode(encoded)
    if len(raw) < HEADER_LEN + CRC_LEN:
        raise FormatError(f"frame of {len(raw)} bytes is shorter than header and CRC")
    body, (want,) = raw[:-CRC_LEN], struct.unpack("<H", raw[-CRC_LEN:])
    if crc16(body) != want:
        raise CrcError(f"CRC mismatch: computed 0x{crc16(body):04X}, frame says 0x{want:04X}")
    version, type_, seq = struct.unpack_from("<BBH", body)
    if version != VERSION:
        raise VersionError(version)
    return Frame(type=type_, seq=seq, payload=bytes(body[HEADER_LEN:]), version=version)


class Encoder:
    """Numbers frames of one direction: seq starts at 0 and wraps at 65536."""

    def __init__(self, seq: int = 0) -> None:
        self.seq = seq & 0xFFFF

    def encode(self, type_: int, payload: bytes = b"") -> bytes:
        wire = encode_frame(type_, self.seq, payload)
        self.seq = (self.seq + 1) & 0xFFFF
        return wire


@dataclass
class DecoderStats:
    """Counters of a Decoder, the same as the C decoder's."""

    bytes: int = 0          # bytes fed
    frames: int = 0         # valid frames
    crc_errors: int = 0     # frames with a CRC mismatch
    format_errors: int = 0  # malformed frames (COBS, length, version)
    seq_gaps: int = 0       # times the sequence number jumped
    seq_lost: int = 0       # frames missing by sequence number

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Decoder:
    """Streaming decoder: feed bytes in any chunking, get the valid frames back.

    Garbage and damaged frames are counted in ``stats`` and skipped; decoding
    resynchronises at the next 0x00. Bit-for-bit the same counting as emo_proto_feed().
    """

    # a pending frame this long cannot decode to <= MAX_FRAME bytes: drop its bytes
    _PENDING_CAP = 2 * MAX_ENCODED

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._pending = bytearray()
        self._overlong = False
        self._next_seq: int | None = None
        # the version of the last frame with a right CRC but another protocol version (counted
        # as a format error): the board runs another release's firmware
        self.foreign_version: int | None = None

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        self.stats.bytes += len(data)
        parts = bytes(data).split(b"\x00")
        for k, part in enumerate(parts):
            if k == len(parts) - 1:  # no delimiter yet: keep for the next feed
                self._pending += part
                if len(self._pending) > self._PENDING_CAP:
                    self._overlong = True
                    self._pending.clear()
                break
            chunk = bytes(self._pending) + part
            overlong = self._overlong
            self._pending.clear()
            self._overlong = False
            frame = self._finish(chunk, overlong)
            if frame is not None:
                frames.append(frame)
        return frames

    def _finish(self, chunk: bytes, overlong: bool) -> Frame | None:
        if not chunk and not overlong:
            return None  # back-to-back delimiters
        if overlong:
            self.stats.format_errors += 1
            return None
        try:
            frame = decode_frame(chunk)
        except CrcError:
            self.stats.crc_errors += 1
            return None
        except VersionError as exc:
            self.stats.format_errors += 1
            self.foreign_version = exc.version
            return None
        except FormatError:
            self.stats.format_errors += 1
            return None
        if self._next_seq is not None and frame.seq != self._next_seq:
            self.stats.seq_gaps += 1
            self.stats.seq_lost += (frame.seq - self._next_seq) & 0xFFFF
        self._next_seq = (frame.seq + 1) & 0xFFFF
        self.stats.frames += 1
        return frame


# --- payloads -------------------------------------------------------------------------

_HELLO = struct.Struct("<BBBBIHHBBBBI")
_ACK = struct.Struct("<BHb")
assert _HELLO.size == HELLO_LEN and _ACK.size == ACK_LEN


@dataclass(frozen=True)
class Hello:
    """Sent by the board at start-up and on CMD_GET_HELLO."""

    fw_version: tuple[int, int, int]
    board: int
    fs: int                 # sample rate, Hz
    f0_hop_samples: int     # input samples between F0 frames
    f0_frame_samples: int   # input samples in one F0 analysis frame
    mode: int
    streaming: bool
    cost_unit: int          # COST_CYCLES or COST_INSTRUCTIONS
    cpu_hz: int
    flags: int = 0          # HELLO_FLAG_* bits

    @property
    def clock_fallback(self) -> bool:
        return bool(self.flags & HELLO_FLAG_CLOCK_FALLBACK)

    @property
    def has_model(self) -> bool:
        """The board classifies utterances itself (EMOTION frames)."""
        return bool(self.flags & HELLO_FLAG_MODEL)

    @property
    def board_name(self) -> str:
        return BOARD_NAMES.get(self.board, f"unknown board {self.board}")

    def f0_time(self, index: np.ndarray | int) -> np.ndarray | float:
        """Centre of F0 frame `index` in seconds from the stream's first sample."""
        return (np.asarray(index) * self.f0_hop_samples + 0.5 * self.f0_frame_samples) / self.fs

    @classmethod
    def from_payload(cls, payload: bytes) -> "Hello":
        _need(payload, HELLO_LEN, "HELLO")
        ma, mi, pa, board, fs, hop, frame, mode, streaming, cost, flags, cpu = _HELLO.unpack(payload)
        if not FS_MIN <= fs <= FS_MAX or hop == 0 or frame == 0:
            raise PayloadError(f"HELLO with fs {fs} Hz, F0 hop {hop} and frame {frame} samples: need fs in "
                               f"{FS_MIN}..{FS_MAX} and a hop and frame of at least one sample")
        return cls((ma, mi, pa), board, fs, hop, frame, mode, bool(streaming), cost, cpu, flags)

    def to_payload(self) -> bytes:
        return _HELLO.pack(*self.fw_version, self.board, self.fs, self.f0_hop_samples,
                           self.f0_frame_samples, self.mode, int(self.streaming), self.cost_unit, self.flags,
                           self.cpu_hz)


@dataclass(frozen=True)
class Status:
    """Board counters (CMD_GET_STATUS, and after CMD_STOP). Stream counters restart at CMD_START."""

    uptime_ms: int = 0
    samples_in: int = 0        # samples accepted into the sample ring
    samples_dropped: int = 0   # lost because the sample ring was full
    samples_lost: int = 0      # missing from the replay (gaps in its sample index)
    rx_bytes: int = 0          # bytes the USART received
    rx_overflows: int = 0      # received bytes dropped because the RX ring was full
    frames_ok: int = 0         # host frames that decoded
    crc_errors: int = 0        # host frames with a CRC mismatch
    format_errors: int = 0     # malformed host frames
    seq_lost: int = 0          # host frames missing by sequence number
    cmd_rejected: int = 0      # valid frames refused
    hops: int = 0              # F0 hops analysed
    hop_cost_last: int = 0     # F0 cost of the last hop (Hello.cost_unit)
    hop_cost_max: int = 0
    hop_cost_mean: int = 0
    tx_frames: int = 0         # frames sent since reset
    f0_sent: int = 0           # F0 records sent

    @classmethod
    def from_payload(cls, payload: bytes) -> "Status":
        _need(payload, STATUS_LEN, "STATUS")
        return cls(*struct.unpack(f"<{STATUS_LEN // 4}I", payload))

    def to_payload(self) -> bytes:
        return struct.pack(f"<{STATUS_LEN // 4}I", *(getattr(self, f.name) for f in fields(self)))


@dataclass(frozen=True)
class Ack:
    """The board's answer to a command: which one (type, seq) and an emo_status_t code."""

    command: int
    seq: int
    status: int  # 0 ok, negative emo_status_t

    @property
    def ok(self) -> bool:
        return self.status == 0

    @classmethod
    def from_payload(cls, payload: bytes) -> "Ack":
        _need(payload, ACK_LEN, "ACK")
        return cls(*_ACK.unpack(payload))

    def to_payload(self) -> bytes:
        return _ACK.pack(self.command, self.seq, self.status)


@dataclass(frozen=True)
class SampleBlock:
    """RAW (board -> host) or REPLAY (host -> board): int16 samples from sample `first`."""

    first: int
    samples: np.ndarray = field(repr=False)

    @classmethod
    def from_payload(cls, payload: bytes) -> "SampleBlock":
        if len(payload) < 4 or (len(payload) - 4) % 2:
            raise FormatError(f"sample payload of {len(payload)} bytes: need 4 + 2*n")
        (first,) = struct.unpack_from("<I", payload)
        return cls(first, np.frombuffer(payload, dtype="<i2", offset=4).astype(np.int16))

    def to_payload(self) -> bytes:
        return pack_samples(self.first, self.samples)


@dataclass(frozen=True)
class F0Block:
    """F0 records; ``records`` is a structured array of F0_DTYPE. Place each by its index
    (Hello.f0_time): a voiced segment's frames arrive when the segment ends."""

    records: np.ndarray = field(repr=False)

    @classmethod
    def from_payload(cls, payload: bytes) -> "F0Block":
        if not payload or len(payload) % F0_RECORD_LEN:
            raise FormatError(f"F0 payload of {len(payload)} bytes is not n*{F0_RECORD_LEN}")
        records = np.frombuffer(payload, dtype=F0_DTYPE).copy()
        voiced_f0 = records["f0_hz"][records["voiced"] != 0]
        bad = ~(np.isfinite(voiced_f0) & (voiced_f0 > 0))
        if bad.any():
            raise PayloadError(f"F0 frame with {int(bad.sum())} voiced record(s) whose F0 is not a positive "
                               f"finite number (e.g. {float(voiced_f0[bad][0])} Hz)")
        for name, top in (("cq", 1.0), ("jitter", np.inf), ("shimmer", np.inf)):
            v = records[name]
            bad = ~(np.isfinite(v) & (v >= 0) & (v <= top))
            if bad.any():
                raise PayloadError(f"F0 frame with {int(bad.sum())} record(s) whose {name} is not a finite number "
                                   f"in 0..{top:g} (e.g. {float(v[bad][0])})")
        return cls(records)

    def to_payload(self) -> bytes:
        return np.ascontiguousarray(self.records, dtype=F0_DTYPE).tobytes()


_EMOTION = struct.Struct("<IIHBBIIffB")
assert _EMOTION.size == EMOTION_HEAD


@dataclass(frozen=True)
class Emotion:
    """One utterance the board segmented and classified itself (EMOTION, board -> host)."""

    first: int                # index of the utterance's first F0 frame
    last: int                 # index of its last F0 frame
    n_voiced: int             # its voiced frames
    reason: int               # why it ended: REASON_* (REASON_NAMES)
    label: int                # argmax class index
    model_id: int             # bytes 0..3 of the SHA-256 of the model's .tflite, as a little-endian u32
    cost: int                 # features + inference cost, in Hello.cost_unit
    mu: float                 # mean of ln F0 the utterance was normalised with
    sigma: float              # its standard deviation
    scores: tuple[int, ...]   # the model's int8 output, one per class (a 16x8 model's narrowed: runtime.frame_scores)

    @property
    def n_classes(self) -> int:
        return len(self.scores)

    @property
    def reason_name(self) -> str:
        return REASON_NAMES.get(self.reason, f"unknown reason {self.reason}")

    @classmethod
    def from_payload(cls, payload: bytes) -> "Emotion":
        n = len(payload)
        if n < EMOTION_HEAD or n != EMOTION_HEAD + payload[EMOTION_HEAD - 1]:
            have = f"n_classes {payload[EMOTION_HEAD - 1]}" if n >= EMOTION_HEAD else "no n_classes byte"
            raise PayloadError(f"EMOTION payload of {n} bytes with {have}: need exactly {EMOTION_HEAD} + n_classes "
                               f"bytes")
        first, last, n_voiced, reason, label, model_id, cost, mu, sigma, n_classes = _EMOTION.unpack_from(payload)
        e = cls(first, last, n_voiced, reason, label, model_id, cost, mu, sigma,
                tuple(struct.unpack_from(f"<{n_classes}b", payload, EMOTION_HEAD)))
        problem = e.problem()
        if problem:
            raise PayloadError(f"EMOTION payload with {problem}")
        return e

    def problem(self) -> str:
        """What is impossible in this utterance's fields ("" when nothing): the ranges of
        emo_proto_emotion_t, which the board's packer refuses to send."""
        if not 1 <= self.n_classes <= EMOTION_CLASSES:
            return f"{self.n_classes} classes, not 1..{EMOTION_CLASSES}"
        if not 0 <= self.label < self.n_classes:
            return f"label {self.label} outside its {self.n_classes} classes"
        if self.reason not in REASON_NAMES:
            return f"reason {self.reason}, not one of {sorted(REASON_NAMES)}"
        if self.last < self.first:
            return f"last frame {self.last} before its first {self.first}"
        if not 1 <= self.n_voiced <= self.last - self.first + 1:
            return f"{self.n_voiced} voiced frames in {self.last - self.first + 1}: need 1 .. all of them"
        if not (np.isfinite(self.mu) and np.isfinite(self.sigma) and self.sigma > 0):
            return f"ln-F0 statistics mu {self.mu}, sigma {self.sigma}: need finite, and sigma > 0"
        return ""

    def to_payload(self) -> bytes:
        problem = self.problem()
        if problem:
            raise ValueError(f"cannot send an EMOTION with {problem}")
        return (_EMOTION.pack(self.first, self.last, self.n_voiced, self.reason, self.label, self.model_id,
                              self.cost, self.mu, self.sigma, self.n_classes)
                + struct.pack(f"<{self.n_classes}b", *self.scores))


_SET_NORM_STATS = struct.Struct("<dddd")
assert 1 + _SET_NORM_STATS.size == SET_NORM_FIXED_LEN


@dataclass(frozen=True)
class SetNorm:
    """SET_NORM (host -> board): where the board's classifier takes the statistics each utterance
    is normalised with. A fixed mode carries them (F0Stats' mu, sigma, e_mu, e_sigma); the other
    modes carry none (their four values are 0 here)."""

    mode: int                 # NORM_UTTERANCE, NORM_SESSION or NORM_FIXED
    mu: float = 0.0           # fixed: mean of ln F0 (Hz) over voiced frames
    sigma: float = 0.0        # fixed: its standard deviation, > 0
    e_mu: float = 0.0         # fixed: mean energy_db of the same frames
    e_sigma: float = 0.0      # fixed: its standard deviation, > 0

    @property
    def mode_name(self) -> str:
        return NORM_NAMES.get(self.mode, f"unknown mode {self.mode}")

    def problem(self) -> str:
        """What the board would refuse in this setting with EMO_ERR_PARAM ("" when nothing)."""
        if self.mode not in NORM_NAMES:
            return f"normalisation mode {self.mode}, not one of {sorted(NORM_NAMES)} ({', '.join(NORM_NAMES.values())})"
        if self.mode != NORM_FIXED:
            return ""
        values = {"mu": self.mu, "sigma": self.sigma, "e_mu": self.e_mu, "e_sigma": self.e_sigma}
        if not all(isinstance(v, (int, float, np.floating, np.integer)) and np.isfinite(v) for v in values.values()):
            return f"fixed statistics {values}: each must be a finite number"
        if not (self.sigma > 0 and self.e_sigma > 0):
            return f"fixed statistics with sigma {self.sigma} and e_sigma {self.e_sigma}: both must be > 0"
        return ""

    @classmethod
    def from_payload(cls, payload: bytes) -> "SetNorm":
        n = len(payload)
        if n not in (SET_NORM_LEN, SET_NORM_FIXED_LEN):
            raise FormatError(f"SET_NORM payload of {n} bytes: need {SET_NORM_LEN} (utterance or session) or "
                              f"{SET_NORM_FIXED_LEN} (fixed, with four f64 statistics)")
        mode = payload[0]
        if mode not in NORM_NAMES:
            raise PayloadError(f"SET_NORM with {cls(mode).problem()}")
        if (mode == NORM_FIXED) != (n == SET_NORM_FIXED_LEN):
            want = SET_NORM_FIXED_LEN if mode == NORM_FIXED else SET_NORM_LEN
            raise FormatError(f"SET_NORM payload of {n} bytes for mode {NORM_NAMES[mode]}: need {want}")
        s = cls(mode, *_SET_NORM_STATS.unpack_from(payload, 1)) if mode == NORM_FIXED else cls(mode)
        problem = s.problem()
        if problem:
            raise PayloadError(f"SET_NORM with {problem}")
        return s

    def to_payload(self) -> bytes:
        problem = self.problem()
        if problem:
            raise ValueError(f"cannot send a SET_NORM with {problem}")
        if self.mode != NORM_FIXED:
            return bytes([self.mode])
        return bytes([self.mode]) + _SET_NORM_STATS.pack(self.mu, self.sigma, self.e_mu, self.e_sigma)


Message = Hello | Status | Ack | SampleBlock | F0Block | Emotion | SetNorm

_PARSERS = {
    MSG_HELLO: Hello.from_payload,
    MSG_STATUS: Status.from_payload,
    MSG_ACK: Ack.from_payload,
    MSG_RAW: SampleBlock.from_payload,
    MSG_F0: F0Block.from_payload,
    MSG_EMOTION: Emotion.from_payload,
    CMD_REPLAY: SampleBlock.from_payload,
    CMD_SET_NORM: SetNorm.from_payload,
}


def parse(frame: Frame) -> Message | Frame:
    """The typed message in a frame; frames of other types come back unchanged.
    Raises FormatError when the payload does not fit its type."""
    parser = _PARSERS.get(frame.type)
    return frame if parser is None else parser(frame.payload)


def pack_samples(first: int, samples: np.ndarray) -> bytes:
    """RAW/REPLAY payload: first sample index and up to RAW_MAX int16 samples."""
    x = np.asarray(samples)
    if x.dtype != np.int16:
        raise TypeError(f"samples must be int16, got {x.dtype}; scale and convert first")
    if len(x) > RAW_MAX:
        raise ValueError(f"{len(x)} samples exceed {RAW_MAX} per frame; split them")
    return struct.pack("<I", first & 0xFFFFFFFF) + x.astype("<i2").tobytes()


def pack_f0(records: np.ndarray) -> bytes:
    """F0 payload of 1..F0_PER_FRAME records (structured array of F0_DTYPE)."""
    if not 1 <= len(records) <= F0_PER_FRAME:
        raise ValueError(f"{len(records)} F0 records: one frame holds 1..{F0_PER_FRAME}")
    return np.ascontiguousarray(records, dtype=F0_DTYPE).tobytes()


# --- host -> board commands (payloads) --------------------------------------------------


def set_mode_payload(mode: int, replay: bool = False) -> bytes:
    """SET_MODE: what the board sends (MODE_RAW, MODE_F0 or MODE_BOTH); with replay, the host
    sends the samples as REPLAY frames (MODE_REPLAY), also to a board that has an ADC."""
    if mode not in (MODE_RAW, MODE_F0, MODE_BOTH):
        raise ValueError(f"mode {mode}: use MODE_RAW, MODE_F0 or MODE_BOTH")
    return bytes([mode | (MODE_REPLAY if replay else 0)])


def set_rate_payload(fs: int) -> bytes:
    return struct.pack("<I", fs)


def set_norm_payload(stats=None, mode: int | None = None) -> bytes:
    """SET_NORM payload. With stats (an F0Stats, or anything with mu, sigma, e_mu and e_sigma): fixed
    mode with those statistics; without: mode NORM_UTTERANCE or NORM_SESSION. Raises ValueError for
    what the board would refuse: an unknown mode, statistics that are not finite numbers or a sigma
    or e_sigma <= 0."""
    if stats is None:
        if mode not in (NORM_UTTERANCE, NORM_SESSION):
            raise ValueError(f"SET_NORM without statistics needs mode NORM_UTTERANCE ({NORM_UTTERANCE}) or "
                             f"NORM_SESSION ({NORM_SESSION}), got {mode!r}; fixed mode takes statistics")
        return SetNorm(mode).to_payload()
    if mode not in (None, NORM_FIXED):
        raise ValueError(f"SET_NORM with statistics is fixed mode ({NORM_FIXED}), not mode {mode!r}")
    try:
        values = [stats.mu, stats.sigma, getattr(stats, "e_mu", 0.0), getattr(stats, "e_sigma", 1.0)]
    except AttributeError:
        raise ValueError(f"SET_NORM statistics need mu and sigma (and e_mu, e_sigma), got {stats!r}") from None
    if not all(isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"SET_NORM statistics must be numbers, got mu, sigma, e_mu, e_sigma = {values}")
    return SetNorm(NORM_FIXED, *(float(v) for v in values)).to_payload()


def exit_payload(code: int) -> bytes:
    return struct.pack("<i", code)


def stall_payload(n_bytes: int) -> bytes:
    return struct.pack("<I", n_bytes)


def replay_frames(samples: np.ndarray, first: int = 0, block: int = RAW_MAX) -> list[bytes]:
    """REPLAY payloads for a whole int16 signal, block samples each, indices from first."""
    if not 1 <= block <= RAW_MAX:
        raise ValueError(f"block of {block} samples: use 1..{RAW_MAX}")
    x = np.asarray(samples)
    return [pack_samples(first + i, x[i : i + block]) for i in range(0, len(x), block)]


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) != n:
        raise FormatError(f"{what} payload of {len(payload)} bytes, expected {n}")
