"""The helpers behind the notebooks' computed prose: the protocol's ranking of one query, a correct match and
a failure to explain, what a Grad-CAM map weights, how the loss terms moved, the committed demo's numbers and
the ablation conclusions."""

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from vireid_lib import ablation, explain
from vireid_lib.config import DataConfig
from vireid_lib.data import open_dataset
from vireid_lib.data.records import Record
from vireid_lib.demo import COMMITTED_RESULTS, demo_metrics
from vireid_lib.evaluation.metrics import rank_metrics, top_k
from vireid_lib.presets import notebook_config
from vireid_lib.runs import loss_trend


def _rec(pid, camid, modality="visible", i=0):
    return Record(path=f"/x/{pid}_{camid}_{i}.jpg", pid=pid, camid=camid, modality=modality)


# ---------------------------------------------------------------------------------------------- ranking


def test_top_k_of_one_query_drops_cam2_for_cam3_queries_and_breaks_ties_by_index():
    d = np.array([0.1, 0.5, 0.5, 0.2])
    cams = [2, 1, 4, 2]
    assert top_k(d, 3, cams, "sysu").tolist() == [1, 2]      # cam2 images never ranked
    assert top_k(d, 6, cams, "sysu").tolist() == [0, 3, 1, 2]
    assert top_k(d, 3, cams, "regdb").tolist() == [0, 3, 1, 2]  # RegDB keeps everything
    assert top_k(d, 6, cams, "sysu", k=2).tolist() == [0, 3]
    with pytest.raises(ValueError, match="distances"):
        top_k(d[:3], 3, cams, "sysu")


def test_top_k_of_one_query_agrees_with_rank_metrics():
    rng = np.random.default_rng(0)
    q_pids, g_pids = rng.integers(0, 5, 12), np.repeat(np.arange(5), 3)
    q_cams, g_cams = rng.choice([3, 6], 12), np.tile([1, 2, 4], 5)
    dist = rng.random((12, 15)).round(1)  # ties on purpose
    m = rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol="regdb")
    for i in range(12):
        order = top_k(dist[i], q_cams[i], g_cams, "regdb")
        first = int(np.flatnonzero(g_pids[order] == q_pids[i])[0]) if (g_pids == q_pids[i]).any() else -1
        assert first == m["match_rank"][i]


def test_pick_cases_reads_the_protocol_ranking():
    query = [_rec(0, 3, "infrared"), _rec(1, 6, "infrared"), _rec(2, 6, "infrared")]
    gallery = [_rec(1, 2), _rec(0, 1), _rec(1, 1), _rec(2, 4)]
    dist = np.array([[0.0, 0.1, 0.9, 0.9],    # cam3: the cam2 image of id 1 is removed, so id 0 comes first
                     [0.9, 0.9, 0.1, 0.9],    # correct
                     [0.9, 0.1, 0.9, 0.5]])   # id 0 before its own image: a failure
    cases = explain.pick_cases(dist, query, gallery, "sysu")
    assert (cases.correct, cases.failure) == (0, 2)
    assert cases.match_rank.tolist() == [0, 0, 1]
    none_wrong = explain.pick_cases(dist[:2], query[:2], gallery, "sysu")
    assert none_wrong.failure is None


# ---------------------------------------------------------------------------------------------- maps


def test_stripe_and_central_mass():
    uniform = np.ones((6, 8))
    assert explain.stripe_mass(uniform).tolist() == [[1 / 3, 1 / 3, 1 / 3]]
    assert explain.central_mass(uniform)[0] == pytest.approx(0.5)
    top_left = np.zeros((6, 8))
    top_left[0, 0] = 1.0
    assert explain.stripe_mass(top_left)[0].tolist() == [1.0, 0.0, 0.0]
    assert explain.central_mass(top_left)[0] == 0.0
    empty = np.zeros((2, 6, 8))
    assert explain.stripe_mass(empty).tolist() == [[0.0] * 3] * 2
    assert explain.central_mass(empty).tolist() == [0.0, 0.0]
    assert explain.central_columns(8) == slice(2, 6)
    with pytest.raises(ValueError):
        explain.stripe_mass(uniform, parts=7)


