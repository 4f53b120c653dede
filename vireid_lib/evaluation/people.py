"""How much of a protocol number is the draw of its test people: per-person contributions, and the standard
error of Rank-1 or mAP when the test split's people are drawn anew.

The ± of a SYSU-MM01 result is the spread over gallery draws of one model on one fixed set of test people.
It says nothing about how the number would move on another draw of people, and on a small test split that is
the larger part: the synthetic SYSU-MM01 layout's default split holds 40 people, and one person's queries
succeed or fail together. A protocol number is a ratio over (gallery draw, query) pairs,

    R = sum_i y_i / sum_i w_i,    y_i = sum over person i's scored pairs of weight x value,

where a scored pair of draw ``t`` weighs ``1 / (T |V_t|)`` (``T`` draws, ``|V_t|`` queries with a true match in
draw ``t``), so that ``R`` is exactly the protocol's mean over draws of the mean over queries. Drawing the
people anew is cluster sampling with people as clusters; the ratio's standard error is the usual linearised
(delta-method) one,

    SE(R)^2 = k / (k - 1) * sum_i d_i^2,    d_i = (y_i - R w_i) / sum_j w_j,

over the ``k`` people scored; ``d_i`` is person ``i``'s influence on ``R``. The standard error of a
difference of two numbers drawn from one test split (indoor- against all-search, or one model against
another) is the same sum over the difference of the influences, the people being drawn once for both, so
what a person does to both numbers cancels; a person scored in one of them only (indoor-search scores only
the people with an indoor visible image) counts there alone.

What it covers: the people behind the queries are resampled while each person's results stay as measured, so
the gallery competitors a new draw of people would bring are not in it, nor is a new training set. It is
exact for the ratio when every draw scores the same queries (the synthetic layouts and RegDB) and a close
approximation otherwise. ``tests/test_people.py`` checks the estimate against the protocol's metrics and the
standard error against a literal bootstrap over people; ``docs/DECISIONS.md`` §13 says why it is reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PEOPLE_METRICS = ("rank1", "mAP")
"""The per-query metrics a person table holds: first match right (the CMC's Rank-1) and average precision."""


def person_table(per_draw: Sequence[Mapping[str, Any]], query_pids: Sequence[int]) -> dict[str, list]:
    """Each test person's weight and Rank-1 and mAP over the gallery draws of one setting.

    Args:
        per_draw: one :func:`~vireid_lib.evaluation.metrics.rank_metrics` result per gallery draw (its per-query
            ``match_rank`` and ``ap``: -1 and NaN for a query without a true match, which the protocol leaves
            out), all for the same queries.
        query_pids: ``(Q,)`` the queries' identities.

    Returns:
        ``{"pid", "weight", "rank1", "mAP"}`` lists, one entry per person with a scored query, by pid:
        ``weight`` is the person's share of the protocol's mean (the weights sum to 1) and ``rank1`` and
        ``mAP`` the person's own weighted means, so ``sum(weight * rank1)`` is the protocol's Rank-1.

    Raises:
        ValueError: no draws, per-query arrays of another length than ``query_pids``, or no scored query.
    """
    pids = np.asarray(query_pids)
    if not per_draw:
        raise ValueError("no gallery draws to tabulate")
    if pids.ndim != 1:
        raise ValueError(f"query_pids must be one identity per query, got shape {pids.shape}")
    weight = np.zeros(len(pids))
    hits = np.zeros(len(pids))
    aps = np.zeros(len(pids))
    for m in per_draw:
        if "match_rank" not in m or "ap" not in m:
            raise ValueError("each draw must be a rank_metrics result with its per-query match_rank and ap")
        rank, ap = np.asarray(m["match_rank"]), np.asarray(m["ap"], dtype=float)
        for name, a in (("match_rank", rank), ("ap", ap)):
            if a.shape != pids.shape:
                raise ValueError(f"per-query {name} of shape {a.shape} for {pids.shape[0]} query identities")
        scored = rank >= 0
        if not scored.any():
            raise ValueError("a gallery draw scores no query (no query has a true match)")
        w = scored / (len(per_draw) * scored.sum())
        weight += w
        hits += w * (rank == 0)
        aps += w * np.where(scored, ap, 0.0)
    people = np.unique(pids[weight > 0])
    rows = [pids == p for p in people]
    w_person = np.array([weight[r].sum() for r in rows])
    return {"pid": [int(p) for p in people], "weight": w_person.tolist(),
            "rank1": [float(hits[r].sum() / w) for r, w in zip(rows, w_person)],
            "mAP": [float(aps[r].sum() / w) for r, w in zip(rows, w_person)]}


def _influence(people: Mapping[str, Sequence[float]], metric: str) -> tuple[float, dict[int, float]]:
    """The ratio estimate of ``metric`` and each person's influence ``d_i`` on it (module docstring)."""
    if metric not in PEOPLE_METRICS:
        raise ValueError(f"metric must be one of {PEOPLE_METRICS}, got {metric!r}")
    w = np.asarray(people["weight"], dtype=float)
    v = np.asarray(people[metric], dtype=float)
    if len(w) == 0 or w.sum() <= 0:
        raise ValueError("a person table with no scored person")
    total = w.sum()
    estimate = float((w * v).sum() / total)
    return estimate, {int(p): float(d) for p, d in zip(people["pid"], w * (v - estimate) / total)}


def _se(influences: Mapping[int, float]) -> float | None:
    """``sqrt(k / (k - 1) * sum d_i^2)`` over the ``k`` people's influences; None below two people."""
    k = len(influences)
    if k < 2:
        return None
    return math.sqrt(k / (k - 1) * sum(d * d for d in influences.values()))


def people_estimate(people: Mapping[str, Sequence[float]], metric: str = "rank1") -> float:
    """``metric`` over the person table's people, weighted as the protocol weighs them (its own number)."""
    return _influence(people, metric)[0]


def people_se(people: Mapping[str, Sequence[float]], metric: str = "rank1") -> float | None:
    """The standard error of ``metric`` over draws of the test people (module docstring); None with fewer than
    two people, where it is undefined.

    Raises:
        ValueError: an unknown metric or a table without a scored person.
    """
    return _se(_influence(people, metric)[1])


def mean_table(tables: Sequence[Mapping[str, Sequence[float]]]) -> dict[str, list]:
    """The person table of a number averaged over several models scored on the same queries (one ablation
    cell's training seeds): each person's Rank-1 and mAP averaged over ``tables``, the weights kept, so its
    estimate is the mean of the tables' estimates, and :func:`people_difference` of two such tables is the
    difference of two seed means with its error over draws of the people.

    Raises:
        ValueError: no tables, or tables that do not hold the same people with the same weights (other queries).
    """
    if not tables:
        raise ValueError("mean_table needs at least one person table")
    first = tables[0]
    for t in tables[1:]:
        if list(t["pid"]) != list(first["pid"]) or not np.array_equal(t["weight"], first["weight"]):
            raise ValueError("person tables of other queries cannot be averaged: they must hold the same people "
                             "with the same weights (models scored on one test split and its gallery draws)")
    return {"pid": list(first["pid"]), "weight": list(first["weight"]),
            **{m: np.mean([t[m] for t in tables], axis=0).tolist() for m in PEOPLE_METRICS}}


def _check_equal_people(tables: Sequence[Mapping[str, Sequence[float]]], metric: str, who: str,
                        otherwise: str = "") -> None:
    """Refuse, in one line, tables that the two-way decompositions cannot read: an unknown metric, fewer than two
    people, other people in one of them, or people of unequal weights."""
    if metric not in PEOPLE_METRICS:
        raise ValueError(f"metric must be one of {PEOPLE_METRICS}, got {metric!r}")
    first = tables[0]
    n = len(first["pid"])
    if n < 2:
        raise ValueError(f"need at least two people, got {n}")
    for t in tables:
        if list(t["pid"]) != list(first["pid"]) or len(t[metric]) != n:
            raise ValueError("the person tables must hold the same people (one test split scored by every model)")
        if not np.allclose(t["weight"], 1.0 / n):
            raise ValueError(f"{who} needs people of equal weights (every person with as many scored queries, as "
                             f"in RegDB){otherwise}")


def _check_finite(y: np.ndarray, metric: str) -> None:
    if not np.isfinite(y).all():
        raise ValueError(f"the person tables hold a non-finite {metric}; they are not results of scored queries")


def _mean_squares(y: np.ndarray) -> tuple[float, float, float]:
    """The two-way mean squares ``(MS_p, MS_s, MS_e)`` of ``y[p, k]`` (``P`` people by ``K`` seeds): people, seeds
    and the residual of ``y = mu + person + seed + residual``."""
    P, K = y.shape
    grand, people, seeds = y.mean(), y.mean(axis=1), y.mean(axis=0)                            # (), (P,), (K,)
    ms_p = K * np.sum((people - grand) ** 2) / (P - 1)
    ms_s = P * np.sum((seeds - grand) ** 2) / (K - 1)
    ms_e = np.sum((y - people[:, None] - seeds[None, :] + grand) ** 2) / ((P - 1) * (K - 1))
    return ms_p, ms_s, ms_e


def seeds_and_people(a: Sequence[Mapping[str, Sequence[float]]], b: Sequence[Mapping[str, Sequence[float]]],
                     metric: str = "rank1") -> dict[str, float]:
    """The error of a difference of two models' seed means over both training seeds and test people.

    ``a[k]`` and ``b[k]`` are the person tables of two models (ablation cells) trained with seed ``k`` and scored
    on one test split whose people weigh equally (RegDB, the synthetic RegDB layout). With ``y[p, k]`` person
    ``p``'s ``metric`` under ``a`` minus that under ``b`` on seed ``k`` (``P`` people, ``K`` seeds), the two-way
    random-effects decomposition ``y = mu + person + seed + residual`` has mean squares ``MS_p`` (people), ``MS_s``
    (seeds) and ``MS_e`` (residual), and

    - ``se_seeds = sqrt(MS_s / PK)``: the paired error over seeds, these people fixed (the ablation summaries');
    - ``se_people = sqrt(MS_p / PK)``: the error over people of the seed-averaged tables
      (:func:`people_difference` of :func:`mean_table`), these seeds fixed;
    - ``people_part = sqrt(max(0, MS_p - MS_e) / PK)``: the people's own share, ``sigma_p / sqrt(P)`` for the
      spread ``sigma_p`` of the people's true differences, which more seeds do not shrink (the rest of
      ``se_people`` is the seeds' noise on each person, which is in ``se_seeds`` too);
    - ``se_both``: the error when both the seeds and the people are drawn anew, the variance of the two-way
      mean ``sigma_p^2 / P + sigma_s^2 / K + sigma_e^2 / PK`` with each component estimated from its mean
      square and truncated at zero, ``(max(MS_p, MS_e) + max(MS_s, MS_e) - MS_e) / PK``: it counts the noise
      shared by ``se_seeds`` and ``se_people`` once, and unlike the untruncated ``MS_p + MS_s - MS_e``, which
      can fall below zero on few seeds, it is never below the residual's own ``MS_e / PK``.

    Returns:
        ``{"difference", "se_seeds", "se_people", "people_part", "se_both"}`` as fractions.

    Raises:
        ValueError: fewer than two seeds or people, tables of other people, or people of unequal weights.
    """
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need the same seeds for both models, at least two; got {len(a)} and {len(b)} tables")
    _check_equal_people([*a, *b], metric, "seeds_and_people", "; use people_difference of mean_table otherwise")
    y = np.array([np.subtract(ta[metric], tb[metric]) for ta, tb in zip(a, b)], dtype=float).T   # (P, K)
    _check_finite(y, metric)
    P, K = y.shape
    ms_p, ms_s, ms_e = _mean_squares(y)
    return {"difference": float(y.mean()), "se_seeds": math.sqrt(ms_s / (P * K)),
            "se_people": math.sqrt(ms_p / (P * K)), "people_part": math.sqrt(max(0.0, ms_p - ms_e) / (P * K)),
            "se_both": math.sqrt((max(ms_p, ms_e) + max(ms_s, ms_e) - ms_e) / (P * K))}


def people_difference(a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]],
                      metric: str = "rank1") -> tuple[float, float | None]:
    """``metric`` of ``a`` minus that of ``b`` and its standard error over draws of the people, for two person
    tables of the same test split (two search modes, or two models), the people drawn once for both: a
    person's influences are subtracted before they are squared, so what a person does to both cancels. A
    person scored in one table only counts there alone, so the difference stays that of the two protocol
    numbers. The error is None with fewer than two people in all."""
    ea, da = _influence(a, metric)
    eb, db = _influence(b, metric)
    return ea - eb, _se({p: da.get(p, 0.0) - db.get(p, 0.0) for p in set(da) | set(db)})


