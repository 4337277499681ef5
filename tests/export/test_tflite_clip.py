"""The converter's LSTM cell clip (10) is removed from the float model: a student whose cell state
runs past 10 still matches torch."""
from __future__ import annotations

import numpy as np
import pytest

from eggemo.export.keras_student import build_keras_student, shape_from_state
from eggemo.export.onnx_export import torch_logits
from eggemo.runtime import StudentRuntime
from eggemo.export.tflite import convert_float, lstm_clips, with_lstm_clipping

torch = pytest.importorskip("torch")


def counting_student():
    """One BiLSTM layer whose first cells count: input and forget gates open, the cell input
    +-1 by the sign of channel 0. On a +1 then -1 input the forward cell climbs to about +150 and
    comes back to about 0, far outside a clip at 10."""
    from eggemo.train.models import build_model
    torch.manual_seed(0)
    m = build_model("bilstm_student", hidden=8, layers=1, n_classes=3, feature_dim=16).eval()
    H = 8
    with torch.no_grad():
        for lstm in (m.fwd[0], m.bwd[0]):
            lstm.bias_ih_l0[0:H] = 12.0          # input gate ~1
            lstm.bias_ih_l0[H:2 * H] = 12.0      # forget gate ~1
            lstm.weight_ih_l0[2 * H:3 * H, 0] = 8.0   # cell input = tanh(8 x0) = +-1
            lstm.weight_hh_l0.zero_()
    return m


def test_float_tflite_of_a_student_with_large_cells_matches_torch():
    m = counting_student()
    x = np.zeros((2, 300, 2), np.float32)
    x[:, :150, 0], x[:, 150:, 0] = 1.0, -1.0
    x[1, :, 0] *= -1
    x[:, :, 1] = 1.0
    state = {k: v.numpy() for k, v in m.state_dict().items()}
    buf = convert_float(build_keras_student(state, shape_from_state(state, 300), batch_size=1))
    assert lstm_clips(buf) == [(0.0, 0.0), (0.0, 0.0)]
    ref = torch_logits(m, x)
    assert np.abs(StudentRuntime(buf).logits_batch(x) - ref).max() <= 1e-4
    # The converter's own clip, put back, gives another model: the check above has teeth.
    clipped = with_lstm_clipping(buf, 10.0)
    assert lstm_clips(clipped) == [(10.0, 0.0), (10.0, 0.0)]
    assert np.abs(StudentRuntime(clipped).logits_batch(x) - ref).max() > 0.05
