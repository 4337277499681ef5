"""Pipeline stages alone: segmentation from voicing with hangover, normalisation, host F0."""
from __future__ import annotations

import json

import numpy as np
import pytest

from eggemo.core.f0 import f0_track
from eggemo.core import proto as P
from eggemo.host.pipeline import (FRAME_COLUMNS, F0Normaliser, Frames, HostF0, ModelInfo, Segmenter, SegmenterConfig,
                                  choose_normaliser, concat_frames, frames_from_records, frames_to_records,
                                  read_norm_file)
from eggemo.core.feat import F0Stats

from .conftest import FS
from .test_reconnect import voiced_egg


def frames(pattern: str, first: int = 0, f0: float = 150.0) -> Frames:
    """'v' voiced, '.' unvoiced, one character per frame."""
    v = np.array([c == "v" for c in pattern], bool)
    n = len(v)
    return Frames(np.arange(first, first + n, dtype=np.int64), np.where(v, f0, 0.0).astype(np.float32), v,
                  *(np.zeros(n, np.float32) for _ in range(5)))


SEG = SegmenterConfig(hangover_ms=50, preroll_ms=30, tail_ms=20, min_voiced_ms=30, max_ms=200)


def test_hangover_preroll_and_tail():
    seg = Segmenter(SEG)
    # 5 unvoiced, 4 voiced, a 3-frame pause (< hangover 5), 3 voiced, then silence
    out = seg.push(frames("....." + "vvvv" + "..." + "vvv" + "........"))
    (u,) = out
    assert u.first == 5 - 3                      # 3 frames of preroll
    assert len(u) == 3 + 4 + 3 + 3 + 2           # preroll, voiced, pause kept, voiced, 2 frames of tail
    assert u.n_voiced == 7 and u.reason == "hangover"
    assert seg.push(frames("." * 3, first=20)) == []
    assert not seg.in_utterance


def test_utterance_ends_only_after_the_hangover():
    seg = Segmenter(SEG)
    assert seg.push(frames("vvvv....")) == []    # 4 unvoiced: not yet
    (u,) = seg.push(frames(".", first=8))        # the 5th closes it
    assert u.last == 3 + 2


def test_short_voicing_is_dropped_and_becomes_preroll():
    seg = Segmenter(SEG)
    assert seg.push(frames("vv......")) == []    # 2 voiced frames < min 3
    assert seg.dropped == 1
    (u,) = seg.push(frames("vvv......", first=8))
    assert u.first == 5 and u.n_voiced == 3      # the preroll holds the 3 frames before (unvoiced)


def test_max_length_gap_restart_and_end():
    seg = Segmenter(SEG)
    (u,) = seg.push(frames("v" * 20))
    assert (u.reason, len(u)) == ("max_length", 20)
    seg.push(frames("vvvv", first=20))
    (g,) = seg.push(frames("vvvv", first=40))    # frames 24..39 lost
    assert (g.reason, g.first, g.last) == ("gap", 20, 23)
    (r,) = seg.push(frames("vvvv", first=0))     # the board restarted
    assert r.reason == "restart" and r.first == 40
    (e,) = seg.end("stream_end")
    assert (e.first, e.reason) == (0, "stream_end")
    assert seg.end("stream_end") == []


def test_bad_segmenter_config():
    with pytest.raises(ValueError, match="hangover_ms"):
        SegmenterConfig(hangover_ms=1)
    with pytest.raises(ValueError, match="preroll_ms"):
        SegmenterConfig(preroll_ms=-5)


def test_normaliser_modes():
    seg = Segmenter(SEG)
    (u1,) = seg.push(frames("vvvv......", f0=100.0))
    (u2,) = seg.push(frames("vvvv......", first=10, f0=200.0))
    s1 = F0Normaliser("utterance").stats_for(u2)
    assert s1.mu == pytest.approx(np.log(200.0)) and s1.sigma == pytest.approx(0.05)
    sess = F0Normaliser("session")
    sess.stats_for(u1)
    s = sess.stats_for(u2)                        # both utterances: the session so far
    assert s.n == 8 and s.mu == pytest.approx(np.log(np.sqrt(100.0 * 200.0)))
    assert s.sigma == pytest.approx(np.log(2.0) / 2)
    fixed = F0Stats(5.0, 0.2, 0)
    assert F0Normaliser("fixed", fixed).stats_for(u1) is fixed
    with pytest.raises(ValueError, match="one of"):
        F0Normaliser("speaker")


