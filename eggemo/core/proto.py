"""The serial protocol between the wearable and the host, in pure Python (no I/O).

This is the twin of ``csrc/emo_proto.c``; ``docs/protocol.md`` is the specification
and the parity tests hold the two byte-identical. Bytes in, frames out::

    decoder = Decoder()
    for frame in decoder.feed(chunk):          # any chunking, garbage allowed
        msg = parse(frame)                     # Hello | SampleBlock | F0Block | Status | Ack | Nack | Emotion
    wire = Encoder().encode(CMD_START)         # host -> board command, COBS + 0x00

parse() checks every field of every payload against its documented range (the constants under
"ranges" below) and raises a ProtocolError naming the field (``exc.field``, e.g. "f0.energy_db")
for one outside it, so a board's impossible value never reaches the pipeline.

A frame is ``version:u8 | type:u8 | seq:u16 | payload | crc:u16`` (little-endian),
COBS-encoded and ended by one 0x00 byte. The CRC is CRC-16/CCITT-FALSE.
"""
from __future__ import annotations

import binascii
import dataclasses
import math
import struct
from dataclasses import dataclass, field, fields

import numpy as np

from eggemo import boards as _boards
from eggemo.core import native

# Every integer constant and code below that the C core also knows is read from its headers
# (csrc/emo_proto.h, emo_feat.h, emo_seg.h, emo_common.h) through cffi, never copied; the float
# ranges, which cffi does not expose, are held equal to emo_proto.h's by tests/core/test_proto_parity.py.
_ffi, _lib = native()

VERSION = _lib.EMO_PROTO_VERSION  # 2: F0 records carry the contact quotient, jitter and shimmer (29 bytes instead of 17)
HEADER_LEN = _lib.EMO_PROTO_HEADER
CRC_LEN = _lib.EMO_PROTO_CRC_LEN
MAX_PAYLOAD = _lib.EMO_PROTO_MAX_PAYLOAD
MAX_FRAME = _lib.EMO_PROTO_MAX_FRAME
MAX_ENCODED = _lib.EMO_PROTO_MAX_ENCODED

# CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740): poly 0x1021, init 0xFFFF,
# no reflection, no final XOR. binascii.crc_hqx is exactly this register.
CRC_POLY = _lib.EMO_PROTO_CRC_POLY
CRC_INIT = _lib.EMO_PROTO_CRC_INIT
CRC_REFLECTED = False
CRC_XOROUT = 0x0000
CRC_CHECK = 0x29B1  # CRC of b"123456789"

# Frame types, board -> host.
MSG_HELLO = _lib.EMO_MSG_HELLO
MSG_RAW = _lib.EMO_MSG_RAW
MSG_F0 = _lib.EMO_MSG_F0
MSG_STATUS = _lib.EMO_MSG_STATUS
MSG_ACK = _lib.EMO_MSG_ACK
MSG_EMOTION = _lib.EMO_MSG_EMOTION
MSG_NACK = _lib.EMO_MSG_NACK      # a refused command and why (SET_NORM): an Ack with a reason byte
# Frame types, host -> board.
CMD_START = _lib.EMO_CMD_START
CMD_STOP = _lib.EMO_CMD_STOP
CMD_SET_MODE = _lib.EMO_CMD_SET_MODE
CMD_SET_RATE = _lib.EMO_CMD_SET_RATE
CMD_REPLAY = _lib.EMO_CMD_REPLAY
CMD_GET_STATUS = _lib.EMO_CMD_GET_STATUS
CMD_GET_HELLO = _lib.EMO_CMD_GET_HELLO
CMD_EXIT = _lib.EMO_CMD_EXIT
CMD_STALL = _lib.EMO_CMD_STALL
CMD_SET_NORM = _lib.EMO_CMD_SET_NORM

MODE_RAW = _lib.EMO_MODE_RAW
MODE_F0 = _lib.EMO_MODE_F0
MODE_BOTH = MODE_RAW | MODE_F0
MODE_REPLAY = _lib.EMO_MODE_REPLAY   # SET_MODE bit: the samples come as REPLAY frames (a board with an ADC leaves it off)

# HELLO board id -> the name the host shows: each firmware/boards/<board>/board.toml (eggemo.boards),
# whose id the board's firmware is built with (EMO_BOARD_ID). The two named are those code tells apart.
BOARD_NAMES = _boards.hello_names()
BOARD_STM32F405 = _boards.board("stm32f405").id
BOARD_QEMU = _boards.board("qemu").id

