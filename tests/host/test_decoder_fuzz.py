"""Decoder fuzzing: random bytes, bit flips, dropped and inserted bytes, truncated frames.
Zero exceptions; every corrupted frame is rejected; decoding resumes with the next good frame.
Both decoders (the Python twin and csrc/emo_proto.c, the firmware's) and the monitor's
protocol object (which also parses payloads) are fed the same streams.
(tests/core/test_proto_parity.py, the firmware helper's, checks that the two count alike.)

Then CRC-valid frames of every type with random and nasty values (inf, NaN, huge, denormal,
negative, out of enum): each decodes within the ranges of docs/protocol.md or is a counted payload
error; bad frames among good ones change no utterance; and frames within the ranges always give the
model a finite input."""
from __future__ import annotations

import math
import queue
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eggemo.core import proto as P
from eggemo.host.link import Arrival, MessageProtocol, Rejected

from tests.core.proto_drivers import c_decode, py_decode, split

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


# --- every field of every frame: random CRC-valid payloads, each in range or a counted payload error ---

INF, NAN = float("inf"), float("nan")
# the values that broke the monitor or its model: non-finite, huge, denormal, negative, and zero
NASTY = [INF, -INF, NAN, 3e38, -3e38, 1e30, 1e-38, -1e-38, 1e-45, -1e-45, 0.0, -0.0, -1.0, -120.0]


def f32_range(lo: float, hi: float):
    """binary32 values from lo to hi, the bounds rounded to binary32 (as the checks compare)."""
    return st.floats(float(np.float32(lo)), float(np.float32(hi)), width=32)


f32s = st.one_of(st.sampled_from(NASTY), st.floats(width=32), f32_range(-130.0, 700.0))


def between(v, lo, hi) -> bool:
    """lo <= v <= hi compared in binary32, as the values travel."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.float32(lo) <= np.float32(v) <= np.float32(hi))


def documented(msg) -> bool:
    """Every field of msg within the ranges docs/protocol.md states ("Ranges"), written out again here
    from the document rather than taken from the decoder's constants."""
    if isinstance(msg, P.Hello):
        return (4000 <= msg.fs <= 96000 and 1 <= msg.f0_hop_samples <= msg.f0_frame_samples <= msg.fs * 0.256
                and msg.board in (1, 2) and msg.mode in (1, 2, 3) and msg.cost_unit in (0, 1)
                and msg.flags & ~0x03 == 0 and 1_000_000 <= msg.cpu_hz <= 1_000_000_000)
    if isinstance(msg, P.F0Block):
        r = msg.records
        v = r["voiced"] == 1
        ok = bool(np.all((r["voiced"] == 0) | v)) and bool(np.all(np.diff(r["index"].astype(np.int64)) == 1))
        for name, lo, hi in (("f0_hz", 40, 650), ("cq", 0, 1), ("jitter", 0, 1.2), ("shimmer", 0, 128)):
            ok &= all(between(x, lo, hi) if vv else x == 0 for x, vv in zip(r[name], v))
        ok &= all(between(x, 0, 1e25) for x in r["periodicity"])
        return ok and all(between(x, -121, 13) for x in r["energy_db"])
    if isinstance(msg, P.Status):
        return msg.hop_cost_max >= max(msg.hop_cost_last, msg.hop_cost_mean) and msg.f0_sent <= msg.hops
    if isinstance(msg, P.Nack):
        return -11 <= msg.status <= -1 and 1 <= msg.reason <= 8
    if isinstance(msg, P.Ack):
        return -11 <= msg.status <= 0
    if isinstance(msg, P.SampleBlock):
        return 1 <= len(msg.samples) <= 510
    if isinstance(msg, P.Emotion):
        n = msg.last - msg.first + 1
        return (1 <= msg.n_classes <= 16 and 0 <= msg.label < msg.n_classes and 1 <= msg.reason <= 5
                and 1 <= n <= 1000 and 1 <= msg.n_voiced <= n and between(msg.mu, math.log(40), math.log(650))
                and between(msg.sigma, 0.05, (math.log(650) - math.log(40)) / 2))
    return isinstance(msg, P.Frame)                 # a type this host does not know: passed over