def test_norm_file_and_model_choice(tmp_path):
    good = tmp_path / "norm.json"
    good.write_text(json.dumps({"mu": 4.9, "sigma": 0.18}))
    assert read_norm_file(good) == F0Stats(4.9, 0.18, 0)
    bad = tmp_path / "bad.json"
    bad.write_text("{\"mu\": 1}")
    with pytest.raises(ValueError, match="sigma"):
        read_norm_file(bad)
    # statistics no voice has (and a board would refuse): F0 in Hz instead of ln F0, a huge spread
    for d, match in (({"mu": 120.0, "sigma": 0.2}, "mu = 120 is outside 3.689..6.477.*not F0 in Hz"),
                     ({"mu": 4.9, "sigma": 3.0}, "sigma = 3 is outside"),
                     ({"mu": 4.9, "sigma": 0.2, "e_mu": 1e300}, "e_mu = 1e\\+300 is outside")):
        bad.write_text(json.dumps(d))
        with pytest.raises(ValueError, match=match):
            read_norm_file(bad)
    info = ModelInfo(tmp_path / "m.tflite", None, 300, "center", "global", 10.0, 40.0, None)
    with pytest.raises(ValueError, match="--norm FILE.json"):
        choose_normaliser(info, None)
    assert choose_normaliser(info, str(good)).mode == "fixed"
    assert choose_normaliser(ModelInfo(**{**info.__dict__, "f0_norm": "speaker"}), None).mode == "session"
    with pytest.raises(ValueError, match="no such file"):
        ModelInfo.from_model(tmp_path / "missing.tflite")


def test_records_round_trip():
    f = frames("..vvv.")
    rng = np.random.default_rng(3)
    f = Frames(f.index, f.f0_hz, f.voiced, *(rng.uniform(0, 1, len(f)).astype(np.float32) for _ in range(5)))
    rec = frames_to_records(f)
    back = frames_from_records(np.frombuffer(P.pack_f0(rec), P.F0_DTYPE))
    for name in FRAME_COLUMNS:
        np.testing.assert_array_equal(getattr(back, name), getattr(f, name), err_msg=name)


def test_segmenter_carries_every_column_into_the_utterance():
    """The student may read periodicity, energy, cq, jitter and shimmer: the utterance holds each
    frame's own values, preroll and tail included."""
    f = frames("...." + "vvvvvv" + "......", first=10)
    k = np.arange(len(f), dtype=np.float32)
    f = Frames(f.index, f.f0_hz, f.voiced, k + 0.5, k - 60, 0.01 * k, 0.001 * k, 0.002 * k)
    (u,) = Segmenter(SEG).push(f)
    sel = (f.index >= u.first) & (f.index <= u.last)
    for name in ("periodicity", "energy_db", "cq", "jitter", "shimmer"):
        np.testing.assert_array_equal(getattr(u, name), getattr(f, name)[sel], err_msg=name)


def test_host_f0_equals_the_whole_signal_and_marks_gaps():
    x = voiced_egg(1.0, 140.0, 3)
    host = HostF0(FS)
    parts = [host.push(P.SampleBlock(i, x[i:i + 510])) for i in range(0, len(x), 510)] + [host.flush()]
    got = concat_frames(parts)
    ref = f0_track(x, FS)
    np.testing.assert_array_equal(got.index, np.arange(len(ref)))
    np.testing.assert_array_equal(got.f0_hz, np.where(ref.voiced, ref.f0, 0).astype(np.float32))
    for name in ("cq", "jitter", "shimmer"):            # the host's F0 path carries the voice quality too
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name).astype(np.float32), err_msg=name)
    assert np.mean(got.cq[got.voiced] > 0) > 0.9
    # lost samples: counted, and the frame indices jump past them
    host = HostF0(FS)
    a = host.push(P.SampleBlock(0, x[:8000]))
    b = host.push(P.SampleBlock(9600, x[9600:]))
    assert host.samples_lost == 1600
    idx = concat_frames([a, b, host.flush()]).index
    assert np.all(np.diff(idx) > 0)               # in order, each once
    jump = int(np.argmax(np.diff(idx)))
    assert (idx[jump], idx[jump + 1]) == (46, 9600 // 160)   # the first stream's last frame, then a gap
