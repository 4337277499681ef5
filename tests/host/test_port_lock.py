"""One owner per port: a second monitor on a port that one already reads is refused at once, with
the owner's pid, instead of sharing the bytes (each would lose frames, and on a QEMU socket the
second was told to reflash a board that was fine). Over a pty pair and a TCP socket, with the
first monitor in another process where the pid matters."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import tty

import pytest
import serial

from eggemo.cli import main
from eggemo.host.monitor import Monitor, MonitorOptions
from eggemo.host.transport import PortLock, port_key

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pty_path():
    master, slave = os.openpty()
    tty.setraw(slave)
    yield os.ttyname(slave)
    os.close(slave)
    os.close(master)


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_second_monitor_on_a_pty_is_told_which_process_has_it(pty_path, tmp_path, capsys):
    first = subprocess.Popen([sys.executable, "-c", "import sys; from eggemo.cli import main; "
                              "sys.exit(main(sys.argv[1:]))", "monitor", "--port", pty_path, "--plain",
                              "--duration", "30", "--no-reconnect"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lock = PortLock(port_key(pty_path))
    try:
        wait_for(lambda: lock.owner()[0] == first.pid or first.poll() is not None, 20, "the first monitor")
        assert first.poll() is None, first.stderr.read().decode()
        link = tmp_path / "ttyEGG"                  # another name for the same device
        link.symlink_to(pty_path)
        for port in (pty_path, str(link)):
            t0 = time.monotonic()
            rc = main(["monitor", "--port", port, "--plain", "--duration", "5"])
            err = capsys.readouterr().err
            assert rc == 2 and time.monotonic() - t0 < 4.0
            assert f"{port} is in use by another process (pid {first.pid}: " in err and "monitor --port" in err
            assert f"kill {first.pid}" in err and "Traceback" not in err
        assert first.poll() is None                 # the owner is left alone
    finally:
        first.terminate()
        first.wait(10)
    # its lock went with it: the port is free again
    assert main(["monitor", "--port", pty_path, "--plain", "--duration", "0.3"]) == 0


def test_a_program_holding_the_device_lock_keeps_the_monitor_out(pty_path, capsys):
    with serial.Serial(pty_path, exclusive=True):  # e.g. a terminal program that asks for exclusive use
        rc = main(["monitor", "--port", pty_path, "--plain", "--duration", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{pty_path} is in use by another program, which holds its lock" in err
    assert "fuser" in err and "Traceback" not in err


def test_two_monitors_on_a_qemu_style_socket(capsys):
    """A TCP server that serves one client, as QEMU's -serial tcp:...,server=on does."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    conns = []
    threading.Thread(target=lambda: conns.append(server.accept()[0]), daemon=True).start()
    first = Monitor(f"socket://127.0.0.1:{port}", None, MonitorOptions(duration=20.0, status_every_s=10.0,
                                                                       hello_hint_s=60.0))
    runner = threading.Thread(target=first.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: first.link.connected, 5, "the first monitor to connect")
        rc = main(["monitor", "--port", f"socket://localhost:{port}", "--plain", "--duration", "3"])
        err = capsys.readouterr().err
        assert rc == 2 and f"socket://localhost:{port} is in use by another process (pid {os.getpid()}" in err
        assert first.link.connected and first.link.stats.connects == 1
    finally:
        first.stop()
        runner.join(10)
        for c in conns:
            c.close()
        server.close()
    assert not first.link.connected
