"""The Python protocol twin on its own: CRC, COBS, frames, the streaming decoder, payloads,
over a real byte transport (pyserial loop://)."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from eggemo.core import proto as P


def test_crc_is_ccitt_false():
    assert P.crc16(b"123456789") == P.CRC_CHECK == 0x29B1
    assert P.crc16(b"") == P.CRC_INIT
    assert P.crc16(b"6789", P.crc16(b"12345")) == 0x29B1  # continues


@given(st.binary(max_size=3000))
def test_cobs_round_trip_has_no_zeros(data):
    enc = P.cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert P.cobs_decode(enc, limit=len(data)) == data


def test_cobs_known_vectors():
    assert P.cobs_encode(b"") == b"\x01"
    assert P.cobs_encode(b"\x00") == b"\x01\x01"
    assert P.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert P.cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255)) + b"\x01"
    with pytest.raises(P.FormatError, match="truncated"):
        P.cobs_decode(b"\x05\x11")


@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=P.MAX_PAYLOAD))
@settings(max_examples=200)
def test_frame_round_trip(type_, seq, payload):
    wire = P.encode_frame(type_, seq, payload)
    assert wire.endswith(b"\x00") and wire.count(0) == 1 and len(wire) <= P.MAX_ENCODED
    assert P.decode_frame(wire[:-1]) == P.Frame(type_, seq, payload)


def test_decode_frame_errors_say_what_is_wrong():
    wire = bytearray(P.encode_frame(P.MSG_HELLO, 1, b"abc"))
    wire[3] ^= 0x40
    with pytest.raises(P.CrcError, match="CRC mismatch"):
        P.decode_frame(bytes(wire[:-1]))
    with pytest.raises(P.FormatError, match="shorter"):
        P.decode_frame(P.cobs_encode(b"\x01\x02"))
    body = b"\x07\x01\x00\x00"
    with pytest.raises(P.FormatError, match="version 7"):
        P.decode_frame(P.cobs_encode(body + P.crc16(body).to_bytes(2, "little")))
    with pytest.raises(ValueError, match="split it"):
        P.encode_frame(1, 0, bytes(P.MAX_PAYLOAD + 1))


def test_decoder_any_chunking_and_resync():
    enc = P.Encoder()
    frames = [enc.encode(P.MSG_RAW, P.pack_samples(i * 10, np.arange(10, dtype=np.int16))) for i in range(20)]
    garbage = b"\x13\x37garbage\x00\xff\xfe"
    stream = b"".join(frames[:10]) + garbage + b"".join(frames[10:])
    for chunk in (1, 7, 64, len(stream)):
        d = P.Decoder()
        got = [f for i in range(0, len(stream), chunk) for f in d.feed(stream[i:i + chunk])]
        # the garbage up to its 0x00 is one bad frame; the tail "\xff\xfe" spoils frame 10
        assert [f.seq for f in got] == list(range(10)) + list(range(11, 20))
        s = d.stats
        assert (s.bytes, s.frames, s.seq_gaps, s.seq_lost) == (len(stream), 19, 1, 1)
        assert s.crc_errors + s.format_errors == 2


def test_decoder_drops_overlong_frames_and_keeps_going():
    d = P.Decoder()
    assert d.feed(b"\x01" * 100_000) == []  # no delimiter: memory stays bounded
    assert len(d._pending) <= P.Decoder._PENDING_CAP
    ok = P.encode_frame(P.MSG_ACK, 0, P.Ack(P.CMD_START, 3, 0).to_payload())
    assert [P.parse(f) for f in d.feed(b"\x00" + ok)] == [P.Ack(P.CMD_START, 3, 0)]
    assert d.stats.format_errors == 1


def test_payloads_round_trip():
    h = P.Hello((0, 1, 0), P.BOARD_QEMU, 16000, 160, 640, P.MODE_BOTH, True, P.COST_INSTRUCTIONS, 168_000_000)
    assert P.Hello.from_payload(h.to_payload()) == h and len(h.to_payload()) == P.HELLO_LEN
    assert h.board_name == "qemu-netduinoplus2"
    assert h.f0_time(0) == pytest.approx(0.02) and h.f0_time(3) == pytest.approx(0.05)
    s = P.Status(*range(1, 13), 13, 15, 14, 16, 12)     # hop costs last 13, max 15, mean 14; 12 records
    assert P.Status.from_payload(s.to_payload()) == s and len(s.to_payload()) == P.STATUS_LEN
    a = P.Ack(P.CMD_SET_RATE, 65535, -3)
    assert P.Ack.from_payload(a.to_payload()) == a and not a.ok
    rec = np.zeros(3, P.F0_DTYPE)
    rec["index"], rec["f0_hz"], rec["voiced"] = [5, 6, 7], [0.0, 101.5, 99.25], [0, 1, 1]
    rec["cq"], rec["jitter"], rec["shimmer"] = [0, 0.47, 0.52], [0, 0.011, 0.008], [0, 0.031, 0.052]
    payload = P.pack_f0(rec)
    assert len(payload) == 3 * P.F0_RECORD_LEN == 3 * 29
    assert struct.unpack_from("<IfffBfff", payload, P.F0_RECORD_LEN) == (
        6, np.float32(101.5), 0.0, 0.0, 1, np.float32(0.47), np.float32(0.011), np.float32(0.031))
    back = P.parse(P.Frame(P.MSG_F0, 0, payload)).records
    assert back.tobytes() == rec.tobytes()
    assert len(P.pack_f0(np.zeros(P.F0_PER_FRAME, P.F0_DTYPE))) <= P.MAX_PAYLOAD
    with pytest.raises(ValueError, match="1..35"):
        P.pack_f0(np.zeros(P.F0_PER_FRAME + 1, P.F0_DTYPE))
    blk = P.parse(P.Frame(P.MSG_RAW, 0, P.pack_samples(42, np.array([-32768, 0, 32767], np.int16))))
    assert blk.first == 42 and blk.samples.tolist() == [-32768, 0, 32767]
    with pytest.raises(P.FormatError, match="expected 20"):
        P.Hello.from_payload(b"\x00" * 19)
    with pytest.raises(P.FormatError, match="not n\\*29"):
        P.F0Block.from_payload(b"\x00" * 30)
    with pytest.raises(TypeError, match="int16"):
        P.pack_samples(0, np.zeros(3))
    with pytest.raises(ValueError, match="MODE_RAW"):
        P.set_mode_payload(4)


@pytest.mark.parametrize("fs, hop, frame", [(0, 160, 640), (3999, 160, 640), (96001, 160, 640)])
def test_hello_with_impossible_values_is_a_payload_error(fs, hop, frame):
    h = P.Hello((0, 1, 0), P.BOARD_QEMU, fs, hop, frame, P.MODE_F0, False, P.COST_CYCLES, 168_000_000)
    with pytest.raises(P.PayloadError, match=f"HELLO with fs {fs} Hz") as exc:
        P.parse(P.Frame(P.MSG_HELLO, 0, h.to_payload()))
    assert exc.value.field == "hello.fs"


GOOD_HELLO = P.Hello((0, 1, 0), P.BOARD_QEMU, 16000, 160, 640, P.MODE_F0, False, P.COST_CYCLES, 168_000_000,
                     P.HELLO_FLAG_MODEL)


@pytest.mark.parametrize("change, field", [
    (dict(f0_hop_samples=0), "f0_hop_samples"), (dict(f0_hop_samples=641), "f0_hop_samples"),
    (dict(f0_frame_samples=0), "f0_frame_samples"), (dict(f0_frame_samples=4097), "f0_frame_samples"),
    (dict(board=0), "board"), (dict(board=3), "board"), (dict(mode=0), "mode"), (dict(mode=4), "mode"),
    (dict(streaming=2), "streaming"), (dict(cost_unit=2), "cost_unit"), (dict(flags=0x04), "flags"),
    (dict(flags=0xFF), "flags"), (dict(cpu_hz=0), "cpu_hz"), (dict(cpu_hz=2**32 - 1), "cpu_hz"),
])
def test_every_hello_field_is_range_checked(change, field):
    """Each field of HELLO has a documented range (docs/protocol.md); a value outside it is a
    payload error named after the field, and the values at the edges of the ranges pass."""
    bad = P.Hello(**{**GOOD_HELLO.__dict__, **change})
    with pytest.raises(P.PayloadError, match="HELLO with") as exc:
        P.parse(P.Frame(P.MSG_HELLO, 0, bad.to_payload()))
    assert exc.value.field == f"hello.{field}"
    for edge in (dict(fs=P.FS_MIN, f0_hop_samples=1, f0_frame_samples=1), dict(fs=P.FS_MAX),
                 dict(f0_hop_samples=640, f0_frame_samples=640, cpu_hz=P.CPU_HZ_MIN, flags=3),
                 dict(f0_frame_samples=4096, cpu_hz=P.CPU_HZ_MAX, board=P.BOARD_STM32F405, mode=P.MODE_BOTH)):
        h = P.Hello(**{**GOOD_HELLO.__dict__, **edge})
        assert P.parse(P.Frame(P.MSG_HELLO, 0, h.to_payload())) == h


def _records(**cols) -> np.ndarray:
    """Two good F0 records (unvoiced, then voiced at 110 Hz), with the given columns changed."""
    rec = np.zeros(2, P.F0_DTYPE)
    rec["index"], rec["f0_hz"], rec["voiced"] = [41, 42], [0.0, 110.0], [0, 1]
    rec["periodicity"], rec["energy_db"], rec["cq"] = [0.3, 0.9], [-60.0, -20.0], [0.0, 0.5]
    for name, v in cols.items():
        rec[name] = v
    return rec


@pytest.mark.parametrize("f0", [float("inf"), float("-inf"), float("nan"), -120.0, 0.0, 3e38, 1e-38, 1e-45,
                                np.nextafter(np.float32(P.F0_HZ_MIN), np.float32(0)), 650.01])
def test_voiced_f0_outside_its_range_is_a_payload_error(f0):
    with pytest.raises(P.PayloadError, match="F0 record 42 \\(voiced\\) with f0_hz") as exc:
        P.parse(P.Frame(P.MSG_F0, 0, P.pack_f0(_records(f0_hz=[0.0, f0]))))
    assert exc.value.field == "f0.f0_hz"
    # unvoiced: the F0 core writes exactly 0 there, so anything else is a payload error too
    with pytest.raises(P.PayloadError, match="F0 record 41 \\(unvoiced\\) with f0_hz .*need 0"):
        P.parse(P.Frame(P.MSG_F0, 0, P.pack_f0(_records(f0_hz=[f0 or 1.0, 110.0]))))
    for edge in (P.F0_HZ_MIN, P.F0_HZ_MAX):
        rec = _records(f0_hz=[0.0, edge])
        assert P.parse(P.Frame(P.MSG_F0, 0, P.pack_f0(rec))).records.tobytes() == rec.tobytes()


@pytest.mark.parametrize("name, value", [
    ("periodicity", float("nan")), ("periodicity", -0.01), ("periodicity", 2e25), ("periodicity", float("inf")),
    ("energy_db", float("inf")), ("energy_db", float("-inf")), ("energy_db", float("nan")), ("energy_db", -200.0),
    ("energy_db", 14.0), ("energy_db", 3e38),
    ("cq", float("nan")), ("cq", 1.5), ("cq", -0.1), ("jitter", float("inf")), ("jitter", -0.01), ("jitter", 1.3),
    ("shimmer", float("nan")), ("shimmer", 129.0), ("shimmer", -1e-45),
])
def test_every_f0_record_field_outside_its_range_is_a_payload_error(name, value):
    """energy_db and periodicity were not checked at all: a NaN energy changed predictions without a
    word, and an inf one ended the session. Every float field of a record has its range now."""
    col = np.array(_records()[name])
    col[1] = value
    with pytest.raises(P.PayloadError, match=f"F0 record 42 \\(voiced\\) with {name}") as exc:
        P.parse(P.Frame(P.MSG_F0, 0, P.pack_f0(_records(**{name: col}))))
    assert exc.value.field == f"f0.{name}"


@pytest.mark.parametrize("name", ["cq", "jitter", "shimmer"])
def test_voice_quality_of_an_unvoiced_record_is_zero(name):
    with pytest.raises(P.PayloadError, match=f"record 41 \\(unvoiced\\) with {name} 0.25: need 0") as exc:
        P.parse(P.Frame(P.MSG_F0, 0, P.pack_f0(_records(**{name: [0.25, 0.0]}))))
    assert exc.value.field == f"f0.{name}"


def test_f0_record_voiced_flag_and_indices_are_checked():
    with pytest.raises(P.PayloadError, match="voiced 2: need 0 or 1") as exc:
        P.parse(P.Frame(P.MSG_F0, 0, P.pack_f0(_records(voiced=[0, 2]))))
    assert exc.value.field == "f0.voiced"
    for index in ([41, 41], [41, 43], [42, 41]):
        with pytest.raises(P.PayloadError, match="indices") as exc:
            P.parse(P.Frame(P.MSG_F0, 0, P.pack_f0(_records(index=index))))
        assert exc.value.field == "f0.index"
    edges = _records(periodicity=[0.0, P.PERIODICITY_MAX], energy_db=[P.ENERGY_DB_MIN, P.ENERGY_DB_MAX],
                     cq=[0.0, P.CQ_MAX], jitter=[0.0, P.JITTER_MAX], shimmer=[0.0, P.SHIMMER_MAX],
                     index=[2**32 - 2, 2**32 - 1])
    assert P.parse(P.Frame(P.MSG_F0, 0, P.pack_f0(edges))).records.tobytes() == edges.tobytes()


def test_status_ack_nack_and_raw_fields_are_checked():
    def refused(type_: int, payload: bytes) -> str:
        with pytest.raises(P.ProtocolError) as exc:
            P.parse(P.Frame(type_, 0, payload))
        return exc.value.field

    s = P.Status(hops=10, hop_cost_last=5, hop_cost_max=9, hop_cost_mean=7, f0_sent=10, tx_frames=1)
    assert P.parse(P.Frame(P.MSG_STATUS, 0, s.to_payload())) == s
    assert refused(P.MSG_STATUS, P.Status(hop_cost_last=5, hop_cost_max=4).to_payload()) == "status.hop_cost_max"
    assert refused(P.MSG_STATUS, P.Status(hop_cost_mean=5, hop_cost_max=4).to_payload()) == "status.hop_cost_max"
    assert refused(P.MSG_STATUS, P.Status(hops=3, f0_sent=4).to_payload()) == "status.f0_sent"
    assert refused(P.MSG_ACK, P.Ack(P.CMD_START, 0, -12).to_payload()) == "ack.status"
    assert refused(P.MSG_ACK, P.Ack(P.CMD_START, 0, 1).to_payload()) == "ack.status"
    # the board answers whatever type it got, a board -> host type too (with -11)
    assert P.parse(P.Frame(P.MSG_ACK, 0, P.Ack(P.MSG_STATUS, 0, -11).to_payload())) == P.Ack(P.MSG_STATUS, 0, -11)
    assert refused(P.MSG_ACK, bytes(5)) == "ack.length"
    n = P.Nack(P.CMD_SET_NORM, 7, -2, P.NACK_MU)
    assert P.parse(P.Frame(P.MSG_NACK, 0, n.to_payload())) == n and not n.ok and isinstance(n, P.Ack)
    assert "mu, the mean of ln F0" in n.reason_text
    assert refused(P.MSG_NACK, P.Nack(P.CMD_SET_NORM, 7, 0, P.NACK_MU).to_payload()) == "nack.status"
    assert refused(P.MSG_NACK, P.Nack(P.CMD_SET_NORM, 7, -2, 0).to_payload()) == "nack.reason"
    assert refused(P.MSG_NACK, P.Nack(P.CMD_SET_NORM, 7, -2, 9).to_payload()) == "nack.reason"
    assert refused(P.MSG_NACK, P.Ack(P.CMD_SET_NORM, 7, -2).to_payload()) == "nack.length"
    assert refused(P.MSG_RAW, P.pack_samples(5, np.zeros(0, np.int16))) == "raw.samples"
    assert refused(P.MSG_RAW, b"\x00" * 5) == "raw.length"
    assert P.parse(P.Frame(P.CMD_REPLAY, 0, P.pack_samples(5, np.zeros(0, np.int16)))).first == 5


def _frame_of_version(version: int, type_: int, seq: int, payload: bytes) -> bytes:
    """A frame as a board of another protocol version sends it: right CRC, other version byte."""
    body = struct.pack("<BBH", version, type_, seq) + payload
    return P.cobs_encode(body + struct.pack("<H", P.crc16(body))) + b"\x00"


@pytest.mark.parametrize("version, todo", [(1, "reflash the board"), (3, "update the host")])
def test_a_frame_of_another_version_is_a_format_error_that_says_what_to_do(version, todo):
    wire = _frame_of_version(version, P.MSG_HELLO, 0, bytes(P.HELLO_LEN))
    with pytest.raises(P.VersionError, match=f"protocol version {version}, this host speaks 2") as exc:
        P.decode_frame(wire[:-1])
    assert todo in str(exc.value) and isinstance(exc.value, P.FormatError)
    d = P.Decoder()
    assert d.feed(wire + P.encode_frame(P.MSG_ACK, 1, bytes(4))) != []
    assert d.stats.format_errors == 1 and d.stats.frames == 1 and d.foreign_version == version


def test_replay_frames_split_a_signal():
    x = np.arange(1234, dtype=np.int16)
    payloads = P.replay_frames(x, first=100, block=500)
    blocks = [P.SampleBlock.from_payload(p) for p in payloads]
    assert [b.first for b in blocks] == [100, 600, 1100]
    assert np.array_equal(np.concatenate([b.samples for b in blocks]), x)


def test_over_a_serial_transport():
    """Frames written to pyserial's loop:// come back through the decoder intact."""
    port = serial.serial_for_url("loop://", timeout=0.5)
    enc, dec = P.Encoder(), P.Decoder()
    sent = [enc.encode(P.CMD_REPLAY, p) for p in P.replay_frames(np.arange(5000, dtype=np.int16) * 7)]
    got = []
    for w in sent:  # loop:// holds 4 KiB: read back as we go
        port.write(w)
        got += dec.feed(port.read(port.in_waiting))
    got += dec.feed(port.read(port.in_waiting))
    samples = np.concatenate([P.parse(f).samples for f in got])
    assert np.array_equal(samples, np.arange(5000, dtype=np.int16) * 7)
    assert dec.stats.frames == len(sent) and dec.stats.crc_errors == dec.stats.format_errors == 0


