"""emo_nn's arithmetic: the C kernels (eggemo.core.nn native_*) against their NumPy twins, edge values
included. Whole models run in C against the NumPy reference and ai-edge-litert in tests/export."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.core import nn

REALS = [1e-6, 3.7e-4, 0.0123, 0.5, 0.99999, 1.0, 1.5, 7.25]


@pytest.mark.parametrize("real", REALS)
def test_requantisations_agree_with_the_c_core(real):
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.integers(-2**31, 2**31, 400), [0, 1, -1, 2**31 - 1, -2**31, 12345, -12345]])
    m, s = nn.quantize_multiplier(real)
    assert m == 0 or 2**30 <= m < 2**31
    assert abs(m * 2.0 ** (s - 31) - real) <= real * 2**-30
    small = np.clip(xs, -2**24, 2**24) if s > 0 else xs
    np.testing.assert_array_equal(nn.native_requant(small, m, s), nn.requant(small, m, s))
    if s <= 0:
        acc = np.clip(xs, -2**26, 2**26)
        np.testing.assert_array_equal(nn.native_requant_once(acc, m, s), nn.requant_once(acc, m, s))
        # the 16x8 forms on 64-bit accumulators
        wide = np.concatenate([rng.integers(-2**40, 2**40, 200), [0, 1, -1, 2**40, -2**40, 32767, -32768]])
        np.testing.assert_array_equal(nn.native_requant_wide(wide, m, s), nn.requant_wide(wide, m, s))
        acc64 = np.clip(wide, -2**32 + 1, 2**32 - 1)
        np.testing.assert_array_equal(nn.native_requant_once64(acc64, m, s), nn.requant_once(acc64, m, s))


def test_per_channel_multipliers_broadcast_alike():
    rng = np.random.default_rng(3)
    acc = rng.integers(-2**20, 2**20, (5, 4))
    mq = [nn.quantize_multiplier(r) for r in (1e-3, 2e-3, 4e-2, 0.3)]
    mult, shift = np.array([m for m, _ in mq])[None, :], np.array([s for _, s in mq])[None, :]
    np.testing.assert_array_equal(nn.native_requant(acc, mult, shift), nn.requant(acc, mult, shift))


def test_narrowed_16x8_scores_agree_with_the_c_core():
    """The int8 scores a board running a 16x8 model sends (emo_nn_narrow16) are narrow16 of the int16
    scores, extremes and rounding ties included; int8 scores pass as they are."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.integers(-32768, 32768, 3000), [-32768, 32767, -129, -128, -127, 127, 128, 383, 384,
                                                            -384, -385, 0, 32640, 32639, -32640, -32641]]).astype(np.int16)
    want = nn.narrow16(x)
    assert want.dtype == np.int8 and np.array_equal(nn.native_narrow16(x), want)
    assert np.array_equal(want, np.clip(np.floor(x / 256 + 0.5), -128, 127))        # x / 256, half up
    assert np.all(np.diff(nn.narrow16(np.sort(x)).astype(int)) >= 0)                  # keeps the order
    i8 = rng.integers(-128, 128, 50).astype(np.int8)
    assert np.array_equal(nn.narrow16(i8), i8)


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_argmax_takes_the_first_of_a_tie_in_c_and_numpy(dtype):
    rng = np.random.default_rng(2)
    info = np.iinfo(dtype)
    for n in (1, 2, 7, 16):
        for _ in range(50):
            x = rng.integers(info.min, info.max + 1, n).astype(dtype)
            if n > 2:
                x[n // 2] = x[-1] = x.max()                       # a tie: the first one wins
            assert nn.native_argmax(x) == nn.argmax(x) == int(np.flatnonzero(x == x.max())[0])


@pytest.mark.parametrize("bits", [8, 16])
def test_fully_connected_agrees_with_the_c_core(bits):
    """FULLY_CONNECTED (emo_nn_fc, emo_nn_fc16) against nn.fc, saturating inputs and outputs included."""
    rng = np.random.default_rng(bits)
    wide = bits == 16
    info = np.iinfo(np.int16 if wide else np.int8)
    n_in, n_out = 48, 7
    mq = [nn.quantize_multiplier(float(r)) for r in np.geomspace(1e-5, 3e-2, n_out)]   # small to saturating
    zi, zo = (0, 0) if wide else (int(rng.integers(-30, 30)), int(rng.integers(-30, 30)))
    op = nn.Op("fc", [0], 1,
               dict(n_in=n_in, n_out=n_out, in_zp=zi, out_zp=zo, act_min=info.min, act_max=info.max, wide=wide),
               dict(weights=rng.integers(-127, 128, (n_out, n_in)).astype(np.int8),
                    bias=rng.integers(-5000, 5000, n_out).astype(np.int64 if wide else np.int32),
                    mult=np.array([m for m, _ in mq], np.int32), shift=np.array([s for _, s in mq], np.int32)))
    seen = set()
    for _ in range(40):
        x = rng.integers(info.min, info.max + 1, n_in).astype(info.dtype)
        x[rng.integers(0, n_in, 5)] = info.max
        want = nn.fc(op, x)
        assert want.dtype == info.dtype
        np.testing.assert_array_equal(nn.native_fc(op, x), want)
        seen |= {int(v) for v in want}
    assert {info.min, info.max} <= seen and len(seen) > 50, "the clamp and the values between not both exercised"
