"""LSL outlets: stream metadata (label, unit, type per channel) and samples, read back by an inlet."""
from __future__ import annotations

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")

from eggemo.host.lsl import LslOutlets  # noqa: E402


def channels(info) -> list[tuple[str, str, str]]:
    ch = info.desc().child("channels").child("channel")
    out = []
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("unit"), ch.child_value("type")))
        ch = ch.next_sibling()
    return out


def test_f0_and_emotion_outlets_carry_channel_metadata():
    out = LslOutlets(("anger", "neutral"), source_id="eggemo-test")
    f0_in = pylsl.StreamInlet(pylsl.resolve_byprop("source_id", "eggemo-test-f0", timeout=5)[0])
    emo_in = pylsl.StreamInlet(pylsl.resolve_byprop("source_id", "eggemo-test-emotion", timeout=5)[0])
    f0_info, emo_info = f0_in.info(timeout=5), emo_in.info(timeout=5)
    assert channels(f0_info) == [("f0", "Hz", "F0"), ("voiced", "bool", "Voicing"),
                                 ("periodicity", "normalized", "Periodicity"), ("energy", "dB", "Energy"),
                                 ("cq", "ratio", "ContactQuotient"), ("jitter", "ratio", "Jitter"),
                                 ("shimmer", "ratio", "Shimmer")]
    assert f0_info.nominal_srate() == 100.0 and f0_info.type() == "F0"
    assert channels(emo_info) == [("anger", "probability", "EmotionProbability"),
                                  ("neutral", "probability", "EmotionProbability")]
    f0_in.open_stream(timeout=5)
    emo_in.open_stream(timeout=5)
    out.push_f0(np.array([0.02, 0.03]), np.float32([0, 120.5]), np.array([0, 1]), np.float32([0.1, 0.9]),
                np.float32([-50, -20]), np.float32([0, 0.45]), np.float32([0, 0.012]), np.float32([0, 0.04]))
    out.push_prediction(np.float32([0.3, 0.7]))
    chunk, stamps = f0_in.pull_chunk(timeout=5, max_samples=2)
    assert np.allclose(chunk, [[0, 0, 0.1, -50, 0, 0, 0], [120.5, 1, 0.9, -20, 0.45, 0.012, 0.04]])
    assert stamps[1] - stamps[0] == pytest.approx(0.01, abs=1e-6)
    sample, _ = emo_in.pull_sample(timeout=5)
    assert np.allclose(sample, [0.3, 0.7])
    out.close()