def test_describe_map_says_what_the_map_weights():
    cam = np.zeros((6, 8))
    cam[2:4, 3:5] = 1.0
    text = explain.describe_map(cam)
    assert "100% of its weight in the central half" in text and "uniform: 50%" in text
    assert "the middle third (100%)" in text
    assert "no weight" in explain.describe_map(np.zeros((6, 8)))
    with pytest.raises(ValueError, match="one map"):
        explain.describe_map(np.zeros((2, 6, 8)))


# ---------------------------------------------------------------------------------------------- training log


def test_loss_trend_compares_the_two_ends():
    records = [{"event": "step", "epoch": 0, "step": s, "lr": 0.1, "images_per_s": 5.0, "id": 10.0 - s,
                "tri": 1.0} for s in range(1, 11)]
    trend = loss_trend(records, window=2)
    assert set(trend) == {"id", "tri"}
    assert trend["id"] == (pytest.approx(8.5), pytest.approx(0.5))
    assert trend["tri"] == (1.0, 1.0)
    assert loss_trend(records[:2], window=50)["id"] == (9.0, 8.0)   # cut to one step at each end
    with pytest.raises(ValueError, match="no training steps"):
        loss_trend([])


# ---------------------------------------------------------------------------------------------- demo results


def _metric(r1):
    return {"cmc": [r1] + [1.0] * 19, "mAP": r1 / 2, "mINP": r1 / 4}


def test_demo_metrics_reads_both_shapes(tmp_path):
    summary = lambda r1: {"mean": _metric(r1), "std": _metric(0.0), "per_trial": []}  # noqa: E731
    payload = {"config": {"name": "cpu-demo"}, "results": {
        "untrained": {"sysu/all": summary(0.1), "regdb/v2t": {**_metric(0.05), "num_valid_queries": 3}},
        "trained": {"sysu/all": summary(0.4), "regdb/v2t": {**_metric(0.3), "num_valid_queries": 3}},
        "within_visible": {"untrained": summary(0.2), "trained": summary(0.8)}}}
    path = tmp_path / "demo.results.json"
    path.write_text(json.dumps(payload))
    m = demo_metrics(path)
    assert m["trained"]["sysu/all"]["rank1"] == 0.4 and m["trained"]["regdb/v2t"]["mAP"] == 0.15
    assert m["untrained"]["within-visible"]["rank1"] == 0.2 and m["trained"]["within-visible"]["rank1"] == 0.8
    assert m["config"] == {"name": "cpu-demo"}


@pytest.mark.skipif(not COMMITTED_RESULTS.is_file(), reason="no committed demo results")
def test_committed_demo_results_are_readable():
    m = demo_metrics()
    for name in ("untrained", "trained"):
        assert {"sysu/all", "sysu/indoor", "regdb/v2t", "regdb/t2v"} <= set(m[name])
        assert all(0.0 <= v <= 1.0 for s in m[name].values() for v in s.values())


# ---------------------------------------------------------------------------------------------- ablation conclusions


def _summary(grid, cells, setting="regdb/v2t"):
    """A summary as :func:`ablation.summarize` writes it, from Rank-1 and mAP values per seed."""
    out = {}
    for name, values in cells.items():
        vals = {m: list(map(float, v)) for m, v in values.items()}
        n = len(vals["rank1"])
        out[name] = {"n": n, "seeds": list(range(n)), "values": {setting: vals},
                     "mean": {setting: {m: float(np.mean(v)) for m, v in vals.items()}},
                     "std": {setting: {m: float(np.std(v, ddof=1)) for m, v in vals.items()}}}
    return {"grid": grid, "cells": out}


