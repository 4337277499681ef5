"""The 1-D convolutional student (arch "cnn_student") through `eggemo export`.

One export per module (TF conversion is slow): a tiny CNN (3 blocks x 16 channels, kernel 5, stride
2 at blocks 1 and 2, meanmax pooling) trained for a few epochs on 4-channel synthetic contours, so
its BatchNorm statistics are the trained ones and not torch's initial 0 / 1. Plus unit tests of
the BatchNorm folding and the padding, and the poolings the export refuses.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from eggemo.core import nn
from eggemo.export.data import subsample
from eggemo.export.onnx_export import torch_logits
from eggemo.runtime import StudentRuntime
from eggemo.export.tflite_check import TFLM_OPS, check_int8_types, read_model
from eggemo.export.verify import agreement, onnx_logits, tflm_run

from .conftest import LABELS, T, f0_contours, featureset

torch = pytest.importorskip("torch")

CHANNELS = ("log_f0", "voiced", "delta_log_f0", "energy")
CNN = {"in_channels": len(CHANNELS), "width": 16, "layers": 3, "kernel": 5, "strides_at": [1, 2],
       "n_classes": len(LABELS), "feature_dim": 64, "pooling": "meanmax", "dropout": 0.1}


def cnn_contours(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """4-channel inputs: the conftest's log-F0 and voicing, their frame-to-frame change, and a
    noisy energy-like channel that follows voicing."""
    f0, y = f0_contours(n, seed)
    rng = np.random.default_rng(seed + 100)
    delta = np.diff(f0[:, :, 0], axis=1, prepend=f0[:, :1, 0])
    energy = f0[:, :, 1] * (1.0 + 0.3 * rng.normal(size=f0.shape[:2])) - 0.5
    return np.concatenate([f0, delta[..., None], energy[..., None]], axis=2).astype(np.float32), y


def fs4(x: np.ndarray, y: np.ndarray, prefix: str):
    from eggemo.train.featureset import FeatureSet
    base = featureset(x[:, :, :2], y, prefix)
    return FeatureSet(base.logmel, x, base.labels, base.label_names, base.speakers, base.utt_ids, CHANNELS)


def train_tiny_cnn(x: np.ndarray, y: np.ndarray, config: dict, epochs: int = 6, seed: int = 0):
    """A few epochs of Adam on CPU (about a second): trained weights and BatchNorm statistics."""
    from eggemo.train.models import build_model
    torch.manual_seed(seed)
    model = build_model("cnn_student", **config)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(16):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx])[0], yt[idx]).backward()
            opt.step()
    return model.eval()


def save_cnn(model, path, config: dict):
    from eggemo.train.checkpoint import make_checkpoint, save_checkpoint
    ckpt = make_checkpoint(model, arch="cnn_student", model_config=config, label_names=LABELS,
                           feature_config={"T": T, "student_inputs": list(CHANNELS)}, train_config={},
                           metrics={}, seed=0)
    return save_checkpoint(ckpt, path)


@pytest.fixture(scope="module")
def cnn_data(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("cnn_export")
    cx, cy = cnn_contours(84, seed=1)
    vx, vy = cnn_contours(42, seed=2)
    fs4(cx, cy, "cal").save(root / "calib.npz")
    fs4(vx, vy, "val").save(root / "val.npz")
    model = train_tiny_cnn(cx, cy, CNN)
    return {"root": root, "ckpt": save_cnn(model, root / "cnn_student.pt", CNN), "model": model,
            "calib": root / "calib.npz", "val": root / "val.npz", "val_x": vx, "val_y": vy}


@pytest.fixture(scope="module")
def cnn_exported(cnn_data) -> dict:
    from eggemo.cli import main
    out = cnn_data["root"] / "out"
    rc = main(["export", str(cnn_data["ckpt"]), "--out", str(out), "--calib", str(cnn_data["calib"]),
               "--val", str(cnn_data["val"]), "--calib-max", "48", "--tflm-utterances", "12"])
    assert rc == 0
    return {"out": out, "report": json.loads((out / "export_report.json").read_text()), **cnn_data}


# ------------------------------------------------------------------------------ the export run

def test_cnn_export_writes_everything_and_describes_the_student(cnn_exported):
    out, r = cnn_exported["out"], cnn_exported["report"]
    assert {p.name for p in out.iterdir()} == {"student.onnx", "student_float.tflite", "student_int8.tflite",
                                               "emo_model_data.c", "emo_model_data.h", "emo_model.c",
                                               "emo_model.h", "export_report.json", "export_report.md"}
    c = r["checkpoint"]
    assert c["arch"] == "cnn_student"
    shape = dict(c["shape"])
    folded = 16 * (4 * 5 + 1) + 2 * 16 * (16 * 5 + 1) + 7 * 33
    assert shape.pop("parameters_after_batchnorm_folding") == folded
    assert shape == {"family": "cnn", "layers": 3, "width": 16, "kernel": 5, "strides": [1, 2, 2],
                     "strides_at": [1, 2], "pooling": "meanmax", "frames_after_blocks": [T, 150, 75],
                     "pooled_dim": 32, "batchnorm": "folded into the convolutions"}
    assert c["deployed_parameters"] == folded + 3 * 16   # torch counts BatchNorm gamma and beta, not a conv bias
    assert r["input"]["channels"] == 4 and r["input"]["channel_names"] == list(CHANNELS)
    assert r["input"]["frames_after_blocks"] == 75 and "lstm_steps" not in r["input"]
    assert "lstm_cell_clip" not in r["int8"] and "lstm_cell_state_scale_log2" not in r["int8"]
    md = (out / "export_report.md").read_text()
    assert "CNN, 3 conv blocks x 16, kernel 5, stride 2 at blocks 1,2, meanmax pooling" in md.splitlines()[0]
    assert "BatchNorm (folded)" in md and "LSTM" not in md
    # the edge targets apply to the CNN; its RAM budget is the C scratch the board runs it in, not TFLM's arena
    assert set(r["targets"]) == {"accuracy_drop_points", "argmax_agreement", "tflm_vs_litert_max_lsb",
                                 "int8_bytes", "c_scratch_bytes"}


def test_cnn_keras_onnx_and_float_tflite_match_torch(cnn_exported):
    x = cnn_exported["val_x"][:8]
    ref = torch_logits(cnn_exported["model"], x)
    out = cnn_exported["out"]
    assert np.abs(onnx_logits(str(out / "student.onnx"), x) - ref).max() <= 1e-4
    float_rt = StudentRuntime(out / "student_float.tflite")
    assert float_rt.input_shape == (T, 4)
    assert np.abs(float_rt.logits_batch(x) - ref).max() <= 1e-4
    parity = cnn_exported["report"]["parity_vs_torch"]
    assert max(parity[k] for k in ("onnx", "keras", "float_tflite")) <= 1e-4


def test_cnn_int8_ops_are_tflm_ops_with_bn_and_relu_fused(cnn_exported):
    info = read_model((cnn_exported["out"] / "student_int8.tflite").read_bytes())
    assert set(info.ops) <= TFLM_OPS
    counts = info.op_counts()
    assert counts["CONV_2D"] == 3 and counts["RESHAPE"] == 1 and info.ops[0] == "RESHAPE"
    # torch pads 2 zeros on both sides; TFLite's SAME would put 1 before a stride-2 conv over an
    # even length, so those two blocks (300 and 150 frames in) get an explicit PAD.
    assert counts["PAD"] == 2
    assert {"MEAN", "REDUCE_MAX", "CONCATENATION", "FULLY_CONNECTED"} <= set(info.ops)
    assert not {"UNIDIRECTIONAL_SEQUENCE_LSTM", "GATHER", "RELU", "MUL", "ADD", "EXPAND_DIMS"} & set(info.ops)
    assert list(info.ops) == cnn_exported["report"]["int8"]["ops"]
    assert check_int8_types(info) == cnn_exported["report"]["int8"]["tensor_types"]
    assert not [t for t in info.tensors if t.type in ("FLOAT32", "INT16")]
    conv_w = [t for t in info.tensors if "CONV_2D:input1" in t.roles]
    assert len(conv_w) == 3 and all(t.type == "INT8" and len(t.scale) == 16 for t in conv_w)   # per channel
    io = cnn_exported["report"]["int8"]["io"]
    assert io["input"]["type"] == io["output"]["type"] == "INT8" and io["input"]["shape"] == [1, T, 4]


def test_cnn_tflm_agrees_with_litert_within_one_lsb(cnn_exported):
    model = (cnn_exported["out"] / "student_int8.tflite").read_bytes()
    rt = StudentRuntime(model)
    tm = cnn_exported["report"]["tflm"]
    x = cnn_exported["val_x"][subsample(len(cnn_exported["val_x"]), tm["utterances"])]
    xq = np.stack([rt.quantize_input(u) for u in x])
    lite = np.stack([rt.run_raw(u) for u in xq]).astype(int)
    micro = tflm_run(model, xq, tm["arena_bytes"]).astype(int)
    assert np.abs(lite - micro).max() == tm["max_lsb_diff"] <= 1
    assert tm["kernel_max_lsb_diff"] <= 1 and any("CONV_2D" in k for k in tm["kernels_checked"])
    assert cnn_exported["report"]["targets"]["tflm_vs_litert_max_lsb"]["met"]


def test_cnn_int8_agreement_and_budget_are_reported(cnn_exported):
    r = cnn_exported["report"]
    out = cnn_exported["out"]
    int8 = StudentRuntime.from_export_dir(out).logits_batch(cnn_exported["val_x"])
    flt = StudentRuntime.from_export_dir(out, int8=False).logits_batch(cnn_exported["val_x"])
    agree = agreement(int8, flt, step=r["int8"]["io"]["output"]["scale"])
    assert agree["argmax_agreement"] == pytest.approx(r["int8"]["vs_float"]["argmax_agreement"])
    assert r["targets"]["argmax_agreement"]["value"] == r["int8"]["vs_float"]["argmax_agreement"]
    assert agree["max_abs_logit_diff"] <= 8 * r["int8"]["io"]["output"]["scale"] + 0.05 * np.abs(flt).max()
    assert r["int8"]["state_leak_without_reset_lsb"] == 0           # no state: nothing to reset
    assert r["targets"]["int8_bytes"]["value"] == (out / "student_int8.tflite").stat().st_size
    assert r["targets"]["c_scratch_bytes"]["met"] and r["targets"]["int8_bytes"]["met"]
    assert r["targets"]["c_scratch_bytes"]["value"] == r["c_inference"]["scratch_bytes"] == r["mcu"]["ram_needed_bytes"]
    assert r["mcu"]["runtime"] == "C inference (student_int8.tflite, emo_model.c)" and r["mcu"]["ram_use"] == "C scratch"
    header = (out / "emo_model_data.h").read_text()
    assert f"#define EMO_MODEL_DATA_ARENA_SIZE {r['tflm']['arena_bytes']}" in header
    assert "#define EMO_MODEL_DATA_CHANNELS 4" in header


# ------------------------------------------------------------------------------ refusals

@pytest.mark.parametrize("pooling", ["stats", "attention"])
def test_cnn_pooling_the_export_cannot_rebuild_is_refused(pooling, tmp_path, capsys):
    from eggemo.cli import main
    from eggemo.train.models import build_model
    cfg = {**CNN, "pooling": pooling}
    ckpt = save_cnn(build_model("cnn_student", **cfg).eval(), tmp_path / "s.pt", cfg)
    rc = main(["export", str(ckpt), "--out", str(tmp_path / "out"), "--calib", str(tmp_path / "none.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and f"pools with {pooling!r}" in err and "'mean', 'max', 'meanmax'" in err
    assert not (tmp_path / "out").exists()


def test_unknown_student_arch_is_named(tmp_path):
    from eggemo.export.pipeline import load_student
    from eggemo.train.checkpoint import FORMAT
    path = tmp_path / "odd.pt"
    torch.save({"format": FORMAT, "kind": "student", "arch": "gru_student", "model_config": {}, "state_dict": {},
                "label_names": list(LABELS), "feature_config": {"T": T}, "train_config": {}, "metrics": {},
                "seed": 0}, path)
    # read_checkpoint refuses it first (train/checkpoint.py), naming the archs it knows
    with pytest.raises(ValueError, match="arch 'gru_student' is not a model this eggemo knows") as exc:
        load_student(path)
    assert "cnn_student" in str(exc.value) and "a student checkpoint" not in str(exc.value)


def test_cnn_shape_reader_checks_config_against_weights():
    from eggemo.export.keras_cnn import cnn_shape_from_state
    from eggemo.train.models import build_model
    state = {k: v.numpy() for k, v in build_model("cnn_student", **CNN).state_dict().items()}
    assert cnn_shape_from_state(state, CNN, T).strides == (1, 2, 2)
    with pytest.raises(ValueError, match=r"classifier.weight has shape \(7, 32\), expected \(7, 16\)"):
        cnn_shape_from_state(state, {**CNN, "pooling": "mean"}, T)
    with pytest.raises(ValueError, match="model_config says width = 32 but the weights have 16"):
        cnn_shape_from_state(state, {**CNN, "width": 32}, T)
    with pytest.raises(ValueError, match="not a CNNStudent state dict"):
        cnn_shape_from_state({"fwd.0.weight_ih_l0": np.zeros((8, 2))}, CNN, T)


# ------------------------------------------------------------------------------ units

def _random_bn(block: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        n = block.num_features
        block.running_mean.copy_(torch.randn(n, generator=g))
        block.running_var.copy_(torch.rand(n, generator=g) * 3 + 0.05)
        block.weight.copy_(torch.randn(n, generator=g))
        block.bias.copy_(torch.randn(n, generator=g))


@pytest.mark.parametrize("L,stride", [(40, 1), (40, 2), (41, 2)], ids=["stride1", "stride2-even", "stride2-odd"])
def test_folded_conv_equals_torch_conv_and_batchnorm(L, stride):
    """Keras's first block (BN folded, ReLU fused, torch's padding) against torch's conv -> BN ->
    ReLU in eval mode, for random BatchNorm statistics; the fold alone checked with torch's conv."""
    import tf_keras as keras

    from eggemo.export.keras_cnn import build_keras_cnn, cnn_shape_from_state, fold_batchnorm
    from eggemo.train.models import build_model
    cfg = {**CNN, "layers": 1, "kernel": 7, "strides_at": [0] if stride == 2 else []}
    torch.manual_seed(L + stride)
    model = build_model("cnn_student", **cfg).eval()
    conv, bn = model.blocks[0], model.blocks[1]
    _random_bn(bn, seed=L)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    x = np.random.default_rng(L).normal(size=(3, L, 4)).astype(np.float32)
    xt = torch.from_numpy(x).transpose(1, 2)
    with torch.no_grad():
        want = bn(conv(xt))
        kernel, bias = fold_batchnorm(state, 0)
        w = torch.from_numpy(kernel[:, 0]).permute(2, 1, 0)               # back to (out, in, k)
        folded = torch.nn.functional.conv1d(xt, w, torch.from_numpy(bias), stride=stride, padding=3)
    assert float((folded - want).abs().max()) <= 1e-5
    kmodel = build_keras_cnn(state, cnn_shape_from_state(state, cfg, L), batch_size=None)
    block = keras.Model(kmodel.input, kmodel.get_layer("conv0").output)
    got = block(x, training=False).numpy()[:, :, 0, :]                    # (B, L', width)
    ref = torch.relu(want).transpose(1, 2).numpy()
    assert got.shape == ref.shape and np.abs(got - ref).max() <= 1e-5
    padded = "pad0" in [layer.name for layer in kmodel.layers]
    assert padded == (stride == 2 and L % 2 == 0)          # SAME where it is torch's padding, else PAD


