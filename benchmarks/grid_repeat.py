"""Does today's code repeat the committed ablation grids' runs bit for bit?

Each named run (``grid/cell/seed``) is planned, trained and evaluated by today's ``vireid ablate`` code
(``plan`` and ``run_group``, one thread, fresh training folders), and its weights' SHA-256 and metrics are
compared with the committed record ``results/ablations/<grid>/<cell>/seed<k>.json``. The grids ran from an
earlier commit; since then training took AdamW's fused kernel, which rounds otherwise, so the ``ablation``
preset names the default kernel (``train.adamw_kernel``). ``--set`` changes the runs' configuration, for the
check that the kernel is what decides (``--set train.adamw_kernel=fused`` must not repeat them).

    python -m benchmarks.grid_repeat --runs options/triplet=adp/0 table3/base/0 --out results/ablations/repeat.json
    python -m benchmarks.grid_repeat --table          # the table of the committed record
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from vireid_lib.ablation.grids import plan, result_path
from vireid_lib.ablation.run import run_group
from vireid_lib.io import atomic_write_json
from vireid_lib.machine import library_commit, machine_info

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "ablations"
RECORD = RESULTS / "repeat.json"


def parse_run(spec: str) -> tuple[str, str, int]:
    """``grid/cell/seed`` as ``(grid, cell, seed)``.

    Raises:
        ValueError: a spec of another shape (one line naming it).
    """
    parts = spec.rsplit("/", 1)
    grid_cell = parts[0].split("/", 1) if len(parts) == 2 else []
    if len(grid_cell) != 2 or not parts[1].isdigit():
        raise ValueError(f"--runs {spec!r}: expected grid/cell/seed, e.g. options/triplet=adp/0")
    return grid_cell[0], grid_cell[1], int(parts[1])


def repeat(spec: str, overrides: list[str], results: Path = RESULTS) -> dict[str, Any]:
    """Train and evaluate one committed run again with today's code and compare it with its record."""
    grid, cell, seed = parse_run(spec)
    runs = [r for r in plan(grid, [seed], overrides=overrides) if r.cell.name == cell]
    if not runs:
        raise ValueError(f"--runs {spec!r}: {cell!r} is not a cell of grid {grid!r}")
    committed_path = result_path(results, runs[0])
    if not committed_path.is_file():
        raise ValueError(f"--runs {spec!r}: no committed record {committed_path}")
    committed = json.loads(committed_path.read_text())
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        (record,) = run_group(runs, Path(tmp) / "out", Path(tmp) / "work", command="benchmarks.grid_repeat",
                              echo=lambda line: None)
    return {"run": spec, "set": overrides, "commit": library_commit(), "machine": machine_info(),
            "committed_sha256": committed["checkpoint"]["weights_sha256"],
            "sha256": record["checkpoint"]["weights_sha256"],
            "same_weights": record["checkpoint"]["weights_sha256"] == committed["checkpoint"]["weights_sha256"],
            "same_metrics": record["metrics"] == committed["metrics"],
            "rank1": {s: m["rank1"] for s, m in record["metrics"].items()},
            "committed_rank1": {s: m["rank1"] for s, m in committed["metrics"].items()},
            "seconds": round(time.perf_counter() - t0, 1)}


def table(record: dict[str, Any]) -> str:
    """The Markdown table of a record: one row per run."""
    lines = ["| run | --set | weights as committed | metrics as committed | Rank-1 (v2t, t2v) | committed |",
             "|---|---|---|---|---|---|"]
    for r in record["runs"]:
        ranks = lambda d: ", ".join(f"{100 * d[s]:.1f}" for s in ("regdb/v2t", "regdb/t2v"))   # noqa: E731
        lines.append(f"| {r['run']} | {' '.join(r['set']) or '(none)'} | {'yes' if r['same_weights'] else 'no'} | "
                     f"{'yes' if r['same_metrics'] else 'no'} | {ranks(r['rank1'])} | {ranks(r['committed_rank1'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", default=[], help="grid/cell/seed, e.g. options/triplet=adp/0")
    p.add_argument("--set", nargs="*", default=[], dest="overrides", help="section.key=value for every run")
    p.add_argument("--out", type=Path, help="write (or add to) this record")
    p.add_argument("--table", nargs="?", const=RECORD, type=Path, help="print the table of a record and exit")
    args = p.parse_args(argv)
    try:
        if args.table is not None:
            if not args.table.is_file():
                raise ValueError(f"no record {args.table}; write one with --runs ... --out {args.table}")
            print(table(json.loads(args.table.read_text())))
            return
        if not args.runs:
            p.error("give --runs grid/cell/seed ..., or --table")
        torch.set_num_threads(1)
        record = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {"runs": []}
        for spec in args.runs:
            row = repeat(spec, args.overrides)
            print(table({"runs": [row]}).splitlines()[-1], flush=True)
            record["runs"] = [r for r in record["runs"] if (r["run"], r["set"]) != (spec, args.overrides)] + [row]
            if args.out:
                atomic_write_json(args.out, record)
    except ValueError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
