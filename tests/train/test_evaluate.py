"""UA / WA / confusion matrix on hand-made cases, and the report files."""
import json

import numpy as np
import pytest

from eggemo.train.evaluate import (EvalResult, confusion_matrix, unweighted_accuracy, weighted_accuracy,
                                   write_report)


def test_ua_is_mean_per_class_recall_and_wa_the_share_correct():
    # class 0: 8 of 8 right; class 1: 1 of 2 right -> UA = (1 + 0.5) / 2, WA = 9 / 10
    y = np.array([0] * 8 + [1] * 2)
    p = np.array([0] * 8 + [1, 0])
    assert unweighted_accuracy(y, p, 2) == pytest.approx(0.75)
    assert weighted_accuracy(y, p) == pytest.approx(0.9)
    assert confusion_matrix(y, p, 2).tolist() == [[8, 0], [1, 1]]


def test_classes_without_test_utterances_are_left_out_of_ua():
    y = np.array([0, 0, 2, 2])
    p = np.array([0, 1, 2, 2])
    assert unweighted_accuracy(y, p, 3) == pytest.approx((0.5 + 1.0) / 2)
    with pytest.raises(ValueError):
        unweighted_accuracy(np.array([], int), np.array([], int), 3)


def test_report_files(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(30) % 3
    p = y.copy(); p[:4] = (p[:4] + 1) % 3
    cm = confusion_matrix(y, p, 3)
    r = EvalResult(ua=unweighted_accuracy(y, p, 3), wa=weighted_accuracy(y, p), confusion=cm, y_true=y,
                   y_pred=p, features=rng.normal(size=(30, 8)) + y[:, None], label_names=("a", "b", "c"))
    s = write_report(r, tmp_path, "test", extra={"run": "x"})
    saved = json.loads((tmp_path / "test_results.json").read_text())
    assert saved["ua"] == r.ua and saved["confusion"] == cm.tolist() and saved["run"] == "x"
    assert len(saved["per_class_recall"]) == 3
    assert (tmp_path / "test_confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "test_tsne.png").read_bytes()[:4] == b"\x89PNG"
    assert s["tsne_png"].endswith("test_tsne.png")
