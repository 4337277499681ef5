"""int8/float agreement: how the disagreements are located against the float model's margins."""
import numpy as np
import pytest

from eggemo.export.verify import agreement


def test_agreement_locates_disagreements_by_float_margin():
    ref = np.array([[2.0, 1.0, 0.0],      # margin 1.0 = 10 steps
                    [0.50, 0.48, 0.0],    # margin 0.02 = 0.2 steps: a tie at int8 resolution
                    [0.0, 0.3, 0.0],      # margin 0.3 = 3 steps
                    [0.0, 0.0, 0.9]])     # margin 0.9 = 9 steps
    q = np.array([[1.9, 1.1, 0.0],        # same class
                  [0.4, 0.5, 0.0],        # flipped inside the tie
                  [0.3, 0.2, 0.0],        # flipped although float was clear
                  [0.0, 0.0, 0.9]])
    a = agreement(q, ref, step=0.1)
    assert a["argmax_agreement"] == 0.5 and a["disagreements"] == 2 and a["utterances"] == 4
    assert a["disagreement_margins_steps"] == [pytest.approx(0.2), pytest.approx(3.0)]
    assert a["below_one_step"] == 1 and a["disagreements_below_one_step"] == 1
    assert a["argmax_agreement_beyond_one_step"] == pytest.approx(2 / 3)
    assert a["max_abs_logit_diff"] == pytest.approx(0.3)
    # without a step only the plain numbers
    assert "output_step" not in agreement(q, ref)