# --- EMOTION ---------------------------------------------------------------------------------

EMO = P.Emotion(first=1200, last=1450, n_voiced=180, reason=P.REASON_HANGOVER, label=2, model_id=0x1A2B3C4D,
                cost=2_345_678, mu=4.75, sigma=0.1875, scores=(-128, 17, 127, 0, -3))


def test_emotion_layout_and_round_trip():
    payload = EMO.to_payload()
    assert len(payload) == P.EMOTION_HEAD + 5 == 34
    assert struct.unpack_from("<IIHBBIIffB", payload) == (1200, 1450, 180, 1, 2, 0x1A2B3C4D, 2_345_678, 4.75,
                                                          0.1875, 5)
    assert payload[12:16] == bytes([0x4D, 0x3C, 0x2B, 0x1A])      # model_id: SHA-256 bytes 0..3 as they come
    assert payload[29:] == bytes([0x80, 17, 127, 0, 0xFD])         # int8 scores
    back = P.parse(P.Frame(P.MSG_EMOTION, 9, payload))
    assert back == EMO and back.n_classes == 5 and back.reason_name == "hangover"
    # the edges of every range: one frame, the lowest statistics; the longest utterance, the highest
    lo32 = float(np.float32(P.NORM_MU_MIN))
    one = P.Emotion(0, 0, 1, P.REASON_STREAM_END, 0, 0, 0, lo32, float(np.float32(P.NORM_SIGMA_MIN)), (5,))
    assert P.Emotion.from_payload(one.to_payload()) == one
    top = P.Emotion(2**32 - P.UTTERANCE_MAX_FRAMES, 2**32 - 1, P.UTTERANCE_MAX_FRAMES, P.REASON_RESTART, 15,
                    2**32 - 1, 2**32 - 1, float(np.float32(P.NORM_MU_MAX)), float(np.float32(P.NORM_SIGMA_MAX)),
                    tuple(range(-8, 8)))
    assert len(top.to_payload()) == P.EMOTION_HEAD + P.EMOTION_CLASSES
    assert P.Emotion.from_payload(top.to_payload()) == top


