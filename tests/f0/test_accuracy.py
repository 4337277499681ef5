"""F0 accuracy: against exact synthetic ground truth and against Praat on real modal voice."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.core.f0 import f0_track
from eggemo.core.f0.metrics import align, load_praat_csv, pitch_errors
from eggemo.wavio import read_wav

from .conftest import DATA, MODAL


def synthetic_errors(items, fs: int, backend: str = "c"):
    ref, est = [], []
    for s in items:
        tr = f0_track(s.egg, fs, backend=backend)
        n = min(len(tr), len(s.f0_frames))
        np.testing.assert_allclose(tr.times[:n], s.frame_times[:n], atol=1e-9)
        ref.append(s.f0_frames[:n])
        est.append(tr.f0[:n])
    return pitch_errors(np.concatenate(ref), np.concatenate(est))


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_synthetic_targets(synth16k, backend):
    e = synthetic_errors(synth16k, 16000, backend)
    assert e.n_both > 1000
    assert e.gpe <= 0.005, e.row()
    assert e.fpe_hz <= 1.0, e.row()
    assert e.vde <= 0.03, e.row()


def test_synthetic_8k_targets():
    from .conftest import synthetic_set
    e = synthetic_errors(synthetic_set(8000, count=6, seed=2), 8000)
    assert e.gpe <= 0.005 and e.fpe_hz <= 1.0 and e.vde <= 0.03, e.row()


@pytest.mark.parametrize("name", MODAL)
def test_real_modal_voice_against_praat(name):
    fs, x = read_wav(DATA / name)
    tr = f0_track(x[:, 0], fs)
    ok, praat = align(*load_praat_csv(DATA / name.replace(".wav", ".praat_f0.csv")), tr.times)
    assert ok.sum() > 100
    e = pitch_errors(praat, tr.f0[ok])
    assert e.gpe <= 0.02, e.row()
    assert e.vde <= 0.10, e.row()


def test_drift_is_removed():
    """A baseline wander 4x the contact amplitude changes nothing that matters."""
    from eggemo.eggsynth import contour, synth_egg
    fs = 16000
    f0 = contour(2.0, fs, [0, 0.2, 0.2001, 1.8, 1.8001, 2.0], [0, 0, 120, 150, 0, 0])
    clean = synth_egg(f0, fs, drift=0.0, seed=4)
    drifting = synth_egg(f0, fs, drift=4.0, seed=4)
    a, b = f0_track(clean.egg, fs), f0_track(drifting.egg, fs)
    assert np.mean(a.voiced != b.voiced) <= 0.02
    both = a.voiced & b.voiced
    assert np.max(np.abs(a.f0[both] - b.f0[both])) < 1.0


def test_octave_jump_is_corrected():
    """A few frames whose strongest peak is the doubled period (every other pulse weak)
    are pulled back onto the contour by the bidirectional search."""
    fs = 16000
    t = np.arange(int(1.5 * fs)) / fs
    phase = np.cumsum(np.full(len(t), 130.0)) / fs
    pulses = np.maximum(np.sin(2 * np.pi * phase), 0) ** 3
    odd = (np.floor(phase) % 2 == 1)
    weak = (t > 0.7) & (t < 0.78)  # alternate pulses at 35 %: a period-doubling burst
    x = 0.4 * pulses * np.where(weak & odd, 0.35, 1.0)
    tr = f0_track(x, fs)
    v = tr.voiced
    assert v.mean() > 0.9
    assert np.all(np.abs(tr.f0[v] - 130.0) < 2.0), tr.f0[v].min()
