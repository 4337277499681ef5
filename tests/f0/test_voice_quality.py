"""EGG voice quality per voiced frame (contact quotient, jitter, shimmer): against the synthesiser's
known open quotient, jitter and shimmer, and on real voice. The measured numbers are in docs/f0.md.

The synthesiser's contact pulse is a raised-cosine rise and fall over the closed phase (1 - oq of
the cycle); 59.7 % of it lies above its 35 % level (1 - acos(0.3)/pi), so an ideal 35 % criterion
reads CQ = 0.597 * (1 - oq), not 1 - oq. The core measures on the 50 Hz high-passed, decimated
signal, which stays within 0.08 of that from 160 Hz up but bends it at low F0 (the xfail
test_male_cq_rises_as_open_quotient_falls_below_05). Its jitter and shimmer are
mean |T_k - T_k-1| / mean T and mean |A_k - A_k-1| / mean A; the synthesiser's are the relative
standard deviations of T and A, of which an ideal measure reads 2/sqrt(pi) = 1.13 times.
"""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.eggsynth import contour, synth_egg
from eggemo.core.f0 import F0Track, f0_track
from eggemo.wavio import read_wav

from .conftest import MODAL, REAL_EGG

FS = 16000
IDEAL_CQ_SHARE = 1 - np.arccos(0.3) / np.pi   # 0.597: share of a raised-cosine pulse above 35 %


def steady(f0_hz: float, seed: int = 7, **kw) -> F0Track:
    """2 s of synthetic EGG at a constant F0, analysed by the C core; nearly all of it voiced."""
    s = synth_egg(contour(2.0, FS, [0.0, 2.0], [f0_hz, f0_hz]), FS, seed=seed, **kw)
    track = f0_track(s.egg, FS)
    assert track.voiced.mean() > 0.9
    return track


def voiced(track: F0Track, name: str) -> np.ndarray:
    return getattr(track, name)[track.voiced]


@pytest.mark.parametrize("f0_hz", [160, 200, 250])
@pytest.mark.parametrize("sq", [2, 3, 4])
def test_cq_rises_as_open_quotient_falls(f0_hz, sq):
    """Strictly, in steps of 0.1 in oq, with 30 dB noise and a drift as large as the contact (measured:
    each step lowers CQ by 0.023 or more); and within 0.08 of 0.597 * (1 - oq) (measured: at most 0.071
    off, at oq 0.3 with the fastest closing, sq 4)."""
    oqs = np.array([0.3, 0.4, 0.5, 0.6, 0.7])
    cq = np.array([voiced(steady(f0_hz, oq=oq, sq=sq, noise_snr_db=30, drift=1.0), "cq").mean() for oq in oqs])
    assert np.all(np.diff(cq) < 0), cq
    np.testing.assert_allclose(cq, IDEAL_CQ_SHARE * (1 - oqs), atol=0.08)


@pytest.mark.parametrize("f0_hz", [100, 115, 130])
def test_male_cq_rises_as_open_quotient_falls_from_05(f0_hz):
    """At male F0 the order holds for oq 0.5, 0.6, 0.7 (measured: steps of 0.023 or more, sq 3)."""
    cq = [voiced(steady(f0_hz, oq=oq, sq=3, noise_snr_db=30, drift=1.0), "cq").mean() for oq in (0.5, 0.6, 0.7)]
    assert np.all(np.diff(cq) < 0), cq


@pytest.mark.xfail(strict=True, reason="known limitation: at F0 <= ~130 Hz the 50 Hz high-pass bends the contact "
                   "pulse so that CQ is flat or even falls from oq 0.5 to 0.3 (100 Hz: 0.483 at oq 0.5, 0.440 at "
                   "0.3); with hpf_hz=20 it rises (0.379 at oq 0.3, 0.287 at 0.5). See docs/f0.md")
def test_male_cq_rises_as_open_quotient_falls_below_05():
    cq = [voiced(steady(100, oq=oq, sq=3, noise_snr_db=30, drift=1.0), "cq").mean() for oq in (0.3, 0.5)]
    assert cq[0] > cq[1], cq