def f0_payload(draw) -> bytes:
    n = draw(st.integers(1, P.F0_PER_FRAME))
    rec = np.zeros(n, P.F0_DTYPE)
    first = draw(st.integers(0, 2**32 - 1 - n))
    rec["index"] = first + np.arange(n) if draw(st.booleans()) else draw(st.lists(
        st.integers(0, 2**32 - 1), min_size=n, max_size=n))
    rec["voiced"] = draw(st.lists(st.sampled_from([0, 1, 1, 2, 255]), min_size=n, max_size=n))
    for name in ("f0_hz", "periodicity", "energy_db", "cq", "jitter", "shimmer"):
        # mostly plausible values, so that a frame with one bad field among good ones is common
        good = {"f0_hz": f32_range(40, 650), "energy_db": f32_range(-121, 13),
                "jitter": f32_range(0, 1.2), "shimmer": f32_range(0, 5)}.get(
            name, f32_range(0, 1))
        rec[name] = draw(st.lists(st.one_of(good, good, good, f32s), min_size=n, max_size=n))
    if draw(st.booleans()):                          # unvoiced records as the core writes them
        for name in ("f0_hz", "cq", "jitter", "shimmer"):
            rec[name][rec["voiced"] == 0] = 0.0
    return rec.tobytes()


def struct_payload(draw, fmt: str, fields) -> bytes:
    return struct.pack(fmt, *(draw(f) for f in fields))


u8, u16, u32 = st.integers(0, 255), st.integers(0, 2**16 - 1), st.integers(0, 2**32 - 1)


@st.composite
def board_frames(draw) -> tuple[int, bytes]:
    """(type, payload) of a board frame: random bytes of any length, or the type's layout with each
    field a plausible value, a nasty one or random bits."""
    type_ = draw(st.sampled_from([P.MSG_HELLO, P.MSG_RAW, P.MSG_F0, P.MSG_STATUS, P.MSG_ACK, P.MSG_NACK,
                                  P.MSG_EMOTION, 0x42]))
    how = draw(st.integers(0, 3))
    if how == 0:
        return type_, draw(st.binary(max_size=80))
    if type_ == P.MSG_F0:
        return type_, f0_payload(draw)
    if type_ == P.MSG_HELLO:
        return type_, struct_payload(draw, "<BBBBIHHBBBBI", [
            u8, u8, u8, st.sampled_from([1, 2, 0, 3, 255]), st.one_of(st.sampled_from([8000, 16000, 0]), u32),
            st.one_of(st.sampled_from([160, 80, 0]), u16), st.one_of(st.sampled_from([640, 320, 0]), u16),
            st.sampled_from([1, 2, 3, 0, 4, 255]), st.sampled_from([0, 1, 2]), st.sampled_from([0, 1, 2]),
            st.sampled_from([0, 1, 2, 3, 4, 0x80]), st.one_of(st.sampled_from([168_000_000, 16_000_000, 0]), u32)])
    if type_ == P.MSG_STATUS:
        return type_, struct_payload(draw, "<17I", [st.one_of(st.integers(0, 100), u32)] * 17)
    if type_ in (P.MSG_ACK, P.MSG_NACK):
        fields = [st.one_of(st.sampled_from([P.CMD_START, P.CMD_SET_NORM]), u8), u16,
                  st.integers(-128, 127) if how == 1 else st.integers(-12, 1)]
        if type_ == P.MSG_NACK:
            return type_, struct_payload(draw, "<BHbB", fields + [st.integers(0, 10) if how != 1 else u8])
        return type_, struct_payload(draw, "<BHb", fields)
    if type_ == P.MSG_EMOTION:
        n = draw(st.integers(0, 17))
        first = draw(u32)
        head = struct.pack("<IIHBBIIffB", first, draw(st.one_of(st.integers(first, min(first + 1100, 2**32 - 1)), u32)),
                           draw(st.integers(0, 1200)), draw(st.integers(0, 6)), draw(st.integers(0, 17)), draw(u32),
                           draw(u32), draw(st.one_of(f32_range(3.6, 6.5), f32s)),
                           draw(st.one_of(f32_range(0.04, 1.4), f32s)), n)
        return type_, head + draw(st.binary(min_size=n, max_size=n))
    if type_ == P.MSG_RAW:
        return type_, draw(st.binary(min_size=4, max_size=4)) + draw(st.binary(max_size=40))
    return type_, draw(st.binary(max_size=40))


