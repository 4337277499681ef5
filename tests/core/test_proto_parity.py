"""Parity: the C protocol (csrc/emo_proto.c via cffi, the code the firmware runs) and the
Python twin (eggemo.core.proto) give the same bytes, frames and counters."""
from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eggemo._emo import ffi, lib
from eggemo.core import proto as P

from .proto_drivers import c_decode, py_decode, split


def c_encode(type_: int, seq: int, payload: bytes) -> bytes:
    out = ffi.new("uint8_t[]", lib.EMO_PROTO_MAX_ENCODED)
    n = ffi.new("int32_t *")
    assert lib.emo_proto_encode(type_, seq, payload, len(payload), out, lib.EMO_PROTO_MAX_ENCODED, n) == lib.EMO_OK
    assert n[0] <= lib.emo_proto_encoded_size(len(payload))
    return bytes(ffi.buffer(out, n[0]))


def test_constants_match():
    for name in ("VERSION", "MAX_PAYLOAD", "MAX_FRAME", "MAX_ENCODED", "HELLO_LEN", "STATUS_LEN", "ACK_LEN",
                 "F0_PER_FRAME", "RAW_MAX"):
        c_name = {"VERSION": "EMO_PROTO_VERSION", "F0_PER_FRAME": "EMO_PROTO_F0_PER_FRAME",
                  "RAW_MAX": "EMO_PROTO_RAW_MAX"}.get(name, f"EMO_PROTO_{name}")
        assert getattr(P, name) == getattr(lib, c_name), name
    assert P.F0_RECORD_LEN == lib.EMO_PROTO_F0_RECORD and P.CRC_INIT == lib.EMO_PROTO_CRC_INIT
    assert P.CRC_POLY == lib.EMO_PROTO_CRC_POLY
    for name in ("HELLO", "RAW", "F0", "STATUS", "ACK", "EMOTION", "NACK"):
        assert getattr(P, f"MSG_{name}") == getattr(lib, f"EMO_MSG_{name}")
    for name in ("START", "STOP", "SET_MODE", "SET_RATE", "REPLAY", "GET_STATUS", "GET_HELLO", "EXIT", "STALL"):
        assert getattr(P, f"CMD_{name}") == getattr(lib, f"EMO_CMD_{name}")
    assert (P.MODE_RAW, P.MODE_F0, P.MODE_REPLAY) == (lib.EMO_MODE_RAW, lib.EMO_MODE_F0, lib.EMO_MODE_REPLAY)
    assert (P.BOARD_STM32F405, P.BOARD_QEMU) == (1, 2)   # board.toml ids, the firmware's EMO_BOARD_ID: on the wire
    assert (P.COST_CYCLES, P.COST_INSTRUCTIONS) == (lib.EMO_COST_CYCLES, lib.EMO_COST_INSTRUCTIONS)
    assert (P.EMOTION_HEAD, P.EMOTION_CLASSES) == (lib.EMO_PROTO_EMOTION_HEAD, lib.EMO_PROTO_EMOTION_CLASSES)
    assert lib.EMO_PROTO_EMOTION_MAX == P.EMOTION_HEAD + P.EMOTION_CLASSES
    for name in ("HANGOVER", "MAX_LENGTH", "STREAM_END", "GAP", "RESTART"):   # the segmenter's codes
        assert getattr(P, f"REASON_{name}") == getattr(lib, f"EMO_SEG_{name}")
        assert P.REASON_NAMES[getattr(P, f"REASON_{name}")] == name.lower()


@given(st.binary(max_size=2000), st.integers(0, 0xFFFF))
def test_crc(data, init):
    assert lib.emo_proto_crc16(data, len(data), init) == P.crc16(data, init)


@given(st.integers(0, 255), st.integers(0, 0xFFFF),
       st.one_of(st.binary(max_size=P.MAX_PAYLOAD),
                 st.integers(0, P.MAX_PAYLOAD).map(lambda n: bytes([0x5A]) * n),  # long zero-free runs
                 st.integers(0, P.MAX_PAYLOAD).map(bytes)))
@settings(max_examples=300)
def test_encode(type_, seq, payload):
    assert c_encode(type_, seq, payload) == P.encode_frame(type_, seq, payload)