@pytest.mark.parametrize("f0_hz", [100, 120, 160, 200, 250])
def test_steady_tone_has_no_jitter_or_shimmer(f0_hz):
    """No jitter, no shimmer, no noise (oq 0.5, sq 3): measured mean jitter <= 0.00007 and shimmer
    <= 0.0042 (the peak-to-peak sampled on the decimated grid), largest frame 0.00007 and 0.0079."""
    track = steady(f0_hz)
    assert voiced(track, "jitter").mean() < 0.001 and voiced(track, "jitter").max() < 0.005
    assert voiced(track, "shimmer").mean() < 0.008 and voiced(track, "shimmer").max() < 0.015


def assert_follows(name: str, synth: tuple, tracks: list, floor: float, other: str, other_max: float) -> None:
    """The median of measure `name` rises with the synthesised values `synth` (the first 0), reads
    under `floor` at 0 and 0.75-1.3 times the value otherwise; the other measure stays < other_max."""
    got = np.array([np.median(voiced(t, name)) for t in tracks])
    assert np.all(np.diff(got) > 0), got
    assert got[0] < floor
    ratio = got[1:] / np.array(synth[1:])
    assert np.all((ratio > 0.75) & (ratio < 1.3)), ratio
    assert all(np.median(voiced(t, other)) < other_max for t in tracks)


@pytest.mark.parametrize("f0_hz", [120, 200])
@pytest.mark.parametrize("seed", [7, 8])
def test_jitter_follows_the_synthesised_jitter(f0_hz, seed):
    """Median over frames rises with the synthesised jitter: 0.85-1.11 times it (measured), not the ideal
    1.13, because the DEGG peak sits a fraction of each cycle after the closing instant and so shares
    part of the next cycle's change. Shimmer stays small (<= 0.006 measured)."""
    synth = (0.0, 0.01, 0.03)
    assert_follows("jitter", synth, [steady(f0_hz, seed=seed, jitter=j) for j in synth], 0.001, "shimmer", 0.01)


@pytest.mark.parametrize("f0_hz", [120, 200])
@pytest.mark.parametrize("seed", [7, 8])
def test_shimmer_follows_the_synthesised_shimmer(f0_hz, seed):
    """Median over frames rises with the synthesised shimmer: 0.90-1.18 times it (measured). Jitter
    stays at its floor (<= 0.0001 measured)."""
    synth = (0.0, 0.05, 0.15)
    assert_follows("shimmer", synth, [steady(f0_hz, seed=seed, shimmer=s) for s in synth], 0.008, "jitter", 0.001)


def test_no_spurious_jitter_at_low_f0_and_long_contact():
    """100 Hz, oq 0.3, sq 2, clean: the high-pass's recovery in the open phase makes a DEGG peak at
    42 % of the closure's, 0.61 periods after it. As the last peak of a frame nothing replaces it;
    CYCLE_MIN = 0.7 keeps its 0.61-period cycle out (at 0.5 every frame read jitter 0.143)."""
    assert np.median(voiced(steady(100, oq=0.3, sq=2), "jitter")) < 0.005


def real_tracks(names) -> list[F0Track]:
    out = []
    for path in REAL_EGG:
        if path.name in names:
            fs, x = read_wav(path)
            out.append(f0_track(x[:, 0], fs))
    assert len(out) == len(names)
    return out


def pooled(tracks: list[F0Track], name: str) -> np.ndarray:
    return np.concatenate([voiced(t, name) for t in tracks])


def test_real_modal_voice_is_plausible():
    """M1 and M11, modal voice (150 voiced frames): median CQ 0.40 (10-90 %: 0.35-0.48), jitter 1.2 %,
    shimmer 1.5 %, measured; typical EGG contact quotients are 0.3-0.7, jitter of modal voice ~1 %."""
    tracks = real_tracks(MODAL)
    cq = pooled(tracks, "cq")
    assert len(cq) > 100
    assert 0.3 <= np.median(cq) <= 0.6
    assert np.mean((cq > 0.2) & (cq < 0.8)) > 0.9
    assert np.median(pooled(tracks, "jitter")) < 0.03
    assert np.median(pooled(tracks, "shimmer")) < 0.05


def test_real_creak_is_more_irregular_than_modal_voice():
    """The five creaky tokens (179 voiced frames): median jitter 2.6 % and shimmer 3.5 % against
    1.2 % and 1.5 % for modal voice, measured."""
    creaky = [p.name for p in REAL_EGG if p.name not in MODAL]
    assert len(creaky) == 5
    creak, modal = real_tracks(creaky), real_tracks(MODAL)
    for name in ("jitter", "shimmer"):
        assert np.median(pooled(creak, name)) > 1.5 * np.median(pooled(modal, name)), name
