"""Recording: a WAV that is valid after every block, JSONL lines, a cut last line, bad folders."""
from __future__ import annotations

import json

import numpy as np
import pytest

from eggemo.host.record import JSONL_NAME, WAV_NAME, Recorder, WavAppender, read_recording, read_wav_int16
from eggemo.wavio import read_wav


def test_wav_is_valid_after_every_append(tmp_path):
    w = WavAppender(tmp_path / "x.wav", 16000)
    rng = np.random.default_rng(0)
    total = []
    for n in (0, 1, 510, 37):
        block = rng.integers(-32768, 32767, n).astype(np.int16)
        assert w.append(block) == sum(len(t) for t in total)
        total.append(block)
        fs, x = read_wav_int16(tmp_path / "x.wav")      # while the writer is still open
        np.testing.assert_array_equal(x, np.concatenate(total))
        if len(x):
            assert read_wav(tmp_path / "x.wav")[1].shape == (len(x), 1)
    with pytest.raises(TypeError, match="int16"):
        w.append(np.zeros(3))
    w.close()


def test_a_header_behind_the_data_still_reads(tmp_path):
    """A kill between the data write and the header update leaves extra samples the header does
    not count yet: the file reads, with the counted ones."""
    w = WavAppender(tmp_path / "x.wav", 8000)
    w.append(np.arange(100, dtype=np.int16))
    w.close()
    with open(tmp_path / "x.wav", "ab") as fh:
        fh.write(np.arange(7, dtype=np.int16).tobytes())
    assert len(read_wav_int16(tmp_path / "x.wav")[1]) == 100
    assert read_wav(tmp_path / "x.wav")[1].shape[0] == 100


def test_recorder_lines_and_a_cut_last_line(tmp_path):
    rec = Recorder(tmp_path / "r", {"port": "loop://"})
    rec.write("f0", index=np.arange(3), f0_hz=np.float32([0, 101.5, 0]), voiced=np.array([0, 1, 0], bool))
    assert rec.samples(16000, np.ones(5, np.int16)) == 0
    assert rec.samples(16000, np.ones(5, np.int16)) == 5
    with pytest.raises(ValueError, match="new recording"):
        rec.samples(8000, np.ones(5, np.int16))
    rec.close()
    with open(tmp_path / "r" / JSONL_NAME, "a") as fh:
        fh.write('{"type": "prediction", "lab')             # killed mid-line
    r = read_recording(tmp_path / "r")
    assert r.truncated_line and not r.problems
    (f0,) = r.of_type("f0")
    assert f0["f0_hz"][1] == 101.5 and np.float32(f0["f0_hz"][1]) == np.float32(101.5)
    assert r.fs == 16000 and len(r.egg) == 10 and (tmp_path / "r" / WAV_NAME).is_file()


def test_bad_folders(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        Recorder(tmp_path / "full")
    with pytest.raises(ValueError, match="no session.jsonl"):
        read_recording(tmp_path / "full")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / JSONL_NAME).write_text(json.dumps({"type": "x"}) + "\n")
    with pytest.raises(ValueError, match="session line"):
        read_recording(tmp_path / "other")


def test_lines_that_are_not_objects_or_not_json_are_listed_not_fatal(tmp_path):
    """A valid JSON line that is not an object used to crash read_recording (AttributeError)."""
    rec = Recorder(tmp_path / "r", {"port": "loop://"})
    rec.write("end", reason="stream_end")
    rec.close()
    with open(tmp_path / "r" / JSONL_NAME, "a") as fh:
        fh.write("[1, 2, 3]\n" + '{"type": "prediction", "lab\n' + '"just a string"\n')
        fh.write(json.dumps({"type": "end", "reason": "monitor_stopped"}) + "\n")
    r = read_recording(tmp_path / "r")
    assert [e["type"] for e in r.events] == ["session", "end", "end"] and r.lines == [1, 2, 6]
    assert r.problems == ["session.jsonl line 3 is JSON but not an object (list); skipped",
                          "session.jsonl line 4 is not JSON (cut or corrupt); skipped",
                          "session.jsonl line 5 is JSON but not an object (str); skipped"]
    (tmp_path / "first").mkdir()
    (tmp_path / "first" / JSONL_NAME).write_text("[1, 2, 3]\n")
    with pytest.raises(ValueError, match="session line"):
        read_recording(tmp_path / "first")
