"""The board runs the student itself: firmware built with MODEL=, EGG streamed through QEMU.

A small CNN student of the recipe's shape, reading all nine channels the F0 core computes and
normalised with session statistics (the live form of per-speaker statistics), is exported, written
as C by the firmware build and compiled in. Held-out utterances are streamed with silences between
them; the board segments its own F0 frames, classifies each utterance and sends EMOTION frames.
The host takes the board's F0 records, runs its own segmenter, features and int8 inference
(ai-edge-litert, reference kernels) and must get the same utterances and the same int8 scores,
bit for bit. The host can give the board other statistics (SET_NORM: a speaker's fixed ones);
the board then normalises as a host classifier with those statistics, again bit for bit.
"""
from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

from eggemo._emo import lib
from eggemo.core import proto as P
from eggemo.host.emulator import build_firmware
from eggemo.host.pipeline import Classifier, Pipeline, SegmenterConfig, frames_from_records, read_norm_file
from eggemo.core.feat import F0Stats

from ..host.conftest import CALIB, HELD_OUT, VAL, export_test_student, synthetic_utterances
from .conftest import _require_tools
from .qemu_board import QemuBoard

pytestmark = pytest.mark.timeout(600)

ALL_CHANNELS = ("log_f0", "voiced", "delta_log_f0", "periodicity", "energy", "delta_energy", "cq", "jitter",
                "shimmer")


@pytest.fixture(scope="module")
def corpus() -> dict:
    return synthetic_utterances()


@pytest.fixture(scope="module")
def board_model(tmp_path_factory, corpus):
    pytest.importorskip("torch")
    _require_tools()
    root = tmp_path_factory.mktemp("board_model")
    export = export_test_student(root, corpus, ALL_CHANNELS, arch="cnn_student", f0_norm="speaker")
    elf = build_firmware(root / "fw", "qemu", model=export)
    return export, elf


def stream_of(corpus: dict, keys, gap_s: float = 1.0) -> np.ndarray:
    """The utterances one after another with gap_s of silence before each and at the end."""
    silence = np.zeros(int(gap_s * 16000), np.int16)
    return np.concatenate([part for k in keys for part in (silence, corpus[k][1])] + [silence])


def stream_board_and_host(export, elf, corpus):
    """Held-out and validation utterances streamed through the board; (its EMOTION frames, the host's
    predictions from the board's F0 records, the host classifier), the same utterances checked."""
    keys = [*HELD_OUT, VAL[0], VAL[1]]
    with QemuBoard(elf) as board:
        assert board.hello.has_model and board.hello.board == P.BOARD_QEMU
        res = board.stream(stream_of(corpus, keys))
    assert res.status.samples_dropped == 0 and res.status.samples_lost == 0
    clf = Classifier.from_model(export)
    pipe = Pipeline(clf, SegmenterConfig())
    host = pipe.f0(frames_from_records(res.f0)) + pipe.end("stream_end")
    board = res.emotions
    assert len(board) >= len(keys) - 1, f"the board classified {len(board)} utterances of {len(keys)} streamed"
    assert [(e.first, e.last, e.reason_name) for e in board] == [(p.first, p.last, p.reason) for p in host]
    return board, host, clf


def test_board_predictions_equal_the_hosts_bit_for_bit(board_model, corpus):
    export, elf = board_model
    board, host, clf = stream_board_and_host(export, elf, corpus)
    assert clf.normaliser.mode == "session"
    for e, p in zip(board, host):
        assert list(e.scores) == p.raw.tolist(), (e, p.as_dict())
        assert e.label == int(np.argmax(p.raw)) and clf.label_names[e.label] == p.label
        assert e.n_voiced == p.n_voiced
        assert e.mu == pytest.approx(p.mu, abs=1e-6) and e.sigma == pytest.approx(p.sigma, abs=1e-6)
        assert e.cost > 0
    from eggemo.export import cmodel
    assert {e.model_id for e in board} == {cmodel.lower((export / "student_int8.tflite").read_bytes()).model_id}


