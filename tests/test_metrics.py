"""rank_metrics against hand-worked cases, the literal per-query reference, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vireid_lib.evaluation import rank_metrics
from vireid_lib.evaluation.metrics import top_k
from vireid_lib.evaluation.reference import literal_eval

# Two queries, five gallery images (hand-worked below).
G_PIDS = np.array([1, 2, 1, 3, 2])
DIST = np.array([
    [0.5, 0.1, 0.9, 0.2, 0.3],  # pid 1: ranking pid2, pid3, pid2, pid1, pid1 -> matches at ranks 4, 5
    [0.3, 0.2, 0.4, 0.6, 0.1],  # pid 2: ranking pid2, pid2, pid1, pid1, pid3 -> matches at ranks 1, 2
])
Q_PIDS = np.array([1, 2])


def test_regdb_hand_worked():
    out = rank_metrics(DIST, Q_PIDS, G_PIDS, protocol="regdb", max_rank=5)
    # AP: query 1 (1/4 + 2/5) / 2 = 0.325, query 2 (1/1 + 2/2) / 2 = 1.
    assert out["ap"].tolist() == pytest.approx([0.325, 1.0])
    assert out["mAP"] == pytest.approx(0.6625)
    # INP: query 1 2/5, query 2 2/2.
    assert out["inp"].tolist() == pytest.approx([0.4, 1.0])
    assert out["mINP"] == pytest.approx(0.7)
    # Image-level CMC: first matches at ranks 4 and 1.
    assert out["cmc"].tolist() == pytest.approx([0.5, 0.5, 0.5, 1.0, 1.0])
    assert out["match_rank"].tolist() == [3, 0]
    assert out["num_valid_queries"] == 2


def test_sysu_cmc_counts_identities_not_images():
    # No cam3 query, so nothing is removed; query 1's ranking by identity is pid2, pid3, pid1 -> rank 3.
    out = rank_metrics(DIST, Q_PIDS, G_PIDS, [6, 6], [1, 1, 1, 1, 1], protocol="sysu", max_rank=5)
    assert out["match_rank"].tolist() == [2, 0]
    # Only three identities exist: the curve stays at its last value beyond them.
    assert out["cmc"].tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0, 1.0])
    # AP and INP use the full image ranking, as for RegDB.
    assert out["mAP"] == pytest.approx(0.6625)
    assert out["mINP"] == pytest.approx(0.7)


def test_sysu_cam3_query_ignores_cam2_gallery():
    g_pids = [1, 2, 1, 3]
    g_cams = [2, 1, 1, 2]
    dist = [[0.1, 0.2, 0.3, 0.4]]
    # cam3: cam2 images (0 and 3) removed -> ranking pid2, pid1: AP 1/2, INP 1/2, identity rank 2.
    out3 = rank_metrics(dist, [1], g_pids, [3], g_cams, max_rank=2)
    assert out3["mAP"] == pytest.approx(0.5)
    assert out3["mINP"] == pytest.approx(0.5)
    assert out3["cmc"].tolist() == [0.0, 1.0]
    # cam6 keeps everything -> pid1, pid2, pid1, pid3: AP (1 + 2/3) / 2, INP 2/3, rank 1.
    out6 = rank_metrics(dist, [1], g_pids, [6], g_cams, max_rank=2)
    assert out6["mAP"] == pytest.approx(5 / 6)
    assert out6["mINP"] == pytest.approx(2 / 3)
    assert out6["cmc"].tolist() == [1.0, 1.0]
    # The rule is specific to the pair cam3 -> cam2: a cam3 query keeps cam1/cam4/cam5 images.
    out_c1 = rank_metrics(dist, [1], g_pids, [3], [1, 1, 1, 1], max_rank=2)
    assert out_c1["mAP"] == pytest.approx(5 / 6)


def test_query_whose_only_matches_are_removed_is_left_out_of_every_average():
    g_pids = [1, 2, 2]
    g_cams = [2, 1, 4]
    dist = [[0.1, 0.5, 0.6],   # pid 1 from cam3: its only match is in cam2 -> no match after removal
            [0.9, 0.3, 0.8]]   # pid 2 from cam6: ranking pid2, pid2, pid1 -> AP 1, INP 1, rank 1
    out = rank_metrics(dist, [1, 2], g_pids, [3, 6], g_cams, max_rank=3)
    assert out["num_valid_queries"] == 1
    assert out["mAP"] == 1.0 and out["mINP"] == 1.0
    assert out["cmc"].tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(out["ap"][0]) and np.isnan(out["inp"][0]) and out["match_rank"][0] == -1


def test_query_identity_absent_from_gallery_is_left_out():
    out = rank_metrics([[0.1, 0.2], [0.2, 0.1]], [7, 1], [1, 2], protocol="regdb", max_rank=2)
    assert out["num_valid_queries"] == 1
    assert out["cmc"].tolist() == [0.0, 1.0]  # the valid query matches at rank 2, the other is not counted
    assert out["mAP"] == pytest.approx(0.5)


def test_ties_are_broken_by_gallery_index():
    dist = [[0.5, 0.5, 0.5]]
    # Stable order g0, g1, g2. pids [2, 1, 1]: matches at 2, 3 -> AP (1/2 + 2/3) / 2 = 7/12, INP 2/3.
    out = rank_metrics(dist, [1], [2, 1, 1], protocol="regdb", max_rank=3)
    assert out["mAP"] == pytest.approx(7 / 12)
    assert out["mINP"] == pytest.approx(2 / 3)
    assert out["cmc"].tolist() == [0.0, 1.0, 1.0]
    # pids [1, 1, 2]: matches at 1, 2 -> AP 1.
    assert rank_metrics(dist, [1], [1, 1, 2], protocol="regdb")["mAP"] == 1.0
    # The same holds for the identity-level CMC and for ties between a match and a removed image.
    out_s = rank_metrics([[0.5, 0.5, 0.5, 0.5]], [1], [2, 3, 1, 1], [3], [1, 2, 1, 4], max_rank=3)
    assert out_s["match_rank"].tolist() == [1]  # pid3 (cam2) removed: ranking pid2, pid1, pid1
    assert out_s["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_indoor_gallery_is_a_column_subset_with_its_own_numbers():
    g_pids = np.array([1, 2, 1])
    g_cams = np.array([4, 1, 1])  # cam4 is outdoor: only in the all-search gallery
    dist = np.array([[0.1, 0.2, 0.3]])
    all_search = rank_metrics(dist, [1], g_pids, [6], g_cams, max_rank=2)
    indoor = np.isin(g_cams, (1, 2))
    indoor_search = rank_metrics(dist[:, indoor], [1], g_pids[indoor], [6], g_cams[indoor], max_rank=2)
    assert all_search["mAP"] == pytest.approx(5 / 6) and all_search["cmc"].tolist() == [1.0, 1.0]
    assert indoor_search["mAP"] == pytest.approx(0.5) and indoor_search["cmc"].tolist() == [0.0, 1.0]


def _random_case(rng: np.random.Generator):
    num_q, num_g = int(rng.integers(1, 40)), int(rng.integers(1, 60))
    num_ids = int(rng.integers(1, 15))
    q_pids = rng.integers(0, num_ids + 3, num_q)  # some query identities are absent from the gallery
    g_pids = rng.integers(0, num_ids, num_g)
    q_cams = rng.choice([3, 6], num_q)
    g_cams = rng.choice([1, 2, 4, 5], num_g)
    dist = rng.random((num_q, num_g))
    if rng.random() < 0.5:
        dist = np.round(dist * rng.integers(2, 6)) / 5  # coarse values: many exact ties
    return dist, q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("protocol", ["sysu", "regdb"])
def test_fast_path_equals_literal_reference_on_random_inputs(protocol):
    rng = np.random.default_rng(2024)
    compared = 0
    for _ in range(150):
        dist, q_pids, g_pids, q_cams, g_cams = _random_case(rng)
        max_rank = int(rng.integers(1, 25))
        try:
            ref = literal_eval(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol, max_rank=max_rank)
        except ValueError:
            with pytest.raises(ValueError, match="no query has a true match"):
                rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol, max_rank=max_rank)
            continue
        out = rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol, max_rank=max_rank)
        np.testing.assert_allclose(out["cmc"], ref[0], rtol=0, atol=1e-12)
        assert out["mAP"] == pytest.approx(ref[1], abs=1e-12)
        assert out["mINP"] == pytest.approx(ref[2], abs=1e-12)
        compared += 1
    assert compared > 100  # the comparison really ran on most cases


def test_many_images_per_identity_and_small_blocks(monkeypatch):
    # Multi-shot-like gallery (many images per identity) and a tiny block size, so several query blocks run.
    import vireid_lib.evaluation.metrics as metrics

    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 64)
    rng = np.random.default_rng(7)
    dist = np.round(rng.random((23, 90)) * 10) / 10
    q_pids, g_pids = rng.integers(0, 4, 23), rng.integers(0, 4, 90)
    q_cams, g_cams = rng.choice([3, 6], 23), rng.choice([1, 2, 4, 5], 90)
    for protocol in ("sysu", "regdb"):
        ref = literal_eval(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol, max_rank=20)
        out = metrics.rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol)
        np.testing.assert_allclose(out["cmc"], ref[0], atol=1e-12)
        assert out["mAP"] == pytest.approx(ref[1], abs=1e-12)
        assert out["mINP"] == pytest.approx(ref[2], abs=1e-12)


def test_accepts_torch_and_float32_and_does_not_mutate_inputs():
    dist = DIST.astype(np.float32)
    before = dist.copy()
    a = rank_metrics(dist, Q_PIDS, G_PIDS, [3, 3], [2, 1, 1, 1, 2])
    b = rank_metrics(torch.from_numpy(dist), torch.tensor(Q_PIDS), torch.tensor(G_PIDS),
                     torch.tensor([3, 3]), torch.tensor([2, 1, 1, 1, 2]))
    assert np.array_equal(dist, before)
    assert a["mAP"] == b["mAP"] and np.array_equal(a["cmc"], b["cmc"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(q_pids=[1]), "q_pids must be a 1-D array with one entry per distmat row"),
        (dict(g_pids=[1, 2, 1]), "g_pids must be a 1-D array with one entry per distmat column"),
        (dict(q_camids=[3]), "q_camids must be"),
        (dict(g_camids=[1, 2]), "g_camids must be"),
        (dict(distmat=np.where(DIST > 0.8, np.nan, DIST)), "NaN or infinite"),
        (dict(distmat=np.where(DIST > 0.8, np.inf, DIST)), "NaN or infinite"),
        (dict(distmat=DIST[0]), "2-D"),
        (dict(distmat=np.zeros((2, 0))), "non-empty"),
        (dict(q_pids=[8, 9]), "no query has a true match"),
        (dict(q_camids=None), "needs q_camids and g_camids"),
        (dict(protocol="market"), "unknown protocol"),
        (dict(max_rank=0), "max_rank must be a positive integer"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(kwargs, message):
    args = dict(distmat=DIST, q_pids=Q_PIDS, g_pids=G_PIDS, q_camids=[6, 6], g_camids=[1, 1, 1, 1, 1])
    args.update(kwargs)
    protocol = args.pop("protocol", "sysu")
    max_rank = args.pop("max_rank", 20)
    with pytest.raises(ValueError, match=message):
        rank_metrics(**args, protocol=protocol, max_rank=max_rank)


def test_no_match_after_cam2_removal_raises():
    with pytest.raises(ValueError, match="after removing cam2 images for cam3 queries"):
        rank_metrics([[0.1, 0.2]], [1], [1, 2], [3], [2, 1])


def test_kept_gallery_states_the_same_rule():
    from vireid_lib.evaluation.metrics import kept_gallery

    assert kept_gallery(3, [1, 2, 4, 5], "sysu").tolist() == [True, False, True, True]
    assert kept_gallery(6, [1, 2, 4, 5], "sysu").all()
    assert kept_gallery(3, [1, 2, 4, 5], "regdb").all()
    with pytest.raises(ValueError, match="unknown protocol"):
        kept_gallery(3, [1], "market")


# ---------------------------------------------------------------------------------------------- top_k


def _first_hit(order, g_pids, q_pid, identity_level):
    """Match position read from a ranking by hand: image position, or distinct identities before the hit."""
    order = [j for j in order if j >= 0]
    hits = [r for r, j in enumerate(order) if g_pids[j] == q_pid]
    if not hits:
        return -1
    return len({g_pids[j] for j in order[:hits[0]]}) if identity_level else hits[0]


def test_top_k_cam_rule_changes_the_answer_by_hand():
    g_pids = np.array([5, 7, 7, 9])
    g_cams = np.array([2, 1, 4, 5])
    dist = np.array([[0.1, 0.4, 0.4, 0.3],    # cam3 query: the cam2 image (id 5) is not ranked
                     [0.1, 0.4, 0.4, 0.3]])   # cam6 query: the same row keeps it first
    order = top_k(dist, [3, 6], g_cams, "sysu")
    assert order.tolist() == [[3, 1, 2, -1], [0, 3, 1, 2]]   # ties (0.4, 0.4) by gallery index
    assert top_k(dist, [3, 6], g_cams, "sysu", k=1)[:, 0].tolist() == [3, 0]
    assert top_k(dist, [3, 6], g_cams, "regdb", k=2).tolist() == [[0, 3], [0, 3]]
    assert top_k(dist, None, None, "regdb", k=2).tolist() == [[0, 3], [0, 3]]
    assert np.argsort(dist[0], kind="stable")[0] == 0  # a plain argsort would show the cam3 query id 5 first
    with pytest.raises(ValueError, match="needs q_camids"):
        top_k(dist, None, None, "sysu")
    with pytest.raises(ValueError, match="query cameras"):
        top_k(dist, [3], g_cams, "sysu")
    with pytest.raises(ValueError, match="k must be"):
        top_k(dist, [3, 6], g_cams, "sysu", k=0)


@pytest.mark.parametrize("protocol", ["sysu", "regdb"])
def test_top_k_reads_the_same_ranking_as_rank_metrics(protocol):
    rng = np.random.default_rng(4)
    g_pids, g_cams = np.repeat(np.arange(6), 4), np.tile([1, 2, 4, 5], 6)
    q_pids, q_cams = rng.integers(0, 6, 40), rng.choice([3, 6], 40)
    dist = rng.integers(0, 8, (40, 24)) / 8.0  # many exact ties on purpose
    m = rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol, max_rank=24)
    order = top_k(dist, q_cams, g_cams, protocol)
    by_hand = [_first_hit(order[i], g_pids, q_pids[i], protocol == "sysu") for i in range(40)]
    assert by_hand == m["match_rank"].tolist()
    valid = m["match_rank"] >= 0
    rank1 = np.mean(g_pids[order[valid, 0]] == q_pids[valid])
    assert rank1 == pytest.approx(m["cmc"][0])
    if protocol == "sysu":
        assert (order[q_cams == 3] >= 0).sum(axis=1).tolist() == [18] * int((q_cams == 3).sum())  # 6 cam2 gone
        assert not np.isin(order[q_cams == 3], np.flatnonzero(g_cams == 2)).any()