def test_same_padding_is_used_only_where_it_is_torchs():
    from eggemo.export.keras_cnn import conv_length, same_padding_matches_torch
    assert same_padding_matches_torch(300, 5, 1) and same_padding_matches_torch(75, 5, 2)
    assert not same_padding_matches_torch(300, 5, 2) and not same_padding_matches_torch(150, 3, 2)
    assert [conv_length(L, 5, 2) for L in (300, 301, 1)] == [150, 151, 1]


# ------------------------------------------------------------ the recipe's CNN: every extra path

RECIPE = {**CNN, "pyramid": 3, "input_moments": True, "head": 24}


@pytest.fixture(scope="module")
def recipe_exported(cnn_data) -> dict:
    """configs/eggemo.toml's student shape (time pyramid, input moments, hidden layer), small."""
    from eggemo.cli import main
    root = cnn_data["root"]
    cx, cy = cnn_contours(84, seed=1)
    model = train_tiny_cnn(cx, cy, RECIPE)
    ckpt = save_cnn(model, root / "recipe_student.pt", RECIPE)
    out = root / "recipe_out"
    rc = main(["export", str(ckpt), "--out", str(out), "--calib", str(cnn_data["calib"]),
               "--val", str(cnn_data["val"]), "--calib-max", "48", "--tflm-utterances", "12"])
    assert rc == 0
    return {"out": out, "model": model, "report": json.loads((out / "export_report.json").read_text())}


