"""Build the firmware and run it on QEMU's netduinoplus2, talking over a TCP serial port.

Used by tests/firmware and benchmarks/bench_firmware.py. A reader thread feeds every
byte from the board into the protocol Decoder (serial/threaded style), so the board
never blocks on a full socket while the host is busy sending.
"""
from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import serial

from eggemo.host import protocol as P

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm", "make")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def build_firmware(build_dir: Path, board: str = "qemu") -> tuple[Path, str]:
    """make -C firmware BOARD=board BUILD=build_dir; returns (ELF path, make's output)."""
    cmd = ["make", "-C", str(FIRMWARE), f"BOARD={board}", f"BUILD={Path(build_dir).resolve()}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"firmware build failed ({' '.join(cmd)}):\n{res.stdout}\n{res.stderr}")
    return Path(build_dir).resolve() / "eggemo.elf", res.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StreamResult:
    f0: np.ndarray                 # F0 records (P.F0_DTYPE), in arrival order
    raw: np.ndarray                # RAW samples, concatenated by index
    status: P.Status               # the STATUS sent after STOP
    acks: list[P.Ack] = field(default_factory=list)
    seconds: float = 0.0           # wall time from first REPLAY to the final STATUS


class QemuBoard:
    """The firmware on an emulated board. Use as a context manager; QEMU is stopped by its pid."""

    def __init__(self, elf: Path, *, icount: bool = True, timeout: float = 20.0) -> None:
        self.elf = Path(elf)
        self.timeout = timeout
        self.port = _free_port()
        cmd = ["qemu-system-arm", "-M", "netduinoplus2", "-nographic", "-monitor", "none",
               "-kernel", str(self.elf),
               "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on",
               "-semihosting-config", "enable=on,target=native"]
        if icount:
            cmd += ["-icount", "shift=0"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.ser = self._connect()
        self.decoder = P.Decoder()
        self.encoder = P.Encoder()
        self.messages: queue.Queue = queue.Queue()
        self.rx_bytes = 0
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.hello: P.Hello = self.expect(P.Hello)

    def _connect(self) -> serial.SerialBase:
        deadline = time.monotonic() + 10.0
        while True:
            try:
                return serial.serial_for_url(f"socket://127.0.0.1:{self.port}", timeout=0.05)
            except serial.SerialException:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                    raise RuntimeError(f"QEMU did not open its serial port {self.port}: {out}")
                time.sleep(0.02)

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.ser.read(max(1, self.ser.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError):
                return  # closed under us
            if not data:
                if self.proc.poll() is not None:
                    return
                continue
            self.rx_bytes += len(data)
            for frame in self.decoder.feed(data):
                self.messages.put(P.parse(frame))

    # --- sending --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def send(self, type_: int, payload: bytes = b"") -> int:
        """Send one command frame; returns its sequence number."""
        seq = self.encoder.seq
        self.ser.write(self.encoder.encode(type_, payload))
        return seq

    # --- receiving ------------------------------------------------------------------

    def get(self, timeout: float | None = None):
        try:
            return self.messages.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise TimeoutError(f"no frame from the board within {timeout or self.timeout} s "
                               f"(QEMU {'running' if self.proc.poll() is None else 'exited'}; "
                               f"decoder {self.decoder.stats.as_dict()})") from None

    def expect(self, kind: type, timeout: float | None = None):
        """The next message of type kind; others are skipped."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msg = self.get(max(0.01, deadline - time.monotonic()))
            if isinstance(msg, kind):
                return msg

    def command(self, type_: int, payload: bytes = b"") -> P.Ack:
        """Send a command and return its ACK (other frames in between are skipped)."""
        seq = self.send(type_, payload)
        while True:
            ack = self.expect(P.Ack)
            if ack.seq == seq and ack.command == type_:
                return ack

    def status(self) -> P.Status:
        self.send(P.CMD_GET_STATUS)
        return self.expect(P.Status)

    def stream(self, samples: np.ndarray, *, mode: int = P.MODE_F0, fs: int = 16000,
               block: int = P.RAW_MAX) -> StreamResult:
        """START, replay all samples, STOP; collect everything up to the final STATUS."""
        for cmd, payload in ((P.CMD_SET_RATE, P.set_rate_payload(fs)),
                             (P.CMD_SET_MODE, P.set_mode_payload(mode)), (P.CMD_START, b"")):
            ack = self.command(cmd, payload)
            if not ack.ok:
                raise RuntimeError(f"board refused command 0x{cmd:02X}: status {ack.status}")
        t0 = time.monotonic()
        wire = b"".join(self.encoder.encode(P.CMD_REPLAY, p) for p in P.replay_frames(samples, 0, block))
        self.ser.write(wire)
        stop_seq = self.send(P.CMD_STOP)
        f0, raw, acks = [], [], []
        while True:
            msg = self.get(self.timeout + len(samples) / 16000.0)
            if isinstance(msg, P.F0Block):
                f0.append(msg.records)
            elif isinstance(msg, P.SampleBlock):
                raw.append(msg)
            elif isinstance(msg, P.Ack):
                acks.append(msg)
            elif isinstance(msg, P.Status) and any(a.seq == stop_seq for a in acks):
                break
        seconds = time.monotonic() - t0
        raw_samples = (np.concatenate([b.samples for b in sorted(raw, key=lambda b: b.first)])
                       if raw else np.zeros(0, np.int16))
        return StreamResult(np.concatenate(f0) if f0 else np.zeros(0, P.F0_DTYPE), raw_samples,
                            msg, acks, seconds)

    # --- shutdown -------------------------------------------------------------------

    def close(self) -> int | None:
        self._stop.set()
        try:
            self.ser.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, 9)
                self.proc.wait(5)
        self._reader.join(2)
        return self.proc.returncode

    def __enter__(self) -> "QemuBoard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
