"""The C student input (csrc/emo_feat.c, which the board and the host's int8 classifier run) against
its NumPy specification: eggemo.core.feat student_input and F0Normaliser, on the F0 core's frames
of real EGG recordings and on generated frame streams.

Bounds, and why:
- statistics: 1e-12 relative. Both sides are double with the same summation order (NumPy's pairwise
  sum); they differ only where the C core's ln (+, -, *, / only) and libm's log differ by one ulp.
- float input: one float32 ulp of the value (<= 4.8e-7 at |x| <= F0_CLIP = 6). Every channel is
  computed in double and rounded once, as NumPy does; an ulp of ln moves the float32 only across a
  rounding boundary.
- int8 input: identical on >= 99.9 % of values, never more than 1 LSB apart; quantisation itself
  (TFLite's reference rounding) is identical to eggemo.core.feat.quantize and to TFLite's reference
  QUANTIZE kernel on every value, ties included.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eggemo.core.feat import quantize
from eggemo.core.f0 import f0_track
from eggemo.core.feat import (CROPS, F0_CLIP, STUDENT_INPUTS, F0Normaliser, F0Stats, NativeNormaliser, native_frames,
                              native_quantize, native_student_input, student_input)
from eggemo.core.seg import Frames, Segmenter, SegmenterConfig, Utterance, concat_frames
from eggemo.wavio import read_wav
from eggemo._emo import ffi, lib

DATA = Path(__file__).resolve().parent.parent / "data" / "egg_real"
REAL_EGG = sorted(DATA.glob("*_EGG.wav"))
STATS_REL = 1e-12
SCALES = ((12.0 / 255.0, 0), (0.0391, -5), (0.0625, 3))   # (scale, zero point) of plausible int8 inputs


# --- helpers ----------------------------------------------------------------------------------


def utterance(f0, voiced, periodicity=None, energy_db=None, cq=None, jitter=None, shimmer=None,
              first: int = 0) -> Utterance:
    f32 = np.float32
    cols = [None if c is None else np.asarray(c, f32) for c in (periodicity, energy_db, cq, jitter, shimmer)]
    return Utterance(first, np.asarray(f0, f32), np.asarray(voiced, bool), "test", *cols)


def numpy_input(utt: Utterance, stats: F0Stats, T: int, crop: str, inputs) -> np.ndarray:
    return student_input(utt.f0_hz, utt.voiced, stats, T, crop, inputs, utt.periodicity, utt.energy_db,
                         cq=utt.cq, jitter=utt.jitter, shimmer=utt.shimmer)


def stats_rel(a: F0Stats, b: F0Stats) -> float:
    """Largest relative difference of the double fields; NaN where both are NaN counts as equal."""
    assert a.n == b.n
    worst = 0.0
    for x, y in ((a.mu, b.mu), (a.sigma, b.sigma), (a.e_mu, b.e_mu), (a.e_sigma, b.e_sigma)):
        if math.isnan(x) or math.isnan(y):
            assert math.isnan(x) and math.isnan(y), (a, b)
            continue
        if x != y:
            worst = max(worst, abs(x - y) / max(abs(x), abs(y)))
    return worst


CANCEL = 1e-12


def assert_within_ulp(c: np.ndarray, ref: np.ndarray) -> float:
    """C within one float32 ulp of the reference everywhere (NaN where it is NaN); the max abs diff."""
    assert c.shape == ref.shape and c.dtype == ref.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref))
    ok = ~np.isnan(ref)
    d = np.abs(c[ok].astype(np.float64) - ref[ok])
    # A channel that is a difference of logarithms ((ln f0 - mu) / sigma, delta_log_f0) can cancel to 0
    # in one and to one double ulp of ln f0 / sigma (~2e-14) in the other: numpy's and libm's log differ
    # by an ulp. Below CANCEL the two agree to far better than any float32 input can tell apart.
    assert np.all(d <= np.maximum(np.spacing(np.abs(ref[ok])), CANCEL)), f"max diff {d.max()}"
    return float(d.max(initial=0.0))


def real_utterances() -> list[Utterance]:
    """Every real EGG file as one utterance, and the utterances the host's segmenter cuts it into."""
    out = []
    for path in REAL_EGG:
        fs, x = read_wav(path)
        x = x[:, 0] if x.ndim == 2 else x
        tr = f0_track(x, fs)
        f32 = np.float32
        fr = Frames(np.arange(len(tr.f0)), np.where(tr.voiced, tr.f0, 0.0).astype(f32), tr.voiced,
                    tr.periodicity.astype(f32), tr.energy_db.astype(f32), tr.cq.astype(f32),
                    tr.jitter.astype(f32), tr.shimmer.astype(f32))
        seg = Segmenter(SegmenterConfig(hangover_ms=300.0, min_voiced_ms=50.0))
        out += seg.push(fr) + seg.end("stream_end")
        out.append(Utterance(0, fr.f0_hz, fr.voiced, "whole", fr.periodicity, fr.energy_db, fr.cq, fr.jitter,
                             fr.shimmer))
    return out


