"""The Keras rebuild of the student: weight copy and graph, for both student sizes (no conversion)."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.export.keras_student import (build_keras_student, keras_logits, reverse_indices,
                                         shape_from_state)
from eggemo.export.onnx_export import torch_logits

from .conftest import f0_contours

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("layers,hidden,stack", [(2, 64, 1), (4, 256, 1), (2, 48, 2), (1, 8, 3)],
                         ids=["2x64", "paper", "2x48-stack2", "1x8-stack3"])
def test_keras_rebuild_matches_torch(layers, hidden, stack):
    from eggemo.train.models import build_model
    torch.manual_seed(layers)
    model = build_model("bilstm_student", layers=layers, hidden=hidden, stack=stack).eval()
    # torch's init draws bias_ih and bias_hh independently, so a wrong bias copy shows up.
    assert not torch.equal(model.fwd[0].bias_ih_l0, model.fwd[0].bias_hh_l0)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    shape = shape_from_state(state, 300, stack)
    assert (shape.layers, shape.hidden, shape.in_channels, shape.n_classes) == (layers, hidden, 2, 7)
    assert (shape.stack, shape.steps) == (stack, 300 // stack)
    x, _ = f0_contours(3, seed=9)
    kmodel = build_keras_student(state, shape, batch_size=None)
    assert kmodel.input_shape == (None, 300, 2)         # stacking happens inside, as in torch
    got = keras_logits(kmodel, x)
    assert np.abs(got - torch_logits(model, x)).max() <= 1e-4


def test_stack_that_does_not_match_the_weights_is_refused():
    from eggemo.train.models import build_model
    state = {k: v.numpy() for k, v in build_model("bilstm_student", hidden=4, stack=3).state_dict().items()}
    with pytest.raises(ValueError, match="not a multiple of stack = 4"):
        shape_from_state(state, 300, 4)                   # 6 inputs per step: stack 3 (or 1, 2, 6), not 4
    with pytest.raises(ValueError, match="T = 301 frames is not a multiple of stack = 3"):
        shape_from_state(state, 301, 3)


def test_reverse_indices_reverse_time():
    x = np.arange(10)
    assert np.array_equal(x[reverse_indices(10)], x[::-1])


def test_state_dict_that_is_not_a_student_is_refused():
    with pytest.raises(ValueError, match="not a BiLSTMStudent"):
        shape_from_state({"stem.0.weight": np.zeros((4, 1, 7, 7))}, 300)