@given(st.lists(board_frames(), min_size=1, max_size=12), st.lists(st.integers(1, 400), max_size=6))
@settings(max_examples=400, deadline=None, derandomize=True)
def test_every_board_frame_decodes_within_its_ranges_or_is_a_counted_payload_error(frames, cuts):
    """Thousands of CRC-valid board frames of every type per run (400 streams of up to 12): each one
    comes out of the monitor's protocol object either as a message whose every field is within the
    documented ranges, or as a Rejected frame counted under its field, in order; nothing raises."""
    enc = P.Encoder()
    stream = b"".join(enc.encode(t, p) for t, p in frames)
    proto = MessageProtocol(queue.Queue())
    for chunk in split(stream, cuts):
        proto.data_received(chunk)
    items = list(proto.queue.queue)
    assert len(items) == len(frames) and proto.counters.frames == len(frames)
    fields: dict[str, int] = {}
    for (type_, payload), item in zip(frames, items):
        if isinstance(item, Rejected):
            assert item.frame == P.Frame(type_, item.frame.seq, payload)
            prefix = P.FRAME_NAMES[type_] + "."
            assert item.field.startswith(prefix) and item.error, item
            fields[item.field] = fields.get(item.field, 0) + 1
        else:
            assert isinstance(item, Arrival) and documented(item.message), (hex(type_), payload.hex(), item.message)
    assert proto.counters.payload_errors == sum(fields.values()) and proto.counters.payload_error_fields == fields


# --- bad frames between good ones change no utterance, and frames in range always reach the model ---

def _good_records() -> np.ndarray:
    """F0 records of one synthetic voiced stretch as the board's F0 core releases them."""
    from eggemo.eggsynth import contour, synth_egg
    from eggemo.core.f0.binding import F0Stream

    fs, seconds = 16000, 2.0
    f0 = contour(seconds, fs, [0.0, 0.3, 0.3001, 1.4, 1.4001, seconds], [0, 0, 140.0, 170.0, 0, 0])
    egg = np.clip(np.round(synth_egg(f0, fs, amplitude=0.4, noise_snr_db=35.0, seed=3).egg * 32768), -32768, 32767)
    s = F0Stream(fs)
    parts = [s.push(egg[i:i + s.hop_samples].astype(np.int16)) for i in range(0, len(egg), s.hop_samples)]
    parts.append(s.flush())
    cols = [np.concatenate([p[k] for p in parts]) for k in range(8)]
    rec = np.zeros(len(cols[0]), P.F0_DTYPE)
    for name, col in zip(("index", "f0_hz", "voiced", "periodicity", "energy_db", "cq", "jitter", "shimmer"), cols):
        rec[name] = col
    return rec


GOOD = _good_records()
OUT_OF_RANGE = {"f0_hz": [INF, NAN, 3e38, 1e-38, -120.0, 39.0, 651.0], "periodicity": [NAN, INF, -0.5, 3e38],
                "energy_db": [INF, -INF, NAN, 3e38, -122.0, 14.0], "cq": [NAN, 1.5, -0.1, INF],
                "jitter": [NAN, INF, -1e-45, 1.3], "shimmer": [NAN, INF, 129.0, -1.0]}


@st.composite
def out_of_range_f0_frames(draw) -> bytes:
    """An F0 frame of good records with one field of one voiced record made impossible."""
    start = draw(st.integers(0, len(GOOD) - 3))
    rec = GOOD[start:start + draw(st.integers(1, 3))].copy()
    voiced = np.flatnonzero(rec["voiced"] == 1)
    name = draw(st.sampled_from(sorted(OUT_OF_RANGE)))
    k = int(draw(st.sampled_from(voiced.tolist()))) if len(voiced) and name != "periodicity" else 0
    if name in P.F0_ZERO_UNVOICED and rec["voiced"][k] == 0:
        rec["voiced"][k] = 1
    rec[name][k] = draw(st.sampled_from(OUT_OF_RANGE[name]))
    return rec.tobytes()


def _utterances(blocks) -> list[tuple]:
    from eggemo.core.seg import Segmenter, frames_from_records

    seg, out = Segmenter(), []
    for b in blocks:
        out += seg.push(frames_from_records(b.records))
    out += seg.end("stream_end")
    return [(u.first, u.reason, u.f0_hz.tobytes(), u.energy_db.tobytes(), u.periodicity.tobytes(), u.cq.tobytes(),
             u.jitter.tobytes(), u.shimmer.tobytes()) for u in out]


