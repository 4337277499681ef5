"""A board that sends every kind of impossible value, over a pty pair: the live session, its
recording and its replay all survive, every bad frame is counted under its field, and the
predictions of the good frames are those of a clean session.

One CRC-valid F0 record with energy_db = inf used to end `eggemo monitor` (exit 2, "F0 features
contain NaN or inf"), and replaying the recording ended the same way; energy_db = NaN changed a
prediction without a word; F0 of 3e38 or 1e-38 Hz passed."""
from __future__ import annotations

import io
import json
import math
import struct
import threading
import time

import numpy as np
import pytest

from eggemo.cli import main
from eggemo.core import proto as P
from eggemo.host.display import PlainDisplay, plain_stats
from eggemo.host.monitor import Monitor, MonitorOptions
from eggemo.host.pipeline import Classifier
from eggemo.host.record import JSONL_NAME, Recorder, read_recording
from eggemo.host.replay import replay

from .conftest import FS, HELD_OUT
from .sim_board import SimBoard
from .pty_pair import Pty

pytestmark = pytest.mark.timeout(180)

INF, NAN = math.inf, math.nan


def f0(**change):
    """An F0 frame of three plausible records (unvoiced, voiced, voiced) numbered from the index the
    board sends next (so that, taken, they would sit inside the utterance), one field of the middle
    one changed: a function of that index, for SimBoard."""
    def payload(first: int) -> bytes:
        rec = np.zeros(3, P.F0_DTYPE)
        rec["index"], rec["f0_hz"], rec["voiced"] = first + np.arange(3), [0.0, 120.0, 121.0], [0, 1, 1]
        rec["periodicity"], rec["energy_db"] = [0.2, 0.9, 0.9], [-50.0, -18.0, -18.5]
        rec["cq"], rec["jitter"], rec["shimmer"] = [0.0, 0.45, 0.46], [0.0, 0.01, 0.01], [0.0, 0.04, 0.05]
        for name, v in change.items():
            rec[name][1] = v
        return rec.tobytes()
    return payload


def f0_packed(offset: int, fmt: str, value):
    """As f0(), with the middle record's bytes at `offset` holding `value` packed as `fmt`."""
    def payload(first: int) -> bytes:
        b = bytearray(f0()(first))
        struct.pack_into(fmt, b, P.F0_RECORD_LEN + offset, value)
        return bytes(b)
    return payload


def emotion(**change) -> bytes:
    """An EMOTION payload packed by hand (its packer refuses what is tested here)."""
    e = dict(first=10, last=150, n_voiced=90, reason=P.REASON_HANGOVER, label=1, model_id=0x1234, cost=5000,
             mu=4.8, sigma=0.2, n_classes=3)
    e.update(change)
    head = struct.pack("<IIHBBIIffB", *(e[k] for k in ("first", "last", "n_voiced", "reason", "label", "model_id",
                                                       "cost", "mu", "sigma", "n_classes")))
    return head + bytes(3)


def hello(**change) -> bytes:
    h = dict(fw_version=(0, 1, 0), board=P.BOARD_QEMU, fs=FS, f0_hop_samples=160, f0_frame_samples=640,
             mode=P.MODE_F0, streaming=True, cost_unit=P.COST_INSTRUCTIONS, cpu_hz=168_000_000, flags=0)
    h.update(change)
    return P.Hello(**h).to_payload()


