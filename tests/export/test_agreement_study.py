"""The int8/float agreement study over checkpoints (docs/export.md) on one random-weight student."""
import json

import numpy as np
import pytest

from studies.agreement_study import main

from .conftest import featureset, f0_contours


def test_study_quantises_each_checkpoint_and_pools_the_numbers(export_data, tmp_path, capsys):
    x, y = f0_contours(126, seed=5)
    featureset(x, y, "u").save(tmp_path / "fs.npz")
    out = tmp_path / "study.json"
    assert main([str(export_data["ckpt"]), "--features", str(tmp_path / "fs.npz"), "--out", str(out),
                 "--calib-max", "32"]) == 0
    r = json.loads(out.read_text())
    (row,) = r["rows"]
    v, h = row["validation"], row["held_out"]
    assert v["utterances"] < h["utterances"] < 126 and v["output_step"] > 0
    for part, a in (("validation", v), ("held_out", h)):
        s = r["summary"][part]
        assert s["pooled_agreement"] == pytest.approx(a["argmax_agreement"])
        assert s["disagreements"] == a["disagreements"] == len(a["disagreement_margins_steps"])
        assert s["disagreements_below_one_step"] == sum(m < 1 for m in a["disagreement_margins_steps"])
    assert "pooled agreement" in capsys.readouterr().out
    # int8 tracks float on these contours (random weights: a smoke check, not an accuracy claim)
    assert h["argmax_agreement"] >= 0.8 and np.isfinite(h["max_abs_logit_diff"])


def test_study_refuses_a_missing_checkpoint_or_feature_set(export_data, tmp_path, capsys):
    assert main([str(tmp_path / "nope.pt"), "--features", str(tmp_path / "fs.npz"), "--out", str(tmp_path / "o.json")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    assert main([str(export_data["ckpt"]), "--features", str(tmp_path / "missing.npz"),
                 "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agreement_study: ") and "missing.npz" in err and not (tmp_path / "o.json").exists()
