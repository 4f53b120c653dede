"""The test people's share of a protocol number (vireid_lib.evaluation.people): hand-worked tables, the estimate
against the protocol's own metrics, the error against a literal bootstrap over people, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_eval_extract import HalvesNet, to_tensor
from test_eval_protocols import EVAL, FakeRegDB, FakeSYSU

from vireid_lib.evaluation import rank_metrics
from vireid_lib.evaluation.people import (mean_table, people_difference, people_estimate, people_se, person_table,
                                         run_variance, seed_spread, seeds_and_people)
from vireid_lib.evaluation.protocols import evaluate_regdb, evaluate_sysu, evaluate_within_visible


def _draw(match_rank, ap):
    return {"match_rank": np.array(match_rank), "ap": np.array(ap, dtype=float)}


def test_hand_worked_table_estimate_and_error():
    # Four queries of people 1, 1, 2, 3; the last has no true match, so three are scored, each weighing 1/3.
    table = person_table([_draw([0, 2, 0, -1], [1.0, 0.5, 1.0, np.nan])], [1, 1, 2, 3])
    assert table["pid"] == [1, 2]                       # person 3 has no scored query
    assert table["weight"] == pytest.approx([2 / 3, 1 / 3])
    assert table["rank1"] == pytest.approx([0.5, 1.0])
    assert table["mAP"] == pytest.approx([0.75, 1.0])
    assert people_estimate(table) == pytest.approx(2 / 3)            # 2 of the 3 scored queries
    assert people_estimate(table, "mAP") == pytest.approx(2.5 / 3)
    # Influences: person 1 (2/3)(1/2 - 2/3) = -1/9, person 2 (1/3)(1 - 2/3) = 1/9; SE^2 = 2/(2-1) (2/81).
    assert people_se(table) == pytest.approx(2 / 9)


def test_draws_weigh_as_the_protocols_mean_over_draws():
    # Draw 1 scores 2 queries, draw 2 all 4: the protocol's mean is (1/2 + 3/4) / 2, not 4 of 6 pooled.
    draws = [_draw([0, -1, 3, -1], [1.0, np.nan, 0.2, np.nan]), _draw([0, 0, 0, 5], [1.0, 1.0, 1.0, 0.1])]
    table = person_table(draws, [7, 7, 8, 9])
    assert sum(table["weight"]) == pytest.approx(1.0)
    assert people_estimate(table) == pytest.approx((1 / 2 + 3 / 4) / 2)
    assert people_estimate(table, "mAP") == pytest.approx(((1.0 + 0.2) / 2 + 3.1 / 4) / 2)


def test_estimate_is_the_protocols_number_on_random_rankings():
    rng = np.random.default_rng(3)
    q_pids = np.repeat(np.arange(12), 5)
    q_cams = rng.choice([3, 6], len(q_pids))
    draws = []
    for _ in range(4):
        g_pids = np.repeat(np.arange(12), 4)
        g_cams = np.tile([1, 2, 4, 5], 12)
        keep = rng.random(len(g_pids)) > 0.3       # some people lose cameras, some queries their matches
        dist = rng.random((len(q_pids), keep.sum())) - 0.5 * (q_pids[:, None] == g_pids[keep][None])
        draws.append(rank_metrics(dist, q_pids, g_pids[keep], q_cams, g_cams[keep], protocol="sysu"))
    table = person_table(draws, q_pids)
    assert people_estimate(table) == pytest.approx(np.mean([d["cmc"][0] for d in draws]), abs=1e-12)
    assert people_estimate(table, "mAP") == pytest.approx(np.mean([d["mAP"] for d in draws]), abs=1e-12)


def _random_table(rng, k=40):
    weight = rng.integers(3, 20, k).astype(float)
    return {"pid": list(range(k)), "weight": (weight / weight.sum()).tolist(),
            "rank1": rng.beta(1.2, 1.0, k).tolist(), "mAP": rng.beta(2.0, 1.5, k).tolist()}


def _ratio(table, metric, idx):
    w, v = np.asarray(table["weight"])[idx], np.asarray(table[metric])[idx]
    return (w * v).sum() / w.sum()


def test_error_matches_a_literal_bootstrap_over_people():
    rng = np.random.default_rng(0)
    table = _random_table(rng)
    k = len(table["pid"])
    for metric in ("rank1", "mAP"):
        boot = [_ratio(table, metric, rng.integers(0, k, k)) for _ in range(20000)]
        # The bootstrap's variance divides by k, ours by k - 1 (the unbiased form).
        assert np.std(boot) == pytest.approx(people_se(table, metric) * math.sqrt((k - 1) / k), rel=0.05)


def test_difference_pairs_people_and_matches_a_paired_bootstrap():
    rng = np.random.default_rng(1)
    a = _random_table(rng)
    # Every person 0.1 lower in b: the difference is 0.1 whoever is drawn, with no error at all,
    # where treating the two numbers as independent would give one.
    b = {**a, "rank1": (np.asarray(a["rank1"]) - 0.1).tolist()}
    d, se = people_difference(a, b)
    assert d == pytest.approx(0.1) and se == pytest.approx(0.0, abs=1e-12)
    assert math.hypot(people_se(a), people_se(b)) > 0.05
    assert people_difference(a, a) == (0.0, 0.0)
    # A b that moves each person differently, one person scored in a only: against a paired bootstrap.
    b = {k: v[1:] for k, v in _random_table(rng).items()}
    b["pid"] = a["pid"][1:]
    d, se = people_difference(a, b)
    assert d == pytest.approx(people_estimate(a) - people_estimate(b))
    k = len(a["pid"])
    boot = []
    for _ in range(20000):
        idx = rng.integers(0, k, k)
        in_b = idx[idx > 0] - 1
        boot.append(_ratio(a, "rank1", idx) - _ratio(b, "rank1", in_b))
    assert np.std(boot) == pytest.approx(se * math.sqrt((k - 1) / k), rel=0.05)


def test_difference_of_tables_with_other_people_by_hand():
    # a scores people 1-3 (weights 1/3, Rank-1 1, 0, 1: 2/3), b only people 2 and 3 (weights 1/2, Rank-1 0 and 1:
    # 1/2), as indoor-search scores only the people with an indoor image. Influences: a 1/9, -2/9, 1/9; b 0, -1/4,
    # 1/4; person 1 counts in a alone. Differences 1/9, 1/36, -5/36: SE^2 = 3/2 (16 + 1 + 25) / 1296 = 63 / 1296.
    a = {"pid": [1, 2, 3], "weight": [1 / 3] * 3, "rank1": [1.0, 0.0, 1.0], "mAP": [1.0, 0.0, 1.0]}
    b = {"pid": [2, 3], "weight": [0.5, 0.5], "rank1": [0.0, 1.0], "mAP": [0.0, 1.0]}
    d, se = people_difference(a, b)
    assert d == pytest.approx(2 / 3 - 1 / 2)                 # the two protocol numbers' difference
    assert se == pytest.approx(math.sqrt(63) / 36)


def test_mean_table_of_seeds_by_hand():
    # Two seeds of model a and two of model b on the same three people (weights 1/3). Seed means per person:
    # a 1, 1/2, 1/2 (Rank-1 2/3); b 1/2, 0, 1/2 (1/3). Influences of the means: a 1/9, -1/18, -1/18; b 1/18,
    # -1/9, 1/18; their differences 1/18, 1/18, -1/9: SE^2 = 3/2 (1 + 1 + 4) / 324 = 1/36.
    w = [1 / 3] * 3
    a = [{"pid": [1, 2, 3], "weight": w, "rank1": r, "mAP": r} for r in ([1.0, 1.0, 0.0], [1.0, 0.0, 1.0])]
    b = [{"pid": [1, 2, 3], "weight": w, "rank1": r, "mAP": r} for r in ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0])]
    ma, mb = mean_table(a), mean_table(b)
    assert ma["rank1"] == [1.0, 0.5, 0.5] and ma["weight"] == w and ma["pid"] == [1, 2, 3]
    assert people_estimate(ma) == pytest.approx(np.mean([people_estimate(t) for t in a]))
    d, se = people_difference(ma, mb)
    assert d == pytest.approx(1 / 3) and se == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="at least one"):
        mean_table([])
    with pytest.raises(ValueError, match="same people with the same weights"):
        mean_table([a[0], {**a[1], "pid": [1, 2, 4]}])
    with pytest.raises(ValueError, match="same people with the same weights"):
        mean_table([a[0], {**a[1], "weight": [0.5, 0.25, 0.25]}])


def _tables(y):
    """Person tables of ``y[p, k]`` (person p's Rank-1 on seed k), equal weights, one table per seed."""
    y = np.asarray(y, float)
    return [{"pid": list(range(y.shape[0])), "weight": [1 / y.shape[0]] * y.shape[0], "rank1": list(y[:, k]),
             "mAP": list(y[:, k])} for k in range(y.shape[1])]


@pytest.mark.parametrize("y,want", [
    # interaction alone: every mean square 1/4, so each error is sqrt(1/4 / 4) and the people's own part 0
    ([[1, 0], [0, 0]], (0.25, 0.25, 0.25, 0.0, 0.25)),
    # a person effect alone: MS_p = 2 (1/4 + 1/4) = 1, the rest 0
    ([[1, 1], [0, 0]], (0.5, 0.0, 0.5, 0.5, 0.5)),
    # a seed effect alone
    ([[1, 0], [1, 0]], (0.5, 0.5, 0.0, 0.0, 0.5)),
    # residual alone, MS_e = 4 above MS_p = MS_s = 0: MS_p + MS_s - MS_e would be negative; the truncated
    # components leave the residual's sqrt(4 / 4)
    ([[1, -1], [-1, 1]], (0.0, 0.0, 0.0, 0.0, 1.0)),
])
def test_seeds_and_people_by_hand(y, want):
    zero = _tables(np.zeros((2, 2)))
    r = seeds_and_people(_tables(y), zero)
    got = (r["difference"], r["se_seeds"], r["se_people"], r["people_part"], r["se_both"])
    assert got == pytest.approx(want)


def test_seeds_and_people_agrees_with_its_parts_and_tracks_the_two_way_variance():
    rng = np.random.default_rng(0)
    a, b = rng.random((50, 6)), rng.random((50, 6))
    r = seeds_and_people(_tables(a), _tables(b))
    per_seed = [people_estimate(x) - people_estimate(z) for x, z in zip(_tables(a), _tables(b))]
    assert r["difference"] == pytest.approx(np.mean(per_seed))
    assert r["se_seeds"] == pytest.approx(np.std(per_seed, ddof=1) / math.sqrt(6))       # the paired seed SE
    assert r["se_people"] == pytest.approx(people_difference(mean_table(_tables(a)), mean_table(_tables(b)))[1])
    # Monte Carlo of the random two-way model: the mean of se_both^2 is close to the variance of the grand mean
    # (the truncation at zero biases it up a little; with these components it rarely acts), and the mean of
    # people_part^2 close to the people's share sa^2 / P.
    P, K, sa, sb, se = 20, 5, 0.3, 0.2, 0.5
    est, part = [], []
    for _ in range(3000):
        y = rng.normal(0, sa, (P, 1)) + rng.normal(0, sb, (1, K)) + rng.normal(0, se, (P, K))
        r = seeds_and_people(_tables(y), _tables(np.zeros((P, K))))
        est.append(r["se_both"] ** 2)
        part.append(r["people_part"] ** 2)
    truth = sa ** 2 / P + sb ** 2 / K + se ** 2 / (P * K)
    assert np.mean(est) == pytest.approx(truth, rel=0.06)
    assert np.mean(part) == pytest.approx(sa ** 2 / P, rel=0.06)
    with pytest.raises(ValueError, match="at least two"):
        seeds_and_people(_tables(a)[:1], _tables(b)[:1])
    with pytest.raises(ValueError, match="equal weights"):
        seeds_and_people(_tables(a), [{**t, "weight": [0.5] + [0.5 / 49] * 49} for t in _tables(b)])
    with pytest.raises(ValueError, match="same people"):
        seeds_and_people(_tables(a), [{**t, "pid": list(range(1, 51))} for t in _tables(b)])
    with pytest.raises(ValueError, match="at least two people, got 0"):
        empty = [{"pid": [], "weight": [], "rank1": [], "mAP": []}] * 2
        seeds_and_people(empty, empty)
    with pytest.raises(ValueError, match="non-finite rank1"):
        seeds_and_people(_tables(np.where(a == a[0, 0], np.nan, a)), _tables(b))
    with pytest.raises(ValueError, match="metric must be one of"):
        seeds_and_people(_tables(a), _tables(b), "mINP")


@pytest.mark.parametrize("y,want", [
    # person by seed noise alone (worked in the docstring's terms): seed means 2/3 and 1/3 about 1/2, so
    # MS_s = 3 (1/36 + 1/36) = 1/6; the residuals +-1/3, +-1/6, +-1/6 give MS_e = (1/3) / 2 = 1/6; the seed part
    # is 0, and a run's variance on 3 people is MS_e / 3 = 1/18, the measured sd_runs^2
    ([[1, 0], [0, 0], [1, 1]], (3, 2, math.sqrt(1 / 18), 0.0, math.sqrt(1 / 6), 1 / 18)),
    # a seed moving two of three people: seed means 1 and 1/3, MS_s = 3 (1/9 + 1/9) = 2/3; residuals
    # +-1/6, +-1/6, +-1/3, MS_e = 1/6; seed part sqrt((2/3 - 1/6) / 3) = sqrt(1/6)
    ([[1, 0], [1, 0], [1, 1]], (3, 2, math.sqrt(2 / 9), math.sqrt(1 / 6), math.sqrt(1 / 6), 1 / 6 + 1 / 18)),
    # every person moved alike: run means 1 and 0 (SD sqrt(1/2)), all of it the seed part, no residual
    ([[1, 0], [1, 0]], (2, 2, math.sqrt(1 / 2), math.sqrt(1 / 2), 0.0, 1 / 2)),
])
def test_seed_spread_by_hand(y, want):
    r = seed_spread(_tables(y))
    got = (r["people"], r["seeds"], r["sd_runs"], r["seed_part"], r["residual"], run_variance(r, r["people"]))
    assert got == pytest.approx(want)


def test_seed_spread_tracks_a_two_way_model_and_refuses_bad_input():
    rng = np.random.default_rng(1)
    y = rng.random((40, 5))
    r = seed_spread(_tables(y))
    assert r["sd_runs"] == pytest.approx(np.std([people_estimate(t) for t in _tables(y)], ddof=1))
    # Monte Carlo: the seed part's square estimates the whole-model variance sb^2, and run_variance on another
    # number of people the variance of a run's mean on that many
    P, K, sb, se = 30, 6, 0.04, 0.2
    parts, runs = [], []
    for _ in range(2000):
        y = rng.normal(0, sb, (1, K)) + rng.normal(0, se, (P, K))
        r = seed_spread(_tables(y))
        parts.append(r["seed_part"] ** 2)
        runs.append(run_variance(r, 4 * P))
    assert np.mean(parts) == pytest.approx(sb ** 2, rel=0.15)
    assert np.mean(runs) == pytest.approx(sb ** 2 + se ** 2 / (4 * P), rel=0.1)
    with pytest.raises(ValueError, match="at least two seeds, got 1"):
        seed_spread(_tables(y)[:1])
    with pytest.raises(ValueError, match="equal weights"):
        seed_spread([{**t, "weight": [0.5] + [0.5 / 29] * 29} for t in _tables(y)])
    with pytest.raises(ValueError, match="same people"):
        seed_spread([_tables(y)[0], {**_tables(y)[1], "pid": list(range(1, 31))}])
    with pytest.raises(ValueError, match="at least two people, got 1"):
        seed_spread(_tables([[1, 0]]))
    with pytest.raises(ValueError, match="non-finite rank1"):
        seed_spread(_tables(np.where(y == y[0, 0], np.nan, y)))
    with pytest.raises(ValueError, match="metric must be one of"):
        seed_spread(_tables(y), "mINP")
    with pytest.raises(ValueError, match="people must be at least 1"):
        run_variance(seed_spread(_tables(y)), 0)


def test_bad_and_degenerate_inputs():
    one = person_table([_draw([0, 1], [1.0, 0.5])], [4, 4])
    assert people_estimate(one) == pytest.approx(0.5) and people_se(one) is None   # one person: undefined
    with pytest.raises(ValueError, match="metric must be one of"):
        people_se(one, "mINP")
    with pytest.raises(ValueError, match="no gallery draws"):
        person_table([], [1])
    with pytest.raises(ValueError, match=r"per-query match_rank of shape \(2,\) for 3 query identities"):
        person_table([_draw([0, 1], [1.0, 0.5])], [1, 2, 3])
    with pytest.raises(ValueError, match=r"per-query ap of shape \(3,\) for 2"):
        person_table([_draw([0, 1], [1.0, 0.5, 0.2])], [1, 2])
    with pytest.raises(ValueError, match="one identity per query"):
        person_table([_draw([0], [1.0])], 7)
    with pytest.raises(ValueError, match="rank_metrics result with its per-query"):
        person_table([{"cmc": [1.0], "mAP": 1.0}], [1])
    with pytest.raises(ValueError, match="scores no query"):
        person_table([_draw([-1, -1], [np.nan, np.nan])], [1, 2])
    with pytest.raises(ValueError, match="no scored person"):
        people_se({"pid": [], "weight": [], "rank1": [], "mAP": []})


def test_runners_attach_people_tables_that_reproduce_their_numbers(tmp_path):
    reader = FakeSYSU(tmp_path)
    res = evaluate_sysu(HalvesNet(), reader, EVAL, trials=3, transform=to_tensor, progress=False)
    for mode in ("all", "indoor"):
        people = res[mode]["people"]
        assert people["pid"] == [1, 2, 3]
        assert people_estimate(people) == pytest.approx(res[mode]["mean"]["cmc"][0], abs=1e-12)
        assert people_estimate(people, "mAP") == pytest.approx(res[mode]["mean"]["mAP"], abs=1e-12)
    within = evaluate_within_visible(HalvesNet(), reader, EVAL, trials=2, transform=to_tensor, progress=False)
    assert people_estimate(within["visible"]["people"]) == pytest.approx(within["visible"]["mean"]["cmc"][0])
    regdb = evaluate_regdb(HalvesNet(), FakeRegDB(tmp_path), EVAL, transform=to_tensor, progress=False)
    for d in ("v2t", "t2v"):
        assert people_estimate(regdb[d]["people"], "mAP") == pytest.approx(regdb[d]["mAP"], abs=1e-12)


def test_people_line_by_hand():
    from vireid_lib.evaluation.report import people_line

    # Two people, weights 2/3 and 1/3, Rank-1 1/4 and 1: SE 1/3 (influences -1/6 and 1/6).
    two = {"pid": [1, 2], "weight": [2 / 3, 1 / 3], "rank1": [0.25, 1.0], "mAP": [0.5, 0.5]}
    one = {"pid": [3], "weight": [1.0], "rank1": [1.0], "mAP": [1.0]}
    line = people_line({"all": {"people": two}, "indoor": {"people": one}})
    assert line.startswith("Rank-1 standard error over draws of the test people, in points: "
                           "sysu/all 33.3 (2 people), sysu/indoor undefined (1 person);")
    assert people_line({"v2t": {"cmc": [1.0], "mAP": 1.0, "mINP": 1.0}}) == ""   # saved without tables
