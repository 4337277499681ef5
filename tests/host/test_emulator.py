"""QEMU never outlives the host that started it: a `monitor --emulate` killed with SIGKILL (no
finally, no atexit) takes its qemu-system-arm along, and close() ends it too."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eggemo.host.emulator import Emulator, missing_tools

from .conftest import require

WAV = Path(__file__).resolve().parents[1] / "data" / "egg_real" / "M1_FrameSentence_EGG.wav"

pytestmark = pytest.mark.timeout(120)


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, command name) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    state, ppid = text[text.rindex(")") + 2:].split()[:2]
    return int(ppid), state, comm


def _running(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] not in ("Z", "X")      # a zombie no longer runs


def _qemu_children(parent: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = _stat(int(d.name))
            if st is not None and st[0] == parent and st[2].startswith("qemu-system"):
                out.append(int(d.name))
    return out


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _running(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def tools():
    require(not missing_tools(), f"needs {', '.join(missing_tools())}")
    require(Path("/proc/self/stat").is_file(), "needs /proc to find the QEMU process")


def test_sigkill_of_monitor_emulate_takes_qemu_along(tools, tmp_path):
    log = tmp_path / "monitor.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "eggemo.cli", "monitor", "--emulate", str(WAV), "--plain"],
                                stdout=out, stderr=subprocess.STDOUT)
    qemu: list[int] = []
    try:
        deadline = time.monotonic() + 90                   # the first run builds the firmware
        while time.monotonic() < deadline:
            qemu = qemu or _qemu_children(proc.pid)
            if qemu and b"connected to" in log.read_bytes():
                break
            assert proc.poll() is None, log.read_text(errors="replace")
            time.sleep(0.05)
        else:
            pytest.fail(f"monitor --emulate did not start QEMU and connect:\n{log.read_text(errors='replace')}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _gone_within(qemu[0], 5.0), f"qemu-system-arm {qemu[0]} still runs after its monitor was killed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in qemu:                                   # never leave one behind, even on failure
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def test_close_ends_qemu(tools, firmware_elf):
    with Emulator(firmware_elf) as emu:
        emu.wait_listening()
        pid = emu.proc.pid
        in_own_group = os.getpgid(pid) == pid             # so a Ctrl-C reaches the host only
    assert not _running(pid)
    assert in_own_group


def test_ctrl_c_while_monitor_emulate_boots_is_one_line_and_qemu_ends(tools, tmp_path):
    """SIGINT early in `monitor --emulate` (QEMU starting, the link coming up) used to be able to
    print a KeyboardInterrupt traceback; it must say 'interrupted', exit 130 and take QEMU along."""
    proc = subprocess.Popen([sys.executable, "-m", "eggemo.cli", "monitor", "--emulate", str(WAV), "--plain"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as from a terminal, even when the suite runs in the background with
                            # SIGINT ignored (the child would inherit that)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    qemu: list[int] = []
    try:
        deadline = time.monotonic() + 90                   # the first run builds the firmware
        while time.monotonic() < deadline and not qemu:
            qemu = _qemu_children(proc.pid)
            assert proc.poll() is None
            time.sleep(0.02)
        assert qemu, "monitor --emulate did not start QEMU"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err
        # Before the session starts Ctrl-C interrupts (130); once monitor.run() has begun, which a
        # slow machine can reach before the signal lands, it is the live monitor's normal way to
        # end: the summary line and 0, and what the recording did not give is said as a note of the
        # user's stop, not as a failure (CI once caught the signal before the board's HELLO and
        # exited 1). Either way no traceback and no QEMU left behind.
        if proc.returncode == 130:
            assert "eggemo monitor: interrupted" in err, err
        else:
            assert proc.returncode == 0 and "eggemo monitor: 0 predictions; link" in err, err
            if "was streamed" in err:
                assert "stopped by Ctrl-C before the end; nothing of" in err, err
        assert _gone_within(qemu[0], 5.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in qemu:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