# (type, payload, the field it must be counted under): inf, NaN, huge, denormal, negative and
# out-of-enum values in every frame type the board sends
BAD = [
    (P.MSG_F0, f0(energy_db=INF), "f0.energy_db"),
    (P.MSG_F0, f0(energy_db=NAN), "f0.energy_db"),
    (P.MSG_F0, f0(energy_db=-INF), "f0.energy_db"),
    (P.MSG_F0, f0(energy_db=3e38), "f0.energy_db"),
    (P.MSG_F0, f0(f0_hz=3e38), "f0.f0_hz"),
    (P.MSG_F0, f0(f0_hz=1e-38), "f0.f0_hz"),                 # denormal in binary32
    (P.MSG_F0, f0(f0_hz=-120.0), "f0.f0_hz"),
    (P.MSG_F0, f0(f0_hz=NAN), "f0.f0_hz"),
    (P.MSG_F0, f0(periodicity=NAN), "f0.periodicity"),
    (P.MSG_F0, f0(periodicity=-0.5), "f0.periodicity"),
    (P.MSG_F0, f0(periodicity=1e30), "f0.periodicity"),
    (P.MSG_F0, f0(cq=NAN), "f0.cq"),
    (P.MSG_F0, f0(jitter=INF), "f0.jitter"),
    (P.MSG_F0, f0(jitter=-1e-45), "f0.jitter"),              # negative denormal
    (P.MSG_F0, f0(shimmer=1e30), "f0.shimmer"),
    (P.MSG_F0, f0_packed(16, "<B", 7), "f0.voiced"),               # out of enum
    (P.MSG_F0, f0_packed(0, "<I", 3), "f0.index"),                 # records not in order
    (P.MSG_F0, lambda first: f0()(first)[:-3], "f0.length"),
    (P.MSG_HELLO, hello(fs=0), "hello.fs"),
    (P.MSG_HELLO, hello(board=9), "hello.board"),
    (P.MSG_HELLO, hello(mode=9), "hello.mode"),
    (P.MSG_HELLO, hello(flags=0x80), "hello.flags"),
    (P.MSG_HELLO, hello(cpu_hz=0), "hello.cpu_hz"),
    (P.MSG_STATUS, P.Status(hop_cost_last=9, hop_cost_max=3).to_payload(), "status.hop_cost_max"),
    (P.MSG_ACK, P.Ack(P.CMD_GET_STATUS, 0, -100).to_payload(), "ack.status"),
    (P.MSG_NACK, P.Nack(P.CMD_SET_NORM, 0, -2, 99).to_payload(), "nack.reason"),
    (P.MSG_EMOTION, emotion(mu=NAN), "emotion.mu"),
    (P.MSG_EMOTION, emotion(mu=1e38), "emotion.mu"),
    (P.MSG_EMOTION, emotion(mu=-5.0), "emotion.mu"),
    (P.MSG_EMOTION, emotion(sigma=1e-40), "emotion.sigma"),
    (P.MSG_EMOTION, emotion(label=200), "emotion.label"),
    (P.MSG_EMOTION, emotion(reason=9), "emotion.reason"),
    (P.MSG_RAW, struct.pack("<I", 5), "raw.samples"),
]
UNKNOWN = (0x42, b"a frame type of a later release", None)   # valid: passed over, not an error


def expected_fields() -> dict[str, int]:
    out: dict[str, int] = {}
    for _, _, name in BAD:
        out[name] = out.get(name, 0) + 1
    return out


