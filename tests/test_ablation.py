"""Ablation grids: which configs each grid makes, shared trainings, aggregation checked by hand, resumption,
and a smoke grid end to end through the command line."""

import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vireid_lib import ablation
from vireid_lib.ablation import (GRIDS, Run, difference, format_summary, metrics_of, plan, resolve_jobs, result_path,
                                 run_grid, summarize, table3_comparison, train_dir, train_key)
from vireid_lib.ablation.paper import paired_differences
from vireid_lib.ablation.readme import grids_line
from vireid_lib.ablation.run import _check_not_stale
from vireid_lib.cli import main
from vireid_lib.config import apply_overrides
from vireid_lib.data.synthetic import GENERATOR_VERSION
from vireid_lib.presets import preset


def _by_cell(runs):
    return {r.cell.name: r.cfg for r in runs}


def test_table3_makes_the_papers_variants():
    cfgs = _by_cell(plan("table3", [0]))
    assert list(cfgs) == ["base", "base+p", "base+p+mca", "base+p+pca", "full"]
    #                 (mca stages, pca, local branch), written out from the paper's Table 3
    expected = {"base": ((), False, False), "base+p": ((), False, True), "base+p+mca": ((2, 3), False, True),
                "base+p+pca": ((), True, True), "full": ((2, 3), True, True)}
    for name, (mca, pca, local) in expected.items():
        m = cfgs[name].model
        assert (m.mca_stages, m.pca, m.local_branch) == (mca, pca, local), name
        assert m.parts == 3 and m.arch == "resnet10"
    assert len({train_key(c) for c in cfgs.values()}) == 5


def test_table4_reevaluates_the_full_model():
    full = _by_cell(plan("table3", [0]))["full"]
    cfgs = _by_cell(plan("table4", [0]))
    assert {n: c.eval.branch for n, c in cfgs.items()} == {"global": "global", "local": "local", "both": "both"}
    for c in cfgs.values():
        assert c.model == full.model and c.loss == full.loss and c.train == full.train
        assert train_key(c) == train_key(full)   # no training of its own


def test_parts_and_options_grids():
    full_key = train_key(_by_cell(plan("table3", [0]))["full"])
    parts = _by_cell(plan("parts", [0]))
    assert {n: c.model.parts for n, c in parts.items()} == {"P=1": 1, "P=2": 2, "P=3": 3, "P=6": 6}
    assert all(c.model.pca and c.model.local_branch and c.model.mca_stages == (2, 3) for c in parts.values())
    assert train_key(parts["P=3"]) == full_key
    options = _by_cell(plan("options", [0]))
    assert train_key(options["default"]) == full_key
    changed = {n: (c.model.pca_mode, c.model.mca_scale, c.loss.triplet) for n, c in options.items()
               if n in ("default", "pca_mode=gate", "mca_scale=learnable", "triplet=weighted")}
    assert changed == {"default": ("add", "none", "batch_hard"), "pca_mode=gate": ("gate", "none", "batch_hard"),
                       "mca_scale=learnable": ("add", "learnable", "batch_hard"),
                       "triplet=weighted": ("add", "none", "weighted")}


def test_plan_is_seed_major_and_overrides_apply_under_the_cells():
    runs = plan("parts", [2, 0], overrides=["train.lr=0.02", "model.parts=4"])
    assert [(r.cell.name, r.seed) for r in runs] == [(c.name, s) for s in (2, 0) for c in GRIDS["parts"]]
    assert all(r.cfg.train.seed == r.seed and r.cfg.train.lr == 0.02 for r in runs)
    assert [r.cfg.model.parts for r in runs[:4]] == [1, 2, 3, 6]   # the cell wins over --set
    smoke = plan("table3", [0], smoke=True)[0].cfg
    assert smoke.train.max_steps_per_epoch == 1 and smoke.data.height % 96 == 0


@pytest.mark.parametrize("grid, seeds, message", [("table5", [0], "unknown grid"), ("table3", [], "at least one seed"),
                                                  ("table3", [0, 0], "distinct"), ("table3", [-1], "non-negative")])
def test_plan_rejects_bad_input(grid, seeds, message):
    with pytest.raises(ValueError, match=message):
        plan(grid, seeds)


def test_train_key_is_pinned_across_later_config_fields():
    """A literal key: the table3 base cell's training folder as committed grids name it. A config field added
    later (synthetic_outdoor_daylight at its default 0) must not rename it, which a key rebuilt from today's
    config cannot catch."""
    assert train_key(_by_cell(plan("table3", [0]))["base"]) == "5fe52932de"


def test_train_key_ignores_speed_settings_only():
    cfg = preset("ablation")
    same = apply_overrides(cfg, ["name=x", "data.num_workers=0", "data.cache=false", "train.device=cpu",
                                 "eval.flip=false", "eval.branch=local"])
    assert train_key(same) == train_key(cfg)
    for change in ("train.lr=0.01", "train.epochs=9", "data.synthetic_seed=1", "loss.margin=0.5", "train.seed=1"):
        assert train_key(apply_overrides(cfg, [change])) != train_key(cfg), change