@pytest.fixture(scope="module")
def board_model_16x8(tmp_path_factory, corpus):
    pytest.importorskip("torch")
    _require_tools()
    root = tmp_path_factory.mktemp("board_model_16x8")
    export = export_test_student(root, corpus, ALL_CHANNELS, arch="cnn_student", f0_norm="speaker",
                                 export_args=("--activations", "int16", "--snap"))
    elf = build_firmware(root / "fw", "qemu", model=export)
    return export, elf


def test_board_runs_the_16x8_model_bit_for_bit_with_the_host(board_model_16x8, corpus):
    """`eggemo export --activations int16 --snap` deploys student_16x8.tflite: the firmware built from
    the folder runs it (int16 input, activations and scores; label from the int16 scores) and the
    EMOTION frames carry the scores narrowed to int8, as the host's frame_scores narrows its own."""
    from eggemo.export import cmodel
    from eggemo.core.nn import narrow16 as frame_scores
    from eggemo.host.monitor import IDENTICAL, board_prediction, compare

    export, elf = board_model_16x8
    report = json.loads((export / "export_report.json").read_text())
    assert report["deploy"] == {"file": "student_16x8.tflite", "activations": "int16", "snapped_weights": True}
    assert report["c_inference"]["bits"] == 16 and report["c_inference"]["parity"]["max_lsb"] == 0
    assert "#define EMO_MODEL_BITS 16 " in (export / "emo_model.h").read_text()
    board, host, clf = stream_board_and_host(export, elf, corpus)
    assert clf.runtime.bits == 16
    for e, p in zip(board, host):
        assert p.raw.dtype == np.int16
        assert list(e.scores) == frame_scores(p.raw).tolist(), (e, p.as_dict())
        assert e.label == int(np.argmax(p.raw)) and clf.label_names[e.label] == p.label
        assert compare(board_prediction(e, clf.label_names, clf.runtime), p) == IDENTICAL
    model = (export / "student_16x8.tflite").read_bytes()
    assert {e.model_id for e in board} == {cmodel.lower(model).model_id}


def test_firmware_without_a_model_sends_no_emotion(firmware_elf, corpus):
    with QemuBoard(firmware_elf) as board:
        assert not board.hello.has_model
        res = board.stream(stream_of(corpus, HELD_OUT[:1]))
    assert res.emotions == [] and len(res.f0) > 0


def test_model_build_refuses_a_folder_without_a_model(tmp_path):
    _require_tools()
    with pytest.raises(RuntimeError, match="no student_int8.tflite"):
        build_firmware(tmp_path / "fw", "qemu", model=tmp_path)


# --- SET_NORM: the host gives the board the statistics it normalises with ---------------------------

# A speaker's statistics as `--norm FILE.json` carries them; not round numbers, so that a value cut
# short anywhere between the JSON file and the board's doubles would show in the scores.
FIXED = {"mu": 5.143217480931, "sigma": 0.23170000000000002, "e_mu": -23.713, "e_sigma": 7.931}
STATS = F0Stats(FIXED["mu"], FIXED["sigma"], 0, FIXED["e_mu"], FIXED["e_sigma"])


def host_predictions(export, frames: np.ndarray, norm: str | None):
    clf = Classifier.from_model(export, norm=norm)
    pipe = Pipeline(clf, SegmenterConfig())
    return clf, pipe.f0(frames_from_records(frames)) + pipe.end("stream_end")


def assert_same(board: list, host: list, clf) -> None:
    assert [(e.first, e.last, e.reason_name) for e in board] == [(p.first, p.last, p.reason) for p in host]
    for e, p in zip(board, host):
        assert list(e.scores) == p.raw.tolist(), (e, p.as_dict())
        assert e.label == int(np.argmax(p.raw)) and clf.label_names[e.label] == p.label


