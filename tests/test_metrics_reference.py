"""A literal per-query re-statement of the reference VI-ReID evaluation (``eval_sysu`` / ``eval_regdb`` of
the AGW/CAJ code), kept deliberately slow and plain so it can serve as independent truth for the vectorised
``rank_metrics``; also timed against it by ``benchmarks/bench_eval.py``.

Two documented differences from the reference: the sort is stable (ties broken by gallery index), and a
CMC shorter than ``max_rank`` is extended with its last value instead of being truncated.
"""

from __future__ import annotations

import numpy as np
import pytest


def _pad(curve: np.ndarray, max_rank: int) -> np.ndarray:
    curve = np.asarray(curve, dtype=np.float64)[:max_rank]
    if len(curve) < max_rank:
        curve = np.concatenate([curve, np.full(max_rank - len(curve), curve[-1] if len(curve) else 0.0)])
    return curve


def literal_eval(distmat, q_pids, g_pids, q_camids=None, g_camids=None, protocol="sysu", max_rank=20):
    """One Python iteration per query, exactly the steps of the reference; returns (cmc, mAP, mINP)."""
    distmat = np.asarray(distmat, dtype=np.float64)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    num_q, num_g = distmat.shape
    indices = np.argsort(distmat, axis=1, kind="stable")
    pred_label = g_pids[indices]
    matches = (pred_label == q_pids[:, None]).astype(np.int32)
    cmc_sum = np.zeros(max_rank)
    aps, inps = [], []
    for q in range(num_q):
        if protocol == "sysu":
            keep = ~((q_camids[q] == 3) & (np.asarray(g_camids)[indices[q]] == 2))
        else:
            keep = np.ones(num_g, dtype=bool)
        raw = matches[q][keep]
        if protocol == "sysu":
            ranked = pred_label[q][keep]
            first_idx = np.unique(ranked, return_index=True)[1]
            dedup = np.array([ranked[i] for i in sorted(first_idx)])
            curve = (dedup == q_pids[q]).astype(np.int32).cumsum()
        else:
            curve = raw.cumsum()
        if not np.any(raw):
            continue
        cum = raw.cumsum()
        last = np.max(np.where(raw == 1))
        inps.append(cum[last] / (last + 1.0))
        curve = curve.copy()
        curve[curve > 1] = 1
        cmc_sum += _pad(curve, max_rank)
        precision = np.asarray([x / (i + 1.0) for i, x in enumerate(cum)]) * raw
        aps.append(precision.sum() / raw.sum())
    if not aps:
        raise ValueError("no valid query")
    return cmc_sum / len(aps), float(np.mean(aps)), float(np.mean(inps))


def test_literal_reference_on_a_hand_case():
    # One query of pid 1, gallery ranked by distance: [pid1, pid2, pid1, pid3].
    # AP = (1/1 + 2/3) / 2 = 5/6; INP = 2 / 3; CMC: hit at rank 1.
    dist = np.array([[0.1, 0.2, 0.3, 0.4]])
    cmc, m_ap, m_inp = literal_eval(dist, [1], [1, 2, 1, 3], protocol="regdb", max_rank=4)
    assert cmc.tolist() == [1, 1, 1, 1]
    assert m_ap == pytest.approx(5 / 6)
    assert m_inp == pytest.approx(2 / 3)
