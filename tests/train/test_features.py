"""Feature values on known signals, the shared frame grid, F0 normalisation, pad/crop, FeatureSet shapes."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from eggemo.eggsynth import contour, synth_egg
from eggemo.core.f0 import f0_track
from eggemo.train.data import EMODB_LABELS, load_corpus
from eggemo.core.feat import STUDENT_INPUTS, F0Stats, f0_input, fit_length, normalise_f0
from eggemo.train.features import FeatureConfig, compute_utterance, extract_features, log_mel
from eggemo.train.noise import NoiseConfig
from eggemo.train.synth_corpus import CorpusConfig, write_corpus

CFG = FeatureConfig()
FS = CFG.fs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("feat_corpus")
    write_corpus(out, CorpusConfig(n_utterances=14, n_speakers=2, seed=11))
    return load_corpus(out)


def test_sine_peaks_in_the_mel_band_of_its_frequency():
    import librosa

    centres = librosa.mel_frequencies(CFG.n_mels + 2, fmin=0.0, fmax=FS / 2)[1:-1]
    t = np.arange(FS) / FS
    for f in (300.0, 1000.0, 3000.0):
        lm = log_mel(np.sin(2 * np.pi * f * t), CFG)
        assert lm.shape == (80, (FS - 1 - 320) // 160 + 1)
        assert abs(int(np.argmax(lm[:, 50])) - int(np.argmin(np.abs(centres - f)))) <= 1


def test_log_mel_scales_with_the_square_of_the_amplitude():
    t = np.arange(FS) / FS
    x = np.sin(2 * np.pi * 1000 * t)
    lm1, lm2 = log_mel(x, CFG), log_mel(0.5 * x, CFG)
    band = int(np.argmax(lm1[:, 50]))
    assert lm1[band, 50] - lm2[band, 50] == pytest.approx(np.log(4.0), abs=1e-4)
    assert 0.05 < np.exp(lm1[band, 50]) < 0.5    # a full-scale sine: about 0.25 in its bin, shared by a band


def test_silence_is_the_log_floor():
    lm = log_mel(np.zeros(FS), CFG)
    assert np.all(lm == np.float32(np.log(CFG.log_floor)))


def test_mel_frames_sit_on_the_f0_core_grid():
    """A click at 0.5 s lands in the frame whose centre the F0 core puts at 0.5 s (frame 48: 20 ms + 48 x 10 ms)."""
    x = np.zeros(FS)
    x[FS // 2] = 1.0
    lm = log_mel(x, CFG)
    assert int(np.argmax(lm.sum(axis=0))) == 48
    track = f0_track(np.random.default_rng(0).standard_normal(FS).astype(np.float32) * 0.1, FS)
    assert track.times[48] == pytest.approx(0.5)


def test_known_f0_contour_comes_through_the_f0_core():
    f0 = contour(1.2, FS, [0.0, 0.1, 0.1001, 1.0, 1.0001, 1.2], [0, 0, 120, 180, 0, 0])
    src = synth_egg(f0, FS, seed=2)
    speech = np.random.default_rng(1).standard_normal(len(f0)) * 0.05
    u = compute_utterance(speech, src.egg, CFG)
    n = len(f0_track(src.egg.astype(np.float32), FS))
    assert u.logmel.shape == (80, n) and u.f0_hz.shape == u.voiced.shape == (n,)
    truth = src.f0_frames[:n]
    both = u.voiced & (truth > 0)
    assert both.sum() > 70
    assert np.max(np.abs(u.f0_hz[both] / truth[both] - 1)) < 0.02
    assert np.all(u.f0_hz[~u.voiced] == 0)
    assert not u.voiced[:5].any() and not u.voiced[-5:].any()


def test_normalise_f0_is_a_z_score_of_log_f0_with_unvoiced_zero():
    f0 = np.array([100.0, 0.0, 200.0, 400.0, 150.0])
    voiced = np.array([True, False, True, True, False])
    stats = F0Stats.from_frames(f0, voiced)
    logs = np.log([100.0, 200.0, 400.0])
    assert stats.mu == pytest.approx(logs.mean()) and stats.sigma == pytest.approx(logs.std()) and stats.n == 3
    out = normalise_f0(f0, voiced, stats)
    np.testing.assert_allclose(out, [(logs[0] - logs.mean()) / logs.std(), 0, 0, (logs[2] - logs.mean()) / logs.std(), 0],
                               atol=1e-6)
    x = f0_input(f0, voiced, stats, T=8)
    assert x.shape == (8, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 1], [1, 0, 1, 1, 0, 0, 0, 0])
    # a flat contour does not divide by zero; nothing voiced gives all zeros
    flat = F0Stats.from_frames(np.full(10, 150.0), np.ones(10, bool))
    assert flat.sigma == pytest.approx(0.05)
    assert not normalise_f0(np.zeros(4), np.zeros(4, bool), F0Stats.from_frames(np.zeros(4), np.zeros(4, bool))).any()


def test_fit_length_crops_and_pads():
    x = np.arange(10)
    np.testing.assert_array_equal(fit_length(x, 4, "start"), [0, 1, 2, 3])
    np.testing.assert_array_equal(fit_length(x, 4, "center"), [3, 4, 5, 6])
    np.testing.assert_array_equal(fit_length(x, 4, "end"), [6, 7, 8, 9])
    np.testing.assert_array_equal(fit_length(x, 12, pad_value=-1), [*range(10), -1, -1])
    m = np.ones((3, 5))
    assert fit_length(m, 7, axis=1, pad_value=0).shape == (3, 7)
    with pytest.raises(ValueError, match="crop must be"):
        fit_length(x, 4, "middle")


def test_feature_set_of_a_tiny_corpus(corpus):
    fs = extract_features(corpus, CFG)
    n = len(corpus)
    assert fs.logmel.shape == (n, 80, 300) and fs.logmel.dtype == np.float32
    # every channel the F0 core's records give, whatever CFG.student_inputs says; settings recorded
    assert fs.f0.shape == (n, 300, len(STUDENT_INPUTS)) and fs.f0.dtype == np.float32
    assert fs.f0_channels == STUDENT_INPUTS and fs.f0_channels[:2] == ("log_f0", "voiced")
    assert fs.feature_config["f0_norm"] == CFG.f0_norm and fs.feature_config["f0_source"] == "egg"
    assert fs.labels.dtype == np.int64 and fs.label_names == EMODB_LABELS
    assert [fs.label_names[i] for i in fs.labels] == [it.label for it in corpus]
    assert list(fs.utt_ids) == [it.utt_id for it in corpus] and list(fs.speakers) == [it.speaker for it in corpus]
    assert set(np.unique(fs.f0[:, :, 1])) <= {0.0, 1.0}
    assert np.all(fs.f0[:, :, 0][fs.f0[:, :, 1] == 0] == 0)          # unvoiced: exactly 0
    assert 0.3 < fs.f0[:, :, 1].mean() < 0.9
    # an utterance shorter than 3 s is padded at the end with silence and unvoiced frames
    short = next(i for i, it in enumerate(corpus) if 2.0 < float(np.sum(fs.logmel[i].max(axis=0) > -23)) / 100 < 2.8)
    assert np.all(fs.logmel[short, :, -5:] == np.float32(np.log(CFG.log_floor)))
    assert np.all(fs.select(["log_f0", "voiced"]).f0[short, -5:] == 0)


def test_speaker_and_utterance_normalisation(corpus):
    long = FeatureConfig(T=700)                                       # no cropping: every frame is kept
    spk = extract_features(corpus, long)
    for s in set(spk.speakers.tolist()):
        x = spk.f0[spk.speakers == s]
        v = x[:, :, 1] == 1
        assert abs(x[:, :, 0][v].mean()) < 1e-3 and abs(x[:, :, 0][v].std() - 1) < 1e-2
    utt = extract_features(corpus, FeatureConfig(T=700, f0_norm="utterance"))
    for x in utt.f0:
        v = x[:, 1] == 1
        assert abs(x[v, 0].mean()) < 1e-3
    assert np.array_equal(spk.f0[:, :, 1], utt.f0[:, :, 1]) and np.array_equal(spk.logmel, utt.logmel)


def test_speech_f0_proxy_differs_from_the_egg_but_tracks_it(corpus):
    egg = extract_features(corpus[:4], CFG)
    speech_items = load_corpus(corpus[0].speech_path.rsplit("/wav/", 1)[0], f0_source="speech")[:4]
    proxy = extract_features(speech_items, CFG)
    assert not np.array_equal(egg.f0, proxy.f0)
    np.testing.assert_array_equal(egg.logmel, proxy.logmel)
    both = (egg.f0[:, :, 1] == 1) & (proxy.f0[:, :, 1] == 1)
    assert both.mean() > 0.3


def test_noise_changes_the_speech_features_only(corpus):
    clean = extract_features(corpus[:3], FeatureConfig(f0_norm="utterance"))
    noisy = extract_features(corpus[:3], FeatureConfig(f0_norm="utterance"), noise=NoiseConfig("white", 0.0))
    np.testing.assert_array_equal(clean.f0, noisy.f0)
    assert np.mean(noisy.logmel - clean.logmel) > 1.0


def test_importing_the_f0_functions_needs_neither_librosa_nor_torch():
    code = ("import sys, numpy as np; from eggemo.core.feat import f0_input, F0Stats; "
            "f0_input(np.full(5, 100.), np.ones(5, bool), F0Stats(4.6, .2, 5)); "
            "bad = {'librosa', 'torch', 'sklearn'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_config_values():
    with pytest.raises(ValueError, match="f0_norm"):
        FeatureConfig(f0_norm="none")
    with pytest.raises(ValueError, match="n_fft"):
        FeatureConfig(win_ms=50.0)