def test_cpu_runs_one_at_a_time():
    cfg = apply_overrides(preset("ablation"), ["train.device=cpu"])
    jobs, devices, reason = resolve_jobs(cfg)
    assert (jobs, devices) == (1, [None]) and "CPU" in reason
    assert resolve_jobs(cfg, 2)[:2] == (2, [None, None])
    with pytest.raises(ValueError, match="jobs"):
        resolve_jobs(cfg, 0)


def test_metrics_of_reads_ranks_from_the_cmc():
    cmc = [0.1 * (i + 1) / 3 for i in range(25)]
    result = {"protocol": "regdb", "trial": 1, "v2t": {"cmc": cmc, "mAP": 0.3, "mINP": 0.2},
              "t2v": {"cmc": [0.5, 0.7, 1.0], "mAP": 0.6, "mINP": 0.4}}
    m = metrics_of(result)
    assert m["regdb/v2t"] == pytest.approx({"rank1": cmc[0], "rank10": cmc[9], "rank20": cmc[19], "mAP": 0.3,
                                            "mINP": 0.2})
    assert m["regdb/t2v"]["rank10"] == 1.0 and m["regdb/t2v"]["rank20"] == 1.0   # a gallery shorter than 20


def _fake_record(out, run, rank1, m_ap, version=GENERATOR_VERSION, steps=None):
    metrics = {"regdb/v2t": {"rank1": rank1, "rank10": 0.9, "rank20": 1.0, "mAP": m_ap, "mINP": 0.1}}
    record = {"format": ablation.RUN_FORMAT, "grid": run.grid, "cell": run.cell.name, "seed": run.seed,
              "overrides": list(run.cell.overrides), "metrics": metrics, "config": run.cfg.to_dict(),
              "train_dir": f"w/{run.cell.slug}-{run.seed}", "command": "vireid ablate --grid table3",
              "wall_seconds": {"train": 10.0, "eval": 2.0, "train_reused": False, "eval_reused": False},
              "machine": {"cpu": "x", "nproc": 2, "load_average_1min": 1.0}}
    if version is not None:
        record["synthetic_generator_version"] = version
    if steps is not None:
        record["steps"] = steps
    path = result_path(out, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def test_summary_mean_and_std_by_hand(tmp_path):
    runs = plan("table3", [0, 1, 2])
    values = {"base": ([0.5, 0.6, 0.7], [0.2, 0.4, 0.9]), "full": ([0.8, 0.8, 0.8], [0.5, 0.5, 0.5])}
    for run in runs:
        if run.cell.name in values:
            r1, m_ap = values[run.cell.name]
            _fake_record(tmp_path, run, r1[run.seed], m_ap[run.seed])
    done = [r for r in runs if result_path(tmp_path, r).is_file()]
    s = summarize("table3", done, tmp_path, seeds=[0, 1, 2])
    base = s["cells"]["base"]
    assert base["seeds"] == [0, 1, 2] and base["n"] == 3
    assert base["mean"]["regdb/v2t"]["rank1"] == pytest.approx(0.6)
    assert base["std"]["regdb/v2t"]["rank1"] == pytest.approx(0.1)              # sample std, ddof=1
    assert base["mean"]["regdb/v2t"]["mAP"] == pytest.approx(0.5)
    assert base["std"]["regdb/v2t"]["mAP"] == pytest.approx(math.sqrt((0.09 + 0.01 + 0.16) / 2))
    assert s["cells"]["full"]["std"]["regdb/v2t"]["rank1"] == pytest.approx(0.0)
    assert base["se"]["regdb/v2t"]["rank1"] == pytest.approx(0.1 / math.sqrt(3))   # std / sqrt(seeds)
    assert list(s["cells"]) == ["base", "full"]
    assert {(m["cell"], m["seed"]) for m in s["missing"]} == {(c, k) for c in ("base+p", "base+p+mca", "base+p+pca")
                                                               for k in (0, 1, 2)}
    assert s["wall_seconds"] == {"train": 60.0, "eval": 12.0, "runs": 6}
    # full - base in points; full is constant, so the paired standard error (std of the per-seed differences
    # 30, 20, 10 over sqrt(3)) equals the unpaired sqrt(s_a^2/n_a + s_b^2/n_b) = sqrt(0 + 0.1^2/3) * 100
    d, se = difference(s, "full", "base", "regdb/v2t")
    assert d == pytest.approx(20.0) and se == pytest.approx(100 * 0.1 / math.sqrt(3))
    table = table3_comparison(s)
    assert "| full | 80.00 ± 0.00 | +20.00 ± 5.77 | +4.56 |" in table
    assert "| base | 3 | 60.00 ± 10.00 | 50.00 ± 36.06 |" in format_summary(s, "regdb/v2t")
    assert format_summary(s, "regdb/v2t").splitlines()[2].endswith("| 5.77 |")     # R1 SE in points
    assert ablation.verdict(s, "full", "base", "regdb/v2t") == (
        "full - base: +20.00 R1 points ± 5.77 (standard error), 3.5 SE: larger than the seed-to-seed noise")
    assert "within the seed-to-seed noise" in ablation.verdict(s, "full", "base", "regdb/v2t", "mAP")
    with pytest.raises(KeyError, match="base\\+p"):
        difference(s, "base+p", "base", "regdb/v2t")


def _cell(seeds, rank1):
    """A summary cell as :func:`summarize` writes it, Rank-1 only, one value per seed."""
    sd = float(np.std(rank1, ddof=1)) if len(rank1) > 1 else None
    return {"seeds": list(seeds), "n": len(rank1), "values": {"regdb/v2t": {"rank1": list(rank1)}},
            "mean": {"regdb/v2t": {"rank1": float(np.mean(rank1))}}, "std": {"regdb/v2t": {"rank1": sd}}}


def test_difference_is_paired_by_seed_by_hand():
    """a = 0.5, 0.6, 0.7 and b = 0.4, 0.5, 0.7 on seeds 0-2: per-seed differences 10, 10, 0 points, mean
    6.67, std sqrt((3.33^2 * 2 + 6.67^2) / 2) = 5.77, paired SE 5.77 / sqrt(3) = 3.33. Unpaired, the same
    cells give sqrt(0.1^2 / 3 + 0.1528^2 / 3) = 10.54 points."""
    s = {"grid": "table3", "cells": {"a": _cell([0, 1, 2], [0.5, 0.6, 0.7]), "b": _cell([0, 1, 2], [0.4, 0.5, 0.7])}}
    d, se = difference(s, "a", "b", "regdb/v2t")
    assert d == pytest.approx(20 / 3) and se == pytest.approx(10 / 3)
    d, se = difference(s, "a", "b", "regdb/v2t", paired=False)
    assert d == pytest.approx(20 / 3) and se == pytest.approx(100 * math.sqrt((0.01 + 0.07 / 3) / 3))


def test_difference_pairs_the_shared_seeds_and_falls_back_to_unpaired_without_two():
    # a has seeds 0-2, b has 1-3: paired over seeds 1 and 2, a - b = 0.6 - 0.5 and 0.7 - 0.5, 10 and 20 points:
    # mean 15, std 7.07, SE 7.07 / sqrt(2) = 5 (not the difference of the cell means, 33.3)
    s = {"grid": "g", "cells": {"a": _cell([0, 1, 2], [0.9, 0.6, 0.7]), "b": _cell([1, 2, 3], [0.5, 0.5, 0.2])}}
    assert ablation.paper.paired_differences(s["cells"]["a"], s["cells"]["b"], "regdb/v2t", "rank1") == \
        pytest.approx([10.0, 20.0])
    d, se = difference(s, "a", "b", "regdb/v2t")
    assert d == pytest.approx(15.0) and se == pytest.approx(5.0)
    # one shared seed (b on 2-4) or none (b on 3-5): the unpaired error of the cell means
    unpaired = 100 * math.sqrt(np.var([0.9, 0.6, 0.7], ddof=1) / 3 + np.var([0.5, 0.5, 0.2], ddof=1) / 3)
    for seeds in ([2, 3, 4], [3, 4, 5]):
        s["cells"]["b"]["seeds"] = seeds
        d, se = difference(s, "a", "b", "regdb/v2t")
        assert d == pytest.approx(100 * (0.7333333 - 0.4)) and se == pytest.approx(unpaired)
    # the same seeds, but a summary written before per-seed values were kept: unpaired
    s["cells"]["b"]["seeds"] = [0, 1, 2]
    assert difference(s, "a", "b", "regdb/v2t")[1] != pytest.approx(unpaired)      # paired: differs
    for c in s["cells"].values():
        del c["values"]
    assert difference(s, "a", "b", "regdb/v2t")[1] == pytest.approx(unpaired)


def test_the_same_difference_on_every_seed_stands_out_unless_it_is_zero():
    """Zero paired error (binary-exact values, so the per-seed differences are exactly 12.5 points): a
    constant difference is beyond any noise; identical cells are not."""
    s = {"grid": "table3", "cells": {"base": _cell([0, 1, 2], [0.25, 0.5, 0.75]),
                                     "base+p": _cell([0, 1, 2], [0.375, 0.625, 0.875]),
                                     "full": _cell([0, 1, 2], [0.25, 0.5, 0.75])}}
    assert difference(s, "base+p", "base", "regdb/v2t") == (12.5, 0.0)
    c = ablation.compare(s, "base+p", "base", ["regdb/v2t"], ("rank1",))
    assert (c.larger, c.smaller, c.within, c.outcome) == (1, 0, 0, "supported")
    assert ablation.compare(s, "base", "base+p", ["regdb/v2t"], ("rank1",)).outcome == "contradicted"
    assert difference(s, "full", "base", "regdb/v2t") == (0.0, 0.0)
    assert ablation.compare(s, "full", "base", ["regdb/v2t"], ("rank1",)).outcome == "within the noise"
    assert ablation.verdict(s, "base+p", "base", "regdb/v2t").endswith("(the same on every seed: beyond the noise)")
    assert ablation.verdict(s, "full", "base", "regdb/v2t").endswith("(identical on every seed)")


def test_cells_without_shared_seeds_or_values_are_not_paired():
    a = _cell([0, 1, 2], [0.5, 0.6, 0.7])
    assert paired_differences(a, _cell([3, 4, 5], [0.4, 0.5, 0.7]), "regdb/v2t", "rank1") is None
    # seeds 0 and 1 shared, seed 2 of a and 3 of b left out: 0.5 - 0.4 and 0.6 - 0.5
    assert paired_differences(a, _cell([0, 1, 3], [0.4, 0.5, 0.7]), "regdb/v2t", "rank1") == pytest.approx(
        [10.0, 10.0])
    assert paired_differences(a, _cell([0, 1, 2], [0.4, 0.5, 0.7]), "regdb/t2v", "rank1") is None
    assert paired_differences(a, _cell([0, 1, 2], [0.4, 0.5, 0.7]), "regdb/v2t", "mAP") is None
    short = _cell([0, 1, 2], [0.4, 0.5, 0.7])
    short["values"]["regdb/v2t"]["rank1"] = [0.4, 0.5]
    assert paired_differences(a, short, "regdb/v2t", "rank1") is None
    assert paired_differences(a, _cell([0, 1, 2], [0.4, 0.5, 0.7]), "regdb/v2t", "rank1") == pytest.approx(
        [10.0, 10.0, 0.0])


def test_one_seed_has_no_std(tmp_path):
    run = plan("parts", [4])[0]
    _fake_record(tmp_path, run, 0.3, 0.2)
    s = summarize("parts", [run], tmp_path)
    assert s["cells"]["P=1"]["std"]["regdb/v2t"]["rank1"] is None
    assert difference(s, "P=1", "P=1", "regdb/v2t") == (0.0, None)
    assert "30.00 |" in format_summary(s)


def test_smoke_grid_end_to_end_resumes_and_shares_training(tmp_path, capsys):
    out, work = tmp_path / "out", tmp_path / "work"
    args = ["ablate", "--grid", "table4", "--seeds", "0", "--smoke", "--quiet", "--out", str(out), "--work", str(work)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "| global | 1 |" in text and "| both | 1 |" in text
    runs = plan("table4", [0], smoke=True)
    folder = train_dir(work, runs[0].cfg)
    assert [p.name for p in work.iterdir()] == [folder.name]                     # one training for three cells
    assert len(list(folder.glob("eval-*.json"))) == 3
    records = [json.loads(result_path(out, r).read_text()) for r in runs]
    assert len({r["train_dir"] for r in records}) == 1 and len({r["wall_seconds"]["train"] for r in records}) == 1
    assert all(r["seed"] == 0 and r["machine"]["nproc"] >= 1 and "--grid table4" in r["command"] for r in records)
    assert records[1]["config"]["eval"]["branch"] == "local"
    from vireid_lib.evaluation.people import people_estimate
    for r in records:   # each run keeps its test people's table, which gives back its own number
        assert set(r["people"]) == set(r["metrics"])
        assert all(people_estimate(r["people"][s]) == pytest.approx(r["metrics"][s]["rank1"]) for s in r["metrics"])
    summary = ablation.load_summary(out, "table4")
    assert list(summary["cells"]) == ["global", "local", "both"]
    assert summary["missing"] == [] and summary["cells"]["local"]["mean"] == {
        s: records[1]["metrics"][s] for s in records[1]["metrics"]}
    assert "Command(s)" in (out / "table4" / "summary.md").read_text()

    # a second call skips every finished run
    stamps = [result_path(out, r).stat().st_mtime_ns for r in runs]
    assert main(args) == 0
    assert "3 already done" in capsys.readouterr().out
    assert [result_path(out, r).stat().st_mtime_ns for r in runs] == stamps

    # --summary-only trains nothing and lists what is missing
    assert main([*args[:4], "0", "1", *args[5:], "--summary-only"]) == 0
    assert "summary only" in capsys.readouterr().out
    assert [m["seed"] for m in ablation.load_summary(out, "table4")["missing"]] == [1, 1, 1]
    assert not any(p.name.endswith("seed1") for p in work.iterdir())

    # table3 trains the four other variants and reuses the full model's training and evaluation
    summary = run_grid("table3", [0], out, work, smoke=True, progress=False, echo=lambda line: None)
    assert summary["failed"] == [] and len(summary["cells"]) == 5
    full = json.loads(result_path(out, plan("table3", [0], smoke=True)[-1]).read_text())
    assert full["wall_seconds"]["train_reused"] and full["wall_seconds"]["eval_reused"]
    assert full["metrics"] == records[0]["metrics"]
    assert len(list(work.iterdir())) == 5

    # --cells runs only the cells named; the summary still holds every cell's finished runs, and lists as
    # missing only what was asked
    assert main([*args[:4], "1", *args[5:], "--cells", "global"]) == 0
    assert "1 runs (1 cells x 1 seeds)" in capsys.readouterr().out
    summary = ablation.load_summary(out, "table4")
    assert {c: v["seeds"] for c, v in summary["cells"].items()} == {"global": [0, 1], "local": [0], "both": [0]}
    assert summary["missing"] == [] and "--cells global" in json.loads(
        result_path(out, plan("table4", [1], smoke=True)[0]).read_text())["command"]
    with pytest.raises(ValueError, match=r"'lokal' is not one"):
        plan("table4", [0], cells=["global", "lokal"])


def test_interrupted_training_resumes(tmp_path):
    from vireid_lib.runs import read_log
    from vireid_lib.training import fit

    out, work = tmp_path / "out", tmp_path / "work"
    # The step schedule: under cosine another epoch count is another run, not a resumable one.
    run = plan("table4", [0], smoke=True, overrides=["train.epochs=2", "train.schedule=step"])[0]
    # the first epoch finished, then the process died: last.pt holds epoch 1 of 2
    one_epoch = apply_overrides(run.cfg, ["train.epochs=1"])
    fit(one_epoch, train_dir(work, run.cfg), progress=False, eval_fn=lambda *a: {})
    first = [r for r in read_log(train_dir(work, run.cfg)) if r["event"] == "step"]
    summary = run_grid("table4", [0], out, work, smoke=True, overrides=["train.epochs=2", "train.schedule=step"],
                       progress=False, echo=lambda line: None)
    assert summary["failed"] == [] and len(summary["cells"]) == 3
    steps = [r for r in read_log(train_dir(work, run.cfg)) if r["event"] == "step"]
    assert [r["epoch"] for r in steps] == [0, 1] and steps[0] == first[0]      # epoch 0 kept, epoch 1 added
    assert json.loads(result_path(out, run).read_text())["steps"] == 2


def test_failed_run_is_reported_and_retried(tmp_path, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise FloatingPointError("loss became NaN")

    monkeypatch.setattr("vireid_lib.ablation.run.fit", broken)
    summary = run_grid("table4", [0], tmp_path / "out", tmp_path / "work", smoke=True, progress=False,
                       echo=lambda line: None)
    assert [f["cell"] for f in summary["failed"]] == ["global", "local", "both"]
    assert "loss became NaN" in summary["failed"][0]["error"] and summary["cells"] == {}
    assert "Failed: global seed 0" in (tmp_path / "out" / "table4" / "summary.md").read_text()
    assert main(["ablate", "--grid", "table4", "--seeds", "0", "--smoke", "--quiet", "--out", str(tmp_path / "out"),
                 "--work", str(tmp_path / "work")]) == 1
    assert len(calls) == 2                                                       # retried on the second call


@pytest.mark.slow
def test_two_worker_processes(tmp_path):
    summary = run_grid("table4", [0, 1], tmp_path / "out", tmp_path / "work", smoke=True, jobs=2, progress=False,
                       echo=lambda line: None)
    assert summary["failed"] == [] and summary["missing"] == []
    assert {c: v["seeds"] for c, v in summary["cells"].items()} == {"global": [0, 1], "local": [0, 1], "both": [0, 1]}
    assert len(list((tmp_path / "work").iterdir())) == 2


def test_ablate_and_bench_commands_have_help(capfd):
    with pytest.raises(SystemExit) as e:
        main(["ablate", "--help"])
    text = capfd.readouterr().out
    assert e.value.code == 0 and "table3   base, base+p" in text
    assert all(cell.name in text.replace("\n", " ") for cell in GRIDS["options"])
    assert main(["bench", "--help"]) == 0   # forwarded to python -m benchmarks
    assert "usage: python -m benchmarks" in capfd.readouterr().out


def test_grids_readme_is_written_from_the_summaries(tmp_path):
    runs = plan("table3", [0, 1])
    for run in runs:
        _fake_record(tmp_path, run, 0.1 * (1 + run.seed) + 0.01 * len(run.cell.name), 0.2, version=None)
    (tmp_path / "table3").mkdir(exist_ok=True)
    summary = summarize("table3", runs, tmp_path)
    (tmp_path / "table3" / "summary.json").write_text(json.dumps(summary))
    text = ablation.grids_readme(tmp_path)
    assert format_summary(summary) in text
    assert "resnet10 at width 32" in text and "10 runs" in text
    assert "Grids without results yet: table4, parts, options." in text
    assert "## Conclusions" in text
    assert "(generator version not recorded, written before version 3)" in text
    # records without their steps: the schedule's cap, said as a cap; the start from the config
    assert "resnet10 at width 32 from random weights, 96x48 input" in text and "10 epochs of at most 50 steps" in text
    assert text.startswith("# Ablation results on the synthetic RegDB layout, from random weights\n")


def test_grids_readme_gives_the_steps_its_runs_trained_and_their_start(tmp_path):
    """An epoch of the ablation preset holds at most 50 steps and fewer when the sampler runs out of people (31
    on 50 training identities): the README says what the records say, not the cap, and names the start."""
    runs = plan("table3", [0, 1], overrides=["model.pretrained=synthetic-visible"])
    for run in runs:
        _fake_record(tmp_path, run, 0.3, 0.2, steps=310 if run.seed == 0 else 300)
    summary = summarize("table3", runs, tmp_path)
    assert summary["steps"] == [300, 310]
    (tmp_path / "table3" / "summary.json").write_text(json.dumps(summary))
    text = ablation.grids_readme(tmp_path)
    assert "10 epochs, 300-310 steps a run;" in text and "epochs of at most" not in text
    assert "resnet10 at width 32 from the `synthetic-visible` start, 96x48" in text
    assert text.startswith("# Ablation results on the synthetic RegDB layout, from the `synthetic-visible` start\n")
    assert f"write_grids_readme('{tmp_path}')" in text      # outside the working folder: the path as given


def test_grids_readme_names_the_generator_versions_of_its_runs(tmp_path):
    runs = plan("table3", [0, 1])
    for run in runs:
        _fake_record(tmp_path, run, 0.3, 0.2, version=3 if run.seed == 0 else 2)
    summary = summarize("table3", runs, tmp_path)
    assert summary["synthetic_generator_versions"] == [2, 3]
    (tmp_path / "table3" / "summary.json").write_text(json.dumps(summary))
    assert "identities (generator version 2, 3), dataset seed" in ablation.grids_readme(tmp_path)


def test_a_result_of_another_config_is_not_reused(tmp_path):
    run = plan("parts", [0])[0]
    _fake_record(tmp_path, run, 0.3, 0.2)
    with pytest.raises(ValueError, match="another configuration.*train.lr"):
        ablation.run_grid("parts", [0], out=tmp_path, work=tmp_path / "w", overrides=["train.lr=0.5"],
                          summary_only=True, echo=lambda line: None)


def test_a_result_differing_only_in_speed_settings_is_reused(tmp_path):
    run = plan("parts", [0])[0]
    _fake_record(tmp_path, run, 0.3, 0.2)
    slower = plan("parts", [0], overrides=["data.num_workers=0", "data.cache=false"])[0]
    _check_not_stale(tmp_path, slower)      # no error: the same computation
    with pytest.raises(ValueError, match="model.parts"):
        _check_not_stale(tmp_path, plan("parts", [0])[1]._replace(seed=0, cell=run.cell))


def test_a_record_before_the_adamw_kernel_field_is_the_default_kernel_and_a_mix_is_refused(tmp_path):
    """The committed grids ran with AdamW's default kernel and their records predate train.adamw_kernel: such a
    record reads as that kernel (grids.record_config) and is reused; a record of the fused kernel, which rounds
    otherwise, is refused rather than mixed into a cell of default-kernel runs."""
    run = plan("parts", [0])[0]
    assert run.cfg.train.adamw_kernel == "default"
    _fake_record(tmp_path, run, 0.3, 0.2)
    path = result_path(tmp_path, run)
    record = json.loads(path.read_text())
    assert record["config"]["train"]["adamw_kernel"] == "default"
    del record["config"]["train"]["adamw_kernel"]                      # as the committed records are
    path.write_text(json.dumps(record))
    assert ablation.grids.record_config(record["config"]).train.adamw_kernel == "default"
    assert preset("ablation").train.adamw_kernel == "default" and preset("cpu-demo").train.adamw_kernel == "fused"
    _check_not_stale(tmp_path, run)                                    # reused: the same kernel
    record["config"]["train"]["adamw_kernel"] = "fused"
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="another configuration.*train.adamw_kernel"):
        _check_not_stale(tmp_path, run)


def test_the_adamw_kernel_keys_an_adamw_training_only():
    base = plan("table3", [0])[0].cfg
    fused = apply_overrides(base, ["train.adamw_kernel=fused"])
    assert train_key(fused) != train_key(base)                         # other weights: another training folder
    sgd = preset("paper-regdb")
    assert train_key(apply_overrides(sgd, ["train.adamw_kernel=default"])) == train_key(sgd)


def test_an_sgd_grid_record_before_the_adamw_kernel_field_is_not_stale(tmp_path):
    """record_config reads a missing kernel as the grids' default; an SGD run has no kernel to differ in."""
    run = plan("parts", [0], base="paper-regdb")[0]
    _fake_record(tmp_path, run, 0.3, 0.2)
    path = result_path(tmp_path, run)
    record = json.loads(path.read_text())
    del record["config"]["train"]["adamw_kernel"]
    path.write_text(json.dumps(record))
    _check_not_stale(tmp_path, run)


def test_a_result_of_another_generator_version_is_refused(tmp_path):
    run = plan("parts", [0])[0]
    _fake_record(tmp_path, run, 0.3, 0.2)
    path = result_path(tmp_path, run)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "synthetic_generator_version": 1}))
    with pytest.raises(ValueError, match="generator version 1"):
        ablation.run_grid("parts", [0], out=tmp_path, work=tmp_path / "w", summary_only=True, echo=lambda line: None)
    # A record written before versions were recorded predates version 3: refused too, not reused as done.
    path.write_text(json.dumps({k: v for k, v in record.items() if k != "synthetic_generator_version"}))
    with pytest.raises(ValueError, match="generator version not recorded"):
        _check_not_stale(tmp_path, run)


