"""The CMED loss against a hand computation in NumPy, its alpha and tau behaviour."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eggemo.train.loss import cmed_loss, distillation_term


def np_log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def np_kl_teacher_to_student(s, t):
    """KL(softmax(t) || softmax(s)) per row, summed over the feature axis, then batch mean."""
    log_p, log_q = np_log_softmax(t), np_log_softmax(s)
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)))


def np_cross_entropy(logits, y):
    return float(-np.mean(np_log_softmax(logits)[np.arange(len(y)), y]))


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(5, 7)), rng.normal(size=(5, 16)) * 3, rng.normal(size=(5, 16)) * 3,
            rng.integers(0, 7, size=5))


def tensors(*arrays):
    return [torch.tensor(a, dtype=torch.float64) if a.dtype.kind == "f" else torch.tensor(a) for a in arrays]


@pytest.mark.parametrize("tau,alpha", [(2.0, 0.6), (1.0, 0.3), (4.0, 0.9)])
def test_loss_equals_hand_computation(batch, tau, alpha):
    logits, s, t, y = batch
    expected_kd = tau ** 2 * np_kl_teacher_to_student(s / tau, t / tau)
    expected_ce = np_cross_entropy(logits, y)
    parts = cmed_loss(*tensors(logits, s, t, y), tau=tau, alpha=alpha)
    assert parts.kd.item() == pytest.approx(expected_kd, rel=1e-10)
    assert parts.ce.item() == pytest.approx(expected_ce, rel=1e-10)
    assert parts.total.item() == pytest.approx(alpha * expected_kd + (1 - alpha) * expected_ce, rel=1e-10)


def test_defaults_are_the_papers(batch):
    logits, s, t, y = batch
    d = cmed_loss(*tensors(logits, s, t, y))
    e = cmed_loss(*tensors(logits, s, t, y), tau=2.0, alpha=0.6)
    assert d.total.item() == e.total.item()


def test_alpha_zero_is_plain_cross_entropy(batch):
    logits, s, t, y = batch
    lt, st, tt, yt = tensors(logits, s, t, y)
    parts = cmed_loss(lt, st, tt, yt, tau=2.0, alpha=0.0)
    assert parts.total.item() == F.cross_entropy(lt, yt).item()


def test_alpha_one_is_pure_distillation(batch):
    logits, s, t, y = batch
    parts = cmed_loss(*tensors(logits, s, t, y), tau=3.0, alpha=1.0)
    assert parts.total.item() == pytest.approx(parts.kd.item(), rel=1e-12)


def test_tau_scaling(batch):
    """tau^2 * KL at temperature tau; for large tau it tends to the mean squared difference of the
    centred features over 2D (the tau^2 factor is what keeps the term finite and non-zero)."""
    _, s, t, _ = batch
    st, tt = tensors(s, t)
    for tau in (0.5, 1.0, 2.0, 8.0):
        assert distillation_term(st, tt, tau).item() == pytest.approx(
            tau ** 2 * np_kl_teacher_to_student(s / tau, t / tau), rel=1e-10)
    d = s.shape[1]
    diff = (t - t.mean(1, keepdims=True)) - (s - s.mean(1, keepdims=True))
    limit = float(np.mean(np.sum(diff ** 2, axis=1)) / (2 * d))
    assert distillation_term(st, tt, 1e3).item() == pytest.approx(limit, rel=1e-2)
    # identical features: zero at every temperature
    assert distillation_term(st, st.clone(), 2.0).item() == pytest.approx(0.0, abs=1e-12)


def test_gradient_reaches_the_student_only(batch):
    logits, s, t, y = batch
    lt, st, tt, yt = tensors(logits, s, t, y)
    for v in (lt, st, tt):
        v.requires_grad_(True)
    cmed_loss(lt, st, tt, yt).total.backward()
    assert lt.grad.abs().sum() > 0 and st.grad.abs().sum() > 0
    assert tt.grad is None


def test_bad_arguments_are_rejected(batch):
    logits, s, t, y = batch
    lt, st, tt, yt = tensors(logits, s, t, y)
    with pytest.raises(ValueError, match="feature_dim"):
        cmed_loss(lt, st[:, :8], tt, yt)
    with pytest.raises(ValueError, match="alpha"):
        cmed_loss(lt, st, tt, yt, alpha=1.5)
    with pytest.raises(ValueError, match="tau"):
        cmed_loss(lt, st, tt, yt, tau=0.0)
