"""The monitor on frames that pass the CRC but carry impossible values, over a real socket."""
from __future__ import annotations

import io
import socket
import struct
import threading
import time

import numpy as np
import pytest

from eggemo.cli import main
from eggemo.core import proto as P
from eggemo.host.display import PlainDisplay
from eggemo.host.monitor import Monitor, MonitorOptions
from eggemo.host.record import Recorder, read_recording

pytestmark = pytest.mark.timeout(60)


def hello(fs: int, hop: int = 160, frame: int = 640) -> bytes:
    return P.Hello((0, 1, 0), P.BOARD_QEMU, fs, hop, frame, P.MODE_F0, True, P.COST_INSTRUCTIONS,
                   168_000_000).to_payload()


def f0_records(first: int, f0_hz: list[float]) -> bytes:
    rec = np.zeros(len(f0_hz), P.F0_DTYPE)
    rec["index"] = np.arange(first, first + len(f0_hz))
    rec["f0_hz"] = f0_hz
    rec["voiced"] = [1 if f != 0 else 0 for f in f0_hz]
    rec["periodicity"], rec["energy_db"] = 0.9, -20.0
    return rec.tobytes()


def voiced_at_zero_hz() -> bytes:
    """Three unvoiced records of 0 Hz, the last one's voiced byte (offset 16) set."""
    b = bytearray(f0_records(0, [0.0] * 3))
    b[2 * P.F0_RECORD_LEN + 16] = 1
    return bytes(b)


class OneShotBoard:
    """A TCP server that answers the monitor's first command with the given frames and keeps the line open."""

    def __init__(self, frames: list[tuple[int, bytes]]) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.frames = frames
        self.sent = threading.Event()
        self.conn: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        conn.recv(64)                        # the monitor's GET_HELLO: it is reading now (pyserial's
        enc = P.Encoder()                    # socket:// drops what arrives while it opens)
        conn.sendall(b"".join(enc.encode(t, p) if isinstance(t, int) else t for t, p in self.frames))
        self.sent.set()
        self.conn = conn                     # kept open: the monitor's duration ends the session

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


def test_impossible_payload_values_are_counted_and_skipped_and_the_session_goes_on(tmp_path):
    """HELLO fs = 0 used to crash the monitor (ZeroDivisionError), an F0 of +inf ended the session,
    and NaN, negative or zero voiced F0 reached the predictions uncounted."""
    good = [0.0] * 5 + [120.0] * 25 + [0.0] * 5                    # 35 records: one F0 frame
    board = OneShotBoard([
        (P.MSG_HELLO, hello(0)),
        (P.MSG_HELLO, hello(16000, hop=0)),
        (P.MSG_HELLO, hello(16000)),
        (P.MSG_F0, f0_records(0, [0.0, float("inf"), 0.0])),
        (P.MSG_F0, f0_records(0, [float("nan")])),
        (P.MSG_F0, f0_records(0, [110.0, -110.0])),
        (P.MSG_F0, voiced_at_zero_hz()),                            # voiced, 0 Hz
        (P.MSG_F0, f0_records(0, good)),
    ])
    mon = Monitor(board.url, None, MonitorOptions(duration=1.5, status_every_s=10.0),
                  recorder=Recorder(tmp_path / "rec"))
    try:
        mon.run()                                                   # returns: no exception escapes
    finally:
        board.close()
    assert board.sent.is_set()
    c = mon.link_counters()
    assert (c["payload_errors"], c["crc_errors"], c["format_errors"]) == (6, 0, 0)
    rec = read_recording(tmp_path / "rec")
    assert [e["fs"] for e in rec.of_type("hello")] == [16000]
    (f0,) = rec.of_type("f0")                                       # only the good frame reached the pipeline
    assert f0["f0_hz"] == good and rec.of_type("stats")[0]["payload_errors"] == 6


def frame_of_version(version: int, type_: int, seq: int, payload: bytes) -> bytes:
    """A frame as firmware of another protocol version sends it: right CRC, other version byte."""
    body = struct.pack("<BBH", version, type_, seq) + payload
    return P.cobs_encode(body + struct.pack("<H", P.crc16(body))) + b"\x00"


def test_a_board_of_the_old_protocol_version_stops_the_monitor_with_what_to_do(tmp_path, capsys):
    """Version 1 firmware (17-byte F0 records) and this host would misread each other's frames:
    the monitor stops at once and says to reflash the board, instead of waiting forever with
    the frames counted as format errors."""
    old_hello = frame_of_version(1, P.MSG_HELLO, 0, hello(16000))
    old_f0 = frame_of_version(1, P.MSG_F0, 1, bytes(17 * 4))
    board = OneShotBoard([(old_hello, None), (old_f0, None)])
    mon = Monitor(board.url, None, MonitorOptions(duration=20.0, status_every_s=10.0),
                  recorder=Recorder(tmp_path / "rec"))
    try:
        t0 = time.perf_counter()
        mon.run()
        took = time.perf_counter() - t0
    finally:
        board.close()
    assert took < 10.0                                              # not the 20 s duration
    assert mon.error is not None and "protocol version 1, this host speaks 2" in mon.error
    assert "reflash the board" in mon.error and "eggemo flash" in mon.error
    assert mon.hello is None and mon.protocol.counters.format_errors >= 1
    (line,) = read_recording(tmp_path / "rec").of_type("version_mismatch")
    assert (line["board"], line["host"]) == (1, 2) and line["message"] == mon.error