COST_CYCLES = _lib.EMO_COST_CYCLES
COST_INSTRUCTIONS = _lib.EMO_COST_INSTRUCTIONS

HELLO_LEN = _lib.EMO_PROTO_HELLO_LEN
HELLO_FLAG_CLOCK_FALLBACK = _lib.EMO_HELLO_FLAG_CLOCK_FALLBACK   # HELLO flags bit 0: the board runs on its fallback clock
HELLO_FLAG_MODEL = _lib.EMO_HELLO_FLAG_MODEL            # bit 1: the board runs the student and sends EMOTION frames
STATUS_LEN = _lib.EMO_PROTO_STATUS_LEN
ACK_LEN = _lib.EMO_PROTO_ACK_LEN
NACK_LEN = _lib.EMO_PROTO_NACK_LEN
F0_RECORD_LEN = _lib.EMO_PROTO_F0_RECORD
F0_PER_FRAME = _lib.EMO_PROTO_F0_PER_FRAME  # 35 * 29 = 1015 <= MAX_PAYLOAD
RAW_MAX = _lib.EMO_PROTO_RAW_MAX  # int16 samples in one RAW or REPLAY frame
EMOTION_HEAD = _lib.EMO_PROTO_EMOTION_HEAD      # EMOTION payload before its n_classes int8 scores
EMOTION_CLASSES = _lib.EMO_PROTO_EMOTION_CLASSES   # most classes in one EMOTION
SET_NORM_LEN = _lib.EMO_PROTO_SET_NORM_LEN          # SET_NORM payload in utterance or session mode: the mode byte
SET_NORM_FIXED_LEN = _lib.EMO_PROTO_SET_NORM_FIXED_LEN   # in fixed mode: the mode byte, then mu, sigma, e_mu, e_sigma as f64

# Where the board's classifier takes each utterance's normalisation statistics: the SET_NORM mode
# byte, the codes of csrc/emo_feat.h (emo_feat_norm_mode_t), and the host's F0Normaliser mode names.
NORM_UTTERANCE = _lib.EMO_FEAT_NORM_UTTERANCE
NORM_SESSION = _lib.EMO_FEAT_NORM_SESSION
NORM_FIXED = _lib.EMO_FEAT_NORM_FIXED
NORM_NAMES = {NORM_UTTERANCE: "utterance", NORM_SESSION: "session", NORM_FIXED: "fixed"}

# Why an utterance ended: the EMOTION reason byte, the codes of csrc/emo_seg.h (emo_seg_reason_t), and
# the names the Segmenter (eggemo.core.seg) gives them. Its "link_lost" never comes from a board.
REASON_HANGOVER = _lib.EMO_SEG_HANGOVER
REASON_MAX_LENGTH = _lib.EMO_SEG_MAX_LENGTH
REASON_STREAM_END = _lib.EMO_SEG_STREAM_END
REASON_GAP = _lib.EMO_SEG_GAP
REASON_RESTART = _lib.EMO_SEG_RESTART
REASON_NAMES = {REASON_HANGOVER: "hangover", REASON_MAX_LENGTH: "max_length", REASON_STREAM_END: "stream_end",
                REASON_GAP: "gap", REASON_RESTART: "restart"}

# One F0 record on the wire, packed, little-endian.
F0_DTYPE = np.dtype(
    [("index", "<u4"), ("f0_hz", "<f4"), ("periodicity", "<f4"), ("energy_db", "<f4"), ("voiced", "u1"),
     ("cq", "<f4"), ("jitter", "<f4"), ("shimmer", "<f4")]
)
assert F0_DTYPE.itemsize == F0_RECORD_LEN and F0_PER_FRAME * F0_RECORD_LEN <= MAX_PAYLOAD

# --- ranges: every field of every payload (docs/protocol.md, "Ranges") --------------------------
# What the C core can produce, with margins for float rounding; csrc/emo_proto.h holds the same numbers
# for what the board checks (SET_NORM, EMOTION). A value outside its range is a payload error.

