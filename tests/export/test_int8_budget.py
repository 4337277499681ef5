"""The int8 rounding simulation (studies/int8_budget.py) against the converter's real int8 model:
the same ranges, the float model when nothing is rounded, the int8 logits when everything is; and
the agreement study's CNN path with --budget."""
from __future__ import annotations

import json

import numpy as np
import pytest

from studies.int8_budget import ROUNDINGS, Int8Simulation, flips

from .test_export_cnn import RECIPE, cnn_contours, fs4, save_cnn, train_tiny_cnn

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from eggemo.export.keras_cnn import build_keras_cnn, cnn_shape_from_state
    from eggemo.runtime import StudentRuntime
    from eggemo.export.tflite import convert_int8
    cx, cy = cnn_contours(84, seed=1)
    vx, vy = cnn_contours(60, seed=2)
    model = train_tiny_cnn(cx, cy, RECIPE)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    buf = convert_int8(build_keras_cnn(state, cnn_shape_from_state(state, RECIPE, cx.shape[1])), cx)
    return {"model": model, "calib": cx, "x": vx, "y": vy, "buf": buf, "rt": StudentRuntime(buf),
            "root": tmp_path_factory.mktemp("budget"), "cy": cy}


def _tensor_qparams(buf: bytes) -> dict[str, tuple[float, int]]:
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=buf)
    return {t["name"]: (float(t["quantization"][0]), int(t["quantization"][1])) for t in it.get_tensor_details()}


def test_the_simulation_reads_the_converters_ranges(converted):
    sim = Int8Simulation(converted["model"], converted["calib"])
    real = _tensor_qparams(converted["buf"])
    rt = converted["rt"]
    s_in, z_in = sim.ranges["input"]
    assert s_in == pytest.approx(rt.input_scale, rel=1e-5) and z_in == rt.input_zero_point
    assert sim.ranges["logits"][0] == pytest.approx(rt.output_scale, rel=1e-5)
    # every block's output, the hidden layer and the joined vector: a tensor of the int8 model with that scale
    for key, name in (("conv0", "conv0"), ("conv2", "conv2"), ("hidden", "head"), ("concat", "pooled")):
        s, z = sim.ranges[key]
        hits = [q for n, q in real.items() if name in n and q[0] == pytest.approx(s, rel=1e-5)]
        assert hits and hits[0][1] == z, (key, s, z, [(n, q) for n, q in real.items() if name in n])


