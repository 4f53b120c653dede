"""benchmarks/ablation_people.py: committed ablation runs evaluated again from their checkpoints, their person
tables kept; vireid_lib.ablation.people: each claim's error over seeds and over people."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from benchmarks import ablation_people
from vireid_lib.ablation import people, run_grid
from vireid_lib.ablation.paper import beyond_noise
from vireid_lib.evaluation.people import mean_table, people_difference, people_estimate, seed_spread


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A smoke table4 grid over two seeds (two trainings, three evaluations each)."""
    root = tmp_path_factory.mktemp("abl")
    out, runs = root / "out", root / "runs"
    summary = run_grid("table4", [0, 1], out, runs / "ablations", smoke=True, progress=False, echo=lambda line: None)
    assert summary["failed"] == []
    return out, runs


def test_runs_are_evaluated_again_reproduced_and_resumed(grid):
    out, runs = grid
    lines = []
    payload = ablation_people.evaluate_grid("table4", runs, out, echo=lines.append)
    assert sorted(payload["runs"]) == [f"{c}/seed{s}" for c in ("both", "global", "local") for s in (0, 1)]
    assert sum("reproduced" in line for line in lines) == 6
    for key, run in payload["runs"].items():
        record = json.loads((out / "table4" / run["cell"] / f"seed{run['seed']}.json").read_text())
        assert run["checkpoint"]["weights_sha256"] == record["checkpoint"]["weights_sha256"]
        for setting, table in run["people"].items():   # each table gives back the record's number
            assert people_estimate(table) == pytest.approx(record["metrics"][setting]["rank1"], abs=1e-12)
    # resumable: a second call evaluates nothing
    lines.clear()
    again = ablation_people.evaluate_grid("table4", runs, out, echo=lines.append)
    assert again["runs"] == payload["runs"] and not any("reproduced" in line for line in lines)

    rows = people.claim_rows("table4", out)
    assert [(r["a"], r["b"], r["setting"]) for r in rows] == [
        (a, b, s) for a, b in (("global", "local"), ("global", "both")) for s in people.SETTINGS]
    summary = json.loads((out / "table4" / "summary.json").read_text())
    for r in rows:
        # the difference of the seed means and its paired error, from the runs' own records
        rec = {(c, k): json.loads((out / "table4" / c / f"seed{k}.json").read_text())["metrics"][r["setting"]]["rank1"]
               for c in (r["a"], r["b"]) for k in (0, 1)}
        per_seed = [100 * (rec[r["a"], k] - rec[r["b"], k]) for k in (0, 1)]
        assert r["difference"] == pytest.approx(statistics.mean(per_seed), abs=1e-9)
        assert r["se_seeds"] == pytest.approx(statistics.stdev(per_seed) / math.sqrt(2), abs=1e-9)
        # the error over people, from the stored tables by the one-way route: people_difference of seed means
        d, se = people_difference(mean_table([payload["runs"][f"{r['a']}/seed{k}"]["people"][r["setting"]] for k in (0, 1)]),
                                  mean_table([payload["runs"][f"{r['b']}/seed{k}"]["people"][r["setting"]] for k in (0, 1)]))
        assert r["se_people"] == pytest.approx(100 * se, abs=1e-9) and r["difference"] == pytest.approx(100 * d, abs=1e-9)
        ca, cb = summary["cells"][r["a"]], summary["cells"][r["b"]]
        assert r["all_difference"] == pytest.approx(100 * (ca["mean"][r["setting"]]["rank1"]
                                                           - cb["mean"][r["setting"]]["rank1"]), abs=1e-9)
        assert r["seeds"] == [0, 1] and r["all_seeds"] == 2
    text = people.table(out, grids=("table4",))
    assert text.count("\n") == 1 + len(rows) and "global − local" in text
    both, d = math.hypot(rows[0]["all_se_seeds"], rows[0]["people_part"]), rows[0]["all_difference"]
    word = ("above" if d > 0 else "below") if beyond_noise(d, both) else "within"
    assert text.splitlines()[2].endswith(f"| {both:.2f} ({word}) |")


def test_a_record_that_does_not_reproduce_is_refused(grid, tmp_path):
    import shutil

    out, runs = grid
    # the grid's own person tables (resumable: kept if another test of this worker wrote them; xdist may run the
    # tests of this module on different workers, each with its own fixture)
    ablation_people.evaluate_grid("table4", runs, out, echo=lambda line: None)
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "table4" / "people.json").unlink(missing_ok=True)
    path = copy / "table4" / "global" / "seed0.json"
    record = json.loads(path.read_text())
    record["metrics"]["regdb/v2t"]["rank1"] += 0.01
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="not the record's"):
        ablation_people.evaluate_grid("table4", runs, copy, echo=lambda line: None)
    record["metrics"]["regdb/v2t"]["rank1"] -= 0.01
    record["checkpoint"]["weights_sha256"] = "0" * 64
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="its weights are not those"):
        ablation_people.evaluate_grid("table4", runs, copy, echo=lambda line: None)
    # person tables kept for other weights than the record's (a run trained again) are not reused silently
    shutil.copy(out / "table4" / "people.json", copy / "table4" / "people.json")
    with pytest.raises(ValueError, match="its weights are not those"):
        ablation_people.evaluate_grid("table4", runs, copy, echo=lambda line: None)


