"""Ranking metrics of the cross-modality protocols: CMC, mAP and mINP, vectorised.

The numbers equal those of the evaluation code every VI-ReID paper since AGW and CAJ reports
(``eval_sysu`` and ``eval_regdb`` of their ``eval_metrics.py``), quirks included:

* SYSU-MM01: for a query from cam3 (indoor infrared) every gallery image from cam2 (the visible camera in
  the same room) is dropped from its ranking. The CMC counts identities, not images: the ranking is
  reduced to the first occurrence of each gallery identity before the match position is read. AP and INP
  use the full (cam-filtered) image ranking.
* RegDB: one visible and one thermal camera, so nothing is filtered; the CMC is the ordinary image CMC
  (the position of the first true match).
* mINP of a query = (number of true matches) / (rank of its hardest true match) (Ye et al., "Deep Learning
  for Person Re-identification: A Survey and Outlook", 2021).

Instead of sorting every gallery row (what the per-query loop of the reference does) the ranks of the few
true matches are counted directly: the rank of a match is the number of gallery images ranked before it.
That is ``O(Q x G x M)`` work in a handful of array passes, M being the largest number of gallery images
of one query identity (4 for single-shot SYSU-MM01, 10 for RegDB), with no Python loop over queries.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

PROTOCOLS = ("sysu", "regdb")

# Elements of the largest (query block x matches x gallery) temporary; bounds the memory of one pass.
_BLOCK_ELEMENTS = 1 << 21


def rank_metrics(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any = None,
    g_camids: Any = None,
    *,
    protocol: Literal["sysu", "regdb"] = "sysu",
    max_rank: int = 20,
) -> dict[str, Any]:
    """CMC, mAP and mINP of a query x gallery distance matrix under a VI-ReID protocol.

    Ranking: gallery images are ordered by increasing distance; equal distances are ordered by gallery
    index (the order of ``np.argsort(..., kind="stable")``), so results never depend on the sort
    algorithm. (The reference code uses numpy's default unstable sort, whose order among exact ties is
    unspecified; on tie-free input the two agree exactly.)

    Queries without a true match (after the SYSU cam3/cam2 removal) are left out of every average, as in
    the reference: they add nothing to its CMC numerator and are not counted in its denominator, and have
    no AP or INP. Their per-query ``ap`` and ``inp`` are NaN and ``match_rank`` is -1. Note that a cam3
    query whose only gallery images of its identity are from cam2 becomes such a query.

    The CMC always has ``max_rank`` entries. When a ranking holds fewer than ``max_rank`` entries (few
    gallery images, or for SYSU's identity-level CMC few gallery identities) the curve stays at its last
    value; the reference instead truncates the curve or fails on the ragged lengths.

    Args:
        distmat: ``(Q, G)`` finite distances (numpy array, torch tensor or nested lists).
        q_pids: ``(Q,)`` query identities.
        g_pids: ``(G,)`` gallery identities.
        q_camids: ``(Q,)`` query cameras; required by ``protocol="sysu"`` (SYSU-MM01 numbering 1..6),
            ignored by ``"regdb"`` (its reference fixes one camera per modality).
        g_camids: ``(G,)`` gallery cameras; as ``q_camids``.
        protocol: ``"sysu"`` or ``"regdb"``.
        max_rank: length of the CMC curve.

    Returns:
        A dict with ``cmc`` (``(max_rank,)`` float64, fraction of queries matched within the top k),
        ``mAP`` and ``mINP`` (fractions), ``num_valid_queries`` (queries with a match), and per query
        ``ap``, ``inp`` (NaN without a match) and ``match_rank`` (0-based position read by the CMC:
        identity-level for SYSU, image-level for RegDB; -1 without a match).

    Raises:
        ValueError: for a non-2D or empty matrix, NaN or infinite distances, id arrays whose lengths do
            not match the matrix, ``protocol="sysu"`` without camera ids, an unknown protocol, ``max_rank
            < 1``, or when no query has any true match in the gallery.
    """
    dist, qp, gp, qc, gc = _validate(distmat, q_pids, g_pids, q_camids, g_camids, protocol, max_rank)
    num_q, num_g = dist.shape
    # Comparisons are exact in the input's own float type; integers are compared as float64.
    dist_dtype = dist.dtype if np.issubdtype(dist.dtype, np.floating) else np.float64
    codes = np.unique(np.concatenate([qp, gp]), return_inverse=True)[1].ravel()
    q_code, g_code = codes[:num_q], codes[num_q:]

    g_order = np.argsort(g_code, kind="stable")  # gallery indices grouped by identity
    g_code_sorted = g_code[g_order]
    group_starts = np.flatnonzero(np.r_[True, g_code_sorted[1:] != g_code_sorted[:-1]])
    positives = _positive_table(q_code, g_code, g_order)  # (Q, M) gallery indices, -1 padded
    if positives.shape[1] == 0:
        raise ValueError(_no_match_message(num_q, num_g, protocol))

    removed_cols = (gc == 2) if protocol == "sysu" else None
    removed_rows = (qc == 3) if protocol == "sysu" else np.zeros(num_q, dtype=bool)
    m = max(positives.shape[1], 1)
    block = max(1, _BLOCK_ELEMENTS // (m * num_g))

    ap = np.full(num_q, np.nan)
    inp = np.full(num_q, np.nan)
    match_rank = np.full(num_q, -1, dtype=np.int64)
    for start in range(0, num_q, block):  # blocks bound memory; each block is fully vectorised
        rows = slice(start, min(start + block, num_q))
        d = np.array(dist[rows], dtype=dist_dtype)  # (B, G) copy: removed images become +inf below
        pos = positives[rows]
        valid = pos >= 0
        if removed_cols is not None:
            d[np.ix_(removed_rows[rows], removed_cols)] = np.inf
            valid &= ~(removed_rows[rows, None] & removed_cols[np.where(valid, pos, 0)])
        ranks = _ranks_of(d, pos, valid)  # (B, M) 0-based positions in the filtered ranking
        ap[rows], inp[rows], first = _ap_inp(ranks, valid, num_g)
        if protocol == "sysu":
            first = _identity_rank(d, pos, valid, ranks, g_order, group_starts)
        match_rank[rows] = first

    has_match = match_rank >= 0
    num_valid = int(has_match.sum())
    if num_valid == 0:
        raise ValueError(_no_match_message(num_q, num_g, protocol))
    hits = np.bincount(match_rank[has_match], minlength=max_rank)[:max_rank]
    cmc = np.cumsum(hits) / num_valid
    return {
        "cmc": cmc,
        "mAP": float(np.mean(ap[has_match])),
        "mINP": float(np.mean(inp[has_match])),
        "num_valid_queries": num_valid,
        "ap": ap,
        "inp": inp,
        "match_rank": match_rank,
    }


def kept_gallery(q_camid: int | None, g_camids: Any, protocol: Literal["sysu", "regdb"]) -> np.ndarray:
    """Which gallery images one query is ranked against: SYSU-MM01 drops cam2 for a cam3 query; RegDB
    keeps everything. The same rule :func:`rank_metrics` applies, for figures and browsers."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    g_camids = _to_numpy(g_camids)
    if protocol == "sysu" and q_camid == 3:
        return g_camids != 2
    return np.ones(len(g_camids), dtype=bool)


def top_k(distmat: Any, q_camids: Any, g_camids: Any, protocol: Literal["sysu", "regdb"],
          k: int | None = None) -> np.ndarray:
    """Each query's ranking as :func:`rank_metrics` scores it, best first: the gallery images
    :func:`kept_gallery` keeps (SYSU-MM01: no cam2 image for a cam3 query), by increasing distance, equal
    distances by gallery index (the order of ``np.argsort(..., kind="stable")``).

    Figures, browsers and the choice of examples read their rankings here, so they show the ranking the
    protocol's numbers come from; a plain argsort would let a cam3 query see its cam2 gallery images.

    Args:
        distmat: ``(Q, G)`` distances, or ``(G,)`` for one query.
        q_camids: ``(Q,)`` query cameras (one camera for a ``(G,)`` row); ignored by ``"regdb"``, where
            ``None`` is accepted.
        g_camids: ``(G,)`` gallery cameras; as ``q_camids``.
        protocol: ``"sysu"`` or ``"regdb"``.
        k: how many ranks to keep (``None``: all ``G``).

    Returns:
        ``(Q, k)`` int64 gallery indices. A query ranked against fewer than ``k`` images (a SYSU-MM01 cam3
        query) has its row padded with -1 after its last kept image. For a ``(G,)`` row: its kept images
        only, at most ``k``, without padding.

    Raises:
        ValueError: for mismatched lengths, ``k < 1``, ``"sysu"`` without cameras, or an unknown protocol.
    """
    d = _to_numpy(distmat)
    one = d.ndim == 1
    d = np.atleast_2d(d)
    if q_camids is None or g_camids is None:
        if protocol == "sysu":
            raise ValueError("protocol='sysu' needs q_camids and g_camids (cam3 queries ignore cam2 gallery images)")
        q_camids, g_camids = np.zeros(d.shape[0]), np.zeros(d.shape[-1])  # RegDB filters nothing
    g_camids = _to_numpy(g_camids).ravel()
    q_camids = np.atleast_1d(_to_numpy(q_camids)).ravel()
    if d.ndim != 2 or d.shape[1] != len(g_camids):
        raise ValueError(f"got distances of shape {_to_numpy(distmat).shape} for {len(g_camids)} gallery cameras")
    if len(q_camids) != d.shape[0]:
        raise ValueError(f"got {len(q_camids)} query cameras for {d.shape[0]} rows of distances")
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = d.shape[1] if k is None else min(k, d.shape[1])
    keep = np.stack([kept_gallery(c, g_camids, protocol) for c in q_camids])  # (Q, G)
    # Removed images sort after every kept one: first by "removed", then by distance, then by index.
    order = np.lexsort((d, ~keep), axis=1)[:, :k]  # (Q, k); lexsort is stable, so ties go by index
    order[np.arange(k)[None, :] >= keep.sum(axis=1, keepdims=True)] = -1
    return order[0][order[0] >= 0] if one else order


def _no_match_message(num_q: int, num_g: int, protocol: str) -> str:
    filtered = ", after removing cam2 images for cam3 queries" if protocol == "sysu" else ""
    return (f"no query has a true match in the gallery ({num_q} queries, {num_g} gallery images{filtered}); "
            "check that query and gallery use the same identity labels")


def _positive_table(q_code: np.ndarray, g_code: np.ndarray, g_order: np.ndarray) -> np.ndarray:
    """For each query, the gallery indices of its identity in increasing index order, padded with -1."""
    counts = np.bincount(g_code, minlength=int(max(q_code.max(), g_code.max())) + 1)
    m = int(counts[q_code].max())
    starts = np.cumsum(counts) - counts
    g_code_sorted = g_code[g_order]
    slot = np.arange(len(g_order)) - starts[g_code_sorted]  # position of each image within its identity
    table = np.full((len(counts), m), -1, dtype=np.int64)
    fits = slot < m
    table[g_code_sorted[fits], slot[fits]] = g_order[fits]
    return table[q_code]


def _ranks_of(d: np.ndarray, pos: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Stable-sort position of each true match: the images strictly closer, plus the equally close ones
    with a smaller gallery index. Removed images carry +inf and never count."""
    safe = np.where(valid, pos, 0)
    dp = np.take_along_axis(d, safe, axis=1)[:, :, None]  # (B, M, 1)
    rows = d[:, None, :]  # (B, 1, G)
    closer = _count_true(rows < dp)
    # Exact ties are rare: count them with a full pass, then resolve by index only where they occur.
    tied = _count_true(rows <= dp) - closer > 1
    b, k = np.nonzero(tied & valid)
    if len(b):
        same = d[b] == dp[b, k]  # (T, G)
        closer[b, k] += np.count_nonzero(same & (np.arange(d.shape[1]) < safe[b, k, None]), axis=1)
    return np.where(valid, closer, -1)


def _count_true(mask: np.ndarray) -> np.ndarray:
    """Number of True along the last axis; summing the bytes is several times faster than count_nonzero."""
    acc = np.uint16 if mask.shape[-1] < np.iinfo(np.uint16).max else np.int64
    return mask.view(np.uint8).sum(axis=-1, dtype=acc).astype(np.int64)


def _ap_inp(ranks: np.ndarray, valid: np.ndarray, num_g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-query AP, INP and first-match rank from the ranks of the true matches."""
    n = valid.sum(axis=1)
    r = np.sort(np.where(valid, ranks, num_g), axis=1)  # matches in ranking order, padding last
    k = np.arange(1, r.shape[1] + 1)
    has = n > 0
    precision = np.where(k <= n[:, None], k / (r + 1.0), 0.0)  # precision at each true match
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(has, precision.sum(axis=1) / n, np.nan)
        hardest = np.take_along_axis(r, np.maximum(n - 1, 0)[:, None], axis=1)[:, 0]
        inp = np.where(has, n / (hardest + 1.0), np.nan)
    first = np.where(has, r[:, 0], -1)
    return ap, inp, first


def _identity_rank(
    d: np.ndarray,
    pos: np.ndarray,
    valid: np.ndarray,
    ranks: np.ndarray,
    g_order: np.ndarray,
    group_starts: np.ndarray,
) -> np.ndarray:
    """SYSU's identity-level match position: the number of distinct identities with an image ranked
    before the first true match (the first-occurrence de-duplication of the reference)."""
    has = valid.any(axis=1)
    best = np.argmin(np.where(valid, ranks, np.iinfo(np.int64).max), axis=1)
    p1 = np.take_along_axis(np.where(valid, pos, 0), best[:, None], axis=1)  # (B, 1) first true match
    d1 = np.take_along_axis(d, p1, axis=1)  # (B, 1)
    before = (d < d1) | ((d == d1) & (np.arange(d.shape[1]) < p1))  # (B, G)
    per_identity = np.logical_or.reduceat(before[:, g_order], group_starts, axis=1)  # (B, identities)
    return np.where(has, np.count_nonzero(per_identity, axis=1), -1)


def _as_ids(x: Any, n: int, name: str, axis_name: str) -> np.ndarray:
    a = _to_numpy(x)
    if a.ndim != 1 or len(a) != n:
        raise ValueError(f"{name} must be a 1-D array with one entry per {axis_name} ({n}), got shape {a.shape}")
    return a


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensors, possibly on an accelerator
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _validate(distmat, q_pids, g_pids, q_camids, g_camids, protocol, max_rank):
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    if not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise ValueError(f"max_rank must be a positive integer, got {max_rank!r}")
    dist = _to_numpy(distmat)
    if dist.ndim != 2 or dist.size == 0:
        raise ValueError(f"distmat must be a non-empty 2-D (queries x gallery) matrix, got shape {dist.shape}")
    if not np.issubdtype(dist.dtype, np.number) or np.iscomplexobj(dist):
        raise ValueError(f"distmat must hold real numbers, got dtype {dist.dtype}")
    finite = np.isfinite(dist)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(
            f"distmat holds {int((~finite).sum())} NaN or infinite entries (first at query {bad[0]}, gallery "
            f"{bad[1]}: {dist[tuple(bad)]}); check the features for NaN before computing distances"
        )
    num_q, num_g = dist.shape
    qp = _as_ids(q_pids, num_q, "q_pids", "distmat row")
    gp = _as_ids(g_pids, num_g, "g_pids", "distmat column")
    qc = gc = None
    if protocol == "sysu":
        if q_camids is None or g_camids is None:
            raise ValueError(
                "protocol='sysu' needs q_camids and g_camids (cam3 queries ignore cam2 gallery images); "
                "pass the camera ids, or use protocol='regdb' for a protocol without camera filtering"
            )
    if q_camids is not None:
        qc = _as_ids(q_camids, num_q, "q_camids", "distmat row")
    if g_camids is not None:
        gc = _as_ids(g_camids, num_g, "g_camids", "distmat column")
    return dist, qp, gp, qc, gc
