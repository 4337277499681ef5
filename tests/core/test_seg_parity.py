"""Parity: the C segmenter (csrc/emo_seg.c through eggemo.core.seg.NativeSegmenter, the code the
board runs) and its NumPy twin (eggemo.core.seg.Segmenter, its specification) cut the same F0 frame streams into the same
utterances, closed at the same frame, with the same fields bit for bit and the same drop count."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eggemo._emo import ffi, lib
from eggemo.core.seg import FRAME_COLUMNS, Frames, NativeSegmenter, Segmenter, SegmenterConfig, Utterance

REASONS = {lib.EMO_SEG_HANGOVER: "hangover", lib.EMO_SEG_MAX_LENGTH: "max_length",
           lib.EMO_SEG_STREAM_END: "stream_end", lib.EMO_SEG_GAP: "gap", lib.EMO_SEG_RESTART: "restart"}
CODES = {name: code for code, name in REASONS.items()}
MS_FIELDS = ("hop_ms", "hangover_ms", "preroll_ms", "tail_ms", "min_voiced_ms", "max_ms")
FLOATS = FRAME_COLUMNS[3:]                       # periodicity, energy_db, cq, jitter, shimmer

# emo_f0_frame_t as numpy sees it, from the compiler's own offsets
FRAME_DTYPE = np.dtype({
    "names": ["index", "f0_hz", "voiced", *FLOATS],
    "formats": ["<u4", "<f4", "u1", *["<f4"] * len(FLOATS)],
    "offsets": [ffi.offsetof("emo_f0_frame_t", n) for n in ["index", "f0_hz", "voiced", *FLOATS]],
    "itemsize": ffi.sizeof("emo_f0_frame_t"),
})


def c_config(cfg: SegmenterConfig) -> tuple[int, object]:
    ms = ffi.new("emo_seg_ms_t *", {f: getattr(cfg, f) for f in MS_FIELDS})
    c = ffi.new("emo_seg_config_t *")
    return lib.emo_seg_config_from_ms(c, ms), c


class CSegmenter(NativeSegmenter):
    """The C segmenter (eggemo.core.seg.NativeSegmenter) fed the test's records one at a time."""

    def push(self, rec) -> list[Utterance]:
        return super().push(rec if isinstance(rec, Frames) else as_frames(np.atleast_1d(rec)))


def same(a: list[Utterance], b: list[Utterance]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.first, len(x), x.reason, x.n_voiced) == (y.first, len(y), y.reason, y.n_voiced)
        for f in ("f0_hz", "voiced", *FLOATS):
            assert np.asarray(getattr(x, f)).tobytes() == np.asarray(getattr(y, f)).tobytes(), f


def stream_records(pieces, seed: int, start: int, hang: int = 1) -> tuple[np.ndarray, list[int]]:
    """F0 records for the pieces, and the positions before which both sides end the stream.
    A ("pause", k) is hang + k unvoiced frames: just short of, at or a little past the hangover,
    so that the next voicing finds the closed utterance's last frames in the preroll.
    Every float field gets its own random value so that any mix-up of frames shows."""
    index, voiced, ends = [], [], []
    nxt = start
    for kind, *arg in pieces:
        if kind == "jump":
            if len(arg) > 1:                         # voiced frames before the jump
                index += range(nxt, nxt + arg[1])
                voiced += [1] * arg[1]
                nxt += arg[1]
            nxt = max(0, nxt + arg[0])
        elif kind == "end":
            ends.append(len(index))
        elif kind == "pause":
            k = max(1, hang + arg[0])
            index += range(nxt, nxt + k)
            voiced += [0] * k
            nxt += k
        else:
            pattern = [arg[0]] * arg[1] if kind == "run" else arg[0]
            index += range(nxt, nxt + len(pattern))
            voiced += pattern
            nxt += len(pattern)
    rng = np.random.default_rng(seed)
    n = len(index)
    rec = np.zeros(n, FRAME_DTYPE)
    rec["index"] = index
    rec["voiced"] = voiced
    rec["f0_hz"] = np.where(rec["voiced"] != 0, rng.uniform(60, 400, n), 0.0)
    for f in FLOATS:
        rec[f] = rng.standard_normal(n) * 50
    return rec, ends


