"""Unplug and replug over a pty pair: the board end (the pty master) is closed, the device node
disappears, and a new pty appears under the same name (a symlink, as udev's /dev/serial/by-id
names do when a USB board re-enumerates). The monitor keeps its recording open, retries,
resumes, and marks the gap."""
from __future__ import annotations

import os
import threading
import time
import tty

import numpy as np
import pytest

from eggemo.eggsynth import contour, synth_egg
from eggemo.core import proto as P
from eggemo.host.monitor import Monitor, MonitorOptions
from eggemo.host.record import Recorder, read_recording

from .conftest import FS, to_int16
from .sim_board import SimBoard

pytestmark = pytest.mark.timeout(120)


def voiced_egg(seconds: float, f0_hz: float, seed: int) -> np.ndarray:
    """Silence, a voiced stretch with a gentle contour, silence."""
    knots = [0.0, 0.2, 0.2001, seconds - 0.3, seconds - 0.2999, seconds]
    f0 = contour(seconds, FS, knots, [0.0, 0.0, f0_hz, 1.2 * f0_hz, 0.0, 0.0])
    return to_int16(synth_egg(f0, FS, amplitude=0.4, noise_snr_db=35.0, seed=seed).egg)


class PtyBoard:
    """A SimBoard behind a fresh pty pair; `name` (a symlink) points at the pty's device node."""

    def __init__(self, name: str, samples: np.ndarray, speed: float) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)             # no echo, no line editing: a byte pipe like a CDC-ACM port
        self.slave_path = os.ttyname(self._slave)   # the host opens it by name, as a real device
        os.set_blocking(self.master, False)
        tmp = name + ".tmp"
        os.symlink(self.slave_path, tmp)
        os.replace(tmp, name)
        self.board = SimBoard(self.master, samples, speed=speed).start()

    def unplug(self) -> None:
        self.board.stop()
        os.close(self._slave)
        os.close(self.master)               # the host's reads get EIO; the pts node goes away


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_unplug_and_replug_keeps_the_recording_and_marks_the_gap(tmp_path):
    port = str(tmp_path / "ttyEGG")
    a, b = voiced_egg(1.5, 120.0, 1), voiced_egg(1.2, 200.0, 2)
    first = PtyBoard(port, a, speed=4.0)
    opts = MonitorOptions(mode=P.MODE_BOTH, status_every_s=0.1, duration=60.0)
    mon = Monitor(port, None, opts, recorder=Recorder(tmp_path / "rec"))
    runner = threading.Thread(target=mon.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: first.board.finished and mon.recorder.wav_samples == len(a), 20, "the first stream")
        first.unplug()
        wait_for(lambda: not mon.link.connected, 5, "the loss to be noticed")
        time.sleep(0.3)                     # unplugged for a while: opens fail meanwhile
        assert not os.path.exists(first.slave_path) or not mon.link.connected
        second = PtyBoard(port, b, speed=4.0)
        wait_for(lambda: second.board.finished and mon.recorder.wav_samples == len(a) + len(b), 20,
                 "the second stream")
        time.sleep(0.2)
        assert mon.link.connected
    finally:
        mon.stop()
        runner.join(10)
    second.unplug()

    assert mon.link.stats.reconnects == 1
    assert mon.link.stats.open_failures >= 1          # it retried while the port was gone
    rec = read_recording(tmp_path / "rec")
    assert len(rec.of_type("session")) == 1           # one recording, kept open throughout
    states = [e["state"] for e in rec.of_type("link")]
    assert states == ["up", "down", "up", "down"]
    (gap,) = rec.of_type("gap")
    assert gap["wav_sample"] == len(a) and gap["seconds"] >= 0.3
    np.testing.assert_array_equal(rec.egg, np.concatenate([a, b]))   # nothing lost or doubled
    assert len(rec.of_type("start")) == 2             # the replugged board was started again
    assert "link_lost" in [e["reason"] for e in rec.of_type("end")]
    # F0 came from both boards, indices restarting with the second stream
    f0 = rec.of_type("f0")
    assert f0[0]["index"][0] == 0 and any(e["index"][0] == 0 for e in f0[1:])
    voiced = np.concatenate([np.asarray(e["f0_hz"])[np.asarray(e["voiced"], bool)] for e in f0])
    assert voiced.min() > 100 and voiced.max() > 200   # both the low and the high voice arrived
