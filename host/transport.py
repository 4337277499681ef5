"""Serial transport: a reader thread that keeps a pyserial port open and feeds a protocol object.

The shape is pyserial's ``serial.threaded``: the thread owns the port, calls
``protocol.connection_made(link)``, then ``protocol.data_received(bytes)`` for every read, and
``protocol.connection_lost(exc)`` when the port goes away. Unlike ``serial.threaded`` the link
does not stop there: a USB board that resets re-enumerates under the same name a moment later,
so the thread retries the open until ``close()`` and starts over with ``connection_made``.

PORT is any pyserial URL: ``/dev/ttyACM0``, ``socket://127.0.0.1:4444`` (QEMU),
``loop://``, a pty path, or a symlink to one.

One port, one owner: two readers of a serial port each get some of its bytes, so both lose
frames and neither says why. The link holds a ``PortLock`` from ``start()`` to ``close()``
(through every reconnection): an flock on a file named after the port in the temp folder,
which holds the owner's pid and command line, so a second monitor is told which process has
the port. A device path is also opened with an exclusive flock of its own (pyserial
``exclusive=True``), which keeps out any other program that asks for one.
"""
from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

import serial

# What a port that disappears raises: pyserial wraps most errors in SerialException, but a pty
# whose master closed can raise OSError (EIO) and a socket URL socket errors.
PORT_ERRORS = (serial.SerialException, OSError)


class Protocol:
    """Receives what the link reads. Called from the reader thread; keep the work short."""

    def connection_made(self, link: "SerialLink") -> None:
        """The port is open (again)."""

    def data_received(self, data: bytes) -> None:
        """Bytes as they arrived, in any chunking."""

    def connection_lost(self, exc: BaseException | None) -> None:
        """The port closed: exc is the error, or None when close() was called."""


@dataclass
class LinkStats:
    bytes_in: int = 0
    bytes_out: int = 0
    writes_dropped: int = 0     # write() calls made while the port was down
    connects: int = 0           # successful opens (the first one included)
    open_failures: int = 0      # failed open attempts (while waiting for the port)
    last_error: str = ""

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)

    def as_dict(self) -> dict[str, int | str]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "reconnects": self.reconnects}


class PortError(RuntimeError):
    """The port could not be opened; the message says which and what to check."""


def is_device(url: str) -> bool:
    """A device path (a tty, a pty, a symlink to one), not a pyserial URL such as socket://."""
    return "://" not in url


def port_key(url: str) -> str | None:
    """What identifies the port behind url, the same for every spelling of it: a device's real
    path (symlinks resolved), a socket's numeric address and port. None for ports no one else
    can share (loop://) and URL kinds this does not know."""
    if is_device(url):
        return os.path.realpath(url)
    m = re.match(r"^(socket|rfc2217)://([^:/?]+|\[[^\]]+\]):(\d+)", url, re.IGNORECASE)
    if m is None:
        return None
    host = m.group(2).strip("[]").lower()
    try:
        host = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
    except (OSError, UnicodeError):
        pass
    return f"{m.group(1).lower()}://{host}:{m.group(3)}"


class PortLock:
    """An exclusive flock on ``<tempdir>/eggemo-port-<key>.lock`` while one process uses the port.
    The file says who holds it (pid and command line); the kernel drops the lock when that
    process ends however it ends, so a stale file never blocks anyone."""

    def __init__(self, key: str, folder: str | Path | None = None) -> None:
        self.key = key
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")
        self.path = Path(folder or tempfile.gettempdir()) / f"eggemo-port-{name}.lock"
        self._fd: int | None = None

    @classmethod
    def for_url(cls, url: str) -> "PortLock | None":
        key = port_key(url)
        return None if key is None else cls(key)

    def acquire(self) -> bool:
        """True once held (or when no lock file can be made here: then the OS's own checks stand
        alone); False while another process holds it."""
        import fcntl

        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:              # made by another user without write access for us
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except OSError:
                return True
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:                      # a file system without flock
            os.close(fd)
            return True
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n{' '.join(sys.argv)}\n".encode())
        except OSError:                      # read-only for us: held all the same, just unsigned
            pass
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)               # closing drops the flock
            self._fd = None

    def owner(self) -> tuple[int | None, str]:
        """(pid, command line) of the holder, as its file says; (None, "") when it says nothing."""
        try:
            pid, _, cmd = self.path.read_text(errors="replace").partition("\n")
            return int(pid), cmd.strip()
        except (OSError, ValueError):
            return None, ""

    def busy_message(self, url: str) -> str:
        pid, cmd = self.owner()
        who = "another process" if pid is None else f"another process (pid {pid}{f': {cmd}' if cmd else ''})"
        stop = "stop it" if pid is None else f"stop it (kill {pid})"
        return (f"{url} is in use by {who}. Two readers of one port each get part of its bytes, so both lose "
                f"frames: {stop} and try again (lock file {self.path})")