def _cells(**means):
    """Cells with Rank-1 ``mean + spread`` over three seeds, the spread -1, 0, +1 points turned one seed
    further for each cell, so per-seed differences of two cells vary (std 1.73 points, paired SE 1.0)."""
    spread = np.array([-0.01, 0.0, 0.01])
    return {name: {"rank1": m + np.roll(spread, i), "mAP": m / 2 + np.roll(spread, i)}
            for i, (name, m) in enumerate(means.items())}


def test_compare_counts_each_difference_against_two_standard_errors():
    s = _summary("table3", _cells(base=0.10, **{"base+p": 0.20}))
    c = ablation.compare(s, "base+p", "base", ["regdb/v2t"], ("rank1", "mAP"))
    assert (c.larger, c.smaller, c.within, c.outcome) == (2, 0, 0, "supported")
    assert c.differences["regdb/v2t", "rank1"][0] == pytest.approx(10.0)
    assert ablation.compare(s, "base", "base+p", ["regdb/v2t"]).outcome == "contradicted"
    noisy = _summary("table3", {"base": {"rank1": [0.0, 0.2], "mAP": [0.0, 0.2]},
                                "base+p": {"rank1": [0.05, 0.2], "mAP": [0.05, 0.2]}})
    assert ablation.compare(noisy, "base+p", "base", ["regdb/v2t"]).outcome == "within the noise"


def test_conclusions_name_outcomes_and_missing_grids():
    t3 = _summary("table3", _cells(base=0.10, **{"base+p": 0.20, "full": 0.10}))
    # MCA and PCA move against base+p from seed to seed: per-seed differences from base+p of +2.5, +0.5, -1.5
    # points (MCA, mean +0.5) and +1.5, -0.5, -2.5 (PCA, mean -0.5), std 2.0, SE 1.15: within two SE of zero.
    for name, mean in (("base+p+mca", 0.205), ("base+p+pca", 0.195)):
        t3["cells"][name] = _summary("table3", {name: {"rank1": mean - np.array([-0.01, 0.0, 0.01]),
                                                       "mAP": mean / 2 - np.array([-0.01, 0.0, 0.01])}})["cells"][name]
    text = ablation.conclusions({"table3": t3})
    assert "supported: base+p > base" in text
    assert "contradicted: " in text and "full > base+p" in text
    assert "within the noise: base+p+mca > base+p, base+p+pca > base+p" in text
    assert "No results yet for: table4, parts, options." in text
    assert "table3 order by mean Rank-1" in text
    assert ablation.conclusions({}) == "No grid has results yet: nothing to conclude."


def test_conclusions_state_the_paired_error_and_the_seeds_a_gain_needs():
    """base 30, 40, 50 and base+p 34, 42, 56 (Rank-1 %, seeds 0-2): per-seed differences 4, 2, 6, s_d = 2.0,
    paired SE 2 / sqrt(3) = 1.155 against the unpaired sqrt((10^2 + 11.14^2) / 3) = 8.64, ratio 0.13; a gain
    d clears two SE in four grids of five with 8 s_d^2 / d^2 seeds: 70 for 0.68, 2 for 4.56."""
    t3 = _summary("table3", {"base": {"rank1": [0.30, 0.40, 0.50], "mAP": [0.1, 0.2, 0.3]},
                             "base+p": {"rank1": [0.34, 0.42, 0.56], "mAP": [0.1, 0.2, 0.3]}})
    text = ablation.conclusions({"table3": t3})
    assert "(median 0.13 of the unpaired" in text
    assert "s_d = 2.0 points" in text and ": 70 for the paper's smallest gain (0.68), 2 for its largest (4.56)." in text
    assert "regdb/v2t R1 +4.00 ± 1.15" in text


