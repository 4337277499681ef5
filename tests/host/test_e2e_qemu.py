"""End to end with the real firmware under QEMU: a held-out synthetic utterance's EGG is streamed
into the emulated board; the monitor's prediction equals offline int8 inference on the same
utterance bit for bit. And a monitor killed with SIGKILL leaves a readable recording that
replays to the same predictions."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from eggemo.core import proto as P
from eggemo.host.emulator import Emulator
from eggemo.host.monitor import Monitor, MonitorOptions
from eggemo.host.pipeline import Classifier, SegmenterConfig
from eggemo.host.record import Recorder, read_recording, read_wav_int16
from eggemo.host.replay import replay
from eggemo.wavio import read_wav, write_wav

from .conftest import FS, HELD_OUT, offline_features

pytestmark = pytest.mark.timeout(300)

# Some synthetic utterances pause for up to 0.7 s; a longer hangover keeps each one whole, so
# the host's utterance is the offline file.
SEG = SegmenterConfig(hangover_ms=1000.0)


def offline_prediction(model_dir, egg: np.ndarray) -> tuple[str, np.ndarray]:
    from eggemo.runtime import StudentRuntime

    rt = StudentRuntime.from_export_dir(model_dir)
    raw = rt.run_raw(rt.quantize_input(offline_features(egg, rt.input_shape[0])))
    probs = rt.probabilities(offline_features(egg, rt.input_shape[0]))
    return rt.label_names[int(np.argmax(probs))], raw


@pytest.mark.parametrize("k, mode", [(HELD_OUT[0], P.MODE_BOTH), (HELD_OUT[1], P.MODE_F0),
                                     (HELD_OUT[2], P.MODE_RAW)], ids=["board-f0+raw", "board-f0", "host-f0"])
def test_qemu_stream_gives_the_offline_prediction(firmware_elf, exported_model, corpus, k, mode, tmp_path):
    egg = corpus[k][1]
    clf = Classifier.from_model(exported_model)
    assert clf.normaliser.mode == "utterance"          # from the export report's feature config
    with Emulator(firmware_elf) as emu:
        emu.wait_listening()
        opts = MonitorOptions(mode=mode, feed=egg, feed_speed=0.0, stop_at_end=True, open_timeout=5.0,
                              duration=120.0, seg=SEG)
        mon = Monitor(emu.url, clf, opts, recorder=Recorder(tmp_path / "rec")).run()
    assert mon.finished.is_set(), f"the stream did not finish: {mon.link_counters()}"
    label, raw = offline_prediction(exported_model, egg)
    assert len(mon.predictions) == 1, [p.as_dict() for p in mon.predictions]
    p = mon.predictions[0]
    assert p.first == 0 and p.reason in ("hangover", "stream_end")
    assert p.raw.tolist() == raw.tolist()              # the same int8 output, not just the label
    assert p.label == label
    s = mon.board_status
    assert (s.samples_in, s.samples_lost, s.samples_dropped, s.crc_errors) == (len(egg), 0, 0, 0)
    c = mon.link_counters()
    assert (c["crc_errors"], c["format_errors"], c["seq_lost"], c["samples_lost"]) == (0, 0, 0, 0)
    rec = read_recording(tmp_path / "rec")
    if mode & P.MODE_RAW:
        np.testing.assert_array_equal(rec.egg, egg)    # the board's RAW echo, recorded whole
    assert {e["source"] for e in rec.of_type("f0")} == {"host" if mode == P.MODE_RAW else "board"}
    assert replay(tmp_path / "rec", Classifier.from_model(exported_model)).all_match


def test_recording_survives_kill_9_and_replays(firmware_elf, exported_model, corpus, tmp_path):
    """The monitor runs in a subprocess, recording two utterances streamed at real time into
    QEMU; it is killed with SIGKILL after its first prediction, in the middle of the second."""
    a, b = corpus[HELD_OUT[0]][1], corpus[HELD_OUT[1]][1]
    signal_in = np.concatenate([a, np.zeros(FS, np.int16), b])
    wav = tmp_path / "two.wav"
    write_wav(wav, FS, signal_in.astype(np.float64) / 32768.0)
    fed = np.clip(np.round(read_wav(wav)[1][:, 0].astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    rec_dir = tmp_path / "rec"
    with Emulator(firmware_elf) as emu:
        emu.wait_listening()
        proc = subprocess.Popen([sys.executable, "-m", "eggemo.cli", "monitor", "--port", emu.url, "--feed",
                                 str(wav), "--model", str(exported_model), "--record", str(rec_dir), "--plain",
                                 "--open-timeout", "5", "--hangover-ms", str(SEG.hangover_ms)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            jsonl = rec_dir / "session.jsonl"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if jsonl.is_file() and b'"type":"prediction"' in jsonl.read_bytes():
                    break
                assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
                time.sleep(0.02)
            else:
                pytest.fail("no prediction within 60 s")
            time.sleep(0.3)                            # into the second utterance's stream
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    rec = read_recording(rec_dir)
    assert not rec.problems
    raws = rec.of_type("raw")
    assert raws and rec.of_type("prediction")
    # every flushed block is readable: the WAV (by its header) holds every recorded RAW block,
    # in order, and they are the samples that were streamed
    end = raws[-1]["wav_sample"] + raws[-1]["n"]
    assert len(rec.egg) >= end
    assert all(r["wav_sample"] == r["first"] for r in raws)   # one stream, no gap: WAV position = index
    np.testing.assert_array_equal(rec.egg, fed[:len(rec.egg)])
    assert read_wav(rec_dir / "egg.wav")[1].shape[0] == len(rec.egg)   # a standard reader agrees
    assert read_wav_int16(rec_dir / "egg.wav")[0] == FS
    # replay reproduces every recorded prediction (it may find one more, if the kill came between
    # the frames that closed an utterance and its prediction line)
    res = replay(rec_dir, Classifier.from_model(exported_model))
    n = len(res.recorded)
    assert 1 <= n <= len(res.predictions) <= n + 1
    assert all(res.matches())