def seed_spread(tables: Sequence[Mapping[str, Sequence[float]]], metric: str = "rank1") -> dict[str, float]:
    """How one model's run-to-run spread over training seeds splits into the whole model and each person.

    ``tables[k]`` is the person table of the model (one ablation cell) trained with seed ``k`` and scored on one
    test split whose people weigh equally. With ``y[p, k]`` person ``p``'s ``metric`` on seed ``k`` (``P``
    people, ``K`` seeds), the two-way decomposition ``y = mu + person + seed + residual`` has mean squares
    ``MS_s`` (seeds) and ``MS_e`` (residual), and

    - ``sd_runs = sqrt(MS_s / P)``: the standard deviation over seeds of a run's number (the mean over people);
    - ``seed_part = sqrt(max(0, MS_s - MS_e) / P)``: the part of it that moves every person at once, a seed
      training a better or a worse model, which more test people do not shrink;
    - ``residual = sqrt(MS_e)``: each person's own noise from seed to seed, which adds ``residual^2 / n`` to a
      run's variance on ``n`` test people.

    :func:`run_variance` gives a run's predicted variance on another number of people from these.

    Returns:
        ``{"people", "seeds", "sd_runs", "seed_part", "residual"}``, the last three as fractions.

    Raises:
        ValueError: fewer than two seeds or people, tables of other people, or people of unequal weights.
    """
    if len(tables) < 2:
        raise ValueError(f"need at least two seeds, got {len(tables)} tables")
    _check_equal_people(tables, metric, "seed_spread")
    y = np.array([t[metric] for t in tables], dtype=float).T                                  # (P, K)
    _check_finite(y, metric)
    P, K = y.shape
    _, ms_s, ms_e = _mean_squares(y)
    return {"people": P, "seeds": K, "sd_runs": math.sqrt(ms_s / P),
            "seed_part": math.sqrt(max(0.0, ms_s - ms_e) / P), "residual": math.sqrt(ms_e)}


def run_variance(spread: Mapping[str, float], people: int) -> float:
    """A run's variance over training seeds on ``people`` test people, from :func:`seed_spread`: the whole-model
    part plus each person's own noise averaged over the people, ``seed_part^2 + residual^2 / people``. On the
    measured people it is ``max(MS_s, MS_e) / P``, the measured ``sd_runs^2`` unless the seed part is truncated
    at zero."""
    if people < 1:
        raise ValueError(f"people must be at least 1, got {people}")
    return spread["seed_part"] ** 2 + spread["residual"] ** 2 / people