def test_monitor_cli_exits_2_on_a_board_of_another_protocol_version(capsys):
    board = OneShotBoard([(frame_of_version(3, P.MSG_HELLO, 0, hello(16000)), None)])
    try:
        rc = main(["monitor", "--port", board.url, "--duration", "20", "--plain", "--no-reconnect"])
    finally:
        board.close()
    err = capsys.readouterr().err
    assert rc == 2 and "eggemo monitor: the board speaks protocol version 3, this host speaks 2" in err
    assert "update the host" in err and "Traceback" not in err


def test_a_silent_board_gets_a_hint_once(tmp_path):
    """A board of the old protocol version that booted before the host listened says nothing (it drops
    the host's GET_HELLO): after hello_hint_s the monitor says what may be wrong, once, and goes on."""
    board = OneShotBoard([])
    out = io.StringIO()
    mon = Monitor(board.url, None, MonitorOptions(duration=2.0, status_every_s=10.0, hello_hint_s=0.5),
                  recorder=Recorder(tmp_path / "rec"), display=PlainDisplay(out, stats_every_s=0))
    try:
        mon.run()
    finally:
        board.close()
    text = out.getvalue()
    assert text.count("no answer from the board") == 1 and "reflash it" in text
    assert mon.error is None                                        # a hint, not a verdict
    assert len(read_recording(tmp_path / "rec").of_type("silent")) == 1


def test_a_rejected_hello_is_said_as_such_not_as_a_silent_board(tmp_path):
    """A board whose only HELLO fails its checks did answer: the monitor used to wait and then say
    "no answer from the board ... reflash it", as if nothing had come. It says which HELLO was
    rejected and why, once, and keeps waiting for a valid one."""
    board = OneShotBoard([(P.MSG_HELLO, hello(0))])
    out = io.StringIO()
    mon = Monitor(board.url, None, MonitorOptions(duration=1.5, status_every_s=10.0, hello_hint_s=0.5),
                  recorder=Recorder(tmp_path / "rec"), display=PlainDisplay(out, stats_every_s=0))
    try:
        mon.run()
    finally:
        board.close()
    text = out.getvalue()
    assert "no answer" not in text
    assert text.count("its HELLO was rejected: HELLO with fs 0 Hz") == 1
    assert "nothing is streamed" in text and "make -C firmware BOARD=stm32f405" in text
    assert mon.link_counters()["payload_errors"] == 1 and mon.hello is None and mon.error is None
    (line,) = read_recording(tmp_path / "rec").of_type("hello_rejected")
    assert "fs 0 Hz" in line["error"]


def test_a_board_that_changes_its_rate_mid_recording_does_not_end_the_session(tmp_path):
    """egg.wav holds one rate; a board whose HELLO comes back at another rate (reflashed, or another
    board on the same port) used to end the monitor with the recorder's ValueError (exit 2). The
    samples at the new rate are left out of egg.wav, said once, and the session goes on."""
    raw = np.arange(160, dtype=np.int16)
    board = OneShotBoard([
        (P.MSG_HELLO, hello(16000)),
        (P.MSG_RAW, P.pack_samples(0, raw)),
        (P.MSG_HELLO, hello(8000, hop=80, frame=320)),
        (P.MSG_RAW, P.pack_samples(160, raw[:80])),
        (P.MSG_RAW, P.pack_samples(240, raw[:80])),
        (P.MSG_F0, f0_records(0, [0.0] * 3)),
    ])
    out = io.StringIO()
    mon = Monitor(board.url, None, MonitorOptions(duration=1.5, status_every_s=10.0),
                  recorder=Recorder(tmp_path / "rec"), display=PlainDisplay(out, stats_every_s=0))
    try:
        mon.run()                                                   # returns: no exception escapes
    finally:
        board.close()
    rec = read_recording(tmp_path / "rec")
    assert rec.fs == 16000 and np.array_equal(rec.egg, raw)
    lines = rec.of_type("raw")
    assert [(e["first"], e["wav_sample"]) for e in lines] == [(0, 0), (160, None), (240, None)]
    assert out.getvalue().count("switched from 16000 Hz to 8000 Hz") == 1
    assert len(rec.of_type("f0")) == 1                              # what came after still arrived