def test_issue_11_options_are_cells_and_leave_earlier_keys_alone():
    import dataclasses as dc

    options = _by_cell(plan("options", [0]))
    default = options["default"]
    assert options["triplet=adp"].loss.triplet == "adp"
    assert options["center_negatives=other_modality"].loss.center_negatives == "other_modality"
    assert options["mse_reduction=mean"].loss.mse_reduction == "mean"
    assert options["attention_init=identity"].model.attention_init == "identity"
    assert options["attention_lr_mult=0.1"].train.attention_lr_mult == 0.1
    for name, cfg in options.items():   # each cell changes exactly its own key(s) from the default
        if name != "default":
            assert train_key(cfg) != train_key(default), name
    # the fields added by issue 11, at their neutral values, do not enter the training key: the key equals
    # the hash of the config as it was before they existed
    from vireid_lib.ablation.grids import NEUTRAL_DEFAULTS, _hash
    from vireid_lib.data.synthetic import GENERATOR_VERSION

    d = default.to_dict()
    for section, key in NEUTRAL_DEFAULTS:
        d[section].pop(key)
    d.pop("name")
    d.pop("eval")
    # as are the later fields that only change logging (tensorboard) or sit at their default (synthetic_smoke)
    for section, key in (("data", "num_workers"), ("data", "cache"), ("train", "device"), ("train", "tensorboard"),
                         ("data", "synthetic_smoke")):
        d[section].pop(key)
    d["synthetic_generator_version"] = GENERATOR_VERSION
    assert train_key(default) == _hash(d)
    assert train_key(dc.replace(default, train=dc.replace(default.train, select="best-rank1"))) != train_key(default)


