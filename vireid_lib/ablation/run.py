"""Running the ablations: train (or resume, or reuse) and evaluate the runs of a grid, one at a time or in
worker processes (one per CUDA device), write each run's result and the grid's summary, and refuse to mix in
results of another configuration."""

from __future__ import annotations

import ctypes
import dataclasses
import datetime
import json
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from vireid_lib.ablation.grids import GRIDS, Run, eval_key, finished_seeds, plan, record_config, result_path, train_dir
from vireid_lib.ablation.report import metrics_of, summarize, write_summary
from vireid_lib.checkpoints import config_diff
from vireid_lib.config import Config
from vireid_lib.data import open_dataset
from vireid_lib.data.synthetic import GENERATOR_VERSION
from vireid_lib.evaluation.protocols import evaluate as evaluate_model
from vireid_lib.evaluation.report import settings_of
from vireid_lib.io import atomic_write_json
from vireid_lib.machine import machine_info
from vireid_lib.provenance import checkpoint_info, describe_data
from vireid_lib.runs import runs_dir
from vireid_lib.training import fit

RUN_FORMAT = "vireid-ablation-run-v1"


def _no_eval(model: Any, cfg: Config, reader: Any) -> dict[str, float]:
    return {}


def run_group(runs: Sequence[Run], out: str | Path, work: str | Path, *,
              command: str = "", progress: bool = False, echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train once (or resume, or reuse) and evaluate every run of ``runs``, which must share one training
    configuration (:func:`train_key` and seed); write each run's result JSON.

    The periodic evaluation of ``fit`` is skipped: each run evaluates the final model with its own
    ``EvalConfig``, and an evaluation already cached in the training folder is reused.

    Returns:
        The result records written.

    Raises:
        ValueError: when the runs do not share their training configuration.
    """
    if len({train_dir(work, r.cfg) for r in runs}) != 1:
        raise ValueError("run_group needs runs that share one training configuration and seed")
    cfg = runs[0].cfg
    folder = train_dir(work, cfg)
    timing_path = folder / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"train_seconds": 0.0, "steps": 0}
    reader = open_dataset(cfg.data)
    fitted = fit(cfg, folder, resume=True, progress=progress, eval_fn=_no_eval, reader=reader)
    trained_now = fitted.steps != timing["steps"]
    if trained_now:
        # Only calls that finish are counted: an interrupted call's partial epochs are not in the total.
        timing = {"train_seconds": timing["train_seconds"] + fitted.seconds, "steps": fitted.steps}
        atomic_write_json(timing_path, timing)
    data, checkpoint = describe_data(reader), checkpoint_info(fitted.last)
    records = []
    for run in runs:
        cache = folder / f"eval-{eval_key(run.cfg)}.json"
        if cache.is_file():
            evaluation, eval_reused = json.loads(cache.read_text()), True
        else:
            tic = time.perf_counter()
            result = evaluate_model(fitted.model, run.cfg, reader, progress=progress)
            evaluation = {"metrics": metrics_of(result), "eval_seconds": time.perf_counter() - tic,
                          "eval": dataclasses.asdict(run.cfg.eval),
                          # each test person's share: a cell difference's error over draws of the people
                          "people": {s: r["people"] for s, r in settings_of(result).items()}}
            atomic_write_json(cache, evaluation)
            eval_reused = False
        record = {
            "format": RUN_FORMAT, "grid": run.grid, "cell": run.cell.name, "overrides": list(run.cell.overrides),
            "seed": run.seed, "metrics": evaluation["metrics"], "people": evaluation.get("people"),
            "config": run.cfg.to_dict(),
            "train_dir": str(folder), "steps": fitted.steps, "data": data, "checkpoint": checkpoint,
            "synthetic_generator_version": GENERATOR_VERSION if run.cfg.data.root is None else None,
            "wall_seconds": {"train": timing["train_seconds"], "eval": evaluation["eval_seconds"],
                             "train_reused": not trained_now, "eval_reused": eval_reused},
            "machine": machine_info(), "command": command,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_json(result_path(out, run), record)
        echo(f"  {run.grid}/{run.cell.name} seed {run.seed}: " + _brief(record))
        records.append(record)
    return records


def _brief(record: dict[str, Any]) -> str:
    parts = [f"{s} R1 {100 * m['rank1']:.1f} mAP {100 * m['mAP']:.1f}" for s, m in record["metrics"].items()]
    w = record["wall_seconds"]
    train = "reused" if w["train_reused"] else f"{w['train']:.0f} s"
    evaluation = "reused" if w["eval_reused"] else f"{w['eval']:.0f} s"
    return "; ".join(parts) + f" (train {train}, eval {evaluation})"


def _groups(runs: Sequence[Run], work: Path) -> list[list[Run]]:
    groups: dict[Path, list[Run]] = {}
    for run in runs:
        groups.setdefault(train_dir(work, run.cfg), []).append(run)
    return list(groups.values())


def die_with_parent(parent: int) -> None:
    """Ask Linux to send this process SIGTERM when its parent ``parent`` exits, so that a killed
    ``vireid ablate`` leaves no pool worker training on (and holding its run folder's lock) behind. If the
    parent is already gone, exit now. A no-op on other systems."""
    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1   # <sys/prctl.h>
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM) != 0:
        return   # refused (a sandbox): the worker runs on as before, no worse than without the request
    if os.getppid() != parent:   # it exited before the request was in place
        os._exit(1)


def _worker_init(devices: Any, threads: int, parent: int) -> None:
    die_with_parent(parent)
    device = devices.get()
    if device is not None:
        # Before CUDA initialises in this process: it then sees exactly one device, as cuda:0.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device)
    torch.set_num_threads(threads)


def _worker_run(runs: list[Run], out: str, work: str, command: str) -> list[dict[str, Any]]:
    return run_group(runs, out, work, command=command, echo=lambda line: None)


def resolve_jobs(cfg: Config, jobs: int | None = None) -> tuple[int, list[int | None], str]:
    """How many runs go at once, on which devices, and why.

    ``None`` (automatic): one run per CUDA device when training runs on CUDA; otherwise one at a time,
    because a CPU run already spreads its convolutions over every core, so two runs at once would only
    split the same cores between them (and make every wall time harder to read).

    Returns:
        ``(jobs, devices, reason)``: a CUDA index per worker, or ``None`` for CPU workers.
    """
    cuda = cfg.train.device != "cpu" and torch.cuda.is_available()
    count = torch.cuda.device_count() if cuda else 0
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if cuda:
        n = jobs or count
        return n, [i % count for i in range(n)], f"{n} at once on {count} CUDA device(s), one per device"
    n = jobs or 1
    reason = ("one at a time on the CPU: each run already uses all cores" if n == 1
              else f"{n} at once on the CPU, {max(1, (os.cpu_count() or 1) // n)} threads each")
    return n, [None] * n, reason


def run_grid(grid: str, seeds: Sequence[int] = (0, 1, 2), out: str | Path = "results/ablations",
             work: str | Path | None = None, *, smoke: bool = False, overrides: Sequence[str] = (),
             base: str = "ablation", jobs: int | None = None, summary_only: bool = False, progress: bool = True,
             cells: Sequence[str] | None = None, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) every run of a grid (or of some of its cells), then write and return its summary
    (:func:`summarize`) over every finished run in ``out``: each cell with all the seeds it holds there.

    Args:
        grid: ``table3``, ``table4``, ``parts`` or ``options``.
        seeds: training seeds, at least 3 for a mean and a spread worth the name.
        out: results folder (``<out>/<grid>/...``).
        work: training folders (default ``runs/ablations``, or ``runs/ablations-smoke`` when ``smoke``).
        smoke: tiny sizes (seconds; tests and CI).
        overrides: ``section.key=value`` changes to the base config.
        base: the preset the grid starts from (``ablation``; ``paper-regdb`` on the real dataset).
        jobs: runs at once (default: one per CUDA device, one on a CPU; see :func:`resolve_jobs`).
        summary_only: run nothing; summarise the finished runs (the others are listed as missing).
        progress: show progress bars (sequential runs only).
        cells: run only these cells (default: all); the summary still covers every cell's finished runs, and
            its ``missing`` lists only the runs asked for here.
        echo: where progress lines go.

    Returns:
        The summary; its ``failed`` entry lists runs that raised (they have no result file, so running
        the grid again retries them).
    """
    runs = plan(grid, seeds, smoke=smoke, overrides=overrides, base=base, cells=cells)
    out = Path(out)
    work = Path(work) if work is not None else runs_dir() / ("ablations-smoke" if smoke else "ablations")
    command = " ".join(["vireid ablate --grid", grid, *([f"--preset {base}"] if base != "ablation" else []),
                        *(["--cells", *cells] if cells is not None else []),
                        "--seeds", *map(str, seeds), "--out", str(out), *(["--smoke"] if smoke else []),
                        *[f"--set {o}" for o in overrides]])
    # every finished run of the folder is summarised, so every one is checked against this configuration
    every = plan(grid, sorted(set(seeds) | set(finished_seeds(out, grid))), smoke=smoke, overrides=overrides,
                 base=base)
    for r in every:
        _check_not_stale(out, r)
    todo = [r for r in runs if not result_path(out, r).is_file()]
    n_jobs, devices, reason = resolve_jobs(runs[0].cfg, jobs)
    n_cells = len(GRIDS[grid]) if cells is None else len(cells)
    echo(f"{grid}: {len(runs)} runs ({n_cells} cells x {len(list(seeds))} seeds), "
         f"{len(runs) - len(todo)} already done; " + ("summary only" if summary_only else reason))
    failed: list[dict[str, Any]] = []
    groups = [] if summary_only else _groups(todo, work)
    if n_jobs == 1 or not groups:
        for group in groups:
            try:
                run_group(group, out, work, command=command, progress=progress, echo=echo)
            except Exception as e:  # one failed run must not stop the others; it is retried next time
                failed += _failure(group, e, echo)
    else:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        for d in devices:
            queue.put(d)
        threads = max(1, (os.cpu_count() or 1) // n_jobs) if devices[0] is None else 1
        with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_worker_init,
                                 initargs=(queue, threads, os.getpid())) as pool:
            futures = {pool.submit(_worker_run, g, str(out), str(work), command): g for g in groups}
            for future in as_completed(futures):
                try:
                    for record in future.result():
                        echo(f"  {grid}/{record['cell']} seed {record['seed']}: " + _brief(record))
                except Exception as e:
                    failed += _failure(futures[future], e, echo)
    summary = summarize(grid, [r for r in every if result_path(out, r).is_file()], out, seeds=seeds, cells=cells)
    summary["failed"] = failed
    write_summary(summary, out / grid)
    return summary


SPEED_ONLY = ("data.num_workers", "data.cache", "train.device")
"""Config keys that change how fast a run goes, not what it computes."""


def _check_not_stale(out: str | Path, run: Run) -> None:
    """Refuse to reuse a finished result of another configuration (a changed preset or ``--set``).

    Raises:
        ValueError: naming the result file and the differing keys.
    """
    path = result_path(out, run)
    if not path.is_file():
        return
    try:
        record = json.loads(path.read_text())
        done = record_config(record["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a readable ablation result ({e}); delete it to rerun that run") from None
    diff = [k for k in config_diff(done, run.cfg) if k not in SPEED_ONLY]
    version = record.get("synthetic_generator_version")
    if run.cfg.data.root is None and version != GENERATOR_VERSION:   # a record without one predates version 3
        diff.append(f"synthetic generator version {version or 'not recorded'} (now {GENERATOR_VERSION})")
    if diff:
        raise ValueError(f"{path} holds a result of another configuration (differing keys: {diff[:8]}); "
                         f"delete {Path(out) / run.grid} or choose another --out to run this grid afresh")


def _failure(group: Sequence[Run], error: Exception, echo: Callable[[str], None]) -> list[dict[str, Any]]:
    echo(f"  FAILED {', '.join(f'{r.cell.name} seed {r.seed}' for r in group)}: {type(error).__name__}: {error}")
    return [{"cell": r.cell.name, "seed": r.seed, "error": f"{type(error).__name__}: {error}"} for r in group]