def as_frames(rec: np.ndarray) -> Frames:
    return Frames(rec["index"].astype(np.int64), rec["f0_hz"].copy(), rec["voiced"] != 0,
                  *(rec[f].copy() for f in FLOATS))


def run_both(cfg: SegmenterConfig, rec: np.ndarray, ends: list[int]) -> int:
    """Push frame by frame into both; returns the number of utterances."""
    py, c = Segmenter(cfg), CSegmenter(cfg)
    frames = as_frames(rec)
    count = 0
    for i in range(len(rec) + 1):
        for _ in range(ends.count(i)):
            same(py.end("stream_end"), c.end("stream_end"))
        if i == len(rec):
            break
        got_py = py.push(Frames(*(getattr(frames, f)[i:i + 1] for f in FRAME_COLUMNS)))
        got_c = c.push(rec[i])
        same(got_py, got_c)                          # closed by the same frame
        count += len(got_py)
        assert py.dropped == c.dropped and py.in_utterance == bool(c.st.open)
    last_py, last_c = py.end("stream_end"), c.end("stream_end")
    same(last_py, last_c)
    assert py.dropped == c.dropped
    return count + len(last_py)


@st.composite
def configs(draw) -> SegmenterConfig:
    """Valid host configs in milliseconds: hops that do and do not divide them, halves of a hop
    (rounded to even), a preroll that may outgrow the maximum length."""
    hop = draw(st.sampled_from([10.0, 5.0, 8.0, 12.5, 16.0, 20.0, 3.3]))
    ms = st.one_of(st.integers(0, 40).map(lambda k: k * hop / 2), st.floats(0, 30 * hop))
    hangover = hop + draw(ms)
    longer = st.one_of(st.floats(0, 400 * hop), st.integers(0, 800).map(lambda k: k * hop / 2), ms, st.just(0.0))
    return SegmenterConfig(hop_ms=hop, hangover_ms=hangover, preroll_ms=draw(ms), tail_ms=draw(ms),
                           min_voiced_ms=draw(ms), max_ms=hangover + draw(longer))


pieces = st.lists(st.one_of(
    st.tuples(st.just("run"), st.just(1), st.integers(1, 60)),
    st.tuples(st.just("run"), st.just(0), st.integers(1, 80)),
    st.tuples(st.just("run"), st.integers(0, 1), st.integers(40, 700)),       # long: max length, hangover
    st.tuples(st.just("flicker"), st.lists(st.integers(0, 1), min_size=1, max_size=30)),
    st.tuples(st.just("jump"), st.integers(-400, 400).filter(bool)),          # gap or restart
    st.tuples(st.just("jump"), st.integers(-400, 400).filter(bool), st.integers(1, 30)),  # inside voicing
    st.tuples(st.just("end")),
    st.tuples(st.just("pause"), st.integers(-2, 12)),
    st.tuples(st.just("pause"), st.integers(-2, 12)),
), min_size=3, max_size=30)


# hand-picked: the pipeline tests' short one, one at a 16 ms hop, a long tail and minimum voicing
FIXED = [SegmenterConfig(hangover_ms=50, preroll_ms=30, tail_ms=20, min_voiced_ms=30, max_ms=200),
         SegmenterConfig(hop_ms=16, hangover_ms=200, preroll_ms=40, tail_ms=120, min_voiced_ms=72, max_ms=1200),
         SegmenterConfig(hangover_ms=150, preroll_ms=0, tail_ms=900, min_voiced_ms=150, max_ms=3000)]


@given(st.one_of(configs(), st.sampled_from(FIXED)), pieces, st.integers(0, 2**32 - 1),
       st.sampled_from([0, 1234, 2**31, 2**32 - 20_000]))