def test_eval_key_names_the_evaluation_cache_as_before():
    """The cache of an evaluation is ``eval-<sha1 of its eval section>.json``, the issue-11 fields left out at
    their neutral values, so caches written before the package split and before those fields stay found."""
    import dataclasses as dc
    import hashlib

    from vireid_lib.ablation import eval_key

    cfg = plan("table4", [0])[0].cfg
    section = dc.asdict(cfg.eval)
    assert section.pop("sysu_gallery") == "auto"
    assert eval_key(cfg) == hashlib.sha1(json.dumps(section, sort_keys=True).encode()).hexdigest()[:10]
    local = apply_overrides(cfg, ["eval.branch=local"])
    assert eval_key(local) != eval_key(cfg)
    assert eval_key(apply_overrides(cfg, ["eval.sysu_gallery=official"])) != eval_key(cfg)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_pool_workers_die_with_a_killed_parent(tmp_path):
    """A killed `vireid ablate` must not leave its pool workers training: each worker asks the kernel for
    SIGTERM when its parent exits (die_with_parent, called by the pool's initializer)."""
    ready = tmp_path / "child.pid"
    child = ("import os, time; from vireid_lib.ablation.run import die_with_parent; "
             f"die_with_parent(os.getppid()); open({str(ready)!r}, 'w').write(str(os.getpid())); time.sleep(120)")
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys, time; "
                               f"subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(120)"])
    pid = None
    try:
        deadline = time.time() + 180   # the child imports torch: slow on a busy machine
        while not (ready.is_file() and ready.read_text()) and time.time() < deadline:
            time.sleep(0.2)
        assert ready.is_file(), "the child process never started"
        pid = int(ready.read_text())
        assert _alive(pid)
        parent.kill()
        parent.wait()
        deadline = time.time() + 30
        while _alive(pid) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the child outlived its killed parent"
    finally:
        parent.kill()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state   # a zombie has exited