def test_set_norm_fixed_statistics_give_the_hosts_predictions_bit_for_bit(board_model, corpus, tmp_path):
    export, elf = board_model
    norm = tmp_path / "speaker.json"
    norm.write_text(json.dumps(FIXED))
    stats = read_norm_file(norm)
    keys = [*HELD_OUT, VAL[0]]
    with QemuBoard(elf) as board:
        assert board.command(P.CMD_SET_NORM, P.set_norm_payload(stats)).ok
        res = board.stream(stream_of(corpus, keys))
        # a new stream keeps the fixed setting (only session sums restart)
        again = board.stream(stream_of(corpus, keys[:1]))
        # and another mode replaces it
        assert board.command(P.CMD_SET_NORM, P.set_norm_payload(None, P.NORM_UTTERANCE)).ok
        utt = board.stream(stream_of(corpus, keys[1:2]))
    clf, host = host_predictions(export, res.f0, str(norm))
    assert clf.normaliser.mode == "fixed" and clf.normaliser.fixed == stats
    assert len(res.emotions) >= len(keys) - 1, f"the board classified {len(res.emotions)} of {len(keys)} utterances"
    assert_same(res.emotions, host, clf)
    for e, p in zip(res.emotions, host):             # the fixed statistics, echoed in float32
        assert (e.mu, e.sigma) == (np.float32(stats.mu), np.float32(stats.sigma)) == (np.float32(p.mu),
                                                                                      np.float32(p.sigma))
    # the session statistics would have given other inputs: the setting made the difference
    _, session = host_predictions(export, res.f0, "session")
    assert any(p.mu != s.mu for p, s in zip(host, session))

    clf, host = host_predictions(export, again.f0, str(norm))
    assert again.emotions and all(e.mu == np.float32(stats.mu) for e in again.emotions)
    assert_same(again.emotions, host, clf)
    clf, host = host_predictions(export, utt.f0, "utterance")
    assert utt.emotions and all(e.mu != np.float32(stats.mu) for e in utt.emotions)
    assert_same(utt.emotions, host, clf)
    for e, p in zip(utt.emotions, host):
        assert e.mu == pytest.approx(p.mu, abs=1e-6)


def _raw_set_norm(mode: int, *values: float) -> bytes:
    return bytes([mode]) + struct.pack(f"<{len(values)}d", *values)


def refused(board: QemuBoard, payload: bytes) -> P.Nack:
    """The board's answer to SET_NORM(payload): a NACK that names the reason."""
    ack = board.command(P.CMD_SET_NORM, payload)
    assert isinstance(ack, P.Nack), (payload.hex(), ack)
    return ack


def test_set_norm_refusals(board_model, corpus):
    export, elf = board_model
    good = P.set_norm_payload(STATS)
    bad_values = [(_raw_set_norm(2, math.nan, 0.2, -20.0, 6.0), P.NACK_MU),
                  (_raw_set_norm(2, 5.0, math.inf, -20.0, 6.0), P.NACK_SIGMA),
                  (_raw_set_norm(2, 5.0, 0.0, -20.0, 6.0), P.NACK_SIGMA),
                  (_raw_set_norm(2, 5.0, 0.2, -math.inf, 6.0), P.NACK_E_MU),
                  (_raw_set_norm(2, 5.0, 0.2, -20.0, -6.0), P.NACK_E_SIGMA),
                  (_raw_set_norm(2, 5.0, 0.2, -20.0, 0.0), P.NACK_E_SIGMA),
                  (bytes([3]), P.NACK_MODE), (bytes([255]), P.NACK_MODE),
                  (_raw_set_norm(3, 5.0, 0.2, -20.0, 6.0), P.NACK_MODE)]
    bad_lengths = [b"", bytes(2), good[:-1], good + b"\x00", bytes([2]), _raw_set_norm(0, 5.0, 0.2, -20.0, 6.0),
                   bytes([1, 0])]
    with QemuBoard(elf) as board:
        before = board.status().cmd_rejected
        for payload, reason in bad_values:
            nack = refused(board, payload)
            assert (nack.status, nack.reason) == (lib.EMO_ERR_PARAM, reason), payload.hex()
            assert P.SetNorm.reason(payload) == reason          # the host names it alike
        for payload in bad_lengths:
            nack = refused(board, payload)
            assert (nack.status, nack.reason) == (lib.EMO_ERR_FORMAT, P.NACK_LENGTH), payload.hex()
        # while streaming: refused, the stream goes on with the normalisation it started with
        for cmd, payload in ((P.CMD_SET_MODE, P.set_mode_payload(P.MODE_F0)), (P.CMD_START, b"")):
            assert board.command(cmd, payload).ok
        nack = refused(board, good)
        assert (nack.status, nack.reason) == (lib.EMO_ERR_STATE, P.NACK_STREAMING)
        assert board.command(P.CMD_STOP).ok
        n_refused = len(bad_values) + len(bad_lengths) + 1
        assert board.status().cmd_rejected == before + n_refused
        # nothing refused changed the setting: the model's own (session) statistics
        res = board.stream(stream_of(corpus, HELD_OUT[:1]))
    clf, host = host_predictions(export, res.f0, None)
    assert clf.normaliser.mode == "session" and res.emotions
    assert_same(res.emotions, host, clf)
    for e, p in zip(res.emotions, host):
        assert e.mu == pytest.approx(p.mu, abs=1e-6)


