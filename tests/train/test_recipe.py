"""The pieces of the eggemo recipe: the student's extra per-frame inputs, the CNN student, the
training options (schedule, smoothing, mixup, checkpoint averaging, early stopping on the
validation loss, augmentation, logit distillation) and the guard against a diverging run."""
import math

import numpy as np
import pytest
import torch

from eggemo.train.augment import augment_student, spec_augment
from eggemo.train.config import AugmentConfig, Config, OptimConfig, replace
from eggemo.core.feat import F0_CLIP, PAPER_INPUTS, STUDENT_INPUTS, F0Stats, student_input
from eggemo.train.features import FeatureConfig
from eggemo.train.featureset import FeatureSet
from eggemo.train.loop import TrainingError, _lr_factor, pick_device, train
from eggemo.train.models import CNNStudent, build_model

N_CLASSES, T, N_MELS = 3, 24, 12


def toy(n: int, seed: int, channels=("log_f0", "voiced", "energy")) -> FeatureSet:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % N_CLASSES
    f0 = np.zeros((n, T, len(channels)), np.float32)
    f0[:, :, 0] = (y[:, None] - 1.0) + 0.3 * rng.normal(size=(n, T))
    f0[:, :, 1] = 1.0
    if len(channels) > 2:
        f0[:, :, 2] = rng.normal(size=(n, T))
    lm = rng.normal(size=(n, N_MELS, T)).astype(np.float32)
    for k in range(N_CLASSES):
        lm[y == k, 4 * k:4 * k + 4] += 2.0
    return FeatureSet(lm, f0, y.astype(np.int64), ("a", "b", "c"), np.array([f"s{i % 4}" for i in range(n)]),
                      np.array([f"u{seed}_{i}" for i in range(n)]), tuple(channels))


TRAIN, VAL = toy(60, 0), toy(30, 1)
CNN = {"in_channels": 3, "width": 8, "layers": 2, "kernel": 3, "n_classes": N_CLASSES, "feature_dim": 16}


def cfg(**optim) -> Config:
    return replace(Config(), optim={"lr": 1e-2, "max_epochs": 6, "patience": 6, "batch_size": 8, **optim},
                   run={"progress": False, "device": "cpu"})


# --- inputs ------------------------------------------------------------------------------------

def test_student_input_channels_follow_their_definitions():
    f0 = np.array([100, 110, 0, 121, 0], np.float32)
    voiced = f0 > 0
    energy = np.array([-20, -10, -50, -30, -60], np.float32)
    per = np.array([0.9, 0.8, 0.1, 0.95, 0.2], np.float32)
    st = F0Stats(float(np.log(110)), 0.1, 3, e_mu=-20.0, e_sigma=10.0)
    cq = np.array([0.5, 0.6, 0.0, 0.25, 0.0], np.float32)
    jit = np.array([0.02, 0.0, 0.0, 0.04, 0.0], np.float32)       # 0: fewer than two cycles measured
    shim = np.array([0.05, 0.1, 0.3, 0.025, 0.0], np.float32)     # frame 2 is unvoiced: ignored
    x = student_input(f0, voiced, st, T=7, inputs=STUDENT_INPUTS, periodicity=per, energy_db=energy,
                      cq=cq, jitter=jit, shimmer=shim)
    ch = {c: x[:, i] for i, c in enumerate(STUDENT_INPUTS)}
    lf = (np.log(np.array([100, 110, 121])) - np.log(110)) / 0.1
    np.testing.assert_allclose(ch["log_f0"][[0, 1, 3]], lf, rtol=1e-5)
    assert ch["log_f0"][2] == 0 and ch["voiced"].tolist() == [1, 1, 0, 1, 0, 0, 0]
    # delta only between two voiced neighbours
    np.testing.assert_allclose(ch["delta_log_f0"][:5], [0, lf[1] - lf[0], 0, 0, 0], atol=1e-5)
    np.testing.assert_allclose(ch["periodicity"][:5], per)
    np.testing.assert_allclose(ch["energy"][:5], [0, 1, -3, -1, -4])
    np.testing.assert_allclose(ch["delta_energy"][:5], [0, 1, -4, 2, -3])
    # the EGG's voice quality: only where measured on a voiced frame
    np.testing.assert_allclose(ch["cq"][:5], [0, 0.4, 0, -1, 0], atol=1e-6)
    np.testing.assert_allclose(ch["jitter"][:5], [0, 0, 0, np.log(2), 0], atol=1e-6)
    np.testing.assert_allclose(ch["shimmer"][:5], [0, np.log(2), 0, np.log(0.5), 0], atol=1e-6)
    # padding frames are unvoiced silence: energy at its floor, everything else 0
    assert ch["energy"][5:].tolist() == [-F0_CLIP] * 2
    assert all(ch[c][5:].tolist() == [0, 0] for c in STUDENT_INPUTS if c != "energy")