@pytest.mark.parametrize("n", [0, 1, 28, 29, 33, 35, 60])
def test_emotion_of_the_wrong_length_is_a_payload_error(n):
    good = EMO.to_payload()                                        # n_classes 5: 34 bytes
    payload = (good + bytes(60))[:n]
    with pytest.raises(P.PayloadError, match=f"EMOTION payload of {n} bytes.*need exactly 29 \\+ n_classes"):
        P.parse(P.Frame(P.MSG_EMOTION, 0, payload))


@pytest.mark.parametrize("change, match", [
    (dict(scores=()), "0 classes"), (dict(scores=(0,) * 17), "17 classes"), (dict(label=5), "label 5 outside"),
    (dict(reason=0), "reason 0"), (dict(reason=6), "reason 6"), (dict(last=1199), "before its first"),
    (dict(n_voiced=0), "0 voiced frames"), (dict(n_voiced=252), "252 voiced frames in 251"),
    (dict(mu=float("nan")), "mu nan"), (dict(sigma=0.0), "sigma 0.0"), (dict(sigma=-0.5), "sigma -0.5"),
    (dict(sigma=float("inf")), "sigma inf"), (dict(mu=float("inf")), "mu inf"), (dict(mu=3.5), "mu 3.5"),
    (dict(mu=6.5), "mu 6.5"), (dict(sigma=2.0**-140), f"sigma {2.0**-140}"), (dict(sigma=0.03125), "sigma 0.03125"),
    (dict(sigma=1.5), "sigma 1.5"), (dict(first=0, last=1000, n_voiced=3), "1001 frames"),
])
def test_emotion_with_impossible_values_is_a_payload_error(change, match):
    bad = P.Emotion(**{**EMO.__dict__, **change})
    with pytest.raises(ValueError, match=f"cannot send an EMOTION with .*{match}"):
        bad.to_payload()
    # the same fields on the wire, packed by hand
    payload = (struct.pack("<IIHBBIIffB", bad.first, bad.last, bad.n_voiced, bad.reason, bad.label, bad.model_id,
                           bad.cost, bad.mu, bad.sigma, len(bad.scores)) + struct.pack(f"<{len(bad.scores)}b",
                                                                                       *bad.scores))
    with pytest.raises(P.PayloadError, match=f"EMOTION payload with .*{match}"):
        P.parse(P.Frame(P.MSG_EMOTION, 0, payload))


