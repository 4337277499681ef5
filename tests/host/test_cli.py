"""`eggemo monitor` on bad input: a clear message, exit status 2, nothing overwritten."""
from __future__ import annotations

import json

import numpy as np
import pytest

from eggemo.cli import main


@pytest.mark.parametrize("argv, msg", [
    ([], "exactly one of --port, --emulate or --replay"),
    (["--port", "loop://", "--replay", "x"], "exactly one of"),
    (["--port", "/dev/ttyNO_SUCH_BOARD"], "plugged in"),
    (["--port", "loop://", "--model", "no/such/student_int8.tflite"], "eggemo export"),
    (["--port", "loop://", "--norm", "utterance"], "--norm needs --model"),
    (["--port", "loop://", "--exit-at-end"], "--exit-at-end needs --emulate or --feed"),
    (["--port", "loop://", "--feed", "no_such.wav"], "no such file"),
])
def test_bad_arguments_say_what_to_do(argv, msg, capsys):
    assert main(["monitor", *argv]) == 2
    assert msg in capsys.readouterr().err


def test_record_refuses_a_folder_with_files(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("an earlier session")
    assert main(["monitor", "--port", "loop://", "--record", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "old.txt").read_text() == "an earlier session"


def test_record_onto_a_file_or_into_a_read_only_folder_is_refused(tmp_path, capsys, read_only_dir,
                                                                  eggemo_as_user):
    (tmp_path / "afile").write_text("keep me")
    assert main(["monitor", "--port", "loop://", "--record", str(tmp_path / "afile")]) == 2
    assert f"--record {tmp_path / 'afile'}: is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "afile").read_text() == "keep me"
    run = eggemo_as_user("monitor", "--port", "loop://", "--record", read_only_dir / "rec", "--duration", "0.3",
                         "--plain")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"--record {read_only_dir / 'rec'}: cannot write into {read_only_dir}" in run.stderr


def test_replay_needs_a_model_and_a_recording(tmp_path, capsys, exported_model):
    assert main(["monitor", "--replay", str(tmp_path)]) == 2
    assert "--replay needs --model" in capsys.readouterr().err
    assert main(["monitor", "--replay", str(tmp_path), "--model", str(exported_model)]) == 2
    assert "no session.jsonl" in capsys.readouterr().err


def test_monitor_on_loop_records_a_session(tmp_path, capsys):
    """No board answers on loop:// (it echoes the host's own commands, which are not board
    messages): the monitor runs, records the link, and exits after --duration."""
    assert main(["monitor", "--port", "loop://", "--record", str(tmp_path / "r"), "--duration", "0.3",
                 "--plain"]) == 0
    from eggemo.host.record import read_recording
    rec = read_recording(tmp_path / "r")
    assert [e["state"] for e in rec.of_type("link")] == ["up", "down"]
    assert rec.of_type("config") and rec.of_type("stats")


def _recorded_session(folder, corpus, model, drop: tuple[str, ...] = ()) -> int:
    """A recording as the monitor writes it: the F0 of two utterances, the pipeline's predictions;
    the "f0" lines without the columns in `drop` (as an older monitor wrote them)."""
    from eggemo.core import proto as P
    from eggemo.host.pipeline import FRAME_COLUMNS, Classifier, HostF0, Pipeline
    from eggemo.host.record import Recorder

    rec = Recorder(folder, {"port": "loop://"})
    rec.write("config", segmenter={}, mode=P.MODE_F0, norm=None, norm_fixed=None)
    pipe = Pipeline(Classifier.from_model(model))
    host_f0 = HostF0(16000)
    silence = np.zeros(16000, np.int16)
    egg = np.concatenate([corpus[49][1], silence, corpus[50][1], silence])
    frames = host_f0.push(P.SampleBlock(0, egg))
    n = 0
    for start in range(0, len(frames), 50):
        part = type(frames)(*(getattr(frames, f)[start:start + 50] for f in FRAME_COLUMNS))
        rec.write("f0", source="host", **{f: getattr(part, f) for f in FRAME_COLUMNS if f not in drop})
        for pred in pipe.f0(part):
            rec.write("prediction", **pred.as_dict())
            n += 1
    rec.write("end", reason="stream_end")
    for pred in pipe.end("stream_end"):
        rec.write("prediction", **pred.as_dict())
        n += 1
    rec.close()
    return n


def test_replay_reports_cut_and_corrupt_lines(tmp_path, capsys, corpus, exported_model):
    """Damaged lines used to be skipped without a word, and a non-object line crashed the replay."""
    n = _recorded_session(tmp_path / "rec", corpus, exported_model)
    assert n >= 2
    path = tmp_path / "rec" / "session.jsonl"
    lines = path.read_text().splitlines()
    pred = next(k for k, line in enumerate(lines) if '"prediction"' in line)
    f0 = next(k for k, line in enumerate(lines) if '"f0"' in line)
    lines[pred] = lines[pred][:40]                                     # a cut line
    lines[f0] = json.dumps({"type": "f0", "index": [1, 2]})            # an object that lacks columns
    lines.insert(2, "[1, 2, 3]")                                       # JSON, but no object
    path.write_text("\n".join(lines) + "\n")
    assert main(["monitor", "--replay", str(tmp_path / "rec"), "--model", str(exported_model)]) == 0
    out, err = capsys.readouterr()
    assert f"the recording has {n - 1}," in out
    assert "3 line(s) of the recording could not be replayed" in err
    assert "line 3 is JSON but not an object (list)" in err
    assert f"line {pred + 2} is not JSON (cut or corrupt)" in err
    assert f"line {f0 + 2}: an 'f0' line that cannot be replayed (KeyError" in err
    assert "Traceback" not in err



def test_replay_of_a_recording_from_before_voice_quality_takes_zeros(tmp_path, capsys, corpus, exported_model):
    """Recordings made before protocol version 2 have "f0" lines without cq, jitter and shimmer:
    they replay (those columns are 0, as on frames without a measured cycle), line for line."""
    from eggemo.host.record import read_recording
    from eggemo.host.replay import frames_from_event

    n = _recorded_session(tmp_path / "old", corpus, exported_model, drop=("cq", "jitter", "shimmer"))
    rec = read_recording(tmp_path / "old")
    lines = rec.of_type("f0")
    assert lines and not any(k in e for e in lines for k in ("cq", "jitter", "shimmer"))
    f = frames_from_event(lines[0])
    assert len(f) == len(lines[0]["index"]) and not (f.cq.any() or f.jitter.any() or f.shimmer.any())
    assert main(["monitor", "--replay", str(tmp_path / "old"), "--model", str(exported_model)]) == 0
    out, err = capsys.readouterr()
    assert f"replayed {n} predictions; the recording has {n}, {n} identical" in out
    assert "could not be replayed" not in err


def test_ctrl_c_guard_raises_before_the_monitor_stops_it_after_and_remembers_a_swallowed_one():
    """monitor --emulate: a Ctrl-C between QEMU's start and the monitor's loop once vanished in CI
    and the monitor streamed on. The guard keeps it as a flag: swallowed or not, `check` raises."""
    import os
    import signal
    import threading

    from eggemo.host.cli import _CtrlC
    from eggemo.host.monitor import Monitor

    started_with = signal.signal(signal.SIGINT, signal.default_int_handler)   # as in a terminal
    before = signal.getsignal(signal.SIGINT)
    with _CtrlC() as guard:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(1.0)           # the handler runs at the next bytecode
        guard.hit = False
        try:                                       # swallowed, as some code between QEMU and the loop did
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(1.0)
        except KeyboardInterrupt:
            pass
        with pytest.raises(KeyboardInterrupt):
            guard.check()
        guard.hit = False
        monitor = Monitor("loop://", None)
        guard.monitor = monitor
        os.kill(os.getpid(), signal.SIGINT)        # now the monitor's normal end: no exception
        threading.Event().wait(0.2)
        assert monitor._stop.is_set() and guard.hit
    assert signal.getsignal(signal.SIGINT) is before
    signal.signal(signal.SIGINT, started_with)