@pytest.fixture(scope="module")
def real() -> list[Utterance]:
    utts = real_utterances()
    assert len(REAL_EGG) >= 7 and len(utts) >= 2 * len(REAL_EGG) and sum(u.n_voiced for u in utts) > 500
    return utts


# --- real EGG -----------------------------------------------------------------------------------


def test_utterance_and_session_statistics_match_the_host_normaliser(real):
    worst = 0.0
    for u in real:
        worst = max(worst, stats_rel(NativeNormaliser("utterance").stats_for(u), F0Normaliser("utterance").stats_for(u)))
    py, c = F0Normaliser("session"), NativeNormaliser("session")
    for u in real:                                  # the session runs across every utterance in turn
        worst = max(worst, stats_rel(c.stats_for(u), py.stats_for(u)))
    assert c._st.n == py._n and c._st.sum == pytest.approx(py._sum, rel=STATS_REL)
    assert worst <= STATS_REL, worst


@pytest.mark.parametrize("crop", CROPS)
@pytest.mark.parametrize("T", [20, 100, 300])       # shorter than all, some, none of the utterances
def test_real_egg_float_and_int8_input(real, crop, T):
    same = total = 0
    for u in real:
        stats = F0Normaliser("utterance").stats_for(u)
        ref = numpy_input(u, stats, T, crop, STUDENT_INPUTS)
        c = native_student_input(u, stats, T, crop, STUDENT_INPUTS)
        assert_within_ulp(c, ref)
        c_live = native_student_input(u, NativeNormaliser("utterance").stats_for(u), T, crop, STUDENT_INPUTS)
        assert_within_ulp(c_live, ref)              # with the C statistics too
        for scale, zp in SCALES:
            qc, qr = native_quantize(c_live, scale, zp), quantize(ref, scale, zp)
            assert np.abs(qc.astype(int) - qr).max() <= 1
            same += int((qc == qr).sum())
            total += qc.size
    assert same / total >= 0.999, f"{same} of {total}"


# --- generated frame streams ----------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")
# no subnormals: TensorFlow, loaded by earlier tests in the same process, turns on flush-to-zero,
# and hypothesis refuses to draw subnormal floats then (F0 frames never hold one anyway)
f32s = dict(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False)
FRAME = st.tuples(
    st.one_of(st.just(0.0), st.floats(40.0, 700.0, **f32s), st.floats(0.0009765625, 5000.0, **f32s)),  # f0_hz
    st.booleans(),                                                                          # voiced
    st.one_of(st.floats(-1.5, 1.5, **f32s), st.sampled_from([NAN, INF, -INF])),              # periodicity
    st.one_of(st.floats(-130.0, 10.0, **f32s), st.floats(-130.0, 10.0, **f32s),
              st.sampled_from([NAN, INF, -INF])),                                           # energy_db
    *[st.one_of(st.just(0.0), st.floats(0.0, 1.0, **f32s), st.floats(-1.0, 60.0, **f32s),
                st.sampled_from([NAN, INF, -INF])) for _ in range(3)],                       # cq, jitter, shimmer
)


def utt_from(frames: list[tuple], first: int = 0) -> Utterance:
    cols = list(zip(*frames)) if frames else [[]] * 7
    return utterance(*cols, first=first)


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(FRAME, max_size=400), T=st.integers(1, 450), crop=st.sampled_from(CROPS),
       inputs=st.lists(st.sampled_from(STUDENT_INPUTS), min_size=1, max_size=16))
