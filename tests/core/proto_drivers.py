"""Drivers shared by the protocol tests: the C decoder (csrc/emo_proto.c via cffi, the code the
firmware runs) and its Python twin, fed the same chunks, plus the chunking of a byte stream."""
from __future__ import annotations

from eggemo.core import proto as P

def split(stream: bytes, cuts: list[int]) -> list[bytes]:
    """stream cut into chunks of the given lengths, the rest as the last chunk."""
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(stream[pos:pos + c])
        pos += c
    chunks.append(stream[pos:])
    return chunks


def decode(decoder, chunks: list[bytes]) -> tuple[list[P.Frame], dict[str, int]]:
    """A decoder fed chunk by chunk: (frames, its counters)."""
    frames = [f for c in chunks for f in decoder.feed(c)]
    return frames, decoder.stats.as_dict()


def c_decode(chunks: list[bytes]) -> tuple[list[P.Frame], dict[str, int]]:
    """The firmware's decoder (P.NativeDecoder)."""
    return decode(P.NativeDecoder(), chunks)


def py_decode(chunks: list[bytes]) -> tuple[list[P.Frame], dict[str, int]]:
    """The Python twin (P.Decoder)."""
    return decode(P.Decoder(), chunks)