@given(st.lists(st.integers(1, P.F0_PER_FRAME), min_size=1, max_size=8),
       st.lists(st.tuples(st.integers(0, 200), out_of_range_f0_frames()), min_size=1, max_size=8))
@settings(max_examples=150, deadline=None, derandomize=True)
def test_bad_frames_between_good_ones_change_no_utterance(sizes, bad):
    """The good records, cut into frames of random sizes, with out-of-range frames among them: the
    segmenter (whose utterances are what the model classifies) sees exactly the good frames, and every
    bad one is counted. A NaN energy_db used to reach the model and change its prediction silently."""
    good, i = [], 0
    while i < len(GOOD):
        n = sizes[len(good) % len(sizes)]
        good.append(GOOD[i:i + n].tobytes())
        i += n
    payloads = list(good)
    for at, b in sorted(bad, reverse=True):
        payloads.insert(at % (len(payloads) + 1), b)
    enc = P.Encoder()
    proto = MessageProtocol(queue.Queue())
    proto.data_received(b"".join(enc.encode(P.MSG_F0, p) for p in payloads))
    arrived = [i.message for i in list(proto.queue.queue) if isinstance(i, Arrival)]
    clean = [P.F0Block.from_payload(p) for p in good]
    assert _utterances(arrived) == _utterances(clean) and len(_utterances(clean)) == 1
    assert proto.counters.payload_errors == len(bad)


@st.composite
def in_range_records(draw) -> np.ndarray:
    """1..400 records anywhere within the documented ranges, their edges (and the smallest denormal
    where 0 is the edge) included; values from a drawn seed, so that long utterances stay cheap."""
    n = draw(st.integers(1, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rec = np.zeros(n, P.F0_DTYPE)
    rec["index"] = np.arange(n)
    v = rng.random(n) < draw(st.floats(0.05, 1.0))
    v[rng.integers(n)] = True                        # an utterance has a voiced frame
    rec["voiced"] = v
    for name, (lo, hi) in P.F0_RANGES.items():
        x = rng.uniform(lo, min(hi, 1e3), n)
        if hi > 1e3:                                 # periodicity: every decade up to its bound
            x = np.where(rng.random(n) < 0.5, x, 10.0 ** rng.uniform(-3, np.log10(hi), n))
        edges = [np.float32(lo), np.float32(hi)] + ([np.float32(1e-45)] if lo == 0 else [])
        at = rng.random(n) < 0.2
        x[at] = rng.choice(np.array(edges, np.float64), int(at.sum()))
        rec[name] = x
        if name in P.F0_ZERO_UNVOICED:
            rec[name][~v] = 0.0
    assert P.f0_problem(rec) is None
    return rec


@given(in_range_records(), st.sampled_from(["utterance", "session", "fixed"]),
       st.tuples(*(st.floats(lo, hi) for lo, hi in P.NORM_RANGES.values())))
@settings(max_examples=150, deadline=None, derandomize=True)
def test_frames_within_their_ranges_always_give_the_model_a_finite_input(rec, mode, fixed):
    """What the ranges admit, at their edges too, is what the C core turns into a finite student input
    (emo_feat, all nine channels) that quantises without error: a board's value in range cannot end a
    session ("F0 features contain NaN or inf") or reach the model as NaN."""
    from eggemo.core.feat import NativeNormaliser, native_quantize, native_student_input
    from eggemo.core.seg import Utterance, frames_from_records
    from eggemo.core.feat import STUDENT_INPUTS, F0Stats

    frames = frames_from_records(rec)

    utt = Utterance(int(rec["index"][0]), frames.f0_hz, frames.voiced, "stream_end", frames.periodicity,
                    frames.energy_db, frames.cq, frames.jitter, frames.shimmer)
    stats = F0Stats(fixed[0], fixed[1], 0, fixed[2], fixed[3]) if mode == "fixed" else None
    norm = NativeNormaliser(mode, stats)
    for _ in range(2):                               # session mode: the sums of an earlier utterance too
        x = native_student_input(utt, norm.stats_for(utt), 300, "center", STUDENT_INPUTS)
        assert np.isfinite(x).all()
        native_quantize(x, 0.05, 0)
