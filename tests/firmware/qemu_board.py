"""Protocol conversations with the firmware on QEMU's netduinoplus2, over its TCP serial port.

Used by tests/firmware and benchmarks/bench_firmware.py. Building and launching QEMU is
eggemo.host.emulator's job; this module adds what the firmware tests need on top: a reader
thread that feeds every byte from the board into the protocol Decoder (serial/threaded style,
so the board never blocks on a full socket while the host is busy sending), commands with
their ACKs, replayed streams and the byte counters.
"""
from __future__ import annotations

import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import serial

from eggemo.core import proto as P
from eggemo.host.emulator import Emulator, source_root

FIRMWARE = source_root() / "firmware"


@dataclass
class StreamResult:
    f0: np.ndarray                 # F0 records (P.F0_DTYPE), in arrival order
    raw: np.ndarray                # RAW samples, concatenated by index
    status: P.Status               # the STATUS sent after STOP
    acks: list[P.Ack] = field(default_factory=list)
    seconds: float = 0.0           # wall time from first REPLAY to the final STATUS
    emotions: list = field(default_factory=list)   # P.Emotion frames (a firmware built with a model)


class QemuBoard:
    """The firmware on an emulated board. Use as a context manager; QEMU is stopped by its pid."""

    def __init__(self, elf: Path, *, icount: bool = True, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self.emu = Emulator(elf, icount=icount, semihosting=True)
        try:
            self.emu.wait_listening()
            self.ser = serial.serial_for_url(self.emu.url, timeout=0.05)
        except BaseException:
            self.emu.close()
            raise
        self.decoder = P.Decoder()
        self.encoder = P.Encoder()
        self.messages: queue.Queue = queue.Queue()
        self.rx_bytes = 0
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.hello: P.Hello = self._boot_hello(max(60.0, self.timeout))

    def _boot_hello(self, timeout: float) -> P.Hello:
        """The HELLO the board sends at start-up; if none has come within a few seconds, ask for it
        (CMD_GET_HELLO) now and then until `timeout`. Twice a fresh-clone run beside training jobs
        got no byte at all from a booted QEMU for 60 s; a board that answers is a board that works."""
        deadline = time.monotonic() + timeout
        wait = min(5.0, timeout)
        while True:
            try:
                return self.expect(P.Hello, timeout=max(0.01, min(wait, deadline - time.monotonic())))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                self.send(P.CMD_GET_HELLO)

    @property
    def proc(self) -> subprocess.Popen:
        """The QEMU process (tests wait on its exit code, which the firmware sets by semihosting)."""
        return self.emu.proc

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
               block: int = P.RAW_MAX, replay: bool = False, speed: float = 0.0) -> StreamResult:
        """START, replay all samples, STOP; collect everything up to the final STATUS. replay sets
        SET_MODE's REPLAY bit (a board with an ADC then takes the samples instead); speed paces the
        REPLAY frames at x real time (0: all at once, for a board whose link holds bytes back)."""
        for cmd, payload in ((P.CMD_SET_RATE, P.set_rate_payload(fs)),
                             (P.CMD_SET_MODE, P.set_mode_payload(mode, replay)), (P.CMD_START, b"")):
            ack = self.command(cmd, payload)
            if not ack.ok:
                raise RuntimeError(f"board refused command 0x{cmd:02X}: status {ack.status}")
        t0 = time.monotonic()
        frames = [(p, self.encoder.encode(P.CMD_REPLAY, p)) for p in P.replay_frames(samples, 0, block)]
        if speed <= 0:
            self.ser.write(b"".join(w for _, w in frames))
        else:
            for payload, wire in frames:         # each when its first sample is due
                wait = t0 + int.from_bytes(payload[:4], "little") / (fs * speed) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.ser.write(wire)
        stop_seq = self.send(P.CMD_STOP)
        f0, raw, acks, emotions = [], [], [], []
        while True:
            msg = self.get(self.timeout + len(samples) / 16000.0)
            if isinstance(msg, P.Emotion):
                emotions.append(msg)
            elif isinstance(msg, P.F0Block):
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
                            msg, acks, seconds, emotions)

    # --- shutdown -------------------------------------------------------------------

    def close(self) -> int | None:
        self._stop.set()
        try:
            self.ser.close()
        except Exception:
            pass
        rc = self.emu.close()
        self._reader.join(2)
        return rc

    def __enter__(self) -> "QemuBoard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
