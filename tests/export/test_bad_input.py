"""Bad input gets a clear error naming the problem, and leaves no artefact behind."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.cli import main
from eggemo.export.tflite_check import ExportCheckError, check_int8_types, check_tflm_ops, read_model

from .conftest import LABELS, featureset, f0_contours


def _run(capsys, *argv) -> tuple[int, str]:
    rc = main(["export", *map(str, argv)])
    return rc, capsys.readouterr().err


def test_teacher_checkpoint_is_refused(export_data, tmp_path, capsys):
    from eggemo.train.checkpoint import make_checkpoint, save_checkpoint
    from eggemo.train.models import build_model
    teacher = build_model("resnet18", n_classes=len(LABELS), width=4)
    path = save_checkpoint(make_checkpoint(teacher, arch="resnet18", model_config={"n_classes": 7, "width": 4},
                                           label_names=LABELS, feature_config={"T": 300}, train_config={},
                                           metrics={}, seed=0), tmp_path / "teacher.pt")
    rc, err = _run(capsys, path, "--out", tmp_path / "out", "--calib", export_data["calib"])
    assert rc == 2 and "teacher checkpoint" in err and "resnet18" in err
    assert not (tmp_path / "out").exists()


def test_file_that_is_no_checkpoint_is_refused(export_data, tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    rc, err = _run(capsys, junk, "--out", tmp_path / "out", "--calib", export_data["calib"])
    assert rc == 2 and "junk.pt" in err and not (tmp_path / "out").exists()


def test_missing_representative_set_is_refused(export_data, tmp_path, capsys):
    rc, err = _run(capsys, export_data["ckpt"], "--out", tmp_path / "out")
    assert rc == 2 and "representative set" in err and "--calib" in err
    rc, err = _run(capsys, export_data["ckpt"], "--out", tmp_path / "out", "--calib", tmp_path / "nope.npz")
    assert rc == 2 and "nope.npz" in err and "not found" in err
    assert not (tmp_path / "out").exists()


def test_unusable_representative_sets_are_refused(export_data, tmp_path, capsys):
    x, y = f0_contours(7, seed=5)
    featureset(np.zeros_like(x), y, "z").save(tmp_path / "zeros.npz")
    rc, err = _run(capsys, export_data["ckpt"], "--out", tmp_path / "out", "--calib", tmp_path / "zeros.npz")
    assert rc == 2 and "all zeros" in err
    xs, ys = f0_contours(7, seed=5, T=120)
    featureset(xs, ys, "s").save(tmp_path / "short.npz")
    rc, err = _run(capsys, export_data["ckpt"], "--out", tmp_path / "out", "--calib", tmp_path / "short.npz")
    assert rc == 2 and "(120, 2)" in err and "(300, 2)" in err
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file_is_refused_before_the_export_work(export_data, tmp_path, capsys):
    """It used to fail with a traceback after a minute of export work."""
    (tmp_path / "out").write_text("keep me")
    rc, err = _run(capsys, export_data["ckpt"], "--out", tmp_path / "out", "--calib", export_data["calib"])
    assert rc == 2 and f"--out {tmp_path / 'out'}: is a file, not a folder" in err
    assert (tmp_path / "out").read_text() == "keep me"


def test_read_only_out_is_refused_before_the_export_work(export_data, read_only_dir, eggemo_as_user):
    run = eggemo_as_user("export", export_data["ckpt"], "--out", read_only_dir / "out",
                         "--calib", export_data["calib"])
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"--out {read_only_dir / 'out'}: cannot write into {read_only_dir} (Permission denied)" in run.stderr
    assert "export:" not in run.stdout                  # no work was started


def _drop_a_key(c):
    c["state_dict"].pop(next(iter(c["state_dict"])))


def _nan_weight(c):
    c["state_dict"][next(iter(c["state_dict"]))][0] = float("nan")


@pytest.mark.parametrize("damage, words", [
    (_drop_a_key, "its weights do not fit the bilstm_student model"),
    (lambda c: c["model_config"].update(hidden=c["model_config"]["hidden"] + 1), "size mismatch"),
    (_nan_weight, "hold NaN or infinite values"),
    (lambda c: c.update(arch="bogus"), "arch 'bogus' is not a model this eggemo knows"),
])
def test_inconsistent_checkpoints_are_refused_clearly(export_data, tmp_path, capsys, damage, words):
    """These used to crash with a RuntimeError, or blame a "weight copy or graph bug" (NaN), or call
    an unknown arch "a student checkpoint"."""
    import torch
    ckpt = torch.load(export_data["ckpt"], weights_only=True)
    damage(ckpt)
    torch.save(ckpt, tmp_path / "bad.pt")
    rc, err = _run(capsys, tmp_path / "bad.pt", "--out", tmp_path / "out", "--calib", export_data["calib"])
    assert rc == 2 and f"{tmp_path / 'bad.pt'}: " in err and words in err
    assert "graph bug" not in err and "a student checkpoint" not in err and not (tmp_path / "out").exists()


def test_random_bytes_checkpoint_gets_no_weights_only_false_advice(export_data, tmp_path, capsys):
    (tmp_path / "noise.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    rc, err = _run(capsys, tmp_path / "noise.pt", "--out", tmp_path / "out", "--calib", export_data["calib"])
    assert rc == 2 and "not a readable eggemo checkpoint" in err and "weights_only" not in err


def _convert(build) -> bytes:
    import tensorflow as tf
    import tf_keras as keras
    inp = keras.Input((8, 2), batch_size=1)
    model = keras.Model(inp, build(keras, inp))
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    return bytes(conv.convert())


def test_op_tflm_lacks_is_named():
    """A Keras Bidirectional LSTM reverses time with REVERSE_V2: refused, and the error says why."""
    buf = _convert(lambda k, x: k.layers.Dense(3)(k.layers.Bidirectional(k.layers.LSTM(4))(x)))
    info = read_model(buf)
    assert "REVERSE_V2" in info.ops
    with pytest.raises(ExportCheckError, match="REVERSE_V2.*GATHER"):
        check_tflm_ops(info)


def test_float_tensors_in_an_int8_model_are_named():
    buf = _convert(lambda k, x: k.layers.Dense(3)(k.layers.Flatten()(x)))
    with pytest.raises(ExportCheckError, match="FLOAT32.*model_input"):
        check_int8_types(read_model(buf))


def test_non_tflite_bytes_are_refused():
    with pytest.raises(ExportCheckError, match="TFL3"):
        read_model(b"\x00" * 64)