@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_same_utterances_as_the_host(cfg, pieces, seed, start):
    rc, _ = c_config(cfg)
    seg = Segmenter(cfg)
    if seg._max > lib.EMO_SEG_MAX_FRAMES or (seg._pre.maxlen or 0) >= lib.EMO_SEG_MAX_FRAMES:
        assert rc == lib.EMO_ERR_PARAM                   # beyond the board's buffer
        return
    rec, ends = stream_records(pieces, seed, start, seg._hang)
    run_both(cfg, rec, ends)


def test_default_config_long_voicing_and_pauses():
    """The host's defaults (max 10 s = EMO_SEG_MAX_FRAMES): 25 s of voicing is cut at 10 s, the
    preroll fills the first utterance, pauses under the hangover stay inside."""
    pieces = [("run", 0, 80), ("run", 1, 2500), ("run", 0, 30), ("flicker", [1, 0] * 40), ("run", 0, 60),
              ("run", 1, 5), ("run", 0, 49), ("run", 1, 9), ("jump", 17), ("run", 1, 300), ("jump", -900),
              ("run", 1, 20), ("run", 0, 5)]
    rec, ends = stream_records(pieces, 7, 0)
    cfg = SegmenterConfig()
    assert run_both(cfg, rec, ends) >= 5
    c = CSegmenter(cfg)
    assert (c.st.c.hangover, c.st.c.preroll, c.st.c.tail, c.st.c.min_voiced, c.st.c.max_frames) == \
        (50, 30, 20, 10, lib.EMO_SEG_MAX_FRAMES)
    d = ffi.new("emo_seg_ms_t *")
    assert lib.emo_seg_default_ms(d) == lib.EMO_OK
    assert {f: getattr(d, f) for f in MS_FIELDS} == {f: getattr(cfg, f) for f in MS_FIELDS}


def test_preroll_longer_than_max_and_max_of_one_frame():
    """A preroll that alone fills the maximum closes the utterance at its first voiced frame,
    preroll + 1 frames long; with max_ms of one hop every voiced frame is an utterance."""
    pieces = [("run", 0, 70), ("run", 1, 3), ("run", 0, 4), ("run", 1, 1), ("jump", 3), ("run", 1, 2),
              ("run", 0, 2), ("jump", -10), ("run", 1, 1)]
    rec, ends = stream_records(pieces, 3, 100)
    assert run_both(SegmenterConfig(hangover_ms=100, preroll_ms=600, max_ms=300, min_voiced_ms=0), rec, ends) > 0
    assert run_both(SegmenterConfig(hangover_ms=10, preroll_ms=20, tail_ms=10, max_ms=10, min_voiced_ms=0),
                    rec, ends) == 7


def test_silence_after_the_tail_becomes_the_next_preroll():
    """hangover 5, tail 2: the 3 frames after the tail go back into the preroll (3 frames), so an
    utterance that starts right after one closed begins inside the last one's silence; a dropped
    utterance's frames after its tail do too."""
    cfg = SegmenterConfig(hangover_ms=50, preroll_ms=30, tail_ms=20, min_voiced_ms=30, max_ms=200)
    rec, ends = stream_records([("run", 0, 2), ("run", 1, 4), ("run", 0, 5), ("run", 1, 3), ("run", 0, 6),
                                ("run", 1, 2), ("run", 0, 5), ("run", 1, 3), ("run", 0, 5)], 11, 0)
    c = CSegmenter(cfg)
    got = [u for r in rec for u in c.push(r)]
    assert [(u.first, len(u), u.reason) for u in got] == [(0, 8, "hangover"), (8, 8, "hangover"),
                                                          (24, 8, "hangover")]
    assert c.dropped == 1
    assert run_both(cfg, rec, ends) == 3


def test_halves_round_to_even_like_python():
    for x, want in ((5.0, 0), (15.0, 2), (25.0, 2), (35.0, 4), (14.999, 1), (25.0001, 3)):
        cfg = SegmenterConfig(tail_ms=x)
        rc, c = c_config(cfg)
        assert rc == lib.EMO_OK and c.tail == cfg.frames(x) == want, x


# --- bad input ------------------------------------------------------------------------------


def host_refuses(kw: dict) -> bool:
    try:
        Segmenter(SegmenterConfig(**kw))
    except (ValueError, OverflowError):
        return True
    return False