def test_generated_frames_match_student_input(frames, T, crop, inputs):
    u = utt_from(frames)
    py = F0Normaliser("utterance").stats_for(u)
    assert stats_rel(NativeNormaliser("utterance").stats_for(u), py) <= STATS_REL
    # numpy's delta_energy of no frames is one frame long: stacked with another channel it raises;
    # alone it is one 0 padded with 0s, what the C gives
    if not frames and "delta_energy" in inputs and set(inputs) != {"delta_energy"}:
        with pytest.raises(ValueError):
            numpy_input(u, py, T, crop, tuple(inputs))
        inputs = [c for c in inputs if c != "delta_energy"] or ["voiced"]
    assert_within_ulp(native_student_input(u, py, T, crop, tuple(inputs)),
                      numpy_input(u, py, T, crop, tuple(inputs)))


@settings(max_examples=60, derandomize=True, deadline=None)
@given(utts=st.lists(st.lists(FRAME.filter(lambda f: not math.isnan(f[3])), max_size=150), max_size=8))
def test_generated_sessions_match_the_host_normaliser(utts):
    py, c = F0Normaliser("session"), NativeNormaliser("session")
    for frames in utts:
        u = utt_from(frames)
        assert stats_rel(c.stats_for(u), py.stats_for(u)) <= STATS_REL


# --- edge cases ---------------------------------------------------------------------------------


def test_empty_and_unvoiced_utterances():
    nothing = F0Stats(float(np.log(100.0)), 1.0, 0)
    for u in (utterance([], []), utterance([0.0, 120.0, 0.0], [False, False, True], energy_db=[-20, -30, -40])):
        for mode in ("utterance", "session"):
            s = NativeNormaliser(mode).stats_for(u)
            assert s == nothing == F0Normaliser(mode).stats_for(u)
    u = utterance([], [], [], [], [], [], [])
    inputs = tuple(c for c in STUDENT_INPUTS if c != "delta_energy")
    x = native_student_input(u, nothing, 5, "center", STUDENT_INPUTS)
    want = np.zeros((5, len(STUDENT_INPUTS)), np.float32)
    want[:, STUDENT_INPUTS.index("energy")] = -F0_CLIP  # padding is silence
    np.testing.assert_array_equal(x, want)
    np.testing.assert_array_equal(native_student_input(u, nothing, 5, "end", inputs),
                                  numpy_input(u, nothing, 5, "end", inputs))


def test_nan_energy_is_read_as_the_reference_reads_it():
    """Three readings, each the reference's: the energy channels read NaN as -200 dB; utterance
    statistics keep it (e_mu, e_sigma NaN, as F0Stats.from_frames); session sums read it as 0."""
    f0 = [100.0, 110.0, 120.0, 0.0, 130.0]
    e = [-20.0, np.nan, -25.0, np.nan, -30.0]
    u = utterance(f0, [1, 1, 1, 0, 1], energy_db=e)
    for mode in ("utterance", "session"):
        c, py = NativeNormaliser(mode).stats_for(u), F0Normaliser(mode).stats_for(u)
        assert stats_rel(c, py) <= STATS_REL
        assert math.isnan(c.e_mu) == (mode == "utterance")
    good = F0Stats(4.7, 0.1, 4, -22.0, 5.0)
    for inputs in (("energy", "delta_energy"), ("log_f0", "energy")):
        x = native_student_input(u, good, 8, "start", inputs)
        assert_within_ulp(x, numpy_input(u, good, 8, "start", inputs))
    assert x[1, 1] == -F0_CLIP                      # (-200 + 22) / 5 clipped
    with pytest.raises(ValueError, match="NaN"):    # NaN statistics reach the model as NaN: refused
        native_quantize(native_student_input(u, NativeNormaliser("utterance").stats_for(u), 8, "start",
                                             ("energy",)), 0.05, 0)


@pytest.mark.parametrize("crop", CROPS)
@pytest.mark.parametrize("T", [1, 7, 10, 11, 40])
def test_every_crop_and_length(crop, T):
    rng = np.random.default_rng(T)
    L = 10
    u = utterance(rng.uniform(80, 300, L), rng.random(L) < 0.7, rng.uniform(0, 1, L), rng.uniform(-60, 0, L),
                  rng.uniform(0.3, 0.7, L), rng.uniform(0, 0.05, L), rng.uniform(0, 0.1, L))
    s = F0Normaliser("utterance").stats_for(u)
    assert_within_ulp(native_student_input(u, s, T, crop, STUDENT_INPUTS), numpy_input(u, s, T, crop, STUDENT_INPUTS))


