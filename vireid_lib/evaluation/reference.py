"""A literal per-query re-statement of the reference VI-ReID evaluation (``eval_sysu`` / ``eval_regdb`` of
the AGW/CAJ code), kept deliberately slow and plain so it serves as independent truth for the vectorised
:func:`~vireid_lib.evaluation.metrics.rank_metrics` (``tests/test_metrics*.py``) and as the baseline that
``benchmarks/bench_eval.py`` times it against. Nothing in the library's own paths calls it.

Two documented differences from the reference: the sort is stable (ties broken by gallery index), and a
CMC shorter than ``max_rank`` is extended with its last value instead of being truncated.
"""

from __future__ import annotations

import numpy as np


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