def test_no_rounding_is_the_float_model_and_all_roundings_follow_the_int8_model(converted):
    sim = Int8Simulation(converted["model"], converted["calib"])
    x = converted["x"]
    with torch.no_grad():
        f = converted["model"](torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(sim.logits(x, set()), f, atol=1e-4)
    q = converted["rt"].logits_batch(x)
    step = converted["rt"].output_scale
    all_on = sim.logits(x, set(ROUNDINGS))
    assert np.abs(all_on - q).mean() < 1.0 * step            # within a step on average ...
    assert np.abs(f - q).mean() > np.abs(all_on - q).mean()   # ... and closer to int8 than the float model is
    for name in ROUNDINGS:                                    # each rounding alone moves the logits
        assert not np.array_equal(sim.logits(x, {name}), sim.logits(x, set())), name
    with pytest.raises(ValueError, match="unknown rounding"):
        sim.logits(x, {"bias"})


def test_flips_counts_label_changes(converted):
    r = flips(converted["model"], converted["calib"], converted["x"])
    assert r["utterances"] == len(converted["x"])
    assert set(r) == {"utterances", "all", *ROUNDINGS}
    assert all(0 <= r[k] <= r["utterances"] for k in (*ROUNDINGS, "all"))


def _study(converted, *options: str) -> dict:
    """The agreement study's JSON for the fixture's student on its calibration and held-out contours."""
    from studies.agreement_study import main
    root = converted["root"]
    fs = root / "fs.npz"
    if not fs.exists():
        x = np.concatenate([converted["calib"], converted["x"]])
        y = np.concatenate([converted["cy"], converted["y"]])
        fs4(x, y, "u").save(fs)
    ckpt = save_cnn(converted["model"], root / "cnn.pt", RECIPE)
    out = root / "study.json"
    assert main([str(ckpt), "--features", str(fs), "--out", str(out), "--calib-max", "48", *options]) == 0
    return json.loads(out.read_text())


def test_the_study_takes_a_cnn_student_and_budgets_it(converted, capsys):
    r = _study(converted, "--budget")
    (row,) = r["rows"]
    assert row["validation"]["utterances"] + row["test"]["utterances"] == row["held_out"]["utterances"]
    assert row["budget"]["utterances"] == row["held_out"]["utterances"]
    for part in ("validation", "test", "held_out"):
        a = row[part]
        assert 0 <= a["ua_float"] <= 1 and 0 <= a["ua_int8"] <= 1
        d = r["summary"][part]["ua_int8_minus_float_points"]
        assert d["mean"] == pytest.approx(100 * (a["ua_int8"] - a["ua_float"]))
    assert set(r["budget"]["flipped_share"]) == {*ROUNDINGS, "all"}
    assert "labels flipped by each int8 rounding alone" in capsys.readouterr().out


def test_snapped_weights_are_the_int8_models_weights(converted):
    from eggemo.train.snap import snap_weights
    model, x = converted["model"], converted["x"]
    snapped = snap_weights(model)
    assert snapped is not model and not torch.equal(snapped.classifier.weight, model.classifier.weight)
    sim, sim_snapped = Int8Simulation(model, converted["calib"]), Int8Simulation(snapped, converted["calib"])
    # rounding the weights moves the checkpoint's logits, but leaves the snapped copy's where they are
    assert np.abs(sim.logits(x, {"weights"}) - sim.logits(x, set())).max() > 1e-3
    np.testing.assert_allclose(sim_snapped.logits(x, {"weights"}), sim_snapped.logits(x, set()), atol=1e-5)
    # and the copy is the checkpoint's int8-weight model: the same logits as the checkpoint's weights rounded
    np.testing.assert_allclose(sim_snapped.logits(x, set()), sim.logits(x, {"weights"}), atol=1e-5)
    with pytest.raises(ValueError, match="CNN student"):
        snap_weights(torch.nn.Linear(2, 2))


def test_16x8_export_of_the_snapped_student_tracks_it_closer_than_int8(converted):
    from eggemo.train.snap import snap_weights
    from eggemo.export.keras_cnn import build_keras_cnn, cnn_shape_from_state
    from eggemo.runtime import StudentRuntime
    from eggemo.export.tflite import convert_int8, convert_int16x8
    snapped = snap_weights(converted["model"])
    state = {k: v.detach().numpy() for k, v in snapped.state_dict().items()}
    keras = build_keras_cnn(state, cnn_shape_from_state(state, RECIPE, converted["calib"].shape[1]))
    x = converted["x"]
    with torch.no_grad():
        f = snapped(torch.from_numpy(x))[0].numpy()
    rt16 = StudentRuntime(convert_int16x8(keras, converted["calib"]))
    rt8 = StudentRuntime(convert_int8(keras, converted["calib"]))
    assert rt16.quantize_input(x[0]).dtype == np.int16 and rt16.input_zero_point == 0
    # on average (measured on this model: 4.5 times closer)
    e16, e8 = np.abs(rt16.logits_batch(x) - f).mean(), np.abs(rt8.logits_batch(x) - f).mean()
    assert e16 < e8 / 3, (e16, e8)


def test_the_study_measures_16x8_against_the_snapped_student(converted, capsys):
    r = _study(converted, "--activations", "int16", "--snap")
    (row,) = r["rows"]
    assert row["activations"] == "int16" and row["snap"] is True
    h = row["held_out"]
    assert 0 <= h["snap"]["labels_changed"] <= h["utterances"] and 0 <= h["snap"]["ua_checkpoint"] <= 1
    assert r["summary"]["held_out"]["snap"]["labels_changed"] == h["snap"]["labels_changed"]
    assert "snapping the weights to their int8 grid changed" in capsys.readouterr().out