# --- SET_NORM ----------------------------------------------------------------------------------------

def test_set_norm_layout_and_round_trip():
    from eggemo.core.feat import F0Stats

    payload = P.set_norm_payload(F0Stats(5.1, 0.25, 1234, -22.5, 7.0))
    assert len(payload) == P.SET_NORM_FIXED_LEN == 33
    assert payload[0] == P.NORM_FIXED == 2
    assert struct.unpack("<4d", payload[1:]) == (5.1, 0.25, -22.5, 7.0)      # f64, little-endian, in order
    assert P.SetNorm.from_payload(payload) == P.SetNorm(P.NORM_FIXED, 5.1, 0.25, -22.5, 7.0)
    for mode in (P.NORM_UTTERANCE, P.NORM_SESSION):
        assert P.set_norm_payload(None, mode) == bytes([mode])
        assert P.SetNorm.from_payload(bytes([mode])) == P.SetNorm(mode)
    assert P.NORM_NAMES == {0: "utterance", 1: "session", 2: "fixed"}
    frame = P.decode_frame(P.encode_frame(P.CMD_SET_NORM, 3, payload)[:-1])
    assert P.parse(frame) == P.SetNorm.from_payload(payload)


@pytest.mark.parametrize("kwargs, match", [
    (dict(stats=None), "needs mode NORM_UTTERANCE"),
    (dict(stats=None, mode=P.NORM_FIXED), "fixed mode takes statistics"),
    (dict(stats=None, mode=5), "needs mode"),
    (dict(stats="mu=5", mode=None), "need mu and sigma"),
    (dict(mode=P.NORM_SESSION), "fixed mode"),
])
def test_set_norm_payload_refuses_what_the_board_would(kwargs, match):
    from eggemo.core.feat import F0Stats

    kwargs.setdefault("stats", F0Stats(5.0, 0.2, 0))
    with pytest.raises(ValueError, match=match):
        P.set_norm_payload(**kwargs)