def test_paper_input_is_unchanged_and_extra_channels_need_their_frames():
    f0 = np.array([100, 0, 120], np.float32)
    x = student_input(f0, f0 > 0, F0Stats(4.7, 0.2, 2), T=4, inputs=PAPER_INPUTS)
    assert x.shape == (4, 2)
    with pytest.raises(ValueError, match="energy_db"):
        student_input(f0, f0 > 0, F0Stats(4.7, 0.2, 2), T=4, inputs=("log_f0", "energy"))
    with pytest.raises(ValueError, match="cq"):
        student_input(f0, f0 > 0, F0Stats(4.7, 0.2, 2), T=4, inputs=("log_f0", "cq"))
    with pytest.raises(ValueError, match="distinct channels"):
        FeatureConfig(student_inputs=("log_f0", "loudness"))


def test_energy_statistics_use_the_voiced_frames():
    f0 = np.array([100, 0, 120, 130], np.float32)
    e = np.array([-10, -80, -20, -30], np.float32)
    st = F0Stats.from_frames(f0, f0 > 0, e)
    assert st.e_mu == pytest.approx(-20.0) and st.e_sigma == pytest.approx(np.std([-10, -20, -30]))


def test_featureset_keeps_its_channel_names(tmp_path):
    TRAIN.save(tmp_path / "fs.npz")
    back = FeatureSet.load(tmp_path / "fs.npz")
    assert back.f0_channels == ("log_f0", "voiced", "energy")
    np.testing.assert_array_equal(back.channel("energy"), TRAIN.f0[:, :, 2])
    with pytest.raises(ValueError, match="channels"):
        FeatureSet(TRAIN.logmel, TRAIN.f0, TRAIN.labels, TRAIN.label_names, TRAIN.speakers, TRAIN.utt_ids)


# --- CNN student --------------------------------------------------------------------------------

@pytest.mark.parametrize("pooling", ["meanmax", "mean", "max", "stats", "attention"])
def test_cnn_student_shapes(pooling):
    m = CNNStudent(in_channels=6, width=16, layers=4, kernel=5, n_classes=7, feature_dim=32, pooling=pooling,
                   strides_at=(1, 2)).eval()
    logits, feat = m(torch.zeros(3, 300, 6))
    assert logits.shape == (3, 7) and feat.shape == (3, 32)
    assert m.blocks(torch.zeros(1, 6, 300)).shape == (1, 16, 75)      # two stride-2 blocks: 300 -> 75


def test_cnn_meanmax_pooling_is_the_mean_and_max_over_time():
    m = CNNStudent(in_channels=2, width=4, layers=1, kernel=3, n_classes=3, feature_dim=8, strides_at=()).eval()
    x = torch.randn(2, 10, 2)
    h = m.blocks(x.transpose(1, 2))
    torch.testing.assert_close(m.embed(x), torch.cat([h.mean(2), h.amax(2)], 1))


def test_cnn_errors_are_clear():
    with pytest.raises(ValueError, match="pooling"):
        build_model("cnn_student", pooling="last")
    with pytest.raises(ValueError, match="odd"):
        build_model("cnn_student", kernel=4)


# --- loop options ---------------------------------------------------------------------------------

def test_cosine_schedule_with_warmup():
    oc = OptimConfig(schedule="cosine", warmup_epochs=2, max_epochs=12)
    f = [_lr_factor(e, oc) for e in range(12)]
    assert f[0] == pytest.approx(0.1) and f[1] == pytest.approx(0.55) and f[2] == pytest.approx(1.0)
    assert f[7] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in zip(f[2:], f[3:]))
    paper = OptimConfig()
    assert [_lr_factor(e, paper) for e in (0, 19, 20, 40)] == pytest.approx([1, 1, 0.8, 0.64])


