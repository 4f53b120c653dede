"""The literal reference evaluation (:mod:`vireid_lib.evaluation.reference`) on a hand-worked case."""

import numpy as np
import pytest

from vireid_lib.evaluation.reference import literal_eval


def test_literal_reference_on_a_hand_case():
    # One query of pid 1, gallery ranked by distance: [pid1, pid2, pid1, pid3].
    # AP = (1/1 + 2/3) / 2 = 5/6; INP = 2 / 3; CMC: hit at rank 1.
    dist = np.array([[0.1, 0.2, 0.3, 0.4]])
    cmc, m_ap, m_inp = literal_eval(dist, [1], [1, 2, 1, 3], protocol="regdb", max_rank=4)
    assert cmc.tolist() == [1, 1, 1, 1]
    assert m_ap == pytest.approx(5 / 6)
    assert m_inp == pytest.approx(2 / 3)