def test_the_configs_16x8_export_is_deployed_snapped_and_written_as_c(recipe_exported, cnn_data, tmp_path, capfd):
    """A checkpoint trained with configs/eggemo.toml's [export] (int16, snapped weights) exports its 16x8
    model by default: student_16x8.tflite deployed (report, host runtime, C), the int8 model beside it,
    the snapping's own effect and the 16x8 agreement reported; the flags override the config."""
    from eggemo.cli import main
    from eggemo.export import cmodel
    from eggemo.runtime import deployed_model
    from eggemo.train.checkpoint import make_checkpoint, save_checkpoint
    ckpt = make_checkpoint(recipe_exported["model"], arch="cnn_student", model_config=RECIPE, label_names=LABELS,
                           feature_config={"T": T, "student_inputs": list(CHANNELS)},
                           train_config={"export": {"activations": "int16", "snap_weights": True}}, metrics={}, seed=0)
    path = save_checkpoint(ckpt, tmp_path / "s.pt")
    out = tmp_path / "out"
    assert main(["export", str(path), "--out", str(out), "--calib", str(cnn_data["calib"]), "--val",
                 str(cnn_data["val"]), "--calib-max", "48", "--tflm-utterances", "4"]) == 0
    r = json.loads((out / "export_report.json").read_text())
    assert r["deploy"] == {"file": "student_16x8.tflite", "activations": "int16", "snapped_weights": True}
    assert deployed_model(out) == out / "student_16x8.tflite" and (out / "student_int8.tflite").is_file()
    assert StudentRuntime.from_export_dir(out).bits == 16
    info = read_model((out / "student_16x8.tflite").read_bytes())
    assert {t.type for t in info.tensors} >= {"INT16", "INT8", "INT64"}    # activations, weights, conv biases
    w = r["int16x8"]
    assert w["vs_float"]["utterances"] == len(cnn_data["val_x"]) and 0 <= w["vs_float"]["argmax_agreement"] <= 1
    assert r["targets"]["argmax_agreement"]["value"] == w["vs_float"]["argmax_agreement"]
    assert 0 <= r["snap"]["labels_changed"] <= r["snap"]["utterances"] == len(cnn_data["val_x"])
    assert "tflm" in w and isinstance(w["tflm"]["runs"], bool)
    ci = r["c_inference"]
    assert ci["bits"] == 16 and ci["source"] == "student_16x8.tflite" and ci["parity"]["max_lsb"] == 0
    prog = cmodel.lower((out / "student_16x8.tflite").read_bytes())
    assert prog.bits == 16 and ci["model_id"] == prog.model_id and ci["scratch_bytes"] == prog.scratch_bytes
    md = (out / "export_report.md").read_text()
    assert "## Deployed model" in md
    # its budget is the deployed 16x8 model's C scratch (the default export used to be judged by the int8
    # model's TFLite Micro arena, and missed "tflm_arena_bytes" although the board runs C in half of it)
    assert "tflm_arena_bytes" not in r["targets"] and r["targets"]["c_scratch_bytes"] == {
        "value": ci["scratch_bytes"], "limit": 48 << 10, "met": ci["scratch_bytes"] <= 48 << 10}
    assert r["mcu"]["runtime"] == "C inference (student_16x8.tflite, emo_model.c)"
    assert f"C scratch of {ci['scratch_bytes']:,} B fits RAM yes" in md and "is a cross-check, not its RAM budget" in md
    # what TFLite Micro printed while trying the 16x8 model is in the report, not stray lines on the terminal
    err = capfd.readouterr().err
    assert "failed to invoke" not in err and "Only float32 and int8 types are supported" not in err
    if not w["tflm"]["runs"]:
        assert w["tflm"]["error"] and w["tflm"]["error"] in md
        assert all(line.rstrip(".") in w["tflm"]["error"] for line in w["tflm"].get("tflm_said", [])[:2])
    # the flags override the config: int8, as exported before
    assert main(["export", str(path), "--out", str(tmp_path / "o8"), "--calib", str(cnn_data["calib"]), "--val",
                 str(cnn_data["val"]), "--calib-max", "48", "--tflm-utterances", "4", "--activations", "int8",
                 "--no-snap"]) == 0
    r8 = json.loads((tmp_path / "o8" / "export_report.json").read_text())
    assert r8["deploy"]["file"] == "student_int8.tflite" and "int16x8" not in r8 and "snap" not in r8
    assert not (tmp_path / "o8" / "student_16x8.tflite").exists()