def test_fixed_mode_and_copied_session_state():
    fixed = F0Stats(4.9, 0.18, 0, -25.0, 6.0)
    u = utterance([100.0, 200.0], [1, 1], energy_db=[-10.0, -20.0])
    assert NativeNormaliser("fixed", fixed).stats_for(u) == fixed
    py = F0Normaliser("session")
    py.stats_for(u)
    c = NativeNormaliser.like(py)                   # carries the sums so far
    assert stats_rel(c.stats_for(u), py.stats_for(u)) <= STATS_REL
    with pytest.raises(ValueError, match="emo_feat|statistics"):
        NativeNormaliser("fixed", F0Stats(4.9, 0.0, 0))


# --- quantisation -------------------------------------------------------------------------------


def near_ties(scale: float, zp: int) -> np.ndarray:
    """float32 values at and around every (k + 1/2) * scale of the int8 range, and beyond it."""
    s = np.float32(scale)
    centre = ((np.arange(-140, 140) - zp + 0.5) * np.float64(s)).astype(np.float32)
    steps = [centre]
    up, down = centre.copy(), centre.copy()
    for _ in range(3):
        up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
        steps += [up, down]
    rng = np.random.default_rng(0)
    return np.concatenate(steps + [rng.uniform(-8, 8, 5000).astype(np.float32),
                                   np.float32([0.0, -0.0, 1e30, -1e30, 3e38, -3e38])])


def reference_quantize_model(n: int, scale: float, zp: int, wide: bool = False) -> bytes:
    """A TFLite model of one QUANTIZE op, float32 (1, n) to int8 (int16 when wide) with (scale, zp)."""
    import flatbuffers
    import ai_edge_litert.schema_py_generated as S

    code = S.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = S.BuiltinOperator.QUANTIZE
    code.version = 1
    tensors = []
    for i, (name, ttype) in enumerate(((b"x", S.TensorType.FLOAT32), (b"q", S.TensorType.INT16 if wide else S.TensorType.INT8))):
        t = S.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, n], ttype, i + 1, name
        tensors.append(t)
    qp = S.QuantizationParametersT()
    qp.scale, qp.zeroPoint = [scale], [zp]
    tensors[1].quantization = qp
    op = S.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    sg = S.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = tensors, [0], [1], [op]
    m = S.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [code], [sg], [S.BufferT() for _ in range(3)]
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.mark.parametrize("wide", [False, True], ids=["int8", "int16"])
@pytest.mark.parametrize("scale, zp", SCALES)
def test_quantize_is_tflites_reference_quantize(scale, zp, wide):
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    dt = np.int16 if wide else np.int8
    if wide:           # a 16x8 input: zero point 0, a scale 256 times finer so the int16 range is used
        scale, zp = scale / 256, 0
    x = near_ties(scale, zp)
    if wide:
        x = np.concatenate([x, np.float32([30000.5, -30000.5, 32767.4, 32767.6, -32768.6, 40000]) * np.float32(scale)])
    qc = native_quantize(x, scale, zp, dt)
    assert qc.dtype == dt
    np.testing.assert_array_equal(qc, quantize(x, scale, zp, np.dtype(dt)))     # the host runtime's
    interp = Interpreter(model_content=reference_quantize_model(len(x), scale, zp, wide),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x[None])
    interp.invoke()
    tfl = interp.get_tensor(interp.get_output_details()[0]["index"])[0]
    # beyond the int32 range (|x / scale| > 2^31, never a feature: those are within +-F0_CLIP) this
    # kernel casts to int32 before saturating and gives -128 for huge positive values
    small = np.abs(x / np.float32(scale)) < 2.0 ** 31
    assert small.sum() >= len(x) - 4
    np.testing.assert_array_equal(qc[small], tfl[small])
    ties = np.float32([0.5, -0.5, 1.5, -1.5, 2.5]) * np.float32(scale)
    assert native_quantize(ties, scale, 0, dt).tolist() == [1, -1, 2, -2, 3]   # half away from zero


# --- bad arguments --------------------------------------------------------------------------------