def test_an_option_that_computes_the_default_is_no_comparison():
    """An option whose every seed gives the default's numbers exactly (loss.mse_reduction=mean on a preset whose
    eq. (12) already takes the mean) is said to be the default, not read as a measured difference of zero; one
    number apart is compared as usual."""
    default = {"rank1": [0.30, 0.40, 0.50], "mAP": [0.1, 0.2, 0.3]}
    s = _summary("options", {"default": default, "mse_reduction=mean": default,
                             "pca_mode=gate": {"rank1": [0.30, 0.40, 0.51], "mAP": [0.1, 0.2, 0.3]}})
    from vireid_lib.ablation.paper import same_as_default

    assert same_as_default(s, "mse_reduction=mean") and not same_as_default(s, "pca_mode=gate")
    text = ablation.conclusions({"options": s})
    assert ("- mse_reduction=mean: on every seed both cells hold, every number is the default's, so on this preset "
            "the option computes what the default does: no comparison.") in text
    assert "mse_reduction=mean instead of the default" not in text
    assert "- pca_mode=gate instead of the default (pca_mode=gate - default): regdb/v2t R1 +0.33" in text
    # over the seeds both hold: a default with more seeds (its first three the option's) is still the same
    more = _summary("options", {"default": {"rank1": [0.30, 0.40, 0.50, 0.2], "mAP": [0.1, 0.2, 0.3, 0.4]},
                                "x": default, "y": {"rank1": [0.40, 0.50, 0.2], "mAP": [0.2, 0.3, 0.4]}})
    assert same_as_default(more, "x")
    more["cells"]["y"]["seeds"] = [1, 2, 3]          # the default's seeds 1-3, value by value
    assert same_as_default(more, "y")
    more["cells"]["y"]["seeds"] = [0, 1, 2]          # the same values on other seeds: not the same runs
    assert not same_as_default(more, "y")


def test_conclusions_count_cells_against_the_one_point_standard_error():
    """Rank-1 values -1, 0, +1 points around the mean: std 1 point, SE 1 / sqrt(3) = 0.58; -4, 0, +4: SE 2.31."""
    t4 = _summary("table4", {**_cells(global_=0.30, local=0.20),
                             "both": {"rank1": [0.26, 0.30, 0.34], "mAP": [0.1, 0.1, 0.1]}})
    text = ablation.conclusions({"table4": t4})
    assert "at most 1 point in 2 of 3 cells and settings" in text
    assert "the largest per grid: table4 2.31 (both, regdb/v2t, 3 seeds)." in text


# ---------------------------------------------------------------------------------------------- the notebooks' prose

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COMPUTED = ("00_quickstart", "03_training", "05_ablations", "06_gradcam", "07_retrieval_browser")
TYPED = re.compile(r"\d+(\.\d+)?\s*%|ResNet-?18|resnet18|barely trained|stays low|\b124 (training )?steps|\b3 seeds"
                   r"|three seeds", re.IGNORECASE)


def _sources(name, kind):
    return [c.source for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells if c.cell_type == kind]


@pytest.mark.parametrize("name", COMPUTED)
def test_prose_types_no_result_numbers(name):
    """Results and the recipe change; the prose of these notebooks prints them from code instead of typing them."""
    typed = [m.group(0) for source in _sources(name, "markdown") for m in TYPED.finditer(source)]
    assert not typed, f"{name}: markdown types {typed}; print the number from a code cell instead"


def test_ablation_conclusions_are_computed():
    code = "\n".join(_sources("05_ablations", "code"))
    assert "conclusions(summaries" in code


# The notebooks built on cpu-demo compare their trained model with the network before training, which is the
# preset's start (model.pretrained="synthetic-visible"), not random weights. The committed results keep those
# rows under the key "untrained" (demo["untrained"]); the words around them must not call them that.
START_NOTEBOOKS = {"00_quickstart": ("starting from", "cfg.model.pretrained or 'random weights'",
                                     '"before training": before["all"]', "(before -> after training)"),
                   "06_gradcam": ("what the start (the shipped visible-only weights)", "little more than what the start "),
                   "07_retrieval_browser": ('"before training": start', "model before training: the maps show what "
                                            "its start responds to")}