def test_cost_table_by_hand():
    """Grid g: 20 seeds, 40 runs, 7,200 s of training and 3,600 s of evaluation -> 10,800 s / 2 at a time = 1.5 h;
    at 5 seeds a quarter, 0.375 h (0.4 printed). Its worse cell: Rank-1 values 0.5 and 0.7 alternating over 20
    seeds, std 0.1026, SE 2.294 points; at 5 seeds 2.294 x 2 = 4.59; an SE of 1 needs 20 x 2.294^2 = 105.3 -> 106
    seeds. Grid h: 5 seeds, 3,600 s -> 0.5 h; one seed per cell leaves no SE."""
    worse = _cell(range(20), [0.5, 0.7] * 10)
    g = {"cells": {"a": _cell(range(20), [0.6] * 20), "b": worse},
         "wall_seconds": {"train": 7200.0, "eval": 3600.0, "runs": 40}}
    h = {"cells": {"a": _cell([0], [0.5])}, "wall_seconds": {"train": 3000.0, "eval": 600.0, "runs": 1}}
    h["cells"]["a"]["n"] = 5   # five seeds recorded, but no spread: the SE columns say so
    se = 100 * float(np.std([0.5, 0.7] * 10, ddof=1)) / math.sqrt(20)
    assert se == pytest.approx(2.294, abs=1e-3)
    lines = ablation.readme.cost_table({"g": g, "h": h}).splitlines()
    assert lines[2] == f"| g | 20 | 40 | 1.5 | 0.4 | {2 * se:.2f} | {math.ceil(20 * se ** 2)} |"
    assert lines[2] == "| g | 20 | 40 | 1.5 | 0.4 | 4.59 | 106 |"
    assert lines[3] == "| h | 5 | 1 | 0.5 | 0.5 | - | - |"
    assert lines[4] == "| all | | | 2.0 | 0.9 | | |"


