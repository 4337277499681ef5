"""`eggemo monitor` on bad input: a clear message, exit status 2, nothing overwritten."""
from __future__ import annotations

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