def test_missing_checkpoints_are_counted_and_bad_input_named(grid, tmp_path, capsys):
    import shutil

    out, _ = grid
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "table4" / "people.json").unlink(missing_ok=True)
    lines = []
    payload = ablation_people.evaluate_grid("table4", tmp_path / "elsewhere", copy, echo=lines.append)
    assert payload["runs"] == {} and "6 committed runs have no checkpoint" in lines[-1]
    assert not (copy / "table4" / "people.json").exists()        # nothing evaluated, nothing written
    assert people.claim_rows("table4", copy) == []
    with pytest.raises(SystemExit, match="no committed runs under"):
        ablation_people.main(["--grid", "parts", "--runs", str(tmp_path), "--results", str(copy)])
    with pytest.raises(ValueError, match="unknown grid"):
        ablation_people.evaluate_grid("table9", tmp_path, copy)
    with pytest.raises(SystemExit):
        ablation_people.main([])
    assert "give --grid" in capsys.readouterr().err


def test_reading_counts_the_rows_and_the_document_is_written(grid, capsys):
    out, runs = grid
    ablation_people.evaluate_grid("table4", runs, out, echo=lambda line: None)
    rows = people.claim_rows("table4", out)
    r = people.reading(out)
    assert r["rows"] == len(rows) == 4 and r["seeds"]["table4"] == [0, 1] and r["seeds"]["table3"] == []
    beyond = [x for x in rows if beyond_noise(x["difference"], x["se_seeds"])]
    assert r["beyond_seeds"] == len(beyond)
    assert r["beyond_both"] == sum(beyond_noise(x["difference"], x["se_both"]) for x in beyond)
    assert len(r["lost"]) == r["beyond_seeds"] - r["beyond_both"]
    ratios = [x["people_part"] / x["se_seeds"] for x in rows if x["se_seeds"]]
    assert r["median_ratio"] == (statistics.median(ratios) if ratios else None)
    # rows already read for some grids (notebook 05 shows the grids it has): those grids are the ones counted
    assert people.reading(out, {"table4": rows}) == {**r, "seeds": {"table4": [0, 1]}}
    assert people.reading_line(out, {"table4": rows}) == people.reading_line(out)
    ablation_people.main(["--table", "--write", "--results", str(out)])
    written = (out / "people.md").read_text()
    assert written == people.document(out) and written.strip() in capsys.readouterr().out
    assert f"{r['beyond_seeds']} of 4 differences stand beyond" in written and "table4 seeds 0–1" in written
    # the document names the command that rewrites it, with the folder when it is not the default one
    assert "`python -m benchmarks.ablation_people --table --write --results results/out`" in written
    assert people.results_flag(Path("results/ablations")) == ""
    # each cell's spread over its two seeds, read from the same person tables, and its line in people.md
    spread = people.spread_rows(out)
    runs = json.loads(people.people_path("table4", out).read_text())["runs"]
    cells = dict.fromkeys(v["cell"] for v in runs.values())
    assert [(x["cell"], x["setting"]) for x in spread] == [(c, s) for c in cells for s in people.SETTINGS]
    for x in spread:
        own = seed_spread([runs[people.person_key(x["cell"], k)]["people"][x["setting"]] for k in (0, 1)])
        assert x["seeds"] == 2 and x["tabled_seeds"] == [0, 1] and x["people"] == own["people"]
        # every seed has a person table here, so the summary's spread is the tables' own and the split theirs
        assert (x["sd_runs"], x["seed_part"], x["residual"]) == pytest.approx(
            (100 * own["sd_runs"], 100 * own["seed_part"], 100 * own["residual"]))
        assert x["seeds_here"] == max(1, math.ceil(x["sd_runs"] ** 2 - 1e-9))
        assert x["seeds_any"] == max(1, math.ceil(x["seed_part"] ** 2 - 1e-9))
        assert x["seeds_any"] <= x["seeds_four_times"]
    assert people.spread_table(spread) in written and people.spread_line(spread) in written


def test_spread_line_by_hand():
    rows = [dict(seeds_here=6, seeds_four_times=6, seeds_any=2, seed_part=1.0, sd_runs=3.0),
            dict(seeds_here=5, seeds_four_times=2, seeds_any=1, seed_part=0.0, sd_runs=2.0),
            dict(seeds_here=9, seeds_four_times=7, seeds_any=6, seed_part=2.5, sd_runs=3.5)]
    assert people.spread_line(rows) == (
        "Of 3 cell settings, 2 need more than 5 seeds for a Rank-1 standard error of one point on these test people, "
        "2 on four times as many, and 1 on any number of people: the whole-model part (median 1.00 points against "
        "a run's median SD of 3.00) is a seed training a better or a worse model, and more test people do not "
        "shrink it.")
    # no setting needs more than 5 seeds on any number of people: then more people are what would do
    rows[2].update(seeds_any=5)
    assert people.spread_line(rows).endswith(
        "and 0 on any number of people: the whole-model part (median 1.00 points against a run's median SD of "
        "3.00) is small: the rest of a run's spread is each person's noise, which more test people shrink.")
    assert people.spread_line([]).startswith("No grid holds person tables")
