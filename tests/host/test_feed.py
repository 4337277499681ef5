"""A recording fed into a board (--feed, --emulate): the end of the recording ends its utterance,
the chip image under QEMU takes the feed as the QEMU board does and shows the clock it runs on,
and a fed run that gives nothing says why and fails instead of printing "0 predictions" and 0 (one the
user stops before the end says why as a note and ends 0)."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import tty

import numpy as np
import pytest

from eggemo.cli import main
from eggemo.core import proto as P
from eggemo.host import emulator
from eggemo.host.display import PlainDisplay
from eggemo.host.emulator import Emulator
from eggemo.host.monitor import Monitor, MonitorOptions
from eggemo.host.pipeline import Classifier
from eggemo.host.record import Recorder, read_recording
from eggemo.wavio import write_wav

from .conftest import FS, HELD_OUT, require
from .pty_pair import Pty
from .sim_board import SimBoard

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def chip_bin(tmp_path_factory):
    """The BOARD=stm32f405 image as a probe would flash it (eggemo.bin: QEMU boots it; the ELF's
    board tag makes the emulator refuse the ELF)."""
    missing = emulator.missing_tools()
    require(not missing, f"the QEMU tests need {', '.join(missing)}")
    elf, _ = emulator.make_firmware(tmp_path_factory.mktemp("fw-stm32f405"), "stm32f405")
    return elf.with_suffix(".bin")


def wav_of(path, x: np.ndarray):
    write_wav(path, FS, x.astype(np.float64) / 32768.0)
    return path


def test_the_end_of_a_fed_recording_ends_its_utterance(firmware_elf, exported_model, corpus, tmp_path):
    """`monitor --emulate utterance.wav --model DIR` streamed the recording and then left its
    utterance open for ever (the 0.2 s of silence after its voicing is shorter than the hangover, and
    the board holds a voiced segment until it ends): the live screen never showed a prediction;
    only --exit-at-end's STOP flushed it. The end of the feed now ends the stream as silence would,
    and the monitor stays up with the prediction on screen."""
    x = corpus[HELD_OUT[2]][1]
    out = io.StringIO()
    shown = []

    class StopAtFirstPrediction(PlainDisplay):
        def prediction(self, state) -> None:
            super().prediction(state)
            shown.append(mon.link.connected)        # not in the shutdown, after the link closed
            mon.stop()

    with Emulator(firmware_elf) as emu:
        emu.wait_listening()
        opts = MonitorOptions(feed=x, feed_speed=0.0, open_timeout=5.0, duration=20.0, status_every_s=10.0)
        mon = Monitor(emu.url, Classifier.from_model(exported_model), opts, recorder=Recorder(tmp_path / "rec"),
                      display=StopAtFirstPrediction(out, stats_every_s=0))
        mon.run()
    assert shown == [True], out.getvalue()              # shown while the monitor ran
    assert mon.feed_sent == len(x)
    events = read_recording(tmp_path / "rec").events
    first = next(i for i, e in enumerate(events) if e["type"] == "prediction")
    assert [e["reason"] for e in events[:first] if e["type"] == "end"][-1] == "stream_end"
    assert "the recording has been streamed, and its stream stopped (Ctrl-C quits)" in out.getvalue()


def test_a_fed_recording_with_no_utterance_fails_and_says_why(firmware_elf, exported_model, tmp_path, capsys):
    wav = wav_of(tmp_path / "silence.wav", np.zeros(FS // 2, np.int16))
    with Emulator(firmware_elf) as emu:
        emu.wait_listening()
        rc = main(["monitor", "--port", emu.url, "--feed", str(wav), "--speed", "0", "--exit-at-end",
                   "--model", str(exported_model), "--plain", "--open-timeout", "5", "--duration", "60"])
    err = capsys.readouterr().err
    assert rc == 1 and "0 predictions" in err
    assert f"no utterance of {wav} was classified: 0.50 of 0.50 s fed gave 47 F0 frames, 0 voiced (0.00 s)" in err
    assert "--min-voiced-ms" in err and "--egg-channel" in err and "Traceback" not in err


def test_a_board_that_refuses_the_feed_is_said_once_and_the_run_fails(corpus, tmp_path, capsys):
    """A board that samples on its own (firmware from before SET_MODE's REPLAY bit) refuses every
    REPLAY frame: the monitor used to say so once per frame and then exit 0."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    board = SimBoard(master, np.zeros(0, np.int16), board=2).start()
    wav = wav_of(tmp_path / "utt.wav", corpus[HELD_OUT[2]][1])
    try:
        rc = main(["monitor", "--port", os.ttyname(slave), "--feed", str(wav), "--speed", "0", "--exit-at-end",
                   "--plain", "--duration", "20"])
    finally:
        board.stop()
        os.close(slave)
        os.close(master)
    out, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in out + err
    said = "qemu-netduinoplus2 refused the fed recording's samples (REPLAY, status -11)"
    assert out.count(said) == 1 and said in err and "the firmware of this eggemo" in err
    assert "the board refused REPLAY" not in out


def test_the_monitor_streams_through_the_chip_image_and_shows_its_clock(chip_bin, exported_model, corpus, tmp_path,
                                                                       capsys):
    """The chip image under QEMU used to be silent to the monitor: the feed was skipped (it was
    sent to the QEMU board only), --exit-at-end never came, and Ctrl-C gave "0 predictions" and 0.
    Its HELLO's clock-fallback flag was never shown."""
    silence = np.zeros(FS // 4, np.int16)
    x = np.concatenate([silence, corpus[HELD_OUT[2]][1], silence])
    wav = wav_of(tmp_path / "utt.wav", x)
    with Emulator(chip_bin) as emu:
        emu.wait_listening()
        rc = main(["monitor", "--port", emu.url, "--feed", str(wav), "--speed", "2", "--exit-at-end",
                   "--model", str(exported_model), "--plain", "--open-timeout", "5", "--duration", "60",
                   "--record", str(tmp_path / "rec")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "board: stm32f405 fw " in out and "; CPU 16 MHz, FALLBACK clock" in out
    assert out.count("warning: the board runs on its fallback clock") == 1
    assert out.count("the board has no model (plain firmware)") == 1
    assert "prediction 1: " in out and "host only" not in out
    rec = read_recording(tmp_path / "rec")
    status = rec.of_type("status")[-1]                    # the STATUS after STOP: the stream's account
    assert (status["samples_in"], status["samples_lost"], status["rx_overflows"]) == (len(x), 0, 0)
    frames = sum(len(e["index"]) for e in rec.of_type("f0"))
    assert frames == status["f0_sent"] > 0 and rec.of_type("hello")[0]["flags"] == 1


@pytest.mark.parametrize("sig,said", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_a_fed_run_the_user_stops_before_the_end_is_a_note_and_exit_0(sig, said, tmp_path):
    """`monitor --feed` stopped by the user (SIGTERM, or Ctrl-C) while the board has not answered:
    the run is the user's to end, so the recording's missing part is a note after the summary, one
    line, exit 0 (b6b96d2), not the failure of a run that ended by itself. The signal lands only
    once the monitor runs: the board side waits for its GET_HELLO on the pty, and never answers."""
    wav = wav_of(tmp_path / "utt.wav", (3000 * np.sin(2 * np.pi * 120 * np.arange(FS) / FS)).astype(np.int16))
    pty = Pty()
    proc = subprocess.Popen([sys.executable, "-m", "eggemo.cli", "monitor", "--port", pty.path, "--feed", str(wav),
                             "--speed", "0", "--exit-at-end", "--plain", "--duration", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # SIGINT as from a terminal, even where the suite runs with it ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        decoder, asked, deadline = P.Decoder(), False, time.monotonic() + 30
        while not asked:                   # the monitor's GET_HELLO: its loop runs, the handlers are in
            assert proc.poll() is None and time.monotonic() < deadline, "the monitor never asked for HELLO"
            try:
                asked = any(f.type == P.CMD_GET_HELLO for f in decoder.feed(os.read(pty.master, 4096)))
            except BlockingIOError:
                time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pty.close()
    assert "Traceback" not in out + err, err
    assert proc.returncode == 0, err
    assert "eggemo monitor: 0 predictions; link" in err, err
    note = [line for line in err.splitlines() if "before the end" in line]
    assert note == [f"eggemo monitor: stopped by {said} before the end; nothing of {wav} was streamed (no valid "
                    f"HELLO came from the board); the link line above has the counters"], err