# The rates the F0 core analyses (EMO_FS_MIN..EMO_FS_MAX); a HELLO outside them cannot be placed in time.
FS_MIN, FS_MAX = _lib.EMO_FS_MIN, _lib.EMO_FS_MAX
# Longest F0 analysis window: EMO_F0_MAX_FRAME (1024) samples at the lowest analysis rate (4000 Hz).
F0_FRAME_MAX_S = 0.256
CPU_HZ_MIN, CPU_HZ_MAX = 1_000_000, 1_000_000_000     # a microcontroller's core clock (the F405: 16..168 MHz)
HELLO_FLAGS = HELLO_FLAG_CLOCK_FALLBACK | HELLO_FLAG_MODEL   # the defined bits; the others are 0
# Voiced F0: the board searches 50..500 Hz (emo_f0_default_params); the parabolic refinement of a lag
# by at most half a sample widens that to 49.7..600 Hz at any rate a HELLO allows.
F0_HZ_MIN, F0_HZ_MAX = 40.0, 650.0
# Periodicity: a normalised autocorrelation, 0..1 in exact arithmetic, but its float32 denominator comes
# from differences of running sums, which cancel on a frame whose energy falls away (boards send 1.015):
# the hard bound is |r| <= 16 * 1024 over the 1e-20 floor of the denominator. The student clips it to 1.
PERIODICITY_MAX = 1e25
# Short-time energy, dB re full scale: -120 is silence (the 1e-12 epsilon); +12.04 the most an int16
# signal reaches after the two high-passes (|y| <= 4).
ENERGY_DB_MIN, ENERGY_DB_MAX = -121.0, 13.0
CQ_MAX = 1.0                  # a share of the cycle
JITTER_MAX = 1.2              # periods within 0.7..1.5 of the frame's: |dT| / mean T <= 0.8 / 0.7
SHIMMER_MAX = 128.0           # 2 * EMO_F0_MAX_CYCLES: mean |dA| over pairs / mean A over cycles
# The F0 record's float fields: (lo, hi). f0_hz, cq, jitter and shimmer are exactly 0 on unvoiced records.
F0_RANGES = {"f0_hz": (F0_HZ_MIN, F0_HZ_MAX), "periodicity": (0.0, PERIODICITY_MAX),
             "energy_db": (ENERGY_DB_MIN, ENERGY_DB_MAX), "cq": (0.0, CQ_MAX), "jitter": (0.0, JITTER_MAX),
             "shimmer": (0.0, SHIMMER_MAX)}
F0_ZERO_UNVOICED = ("f0_hz", "cq", "jitter", "shimmer")
# Normalisation statistics (SET_NORM in f64, EMOTION's mu and sigma in f32): a mean of ln F0 lies
# within the voiced F0 range, a standard deviation of values in [a, b] is at most (b - a) / 2, and the
# floors are the C core's (EMO_FEAT_SIGMA_FLOOR, EMO_FEAT_ENERGY_SIGMA_FLOOR).
NORM_MU_MIN, NORM_MU_MAX = math.log(F0_HZ_MIN), math.log(F0_HZ_MAX)
NORM_SIGMA_MIN, NORM_SIGMA_MAX = 0.05, (NORM_MU_MAX - NORM_MU_MIN) / 2
NORM_E_MU_MIN, NORM_E_MU_MAX = ENERGY_DB_MIN, ENERGY_DB_MAX
NORM_E_SIGMA_MIN, NORM_E_SIGMA_MAX = 1.0, (ENERGY_DB_MAX - ENERGY_DB_MIN) / 2
NORM_RANGES = {"mu": (NORM_MU_MIN, NORM_MU_MAX), "sigma": (NORM_SIGMA_MIN, NORM_SIGMA_MAX),
               "e_mu": (NORM_E_MU_MIN, NORM_E_MU_MAX), "e_sigma": (NORM_E_SIGMA_MIN, NORM_E_SIGMA_MAX)}
UTTERANCE_MAX_FRAMES = _lib.EMO_SEG_MAX_FRAMES   # the board's longest utterance (EMOTION last - first + 1)
# ACK and NACK status: an emo_status_t, EMO_OK (0) down to EMO_ERR_UNSUPPORTED (-11)
STATUS_OK, STATUS_MIN = 0, -11

