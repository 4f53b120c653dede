"""``python -m benchmarks`` calls the benchmark scripts' functions: the calls must match their signatures (a
renamed helper once broke the whole table without any test noticing)."""

import subprocess
import sys
from pathlib import Path

import numpy as np

import benchmarks.__main__ as table
from benchmarks import bench_eval


def _tiny(rng: np.random.Generator):
    """A 6-query, 9-image RegDB-style problem (every camera kept)."""
    q_pids, g_pids = np.arange(6) % 3, np.arange(9) % 3
    return rng.random((6, 9)), q_pids, g_pids, np.full(6, 2), np.full(9, 1)


def test_evaluation_rows_run_and_agree_with_the_literal_loop(monkeypatch):
    monkeypatch.setattr(bench_eval, "sysu_sized", _tiny)
    monkeypatch.setattr(bench_eval, "regdb_sized", _tiny)
    rows = table.evaluation_rows(trials=1)
    assert [r[0] for r in rows] == ["evaluation", "evaluation"]
    assert all("6x9, 1 trials (max diff 0e+00)" in r[1] for r in rows)


def test_readme_tables_of_the_records_by_hand():
    """The README tables of bench_eval's and bench_model's records: 2.0 s of loop against 0.25 s is 8x; a 0.5 s
    step of 48 images is 96 images/s; 1,536 MiB of growth is 1.50 GiB; a record without memory says so."""
    from benchmarks import bench_model

    record = {"rows": [{"name": "RegDB (V->T)", "shape": [2060, 2060], "trials": 10, "slow": 2.0, "fast": 0.25,
                        "diff": 1e-16, "peak": 0.25}]}
    assert bench_eval.readme_table(record).splitlines()[2] == \
        "| RegDB visible→thermal | 2,060 x 2,060 | 10 | 2.00 s | 0.250 s | 8x | 1e-16 | 0.25x |"
    model = {"params_macs": [{"variant": "full", "params_m": 33.0, "gmacs": 6.4961}],
             "cpu_step": [{"variant": "full", "wall_min_s": 0.5, "images_per_s": 48 / 0.5, "cpu_vs_base_p": 1.094}],
             "memory": [{"variant": "full", "step_mib": 1536.0}]}
    assert bench_model.readme_table(model).splitlines()[2] == \
        "| full | 33.00 | 6.496 | 0.500 s | 96.0 | 1.09x | 1.50 GiB |"
    assert bench_model.readme_table({**model, "memory": None}).splitlines()[2].endswith("| 1.09x | - |")


def test_benchmarks_help_runs_without_jupyter_widgets():
    """The GPU image has no ipywidgets: ``python -m benchmarks --help`` (``vireid bench --help``) must not need
    them; only the browser's part imports them (it failed there before bench_browser was imported lazily)."""
    code = ("import sys, runpy; sys.modules['ipywidgets'] = None; sys.argv = ['python -m benchmarks', '--help']; "
            "runpy.run_module('benchmarks', run_name='__main__', alter_sys=True)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: python -m benchmarks" in done.stdout