CALLED_UNTRAINED = re.compile(r"untrained|random weights respond", re.IGNORECASE)
RESULTS_KEY = re.compile(r"""demo\[["']untrained["']\]""")


def called_untrained(source: str) -> list[str]:
    """Where ``source`` calls the network before training untrained (the results' key ``demo["untrained"]``
    aside)."""
    return CALLED_UNTRAINED.findall(RESULTS_KEY.sub("", source))


def test_the_untrained_check_fails_on_the_old_forms():
    assert called_untrained('models = {"trained (notebook 03)": trained, "untrained": untrained}') == ["untrained"] * 2
    assert called_untrained("## Evaluation: SYSU-MM01 protocol, untrained vs trained") == ["untrained"]
    assert called_untrained("the maps show what random weights respond to.") == ["random weights respond"]
    assert called_untrained('dc, (u, t) = demo["config"], (demo["untrained"], demo["trained"])') == []
    assert called_untrained("starting from {cfg.model.pretrained or 'random weights'}") == []


@pytest.mark.parametrize("name", sorted(START_NOTEBOOKS))
def test_the_network_before_training_is_called_by_its_start(name):
    text = "\n".join(_sources(name, "markdown") + _sources(name, "code"))
    assert not called_untrained(text), f"{name}: the network before training is cpu-demo's start, not untrained"
    missing = [s for s in START_NOTEBOOKS[name] if s not in text]
    assert not missing, f"{name}: no longer says {missing}"
    # the prose names the shipped start: true only while the notebooks' preset starts from it
    assert notebook_config(smoke=True).model.pretrained == "synthetic-visible"


@pytest.mark.parametrize("name", ("06_gradcam", "07_retrieval_browser"))
def test_rankings_follow_the_protocol(name):
    """A plain argsort would show a cam3 query its cam2 gallery images, which SYSU-MM01 removes."""
    code = "\n".join(_sources(name, "code"))
    assert "np.argsort" not in code
    assert "pick_cases(" in code


def test_notebook_06_ranks_every_query_with_top_k():
    code = "\n".join(_sources("06_gradcam", "code"))
    assert code.count("order = top_k(") == 2, "both rankings of notebook 06 come from top_k"
    assert not re.search(r"sort(ed)?\(\s*-?\s*dist", code), "a distance row sorted by hand skips the cam rule"


def test_notebook_06_ranking_on_its_own_data_equals_the_protocol():
    """The data notebook 06 ranks in smoke mode (synthetic SYSU-MM01, all-search, trial 0), any distances:
    the order its ``top_k`` calls return is the one rank_metrics scores, query by query."""
    reader = open_dataset(DataConfig(dataset="sysu", synthetic_smoke=True))
    query, gallery = reader.query(), reader.gallery(mode="all", trial=0)
    q_pids, g_pids = np.array([r.pid for r in query]), np.array([r.pid for r in gallery])
    q_cams, g_cams = [r.camid for r in query], [r.camid for r in gallery]
    dist = np.random.default_rng(0).integers(0, 6, (len(query), len(gallery))) / 6.0  # ties on purpose
    protocol = rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol="sysu")["match_rank"]
    plain_top1_is_cam2 = 0
    for i in range(len(query)):
        order = top_k(dist[i], q_cams[i], g_cams, "sysu")  # as the notebook calls it
        hits = np.flatnonzero(g_pids[order] == q_pids[i])
        identity_rank = len(set(g_pids[order[:hits[0]]])) if len(hits) else -1
        assert identity_rank == protocol[i], f"query {i}"
        plain_top1_is_cam2 += q_cams[i] == 3 and g_cams[np.argsort(dist[i], kind="stable")[0]] == 2
    assert plain_top1_is_cam2 > 0, "the data must hold a case where the cam rule changes the top match"