# Why the board refused a command (NACK reason; csrc/emo_proto.h EMO_NACK_*): what to tell the user.
NACK_NO_MODEL = _lib.EMO_NACK_NO_MODEL
NACK_LENGTH = _lib.EMO_NACK_LENGTH
NACK_MODE = _lib.EMO_NACK_MODE
NACK_MU = _lib.EMO_NACK_MU
NACK_SIGMA = _lib.EMO_NACK_SIGMA
NACK_E_MU = _lib.EMO_NACK_E_MU
NACK_E_SIGMA = _lib.EMO_NACK_E_SIGMA
NACK_STREAMING = _lib.EMO_NACK_STREAMING
NACK_REASONS = {
    NACK_NO_MODEL: "the firmware carries no model, so there is no normalisation to set (build it with MODEL=DIR "
                   "to classify on the board)",
    NACK_LENGTH: f"the payload is not {SET_NORM_LEN} byte (utterance or session mode) or {SET_NORM_FIXED_LEN} bytes "
                 f"(fixed mode with its four statistics)",
    NACK_MODE: "the normalisation mode is not 0 (utterance), 1 (session) or 2 (fixed)",
    NACK_MU: f"mu, the mean of ln F0, must be a number in {NORM_MU_MIN:.4f}..{NORM_MU_MAX:.4f} "
             f"(F0 {F0_HZ_MIN:g}..{F0_HZ_MAX:g} Hz)",
    NACK_SIGMA: f"sigma, the standard deviation of ln F0, must be a number in {NORM_SIGMA_MIN:g}..{NORM_SIGMA_MAX:.4f}",
    NACK_E_MU: f"e_mu, the mean energy, must be a number in {NORM_E_MU_MIN:g}..{NORM_E_MU_MAX:g} dB",
    NACK_E_SIGMA: f"e_sigma, the standard deviation of the energy, must be a number in "
                  f"{NORM_E_SIGMA_MIN:g}..{NORM_E_SIGMA_MAX:g} dB",
    NACK_STREAMING: "the board is streaming; it takes a new normalisation only while stopped (STOP first)",
}
_NACK_OF_NORM_FIELD = {"mu": NACK_MU, "sigma": NACK_SIGMA, "e_mu": NACK_E_MU, "e_sigma": NACK_E_SIGMA}

# The name a payload error is counted under is "<frame>.<field>", e.g. "f0.energy_db", "hello.fs";
# "<frame>.length" for a payload whose length does not fit its type.
FRAME_NAMES = {MSG_HELLO: "hello", MSG_RAW: "raw", MSG_F0: "f0", MSG_STATUS: "status", MSG_ACK: "ack",
               MSG_EMOTION: "emotion", MSG_NACK: "nack", CMD_REPLAY: "replay", CMD_SET_NORM: "set_norm"}


class ProtocolError(ValueError):
    """A frame or payload that does not follow docs/protocol.md. ``field`` names what was wrong in a
    payload ("f0.energy_db", "hello.length"; see FRAME_NAMES), "" for a frame's own format or CRC."""

    def __init__(self, message: str = "", field: str = "") -> None:
        super().__init__(message)
        self.field = field


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
    """The frame is well formed and its CRC is right, but a value in its payload is outside its
    documented range (a HELLO with fs = 0, an F0 record of NaN Hz or inf dB): a board bug or a
    corrupted memory. ``field`` names the first such field."""


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


class NativeDecoder:
    """csrc/emo_proto.c's decoder, the firmware's, with Decoder's interface: feed bytes in any
    chunking, get the valid frames back; ``stats`` holds the same counters (DecoderStats)."""

    def __init__(self) -> None:
        self._d = _ffi.new("emo_proto_decoder_t *")
        if _lib.emo_proto_decoder_init(self._d) != _lib.EMO_OK:
            raise RuntimeError("emo_proto_decoder_init failed")
        self._frame = _ffi.new("emo_proto_frame_t *")
        self._used, self._got = _ffi.new("int32_t *"), _ffi.new("int32_t *")

    @property
    def stats(self) -> DecoderStats:
        return DecoderStats(**{f.name: int(getattr(self._d, f.name)) for f in fields(DecoderStats)})

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        buf, pos = _ffi.from_buffer("uint8_t[]", data), 0
        while pos < len(data):
            rc = _lib.emo_proto_feed(self._d, buf + pos, len(data) - pos, self._used, self._frame, self._got)
            if rc != _lib.EMO_OK or not 0 < self._used[0] <= len(data) - pos:
                raise RuntimeError(f"emo_proto_feed returned {rc} after taking {self._used[0]} bytes")
            pos += self._used[0]
            if self._got[0]:
                f = self._frame
                out.append(Frame(f.type, f.seq, bytes(_ffi.buffer(f.payload, f.len)), f.version))
        return out