# A stream: valid frames (seq running or jumping), garbage, damaged frames; cut anywhere.
_piece = st.one_of(
    st.tuples(st.just("frame"), st.integers(0, 255), st.binary(max_size=300), st.integers(0, 3)),
    st.tuples(st.just("garbage"), st.binary(max_size=400)),
    st.tuples(st.just("flip"), st.binary(min_size=1, max_size=200), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.binary(max_size=200), st.floats(0, 1)),
    st.tuples(st.just("long"), st.integers(1030, 3000)),
    st.tuples(st.just("version"), st.integers(0, 255).filter(lambda v: v != P.VERSION), st.binary(max_size=100)),
)


def _build(pieces) -> bytes:
    seq, out = 0, bytearray()
    for p in pieces:
        kind = p[0]
        if kind == "frame":
            seq = (seq + 1 + (p[3] if p[3] < 2 else 0)) & 0xFFFF  # sometimes a gap
            out += P.encode_frame(p[1], seq, p[2])
        elif kind == "garbage":
            out += p[1]
        elif kind == "flip":
            w = bytearray(P.encode_frame(0x85, seq, p[1]))
            w[p[2] % len(w)] ^= 1 << p[3]
            out += w
        elif kind == "version":                                # a board of another protocol version
            body = struct.pack("<BBH", p[1], 0x03, seq) + p[2]
            out += P.cobs_encode(body + struct.pack("<H", P.crc16(body))) + b"\x00"
        elif kind == "cut":
            w = P.encode_frame(0x02, seq, p[1])
            out += w[: int(p[2] * (len(w) - 1))]
        else:
            out += b"\x07" * p[1] + b"\x00"
    return bytes(out)


@given(st.lists(_piece, max_size=25), st.lists(st.integers(1, 700), max_size=40))
@settings(max_examples=300, deadline=None)
def test_decoder_frames_and_counters(pieces, cuts):
    stream = _build(pieces)
    chunks = split(stream, cuts)
    c_frames, c_stats = c_decode(chunks)
    p_frames, p_stats = py_decode(chunks)
    assert c_frames == p_frames
    assert c_stats == p_stats
    assert c_stats["bytes"] == len(stream)


def test_payload_packers():
    h = P.Hello((1, 2, 3), P.BOARD_STM32F405, 8000, 80, 320, P.MODE_RAW, False, P.COST_CYCLES, 168_000_000)
    ch = ffi.new("emo_proto_hello_t *", dict(fw_major=1, fw_minor=2, fw_patch=3, board=1, fs=8000,
                                             f0_hop_samples=80, f0_frame_samples=320, mode=1, streaming=0,
                                             cost_unit=0, flags=0, cpu_hz=168_000_000))
    out, n = ffi.new("uint8_t[]", 1024), ffi.new("int32_t *")
    assert lib.emo_proto_pack_hello(ch, out, 1024, n) == lib.EMO_OK
    assert bytes(ffi.buffer(out, n[0])) == h.to_payload()

    s = P.Status(*(np.random.default_rng(0).integers(0, 2**32, 17, dtype=np.uint64).tolist()))
    cs = ffi.new("emo_proto_status_t *", {k: v for k, v in s.__dict__.items()})
    assert lib.emo_proto_pack_status(cs, out, 1024, n) == lib.EMO_OK
    assert bytes(ffi.buffer(out, n[0])) == s.to_payload()

    assert lib.emo_proto_pack_ack(0x84, 0xBEEF, -3, out, 1024, n) == lib.EMO_OK
    assert bytes(ffi.buffer(out, n[0])) == P.Ack(0x84, 0xBEEF, -3).to_payload()

    rng = np.random.default_rng(1)
    rec = np.zeros(P.F0_PER_FRAME, P.F0_DTYPE)
    rec["index"] = rng.integers(0, 2**32, len(rec), dtype=np.uint64)
    floats = ("f0_hz", "periodicity", "energy_db", "cq", "jitter", "shimmer")
    for f in floats:
        rec[f] = rng.standard_normal(len(rec)).astype(np.float32) * 100
    rec["voiced"] = rng.integers(0, 2, len(rec))
    cf = ffi.new("emo_f0_frame_t[]", len(rec))
    for i, r in enumerate(rec):
        cf[i].index, cf[i].voiced = int(r["index"]), int(r["voiced"])
        for f in floats:
            setattr(cf[i], f, float(r[f]))
    assert lib.emo_proto_pack_f0(cf, len(rec), out, 1024, n) == lib.EMO_OK
    assert n[0] == P.F0_PER_FRAME * P.F0_RECORD_LEN <= lib.EMO_PROTO_MAX_PAYLOAD
    assert bytes(ffi.buffer(out, n[0])) == P.pack_f0(rec)
    back = np.frombuffer(bytes(ffi.buffer(out, n[0])), P.F0_DTYPE)
    for f in floats:                                 # every field at its documented offset, bit for bit
        assert back[f].tobytes() == rec[f].tobytes(), f
    assert lib.emo_proto_pack_f0(cf, P.F0_PER_FRAME + 1, out, 1024, n) == lib.EMO_ERR_PARAM

    x = rng.integers(-32768, 32768, P.RAW_MAX).astype(np.int16)
    assert lib.emo_proto_pack_samples(77, ffi.from_buffer("int16_t[]", x), len(x), out, 1024, n) == lib.EMO_OK
    assert bytes(ffi.buffer(out, n[0])) == P.pack_samples(77, x)
    first, back, m = ffi.new("uint32_t *"), ffi.new("int16_t[]", P.RAW_MAX), ffi.new("int32_t *")
    assert lib.emo_proto_unpack_samples(out, n[0], first, back, P.RAW_MAX, m) == lib.EMO_OK
    assert first[0] == 77 and np.array_equal(np.frombuffer(ffi.buffer(back, 2 * m[0]), np.int16), x)
    assert lib.emo_proto_unpack_samples(out, 5, first, back, P.RAW_MAX, m) == lib.EMO_ERR_FORMAT
    assert lib.emo_proto_unpack_samples(out, n[0], first, back, 10, m) == lib.EMO_ERR_CAPACITY


