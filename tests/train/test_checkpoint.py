"""Checkpoints: save and load give the same outputs; bad files fail with a clear message."""
import pytest
import torch

from eggemo.train.checkpoint import (FORMAT, load_checkpoint, make_checkpoint, read_checkpoint,
                                     save_checkpoint)
from eggemo.train.models import build_model

CASES = [
    ("bilstm_student", {"in_channels": 2, "hidden": 8, "layers": 2, "n_classes": 4, "feature_dim": 32},
     (3, 20, 2), "student"),
    ("resnet18", {"in_channels": 1, "n_classes": 4, "width": 4}, (3, 16, 20), "teacher"),
    ("crnn", {"in_channels": 1, "n_classes": 4, "width": 4, "rnn_hidden": 8}, (3, 16, 20), "teacher"),
]


def trained_a_little(arch, mc, shape):
    """A model whose weights and BatchNorm statistics differ from a fresh one."""
    torch.manual_seed(0)
    m = build_model(arch, **mc)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(3):
        logits, _ = m(torch.randn(*shape))
        loss = logits.logsumexp(1).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    return m.eval()


@pytest.mark.parametrize("arch,mc,shape,kind", CASES)
def test_save_and_load_give_identical_outputs(tmp_path, arch, mc, shape, kind):
    model = trained_a_little(arch, mc, shape)
    ckpt = make_checkpoint(model, arch=arch, model_config=mc, label_names=["a", "b", "c", "d"],
                           feature_config={"T": shape[-1] if arch != "bilstm_student" else shape[1]},
                           train_config={"mode": kind}, metrics={"val_ua": 0.5}, seed=7)
    path = save_checkpoint(ckpt, tmp_path / "m.pt")
    loaded, d = load_checkpoint(path)
    assert d["format"] == FORMAT and d["kind"] == kind and d["arch"] == arch and d["seed"] == 7
    assert d["model_config"] == mc and d["label_names"] == ["a", "b", "c", "d"]
    assert not loaded.training
    x = torch.randn(*shape)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # a fresh model of the same config does not give these outputs: the weights really came back
    with torch.no_grad():
        assert not torch.allclose(build_model(arch, **mc).eval()(x)[0], model(x)[0])


def test_missing_and_foreign_files_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="eggemo train"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable eggemo checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="expected format"):
        read_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="lacks"):
        save_checkpoint({"format": FORMAT}, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
