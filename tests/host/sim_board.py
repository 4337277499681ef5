"""A software board on the far end of a real byte link (a pty master, a socket): it speaks the
protocol of docs/protocol.md (HELLO, ACK, STATUS, START/STOP, F0 and RAW frames) and computes
F0 with the C routine the firmware runs (eggemo.core.f0.binding.F0Stream), hop by hop, so frames are
released in the firmware's order. Used where the test is about the host side of the link
(reconnect over ptys, the 10-minute stream benchmark) and QEMU would only add minutes.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

from eggemo.core.f0.binding import F0Stream
from eggemo.core import proto as P


class SimBoard:
    def __init__(self, fd: int, samples: np.ndarray, *, fs: int = 16000, speed: float = 0.0,
                 board: int = P.BOARD_QEMU, flags: int = 0, inject: list | None = None) -> None:
        self.fd = fd
        self.samples = np.ascontiguousarray(samples, np.int16)
        self.fs = fs
        self.speed = speed            # x real time; 0 = as fast as the link takes it
        self.board = board
        self.flags = flags            # HELLO flags; with HELLO_FLAG_MODEL it takes SET_NORM (it sends no EMOTION)
        self.mode = P.MODE_F0
        # a misbehaving board: these CRC-valid (type, payload) frames go out among the F0 frames that
        # carry voiced records, a few after each; a payload may be a function of the next record index
        self.inject = list(inject or [])
        self.injected = 0
        self.sent_samples = 0
        self.decoder = P.Decoder()
        self.tx_seq = 0
        self._lock = threading.Lock()
        self._streaming = threading.Event()
        self._stop = threading.Event()
        self._stream: F0Stream | None = None
        self._threads = [threading.Thread(target=self._rx, daemon=True), threading.Thread(target=self._tx, daemon=True)]

    def start(self) -> "SimBoard":
        self._send(P.MSG_HELLO, self._hello())
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2.0)

    @property
    def finished(self) -> bool:
        return self.sent_samples >= len(self.samples)

    # --- wire -------------------------------------------------------------------------

    def _send(self, type_: int, payload: bytes) -> None:
        with self._lock:
            wire = P.encode_frame(type_, self.tx_seq, payload)
            self.tx_seq = (self.tx_seq + 1) & 0xFFFF
            view = memoryview(wire)
            while view and not self._stop.is_set():
                try:
                    n = os.write(self.fd, view)
                except BlockingIOError:
                    time.sleep(0.001)
                    continue
                view = view[n:]

    def _hello(self) -> bytes:
        hop = self.fs // 100
        return P.Hello((0, 0, 0), self.board, self.fs, hop, 4 * hop, self.mode, self._streaming.is_set(),
                       P.COST_INSTRUCTIONS, 168_000_000, self.flags).to_payload()

    def _status(self) -> bytes:
        return P.Status(samples_in=self.sent_samples, frames_ok=self.decoder.stats.frames,
                        crc_errors=self.decoder.stats.crc_errors).to_payload()

    # --- threads ----------------------------------------------------------------------

    def _rx(self) -> None:
        while not self._stop.is_set():
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                time.sleep(0.002)
                continue
            except OSError:                 # EIO: no one has the other end open (yet)
                time.sleep(0.01)
                continue
            if not data:
                time.sleep(0.002)
                continue
            for f in self.decoder.feed(data):
                self._command(f)

    def _command(self, f: P.Frame) -> None:
        status = 0
        if f.type == P.CMD_GET_HELLO:
            self._send(P.MSG_HELLO, self._hello())
            return
        if f.type == P.CMD_GET_STATUS:
            self._send(P.MSG_STATUS, self._status())
            return
        if f.type == P.CMD_SET_MODE:
            self.mode = f.payload[0]
        elif f.type == P.CMD_SET_RATE:
            pass
        elif f.type == P.CMD_SET_NORM:
            status = 0 if self.flags & P.HELLO_FLAG_MODEL else -11     # as the firmware: only with a model
        elif f.type == P.CMD_REPLAY:
            status = -11              # it samples on its own, as firmware from before SET_MODE's REPLAY bit
        elif f.type == P.CMD_START:
            self._stream = F0Stream(self.fs)
            self.sent_samples = 0
            self._streaming.set()
        elif f.type == P.CMD_STOP:
            self._streaming.clear()
            self._emit_f0(self._stream.flush() if self._stream else None)
            self._send(P.MSG_ACK, P.Ack(f.type, f.seq, 0).to_payload())
            self._send(P.MSG_STATUS, self._status())
            return
        else:
            status = -6
        self._send(P.MSG_ACK, P.Ack(f.type, f.seq, status).to_payload())

    def _emit_f0(self, cols) -> None:
        if cols is None or len(cols[0]) == 0:
            return
        # the columns of eggemo.core.f0.binding.frames_to_arrays: every field of emo_f0_frame_t
        rec = np.zeros(len(cols[0]), P.F0_DTYPE)
        for name, col in zip(("index", "f0_hz", "voiced", "periodicity", "energy_db", "cq", "jitter", "shimmer"),
                             cols, strict=True):
            rec[name] = col
        for i in range(0, len(rec), P.F0_PER_FRAME):
            part = rec[i:i + P.F0_PER_FRAME]
            self._send(P.MSG_F0, P.pack_f0(part))
            for _ in range(3 if part["voiced"].any() else 0):
                if self.injected < len(self.inject):
                    type_, payload = self.inject[self.injected]
                    self._send(type_, payload(int(part["index"][-1]) + 1) if callable(payload) else payload)
                    self.injected += 1

    def _tx(self) -> None:
        hop = self.fs // 100
        t0 = None
        while not self._stop.is_set():
            if not self._streaming.wait(0.02):
                t0 = None
                continue
            pos = self.sent_samples
            if pos >= len(self.samples):
                time.sleep(0.01)
                continue
            if t0 is None:
                t0 = time.perf_counter() - pos / self.fs / max(self.speed, 1e-9)
            if self.speed > 0:
                wait = t0 + (pos + hop) / (self.fs * self.speed) - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            block = self.samples[pos:pos + hop]
            if self.mode & P.MODE_RAW:
                self._send(P.MSG_RAW, P.pack_samples(pos, block))
            if self.mode & P.MODE_F0 and self._stream is not None:
                self._emit_f0(self._stream.push(block))
            self.sent_samples = pos + len(block)