# --- payloads -------------------------------------------------------------------------

_HELLO = struct.Struct("<BBBBIHHBBBBI")
_ACK = struct.Struct("<BHb")
_NACK = struct.Struct("<BHbB")
assert _HELLO.size == HELLO_LEN and _ACK.size == ACK_LEN and _NACK.size == NACK_LEN


def _in(v, lo, hi) -> bool:
    """lo <= v <= hi; False for NaN."""
    return bool(lo <= v <= hi)


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

    def problem(self) -> tuple[str, str] | None:
        """(field, what is wrong) for the first field outside its range, None when all are in range."""
        frame_max = int(self.fs * F0_FRAME_MAX_S) if _in(self.fs, FS_MIN, FS_MAX) else 0
        checks = [
            ("fs", _in(self.fs, FS_MIN, FS_MAX), f"fs {self.fs} Hz: need {FS_MIN}..{FS_MAX} Hz"),
            ("f0_frame_samples", _in(self.f0_frame_samples, 1, frame_max),
             f"F0 frame of {self.f0_frame_samples} samples: need 1..{frame_max} ({F0_FRAME_MAX_S:g} s at {self.fs} Hz)"),
            ("f0_hop_samples", _in(self.f0_hop_samples, 1, self.f0_frame_samples),
             f"F0 hop of {self.f0_hop_samples} samples: need 1..{self.f0_frame_samples} (at most the frame)"),
            ("board", self.board in BOARD_NAMES, f"board {self.board}: not one of {sorted(BOARD_NAMES)}"),
            ("mode", self.mode in (MODE_RAW, MODE_F0, MODE_BOTH), f"mode {self.mode}: need 1 raw, 2 F0 or 3 both"),
            ("streaming", int(self.streaming) in (0, 1), f"streaming {int(self.streaming)}: need 0 or 1"),
            ("cost_unit", self.cost_unit in (COST_CYCLES, COST_INSTRUCTIONS),
             f"cost unit {self.cost_unit}: need 0 cycles or 1 instructions"),
            ("flags", self.flags & ~HELLO_FLAGS == 0, f"flags 0x{self.flags:02X}: only bits 0 and 1 are defined"),
            ("cpu_hz", _in(self.cpu_hz, CPU_HZ_MIN, CPU_HZ_MAX),
             f"cpu_hz {self.cpu_hz}: need {CPU_HZ_MIN:,}..{CPU_HZ_MAX:,} Hz"),
        ]
        return next(((name, what) for name, ok, what in checks if not ok), None)

    @classmethod
    def from_payload(cls, payload: bytes) -> "Hello":
        _need(payload, HELLO_LEN, "HELLO", "hello")
        ma, mi, pa, board, fs, hop, frame, mode, streaming, cost, flags, cpu = _HELLO.unpack(payload)
        h = cls((ma, mi, pa), board, fs, hop, frame, mode, streaming, cost, cpu, flags)
        bad = h.problem()
        if bad is not None:
            raise PayloadError(f"HELLO with {bad[1]}", "hello." + bad[0])
        return dataclasses.replace(h, streaming=bool(streaming))

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

    def problem(self) -> tuple[str, str] | None:
        """Each counter is any u32; three follow from how the board counts: the largest hop cost is at
        least the last and the mean one, and each hop releases at most one F0 record."""
        if self.hop_cost_max < max(self.hop_cost_last, self.hop_cost_mean):
            return "hop_cost_max", (f"largest hop cost {self.hop_cost_max} below the last ({self.hop_cost_last}) or "
                                    f"the mean ({self.hop_cost_mean})")
        if self.f0_sent > self.hops:
            return "f0_sent", f"{self.f0_sent} F0 records sent from {self.hops} hops (one record per hop at most)"
        return None

    @classmethod
    def from_payload(cls, payload: bytes) -> "Status":
        _need(payload, STATUS_LEN, "STATUS", "status")
        s = cls(*struct.unpack(f"<{STATUS_LEN // 4}I", payload))
        bad = s.problem()
        if bad is not None:
            raise PayloadError(f"STATUS with {bad[1]}", "status." + bad[0])
        return s

    def to_payload(self) -> bytes:
        return struct.pack(f"<{STATUS_LEN // 4}I", *(getattr(self, f.name) for f in fields(self)))