def test_firmware_without_a_model_refuses_set_norm(firmware_elf):
    with QemuBoard(firmware_elf) as board:
        assert not board.hello.has_model
        for payload in (P.set_norm_payload(STATS), P.set_norm_payload(None, P.NORM_SESSION),
                        b"", bytes([9])):
            nack = refused(board, payload)
            assert (nack.status, nack.reason) == (lib.EMO_ERR_UNSUPPORTED, P.NACK_NO_MODEL)


def test_set_norm_of_absurd_values_is_refused_and_the_board_keeps_classifying(board_model, corpus):
    """SET_NORM with mu 1e308 or sigma 1e-320 used to be acknowledged; the board then could not send
    an EMOTION frame again (its f32 echo of the statistics was inf or 0) and went quiet. Now it answers
    a NACK that names the statistic, keeps the setting it had, and classifies the next stream."""
    export, elf = board_model
    absurd = [(_raw_set_norm(2, 1e308, 0.2, -20.0, 6.0), P.NACK_MU),
              (_raw_set_norm(2, 5.0, 1e-320, -20.0, 6.0), P.NACK_SIGMA),
              (_raw_set_norm(2, math.nan, math.nan, math.nan, math.nan), P.NACK_MU),
              (_raw_set_norm(2, 5.0, 0.2, -20.0, 1e300), P.NACK_E_SIGMA)]
    with QemuBoard(elf) as board:
        for payload, reason in absurd:
            nack = refused(board, payload)
            assert (nack.command, nack.status, nack.reason) == (P.CMD_SET_NORM, lib.EMO_ERR_PARAM, reason)
        res = board.stream(stream_of(corpus, HELD_OUT[:1]))
    assert res.emotions, "the board went quiet after refusing SET_NORM"
    clf, host = host_predictions(export, res.f0, None)          # the model's own (session) statistics
    assert_same(res.emotions, host, clf)


def test_monitor_gives_the_board_its_fixed_statistics(board_model, corpus, tmp_path):
    """`eggemo monitor --model EXPORT --norm FILE.json` on a board that classifies: SET_NORM before START,
    and the board's predictions are the host's, bit for bit."""
    from eggemo.host.emulator import Emulator
    from eggemo.host.monitor import IDENTICAL, Monitor, MonitorOptions

    export, elf = board_model
    norm = tmp_path / "speaker.json"
    norm.write_text(json.dumps(FIXED))
    stats = read_norm_file(norm)
    with Emulator(elf) as emu:
        emu.wait_listening()
        opts = MonitorOptions(mode=P.MODE_F0, feed=stream_of(corpus, HELD_OUT[:2]), feed_speed=0.0,
                              stop_at_end=True, open_timeout=5.0, duration=180.0)
        mon = Monitor(emu.url, Classifier.from_model(export, norm=str(norm)), opts).run()
    assert mon.finished.is_set(), mon.link_counters()
    assert mon.board_norm == P.SetNorm(P.NORM_FIXED, stats.mu, stats.sigma, stats.e_mu, stats.e_sigma)
    host, board = mon.predictions, mon.board_predictions
    assert len(host) >= 1 and len(board) == len(host)
    for b, p in zip(board, host):
        assert (b.first, b.last, b.label, list(b.scores)) == (p.first, p.last, p.label, p.raw.tolist())
        assert b.emotion.mu == np.float32(stats.mu) and b.emotion.sigma == np.float32(stats.sigma)
    a = mon.agreement.summary()
    assert (a[IDENTICAL], a["disagreements"], a["unpaired"]) == (len(host), 0, 0)