def test_c_rejects_bad_arguments():
    out, n = ffi.new("uint8_t[]", 2000), ffi.new("int32_t *")
    assert lib.emo_proto_encode(1, 0, ffi.NULL, 0, out, 2000, n) == lib.EMO_OK  # empty payload is fine
    assert lib.emo_proto_encode(1, 0, bytes(1025), 1025, out, 2000, n) == lib.EMO_ERR_PARAM
    assert lib.emo_proto_encode(1, 0, bytes(10), 10, out, 17, n) == lib.EMO_ERR_CAPACITY
    assert lib.emo_proto_encode(1, 0, bytes(10), 10, ffi.NULL, 2000, n) == lib.EMO_ERR_NULL
    assert lib.emo_proto_decoder_init(ffi.NULL) == lib.EMO_ERR_NULL


# --- EMOTION ---------------------------------------------------------------------------------

EMOTION_FIELDS = ("first", "last", "n_voiced", "reason", "label", "model_id", "cost", "mu", "sigma")


def c_emotion(e: P.Emotion):
    ce = ffi.new("emo_proto_emotion_t *", {f: getattr(e, f) for f in EMOTION_FIELDS})
    ce.n_classes = len(e.scores) & 0xFF
    for i, v in enumerate(e.scores[:P.EMOTION_CLASSES]):
        ce.scores[i] = v
    return ce


def c_pack_emotion(e: P.Emotion) -> tuple[int, bytes]:
    out, n = ffi.new("uint8_t[]", 64), ffi.new("int32_t *")
    rc = lib.emo_proto_pack_emotion(c_emotion(e), out, 64, n)
    return rc, bytes(ffi.buffer(out, n[0]))


def c_unpack_emotion(payload: bytes) -> P.Emotion | None:
    ce = ffi.new("emo_proto_emotion_t *")
    rc = lib.emo_proto_unpack_emotion(payload, len(payload), ce)
    if rc != lib.EMO_OK:
        assert rc == lib.EMO_ERR_FORMAT
        return None
    return P.Emotion(*(getattr(ce, f) for f in EMOTION_FIELDS), tuple(ce.scores[i] for i in range(ce.n_classes)))


def py_unpack_emotion(payload: bytes) -> P.Emotion | None:
    try:
        return P.Emotion.from_payload(payload)
    except P.PayloadError:
        return None


def f32_in(lo: float, hi: float):
    """float32 values within lo..hi as the wire compares them (float32 bounds), the bounds included."""
    a, b = float(np.float32(lo)), float(np.float32(hi))
    return st.one_of(st.floats(a, b, width=32), st.sampled_from([a, b]))