def _command_problem(command: int, status: int, lo: int, hi: int) -> tuple[str, str] | None:
    # command is any byte: the board answers a frame of any type, one of its own types included (-11)
    if not lo <= status <= hi:
        return "status", f"status {status}: need {lo}..{hi} (emo_status_t)"
    return None


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
        _need(payload, ACK_LEN, "ACK", "ack")
        a = cls(*_ACK.unpack(payload))
        bad = _command_problem(a.command, a.status, STATUS_MIN, STATUS_OK)
        if bad is not None:
            raise PayloadError(f"ACK with {bad[1]}", "ack." + bad[0])
        return a

    def to_payload(self) -> bytes:
        return _ACK.pack(self.command, self.seq, self.status)


@dataclass(frozen=True)
class Nack(Ack):
    """A refused command with the reason (NACK, board -> host; today SET_NORM's): an Ack whose status
    is an error, so code that waits for a command's Ack gets it too."""

    reason: int = 0    # NACK_* (NACK_REASONS)

    @property
    def reason_text(self) -> str:
        return NACK_REASONS.get(self.reason, f"reason {self.reason}")

    @classmethod
    def from_payload(cls, payload: bytes) -> "Nack":
        _need(payload, NACK_LEN, "NACK", "nack")
        n = cls(*_NACK.unpack(payload))
        bad = _command_problem(n.command, n.status, STATUS_MIN, -1)
        if bad is None and n.reason not in NACK_REASONS:
            bad = "reason", f"reason {n.reason}: not one of {sorted(NACK_REASONS)}"
        if bad is not None:
            raise PayloadError(f"NACK with {bad[1]}", "nack." + bad[0])
        return n

    def to_payload(self) -> bytes:
        return _NACK.pack(self.command, self.seq, self.status, self.reason)


@dataclass(frozen=True)
class SampleBlock:
    """RAW (board -> host) or REPLAY (host -> board): int16 samples from sample `first`."""

    first: int
    samples: np.ndarray = field(repr=False)

    @classmethod
    def from_payload(cls, payload: bytes, name: str = "replay") -> "SampleBlock":
        if len(payload) < 4 or (len(payload) - 4) % 2:
            raise FormatError(f"sample payload of {len(payload)} bytes: need 4 + 2*n", name + ".length")
        (first,) = struct.unpack_from("<I", payload)
        return cls(first, np.frombuffer(payload, dtype="<i2", offset=4).astype(np.int16))

    @classmethod
    def raw_from_payload(cls, payload: bytes) -> "SampleBlock":
        """A RAW frame: as REPLAY, and with at least one sample (the board sends one per hop)."""
        b = cls.from_payload(payload, "raw")
        if len(b.samples) == 0:
            raise PayloadError(f"RAW frame without samples: need 1..{RAW_MAX}", "raw.samples")
        return b

    def to_payload(self) -> bytes:
        return pack_samples(self.first, self.samples)