def test_cnn_student_learns_with_the_recipe_options():
    c = replace(cfg(optimizer="adamw", weight_decay=1e-2, schedule="cosine", warmup_epochs=1, label_smoothing=0.1,
                    grad_clip=5.0, early_stop="val_loss", smooth=2, max_epochs=12, patience=12),
                augment={"time_mask": 3, "f0_shift": 0.1, "f0_scale": 0.1, "speed": 0.1, "mixup": 0.2},
                student={"dropout": 0.1})
    res = train("cnn_student", CNN, TRAIN, VAL, c)
    assert res.best_val_ua > 0.8          # chance is 1/3


def test_checkpoint_averaging_keeps_the_mean_of_the_best_epochs(tmp_path):
    """average_best = 3: the returned model is the mean of three epochs' weights, and it is what
    best.pt holds; with average_best = 1 it is one epoch's."""
    c = cfg(max_epochs=5, patience=5, average_best=3)
    res = train("cnn_student", CNN, TRAIN, VAL, c, out_dir=tmp_path)
    assert len(res.checkpoint_dict["metrics"]["averaged_epochs"]) == 3
    from eggemo.train.checkpoint import load_checkpoint
    model, _ = load_checkpoint(tmp_path / "best.pt")
    for (k, a), b in zip(res.model.state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    single = train("cnn_student", CNN, TRAIN, VAL, cfg(max_epochs=5, patience=5))
    w_avg, w_one = res.model.classifier.weight, single.model.classifier.weight
    assert not torch.equal(w_avg, w_one)


def test_snap_weights_makes_the_kept_student_the_one_its_int8_weights_define(tmp_path):
    """[export] snap_weights (configs/eggemo.toml): training ends by putting the student's weights on
    their int8 grid; best.pt holds that model, its validation UA is the snapped model's, and
    snapping it again changes nothing (what the export then converts is exactly this model)."""
    from eggemo.train.snap import snap_weights
    from eggemo.train.checkpoint import load_checkpoint
    c = replace(cfg(max_epochs=4, patience=4), export={"snap_weights": True})
    res = train("cnn_student", CNN, TRAIN, VAL, c, out_dir=tmp_path)
    m = res.checkpoint_dict["metrics"]
    assert m["snapped_weights"] is True and 0 <= m["val_ua_before_snapping"] <= 1 and m["val_ua"] == res.best_val_ua
    model, ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt["metrics"]["snapped_weights"] is True
    for (k, a), b in zip(res.model.state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    again = snap_weights(model)
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=k)
    # without the setting the weights stay where training left them: off the grid
    plain = train("cnn_student", CNN, TRAIN, VAL, cfg(max_epochs=4, patience=4))
    assert "snapped_weights" not in plain.checkpoint_dict["metrics"]
    w = plain.model.classifier.weight
    assert not torch.allclose(snap_weights(plain.model).classifier.weight, w)


def test_logit_and_both_distillation_run():
    teacher = train("resnet18", {"in_channels": 1, "n_classes": N_CLASSES, "width": 2, "n_mels": N_MELS},
                    TRAIN, VAL, cfg(max_epochs=2)).model
    assert teacher.input_norm.std.min() > 0 and not torch.equal(teacher.input_norm.mean, torch.zeros(N_MELS))
    for kind in ("logit", "both"):
        c = replace(cfg(max_epochs=3), distill={"kind": kind, "alpha": 0.5})
        res = train("cnn_student", CNN, TRAIN, VAL, c, teacher=teacher)
        assert all(r["train_kd"] > 0 for r in res.history)


def test_a_diverging_run_stops_with_a_clear_error_and_keeps_no_bad_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match="optim.lr"):
        train("cnn_student", CNN, TRAIN, VAL, cfg(lr=math.inf), out_dir=tmp_path)
    assert not (tmp_path / "best.pt").exists()
    with pytest.raises(TrainingError, match="diverged"):
        train("bilstm_student", {"in_channels": 3, "hidden": 8, "layers": 1, "n_classes": 3, "feature_dim": 16},
              TRAIN, VAL, cfg(lr=1e30), out_dir=tmp_path / "b")
    if (tmp_path / "b" / "best.pt").exists():       # a finite epoch may come first; it must be finite
        from eggemo.train.checkpoint import load_checkpoint
        m, _ = load_checkpoint(tmp_path / "b" / "best.pt")
        assert all(torch.isfinite(p).all() for p in m.parameters())