def session(samples: np.ndarray, classifier: Classifier, folder, inject=()):
    """A SimBoard streams the samples (and sends `inject` between its F0 frames) to a recording monitor."""
    pty = Pty()
    board = SimBoard(pty.master, samples, inject=[(t, p) for t, p, _ in inject]).start()
    out = io.StringIO()
    mon = Monitor(pty.path, classifier, MonitorOptions(status_every_s=0.2, duration=90.0),
                  recorder=Recorder(folder), display=PlainDisplay(out, stats_every_s=0))
    runner = threading.Thread(target=mon.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (board.finished and board.injected == len(board.inject)
                                                   and mon.link_counters()["frames"] >= board.tx_seq - 1):
            time.sleep(0.02)
        assert board.finished and board.injected == len(board.inject), "the board did not send everything"
        time.sleep(0.3)
        assert runner.is_alive(), "the monitor ended on the board's values"
    finally:
        mon.stop()
        runner.join(10)
        board.stop()
        pty.close()
    return mon, out.getvalue()


def key(p) -> tuple:
    return p.first, p.last, p.label, p.raw.tolist()


def test_a_board_of_bad_values_is_survived_counted_recorded_and_replayed(exported_model, corpus, tmp_path):
    silence = np.zeros(int(0.8 * FS), np.int16)
    samples = np.concatenate([silence, corpus[HELD_OUT[0]][1], silence, corpus[HELD_OUT[1]][1], silence])
    clean, _ = session(samples, Classifier.from_model(exported_model), tmp_path / "clean")
    assert len(clean.predictions) >= 2 and clean.link_counters()["payload_errors"] == 0

    inject = BAD[:len(BAD) // 2] + [UNKNOWN] + BAD[len(BAD) // 2:]
    mon, text = session(samples, Classifier.from_model(exported_model), tmp_path / "bad", inject)
    assert mon.error is None
    # the good frames give the clean session's predictions: nothing bad reached the segmenter or the model
    assert [key(p) for p in mon.predictions] == [key(p) for p in clean.predictions]
    c = mon.link_counters()
    assert c["payload_errors"] == len(BAD) and c["payload_error_fields"] == expected_fields()
    assert c["crc_errors"] == c["format_errors"] == c["seq_lost"] == 0
    # said once per field; the link panel row holds the counts
    for name in expected_fields():
        assert text.count(f"payload error ({name})") == 1, name
    assert f"payload errors {len(BAD)}: f0.energy_db 4, " in plain_stats(mon.state)

    # the recording keeps each refused frame as it came, marked, and the counts
    rec = read_recording(tmp_path / "bad")
    rejected = rec.of_type("rejected")
    assert [(e["frame_type"], e["field"]) for e in rejected] == [(t, f) for t, _, f in BAD]
    for e, (_, p, _) in zip(rejected, BAD):         # as received: the bytes the board sent
        payload = bytes.fromhex(e["payload"])
        assert payload == (p(int.from_bytes(payload[:4], "little")) if callable(p) else p)
    assert all(e["error"] for e in rejected)
    assert rec.of_type("stats")[-1]["payload_error_fields"] == expected_fields()
    def f0_lines(r):
        return [{k: v for k, v in e.items() if k != "t"} for e in r.of_type("f0")]

    assert f0_lines(rec) == f0_lines(read_recording(tmp_path / "clean"))

    # and its replay: the same predictions, every refused frame counted, nothing raised
    res = replay(tmp_path / "bad", Classifier.from_model(exported_model))
    assert res.all_match and len(res.predictions) == len(mon.predictions)
    assert res.payload_errors == expected_fields() and not res.recording.problems


def test_a_recording_with_impossible_f0_values_replays_to_the_end(exported_model, corpus, tmp_path, capsys):
    """A recording made before the checks (or damaged) can hold an F0 line of inf Hz or inf dB inside
    an utterance: the replay used to stop there ("F0 features contain NaN or inf", exit 2). It skips
    and counts each such line, names it, and replays the rest."""
    silence = np.zeros(int(0.8 * FS), np.int16)
    samples = np.concatenate([silence, corpus[HELD_OUT[0]][1], silence, corpus[HELD_OUT[1]][1], silence])
    mon, _ = session(samples, Classifier.from_model(exported_model), tmp_path / "rec")
    assert len(mon.predictions) >= 2
    path = tmp_path / "rec" / JSONL_NAME
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    voiced = [i for i, e in enumerate(lines) if e["type"] == "f0" and sum(e["voiced"]) >= 2]
    first_utt = mon.predictions[0]
    inside = [i for i in voiced if first_utt.first <= lines[i]["index"][0] <= first_utt.last]
    a, b = inside[0], inside[-1]
    k = lines[a]["voiced"].index(True)
    lines[a]["f0_hz"][k] = float("inf")
    lines[b]["energy_db"][lines[b]["voiced"].index(True)] = float("inf")
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))

    res = replay(tmp_path / "rec", Classifier.from_model(exported_model))
    assert res.payload_errors == {"f0.f0_hz": 1, "f0.energy_db": 1}
    assert [f"line {a + 1}:" in res.recording.problems[0], f"line {b + 1}:" in res.recording.problems[1]] == [True] * 2
    assert "f0_hz inf" in res.recording.problems[0] and "energy_db inf" in res.recording.problems[1]
    # the utterances after the damaged one replay as they were predicted live
    later = [key(p) for p in res.predictions if p.first > first_utt.last]
    assert later and later == [(r["first"], r["last"], r["label"], r["raw"]) for r in res.recorded
                               if r["first"] > first_utt.last]
    rc = main(["monitor", "--replay", str(tmp_path / "rec"), "--model", str(exported_model)])
    out, err = capsys.readouterr()
    assert rc == 0 and "Traceback" not in err
    assert "counted and never replayed: 2: f0.energy_db 1, f0.f0_hz 1" in out
    assert "2 line(s) of the recording could not be replayed" in err
