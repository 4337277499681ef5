"""A student that reads the voice quality channels (cq, jitter, shimmer) gets them from the live F0
records: the board's (mode f0) or the host's F0 of the board's RAW stream (mode raw), over a real
pty, exactly as training builds them from the same frames offline, and not zeros."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from eggemo.core.f0 import f0_track
from eggemo.core import proto as P
from eggemo.host.monitor import Monitor, MonitorOptions
from eggemo.host.pipeline import Classifier, SegmenterConfig
from eggemo.core.feat import student_input

from .conftest import FS, HELD_OUT, export_test_student, require
from .test_reconnect import PtyBoard, wait_for

pytestmark = pytest.mark.timeout(600)

INPUTS = ("log_f0", "voiced", "cq", "jitter", "shimmer")


@pytest.fixture(scope="module")
def vq_model(tmp_path_factory, corpus):
    """`eggemo export` of a small random-weight student whose report lists INPUTS."""
    for mod in ("torch", "tensorflow", "tf_keras", "tflite_micro"):
        try:
            __import__(mod)
        except ImportError:
            require(False, f"exporting the test model needs {mod}: pip install 'eggemo[train,export]'")
    return export_test_student(tmp_path_factory.mktemp("vq_model"), corpus, INPUTS, hidden=16, layers=1)


class SeeingClassifier(Classifier):
    """The real classifier; it keeps each utterance, its statistics and the input it built."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list = []

    def features(self, utt, stats):
        x = super().features(utt, stats)
        self.seen.append((utt, stats, x))
        return x


@pytest.mark.parametrize("mode", [P.MODE_F0, P.MODE_RAW], ids=["board_f0", "host_f0"])
def test_voice_quality_channels_come_from_the_live_f0_records(tmp_path, corpus, vq_model, mode):
    clf = SeeingClassifier.from_model(vq_model)
    assert clf.inputs == INPUTS                      # read from the export report
    silence = np.zeros(FS, np.int16)
    egg = np.concatenate([silence[: FS // 2], corpus[HELD_OUT[0]][1], silence, corpus[HELD_OUT[1]][1], silence])
    port = str(tmp_path / "ttyEGG")
    board = PtyBoard(port, egg, speed=0.0)
    opts = MonitorOptions(mode=mode, seg=SegmenterConfig(hangover_ms=1000), status_every_s=10.0, duration=120.0)
    mon = Monitor(port, clf, opts)
    runner = threading.Thread(target=mon.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: board.board.finished and len(mon.predictions) >= 2, 120, "two utterances classified")
        time.sleep(0.3)
    finally:
        mon.stop()
        runner.join(30)
        board.unplug()
    assert not runner.is_alive()
    assert len(clf.seen) == len(mon.predictions) >= 2

    whole = f0_track(egg, FS)                        # the C routine on the whole stream: what the frames hold
    f0 = np.where(whole.voiced, whole.f0, 0.0).astype(np.float32)
    col = {name: INPUTS.index(name) for name in ("cq", "jitter", "shimmer")}
    for utt, stats, x in clf.seen:
        sl = slice(utt.first, utt.last + 1)
        for name in ("cq", "jitter", "shimmer"):     # the utterance holds the F0 core's values, frame by frame
            np.testing.assert_array_equal(getattr(utt, name), getattr(whole, name)[sl].astype(np.float32),
                                          err_msg=name)
        want = student_input(f0[sl], whole.voiced[sl], stats, clf.T, clf.crop, INPUTS,
                             whole.periodicity[sl].astype(np.float32), whole.energy_db[sl].astype(np.float32),
                             cq=whole.cq[sl].astype(np.float32), jitter=whole.jitter[sl].astype(np.float32),
                             shimmer=whole.shimmer[sl].astype(np.float32))
        np.testing.assert_array_equal(x, want)
        voiced = x[:, INPUTS.index("voiced")] > 0    # within the T frames the model reads
        assert voiced.sum() >= 20
        for name, c in col.items():                  # filled, not zeros: most voiced frames measure cycles
            assert np.count_nonzero(x[voiced, c]) >= voiced.sum() // 2, f"the {name} channel is mostly zero"
        assert np.any(x[:, col["cq"]] != x[0, col["cq"]])