def test_device_errors_are_clear():
    with pytest.raises(ValueError, match="not a device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")


# --- augmentation -----------------------------------------------------------------------------------

def test_student_augmentation_touches_only_what_it_should():
    g = torch.Generator().manual_seed(0)
    x = torch.tensor(TRAIN.f0[:8])
    x[:, 10:, 1] = 0          # unvoiced tail ...
    x[:, 10:, 0] = 0          # ... holds log_f0 = 0
    shifted = augment_student(x, TRAIN.f0_channels, AugmentConfig(f0_shift=0.5, f0_scale=0.2), g)
    assert torch.equal(shifted[:, 10:], x[:, 10:])            # unvoiced frames untouched
    assert not torch.equal(shifted[:, :10, 0], x[:, :10, 0])
    assert torch.equal(shifted[:, :, 1:], x[:, :, 1:])        # only log_f0 moves
    fast = augment_student(x, TRAIN.f0_channels, AugmentConfig(speed=0.3), g)
    assert set(fast[:, :, 1].unique().tolist()) <= {0.0, 1.0}  # voicing stays a flag
    masked = augment_student(x, TRAIN.f0_channels, AugmentConfig(time_mask=5), g)
    assert ((masked == x).all(dim=2) | ((masked[:, :, 2] == -6.0) & (masked[:, :, 0] == 0))).all()


def test_spec_augment_masks_bands_and_frames():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, N_MELS, T)
    y = spec_augment(x, AugmentConfig(spec_freq_mask=3, spec_time_mask=4), g)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.equal(spec_augment(x, AugmentConfig(), g), x)


# --- teacher and distillation sources --------------------------------------------------------------

def test_teacher_band_moments_are_the_band_statistics_over_the_content_frames():
    from eggemo.train.models import ResNet18, band_moments
    x = torch.randn(2, 1, N_MELS, T)
    x[1, :, :, 20:] = -23.03                     # utterance 1 ends at frame 20: the rest is padding
    z = x * 2.0
    m = band_moments(x, z)
    torch.testing.assert_close(m[1, :N_MELS], z[1, 0, :, :20].mean(dim=1))
    torch.testing.assert_close(m[1, N_MELS:], z[1, 0, :, :20].std(dim=1, unbiased=False))
    net = ResNet18(width=2, n_mels=N_MELS, band_moments=True, n_classes=3)
    assert net.feature_dim == 16 + 2 * N_MELS and net(x)[1].shape == (2, 16 + 2 * N_MELS)
    with pytest.raises(ValueError, match="n_mels"):
        ResNet18(width=2, band_moments=True)


