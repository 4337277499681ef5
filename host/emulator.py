"""The firmware on QEMU's netduinoplus2, and a feeder that streams a recording into it.

    elf = build_firmware()                       # make -C firmware BOARD=qemu (incremental)
    with Emulator(elf) as emu:                   # qemu-system-arm, serial on a TCP port
        url = emu.url                            # socket://127.0.0.1:PORT for the monitor

The emulated board has no ADC: its EGG comes in over the serial link as REPLAY frames, which
``Feeder`` sends (paced at real time, or faster) through the same link the monitor reads.
Facts from docs and measurement: ``wait=on`` holds the CPU until the host connects, so HELLO is
never lost; ``nodelay=on`` avoids a 40 ms Nagle stall per reply; QEMU is stopped by its pid.
QEMU never outlives the host: it runs in its own process group, which ``close()`` ends, and
the kernel kills it when the host dies (PR_SET_PDEATHSIG), SIGKILL included.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from eggemo.core import proto as P

TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm", "make")
EMULATED_BOARD = "qemu"     # firmware/boards/qemu: what --emulate builds and boots


def source_root() -> Path:
    """The source checkout (firmware/ lives beside the eggemo package there, not in a wheel)."""
    return Path(__file__).resolve().parents[1]


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def build_firmware(build_dir: str | Path | None = None, board: str = EMULATED_BOARD,
                   model: str | Path | None = None) -> Path:
    """make -C firmware BOARD=board [BUILD=build_dir] [MODEL=model]; returns the ELF. make rebuilds
    only what changed. With `model` (an `eggemo export` folder) the board classifies utterances itself."""
    return make_firmware(build_dir, board, model)[0]


def make_firmware(build_dir: str | Path | None = None, board: str = EMULATED_BOARD,
                  model: str | Path | None = None) -> tuple[Path, str]:
    """As build_firmware, and also returns make's output (the firmware tests read the size report)."""
    missing = missing_tools()
    if missing:
        raise RuntimeError(f"building the firmware needs {', '.join(missing)}: apt-get install gcc-arm-none-eabi "
                           f"libnewlib-arm-none-eabi qemu-system-arm")
    fw = source_root() / "firmware"
    if not (fw / "Makefile").is_file():
        raise RuntimeError(f"no firmware sources at {fw}: --emulate works from a source checkout of eggemo")
    cmd = ["make", "-C", str(fw), f"BOARD={board}"]
    if build_dir is not None:
        cmd.append(f"BUILD={Path(build_dir).resolve()}")
    if model is not None:
        cmd += [f"MODEL={Path(model).resolve()}", f"PYTHON={sys.executable}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"firmware build failed ({' '.join(cmd)}):\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    out = Path(build_dir).resolve() if build_dir is not None else fw / f"build-{board}{'-model' if model else ''}"
    return out / "eggemo.elf", res.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """qemu-system-arm running the firmware, its first USART on 127.0.0.1:port (TCP server)."""

    def __init__(self, elf: str | Path, *, port: int | None = None, icount: bool = True,
                 semihosting: bool = True) -> None:
        self.elf = Path(elf)
        if not self.elf.is_file():
            raise FileNotFoundError(f"firmware image {self.elf} not found; build it with "
                                    f"`make -C firmware BOARD=qemu`")
        from eggemo import boards
        from eggemo.flash import elf_board

        # the machine is the one the image's board names ([qemu] of its board.toml); an image that names
        # no board (a .bin, the bytes a probe writes) runs on the QEMU board's
        board = boards.board(elf_board(self.elf) or EMULATED_BOARD)
        if board.qemu_machine is None:
            raise ValueError(f"{self.elf} was built for BOARD={board.name}, not for QEMU (its board.toml has no "
                             f"[qemu] machine); build the emulator image with `make -C firmware BOARD={EMULATED_BOARD}`")
        self.port = port or free_port()
        cmd = ["qemu-system-arm", "-M", board.qemu_machine, "-nographic", "-monitor", "none",
               "-kernel", str(self.elf),
               "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on"]
        if semihosting:
            cmd += ["-semihosting-config", "enable=on,target=native"]
        if icount:
            cmd += ["-icount", "shift=0"]
        self.cmd = cmd
        # QEMU must not outlive this process, however it ends: in its own process group (a Ctrl-C
        # reaches the host only, which stops the stream and then QEMU; close() ends the group), and
        # with a parent-death signal, so a SIGKILLed host (no finally, no atexit) takes it along.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_die_with_parent())

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def wait_listening(self, timeout: float = 10.0, interrupted: Callable[[], bool] | None = None) -> None:
        """Until QEMU accepts connections -- without connecting (wait=on takes the first client).
        KeyboardInterrupt as soon as `interrupted()` says a Ctrl-C came, however it was handled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if interrupted is not None and interrupted():
                raise KeyboardInterrupt
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise RuntimeError(f"QEMU exited with {self.proc.returncode}: {out[-2000:]}")
            if _listening(self.port):
                return
            time.sleep(0.01)
        raise RuntimeError(f"QEMU did not open its serial port {self.port} within {timeout} s")

    def close(self) -> int | None:
        if self.proc.poll() is None:
            _kill_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


PR_SET_PDEATHSIG = 1    # linux/prctl.h


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that has the kernel SIGKILL the child when this process dies (Linux; None
    elsewhere). The signal follows the thread that started the child: start QEMU from the
    main thread or one that lives as long as the emulator (the monitor and the tests do)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)     # looked up before the fork, called after it
    parent = os.getpid()

    def set_pdeathsig() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:               # the parent died before prctl took effect
            os._exit(1)

    return set_pdeathsig


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)                      # QEMU leads its own process group
    except ProcessLookupError:
        pass


def _listening(port: int) -> bool:
    """True if something listens on 127.0.0.1:port, by reading /proc/net/tcp (no connection)."""
    want = f":{port:04X}"
    try:
        with open("/proc/net/tcp") as fh:
            next(fh)
            return any(p[1].endswith(want) and p[3] == "0A" for p in (line.split() for line in fh))
    except OSError:
        return True  # no /proc: let the connect retries find out


def load_egg(path: str | Path, fs: int = 16000, channel: int | None = None) -> np.ndarray:
    """An EGG recording as int16 at fs. channel is 1-based; by default the last one (the
    corpus convention: speech in channel 1, EGG in channel 2)."""
    from scipy.signal import resample_poly

    from eggemo.wavio import read_wav

    rate, x = read_wav(path)
    ch = x.shape[1] if channel is None else channel
    if not 1 <= ch <= x.shape[1]:
        raise ValueError(f"{path} has {x.shape[1]} channel(s); --egg-channel {channel} is not one of them")
    sig = x[:, ch - 1].astype(np.float64)
    if rate != fs:
        g = np.gcd(int(rate), int(fs))
        sig = resample_poly(sig, fs // g, rate // g)
    return np.clip(np.round(sig * 32768.0), -32768, 32767).astype(np.int16)


class Feeder:
    """Streams int16 samples as REPLAY frames through ``send(type, payload) -> ok``, ``speed`` x
    real time (0 = as fast as the link takes them). Runs in its own thread; ``on_done`` is called
    after the last sample was sent, and ``done`` is set when the thread ends."""

    def __init__(self, samples: np.ndarray, send: Callable[[int, bytes], bool], *, fs: int = 16000,
                 speed: float = 1.0, block: int = 160, on_done: Callable[[], None] | None = None) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.samples = np.ascontiguousarray(samples, np.int16)
        if not 1 <= block <= P.RAW_MAX:
            raise ValueError(f"block of {block} samples: use 1..{P.RAW_MAX}")
        self.send = send
        self.fs = fs
        self.speed = speed
        self.block = block
        self.on_done = on_done
        self.sent = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> "Feeder":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def _run(self) -> None:
        t0 = time.perf_counter()
        n = len(self.samples)
        pos = 0
        while pos < n and not self._stop.is_set():
            if self.speed > 0:
                due = t0 + pos / (self.fs * self.speed)
                wait = due - time.perf_counter()
                if wait > 0:
                    self._stop.wait(wait)
            chunk = self.samples[pos:pos + self.block]
            if not self.send(P.CMD_REPLAY, P.pack_samples(pos, chunk)):
                break  # the link went down: this stream is over
            pos += len(chunk)
            self.sent = pos
        if pos >= n and self.on_done is not None:
            self.on_done()
        self.done.set()