BAD = [dict(hop_ms=0.0), dict(hop_ms=-10.0), dict(hangover_ms=5.0), dict(preroll_ms=-1.0), dict(tail_ms=-0.5),
       dict(min_voiced_ms=-100.0), dict(max_ms=400.0), dict(hop_ms=math.nan), dict(tail_ms=math.nan),
       dict(max_ms=math.inf), dict(preroll_ms=math.inf), dict(hop_ms=math.inf), dict(hop_ms=1e-320)]


@pytest.mark.parametrize("kw", BAD, ids=[",".join(f"{k}={v}" for k, v in kw.items()) for kw in BAD])
def test_configs_the_host_refuses_are_refused(kw):
    assert host_refuses(kw)
    ms = ffi.new("emo_seg_ms_t *")
    lib.emo_seg_default_ms(ms)
    for k, v in kw.items():
        setattr(ms, k, v)
    assert lib.emo_seg_config_from_ms(ffi.new("emo_seg_config_t *"), ms) == lib.EMO_ERR_PARAM


_any_ms = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-20, 20_000),
                    st.sampled_from([0.0, 5.0, 10.0, 9999.0, 10000.0, 10005.0, 10005.1, 9995.0]))


@given(st.fixed_dictionaries({f: _any_ms for f in MS_FIELDS}))
@settings(max_examples=600, deadline=None, derandomize=True)
def test_c_refuses_what_the_host_refuses_and_only_what_does_not_fit(kw):
    ms = ffi.new("emo_seg_ms_t *", kw)
    rc = lib.emo_seg_config_from_ms(ffi.new("emo_seg_config_t *"), ms)
    if host_refuses(kw):
        assert rc == lib.EMO_ERR_PARAM
        return
    seg = Segmenter(SegmenterConfig(**kw))
    fits = seg._max <= lib.EMO_SEG_MAX_FRAMES and (seg._pre.maxlen or 0) < lib.EMO_SEG_MAX_FRAMES
    assert rc == (lib.EMO_OK if fits else lib.EMO_ERR_PARAM)


def test_bad_frame_config_reason_and_pointers():
    st_ = ffi.new("emo_seg_state_t *")
    good = dict(hangover=50, preroll=30, tail=20, min_voiced=10, max_frames=1000)
    assert lib.emo_seg_init(st_, ffi.new("emo_seg_config_t *", good)) == lib.EMO_OK
    for bad in (dict(hangover=0), dict(preroll=-1), dict(preroll=lib.EMO_SEG_MAX_FRAMES), dict(tail=-1),
                dict(min_voiced=-1), dict(max_frames=49), dict(max_frames=lib.EMO_SEG_MAX_FRAMES + 1)):
        assert lib.emo_seg_init(st_, ffi.new("emo_seg_config_t *", {**good, **bad})) == lib.EMO_ERR_PARAM, bad
    utt, got = ffi.new("emo_seg_utt_t *"), ffi.new("int32_t *")
    frame = ffi.new("emo_f0_frame_t *")
    for reason in (0, 6, -1, 255):
        assert lib.emo_seg_end(st_, reason, utt, got) == lib.EMO_ERR_PARAM
    assert lib.emo_seg_init(ffi.NULL, ffi.new("emo_seg_config_t *", good)) == lib.EMO_ERR_NULL
    assert lib.emo_seg_init(st_, ffi.NULL) == lib.EMO_ERR_NULL
    assert lib.emo_seg_push(st_, ffi.NULL, utt, got) == lib.EMO_ERR_NULL
    assert lib.emo_seg_push(st_, frame, ffi.NULL, got) == lib.EMO_ERR_NULL
    assert lib.emo_seg_end(st_, lib.EMO_SEG_STREAM_END, utt, ffi.NULL) == lib.EMO_ERR_NULL
    assert lib.emo_seg_config_from_ms(ffi.NULL, ffi.new("emo_seg_ms_t *")) == lib.EMO_ERR_NULL
    assert lib.emo_seg_default_ms(ffi.NULL) == lib.EMO_ERR_NULL
