"""The reader thread over real pyserial transports: loop:// and socket:// (with a reconnect)."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from eggemo.core import proto as P
from eggemo.host.link import Arrival, LinkDown, LinkUp, MessageProtocol
from eggemo.host.transport import PortError, SerialLink


def drain(q, n: int, timeout: float = 5.0) -> list:
    out, deadline = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        try:
            out.append(q.get(timeout=0.05))
        except Exception:
            pass
    return out


def test_loop_url_frames_arrive_decoded():
    proto = MessageProtocol()
    with SerialLink("loop://", proto) as link:
        enc = P.Encoder()
        wire = b"".join(enc.encode(P.MSG_ACK, P.Ack(P.CMD_START, i, 0).to_payload()) for i in range(3))
        assert link.write(b"\x13garbage\x00" + wire)
        items = drain(proto.queue, 4)
    assert isinstance(items[0], LinkUp)
    assert [i.message.seq for i in items[1:]] == [0, 1, 2] and all(isinstance(i, Arrival) for i in items[1:])
    assert proto.counters.format_errors == 1 and link.stats.bytes_in == len(wire) + 9


def test_socket_reconnects_after_the_server_drops(tmp_path):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    conns = []

    def serve(n: int) -> None:
        for i in range(n):
            c, _ = srv.accept()
            time.sleep(0.2)      # pyserial's socket:// discards what is waiting right after its connect
            c.sendall(P.encode_frame(P.MSG_ACK, i, P.Ack(P.CMD_STOP, i, 0).to_payload()))
            conns.append(c)

    t = threading.Thread(target=serve, args=(2,), daemon=True)
    t.start()
    proto = MessageProtocol()
    link = SerialLink(f"socket://127.0.0.1:{port}", proto, retry_s=0.05).start()
    try:
        first = drain(proto.queue, 2, timeout=30.0)     # generous: CI under load once took over 5 s
        assert conns, f"the server never sent its first frame; the link saw {first}"
        conns[0].close()                        # the board goes away ...
        second = drain(proto.queue, 3, timeout=30.0)    # ... and comes back
    finally:
        link.close()
        srv.close()
        for c in conns:
            c.close()
    assert [type(i) for i in first] == [LinkUp, Arrival]
    assert [type(i) for i in second] == [LinkDown, LinkUp, Arrival]
    assert second[0].error and second[2].message.seq == 1 and link.stats.reconnects == 1


def test_a_port_that_does_not_open_says_what_to_check(tmp_path):
    with pytest.raises(PortError, match="plugged in"):
        SerialLink(str(tmp_path / "ttyNONE"), MessageProtocol()).start()
    link = SerialLink("loop://", MessageProtocol())
    assert link.write(b"x") is False and link.stats.writes_dropped == 1   # not open yet: counted
