"""The student's frame stacking (`stack` > 1): what it computes, how it is rebuilt, and its errors."""
import pytest
import torch

from eggemo.train.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from eggemo.train.models import BiLSTMStudent, build_model


def test_stacking_is_an_unstacked_student_on_side_by_side_frames():
    """stack=2 on (B, T, 2) is exactly a 4-channel student on the frames paired by hand."""
    torch.manual_seed(0)
    stacked = BiLSTMStudent(in_channels=2, hidden=6, layers=2, n_classes=3, feature_dim=20, stack=2).eval()
    plain = BiLSTMStudent(in_channels=4, hidden=6, layers=2, n_classes=3, feature_dim=20).eval()
    plain.load_state_dict(stacked.state_dict())
    assert stacked.fwd[0].input_size == 4 and stacked.fwd[1].input_size == 12
    x = torch.randn(2, 30, 2)
    paired = torch.stack([torch.cat([x[:, 2 * k], x[:, 2 * k + 1]], -1) for k in range(15)], 1)  # (2, 15, 4)
    with torch.no_grad():
        got, want = stacked(x), plain(paired)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])


def test_stacking_changes_only_the_first_lstm():
    a = BiLSTMStudent(hidden=8, layers=2, stack=3).state_dict()
    b = BiLSTMStudent(hidden=8, layers=2).state_dict()
    assert a.keys() == b.keys()
    differ = {k for k in a if a[k].shape != b[k].shape}
    assert differ == {"fwd.0.weight_ih_l0", "bwd.0.weight_ih_l0"}
    assert a["fwd.0.weight_ih_l0"].shape == (32, 6)


def test_stack_1_is_the_default_and_the_old_model():
    torch.manual_seed(2)
    old = BiLSTMStudent(hidden=5, layers=2)
    new = BiLSTMStudent(hidden=5, layers=2, stack=1)
    new.load_state_dict(old.state_dict())      # checkpoints written before `stack` existed still load
    x = torch.randn(1, 7, 2)                    # any T works without stacking
    with torch.no_grad():
        torch.testing.assert_close(old.eval()(x)[0], new.eval()(x)[0])


def test_t_that_is_not_a_multiple_of_stack_is_a_clear_error():
    m = BiLSTMStudent(hidden=4, layers=1, stack=3)
    with pytest.raises(ValueError, match=r"multiple of 3.*T = 301"):
        m(torch.zeros(1, 301, 2))
    assert m(torch.zeros(1, 300, 2))[0].shape == (1, 7)


@pytest.mark.parametrize("stack", [0, -2, 1.5, "2"])
def test_bad_stack_is_refused(stack):
    with pytest.raises(ValueError, match="stack must be an integer >= 1"):
        BiLSTMStudent(stack=stack)


def test_checkpoint_rebuilds_the_stacked_student(tmp_path):
    cfg = {"in_channels": 2, "hidden": 8, "layers": 2, "n_classes": 7, "feature_dim": 16, "stack": 2}
    torch.manual_seed(3)
    model = build_model("bilstm_student", **cfg).eval()
    ckpt = make_checkpoint(model, arch="bilstm_student", model_config=cfg, label_names=[f"c{i}" for i in range(7)],
                           feature_config={"T": 40}, train_config={}, metrics={}, seed=0)
    loaded, ck = load_checkpoint(save_checkpoint(ckpt, tmp_path / "s.pt"))
    assert ck["model_config"]["stack"] == 2 and loaded.stack == 2
    x = torch.randn(3, 40, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0])


def test_edge_preset_and_fast_config_build_the_stacked_student():
    """The edge size is the stacked 2 x 48 that fits TFLM's 48 KiB arena (docs/export.md)."""
    from pathlib import Path

    from eggemo.train.config import load_config, student_config, student_size
    assert student_size("edge") == {"layers": 2, "hidden": 48, "stack": 3}
    assert student_size("paper")["stack"] == 1
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "fast.toml")
    mc = student_config(cfg, n_classes=7)
    assert (mc["layers"], mc["hidden"], mc["stack"]) == (2, 48, 3)
    assert build_model("bilstm_student", **mc).stack == 3