@st.composite
def emotions(draw) -> P.Emotion:
    """Valid EMOTIONs, f32 statistics (what the wire carries), at and inside every range."""
    first = draw(st.integers(0, 2**32 - 1))
    span = draw(st.sampled_from([0, 1, P.UTTERANCE_MAX_FRAMES - 1]))
    last = draw(st.integers(first, min(2**32 - 1, first + span)))
    n = draw(st.integers(1, P.EMOTION_CLASSES))
    return P.Emotion(first, last, draw(st.integers(1, min(65535, last - first + 1))),
                     draw(st.sampled_from(sorted(P.REASON_NAMES))), draw(st.integers(0, n - 1)),
                     draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)),
                     draw(f32_in(P.NORM_MU_MIN, P.NORM_MU_MAX)), draw(f32_in(P.NORM_SIGMA_MIN, P.NORM_SIGMA_MAX)),
                     tuple(draw(st.lists(st.integers(-128, 127), min_size=n, max_size=n))))


def test_range_constants_match():
    """The ranges the board checks (csrc/emo_proto.h) are the host's: the integer ones read from the
    header, the doubles by their edges (the last value inside and the first outside agree in C)."""
    assert P.UTTERANCE_MAX_FRAMES == lib.EMO_PROTO_UTTERANCE_MAX == lib.EMO_SEG_MAX_FRAMES
    assert (P.FS_MIN, P.FS_MAX) == (lib.EMO_FS_MIN, lib.EMO_FS_MAX)
    assert (P.STATUS_OK, P.STATUS_MIN) == (lib.EMO_OK, lib.EMO_ERR_UNSUPPORTED)
    assert P.NACK_LEN == lib.EMO_PROTO_NACK_LEN
    for name in ("NO_MODEL", "LENGTH", "MODE", "MU", "SIGMA", "E_MU", "E_SIGMA", "STREAMING"):
        assert getattr(P, f"NACK_{name}") == getattr(lib, f"EMO_NACK_{name}"), name
    from eggemo.core.feat import ENERGY_SIGMA_FLOOR, SIGMA_FLOOR   # emo_feat's floors, in Python
    assert (P.NORM_SIGMA_MIN, P.NORM_E_SIGMA_MIN) == (SIGMA_FLOOR, ENERGY_SIGMA_FLOOR)
    base = dict(mu=5.0, sigma=0.2, e_mu=-20.0, e_sigma=6.0)
    for name, (lo, hi) in P.NORM_RANGES.items():
        for edge, outside in ((lo, -math.inf), (hi, math.inf)):
            for v, ok in ((edge, True), (math.nextafter(edge, outside), False)):
                payload = bytes([P.NORM_FIXED]) + struct.pack("<4d", *{**base, name: v}.values())
                assert (c_unpack_set_norm(payload)[0] == lib.EMO_OK) is ok, (name, v)
                assert (py_unpack_set_norm(payload)[0] == lib.EMO_OK) is ok, (name, v)
    e = P.Emotion(0, 0, 1, 1, 0, 0, 0, 5.0, 0.2, (0,))
    for name, (lo, hi) in (("mu", (P.NORM_MU_MIN, P.NORM_MU_MAX)), ("sigma", (P.NORM_SIGMA_MIN, P.NORM_SIGMA_MAX))):
        for edge, outside in ((np.float32(lo), -np.inf), (np.float32(hi), np.inf)):
            for v, ok in ((edge, True), (np.nextafter(edge, np.float32(outside)), False)):
                bad = P.Emotion(**{**e.__dict__, name: float(v)})
                assert (c_pack_emotion(bad)[0] == lib.EMO_OK) is ok, (name, v)
                assert (not bad.problem()) is ok, (name, v)


@given(emotions())
@settings(max_examples=300, deadline=None, derandomize=True)
def test_emotion_pack_and_unpack(e):
    rc, payload = c_pack_emotion(e)
    assert rc == lib.EMO_OK and payload == e.to_payload()
    assert len(payload) == P.EMOTION_HEAD + e.n_classes <= lib.EMO_PROTO_EMOTION_MAX
    assert c_unpack_emotion(payload) == py_unpack_emotion(payload) == e


# one field out of its range (or a whole Emotion of random values): both packers refuse the same
_bad_field = st.one_of(
    st.tuples(st.just("scores"), st.sampled_from([(), (0,) * 17])),
    st.tuples(st.just("label"), st.integers(0, 255)),
    st.tuples(st.just("reason"), st.integers(0, 255)),
    st.tuples(st.just("last"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("n_voiced"), st.integers(0, 65535)),
    st.tuples(st.just("mu"), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 3.5, 6.5, 1e38])),
    st.tuples(st.just("sigma"), st.sampled_from([math.nan, math.inf, 0.0, -0.0, -1.0, 2.0**-149, 0.03, 1.5])),
    st.tuples(st.just("last"), st.integers(1000, 2000)),
    st.tuples(st.just("edge"), st.sampled_from(["label", "last", "n_voiced"])),
)