def test_int16_export_of_an_lstm_student_is_refused_clearly(exported, tmp_path, capsys):
    from eggemo.cli import main
    from eggemo.export.pipeline import export_settings
    from eggemo.train.checkpoint import read_checkpoint
    for flags in (["--activations", "int16"], ["--snap"]):
        rc = main(["export", str(exported["ckpt"]), "--out", str(tmp_path / "o"), "--calib", str(exported["calib"]),
                   *flags])
        assert rc == 2 and "CNN student" in capsys.readouterr().err and not (tmp_path / "o").exists()
    # a config's [export] (configs/eggemo.toml: int16, snapped) gives way to int8 for a BiLSTM, and says so
    ckpt = read_checkpoint(exported["ckpt"])
    said = []
    recipe = {"activations": "int16", "snap_weights": True}
    assert export_settings({**ckpt, "train_config": {"export": recipe}}, log=said.append) == ("int8", False)
    assert export_settings(ckpt, fallback=recipe, log=said.append) == ("int8", False)
    assert len(said) == 2 and "int8 without snapping" in said[0]


def test_deployed_model_names_a_bad_report_clearly(tmp_path):
    from eggemo.export.cmodel import main as cmodel_main
    from eggemo.runtime import deployed_model
    (tmp_path / "student_int8.tflite").write_bytes(b"x")
    report = tmp_path / "export_report.json"
    assert deployed_model(tmp_path) == tmp_path / "student_int8.tflite"            # no report: int8
    for bad, what in [('{"label_names": ["a"], "deploy": "student_16x8.tflite"}', '"deploy" must be an object'),
                      ('{"label_names": ["a"], "deploy": {"file": "../elsewhere.tflite"}}', "not a file name"),
                      ('{"label_names": ["a"], "deploy": {"file": 3}}', '"deploy" must be an object'),
                      ("{not json", "not a readable export report")]:
        report.write_text(bad)
        with pytest.raises(ValueError, match=what):
            deployed_model(tmp_path)
        assert cmodel_main([str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    report.write_text('{"label_names": ["a"], "deploy": {"file": "student_16x8.tflite"}}')
    assert deployed_model(tmp_path) == tmp_path / "student_16x8.tflite"
    assert cmodel_main([str(tmp_path), "--out", str(tmp_path / "c")]) == 2          # names the missing file


def test_recipe_cnn_exports_with_float_parity_and_tflm_ops(recipe_exported, cnn_data):
    x = cnn_data["val_x"][:8]
    out, report = recipe_exported["out"], recipe_exported["report"]
    ref = torch_logits(recipe_exported["model"], x)
    assert np.abs(StudentRuntime(out / "student_float.tflite").logits_batch(x) - ref).max() <= 1e-4
    assert max(report["parity_vs_torch"][k] for k in ("onnx", "keras", "float_tflite")) <= 1e-4
    info = read_model((out / "student_int8.tflite").read_bytes())
    assert set(info.ops) <= TFLM_OPS and "MUL" in info.ops          # x * x and x * ramp
    assert info.op_counts()["FULLY_CONNECTED"] == 2                  # hidden layer and classifier
    assert not [t for t in info.tensors if t.type in ("FLOAT32", "INT16")]
    assert report["tflm"]["kernel_max_lsb_diff"] <= 1
    assert "pyramid" in report["checkpoint"].get("shape_line", json.dumps(report))


def test_pyramid_order_maps_keras_entries_to_torch_entries():
    from eggemo.export.keras_cnn import CNNShape, keras_order
    s = CNNShape(in_channels=2, width=3, layers=1, kernel=3, strides=(1,), pooling="mean", n_classes=2, T=6,
                 pyramid=2, input_moments=True)
    order = keras_order(s)
    # mean block 0..2 unchanged; pyramid Keras (p, w) -> torch w * 2 + p; moments unchanged
    assert order.tolist() == [0, 1, 2, 3, 5, 7, 4, 6, 8] + list(range(9, 15))


# ------------------------------------------------------------- the C inference (csrc/emo_nn.c)

def _litert_reference(path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

    def run(q: np.ndarray) -> np.ndarray:
        it.set_tensor(i, q[None])
        it.invoke()
        return it.get_tensor(o)[0].copy()
    return run


def _c_parity_inputs(rt: StudentRuntime, val_x: np.ndarray) -> list[np.ndarray]:
    """Quantised utterances: the validation set, 200 fresh contours, and the input type's extremes
    (int8, or int16 for a 16x8 model) and random values."""
    fresh, _ = cnn_contours(200, seed=7)
    qs = [rt.quantize_input(x) for x in np.concatenate([val_x, fresh])]
    rng = np.random.default_rng(3)
    shape, dt = qs[0].shape, qs[0].dtype
    lo, hi = np.iinfo(dt).min, np.iinfo(dt).max
    qs += [np.full(shape, lo, dt), np.full(shape, hi, dt), np.zeros(shape, dt)]
    qs += [rng.integers(lo, hi + 1, shape).astype(dt) for _ in range(20)]
    return qs


@pytest.mark.parametrize("which", ["cnn_exported", "recipe_exported"])
def test_c_inference_is_bit_exact_with_litert(which, request, cnn_data, tmp_path):
    """The generated C (emo_model.c + csrc/emo_nn.c, compiled here through cffi) and its NumPy
    reference give ai-edge-litert's reference-kernel int8 scores exactly, on >= 200 utterances."""
    from eggemo.export import cmodel
    out = request.getfixturevalue(which)["out"]
    rt = StudentRuntime(out / "student_int8.tflite")
    prog = cmodel.lower((out / "student_int8.tflite").read_bytes())
    c = cmodel.CModel(out, tmp_path)
    litert = _litert_reference(out / "student_int8.tflite")
    qs = _c_parity_inputs(rt, cnn_data["val_x"])
    assert len(qs) >= 200
    differ = 0
    for q in qs:
        ref = litert(q)
        got, numpy_ref = c.run(q), nn.run_reference(prog, q)
        np.testing.assert_array_equal(numpy_ref, ref)
        differ += int(np.any(got != ref))
        assert int(np.argmax(got)) == int(np.argmax(ref))
    assert differ == 0, f"C scores differ from litert's on {differ} of {len(qs)} utterances"
    # the host runtime runs the same reference kernels (the default XNNPACK delegate rounds its own way)
    assert all(np.array_equal(rt.run_raw(q), litert(q)) for q in qs[:20])


def test_export_writes_and_checks_the_c_inference(recipe_exported):
    out, report = recipe_exported["out"], recipe_exported["report"]
    ci = report["c_inference"]
    assert ci["available"] and (out / "emo_model.c").is_file() and (out / "emo_model.h").is_file()
    assert ci["parity"]["identical"] == ci["parity"]["utterances"] > 0 and ci["parity"]["max_lsb"] == 0
    header = (out / "emo_model.h").read_text()
    assert f"#define EMO_MODEL_SCRATCH_BYTES {ci['scratch_bytes']} " in header
    assert "model SHA-256" in header and "PAD x2" in header
    # the scratch plan shares bytes between tensors whose lifetimes do not meet: less than the sum
    from eggemo.export import cmodel
    prog = cmodel.lower((out / "student_int8.tflite").read_bytes())
    assert 0 < prog.scratch_bytes < sum(v for k, v in prog.sizes.items() if k != prog.output)
    # the first convolution streams into the second (its output, the largest tensor, never whole)
    assert list(prog.streams) == [1] and "emo_nn_conv_pair(&op0, &op1, " in (out / "emo_model.c").read_text()
    whole = cmodel.lower((out / "student_int8.tflite").read_bytes())
    whole.streams.clear()
    cmodel.plan(whole)
    assert prog.scratch_bytes < whole.scratch_bytes


def test_a_cut_or_damaged_tflite_is_a_lowering_error_and_one_line(cnn_exported, tmp_path, capsys):
    """The firmware build's model step on a .tflite cut short or with flipped bits: lower() raises
    LoweringError (or lowers a model that still parses), never the flatbuffer reader's struct.error
    or IndexError, and the CLI says so in one line; a file that parses but is not the bytes the
    export verified is refused by its model id."""
    import random

    from eggemo.export import cmodel
    good = (cnn_exported["out"] / "student_int8.tflite").read_bytes()
    rng = random.Random(0)
    for k in range(300):
        buf = bytearray(good)
        if k % 3 == 0:
            buf = buf[:rng.randrange(len(buf))]
        else:
            for _ in range(rng.choice((1, 8, 64))):
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        try:
            cmodel.lower(bytes(buf))
        except cmodel.LoweringError:
            pass
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "student_int8.tflite").write_bytes(good[:len(good) // 2])
    assert cmodel.main([str(bad), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "truncated or corrupt" in err
    shutil.copy(cnn_exported["out"] / "export_report.json", bad)
    flipped = bytearray(good)
    flipped[len(good) * 3 // 4] ^= 0x10
    (bad / "student_int8.tflite").write_bytes(bytes(flipped))
    assert cmodel.main([str(bad), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not the model `eggemo export` verified" in err
    assert not (tmp_path / "c").exists()


def test_lowering_refuses_what_it_does_not_implement(exported, tmp_path, capsys):
    """A BiLSTM student (UNIDIRECTIONAL_SEQUENCE_LSTM) is named, not miscompiled; the CLI says so."""
    from eggemo.export import cmodel
    with pytest.raises(cmodel.LoweringError, match="UNIDIRECTIONAL_SEQUENCE_LSTM"):
        cmodel.lower((exported["out"] / "student_int8.tflite").read_bytes())
    with pytest.raises(cmodel.LoweringError, match="not a TFLite flatbuffer"):
        cmodel.lower(b"garbage bytes, not a model")
    assert cmodel.main([str(exported["out"]), "--out", str(tmp_path / "c")]) == 2
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in capsys.readouterr().err
    assert cmodel.main([str(tmp_path / "nothing"), "--out", str(tmp_path / "c")]) == 2
    assert "eggemo export" in capsys.readouterr().err


def test_the_16x8_graph_lowers_and_its_numpy_reference_is_litert_bit_for_bit(cnn_data, tmp_path):
    """TFLite's 16x8 mode (int16 activations) of the recipe's student shape: the generated C
    (csrc/emo_nn.c's 16x8 kernels) and the NumPy reference give ai-edge-litert's reference-kernel
    int16 scores exactly."""
    from eggemo.export import cmodel
    from eggemo.train.snap import snap_weights
    from eggemo.export.keras_cnn import build_keras_cnn, cnn_shape_from_state
    from eggemo.export.tflite import convert_int16x8
    cx, cy = cnn_contours(84, seed=1)
    model = snap_weights(train_tiny_cnn(cx, cy, RECIPE))
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    path = tmp_path / "student_16x8.tflite"
    path.write_bytes(convert_int16x8(build_keras_cnn(state, cnn_shape_from_state(state, RECIPE, cx.shape[1])), cx))
    prog = cmodel.lower(path.read_bytes())
    assert prog.bits == 16 and {op.kind for op in prog.ops} >= {"conv", "mean", "max", "mul", "requantize", "fc"}
    rt = StudentRuntime(path)
    litert = _litert_reference(path)
    qs = _c_parity_inputs(rt, cnn_data["val_x"])
    assert qs[0].dtype == np.int16 and min(int(q.min()) for q in qs) == -32768
    cmodel.write_program(path.read_bytes(), tmp_path / "c16", feature_config={"student_inputs": list(CHANNELS)})
    assert "#define EMO_MODEL_BITS 16 " in (tmp_path / "c16" / "emo_model.h").read_text()
    c = cmodel.CModel(tmp_path / "c16", tmp_path / "build16")
    for q in qs:
        ref = litert(q)
        np.testing.assert_array_equal(nn.run_reference(prog, q), ref)
        np.testing.assert_array_equal(c.run(q), ref)
    with pytest.raises(ValueError, match="int16"):
        nn.run_reference(prog, qs[0].astype(np.int8))
