"""benchmarks/ablation_people.py: committed ablation runs evaluated again from their checkpoints, their person
tables kept, and each claim's error over seeds and over people."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import ablation_people
from vireid_lib.ablation import run_grid
from vireid_lib.evaluation.people import people_estimate


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

    rows = ablation_people.claim_rows("table4", out)
    assert [(r["a"], r["b"], r["setting"]) for r in rows] == [
        (a, b, s) for a, b in (("global", "local"), ("global", "both")) for s in ablation_people.SETTINGS]
    summary = json.loads((out / "table4" / "summary.json").read_text())
    for r in rows:
        # the difference of the seed means, three ways: per seed, from the averaged person tables, from the summary
        assert r["check"] == pytest.approx(r["difference"], abs=1e-9)
        ca, cb = summary["cells"][r["a"]], summary["cells"][r["b"]]
        assert r["all_difference"] == pytest.approx(100 * (ca["mean"][r["setting"]]["rank1"]
                                                           - cb["mean"][r["setting"]]["rank1"]), abs=1e-9)
        assert r["seeds"] == [0, 1] and r["all_seeds"] == 2
    text = ablation_people.table(out, grids=("table4",))
    assert text.count("\n") == 1 + len(rows) and "global − local" in text
    both = math.hypot(rows[0]["se_seeds"], rows[0]["se_people"])
    assert f"{both:.2f} (" in text.splitlines()[2]


def test_a_record_that_does_not_reproduce_is_refused(grid, tmp_path):
    import shutil

    out, runs = grid
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
    assert ablation_people.claim_rows("table4", copy) == []
    with pytest.raises(SystemExit, match="no committed runs under"):
        ablation_people.main(["--grid", "parts", "--runs", str(tmp_path), "--results", str(copy)])
    with pytest.raises(ValueError, match="unknown grid"):
        ablation_people.evaluate_grid("table9", tmp_path, copy)
    with pytest.raises(SystemExit):
        ablation_people.main([])
    assert "give --grid" in capsys.readouterr().err