def _edge(e: P.Emotion, name: str) -> dict:
    """The field just past its range: a label of n_classes, last one before first, one voiced
    frame more than the utterance has."""
    return {"label": dict(label=e.n_classes), "last": dict(last=e.first - 1),
            "n_voiced": dict(n_voiced=e.last - e.first + 2)}[name]


@given(emotions(), _bad_field)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_emotion_packers_refuse_the_same(e, bad):
    change = _edge(e, bad[1]) if bad[0] == "edge" else {bad[0]: bad[1]}
    if not all(0 <= v < 2 ** (16 if k == "n_voiced" else 32) for k, v in change.items() if k != "scores" and
               not isinstance(v, float)):
        return                                      # a field that the struct cannot hold
    e = P.Emotion(**{**e.__dict__, **change})
    rc, payload = c_pack_emotion(e)
    try:
        want = e.to_payload()
    except ValueError:
        assert rc == lib.EMO_ERR_PARAM
    else:
        assert rc == lib.EMO_OK and payload == want


def _mutate(payload: bytes, how: int, at: int, value: int) -> bytes:
    b = bytearray(payload)
    if how == 0 and b:
        b[at % len(b)] = value                      # one byte changed
    elif how == 1:
        b = b[: at % (len(b) + 1)]                  # cut short
    elif how == 2:
        b.insert(at % (len(b) + 1), value)          # one byte more
    elif how == 3:
        b[28:29] = bytes([value % 20])              # another n_classes
    return bytes(b)


@given(st.one_of(st.binary(max_size=60),
                 st.tuples(emotions(), st.integers(0, 3), st.integers(0, 100), st.integers(0, 255))
                 .map(lambda t: _mutate(t[0].to_payload(), *t[1:]))))
@settings(max_examples=500, deadline=None, derandomize=True)
def test_emotion_unpack_accepts_and_refuses_the_same(payload):
    assert c_unpack_emotion(payload) == py_unpack_emotion(payload)


# --- SET_NORM --------------------------------------------------------------------------------

def test_set_norm_constants_match():
    assert P.CMD_SET_NORM == lib.EMO_CMD_SET_NORM == 0x8A
    assert (P.SET_NORM_LEN, P.SET_NORM_FIXED_LEN) == (lib.EMO_PROTO_SET_NORM_LEN, lib.EMO_PROTO_SET_NORM_FIXED_LEN)
    assert (P.NORM_UTTERANCE, P.NORM_SESSION, P.NORM_FIXED) == (lib.EMO_FEAT_NORM_UTTERANCE, lib.EMO_FEAT_NORM_SESSION,
                                                                lib.EMO_FEAT_NORM_FIXED)


SET_NORM_FIELDS = ("mode", "mu", "sigma", "e_mu", "e_sigma")


def c_pack_set_norm(s: P.SetNorm) -> tuple[int, bytes]:
    cs = ffi.new("emo_proto_set_norm_t *", {f: getattr(s, f) for f in SET_NORM_FIELDS})
    out, n = ffi.new("uint8_t[]", 64), ffi.new("int32_t *")
    rc = lib.emo_proto_pack_set_norm(cs, out, 64, n)
    return rc, bytes(ffi.buffer(out, n[0]))


def c_unpack_set_norm(payload: bytes) -> tuple[int, P.SetNorm | None]:
    cs, reason = ffi.new("emo_proto_set_norm_t *"), ffi.new("int32_t *")
    rc = lib.emo_proto_unpack_set_norm(payload, len(payload), cs, reason)
    assert reason[0] == P.SetNorm.reason(payload), payload.hex()     # the NACK reason, named alike
    assert (reason[0] == 0) == (rc == lib.EMO_OK)
    return rc, (P.SetNorm(*(getattr(cs, f) for f in SET_NORM_FIELDS)) if rc == lib.EMO_OK else None)


def py_unpack_set_norm(payload: bytes) -> tuple[int, P.SetNorm | None]:
    """The Python parser's answer as the board's status: a FormatError is EMO_ERR_FORMAT, a
    PayloadError (an impossible mode or value) EMO_ERR_PARAM."""
    try:
        return lib.EMO_OK, P.SetNorm.from_payload(payload)
    except P.FormatError:
        return lib.EMO_ERR_FORMAT, None
    except P.PayloadError:
        return lib.EMO_ERR_PARAM, None


