"""Decoder fuzzing: random bytes, bit flips, dropped and inserted bytes, truncated frames.
Zero exceptions; every corrupted frame is rejected; decoding resumes with the next good frame.
Both decoders (the Python twin and csrc/emo_proto.c, the firmware's) and the monitor's
protocol object (which also parses payloads) are fed the same streams.
(tests/host/test_protocol_parity.py, the firmware helper's, checks that the two count alike.)"""
from __future__ import annotations

import queue

from hypothesis import given, settings
from hypothesis import strategies as st

from eggemo.host import protocol as P
from eggemo.host.link import Arrival, MessageProtocol

from .proto_drivers import c_decode, py_decode, split

payloads = st.binary(min_size=0, max_size=300)
frame_types = st.sampled_from([P.MSG_F0, P.MSG_RAW, P.MSG_STATUS, P.MSG_ACK, P.MSG_EMOTION, 0x42])


def both(stream: bytes, cuts: list[int]) -> list[list[P.Frame]]:
    chunks = split(stream, cuts)
    py, _ = py_decode(chunks)
    c, _ = c_decode(chunks)
    proto = MessageProtocol(queue.Queue())
    for ch in chunks:
        proto.data_received(ch)           # parses payloads too: must never raise
    assert proto.counters.frames == len(py)
    return [py, c]


def good(type_: int, seq: int, payload: bytes) -> tuple[bytes, P.Frame]:
    return P.encode_frame(type_, seq, payload), P.Frame(type_, seq, payload)


@given(st.binary(max_size=2000), st.lists(st.integers(1, 500), max_size=10), payloads)
@settings(max_examples=150, deadline=None)
def test_random_bytes_then_a_good_frame(garbage, cuts, payload):
    wire, frame = good(P.MSG_F0, 7, payload)
    for frames in both(garbage + b"\x00" + wire, cuts):
        assert frames and frames[-1] == frame


@st.composite
def corrupted(draw):
    """(corrupted wire bytes of frame A, how) -- A keeps its final delimiter."""
    type_, payload = draw(frame_types), draw(payloads)
    wire = bytearray(P.encode_frame(type_, 1, payload))
    body = len(wire) - 1                            # bytes before the delimiter
    how = draw(st.sampled_from(["flip", "drop", "insert", "insert_zero"]))
    i = draw(st.integers(0, body - 1))
    if how == "flip":
        wire[i] ^= 1 << draw(st.integers(0, 7))
    elif how == "drop":
        del wire[i]
    elif how == "insert":
        wire.insert(i, draw(st.integers(1, 255)))
    else:                                           # a stray delimiter inside A (at 0 it is just framing)
        wire.insert(max(i, 1), 0)
    return bytes(wire), how


@given(corrupted(), payloads, st.lists(st.integers(1, 300), max_size=8))
@settings(max_examples=400, deadline=None)
def test_a_corrupted_frame_is_rejected_and_the_next_is_decoded(bad, payload, cuts):
    wire_a, how = bad
    wire_b, frame_b = good(P.MSG_RAW, 2, payload)
    for frames in both(wire_a + wire_b, cuts):
        # nothing but B comes out: A (or the pieces a stray zero cut it into) is rejected;
        # a flipped bit can turn A's last code byte into a zero (an empty frame, ignored)
        assert frames == [frame_b], how


@given(frame_types, payloads, st.floats(0.0, 1.0, exclude_max=True), payloads)
@settings(max_examples=200, deadline=None)
def test_a_truncated_frame_costs_at_most_the_frame_it_runs_into(type_, payload_a, where, payload_c):
    """A frame cut short has no delimiter, so its bytes run into the next frame (B), which is
    lost with it; decoding resumes at B's delimiter, and C arrives."""
    wire_a = P.encode_frame(type_, 1, payload_a)
    cut = wire_a[:int(where * (len(wire_a) - 1))]
    wire_b, frame_b = good(P.MSG_F0, 2, b"\x01\x02")
    wire_c, frame_c = good(P.MSG_F0, 3, payload_c)
    for frames in both(cut + wire_b + wire_c, []):
        assert frames[-1] == frame_c
        assert frames in ([frame_c], [frame_b, frame_c])   # B survives only when nothing was cut


def test_a_truncated_frame_before_a_reconnect_costs_nothing():
    """The monitor starts a fresh decoder on every connection: bytes of a frame cut by the
    disconnect do not glue onto the first frame of the new connection."""
    proto = MessageProtocol(queue.Queue())

    class Link:  # connection_made only reads the connect count
        class stats:
            connects = 1

    proto.connection_made(Link())
    proto.data_received(P.encode_frame(P.MSG_ACK, 0, P.Ack(P.CMD_START, 0, 0).to_payload())[:5])
    proto.connection_made(Link())
    proto.data_received(P.encode_frame(P.MSG_ACK, 0, P.Ack(P.CMD_STOP, 1, 0).to_payload()))
    got = [i.message for i in list(proto.queue.queue) if isinstance(i, Arrival)]
    assert got == [P.Ack(P.CMD_STOP, 1, 0)]
    assert proto.counters.frames == 1 and proto.counters.format_errors == 0


# EMOTION payloads near the real thing: the right length for their n_classes byte, or one off
_emotion_like = st.one_of(
    st.binary(max_size=60),
    st.tuples(st.binary(min_size=28, max_size=28), st.integers(0, 20), st.integers(-1, 1), st.binary(min_size=21,
                                                                                                   max_size=21))
    .map(lambda t: t[0] + bytes([t[1]]) + t[3][: max(0, t[1] + t[2])]),
)


@given(_emotion_like)
@settings(max_examples=400, deadline=None, derandomize=True)
def test_an_emotion_payload_parses_or_is_a_payload_error(payload):
    """Whatever an EMOTION frame carries, parse() returns an Emotion or raises PayloadError, and
    the monitor's protocol object counts it as a payload error instead of stopping."""
    try:
        e = P.parse(P.Frame(P.MSG_EMOTION, 0, payload))
    except P.PayloadError:
        bad = True
    else:
        bad = False
        assert isinstance(e, P.Emotion) and e.to_payload() == payload
    proto = MessageProtocol(queue.Queue())
    proto.data_received(P.encode_frame(P.MSG_EMOTION, 0, payload))
    assert proto.counters.frames == 1 and proto.counters.payload_errors == int(bad)
    arrivals = [i.message for i in list(proto.queue.queue) if isinstance(i, Arrival)]
    assert arrivals == ([] if bad else [e])
