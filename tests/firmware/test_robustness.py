"""The emulated board under abuse: floods that overflow its RX ring, corrupted and
malformed commands, garbage. Every loss must show up in its counters, exactly, and the
board must keep answering. Expected counts come from the byte stream the board's decoder
sees, decoded by the Python twin, plus explicit arithmetic where it is simple."""
from __future__ import annotations

import re
import struct
from dataclasses import asdict

import numpy as np
import pytest

from eggemo.core import proto as P

from .qemu_board import FIRMWARE, QemuBoard

RX_RING = int(re.search(r"#define EMO_APP_RX_RING (\d+)", (FIRMWARE / "app" / "app.h").read_text()).group(1))


def delta(after: P.Status, before: P.Status) -> dict[str, int]:
    a, b = asdict(after), asdict(before)
    return {k: a[k] - b[k] for k in a}


def replay_wire(enc: P.Encoder, x: np.ndarray, block: int) -> tuple[bytes, list[tuple[int, int, int]]]:
    """REPLAY frames for x and, per frame, (start byte, end byte, samples)."""
    wire, spans = bytearray(), []
    for payload in P.replay_frames(x, 0, block):
        frame = enc.encode(P.CMD_REPLAY, payload)
        spans.append((len(wire), len(wire) + len(frame), (len(payload) - 4) // 2))
        wire += frame
    return bytes(wire), spans


def test_flood_overflows_rx_ring_and_every_loss_is_counted(board):
    """STALL blocks the main loop (as a long job would) while the host floods: the RX
    interrupt fills the ring and counts each byte it must drop; afterwards the board
    resynchronises and the lost replay frames show up as samples_lost."""
    assert board.command(P.CMD_START).ok
    before = board.status()
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(16 * 510) * 3000).astype(np.int16)
    n = 6 * 1024 + 333  # bytes the board lets arrive while blocked
    seq_stall = board.encoder.seq
    stall_wire = board.encoder.encode(P.CMD_STALL, P.stall_payload(n))
    board.write(stall_wire)
    ack = board.expect(P.Ack)
    assert (ack.command, ack.seq, ack.ok) == (P.CMD_STALL, seq_stall, True)
    flood, spans = replay_wire(board.encoder, x, 510)
    assert len(flood) > n + 2000
    board.write(flood[:n])
    at_resume = board.expect(P.Status)  # sent when the n-th byte arrived
    assert at_resume.rx_overflows - before.rx_overflows == n - RX_RING
    board.write(flood[n:])
    stop_wire = board.encoder.encode(P.CMD_STOP)
    board.write(stop_wire)
    after = board.expect(P.Status)
    d = delta(after, before)

    # what the board's decoder saw: the ring's first RX_RING bytes, then the rest
    twin = P.Decoder()
    frames = twin.feed(stall_wire + flood[:RX_RING] + flood[n:] + stop_wire)
    replayed = [f for f in frames if f.type == P.CMD_REPLAY]
    intact = sum((len(f.payload) - 4) // 2 for f in replayed)
    # the same by byte offsets: frames wholly in the ring, or wholly after the frame cut at n
    assert intact == sum(k for start, end, k in spans if end <= RX_RING or start > n)
    assert len(replayed) < len(spans) and twin.stats.crc_errors + twin.stats.format_errors >= 1

    assert d["rx_overflows"] == n - RX_RING
    assert d["rx_bytes"] == len(stall_wire) + len(flood) + len(stop_wire)
    assert d["frames_ok"] == twin.stats.frames
    assert d["crc_errors"] == twin.stats.crc_errors
    assert d["format_errors"] == twin.stats.format_errors
    assert d["seq_lost"] == twin.stats.seq_lost
    assert after.samples_in == intact
    assert after.samples_lost == len(x) - intact
    assert after.samples_dropped == 0 and d["cmd_rejected"] == 0
    assert board.status().rx_overflows == after.rx_overflows  # and it still answers


def corrupt(wire: bytes, at: int) -> bytes:
    """Flip one bit inside a frame without creating or removing a 0x00."""
    b = bytearray(wire)
    for bit in (1, 2, 4, 8, 16, 32, 64, 128):
        if b[at] ^ bit != 0:
            b[at] ^= bit
            return bytes(b)
    raise AssertionError("unreachable")


def test_corrupted_commands_are_rejected_and_board_resyncs(board):
    before = board.status()
    enc = board.encoder
    sent = bytearray()

    def send(wire: bytes) -> None:
        sent.extend(wire)
        board.write(wire)

    # a SET_RATE whose payload bit flipped: CRC error, rate unchanged, no ACK
    bad_rate = corrupt(enc.encode(P.CMD_SET_RATE, P.set_rate_payload(8000)), 6)
    send(bad_rate)
    # garbage with zeros in it, a truncated frame, an overlong frame, a wrong version
    rng = np.random.default_rng(7)
    send(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    send(b"\x00" + enc.encode(P.CMD_GET_STATUS)[:5] + b"\x00")
    send(bytes(rng.integers(1, 256, 2500, dtype=np.uint8)) + b"\x00")
    body = struct.pack("<BBH", 2, P.CMD_GET_HELLO, enc.seq)
    send(P.cobs_encode(body + struct.pack("<H", P.crc16(body))) + b"\x00")
    enc.seq += 1
    # then a clean command is answered
    wire = enc.encode(P.CMD_GET_HELLO)
    send(wire)
    hello = board.expect(P.Hello)
    assert hello.fs == 16000 and not hello.streaming
    after = board.status()
    d = delta(after, before)

    twin = P.Decoder()
    twin.feed(bytes(sent))
    assert twin.stats.crc_errors >= 1 and twin.stats.format_errors >= 3
    assert d["crc_errors"] == twin.stats.crc_errors
    assert d["format_errors"] == twin.stats.format_errors
    assert d["frames_ok"] == twin.stats.frames + 1  # + the GET_STATUS just answered
    assert d["rx_bytes"] == len(sent) + len(enc.encode(P.CMD_GET_STATUS)) and d["rx_overflows"] == 0
    assert d["cmd_rejected"] == 0


@pytest.mark.parametrize("cmd, payload, status", [
    (P.CMD_SET_RATE, P.set_rate_payload(12345), -3),   # EMO_ERR_RATE
    (P.CMD_SET_RATE, b"\x40\x1f", -8),                 # EMO_ERR_FORMAT: 2 bytes
    (P.CMD_SET_MODE, b"\x00", -2),                     # EMO_ERR_PARAM
    (P.CMD_REPLAY, P.pack_samples(0, np.zeros(10, np.int16)), -10),  # EMO_ERR_STATE: not started
    (P.CMD_STOP, b"", -10),                            # EMO_ERR_STATE
    (0x9F, b"", -11),                                  # EMO_ERR_UNSUPPORTED
    (P.MSG_STATUS, b"", -11),                          # a board->host type
])
def test_valid_but_wrong_commands_get_an_error_ack(board, cmd, payload, status):
    before = board.status()
    ack = board.command(cmd, payload)
    assert ack.status == status
    assert delta(board.status(), before)["cmd_rejected"] == 1
    assert board.command(P.CMD_SET_RATE, P.set_rate_payload(8000)).ok  # still accepts good ones


def test_replay_overlap_rejected_gap_counted(board):
    assert board.command(P.CMD_START).ok
    x = np.arange(600, dtype=np.int16)
    board.send(P.CMD_REPLAY, P.pack_samples(0, x[:300]))
    assert board.command(P.CMD_REPLAY, P.pack_samples(100, x[100:200])).status == -2  # overlap
    board.send(P.CMD_REPLAY, P.pack_samples(400, x[400:]))  # samples 300..399 never sent
    assert board.command(P.CMD_STOP).ok
    s = board.expect(P.Status)
    assert (s.samples_in, s.samples_lost, s.cmd_rejected) == (500, 100, 1)


def test_semihosting_exit_ends_qemu_with_the_code(firmware_elf):
    with QemuBoard(firmware_elf) as b:
        b.send(P.CMD_EXIT, P.exit_payload(5))
        assert b.proc.wait(20) == 5


def test_a_whole_recording_sent_at_once_loses_nothing(board):
    """Eight seconds of samples written to the socket in one go, far more than the RX ring
    holds: the QEMU board pauses reception while its ring is full (flow control), so every
    sample arrives and is echoed, whatever the host's speed or load."""
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(8 * 16000) * 4000).astype(np.int16)
    before = board.status()
    res = board.stream(x, mode=P.MODE_RAW)
    d = delta(res.status, before)
    assert d["rx_overflows"] == 0 and d["crc_errors"] == 0 and d["format_errors"] == 0
    assert res.status.samples_in == len(x) and res.status.samples_lost == 0
    assert res.status.samples_dropped == 0
    np.testing.assert_array_equal(res.raw, x)