def test_teacher_moment_head_adds_the_band_statistics_regression_once_fitted():
    """Until fit_moment_head the network is the plain band-moments ResNet; after it, its logits
    gain those of the band-statistics floor's regression (standardised statistics,
    LogisticRegression(C=1)) fitted on the given utterances, frozen."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from eggemo.train.models import ResNet18, band_moments
    torch.manual_seed(0)
    net = ResNet18(width=2, n_mels=N_MELS, band_moments=True, moment_head=True, n_classes=N_CLASSES).eval()
    torch.manual_seed(0)
    plain = ResNet18(width=2, n_mels=N_MELS, band_moments=True, n_classes=N_CLASSES).eval()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("moment_")})
    assert net.feature_dim == plain.feature_dim == 16 + 2 * N_MELS
    assert not any(p.requires_grad for p in net.moment_classifier.parameters())
    x = torch.from_numpy(VAL.logmel).unsqueeze(1)
    with torch.no_grad():
        torch.testing.assert_close(net(x)[0], plain(x)[0])          # not fitted: the plain network
        net.fit_moment_head(TRAIN.logmel, TRAIN.labels)
        logits, feature = net(x)
        deep = plain(x)[0]
        xt = torch.from_numpy(TRAIN.logmel).unsqueeze(1)
        mt = band_moments(xt, net.input_norm(xt)).numpy()
        m = band_moments(x, net.input_norm(x)).numpy()
    torch.testing.assert_close(feature, plain(x)[1])
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000)).fit(mt, TRAIN.labels)
    wide = (logits - deep).numpy()
    np.testing.assert_allclose(wide, ref.decision_function(m), atol=2e-3)
    assert (wide.argmax(1) == VAL.labels).mean() > 0.9           # toy classes differ in band means
    with pytest.raises(ValueError, match="band_moments"):
        ResNet18(width=2, n_mels=N_MELS, moment_head=True)
    with pytest.raises(ValueError, match="no moment head"):
        plain.fit_moment_head(TRAIN.logmel, TRAIN.labels)


def test_band_functionals_are_numpys_over_the_frames_that_are_not_padding():
    from eggemo.train.models import band_functionals
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 1, N_MELS, 40)).astype(np.float32)
    x[1, :, :, 25:] = -23.03                                 # padding at the end
    x[2, :, :, :] *= np.linspace(0.2, 3.0, 40, dtype=np.float32)   # sd and change differ per utterance
    got = band_functionals(torch.from_numpy(x), torch.from_numpy(x)).numpy().reshape(3, 6, N_MELS)
    for b in range(3):
        m = x[b, 0][:, x[b, 0].max(axis=0) > -23.0]
        d = np.diff(m, axis=1)
        ref = [m.mean(1), m.std(1), np.abs(d).mean(1), d.std(1), np.percentile(m, 10, axis=1),
               np.percentile(m, 90, axis=1)]
        np.testing.assert_allclose(got[b], np.stack(ref), atol=1e-5)


def test_the_functionals_moment_head_is_the_regression_on_them():
    """moment_stats="functionals": the late-fused regression reads six statistics per band, and
    its logits equal scikit-learn's on the same standardised statistics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from eggemo.train.models import ResNet18, band_functionals
    torch.manual_seed(0)
    net = ResNet18(width=2, n_mels=N_MELS, band_moments=True, moment_head=True, moment_stats="functionals",
                   n_classes=N_CLASSES).eval()
    assert net.moment_classifier.in_features == 6 * N_MELS
    x = torch.from_numpy(VAL.logmel).unsqueeze(1)
    with torch.no_grad():
        deep = net(x)[0]
        net.fit_moment_head(TRAIN.logmel, TRAIN.labels)
        wide = (net(x)[0] - deep).numpy()
        xt = torch.from_numpy(TRAIN.logmel).unsqueeze(1)
        ft = band_functionals(xt, net.input_norm(xt)).numpy()
        fv = band_functionals(x, net.input_norm(x)).numpy()
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000)).fit(ft, TRAIN.labels)
    np.testing.assert_allclose(wide, ref.decision_function(fv), atol=2e-3)
    with pytest.raises(ValueError, match="moment_stats"):
        ResNet18(width=2, n_mels=N_MELS, band_moments=True, moment_head=True, moment_stats="quantiles")


def test_training_fits_the_moment_head_after_the_network_and_keeps_it_in_the_checkpoint(tmp_path):
    from eggemo.train.checkpoint import load_checkpoint
    from eggemo.train.config import teacher_config
    c = replace(cfg(max_epochs=3, patience=3), teacher={"width": 2, "input_norm": True, "band_moments": True,
                                                        "moment_head": True})
    mc = teacher_config(c, N_CLASSES, N_MELS)
    assert mc["moment_head"] is True
    res = train("resnet18", mc, TRAIN, VAL, c, out_dir=tmp_path)
    net = res.model
    assert float(net.moment_fitted) == 1.0
    ref = build_model("resnet18", **mc)
    ref.input_norm.mean.copy_(net.input_norm.mean)
    ref.input_norm.std.copy_(net.input_norm.std)
    ref.fit_moment_head(TRAIN.logmel, TRAIN.labels)          # fitted on the training part, as training did
    torch.testing.assert_close(net.moment_classifier.weight, ref.moment_classifier.weight)
    torch.testing.assert_close(net.moment_mean, ref.moment_mean)
    loaded, ck = load_checkpoint(tmp_path / "best.pt")        # the saved teacher predicts with it
    x = torch.from_numpy(VAL.logmel)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], net(x)[0])
    assert ck["metrics"]["val_ua"] == pytest.approx(res.best_val_ua) and "val_ua_network_alone" in ck["metrics"]
    with torch.no_grad():                                     # the saved accuracy is the fused model's too
        pred = loaded(torch.from_numpy(VAL.logmel))[0].argmax(1).numpy()
    assert ck["metrics"]["val_wa"] == pytest.approx(float(np.mean(pred == VAL.labels)))
    assert "val_wa_network_alone" in ck["metrics"]


