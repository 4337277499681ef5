"""Drivers shared by the protocol tests: the C decoder (csrc/emo_proto.c via cffi, the code the
firmware runs) and its Python twin, fed the same chunks, plus the chunking of a byte stream."""
from __future__ import annotations

from eggemo._emo import ffi, lib
from eggemo.host import protocol as P

COUNTERS = ("bytes", "frames", "crc_errors", "format_errors", "seq_gaps", "seq_lost")


def split(stream: bytes, cuts: list[int]) -> list[bytes]:
    """stream cut into chunks of the given lengths, the rest as the last chunk."""
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(stream[pos:pos + c])
        pos += c
    chunks.append(stream[pos:])
    return chunks


def c_decode(chunks: list[bytes]) -> tuple[list[P.Frame], dict[str, int]]:
    """The firmware's decoder, fed chunk by chunk: (frames, its counters)."""
    d = ffi.new("emo_proto_decoder_t *")
    assert lib.emo_proto_decoder_init(d) == lib.EMO_OK
    frame = ffi.new("emo_proto_frame_t *")
    used, got = ffi.new("int32_t *"), ffi.new("int32_t *")
    frames = []
    for chunk in chunks:
        buf, pos = ffi.from_buffer("uint8_t[]", chunk), 0
        while pos < len(chunk):
            assert lib.emo_proto_feed(d, buf + pos, len(chunk) - pos, used, frame, got) == lib.EMO_OK
            assert 0 < used[0] <= len(chunk) - pos
            pos += used[0]
            if got[0]:
                frames.append(P.Frame(frame.type, frame.seq, bytes(ffi.buffer(frame.payload, frame.len)),
                                      frame.version))
    return frames, {k: getattr(d, k) for k in COUNTERS}


def py_decode(chunks: list[bytes]) -> tuple[list[P.Frame], dict[str, int]]:
    """The Python twin, fed chunk by chunk: (frames, its counters)."""
    d = P.Decoder()
    frames = [f for c in chunks for f in d.feed(c)]
    return frames, d.stats.as_dict()