@pytest.mark.parametrize("mu, sigma, e_mu, e_sigma, field", [
    (float("nan"), 0.2, 0.0, 1.0, "mu"), (5.0, float("inf"), 0.0, 1.0, "sigma"),
    (5.0, 0.2, float("-inf"), 1.0, "e_mu"), (5.0, 0.2, 0.0, float("nan"), "e_sigma"),
    (5.0, 0.0, 0.0, 1.0, "sigma"), (5.0, -0.2, 0.0, 1.0, "sigma"), (5.0, 0.2, 0.0, 0.0, "e_sigma"),
    (5.0, 0.2, 0.0, -1.0, "e_sigma"),
    # values the board used to acknowledge and then could not classify with (EMOTION went quiet)
    (1e308, 0.2, 0.0, 1.0, "mu"), (5.0, 1e-320, 0.0, 1.0, "sigma"), (100.0, 0.2, 0.0, 1.0, "mu"),
    (5.0, 0.2, 1e300, 1.0, "e_mu"), (5.0, 0.2, 0.0, 1e-300, "e_sigma"), (5.0, 2.0, 0.0, 1.0, "sigma"),
    (5.0, 0.2, 0.0, 68.0, "e_sigma"),
])
def test_set_norm_statistics_must_be_within_their_ranges(mu, sigma, e_mu, e_sigma, field):
    from eggemo.core.feat import F0Stats

    with pytest.raises(ValueError, match=f"fixed statistic {field} .*: need a finite number in"):
        P.set_norm_payload(F0Stats(mu, sigma, 0, e_mu, e_sigma))
    raw = bytes([P.NORM_FIXED]) + struct.pack("<4d", mu, sigma, e_mu, e_sigma)
    with pytest.raises(P.PayloadError, match=f"statistic {field}") as exc:   # what the board refuses (NACK)
        P.SetNorm.from_payload(raw)
    assert exc.value.field == f"set_norm.{field}"
    assert P.SetNorm.reason(raw) == {"mu": P.NACK_MU, "sigma": P.NACK_SIGMA, "e_mu": P.NACK_E_MU,
                                     "e_sigma": P.NACK_E_SIGMA}[field]


def test_set_norm_ranges_edges_are_usable():
    for i in (0, 1):
        s = P.SetNorm(P.NORM_FIXED, *(r[i] for r in P.NORM_RANGES.values()))
        assert P.SetNorm.from_payload(s.to_payload()) == s and P.SetNorm.reason(s.to_payload()) == 0


@pytest.mark.parametrize("payload, error", [
    (b"", P.FormatError), (bytes(2), P.FormatError), (bytes(32), P.FormatError), (bytes(34), P.FormatError),
    (bytes([P.NORM_FIXED]), P.FormatError), (bytes([P.NORM_SESSION]) + bytes(32), P.FormatError),
    (bytes([3]), P.PayloadError), (bytes([255]) + bytes(32), P.PayloadError),
])
def test_set_norm_of_the_wrong_length_or_mode(payload, error):
    with pytest.raises(error, match="SET_NORM"):
        P.SetNorm.from_payload(payload)