def test_cost_table_by_hand_when_cells_hold_other_seed_counts():
    """Cell a: 10 seeds of 0.6 (no spread); cell b: 40 seeds alternating 0.5 and 0.7, std 0.1013, SE 1.601
    points. 50 runs, 10,800 s / 2 = 1.5 h; at 5 seeds per cell, 10 runs of the 50: 0.3 h. The largest SE at 5
    seeds is b's std / sqrt(5) = 4.53; b's SE comes to one point at 40 x 1.601^2 = 102.6 -> 103 seeds."""
    b = _cell(range(40), [0.5, 0.7] * 20)
    u = {"cells": {"a": _cell(range(10), [0.6] * 10), "b": b},
         "wall_seconds": {"train": 7200.0, "eval": 3600.0, "runs": 50}}
    std = float(np.std([0.5, 0.7] * 20, ddof=1))
    assert 100 * std / math.sqrt(40) == pytest.approx(1.601, abs=1e-3)
    line = ablation.readme.cost_table({"u": u}).splitlines()[2]
    assert line == f"| u | 10-40 | 50 | 1.5 | 0.3 | {100 * std / math.sqrt(5):.2f} | {math.ceil(1e4 * std ** 2)} |"
    assert line == "| u | 10-40 | 50 | 1.5 | 0.3 | 4.53 | 103 |"