# every double the wire can carry, NaN payloads and signed zeros and subnormals included
any_f64 = st.one_of(st.floats(), st.sampled_from([math.nan, -math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324,
                                                  -5e-324, 1.7976931348623157e308]),
                    st.integers(0, 2**64 - 1).map(lambda u: struct.unpack("<d", struct.pack("<Q", u))[0]))


@st.composite
def set_norms(draw) -> P.SetNorm:
    """Valid SET_NORMs: the two modes without statistics, and fixed ones at and inside their ranges."""
    mode = draw(st.sampled_from(sorted(P.NORM_NAMES)))
    if mode != P.NORM_FIXED:
        return P.SetNorm(mode)
    values = [draw(st.one_of(st.floats(lo, hi), st.sampled_from([lo, hi]))) for lo, hi in P.NORM_RANGES.values()]
    return P.SetNorm(mode, *values)


@given(set_norms())
@settings(max_examples=300, deadline=None, derandomize=True)
def test_set_norm_pack_and_unpack(s):
    rc, payload = c_pack_set_norm(s)
    assert rc == lib.EMO_OK and payload == s.to_payload()
    assert len(payload) == (P.SET_NORM_FIXED_LEN if s.mode == P.NORM_FIXED else P.SET_NORM_LEN)
    assert c_unpack_set_norm(payload) == py_unpack_set_norm(payload) == (lib.EMO_OK, s)


@given(st.integers(0, 255), any_f64, any_f64, any_f64, any_f64)
@settings(max_examples=500, deadline=None, derandomize=True)
def test_set_norm_packers_refuse_the_same(mode, mu, sigma, e_mu, e_sigma):
    s = P.SetNorm(mode, *((mu, sigma, e_mu, e_sigma) if mode == P.NORM_FIXED else (0.0,) * 4))
    rc, payload = c_pack_set_norm(s)
    try:
        want = s.to_payload()
    except ValueError:
        assert rc == lib.EMO_ERR_PARAM
    else:
        assert rc == lib.EMO_OK and payload == want


def _mutate_set_norm(payload: bytes, how: int, at: int, value: int) -> bytes:
    b = bytearray(payload)
    if how == 0 and b:
        b[at % len(b)] = value                      # one byte changed (a mode, a sign, an exponent)
    elif how == 1:
        b = b[: at % (len(b) + 1)]                  # cut short
    elif how == 2:
        b.insert(at % (len(b) + 1), value)          # one byte more
    elif how == 3:
        b[0:1] = bytes([value % 5])                 # another mode, the statistics kept or not
    return bytes(b)


@given(st.one_of(st.binary(max_size=40),
                 st.integers(0, 2**64 - 1).map(lambda u: bytes([P.NORM_FIXED]) + struct.pack("<Q", u) * 4),
                 st.tuples(set_norms(), st.integers(0, 3), st.integers(0, 100), st.integers(0, 255))
                 .map(lambda t: _mutate_set_norm(t[0].to_payload(), *t[1:]))))
@settings(max_examples=500, deadline=None, derandomize=True)
def test_set_norm_unpack_accepts_and_refuses_the_same(payload):
    c, py = c_unpack_set_norm(payload), py_unpack_set_norm(payload)
    assert c[0] == py[0], payload.hex()
    if c[0] == lib.EMO_OK:                          # the same statistics, bit for bit
        assert struct.pack("<B4d", *(getattr(c[1], f) for f in SET_NORM_FIELDS)) == \
            struct.pack("<B4d", *(getattr(py[1], f) for f in SET_NORM_FIELDS))


def test_set_norm_c_rejects_bad_arguments():
    out, n = ffi.new("uint8_t[]", 64), ffi.new("int32_t *")
    cs = ffi.new("emo_proto_set_norm_t *", {"mode": 2, "mu": 5.0, "sigma": 0.2, "e_sigma": 1.0})
    assert lib.emo_proto_pack_set_norm(cs, out, 32, n) == lib.EMO_ERR_CAPACITY
    assert lib.emo_proto_pack_set_norm(cs, ffi.NULL, 64, n) == lib.EMO_ERR_NULL
    assert lib.emo_proto_unpack_set_norm(ffi.NULL, 1, cs, ffi.NULL) == lib.EMO_ERR_NULL
    cs.mode = 1
    assert lib.emo_proto_pack_set_norm(cs, out, 1, n) == lib.EMO_OK and n[0] == 1 and out[0] == 1
