"""benchmarks/grid_repeat.py: committed ablation runs trained again by today's code and compared with their
records; the grids README's sentence on it (ablation.readme.repeat_line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import grid_repeat
from vireid_lib.ablation import ABLATION_SMOKE, plan, result_path
from vireid_lib.ablation.readme import repeat_line

RESULTS = Path(__file__).resolve().parents[1] / "results" / "ablations"


def test_parse_run_and_bad_specs():
    assert grid_repeat.parse_run("options/triplet=adp/0") == ("options", "triplet=adp", 0)
    assert grid_repeat.parse_run("parts/P=3/24") == ("parts", "P=3", 24)
    for bad in ("options/triplet=adp", "options/0", "table3/base/x", "x"):
        with pytest.raises(ValueError, match="expected grid/cell/seed"):
            grid_repeat.parse_run(bad)
    with pytest.raises(ValueError, match="'nope' is not a cell of grid 'table3'"):
        grid_repeat.repeat("table3/nope/0", [])
    with pytest.raises(ValueError, match="no committed record"):
        grid_repeat.repeat("table3/base/999", [])


def test_a_run_of_another_configuration_does_not_repeat_its_record(tmp_path, monkeypatch, capsys):
    """The smoke sizes train other weights than the committed run's: the comparison says so, it is no shortcut."""
    monkeypatch.setenv("VIREID_CACHE", str(tmp_path / "cache"))
    row = grid_repeat.repeat("table3/base/0", list(ABLATION_SMOKE))
    committed = json.loads((RESULTS / "table3" / "base" / "seed0.json").read_text())
    assert row["committed_sha256"] == committed["checkpoint"]["weights_sha256"] != row["sha256"]
    assert not row["same_weights"] and not row["same_metrics"] and row["set"] == list(ABLATION_SMOKE)
    out = tmp_path / "repeat.json"
    out.write_text(json.dumps({"runs": [row]}))
    grid_repeat.main(["--table", str(out)])
    assert "| table3/base/0 |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no record"):
        grid_repeat.main(["--table", str(tmp_path / "missing.json")])


def test_repeat_line_by_hand():
    record = {"runs": [{"run": "a/b/0", "set": [], "same_weights": True, "same_metrics": True},
                       {"run": "c/d/1", "set": [], "same_weights": True, "same_metrics": False},
                       {"run": "a/b/0", "set": ["train.adamw_kernel=fused"], "same_weights": False,
                        "same_metrics": False}]}
    assert repeat_line(record) == (
        "Does today's code repeat these runs? `python -m benchmarks.grid_repeat` trained 2 of them again (a/b/0, "
        "c/d/1) with the `ablation` preset as it is, AdamW's default kernel included (`train.adamw_kernel`), and 1 "
        "of 2 gave their record's weights and metrics exactly (`repeat.json`). With `--set "
        "train.adamw_kernel=fused`, 0 of 1 did (a/b/0).")


def test_committed_record_repeats_with_the_default_kernel_only():
    """What run_all.sh and more_seeds.py rely on: every committed run trained again with the preset as it is gave
    its record's weights and metrics, and none with the fused kernel; the README says so."""
    record = json.loads((RESULTS / "repeat.json").read_text())
    plain = [r for r in record["runs"] if not r["set"]]
    fused = [r for r in record["runs"] if r["set"] == ["train.adamw_kernel=fused"]]
    assert len(plain) >= 5 and all(r["same_weights"] and r["same_metrics"] for r in plain)
    assert len({r["run"].split("/")[0] for r in plain}) == 4          # every grid
    assert fused and not any(r["same_weights"] or r["same_metrics"] for r in fused)
    for r in record["runs"]:
        grid, cell, seed = grid_repeat.parse_run(r["run"])
        (run,) = [x for x in plan(grid, [seed]) if x.cell.name == cell]
        committed = json.loads(result_path(RESULTS, run).read_text())
        assert r["committed_sha256"] == committed["checkpoint"]["weights_sha256"]
        assert r["same_weights"] == (r["sha256"] == r["committed_sha256"])
    assert repeat_line(record) in (RESULTS / "README.md").read_text()

