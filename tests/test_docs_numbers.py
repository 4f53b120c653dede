"""Numbers in the prose are computed, not copied: each document's tables equal what their results files give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.probe_recipe import table

ROOT = Path(__file__).resolve().parents[1]


def test_cpu_recipe_table_is_the_probe_results():
    doc = (ROOT / "docs" / "CPU_RECIPE.md").read_text()
    assert table() in doc


def test_probe_table_reads_the_curves(tmp_path):
    record = {"tag": "x", "set": ["train.eval_every=2"], "finished": False, "note": "n",
              "curve": [{"cross_r1": 1.04, "vis_r1": 2.0}, {"cross_r1": 3.0, "vis_r1": 4.55}]}
    (tmp_path / "x.json").write_text(json.dumps(record))
    assert table(tmp_path).splitlines()[2] == "| x | n | 100: 1.0 / 2.0, 200: 3.0 / 4.5 (stopped) |"