def f0_problem(records: np.ndarray, consecutive: bool = True) -> tuple[str, str] | None:
    """(field, what is wrong) for the first F0 record field outside its range, None when every field
    of every record is in range. Fields are checked in record order (index, voiced, f0_hz, periodicity,
    energy_db, cq, jitter, shimmer); with `consecutive`, the indices must run on by one (the records
    of one F0 frame). Takes a structured array with F0_DTYPE's field names, or a dict of such columns."""
    index = np.asarray(records["index"]).astype(np.int64)
    n = len(index)
    if n == 0:
        return None
    if consecutive and n > 1 and np.any(np.diff(index) != 1):
        k = int(np.flatnonzero(np.diff(index) != 1)[0])
        return "index", f"record indices {index[k]} then {index[k + 1]}: the records of one frame run on by one"
    voiced = np.asarray(records["voiced"])
    bad = (voiced != 0) & (voiced != 1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        return "voiced", f"record {index[k]} with voiced {int(voiced[k])}: need 0 or 1"
    v = voiced == 1
    for name, (lo, hi) in F0_RANGES.items():
        with np.errstate(over="ignore", invalid="ignore"):    # float32, as on the wire (cf. _f32_in)
            x = np.asarray(records[name]).astype(np.float32)
            inside = (x >= np.float32(lo)) & (x <= np.float32(hi))
            ok = np.where(v, inside, x == 0) if name in F0_ZERO_UNVOICED else inside
        if not ok.all():
            k = int(np.flatnonzero(~ok)[0])
            need = f"{lo:g}..{hi:g}" if v[k] or name not in F0_ZERO_UNVOICED else "0 (unvoiced)"
            return name, f"record {index[k]} ({'voiced' if v[k] else 'unvoiced'}) with {name} {float(x[k])!r}: need {need}"
    return None


@dataclass(frozen=True)
class F0Block:
    """F0 records; ``records`` is a structured array of F0_DTYPE. Place each by its index
    (Hello.f0_time): a voiced segment's frames arrive when the segment ends."""

    records: np.ndarray = field(repr=False)

    @classmethod
    def from_payload(cls, payload: bytes) -> "F0Block":
        if not payload or len(payload) % F0_RECORD_LEN:
            raise FormatError(f"F0 payload of {len(payload)} bytes is not n*{F0_RECORD_LEN}", "f0.length")
        records = np.frombuffer(payload, dtype=F0_DTYPE).copy()
        bad = f0_problem(records)
        if bad is not None:
            raise PayloadError(f"F0 {bad[1]}", "f0." + bad[0])
        return cls(records)

    def to_payload(self) -> bytes:
        return np.ascontiguousarray(self.records, dtype=F0_DTYPE).tobytes()


_EMOTION = struct.Struct("<IIHBBIIffB")
assert _EMOTION.size == EMOTION_HEAD


def _f32_in(v: float, lo: float, hi: float) -> bool:
    """lo <= v <= hi with all three as float32 (what the wire carries): rounding a value inside the
    double range to float32 keeps it inside the float32 range."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.float32(lo) <= np.float32(v) <= np.float32(hi))


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
    scores: tuple[int, ...]   # the model's int8 output, one per class (a 16x8 model's narrowed: eggemo.core.nn.narrow16)

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
                               f"bytes", "emotion.length")
        first, last, n_voiced, reason, label, model_id, cost, mu, sigma, n_classes = _EMOTION.unpack_from(payload)
        e = cls(first, last, n_voiced, reason, label, model_id, cost, mu, sigma,
                tuple(struct.unpack_from(f"<{n_classes}b", payload, EMOTION_HEAD)))
        bad = e.field_problem()
        if bad is not None:
            raise PayloadError(f"EMOTION payload with {bad[1]}", "emotion." + bad[0])
        return e

    def field_problem(self) -> tuple[str, str] | None:
        """(field, what is wrong) for the first field outside its range (the ranges of
        emo_proto_emotion_t, which the board's packer refuses to send), None when all are in range."""
        n_frames = self.last - self.first + 1
        checks = [
            ("n_classes", 1 <= self.n_classes <= EMOTION_CLASSES, f"{self.n_classes} classes, not 1..{EMOTION_CLASSES}"),
            ("label", 0 <= self.label < self.n_classes, f"label {self.label} outside its {self.n_classes} classes"),
            ("reason", self.reason in REASON_NAMES, f"reason {self.reason}, not one of {sorted(REASON_NAMES)}"),
            ("last", self.last >= self.first, f"last frame {self.last} before its first {self.first}"),
            ("last", n_frames <= UTTERANCE_MAX_FRAMES,
             f"{n_frames} frames ({self.first}..{self.last}): an utterance has at most {UTTERANCE_MAX_FRAMES}"),
            ("n_voiced", 1 <= self.n_voiced <= n_frames,
             f"{self.n_voiced} voiced frames in {n_frames}: need 1 .. all of them"),
            ("mu", _f32_in(self.mu, NORM_MU_MIN, NORM_MU_MAX),
             f"ln-F0 mean mu {self.mu}: need {NORM_MU_MIN:.4f}..{NORM_MU_MAX:.4f}"),
            ("sigma", _f32_in(self.sigma, NORM_SIGMA_MIN, NORM_SIGMA_MAX),
             f"ln-F0 standard deviation sigma {self.sigma}: need {NORM_SIGMA_MIN:g}..{NORM_SIGMA_MAX:.4f}"),
        ]
        return next(((name, what) for name, ok, what in checks if not ok), None)

    def problem(self) -> str:
        """What is impossible in this utterance's fields ("" when nothing)."""
        bad = self.field_problem()
        return "" if bad is None else bad[1]

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

    def field_problem(self) -> tuple[str, str] | None:
        """(field, what is wrong) for what the board would refuse with EMO_ERR_PARAM: an unknown mode,
        or (fixed mode) the first statistic outside its range (NORM_RANGES); None when it is usable."""
        if self.mode not in NORM_NAMES:
            return "mode", (f"normalisation mode {self.mode}, not one of {sorted(NORM_NAMES)} "
                            f"({', '.join(NORM_NAMES.values())})")
        if self.mode != NORM_FIXED:
            return None
        for name, (lo, hi) in NORM_RANGES.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not _in(v, lo, hi):
                return name, f"fixed statistic {name} {v!r}: need a finite number in {lo:.6g}..{hi:.6g}"
        return None

    def problem(self) -> str:
        """What the board would refuse with EMO_ERR_PARAM ("" when nothing)."""
        bad = self.field_problem()
        return "" if bad is None else bad[1]

    @classmethod
    def reason(cls, payload: bytes) -> int:
        """The NACK reason the board answers this payload with (0 when it takes it), checked in the
        board's order: length, mode, the length of the mode, then mu, sigma, e_mu, e_sigma."""
        try:
            cls.from_payload(payload)
        except ProtocolError as exc:
            name = exc.field.split(".", 1)[1]
            return {"length": NACK_LENGTH, "mode": NACK_MODE}.get(name) or _NACK_OF_NORM_FIELD[name]
        return 0

    @classmethod
    def from_payload(cls, payload: bytes) -> "SetNorm":
        n = len(payload)
        if n not in (SET_NORM_LEN, SET_NORM_FIXED_LEN):
            raise FormatError(f"SET_NORM payload of {n} bytes: need {SET_NORM_LEN} (utterance or session) or "
                              f"{SET_NORM_FIXED_LEN} (fixed, with four f64 statistics)", "set_norm.length")
        mode = payload[0]
        if mode not in NORM_NAMES:
            raise PayloadError(f"SET_NORM with {cls(mode).problem()}", "set_norm.mode")
        if (mode == NORM_FIXED) != (n == SET_NORM_FIXED_LEN):
            want = SET_NORM_FIXED_LEN if mode == NORM_FIXED else SET_NORM_LEN
            raise FormatError(f"SET_NORM payload of {n} bytes for mode {NORM_NAMES[mode]}: need {want}",
                              "set_norm.length")
        s = cls(mode, *_SET_NORM_STATS.unpack_from(payload, 1)) if mode == NORM_FIXED else cls(mode)
        bad = s.field_problem()
        if bad is not None:
            raise PayloadError(f"SET_NORM with {bad[1]}", "set_norm." + bad[0])
        return s

    def to_payload(self) -> bytes:
        problem = self.problem()
        if problem:
            raise ValueError(f"cannot send a SET_NORM with {problem}")
        if self.mode != NORM_FIXED:
            return bytes([self.mode])
        return bytes([self.mode]) + _SET_NORM_STATS.pack(self.mu, self.sigma, self.e_mu, self.e_sigma)


Message = Hello | Status | Ack | Nack | SampleBlock | F0Block | Emotion | SetNorm

_PARSERS = {
    MSG_HELLO: Hello.from_payload,
    MSG_STATUS: Status.from_payload,
    MSG_ACK: Ack.from_payload,
    MSG_NACK: Nack.from_payload,
    MSG_RAW: SampleBlock.raw_from_payload,
    MSG_F0: F0Block.from_payload,
    MSG_EMOTION: Emotion.from_payload,
    CMD_REPLAY: SampleBlock.from_payload,
    CMD_SET_NORM: SetNorm.from_payload,
}


def parse(frame: Frame) -> Message | Frame:
    """The typed message in a frame; frames of other types come back unchanged. Raises FormatError
    when the payload's length does not fit its type and PayloadError when a field is outside its
    range; either names the field (``exc.field``, e.g. "f0.energy_db")."""
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
    what the board would refuse (NACK): an unknown mode, or a statistic outside its range (NORM_RANGES)."""
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


def _need(payload: bytes, n: int, what: str, name: str) -> None:
    if len(payload) != n:
        raise FormatError(f"{what} payload of {len(payload)} bytes, expected {n}", name + ".length")
