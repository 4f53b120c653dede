"""k-reciprocal re-ranking against a literal per-image re-statement of the released code, and on a case
where it is known to change the ranking."""

from __future__ import annotations

import numpy as np
import pytest

from vireid_lib.evaluation.reranking import k_reciprocal_rerank


def literal_rerank(q_g, q_q, g_g, k1=20, k2=6, lambda_value=0.3):
    """The released algorithm with one Python iteration per image (stable neighbour order)."""
    num_q = q_g.shape[0]
    dist = np.concatenate([np.concatenate([q_q, q_g], 1), np.concatenate([q_g.T, g_g], 1)], 0)
    dist = np.power(dist, 2).astype(np.float32)
    dist = np.transpose(dist / np.max(dist, axis=0))
    n = len(dist)
    v = np.zeros_like(dist)
    rank = np.argsort(dist, axis=1, kind="stable")

    def reciprocal(i, k):
        forward = rank[i, : k + 1]
        backward = rank[forward, : k + 1]
        return forward[np.where(backward == i)[0]]

    for i in range(n):
        recip = reciprocal(i, k1)
        expansion = recip
        for candidate in recip:
            cand = reciprocal(candidate, int(np.around(k1 / 2.0)))
            if len(np.intersect1d(cand, recip)) > 2.0 / 3 * len(cand):
                expansion = np.append(expansion, cand)
        expansion = np.unique(expansion)
        weight = np.exp(-dist[i, expansion])
        v[i, expansion] = weight / np.sum(weight)
    if k2 != 1:
        v = np.stack([np.mean(v[rank[i, :k2]], axis=0) for i in range(n)])
    jaccard = np.zeros((num_q, n), dtype=np.float32)
    for i in range(num_q):
        shared = np.zeros(n, dtype=np.float32)
        for k in np.where(v[i] != 0)[0]:
            holders = np.where(v[:, k] != 0)[0]
            shared[holders] += np.minimum(v[i, k], v[holders, k])
        jaccard[i] = 1 - shared / (2 - shared)
    final = jaccard * (1 - lambda_value) + dist[:num_q] * lambda_value
    return final[:, num_q:]


def _distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(((x[:, None] - y[None]) ** 2).sum(-1), 0))


@pytest.mark.parametrize("seed, k1, k2", [(0, 20, 6), (1, 5, 3), (2, 7, 1), (3, 3, 2), (4, 60, 50)])
def test_equals_literal_algorithm(seed, k1, k2):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, 8)) * 2
    qf = centres[rng.integers(0, 6, 14)] + rng.standard_normal((14, 8))
    gf = centres[rng.integers(0, 6, 30)] + rng.standard_normal((30, 8))
    args = (_distances(qf, gf), _distances(qf, qf), _distances(gf, gf))
    ours = k_reciprocal_rerank(*args, k1=k1, k2=k2, lambda_value=0.3)
    ref = literal_rerank(*args, k1=k1, k2=k2, lambda_value=0.3)
    np.testing.assert_allclose(ours, ref, atol=2e-6)


def test_neighbourhood_agreement_changes_the_top_match():
    # Query q at the origin. Gallery: a distractor b at distance 1.0 whose neighbours are another identity,
    # and the query's identity (a, a2, a3) at distances 1.2-1.4, linked to q through two other query views
    # of that identity. Plain ranking puts b first; q's k-reciprocal set overlaps those of a, a2, a3 and
    # not b's, so re-ranking moves all three ahead of b.
    qf = np.array([[0.0, 0.0], [0.1, 0.6], [-0.1, 0.7]])  # q and two more views of its identity
    gf = np.array([
        [1.0, 0.0],  # b
        [0.0, 1.2], [0.15, 1.35], [-0.15, 1.4],  # a, a2, a3: q's identity
        [2.0, 0.0], [2.2, 0.2], [2.1, -0.2],  # b's neighbours: another identity
    ])
    q_g, q_q, g_g = _distances(qf, gf), _distances(qf, qf), _distances(gf, gf)
    assert np.argsort(q_g[0], kind="stable")[:4].tolist() == [0, 1, 2, 3]  # before: b first
    after = k_reciprocal_rerank(q_g, q_q, g_g, k1=5, k2=1, lambda_value=0.3)
    assert np.argsort(after[0], kind="stable")[:4].tolist() == [1, 2, 3, 0]  # after: b fourth
    np.testing.assert_allclose(after, literal_rerank(q_g, q_q, g_g, k1=5, k2=1), atol=2e-6)
    # lambda = 1 keeps only the (normalised squared) original distance: the order is unchanged.
    only_original = k_reciprocal_rerank(q_g, q_q, g_g, k1=5, k2=1, lambda_value=1.0)
    assert np.argsort(only_original[0], kind="stable")[:4].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(q_q_dist=np.zeros((2, 2))), "expected q_q_dist"),
        (dict(q_g_dist=np.full((3, 4), np.nan)), "NaN or infinite"),
        (dict(k1=0), "k1 and k2 must be >= 1"),
        (dict(k2=0), "k1 and k2 must be >= 1"),
        (dict(lambda_value=1.5), "lambda_value must lie in"),
    ],
)
def test_bad_inputs(kwargs, message):
    rng = np.random.default_rng(0)
    args = dict(q_g_dist=rng.random((3, 4)), q_q_dist=rng.random((3, 3)), g_g_dist=rng.random((4, 4)),
                k1=2, k2=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        k_reciprocal_rerank(**args)
