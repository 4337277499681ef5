"""Model shapes, parameter counts and the student's structure (docs/training.md, "Models")."""
import pytest
import torch
from torch import nn

from eggemo.train.models import (BiLSTMStudent, CRNN, ResNet18, STUDENT_SIZES, build_model,
                                 count_parameters, input_name)


def lstm_params(n_in: int, hidden: int) -> int:
    # 4 gates, input and recurrent weights, two bias vectors (PyTorch keeps bias_ih and bias_hh)
    return 4 * hidden * (n_in + hidden) + 2 * 4 * hidden


@pytest.mark.parametrize("arch", ["resnet18", "crnn"])
def test_teacher_shapes(arch):
    model = build_model(arch, n_classes=7).eval()
    x = torch.randn(3, 80, 120)
    logits, feature = model(x)
    assert logits.shape == (3, 7) and feature.shape == (3, 512)
    # (B, 1, n_mels, T) is accepted too and gives the same result
    logits4, _ = model(x.unsqueeze(1))
    torch.testing.assert_close(logits4, logits)


def test_resnet18_has_about_11_2m_parameters():
    n = count_parameters(ResNet18(in_channels=1, n_classes=7))
    # torchvision's resnet18 body is 11,176,512 with 3 input channels; 1 channel removes
    # 2*64*7*7 weights, and the 7-way head adds 512*7 + 7.
    assert n == 11_176_512 - 2 * 64 * 49 + 512 * 7 + 7 == 11_173_831


@pytest.mark.parametrize("size,deployed,total", [
    ("edge", 78_247, 78_247 + 96 * 512 + 512),
    ("paper", 5_266_951, 5_266_951),
])
def test_student_parameter_counts(size, deployed, total):
    kw = STUDENT_SIZES[size]
    h, layers, stack = kw["hidden"], kw["layers"], kw["stack"]
    by_hand = 2 * lstm_params(2 * stack, h) + 2 * (layers - 1) * lstm_params(2 * h, h) + 2 * h * 7 + 7
    model = build_model("bilstm_student", in_channels=2, n_classes=7, **kw)
    assert count_parameters(model, deployed_only=True) == by_hand == deployed
    assert count_parameters(model) == total


def test_student_shapes_and_structure():
    m = BiLSTMStudent(in_channels=2, hidden=8, layers=3, n_classes=5, feature_dim=32).eval()
    logits, feature = m(torch.randn(4, 30, 2))
    assert logits.shape == (4, 5) and feature.shape == (4, 32)
    assert len(m.fwd) == len(m.bwd) == 3
    for lstm in list(m.fwd) + list(m.bwd):
        assert isinstance(lstm, nn.LSTM) and not lstm.bidirectional and lstm.batch_first and lstm.num_layers == 1
    assert m.fwd[0].input_size == 2 and m.fwd[1].input_size == 16
    assert isinstance(BiLSTMStudent(hidden=256, layers=1).project, nn.Identity)


def test_student_forward_follows_the_spec():
    """Re-derive the forward pass by hand: backward LSTM over the reversed input, last-step pooling."""
    torch.manual_seed(0)
    m = BiLSTMStudent(in_channels=2, hidden=6, layers=2, n_classes=3, feature_dim=20).eval()
    x = torch.randn(2, 15, 2)
    with torch.no_grad():
        h = x
        for fwd, bwd in zip(m.fwd, m.bwd):
            f = fwd(h)[0]
            b = bwd(h.flip(1))[0].flip(1)
            h = torch.cat([f, b], -1)
        pooled = torch.cat([f[:, -1], b[:, 0]], -1)
        logits, feature = m(x)
    torch.testing.assert_close(logits, m.classifier(pooled))
    torch.testing.assert_close(feature, m.project(pooled))


def test_student_sees_the_whole_utterance_in_both_directions():
    """Both halves of the pooled vector (forward last step, backward first step) must depend on
    the first and on the last frame: each direction has read the whole utterance."""
    torch.manual_seed(1)
    m = BiLSTMStudent(hidden=4, layers=1, n_classes=2, feature_dim=8).eval()
    assert isinstance(m.project, nn.Identity)  # feature == pooled vector
    x = torch.randn(1, 12, 2)
    with torch.no_grad():
        _, base = m(x)
        for t in (0, -1):
            x2 = x.clone()
            x2[:, t] += 1.0
            _, moved = m(x2)
            assert not torch.allclose(moved[:, :4], base[:, :4]), f"forward half ignores frame {t}"
            assert not torch.allclose(moved[:, 4:], base[:, 4:]), f"backward half ignores frame {t}"


def test_crnn_size_is_independent_of_n_mels():
    m = CRNN(width=4, rnn_hidden=8, n_classes=3).eval()
    assert m(torch.randn(2, 40, 64))[1].shape == (2, 16)
    assert m(torch.randn(2, 80, 64))[1].shape == (2, 16)


def test_build_model_errors_are_clear():
    with pytest.raises(ValueError, match="unknown model arch"):
        build_model("vgg")
    with pytest.raises(ValueError, match="bad model_config"):
        build_model("bilstm_student", hiden=3)
    assert input_name("resnet18") == "logmel" and input_name("bilstm_student") == "f0"
