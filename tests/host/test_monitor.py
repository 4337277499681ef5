"""The monitor on frames that pass the CRC but carry impossible values, over a real socket."""
from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from eggemo.host import protocol as P
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
        conn.sendall(b"".join(enc.encode(t, p) for t, p in self.frames))
        self.sent.set()
        self.conn = conn                     # kept open: the monitor's duration ends the session

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


def test_impossible_payload_values_are_counted_and_skipped_and_the_session_goes_on(tmp_path):
    """HELLO fs = 0 used to crash the monitor (ZeroDivisionError), an F0 of +inf ended the session,
    and NaN, negative or zero voiced F0 reached the predictions uncounted."""
    good = [0.0] * 5 + [120.0] * 30 + [0.0] * 5
    board = OneShotBoard([
        (P.MSG_HELLO, hello(0)),
        (P.MSG_HELLO, hello(16000, hop=0)),
        (P.MSG_HELLO, hello(16000)),
        (P.MSG_F0, f0_records(0, [0.0, float("inf"), 0.0])),
        (P.MSG_F0, f0_records(0, [float("nan")])),
        (P.MSG_F0, f0_records(0, [110.0, -110.0])),
        (P.MSG_F0, f0_records(0, [0.0] * 3)[:-1] + b"\x01"),        # voiced, 0 Hz
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
