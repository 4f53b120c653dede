"""Which queries to explain, and what a map weights, in numbers for interpretation sentences: the first
correct match and the first failure under the protocol's ranking, and the share of a map's weight by
stripe and in the central columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from vireid_lib.evaluation.metrics import rank_metrics, top_k


class MatchCases(NamedTuple):
    """A correct match and a failure among the queries of one split, for explaining both.

    Attributes:
        correct: the first query (in query order) whose top-ranked gallery image shows its own identity, or
            ``None`` when no query has one.
        failure: the first query with a true match in the gallery whose top-ranked image shows another
            person, or ``None`` when every such query is matched at rank 1.
        match_rank: ``(Q,)`` :func:`~vireid_lib.evaluation.rank_metrics`'s match rank of every query (0: a
            correct first match; -1: no true match in the gallery).
    """

    correct: int | None
    failure: int | None
    match_rank: np.ndarray


def pick_cases(distmat: np.ndarray, query: Sequence, gallery: Sequence, protocol: str) -> MatchCases:
    """The first correct match and the first failure under the protocol's ranking (for SYSU-MM01, cam3
    queries do not see cam2 images): each query's top-ranked image is read from
    :func:`~vireid_lib.evaluation.metrics.top_k`, which of them have a true match at all from
    :func:`~vireid_lib.evaluation.rank_metrics`; the first of each kind in query order, so the examples are
    not hand-picked.

    Args:
        distmat: ``(Q, G)`` distances.
        query: the query records (``pid``, ``camid``).
        gallery: the gallery records.
        protocol: ``"sysu"`` or ``"regdb"``.

    Raises:
        ValueError: as :func:`~vireid_lib.evaluation.rank_metrics` (for example when no query has a true
            match in the gallery).
    """
    q_pids, g_pids = np.array([r.pid for r in query]), np.array([r.pid for r in gallery])
    q_cams, g_cams = [r.camid for r in query], [r.camid for r in gallery]
    rank = rank_metrics(distmat, q_pids, g_pids, q_cams, g_cams, protocol=protocol)["match_rank"]
    first = top_k(distmat, q_cams, g_cams, protocol, k=1)[:, 0]  # (Q,) -1 where nothing is kept
    has_match = rank >= 0
    right = has_match & (first >= 0) & (g_pids[first] == q_pids)
    correct, failure = np.flatnonzero(right), np.flatnonzero(has_match & ~right)
    return MatchCases(int(correct[0]) if len(correct) else None, int(failure[0]) if len(failure) else None, rank)


def _as_maps(cams: np.ndarray | torch.Tensor) -> np.ndarray:
    cams = np.asarray(cams, dtype=np.float64)
    if cams.ndim == 2:
        cams = cams[None]
    if cams.ndim != 3:
        raise ValueError(f"expected (H, W) or (B, H, W) maps, got shape {cams.shape}")
    return np.clip(cams, 0.0, None)


def stripe_mass(cams: np.ndarray | torch.Tensor, parts: int = 3) -> np.ndarray:
    """Share of each map's total weight in each of ``parts`` horizontal stripes, top to bottom, ``(B, parts)``
    (rows split as :func:`numpy.array_split` does); a map without weight gets zeros."""
    maps = _as_maps(cams)
    if not 1 <= parts <= maps.shape[1]:
        raise ValueError(f"parts must lie between 1 and the map height {maps.shape[1]}, got {parts}")
    rows = np.stack([s.sum(axis=(1, 2)) for s in np.array_split(maps, parts, axis=1)], axis=1)  # (B, parts)
    total = rows.sum(axis=1, keepdims=True)
    return np.divide(rows, total, out=np.zeros_like(rows), where=total > 0)


def central_columns(width: int, fraction: float = 0.5) -> slice:
    """The central ``fraction`` of ``width`` columns (at least one), where a cropped person stands."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    n = max(1, round(width * fraction))
    start = (width - n) // 2
    return slice(start, start + n)


def central_mass(cams: np.ndarray | torch.Tensor, fraction: float = 0.5) -> np.ndarray:
    """Share of each map's total weight in the central ``fraction`` of its columns, ``(B,)``; 0 for a map
    without weight. A uniform map gives the share of columns, ``len(central_columns(W)) / W``."""
    maps = _as_maps(cams)
    total = maps.sum(axis=(1, 2))
    inside = maps[:, :, central_columns(maps.shape[2], fraction)].sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(inside), where=total > 0)


STRIPE_NAMES = {1: ("whole",), 2: ("top", "bottom"), 3: ("top", "middle", "bottom")}


def describe_map(cam: np.ndarray | torch.Tensor, parts: int = 3) -> str:
    """What one map weights, in words computed from it: its share in the central half of the width (beside
    the uniform share) and its heaviest horizontal stripe, for interpretation sentences."""
    maps = _as_maps(cam)
    if maps.shape[0] != 1:
        raise ValueError(f"describe_map takes one map, got {maps.shape[0]}")
    if maps.sum() <= 0:
        return "no weight at all (no pixel raised the similarity)"
    width = maps.shape[2]
    cols = central_columns(width)
    uniform = (cols.stop - cols.start) / width
    stripes = stripe_mass(maps, parts)[0]
    k = int(np.argmax(stripes))
    names = STRIPE_NAMES.get(parts)
    where = f"the {names[k]} {'third' if parts == 3 else 'part'}" if names else f"stripe {k + 1} of {parts}"
    return (f"{100 * central_mass(maps)[0]:.0f}% of its weight in the central half of the width (uniform: "
            f"{100 * uniform:.0f}%), most in {where} ({100 * stripes[k]:.0f}%)")
