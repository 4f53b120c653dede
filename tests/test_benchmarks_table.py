"""``python -m benchmarks`` calls the benchmark scripts' functions: the calls must match their signatures (a
renamed helper once broke the whole table without any test noticing)."""

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