def test_crossfit_targets_never_score_an_utterance_with_a_regression_fitted_on_it():
    from eggemo.train.baselines import crossfit_log_probs
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    X = rng.normal(size=(60, 4)) + y[:, None]
    X[7] += 50.0                                   # an outlier: fitted on itself it would be certain
    lp = crossfit_log_probs(X, y, np.arange(60), 3, folds=5, seed=0)
    assert lp.shape == (60, 3) and np.allclose(np.exp(lp).sum(axis=1), 1, atol=1e-4)
    # out-of-fold scores are less confident than in-sample ones
    from sklearn.linear_model import LogisticRegression
    insample = LogisticRegression(max_iter=3000).fit(X, y).predict_proba(X).max(axis=1).mean()
    assert np.exp(lp).max(axis=1).mean() < insample


def test_crossfit_functionals_are_the_teachers_band_functionals_plus_the_f0_statistics():
    from eggemo.train.baselines import crossfit_statistics, statistics
    from eggemo.train.models import band_functionals
    fs = toy(12, 5)
    X = crossfit_statistics(fs, "functionals+f0")
    lm = torch.from_numpy(fs.logmel).unsqueeze(1)
    ref = band_functionals(lm, lm).numpy().astype(np.float64)
    np.testing.assert_allclose(X[:, :6 * N_MELS], ref, atol=1e-4)
    np.testing.assert_array_equal(X[:, 6 * N_MELS:], statistics(fs)["f0"])
    np.testing.assert_array_equal(crossfit_statistics(fs, "spectral"), statistics(fs)["spectral"])
    with pytest.raises(ValueError, match="functionals"):
        replace(Config(), distill={"crossfit_features": "mfcc"})


def test_distillation_from_crossfit_targets_runs_through_run_training(tmp_path):
    from eggemo.train.cli import run_training
    fs = toy(90, 3)
    c = replace(cfg(max_epochs=3), distill={"source": "crossfit", "kind": "logit", "alpha": 0.5,
                                             "crossfit_features": "spectral"},
                student={"arch": "cnn_student", "width": 8, "layers": 2, "kernel": 3, "feature_dim": 16})
    s = run_training("distill", c, fs, {"T": T}, tmp_path, tsne=False)
    assert s["mode"] == "distill" and 0 <= s["ua"] <= 1
    with pytest.raises(ValueError, match="logit"):
        replace(c, distill={"kind": "feature"})


def test_crossfit_teachers_score_only_the_fold_they_did_not_train_on(tmp_path):
    from eggemo.train.baselines import stratified_folds
    from eggemo.train.checkpoint import load_checkpoint
    from eggemo.train.cli import crossfit_teacher_targets
    from eggemo.train.evaluate import predict
    c = replace(cfg(max_epochs=2), teacher={"arch": "resnet18", "width": 4, "max_epochs": 2, "patience": 2},
                distill={"source": "crossfit_teacher", "kind": "logit", "crossfit_folds": 3})
    out = crossfit_teacher_targets(TRAIN, VAL, c, {"T": T}, tmp_path)
    assert out.shape == (len(TRAIN), N_CLASSES) and np.isfinite(out).all()
    fold = stratified_folds(TRAIN.labels, 3, c.run.seed)
    assert all(set(TRAIN.labels[fold == k]) == {0, 1, 2} for k in range(3))   # stratified
    for k in range(3):
        held = np.flatnonzero(fold == k)
        model, ck = load_checkpoint(tmp_path / f"crossfit_teacher{k}" / "best.pt")
        assert ck["train_config"]["n_train"] == len(TRAIN) - len(held)     # it never saw its fold
        logits, _ = predict(model, TRAIN.subset(held).logmel)
        np.testing.assert_allclose(out[held], logits, atol=1e-5)              # and the targets are its scores
    # the three teachers differ: each trained on other utterances
    assert not np.allclose(*[predict(load_checkpoint(tmp_path / f"crossfit_teacher{k}" / "best.pt")[0],
                                     TRAIN.logmel[:5])[0] for k in (0, 1)])


