"""The board runs the student itself: firmware built with MODEL=, EGG streamed through QEMU.

A small CNN student of the recipe's shape, reading all nine channels the F0 core computes and
normalised with session statistics (the live form of per-speaker statistics), is exported, written
as C by the firmware build and compiled in. Held-out utterances are streamed with silences between
them; the board segments its own F0 frames, classifies each utterance and sends EMOTION frames.
The host takes the board's F0 records, runs its own segmenter, features and int8 inference
(ai-edge-litert, reference kernels) and must get the same utterances and the same int8 scores,
bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.host import protocol as P
from eggemo.host.emulator import build_firmware
from eggemo.host.pipeline import Classifier, Pipeline, SegmenterConfig, frames_from_records

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


def test_board_predictions_equal_the_hosts_bit_for_bit(board_model, corpus):
    export, elf = board_model
    keys = [*HELD_OUT, VAL[0], VAL[1]]
    with QemuBoard(elf) as board:
        assert board.hello.has_model and board.hello.board == P.BOARD_QEMU
        res = board.stream(stream_of(corpus, keys))
    assert res.status.samples_dropped == 0 and res.status.samples_lost == 0
    clf = Classifier.from_model(export)
    assert clf.normaliser.mode == "session"
    pipe = Pipeline(clf, SegmenterConfig())
    host = pipe.f0(frames_from_records(res.f0)) + pipe.end("stream_end")
    board = res.emotions
    assert len(board) >= len(keys) - 1, f"the board classified {len(board)} utterances of {len(keys)} streamed"
    assert [(e.first, e.last, e.reason_name) for e in board] == [(p.first, p.last, p.reason) for p in host]
    for e, p in zip(board, host):
        assert list(e.scores) == p.raw.tolist(), (e, p.as_dict())
        assert e.label == int(np.argmax(p.raw)) and clf.label_names[e.label] == p.label
        assert e.n_voiced == p.n_voiced
        assert e.mu == pytest.approx(p.mu, abs=1e-6) and e.sigma == pytest.approx(p.sigma, abs=1e-6)
        assert e.cost > 0
    from eggemo.export import cmodel
    assert {e.model_id for e in board} == {cmodel.lower((export / "student_int8.tflite").read_bytes()).model_id}


def test_firmware_without_a_model_sends_no_emotion(firmware_elf, corpus):
    with QemuBoard(firmware_elf) as board:
        assert not board.hello.has_model
        res = board.stream(stream_of(corpus, HELD_OUT[:1]))
    assert res.emotions == [] and len(res.f0) > 0


def test_model_build_refuses_a_folder_without_a_model(tmp_path):
    _require_tools()
    with pytest.raises(RuntimeError, match="no student_int8.tflite"):
        build_firmware(tmp_path / "fw", "qemu", model=tmp_path)
