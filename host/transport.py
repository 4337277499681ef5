"""Serial transport: a reader thread that keeps a pyserial port open and feeds a protocol object.

The shape is pyserial's ``serial.threaded``: the thread owns the port, calls
``protocol.connection_made(link)``, then ``protocol.data_received(bytes)`` for every read, and
``protocol.connection_lost(exc)`` when the port goes away. Unlike ``serial.threaded`` the link
does not stop there: a USB board that resets re-enumerates under the same name a moment later,
so the thread retries the open until ``close()`` and starts over with ``connection_made``.

PORT is any pyserial URL: ``/dev/ttyACM0``, ``socket://127.0.0.1:4444`` (QEMU),
``loop://``, a pty path, or a symlink to one.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields

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

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> "SerialLink":
        ser = self._open_first()
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
        try:
            return serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=self.read_timeout,
                                         write_timeout=2.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            self.stats.open_failures += 1
            self.stats.last_error = str(exc)
            return None

    def _open_first(self) -> serial.SerialBase:
        deadline = time.monotonic() + self.open_timeout
        while True:
            ser = self._try_open()
            if ser is not None:
                return ser
            if time.monotonic() >= deadline:
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
