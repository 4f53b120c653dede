"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
Encoding", CVPR 2017), vectorised, with the steps and constants of the authors' released code.

A gallery image moves up when the neighbourhoods agree: the final distance mixes the original one with the
Jaccard distance between the k-reciprocal neighbour sets of query and gallery image (Zhong et al. 2017,
their eqs. (7)–(12)). Every equation number in this module is theirs, not the VI-ReID paper's. The sets
are boolean matrices instead of per-image Python loops; only the sparse Jaccard step is done in query
blocks to bound memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Elements of the largest (gallery x query block x non-zeros) temporary of the Jaccard step.
_BLOCK_ELEMENTS = 1 << 23


def k_reciprocal_rerank(
    q_g_dist: Any,
    q_q_dist: Any,
    g_g_dist: Any,
    *,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """Re-ranked query x gallery distances.

    Follows the released code step by step: distances are squared and each row of the joint (query +
    gallery) matrix is divided by its maximum; k-reciprocal sets use ``k1`` and are expanded with the
    ``round(k1 / 2)``-reciprocal sets of their members that overlap them by more than 2/3; neighbour
    weights are ``exp(-d)`` normalised per row; local query expansion averages the ``k2`` nearest rows;
    the result is ``(1 - lambda) * Jaccard + lambda * d``. Neighbour order breaks ties by index.

    Args:
        q_g_dist: ``(Q, G)`` query-gallery distances.
        q_q_dist: ``(Q, Q)`` query-query distances.
        g_g_dist: ``(G, G)`` gallery-gallery distances.
        k1: size of the k-reciprocal neighbourhood (paper: 20).
        k2: size of the local query expansion (paper: 6; 1 disables it).
        lambda_value: weight of the original distance (paper: 0.3).

    Returns:
        ``(Q, G)`` float32 distances, to be ranked like the original ones.

    Raises:
        ValueError: for inconsistent shapes, non-finite distances, or ``k1``/``k2`` below 1.

    Neighbourhoods larger than the Q + G images are capped at all images, as the released code's
    slicing does.
    """
    qg, qq, gg = (np.asarray(x, dtype=np.float32) for x in (q_g_dist, q_q_dist, g_g_dist))
    num_q, num_g = _check(qg, qq, gg, k1, k2, lambda_value)
    dist = np.block([[qq, qg], [qg.T, gg]]) ** 2  # (N, N), N = Q + G
    # The released code normalises columns, then transposes (rows of a symmetric matrix); the floor only
    # guards an all-zero column (identical images everywhere), where the released code divides by zero.
    dist = (dist / np.maximum(dist.max(axis=0), np.finfo(np.float32).tiny)).T
    rank = np.argsort(dist, axis=1, kind="stable")

    k_half = int(np.around(k1 / 2.0))
    recip = _reciprocal(rank, k1)
    recip_half = _reciprocal(rank, k_half)
    expanded = _expand(recip, recip_half, rank[:, : k_half + 1])
    weights = np.where(expanded, np.exp(-dist), 0.0).astype(np.float32)
    # Zhong et al. 2017, their eq. (7): a Gaussian kernel on the k-reciprocal set.
    v = weights / weights.sum(axis=1, keepdims=True)
    if k2 != 1:
        v = _query_expansion(v, rank[:, :k2])
    jaccard = _jaccard(v[:num_q], v[num_q:])
    return (jaccard * (1 - lambda_value) + dist[:num_q, num_q:] * lambda_value).astype(np.float32)


def _reciprocal(rank: np.ndarray, k: int) -> np.ndarray:
    """``R[i, j]``: j is among the k+1 nearest of i and i among the k+1 nearest of j (Zhong et al. 2017,
    their eq. (3))."""
    n = len(rank)
    near = np.zeros((n, n), dtype=bool)
    np.put_along_axis(near, rank[:, : k + 1], True, axis=1)
    return near & near.T


def _expand(recip: np.ndarray, recip_half: np.ndarray, half_rank: np.ndarray) -> np.ndarray:
    """Eq. (6): add the half-size reciprocal set of each member whose set overlaps the original by > 2/3."""
    i, j = np.nonzero(recip)  # (i, candidate j) pairs
    cols = half_rank[j]  # (P, k_half + 1): the only columns where recip_half[j] can be True
    in_candidate = recip_half[j[:, None], cols]  # (P, k_half + 1)
    overlap = np.count_nonzero(in_candidate & recip[i[:, None], cols], axis=1)
    accept = overlap > 2.0 / 3.0 * recip_half.sum(axis=1)[j]
    expanded = recip.copy()
    rows = np.broadcast_to(i[:, None], cols.shape)
    take = accept[:, None] & in_candidate
    expanded[rows[take], cols[take]] = True
    return expanded


def _query_expansion(v: np.ndarray, nearest: np.ndarray) -> np.ndarray:
    """Local query expansion: each row becomes the mean of its k2 nearest rows (itself included)."""
    out = np.empty_like(v)
    block = max(1, _BLOCK_ELEMENTS // (nearest.shape[1] * v.shape[1]))
    for start in range(0, len(v), block):  # blocks bound the (B, k2, N) gather
        rows = slice(start, start + block)
        out[rows] = v[nearest[rows]].mean(axis=1)
    return out


def _jaccard(vq: np.ndarray, vg: np.ndarray) -> np.ndarray:
    """Eq. (11) on the sparse weight vectors: 1 - sum(min) / sum(max), with sum(max) = 2 - sum(min)."""
    nonzero = vq != 0
    width = max(int(nonzero.sum(axis=1).max()), 1)
    order = np.argsort(~nonzero, axis=1, kind="stable")[:, :width]  # (Q, K) non-zero columns first
    values = np.take_along_axis(vq, order, axis=1)  # (Q, K), zero-padded
    shared = np.empty((len(vq), len(vg)), dtype=np.float32)
    block = max(1, _BLOCK_ELEMENTS // (width * len(vg)))
    for start in range(0, len(vq), block):  # blocks bound the (G, B, K) gather
        rows = slice(start, start + block)
        gathered = vg[:, order[rows]]  # (G, B, K)
        shared[rows] = np.minimum(gathered, values[rows]).sum(axis=2).T
    return 1 - shared / (2 - shared)


def _check(qg: np.ndarray, qq: np.ndarray, gg: np.ndarray, k1: int, k2: int, lambda_value: float) -> tuple[int, int]:
    if qg.ndim != 2:
        raise ValueError(f"q_g_dist must be a 2-D (queries x gallery) matrix, got shape {qg.shape}")
    num_q, num_g = qg.shape
    if qq.shape != (num_q, num_q) or gg.shape != (num_g, num_g):
        raise ValueError(f"expected q_q_dist {(num_q, num_q)} and g_g_dist {(num_g, num_g)} for q_g_dist "
                         f"{qg.shape}, got {qq.shape} and {gg.shape}")
    for name, m in (("q_g_dist", qg), ("q_q_dist", qq), ("g_g_dist", gg)):
        if not np.isfinite(m).all():
            raise ValueError(f"{name} holds NaN or infinite distances")
    if k1 < 1 or k2 < 1:
        raise ValueError(f"k1 and k2 must be >= 1, got k1={k1}, k2={k2}")
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value must lie in [0, 1], got {lambda_value}")
    return num_q, num_g
