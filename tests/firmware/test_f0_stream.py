"""EGG streamed into the emulated board: its F0 frames equal the C routine run on the host
(eggemo._emo, the same csrc/emo_f0.c) bit for bit in every field of the record (F0, periodicity,
energy, voicing, and the voice quality: contact quotient, jitter, shimmer), and RAW frames echo
the input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from eggemo._emo import ffi, lib
from eggemo.eggsynth import contour, synth_egg
from eggemo.core import proto as P
from eggemo.wavio import read_wav

DATA = Path(__file__).resolve().parents[1] / "data" / "egg_real"
FS = 16000


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def real_egg(name: str) -> np.ndarray:
    """A real recording (44.1 kHz), resampled to 16 kHz and quantised to int16."""
    fs, x = read_wav(DATA / name)
    assert fs == 44100
    return to_int16(resample_poly(x[:, 0].astype(np.float64), 160, 441))


def synthetic_egg() -> np.ndarray:
    """1.6 s: a rising then falling male contour, a pause, a female stretch; drift, noise, jitter."""
    # (voicing onsets at samples 1602 and 16802: eggsynth._cycles loops forever when
    # int(k / fs * fs) != k at an onset, e.g. k = 16002 -- reported to the lead)
    f0 = contour(1.6, FS, [0.0, 0.1, 0.1001, 0.7, 0.8, 0.8001, 1.05, 1.0501, 1.5, 1.6],
                 [0.0, 0.0, 110.0, 150.0, 95.0, 0.0, 0.0, 210.0, 240.0, 0.0])
    egg = synth_egg(f0, FS, jitter=0.01, shimmer=0.05, amplitude=0.4, drift=0.5, noise_snr_db=30.0, seed=3)
    return to_int16(egg.egg)


def reference_f0(x: np.ndarray, fs: int = FS) -> np.ndarray:
    """emo_f0_analyze on the same samples as the board sees them (int16 / 32768 in float32)."""
    sig = np.ascontiguousarray(x.astype(np.float32) / np.float32(32768.0), dtype=np.float32)
    params = ffi.new("emo_f0_params_t *")
    assert lib.emo_f0_default_params(params, fs) == lib.EMO_OK
    st = ffi.new("emo_f0_state_t *")
    assert lib.emo_f0_init(st, params) == lib.EMO_OK
    n = lib.emo_f0_num_frames(st, len(sig))
    out = ffi.new("emo_f0_frame_t[]", n)
    n_out = ffi.new("int32_t *")
    status = lib.emo_f0_analyze(st, params, ffi.cast("float *", ffi.from_buffer(sig)), len(sig), out, n, n_out)
    assert status == lib.EMO_OK, ffi.string(lib.emo_status_str(status))
    rec = np.zeros(n_out[0], P.F0_DTYPE)
    for i in range(n_out[0]):
        rec[i] = tuple(getattr(out[i], name) for name in P.F0_DTYPE.names)   # every field of the record
    return rec


FLOAT_FIELDS = ("f0_hz", "periodicity", "energy_db", "cq", "jitter", "shimmer")


def assert_bit_equal(board: np.ndarray, ref: np.ndarray) -> None:
    assert len(board) == len(ref), f"board sent {len(board)} F0 frames, reference has {len(ref)}"
    np.testing.assert_array_equal(board["index"], np.arange(len(ref)))  # in order, each once
    assert P.F0_DTYPE.names == ("index", "f0_hz", "periodicity", "energy_db", "voiced", "cq", "jitter",
                                "shimmer")     # a field added to the record must be compared here
    for name in FLOAT_FIELDS:
        b, r = board[name].view(np.uint32), ref[name].view(np.uint32)
        bad = np.flatnonzero(b != r)
        assert bad.size == 0, (f"{name} differs in {bad.size} frames, first at {bad[0]}: "
                               f"board {board[name][bad[0]]!r} reference {ref[name][bad[0]]!r}")
    np.testing.assert_array_equal(board["voiced"], ref["voiced"])


@pytest.mark.parametrize("name", ["M1_FrameSentence_EGG.wav", "M11_disyll_EGG.wav"])
def test_real_egg_f0_is_bit_exact(board, name):
    x = real_egg(name)
    ref = reference_f0(x)
    voiced = ref["voiced"] != 0
    assert voiced.sum() > 20  # the recordings are mostly voiced: the test has teeth
    # the voice quality too: measured on most voiced frames, never on unvoiced ones
    for vq in ("cq", "jitter", "shimmer"):
        assert np.count_nonzero(ref[vq][voiced]) > voiced.sum() // 2, vq
        assert not ref[vq][~voiced].any(), vq
    res = board.stream(x, mode=P.MODE_F0)
    assert_bit_equal(res.f0, ref)       # cq, jitter and shimmer included, bit for bit
    s = res.status
    assert (s.samples_in, s.samples_lost, s.samples_dropped) == (len(x), 0, 0)
    assert (s.crc_errors, s.format_errors, s.seq_lost, s.rx_overflows, s.cmd_rejected) == (0, 0, 0, 0, 0)
    assert s.f0_sent == len(ref)
    assert s.hops == -(-len(x) // board.hello.f0_hop_samples)


def test_synthetic_egg_f0_is_bit_exact_and_raw_echoes(board):
    x = synthetic_egg()
    ref = reference_f0(x)
    assert 0 < ref["voiced"].sum() < len(ref)  # voiced and unvoiced stretches
    res = board.stream(x, mode=P.MODE_BOTH, block=317)  # blocks not aligned to hops
    assert_bit_equal(res.f0, ref)
    np.testing.assert_array_equal(res.raw, x)
    assert res.status.samples_in == len(x) and res.status.samples_lost == 0


def test_streams_restart_and_8khz(board):
    """A second stream at 8 kHz on the same board starts again from index 0."""
    x16 = synthetic_egg()
    first = board.stream(x16[:8000], mode=P.MODE_F0)
    assert_bit_equal(first.f0, reference_f0(x16[:8000]))
    x8 = x16[::2].copy()
    res = board.stream(x8, mode=P.MODE_F0, fs=8000)
    hello = (board.send(P.CMD_GET_HELLO), board.expect(P.Hello))[1]
    assert (hello.fs, hello.f0_hop_samples) == (8000, 80)
    assert_bit_equal(res.f0, reference_f0(x8, 8000))


def test_board_reports_instructions_per_hop(board):
    """Under -icount shift=0 the board measures its own F0 cost per 10 ms hop with SysTick."""
    assert board.hello.cost_unit == P.COST_INSTRUCTIONS and board.hello.cpu_hz == 168_000_000
    res = board.stream(real_egg("M1_FrameSentence_EGG.wav")[:16000], mode=P.MODE_F0)
    s = res.status
    assert s.hops == 100
    # A hop's autocorrelation alone is ~34k multiply-adds (lags 16..161 of a 320-sample
    # frame after decimation to 8 kHz), each at least 3 instructions: a count of SysTick
    # ticks (0.168 per instruction) or of anything coarser would fall far below this.
    assert 3 * 34_000 < s.hop_cost_mean <= s.hop_cost_max < 20_000_000
    assert 0 < s.hop_cost_last <= s.hop_cost_max
