"""Per-utterance statistics behind the reference classifiers of docs/data.md."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.train.baselines import F0_STAT_NAMES, evaluate, f0_statistics, spectral_statistics
from eggemo.train.featureset import FeatureSet


def test_f0_statistics_of_a_known_contour():
    x = np.zeros((300, 2), np.float32)
    x[20:120, 0] = np.linspace(-1, 1, 100)           # a rise over 1 s ...
    x[20:120, 1] = 1
    x[150:200, 0] = 0.5                               # ... a pause, then a flat segment
    x[150:200, 1] = 1
    s = dict(zip(F0_STAT_NAMES, f0_statistics(x)))
    assert s["segments_per_s"] == pytest.approx(2 / 1.8)
    assert s["span_s"] == pytest.approx(1.8)
    assert s["voiced_frac"] == pytest.approx(150 / 180)
    assert s["final_move"] == 0 and s["first_third"] < s["last_third"]
    assert s["abs_delta"] == pytest.approx((2 / 99 * 99) / 148)
    assert not f0_statistics(np.zeros((300, 2), np.float32)).any()


def test_spectral_statistics_ignore_padding():
    m = np.full((80, 300), np.log(1e-10), np.float32)
    m[:, :100] = np.arange(80)[:, None]
    s = spectral_statistics(m)
    np.testing.assert_allclose(s[:80], np.arange(80))
    np.testing.assert_allclose(s[80:], 0)


def test_reference_classifier_learns_a_separable_toy_set():
    rng = np.random.default_rng(0)
    n = 140
    labels = np.repeat(np.arange(7), 20)
    f0 = np.zeros((n, 300, 2), np.float32)
    f0[:, :200, 1] = 1
    f0[:, :200, 0] = (labels[:, None] - 3) * 0.5 + rng.normal(0, 0.3, (n, 200))
    logmel = rng.normal(0, 1, (n, 80, 300)).astype(np.float32)
    fs = FeatureSet(logmel, f0, labels.astype(np.int64), tuple("abcdefg"), np.array([f"s{i % 5}" for i in range(n)]),
                    np.array([str(i) for i in range(n)]))
    rows = {(r["features"], r["protocol"]): r for r in evaluate(fs, seeds=(0,))}
    assert rows[("f0", "stratified 80/20")]["acc"] > 0.6          # chance is 1/7
    assert rows[("spectral", "leave-one-speaker-out")]["acc"] < 0.4
