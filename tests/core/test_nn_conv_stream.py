"""A convolution streamed into the next (csrc/emo_nn.c emo_nn_conv_pair / _conv16_pair): the same
bits as the two convolutions run whole, for every tile size, stride, kernel and padding, and the
row checks that keep a tile from reading frames it does not hold.

The C runs through eggemo/core/nn.py's bindings (native_conv, native_conv_rows, native_conv_pair), the
reference is its NumPy twins (conv, conv_rows, conv_pair; bit for bit with ai-edge-litert's kernels:
tests/export/test_export_cnn.py)."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.core import nn

PARAM = "parameter out of range or inconsistent"       # EMO_ERR_PARAM (emo_status_str)


def conv_op(rng, bits: int, len_in: int, ch_in: int, ch_out: int, kernel: int, stride: int, pad: int,
            relu: bool) -> nn.Op:
    wide = bits == 16
    len_out = (len_in + pad + (kernel - 1) // 2 - kernel) // stride + 1    # some right padding too
    in_zp, out_zp = (0, 0) if wide else (int(rng.integers(-20, 20)), int(rng.integers(-20, 20)))
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    mq = [nn.quantize_multiplier(float(m)) for m in rng.uniform(2e-4, 3e-3, ch_out) / (128 if wide else 1)]
    bias = rng.integers(-3000, 3000, ch_out)
    return nn.Op("conv", [0], 1,
                     dict(len_in=len_in, ch_in=ch_in, len_out=len_out, ch_out=ch_out, kernel=kernel, stride=stride,
                          pad_before=pad, in_zp=in_zp, out_zp=out_zp, act_min=max(lo, out_zp) if relu else lo,
                          act_max=hi, wide=wide),
                     dict(weights=rng.integers(-127, 128, (ch_out, kernel, ch_in)).astype(np.int8),
                          bias=bias.astype(np.int64 if wide else np.int32),
                          mult=np.array([m for m, _ in mq], np.int32), shift=np.array([s for _, s in mq], np.int32)))


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("len_in,k_a,s_a,k_b,s_b,pad", [(300, 5, 1, 5, 2, 2), (37, 3, 2, 5, 1, 2), (9, 5, 1, 3, 3, 1),
                                                         (23, 1, 1, 4, 2, 0)])
def test_streamed_pair_is_the_two_convolutions_bit_for_bit(bits, len_in, k_a, s_a, k_b, s_b, pad):
    rng = np.random.default_rng(len_in * bits + k_b)
    a = conv_op(rng, bits, len_in, 5, 12, k_a, s_a, pad if k_a > 1 else 0, relu=True)
    b = conv_op(rng, bits, a.params["len_out"], 12, 8, k_b, s_b, pad, relu=bool(len_in % 2))
    if bits == 8:      # b reads a's output in a's quantisation
        b.params["in_zp"] = a.params["out_zp"]
    dt = np.int16 if bits == 16 else np.int8
    info = np.iinfo(dt)
    x = rng.integers(info.min, info.max + 1, len_in * 5).astype(dt)
    x[:5] = info.min
    x[5:10] = info.max
    mid_ref = nn.conv(a, x)
    want = nn.conv(b, mid_ref)
    whole_mid = nn.native_conv(a, x)
    assert np.array_equal(whole_mid, mid_ref)
    for tile in (1, 2, 7, 16, b.params["len_out"], 10_000):
        rows = min((tile - 1) * s_b + k_b, a.params["len_out"])
        mid = np.full((rows + 4) * 12, 77, dt)        # four guard frames past the tile's rows
        out = nn.native_conv_pair(a, b, tile, x, mid)
        assert np.array_equal(out, want), f"tile {tile}"
        assert np.array_equal(nn.conv_pair(a, b, tile, x), want)
        assert np.all(mid[rows * 12:] == 77), f"tile {tile} wrote past mid's {rows} rows"
    for pair in (nn.native_conv_pair, nn.conv_pair):
        with pytest.raises(ValueError, match=PARAM):
            pair(a, b, 0, x)


def test_rows_refuses_a_window_reaching_a_frame_not_held():
    rng = np.random.default_rng(3)
    op = conv_op(rng, 8, 20, 3, 4, 5, 1, 2, relu=False)
    x = rng.integers(-128, 128, 20 * 3).astype(np.int8)
    want = nn.conv(op, x).reshape(20, 4)
    # output frames 6..9 read input frames 4..11: holding exactly those is enough
    held = np.ascontiguousarray(x.reshape(20, 3)[4:12])
    for rows_fn in (nn.native_conv_rows, nn.conv_rows):
        out = rows_fn(op, held, 4, 8, 6, 10)
        assert np.array_equal(out.reshape(4, 4), want[6:10])
        # one frame short at either end, or outputs past the end: refused, nothing read out of bounds
        for first, rows, t0, t1 in ((5, 7, 6, 10), (4, 7, 6, 10), (4, 8, 6, 21),
                                    (15, 8, 6, 10),              # past the input
                                    (12, 8, 6, 10),              # held, not read
                                    (4, 2**31 - 1, 6, 10)):
            with pytest.raises(ValueError, match=PARAM):
                rows_fn(op, held, first, rows, t0, t1)
        # the first frames' windows reach before the input: only the frames inside must be held
        out = rows_fn(op, x, 0, 4, 0, 2)
        assert np.array_equal(out.reshape(2, 4), want[:2])
