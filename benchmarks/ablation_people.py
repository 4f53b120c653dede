"""The ablation verdicts' error over the test people, beside their error over training seeds.

An ablation cell's standard error is over training seeds, every seed scored on the same test people of the
synthetic RegDB layout's trial 1 (``results/ablations/README.md``). Whether a verdict would hold on other
people is another question (docs/DECISIONS.md §13). This script evaluates again each committed run whose
training folder is still on this machine, checks that the metrics reproduce the committed record to the last
digit and that the weights are the record's, and keeps each setting's person table
(:func:`~vireid_lib.evaluation.people.person_table`) in ``results/ablations/<grid>/people.json``. ``--table``
then gives, for each verdict of ``results/ablations/README.md`` (the paper's claims, and each option against
the default) on those seeds, the difference of the seed means with its error over the seeds, over the people,
the people's own part and over both, beside the committed difference over all seeds: the read side,
:mod:`vireid_lib.ablation.people`, which notebook 05 uses too.

    python -m benchmarks.ablation_people --grid table3                 # evaluate (resumable), $VIREID_RUNS
    python -m benchmarks.ablation_people --grid table3 --runs /path    # training folders under /path/ablations
    python -m benchmarks.ablation_people --table                       # the table of the committed files
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from vireid_lib.ablation.grids import GRIDS, record_config, train_key
from vireid_lib.ablation.people import document, people_path, person_key
from vireid_lib.ablation.report import metrics_of
from vireid_lib.checkpoints import load_model
from vireid_lib.data import open_dataset
from vireid_lib.distributed import evaluation_device
from vireid_lib.evaluation.protocols import evaluate
from vireid_lib.evaluation.report import settings_of
from vireid_lib.io import atomic_write_json, atomic_write_text
from vireid_lib.locks import FolderInUseError, folder_lock
from vireid_lib.machine import machine_info
from vireid_lib.provenance import checkpoint_info
from vireid_lib.runs import runs_dir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "ablations"


def evaluate_grid(grid: str, runs: Path, results: Path = RESULTS, echo: Any = print) -> dict[str, Any]:
    """Evaluate again every committed run of ``grid`` whose checkpoint is under ``runs/ablations``, and write
    the person tables (resumable: runs already in the file are kept).

    Raises:
        ValueError: an unknown grid, a checkpoint whose weights or training config are not the record's, or
            an evaluation that does not reproduce the record's metrics.
    """
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; choose one of {sorted(GRIDS)}")
    out = people_path(grid, results)
    records = sorted((results / grid).glob("*/seed*.json"))
    if not records:
        raise ValueError(f"no committed runs under {results / grid}; run `vireid ablate --grid {grid}` first")
    with folder_lock(out.parent, "benchmarks.ablation_people"):
        payload = json.loads(out.read_text()) if out.is_file() else {
            "grid": grid, "what": "each committed run's person tables, evaluated again from its checkpoint",
            "runs": {}}
        missing = 0
        for path in records:
            record = json.loads(path.read_text())
            key = person_key(record["cell"], record["seed"])
            kept = payload["runs"].get(key)
            if kept is not None and kept["checkpoint"]["weights_sha256"] == record["checkpoint"]["weights_sha256"]:
                continue   # evaluated already; a run trained again since is evaluated again below
            ckpt = runs / "ablations" / Path(record["train_dir"]).name / "last.pt"
            if not ckpt.is_file():
                missing += 1
                continue
            cfg = record_config(record["config"])
            info = checkpoint_info(ckpt)
            if info["weights_sha256"] != record["checkpoint"]["weights_sha256"]:
                raise ValueError(f"{ckpt}: its weights are not those of {path} (another training); remove it "
                                 f"or point --runs at the grid's own training folders")
            model, trained = load_model(ckpt)
            if train_key(trained) != train_key(cfg):
                raise ValueError(f"{ckpt}: trained with another config than {path} records")
            # on the kind of device the record was evaluated on: the GPU's kernels round otherwise than the CPU's
            where = evaluation_device(cfg.train) if record["machine"].get("cuda") else torch.device("cpu")
            result = evaluate(model, cfg, open_dataset(cfg.data), progress=False, device=where)
            got = metrics_of(result)
            if any(abs(got[s][m] - v) > 1e-12 for s, ms in record["metrics"].items() for m, v in ms.items()):
                raise ValueError(f"{path}: evaluating {ckpt} again gives {got}, not the record's "
                                 f"{record['metrics']}: the evaluation code or the data changed since")
            payload["runs"][key] = {"cell": record["cell"], "seed": record["seed"], "checkpoint": info,
                                    "data": record["data"], "machine": machine_info(),
                                    "people": {s: r["people"] for s, r in settings_of(result).items()}}
            atomic_write_json(out, payload)
            echo(f"  {key}: reproduced, person tables kept")
        echo(f"{grid}: {len(payload['runs'])} runs with person tables in {out}; {missing} committed runs have no "
             f"checkpoint under {runs / 'ablations'}")
    return payload


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", choices=sorted(GRIDS), help="evaluate this grid's committed runs again")
    p.add_argument("--runs", type=Path, help="the folder holding ablations/<training folder> (default $VIREID_RUNS)")
    p.add_argument("--results", type=Path, default=RESULTS, help="the grids' results folder (default results/ablations)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--table", action="store_true", help="print the table of the committed person tables")
    p.add_argument("--write", action="store_true", help="with --table: write it to <results>/people.md")
    args = p.parse_args(argv)
    if not args.table and not args.grid:
        p.error("give --grid GRID to evaluate, or --table")
    torch.set_num_threads(args.threads)
    try:
        if args.grid:
            evaluate_grid(args.grid, args.runs or runs_dir(), args.results)
        if args.table:
            text = document(args.results)
            print(text)
            if args.write:
                atomic_write_text(args.results / "people.md", text)
    except (ValueError, FileNotFoundError, FolderInUseError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