def test_bad_arguments_give_status_codes():
    u = utterance([100.0, 0.0], [1, 0], [0.5, 0.1], [-20.0, -50.0], [0.5, 0.0], [0.01, 0.0], [0.03, 0.0])
    frames = native_frames(u)
    stats = ffi.new("emo_feat_stats_t *", {"mu": 4.6, "sigma": 0.1, "n": 1, "e_mu": -20.0, "e_sigma": 3.0})
    out = ffi.new("float[]", 64)
    ch = ffi.new("int32_t[]", [lib.EMO_FEAT_LOG_F0, lib.EMO_FEAT_VOICED])

    def build(frames=frames, n=2, stats=stats, ch=ch, nc=2, T=4, crop=lib.EMO_FEAT_CROP_CENTER, out=out, cap=64):
        return lib.emo_feat_build(frames, n, stats, ch, nc, T, crop, out, cap)

    assert build() == lib.EMO_OK
    assert build(T=0) == build(T=-3) == build(T=lib.EMO_FEAT_MAX_T + 1) == lib.EMO_ERR_PARAM
    assert build(ch=ffi.new("int32_t[]", [0, lib.EMO_FEAT_N_CHANNEL_KINDS])) == lib.EMO_ERR_PARAM
    assert build(ch=ffi.new("int32_t[]", [-1, 0])) == lib.EMO_ERR_PARAM
    assert build(nc=0) == build(nc=lib.EMO_FEAT_MAX_CHANNELS + 1) == build(crop=3) == build(n=-1) == lib.EMO_ERR_PARAM
    assert build(cap=7) == lib.EMO_ERR_CAPACITY
    assert build(frames=ffi.NULL) == build(stats=ffi.NULL) == build(ch=ffi.NULL) == build(out=ffi.NULL) \
        == lib.EMO_ERR_NULL
    assert build(frames=ffi.NULL, n=0) == lib.EMO_OK    # an empty utterance needs no frames

    st = ffi.new("emo_feat_norm_t *")
    s_out = ffi.new("emo_feat_stats_t *")
    assert lib.emo_feat_norm_init(ffi.NULL, 0, ffi.NULL) == lib.EMO_ERR_NULL
    assert lib.emo_feat_norm_init(st, 7, ffi.NULL) == lib.EMO_ERR_PARAM
    assert lib.emo_feat_norm_stats(st, frames, 2, s_out) == lib.EMO_ERR_PARAM    # init failed: unusable
    assert lib.emo_feat_norm_init(st, lib.EMO_FEAT_NORM_FIXED, ffi.NULL) == lib.EMO_ERR_NULL
    assert lib.emo_feat_norm_init(st, lib.EMO_FEAT_NORM_SESSION, stats) == lib.EMO_ERR_PARAM
    bad = ffi.new("emo_feat_stats_t *", {"mu": float("nan"), "sigma": 0.1, "e_sigma": 1.0})
    assert lib.emo_feat_norm_init(st, lib.EMO_FEAT_NORM_FIXED, bad) == lib.EMO_ERR_PARAM
    assert lib.emo_feat_norm_init(st, lib.EMO_FEAT_NORM_UTTERANCE, ffi.NULL) == lib.EMO_OK
    assert lib.emo_feat_norm_stats(st, frames, -1, s_out) == lib.EMO_ERR_PARAM
    assert lib.emo_feat_norm_stats(st, ffi.NULL, 2, s_out) == lib.emo_feat_norm_stats(st, frames, 2, ffi.NULL) \
        == lib.EMO_ERR_NULL

    x = ffi.new("float[]", [0.1, 0.2])
    q = ffi.new("int8_t[]", 2)
    assert lib.emo_feat_quantize(x, 2, 0.0, 0, q) == lib.emo_feat_quantize(x, 2, float("inf"), 0, q) \
        == lib.emo_feat_quantize(x, 2, 0.1, 128, q) == lib.emo_feat_quantize(x, -1, 0.1, 0, q) == lib.EMO_ERR_PARAM
    assert lib.emo_feat_quantize(ffi.NULL, 2, 0.1, 0, q) == lib.EMO_ERR_NULL
    q16 = ffi.new("int16_t[]", 2)
    assert lib.emo_feat_quantize16(x, 2, 0.1, 32768, q16) == lib.emo_feat_quantize16(x, 2, 0.0, 0, q16) \
        == lib.EMO_ERR_PARAM
    assert lib.emo_feat_quantize16(x, 2, 0.1, 0, ffi.NULL) == lib.EMO_ERR_NULL
    x[1] = float("inf")
    assert lib.emo_feat_quantize(x, 2, 0.1, 0, q) == lib.EMO_ERR_NONFINITE and list(q) == [0, 0]
    assert lib.emo_feat_quantize16(x, 2, 0.1, 0, q16) == lib.EMO_ERR_NONFINITE and list(q16) == [0, 0]