class SerialLink:
    """A pyserial URL kept open by a reader thread, reopened after every loss while ``reconnect``.

    ``start()`` waits for the first open up to ``open_timeout`` seconds and raises PortError if
    it fails; later losses are retried every ``retry_s`` until ``close()``.
    """

    def __init__(self, url: str, protocol: Protocol, *, baudrate: int = 921600, reconnect: bool = True,
                 retry_s: float = 0.1, open_timeout: float = 0.0, read_timeout: float = 0.02) -> None:
        self.url = url
        self.protocol = protocol
        self.baudrate = baudrate
        self.reconnect = reconnect
        self.retry_s = retry_s
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.stats = LinkStats()
        self._ser: serial.SerialBase | None = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.lock = PortLock.for_url(url)       # held from start() to close()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> "SerialLink":
        try:
            ser = self._open_first()
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise
        self._thread = threading.Thread(target=self._run, args=(ser,), name=f"serial-reader {self.url}",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        ser = self._ser
        if ser is not None:
            try:
                ser.cancel_read()
            except Exception:  # not every port type can cancel a read; the timeout ends it anyway
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        if self.lock is not None and (self._thread is None or not self._thread.is_alive()):
            self.lock.release()

    def __enter__(self) -> "SerialLink":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # --- writing ------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """Send bytes; False (and counted) when the port is down. Safe from any thread."""
        with self._write_lock:
            ser = self._ser
            if ser is None:
                self.stats.writes_dropped += 1
                return False
            try:
                ser.write(data)
            except PORT_ERRORS as exc:  # the reader thread notices the loss too
                self.stats.last_error = str(exc)
                self.stats.writes_dropped += 1
                return False
            self.stats.bytes_out += len(data)
            return True

    # --- reader thread ------------------------------------------------------------------

    def _try_open(self) -> serial.SerialBase | None:
        # a device path gets pyserial's exclusive flock too: it also keeps out other programs that ask
        extra = {"exclusive": True} if is_device(self.url) and os.name == "posix" else {}
        try:
            return serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=self.read_timeout,
                                         write_timeout=2.0, **extra)
        except (serial.SerialException, OSError, ValueError) as exc:
            self.stats.open_failures += 1
            self.stats.last_error = str(exc)
            return None

    def _open_first(self) -> serial.SerialBase:
        deadline = time.monotonic() + self.open_timeout
        while self.lock is not None and not self.lock.acquire():
            if time.monotonic() >= deadline:
                raise PortError(self.lock.busy_message(self.url))
            time.sleep(self.retry_s)
        while True:
            ser = self._try_open()
            if ser is not None:
                return ser
            if time.monotonic() >= deadline:
                if "exclusively lock" in self.stats.last_error:
                    raise PortError(f"{self.url} is in use by another program, which holds its lock "
                                    f"({self.stats.last_error}). Two readers of one port each get part of its "
                                    f"bytes: close that program (`fuser -v {self.url}` names it) and try again")
                raise PortError(f"cannot open {self.url!r}: {self.stats.last_error}. Check that the board is "
                                f"plugged in and the name is right (a device path like /dev/ttyACM0, or a "
                                f"pyserial URL such as socket://127.0.0.1:4444 or loop://)")
            time.sleep(self.retry_s)

    def _run(self, ser: serial.SerialBase | None) -> None:
        while not self._stop.is_set():
            if ser is None:
                ser = self._try_open()
                if ser is None:
                    self._stop.wait(self.retry_s)
                    continue
            exc = self._serve(ser)
            ser = None
            if not self.reconnect:
                break

    def _serve(self, ser: serial.SerialBase) -> BaseException | None:
        """Read until the port fails or close(); returns the error (None after close())."""
        with self._write_lock:
            self._ser = ser
        self.stats.connects += 1
        self._connected.set()
        exc: BaseException | None = None
        try:
            self.protocol.connection_made(self)
            while not self._stop.is_set():
                data = ser.read(max(1, ser.in_waiting))
                if data:
                    self.stats.bytes_in += len(data)
                    self.protocol.data_received(data)
        except PORT_ERRORS as e:
            exc = e
            self.stats.last_error = str(e)
        finally:
            self._connected.clear()
            with self._write_lock:
                self._ser = None
            try:
                ser.close()
            except Exception:
                pass
        self.protocol.connection_lost(None if self._stop.is_set() else exc)
        return exc