def test_distillation_from_crossfit_teachers_runs_through_run_training(tmp_path):
    from eggemo.train.cli import run_training
    fs = toy(90, 3)
    c = replace(cfg(max_epochs=2), teacher={"arch": "resnet18", "width": 4, "max_epochs": 2, "patience": 2},
                distill={"source": "crossfit_teacher", "kind": "logit", "alpha": 0.5, "crossfit_folds": 2},
                student={"arch": "cnn_student", "width": 8, "layers": 2, "kernel": 3, "feature_dim": 16})
    s = run_training("distill", c, fs, {"T": T}, tmp_path, tsne=False)
    assert s["mode"] == "distill" and 0 <= s["ua"] <= 1
    assert (tmp_path / "crossfit_teacher1" / "best.pt").is_file()
    with pytest.raises(ValueError, match="logit"):
        replace(c, distill={"kind": "feature"})


def test_reuse_key_ignores_the_augmentations_a_run_never_applies():
    import copy

    from eggemo.train.config import to_dict
    from eggemo.train.experiments import _reuse_key
    for mode, irrelevant, relevant in (("teacher", "time_mask", "spec_freq_mask"),
                                       ("student", "spec_freq_mask", "time_mask")):
        a = {"mode": mode, "config": to_dict(Config()), "teacher": None, "features": {}}
        b = copy.deepcopy(a)
        b["config"]["augment"][irrelevant] = 7
        assert _reuse_key(a) == _reuse_key(b)
        b["config"]["augment"][relevant] = 7
        assert _reuse_key(a) != _reuse_key(b)
    # a distillation from cross-fitted teachers trains teachers: their SpecAugment counts
    a = {"mode": "distill", "config": to_dict(replace(Config(), distill={"source": "crossfit_teacher",
                                                                         "kind": "logit"})),
         "teacher": None, "features": {}}
    b = copy.deepcopy(a)
    b["config"]["augment"]["spec_freq_mask"] = 7
    assert _reuse_key(a) != _reuse_key(b)
    b["config"]["distill"]["source"] = a["config"]["distill"]["source"] = "crossfit"
    assert _reuse_key(a) == _reuse_key(b)
    # a student trained alone reads no teacher setting; a teacher none of the student's
    for mode, irrelevant, relevant in (("student", ("teacher", "width"), ("student", "width")),
                                       ("teacher", ("student", "width"), ("teacher", "width"))):
        a = {"mode": mode, "config": to_dict(Config()), "teacher": None, "features": {}}
        b = copy.deepcopy(a)
        b["config"][irrelevant[0]][irrelevant[1]] = 3
        assert _reuse_key(a) == _reuse_key(b)
        b["config"][relevant[0]][relevant[1]] = 3
        assert _reuse_key(a) != _reuse_key(b)
    # nor a teacher any frame channel; a student does read them
    fc = {"n_mels": 80, "student_inputs": ["log_f0", "voiced"], "f0_norm": "speaker"}
    for mode, same in (("teacher", True), ("student", False)):
        a = {"mode": mode, "config": to_dict(replace(Config(), features={"student_inputs": fc["student_inputs"]})),
             "teacher": None, "features": fc}
        b = copy.deepcopy(a)
        b["config"]["features"]["student_inputs"] = b["features"]["student_inputs"] = ["log_f0", "cq"]
        b["features"]["f0_norm"] = "utterance"
        assert (_reuse_key(a) == _reuse_key(b)) is same
        b["features"]["n_mels"] = 40
        assert _reuse_key(a) != _reuse_key(b)
    d = {"mode": "distill", "config": to_dict(Config()), "teacher": "t.pt", "features": {}}
    e = copy.deepcopy(d)
    e["config"]["distill"]["tau"] = 9.0
    assert _reuse_key(d) != _reuse_key(e)


def test_frame_statistics_floor_reads_every_channel_over_voiced_frames():
    from eggemo.train.baselines import F0_STAT_NAMES, frame_statistics

    X = frame_statistics(TRAIN)
    assert X.shape == (len(TRAIN), len(F0_STAT_NAMES) + 4)      # log_f0/voiced -> 14, energy -> 4
    i = 0
    v = TRAIN.channel("voiced")[i] > 0.5
    e = TRAIN.channel("energy")[i][v]
    np.testing.assert_allclose(X[i, -4:], [e.mean(), e.std(), np.percentile(e, 5), np.percentile(e, 95)], rtol=1e-5)
    from eggemo.train.baselines import statistics

    np.testing.assert_array_equal(frame_statistics(TRAIN, statistics(TRAIN)["f0"]), X)   # reused F0 part