def test_more_seeds_script_refuses_a_cell_outside_the_grid_in_one_line(tmp_path):
    """results/ablations/more_seeds.py (more seeds for some cells; the options grid's records name it) names the bad
    cell."""
    script = Path(__file__).resolve().parents[1] / "results" / "ablations" / "more_seeds.py"
    spec = importlib.util.spec_from_file_location("more_seeds", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit, match=r"\['triplet=hard'\] are not cells of grid 'options'"):
        module.main(["--grid", "options", "--cells", "default", "triplet=hard", "--seeds", "0", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_grids_line_counts_each_training_once_and_reads_the_summaries(tmp_path):
    """The README's paragraph on a folder of grids: wall time with a shared training counted once (a record
    that reused one says so), the standard errors of the cells' means, and the conclusions' "In short" line."""
    for grid in GRIDS:
        runs = plan(grid, [0, 1])
        for run in runs:
            step = 0.04 if (grid, run.cell.name) == ("table3", "base") else 0.01     # one noisier cell
            _fake_record(tmp_path, run, 0.30 + step * run.seed, 0.2, steps=310)
        if grid == "table4":      # table4's cells evaluate table3's full model: their records reuse its training
            for path in (tmp_path / "table4").glob("*/seed*.json"):
                record = json.loads(path.read_text())
                record["wall_seconds"]["train_reused"] = True
                path.write_text(json.dumps(record))
        (tmp_path / grid / "summary.json").write_text(json.dumps(summarize(grid, runs, tmp_path)))
    cells = sum(len(GRIDS[g]) for g in GRIDS)
    trainings = 2 * (cells - len(GRIDS["table4"]))
    hours = (10.0 * trainings + 2.0 * 2 * cells) / 3600 / 2      # 10 s a training, 2 s an evaluation
    line = grids_line(tmp_path)
    assert line.startswith(f"4 grids from random weights, 2 seeds per cell, {2 * cells} runs of 310 steps: "
                           f"{hours:.1f} hours of wall time two at a time ({trainings} trainings")
    # Rank-1 0.30 and 0.31: mean 30.5, SD 0.71, SE 0.50; base of table3, 0.30 and 0.34: 32.0, 2.83, 2.00
    assert "mean Rank-1 is 30.5-32.0%" in line and "deviation 0.7-2.8 points (median 0.71)" in line
    assert f"at most 2.00 points ({cells - 1} of {cells} cell settings at one point or less)" in line
    assert "In short: " in line
    # a grid with one seed so far: its cells have no spread and no error yet, and the line says so
    runs = [r for r in plan("options", [0, 1]) if r.seed == 0]
    for path in (tmp_path / "options").glob("*/seed1.json"):
        path.unlink()
    (tmp_path / "options" / "summary.json").write_text(json.dumps(summarize("options", runs, tmp_path)))
    n_options = len(GRIDS["options"])
    assert (f"({cells - n_options - 1} of {cells - n_options} cell settings at one point or less; {n_options} with "
            "one seed, no error yet)") in grids_line(tmp_path)
    (tmp_path / "parts" / "summary.json").unlink()
    with pytest.raises(FileNotFoundError):
        grids_line(tmp_path)
