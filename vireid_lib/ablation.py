"""Ablation grids: the paper's Table 3 (variants), Table 4 (test branch), Figure 4 (part count) and the
options of SPEC section 7, each cell trained with several seeds (``vireid ablate``).

A grid is a list of cells; a cell is a list of ``section.key=value`` overrides of the ``ablation`` preset,
so an ablation is a config value, never a copy of the code. The files:

- ``<out>/<grid>/<cell>/seed<k>.json``: one result per run: config, seed, metrics, wall time, machine,
  the command;
- ``<out>/<grid>/summary.json`` and ``summary.md``: mean and standard deviation over seeds per cell;
- ``<work>/<key>-seed<k>/``: the training folder of :func:`~vireid_lib.training.fit`, named by a hash of
  the training configuration, so every cell that trains the same network shares it (table3's ``full``,
  parts' ``P=3``, options' ``default`` and all of table4), and ``eval-<key>.json`` files caching each
  evaluation of it.

Resumable: a run whose result JSON exists is skipped, an interrupted training continues from its
``last.pt``. Table 4 trains nothing of its own: its cells are the full model evaluated with
``eval.branch`` = global, local and both.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vireid_lib import __version__
from vireid_lib.config import VARIANTS, Config, apply_overrides, preset
from vireid_lib.data.synthetic import GENERATOR_VERSION
from vireid_lib.io import atomic_write_json, atomic_write_text

RUN_FORMAT = "vireid-ablation-run-v1"
METRICS = ("rank1", "rank10", "rank20", "mAP", "mINP")
METRIC_LABELS = {"rank1": "R1", "rank10": "R10", "rank20": "R20", "mAP": "mAP", "mINP": "mINP"}
SETTING_ORDER = ("sysu/all", "sysu/indoor", "regdb/v2t", "regdb/t2v")

SMOKE_OVERRIDES = ("data.synthetic_identities=null", "data.synthetic_smoke=true", "data.height=96", "data.width=32", "data.num_workers=0",
                   "model.local_dim=16", "train.epochs=1", "train.max_steps_per_epoch=1", "train.ids_per_batch=2",
                   "train.per_modality=2", "train.lr=0.001", "eval.flip=false", "eval.batch_size=64")
"""What ``--smoke`` changes: one training step on the tiny synthetic set, small enough a step that the
network stays finite. The input keeps a height of 96, whose 6-row final map is divided by every part count
of Figure 4 (1, 2, 3, 6)."""


class Cell(NamedTuple):
    """One cell of a grid: a name and its config overrides."""

    name: str
    overrides: tuple[str, ...]

    @property
    def slug(self) -> str:
        """The cell's folder name."""
        return self.name.replace("=", "-").replace("/", "-").replace(" ", "")


def _variant_overrides(name: str) -> tuple[str, ...]:
    return tuple(f"model.{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in VARIANTS[name].items())


GRIDS: dict[str, tuple[Cell, ...]] = {
    "table3": tuple(Cell(name, _variant_overrides(name)) for name in VARIANTS),
    "table4": tuple(Cell(branch, (f"eval.branch={branch}",)) for branch in ("global", "local", "both")),
    "parts": tuple(Cell(f"P={p}", (f"model.parts={p}",)) for p in (1, 2, 3, 6)),
    "options": (Cell("default", ()), Cell("pca_mode=gate", ("model.pca_mode=gate",)),
                Cell("mca_scale=learnable", ("model.mca_scale=learnable",)),
                Cell("triplet=weighted", ("loss.triplet=weighted",)),
                Cell("triplet=adp", ("loss.triplet=adp",)),
                Cell("center_negatives=other_modality", ("loss.center_negatives=other_modality",)),
                Cell("mse_reduction=mean", ("loss.mse_reduction=mean",)),
                Cell("attention_init=identity", ("model.attention_init=identity",)),
                Cell("attention_lr_mult=0.1", ("train.attention_lr_mult=0.1",))),
}
"""The grids. table3: the variants of the paper's Table 3. table4: the test feature from the global branch,
the local branch or both (the full model). parts: the stripe count P of Figure 4 (PCA and the local branch
together). options: each decision of SPEC section 7 that has an option, changed one at a time from the
default (PCA add vs gate, MCA scale none vs learnable, batch-hard vs weighted or ADP triplet, eq. (11)'s negatives,
eq. (13)'s reduction, MCA/PCA's identity start and their learning-rate group; docs/REPRODUCE.md lists them)."""

NEUTRAL_DEFAULTS: dict[tuple[str, str], Any] = {
    ("loss", "mse_reduction"): "same", ("loss", "center_negatives"): "all", ("loss", "adp_alpha"): 1.0,
    ("loss", "adp_gamma"): 1.0, ("loss", "adp_square"): True, ("model", "attention_init"): "default",
    ("train", "attention_lr_mult"): None, ("train", "select"): "last", ("train", "audit_every"): 0,
    ("eval", "sysu_gallery"): "auto",
}
"""Config fields added after results were committed (issue 11), at the values that compute what the code
computed before they existed: left out of the hashes while they hold them, so earlier training folders and
evaluation caches keep their keys."""


def _drop_neutral(d: dict[str, Any]) -> dict[str, Any]:
    for (section, key), value in NEUTRAL_DEFAULTS.items():
        if section in d and key in d[section] and d[section][key] == value:
            d[section].pop(key)
    return d

PAPER_TABLE3_DELTAS: dict[str, dict[str, float]] = {
    "base+p+mca": {"base": 2.77, "base+p": 1.02},
    "base+p+pca": {"base": 2.72, "base+p": 0.68},
    "full": {"base": 4.56, "base+p": 1.87},
}
"""The paper's Table 3 (RegDB) as gains in points over Base and over Base+P (SPEC section 6). The paper
does not name the metric and its deltas do not add up exactly, so they are read as an ordering."""

PAPER_TABLE4_BEST = "global"
"""Table 4: the global feature alone beats the local feature alone and global + local."""

PAPER_FIGURE4_BEST = "P=3"
"""Figure 4: of P = 1, 2, 3 and 6 stripes, 3 is best."""


class Run(NamedTuple):
    """One training-and-evaluation of a grid: a cell with one seed and its full configuration."""

    grid: str
    cell: Cell
    seed: int
    cfg: Config


# ---------------------------------------------------------------------------------------------- planning

def ablation_config(smoke: bool = False, overrides: Sequence[str] = (), base: str = "ablation") -> Config:
    """The base configuration of every grid: the preset ``base`` (``ablation``, the synthetic CPU schedule;
    ``paper-regdb`` for the paper's recipe on real data), the smoke sizes when ``smoke``, then ``overrides``
    (``section.key=value``)."""
    return apply_overrides(preset(base), [*(SMOKE_OVERRIDES if smoke else ()), *overrides])


def plan(grid: str, seeds: Sequence[int] = (0, 1, 2), *, smoke: bool = False, overrides: Sequence[str] = (),
         base: str = "ablation") -> list[Run]:
    """The runs of a grid, seed-major (every cell with the first seed, then the second, ...), so a grid
    stopped early has all its cells with fewer seeds rather than some cells with none.

    Args:
        grid: ``table3``, ``table4``, ``parts`` or ``options``.
        seeds: training seeds (``train.seed``); the synthetic dataset stays the same.
        smoke: tiny sizes (tests, CI).
        overrides: ``section.key=value`` changes to the base config; a cell's own overrides win.
        base: the preset the grid starts from.

    Raises:
        ValueError: for an unknown grid or preset, no seeds, negative or repeated seeds.
    """
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; choose one of {sorted(GRIDS)}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("give at least one seed (e.g. --seeds 0 1 2)")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct non-negative integers, got {seeds}")
    cfg = ablation_config(smoke, overrides, base)
    return [Run(grid, cell, seed, apply_overrides(cfg, [*cell.overrides, f"train.seed={seed}"]))
            for seed in seeds for cell in GRIDS[grid]]


def _hash(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def train_key(cfg: Config) -> str:
    """A hash of everything that changes what training computes: the config without its name, its
    ``eval`` section and the settings that only change speed or logging (workers, cache, device, tensorboard)."""
    d = _drop_neutral(cfg.to_dict())
    d.pop("name")
    d.pop("eval")
    for section, key in (("data", "num_workers"), ("data", "cache"), ("train", "device"), ("train", "tensorboard")):
        d[section].pop(key)
    if not d["data"]["synthetic_smoke"]:   # a field added later: at its default it keeps the earlier keys
        d["data"].pop("synthetic_smoke")
    if cfg.data.root is None:   # synthetic data: another generator version is other data
        d["synthetic_generator_version"] = GENERATOR_VERSION
    return _hash(d)


def train_dir(work: str | Path, cfg: Config) -> Path:
    """The training folder of ``cfg`` under ``work``: ``<train key>-seed<seed>``."""
    return Path(work) / f"{train_key(cfg)}-seed{cfg.train.seed}"


def result_path(out: str | Path, run: Run) -> Path:
    """Where the result JSON of ``run`` goes: ``<out>/<grid>/<cell>/seed<k>.json``."""
    return Path(out) / run.grid / run.cell.slug / f"seed{run.seed}.json"


# ---------------------------------------------------------------------------------------------- running

def machine_info() -> dict[str, Any]:
    """The machine a run used: CPU model (``lscpu``), usable cores (``nproc``), torch threads, CUDA devices,
    platform and versions, and the 1-minute load average (how busy the CPU was with other work)."""
    import torch

    cpu = platform.processor() or platform.machine()
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), cpu)
    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {"cpu": cpu, "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "cuda": cuda,
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "vireid": __version__, "load_average_1min": round(os.getloadavg()[0], 2)}


def metrics_of(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{setting: {rank1, rank10, rank20, mAP, mINP}}`` (fractions) from a protocol result; SYSU-MM01 results
    give the mean over their gallery draws."""
    from vireid_lib.evaluation.report import settings_of

    out = {}
    for setting, r in settings_of(result).items():
        m = r["mean"] if "mean" in r else r
        cmc = m["cmc"]
        out[setting] = {"rank1": float(cmc[0]), "rank10": float(cmc[min(9, len(cmc) - 1)]),
                        "rank20": float(cmc[min(19, len(cmc) - 1)]), "mAP": float(m["mAP"]),
                        "mINP": float(m["mINP"])}
    return out


def _no_eval(model: Any, cfg: Config, reader: Any) -> dict[str, float]:
    return {}


def run_group(runs: Sequence[Run], out: str | Path, work: str | Path, *, smoke: bool = False,
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
    from vireid_lib.data import open_dataset
    from vireid_lib.provenance import checkpoint_info, describe_data
    from vireid_lib.evaluation.protocols import evaluate as evaluate_model
    from vireid_lib.training import fit

    if len({train_dir(work, r.cfg) for r in runs}) != 1:
        raise ValueError("run_group needs runs that share one training configuration and seed")
    cfg = runs[0].cfg
    folder = train_dir(work, cfg)
    timing_path = folder / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {"train_seconds": 0.0, "steps": 0}
    reader = open_dataset(cfg.data, smoke=smoke)
    fitted = fit(cfg, folder, resume=True, progress=progress, smoke=smoke, eval_fn=_no_eval, reader=reader)
    trained_now = fitted.steps != timing["steps"]
    if trained_now:
        # Only calls that finish are counted: an interrupted call's partial epochs are not in the total.
        timing = {"train_seconds": timing["train_seconds"] + fitted.seconds, "steps": fitted.steps}
        atomic_write_json(timing_path, timing)
    data, checkpoint = describe_data(reader), checkpoint_info(fitted.last)
    records = []
    for run in runs:
        cache = folder / f"eval-{_hash(_drop_neutral({'eval': dataclasses.asdict(run.cfg.eval)})['eval'])}.json"
        if cache.is_file():
            evaluation, eval_reused = json.loads(cache.read_text()), True
        else:
            tic = time.perf_counter()
            result = evaluate_model(fitted.model, run.cfg, reader, progress=progress)
            evaluation = {"metrics": metrics_of(result), "eval_seconds": time.perf_counter() - tic,
                          "eval": dataclasses.asdict(run.cfg.eval)}
            atomic_write_json(cache, evaluation)
            eval_reused = False
        record = {
            "format": RUN_FORMAT, "grid": run.grid, "cell": run.cell.name, "overrides": list(run.cell.overrides),
            "seed": run.seed, "metrics": evaluation["metrics"], "config": run.cfg.to_dict(),
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


def _worker_init(devices: Any, threads: int) -> None:
    import torch

    device = devices.get()
    if device is not None:
        # Before CUDA initialises in this process: it then sees exactly one device, as cuda:0.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device)
    torch.set_num_threads(threads)


def _worker_run(runs: list[Run], out: str, work: str, smoke: bool, command: str) -> list[dict[str, Any]]:
    return run_group(runs, out, work, smoke=smoke, command=command, echo=lambda line: None)


def resolve_jobs(cfg: Config, jobs: int | None = None) -> tuple[int, list[int | None], str]:
    """How many runs go at once, on which devices, and why.

    ``None`` (automatic): one run per CUDA device when training runs on CUDA; otherwise one at a time,
    because a CPU run already spreads its convolutions over every core, so two runs at once would only
    split the same cores between them (and make every wall time harder to read).

    Returns:
        ``(jobs, devices, reason)``: a CUDA index per worker, or ``None`` for CPU workers.
    """
    import torch

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
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or resume) every run of a grid, then write and return its summary (:func:`summarize`).

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
        echo: where progress lines go.

    Returns:
        The summary; its ``failed`` entry lists runs that raised (they have no result file, so running
        the grid again retries them).
    """
    from vireid_lib.runs import runs_dir

    runs = plan(grid, seeds, smoke=smoke, overrides=overrides, base=base)
    out = Path(out)
    work = Path(work) if work is not None else runs_dir() / ("ablations-smoke" if smoke else "ablations")
    command = " ".join(["vireid ablate --grid", grid, *([f"--preset {base}"] if base != "ablation" else []),
                        "--seeds", *map(str, seeds), "--out", str(out), *(["--smoke"] if smoke else []),
                        *[f"--set {o}" for o in overrides]])
    for r in runs:
        _check_not_stale(out, r)
    todo = [r for r in runs if not result_path(out, r).is_file()]
    n_jobs, devices, reason = resolve_jobs(runs[0].cfg, jobs)
    echo(f"{grid}: {len(runs)} runs ({len(GRIDS[grid])} cells x {len(list(seeds))} seeds), "
         f"{len(runs) - len(todo)} already done; " + ("summary only" if summary_only else reason))
    failed: list[dict[str, Any]] = []
    groups = [] if summary_only else _groups(todo, work)
    if n_jobs == 1 or not groups:
        for group in groups:
            try:
                run_group(group, out, work, smoke=smoke, command=command, progress=progress, echo=echo)
            except Exception as e:  # one failed run must not stop the others; it is retried next time
                failed += _failure(group, e, echo)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        for d in devices:
            queue.put(d)
        threads = max(1, (os.cpu_count() or 1) // n_jobs) if devices[0] is None else 1
        with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_worker_init,
                                 initargs=(queue, threads)) as pool:
            futures = {pool.submit(_worker_run, g, str(out), str(work), smoke, command): g for g in groups}
            for future in as_completed(futures):
                try:
                    for record in future.result():
                        echo(f"  {grid}/{record['cell']} seed {record['seed']}: " + _brief(record))
                except Exception as e:
                    failed += _failure(futures[future], e, echo)
    summary = summarize(grid, [r for r in runs if result_path(out, r).is_file()], out, seeds=seeds)
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
    from vireid_lib.checkpoints import config_diff

    path = result_path(out, run)
    if not path.is_file():
        return
    try:
        record = json.loads(path.read_text())
        done = Config.from_dict(record["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a readable ablation result ({e}); delete it to rerun that run") from None
    diff = [k for k in config_diff(done, run.cfg) if k not in SPEED_ONLY]
    version = record.get("synthetic_generator_version")
    if run.cfg.data.root is None and version is not None and version != GENERATOR_VERSION:
        diff.append(f"synthetic generator version {version} (now {GENERATOR_VERSION})")
    if diff:
        raise ValueError(f"{path} holds a result of another configuration (differing keys: {diff[:8]}); "
                         f"delete {Path(out) / run.grid} or choose another --out to run this grid afresh")


def _failure(group: Sequence[Run], error: Exception, echo: Callable[[str], None]) -> list[dict[str, Any]]:
    echo(f"  FAILED {', '.join(f'{r.cell.name} seed {r.seed}' for r in group)}: {type(error).__name__}: {error}")
    return [{"cell": r.cell.name, "seed": r.seed, "error": f"{type(error).__name__}: {error}"} for r in group]


# ---------------------------------------------------------------------------------------------- summaries

def summarize(grid: str, runs: Sequence[Run], out: str | Path, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """Mean, sample standard deviation (``ddof=1``; ``None`` with one seed) and standard error of the mean
    (``std / sqrt(n)``) over seeds, per cell, setting and metric, from the result files of ``runs``.

    Returns:
        ``{"grid", "cells": {cell: {"overrides", "seeds", "n", "mean", "std", "se", "values"}}, "missing",
        "commands", "machines", "wall_seconds", "base_config"}``; ``missing`` lists the cells and seeds
        asked for (``seeds``) without a result.
    """
    records = [json.loads(result_path(out, r).read_text()) for r in runs]
    cells: dict[str, Any] = {}
    for cell in GRIDS[grid]:
        mine = sorted((r for r in records if r["cell"] == cell.name), key=lambda r: r["seed"])
        if not mine:
            continue
        entry = {"overrides": list(cell.overrides), "seeds": [r["seed"] for r in mine], "n": len(mine),
                 "mean": {}, "std": {}, "se": {}, "values": {}}
        for setting in sorted(mine[0]["metrics"], key=SETTING_ORDER.index):
            values = {m: [r["metrics"][setting][m] for r in mine] for m in METRICS}
            entry["values"][setting] = values
            entry["mean"][setting] = {m: float(np.mean(v)) for m, v in values.items()}
            entry["std"][setting] = {m: float(np.std(v, ddof=1)) if len(v) > 1 else None for m, v in values.items()}
            entry["se"][setting] = {m: None if sd is None else sd / math.sqrt(len(mine))
                                    for m, sd in entry["std"][setting].items()}
        cells[cell.name] = entry
    asked = list(seeds) if seeds is not None else sorted({r.seed for r in runs})
    missing = [{"cell": c.name, "seed": s} for s in asked for c in GRIDS[grid]
               if not any(r["cell"] == c.name and r["seed"] == s for r in records)]
    trained = {r["train_dir"]: r["wall_seconds"]["train"] for r in records}
    evaluated = {(r["train_dir"], json.dumps(r["config"]["eval"], sort_keys=True)): r["wall_seconds"]["eval"]
                 for r in records}
    return {
        "grid": grid, "cells": cells, "missing": missing,
        "commands": sorted({r["command"] for r in records}),
        "machines": _unique([{k: v for k, v in r["machine"].items() if k != "load_average_1min"} for r in records]),
        "load_average_1min": [r["machine"]["load_average_1min"] for r in records],
        # Shared trainings and cached evaluations are counted once.
        "wall_seconds": {"train": float(sum(trained.values())), "eval": float(sum(evaluated.values())),
                         "runs": len(records)},
        "base_config": records[0]["config"] if records else None,
    }


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def format_summary(summary: dict[str, Any], setting: str | None = None,
                   metrics: Sequence[str] = ("rank1", "mAP", "mINP")) -> str:
    """A Markdown table: one row per cell, ``mean ± std`` in percent over its seeds, and per setting the
    standard error of the mean Rank-1 (``R1 SE``).

    Args:
        summary: from :func:`summarize` or :func:`load_summary`.
        setting: ``"regdb/v2t"``, ``"sysu/all"``, ...; default: every setting of the results.
        metrics: columns.
    """
    cells = summary["cells"]
    if not cells:
        return f"({summary['grid']}: no finished runs yet)"
    settings = [setting] if setting else sorted(next(iter(cells.values()))["mean"], key=SETTING_ORDER.index)
    lines = ["| cell | seeds | " + " | ".join(f"{s} {METRIC_LABELS[m]}" for s in settings for m in metrics)
             + " | " + " | ".join(f"{s} R1 SE" for s in settings) + " |",
             "|---|---|" + "---|" * (len(settings) * (len(metrics) + 1))]
    for name, c in cells.items():
        row = [_pm(c["mean"][s][m], c["std"][s][m]) for s in settings for m in metrics]
        se = [_se(c, s) for s in settings]
        lines.append(f"| {name} | {c['n']} | " + " | ".join(row) + " | " + " | ".join(se) + " |")
    return "\n".join(lines)


def data_line(config: dict[str, Any]) -> str:
    """One line saying what data a grid's config (``Config.to_dict()``) trains on: the real dataset's folder,
    or plainly synthetic with its size and seed."""
    from vireid_lib.data import DATASET_FOLDERS
    from vireid_lib.data.synthetic import DEFAULT_IDENTITIES, SMOKE_IDENTITIES

    d = config["data"]
    name = DATASET_FOLDERS[d["dataset"]]
    if d.get("root"):
        return f"data: {name} at {d['root']}"
    smoke = d.get("synthetic_smoke", False)
    n = d.get("synthetic_identities") or (SMOKE_IDENTITIES if smoke else DEFAULT_IDENTITIES)[d["dataset"]]
    return (f"data: SYNTHETIC {name} layout ({n} identities{', the tiny smoke size' if smoke else ''}, seed "
            f"{d.get('synthetic_seed', 0)}), not the real {name}")


def _se(cell: dict[str, Any], setting: str) -> str:
    """The standard error of a cell's mean Rank-1 in points (recomputed from the std for older summaries)."""
    std = cell["std"][setting]["rank1"]
    return "-" if std is None else f"{100 * std / math.sqrt(cell['n']):.2f}"


def _pm(mean: float, std: float | None) -> str:
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def write_summary(summary: dict[str, Any], folder: str | Path) -> Path:
    """Write ``summary.json`` and ``summary.md`` (table, command, machine, wall time, missing cells) into
    ``folder``; returns the JSON's path."""
    folder = Path(folder)
    w = summary["wall_seconds"]
    md = [f"# Ablation grid `{summary['grid']}`", "", format_summary(summary), "",
          "Mean ± sample standard deviation over seeds, in percent (fractions in summary.json); R1 SE is the "
          "standard error of the mean Rank-1 (std / sqrt(seeds)), in points.", ""]
    md += ["Command(s):", "", *[f"    {c}" for c in summary["commands"]], ""]
    for m in summary["machines"]:
        md.append(f"Machine: {m['cpu']}, nproc {m['nproc']}, {m['torch_threads']} torch threads"
                  + (f", CUDA {', '.join(m['cuda'])}" if m["cuda"] else ", no CUDA")
                  + f"; {m['platform']}, torch {m['torch']}")
    loads = summary["load_average_1min"]
    if loads:
        md.append(f"1-minute load average at the end of each run: {min(loads):.1f} to {max(loads):.1f}.")
    md += ["", f"Wall time: {w['train'] / 60:.1f} min training + {w['eval'] / 60:.1f} min evaluation over "
               f"{w['runs']} runs (shared trainings and cached evaluations counted once).", ""]
    if summary["missing"]:
        md.append("Missing (not run or not finished): "
                  + ", ".join(f"{m['cell']} seed {m['seed']}" for m in summary["missing"]) + ".")
    else:
        md.append("Every cell has every seed asked for.")
    if summary.get("failed"):
        md.append("Failed: " + "; ".join(f"{f['cell']} seed {f['seed']}: {f['error']}" for f in summary["failed"]))
    atomic_write_text(folder / "summary.md", "\n".join(md) + "\n")
    return atomic_write_json(folder / "summary.json", summary)


def load_summary(out: str | Path, grid: str) -> dict[str, Any]:
    """A grid's ``summary.json`` under ``out``.

    Raises:
        FileNotFoundError: no summary yet (with the command that makes one).
    """
    path = Path(out) / grid / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"no ablation summary at {path}; run `vireid ablate --grid {grid} --out {out}`")
    summary = json.loads(path.read_text())
    # JSON is written with sorted keys: restore the grid's order of cells
    summary["cells"] = {c.name: summary["cells"][c.name] for c in GRIDS[grid] if c.name in summary["cells"]}
    return summary


# ---------------------------------------------------------------------------------------------- against the paper

def difference(summary: dict[str, Any], a: str, b: str, setting: str, metric: str = "rank1") -> tuple[float, float | None]:
    """Mean of cell ``a`` minus mean of cell ``b`` (points), and its standard error
    ``sqrt(s_a^2 / n_a + s_b^2 / n_b)`` from the seeds (``None`` when a cell has one seed).

    Raises:
        KeyError: a cell without results (named).
    """
    cells = summary["cells"]
    for name in (a, b):
        if name not in cells:
            raise KeyError(f"cell {name!r} has no results in grid {summary['grid']!r}; have {sorted(cells)}")
    ca, cb = cells[a], cells[b]
    diff = 100 * (ca["mean"][setting][metric] - cb["mean"][setting][metric])
    sa, sb = ca["std"][setting][metric], cb["std"][setting][metric]
    if sa is None or sb is None:
        return diff, None
    return diff, 100 * math.sqrt(sa ** 2 / ca["n"] + sb ** 2 / cb["n"])


NOISE_SE = 2.0
"""A difference stands out of the seed-to-seed noise when it is more than this many standard errors from 0."""


def verdict(summary: dict[str, Any], a: str, b: str, setting: str, metric: str = "rank1") -> str:
    """One line comparing cell ``a`` with cell ``b``: the difference of means in points, its standard error,
    and whether it stands out of the seed-to-seed noise (more than two standard errors)."""
    d, se = difference(summary, a, b, setting, metric)
    label = f"{a} - {b}: {d:+.2f} {METRIC_LABELS[metric]} points"
    if se is None:
        return label + " (one seed: no error bar)"
    if se == 0:
        return label + " (no spread over seeds)"
    z = d / se
    what = "larger than" if abs(z) > NOISE_SE else "within"
    return label + f" ± {se:.2f} (standard error), {abs(z):.1f} SE: {what} the seed-to-seed noise"


def table3_comparison(summary: dict[str, Any], setting: str = "regdb/v2t", metric: str = "rank1") -> str:
    """Markdown: our gains over Base and over Base+P (points, ± standard error) beside the paper's."""
    lines = [f"| variant | ours {METRIC_LABELS[metric]} | ours vs Base | paper vs Base | ours vs Base+P | "
             "paper vs Base+P |", "|---|---|---|---|---|---|"]
    for name, c in summary["cells"].items():
        cells = [_pm(c["mean"][setting][metric], c["std"][setting][metric])]
        for ref in ("base", "base+p"):
            if name == ref or ref not in summary["cells"]:
                cells += ["-", "-"]
                continue
            d, se = difference(summary, name, ref, setting, metric)
            paper = PAPER_TABLE3_DELTAS.get(name, {}).get(ref)
            cells += [f"{d:+.2f}" + (f" ± {se:.2f}" if se is not None else ""),
                      f"{paper:+.2f}" if paper is not None else "-"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ranking(summary: dict[str, Any], setting: str, metric: str = "rank1") -> list[str]:
    """The cells from best to worst mean."""
    cells = summary["cells"]
    return sorted(cells, key=lambda c: -cells[c]["mean"][setting][metric])


def plot_grid(summary: dict[str, Any], setting: str, metric: str = "rank1", ax: Any = None) -> Any:
    """Bars of each cell's mean (percent) with ± one standard deviation, and every seed as a dot.

    Returns:
        The matplotlib axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * max(3, len(summary["cells"])) + 1, 3))
    for i, (name, c) in enumerate(summary["cells"].items()):
        std = c["std"][setting][metric]
        ax.bar(i, 100 * c["mean"][setting][metric], yerr=None if std is None else 100 * std, capsize=4,
               color="0.75", edgecolor="0.3")
        values = c["values"][setting][metric]
        ax.plot([i] * len(values), [100 * v for v in values], "o", color="C0", ms=4)
    ax.set_xticks(range(len(summary["cells"])), list(summary["cells"]), rotation=20)
    ax.set_ylabel(f"{METRIC_LABELS[metric]} (%)")
    ax.set_title(f"{summary['grid']}: {setting}, mean ± std over seeds (dots: seeds)")
    return ax


# ---------------------------------------------------------------------------------------------- conclusions

PAPER_CLAIMS: tuple[tuple[str, str, str, str], ...] = (
    ("table3", "base+p", "base", "the local branch: Base+P above Base (implied by every gain of Table 3)"),
    ("table3", "base+p+mca", "base+p", "MCA adds to Base+P"),
    ("table3", "base+p+pca", "base+p", "PCA adds to Base+P"),
    ("table3", "full", "base+p", "MCA and PCA together add to Base+P"),
    ("table3", "full", "base", "the full model above Base"),
    ("table4", "global", "local", "Table 4: the global test feature above the local one"),
    ("table4", "global", "both", "Table 4: the global test feature above global + local"),
    *(("parts", "P=3", f"P={p}", f"Figure 4: P = 3 above P = {p}") for p in (1, 2, 6)),
)
"""The paper's claims as ``(grid, a, b, what)``: cell ``a`` should beat cell ``b``."""


class Comparison(NamedTuple):
    """Cell ``a`` against cell ``b`` of one grid over several settings and metrics.

    Attributes:
        grid, a, b: the grid and the two cells.
        what: the claim in words.
        differences: ``{(setting, metric): (a - b in points, standard error or None)}``.
        larger, smaller, within: how many of those differences stand above zero, below zero, or inside
            two standard errors (no error bar counts as within).
    """

    grid: str
    a: str
    b: str
    what: str
    differences: dict[tuple[str, str], tuple[float, float | None]]
    larger: int
    smaller: int
    within: int

    @property
    def outcome(self) -> str:
        """For a claim that ``a`` beats ``b``: ``supported`` (some differences stand out in its direction,
        none against it), ``contradicted`` (the reverse), ``mixed`` (both) or ``within the noise``."""
        if self.larger and self.smaller:
            return "mixed"
        if self.larger:
            return "supported"
        if self.smaller:
            return "contradicted"
        return "within the noise"


def compare(summary: dict[str, Any], a: str, b: str, settings: Sequence[str], metrics: Sequence[str] = ("rank1", "mAP"),
            what: str = "") -> Comparison:
    """:func:`difference` of ``a`` and ``b`` in every setting and metric, counted as above, below or within
    two standard errors (the screen of :func:`verdict`).

    Raises:
        KeyError: a cell without results.
    """
    diffs, counts = {}, {"larger": 0, "smaller": 0, "within": 0}
    for setting in settings:
        for metric in metrics:
            d, se = difference(summary, a, b, setting, metric)
            diffs[setting, metric] = (d, se)
            key = "within" if not se or abs(d / se) <= NOISE_SE else "larger" if d > 0 else "smaller"
            counts[key] += 1
    return Comparison(summary["grid"], a, b, what or f"{a} against {b}", diffs, **counts)


def _settings(summary: dict[str, Any], settings: Sequence[str] | None) -> list[str]:
    have = next(iter(summary["cells"].values()))["mean"]
    return [s for s in (settings or sorted(have, key=SETTING_ORDER.index)) if s in have]


def _comparison_line(c: Comparison, outcome: str | None = None) -> str:
    parts = [f"{s} {METRIC_LABELS[m]} {d:+.2f}" + (f" ± {se:.2f}" if se is not None else "")
             for (s, m), (d, se) in c.differences.items()]
    n = c.larger + c.smaller + c.within
    return (f"- {c.what} ({c.a} - {c.b}): {'; '.join(parts)}. Above the noise in {c.larger} of {n}, below in "
            f"{c.smaller}, within in {c.within}: {outcome or c.outcome}.")


def conclusions(summaries: dict[str, dict[str, Any]], settings: Sequence[str] | None = None,
                metrics: Sequence[str] = ("rank1", "mAP")) -> str:
    """The conclusions of the grids, computed from their summaries: the accuracy range and seed-to-seed
    spread against the size of the paper's effects, each claim of :data:`PAPER_CLAIMS` with its differences
    in points (± standard error) and outcome, the order of the cells, and each option of the ``options``
    grid against the default. Grids absent from ``summaries`` are named and skipped.

    Args:
        summaries: ``{grid: summary}`` from :func:`load_summary`.
        settings: settings compared (default: every setting of each summary).
        metrics: metrics compared.
    """
    lines: list[str] = []
    absent = [g for g in GRIDS if g not in summaries or not summaries[g]["cells"]]
    present = {g: s for g, s in summaries.items() if s["cells"]}
    if not present:
        return "No grid has results yet: nothing to conclude."
    rank1 = [100 * c["mean"][s]["rank1"] for g in present.values() for c in g["cells"].values()
             for s in _settings(g, settings)]
    spread = [100 * c["std"][s]["rank1"] for g in present.values() for c in g["cells"].values()
              for s in _settings(g, settings) if c["std"][s]["rank1"] is not None]
    seeds = sorted({c["n"] for g in present.values() for c in g["cells"].values()})
    paper = [v for gains in PAPER_TABLE3_DELTAS.values() for v in gains.values()]
    lines.append(f"Scale: mean Rank-1 of the cells {min(rank1):.1f}-{max(rank1):.1f}%, over "
                 f"{'-'.join(map(str, dict.fromkeys([seeds[0], seeds[-1]])))} seeds per cell"
                 + (f"; seed-to-seed standard deviation of Rank-1 {min(spread):.1f}-{max(spread):.1f} points "
                    f"(median {float(np.median(spread)):.1f})" if spread else "")
                 + f", against the paper's Table 3 gains of {min(paper):.2f}-{max(paper):.2f} points.")
    if spread:
        # Two cells of n seeds each: SE of the difference = sigma * sqrt(2 / n); beyond 2 SE needs n > 8 sigma^2 / d^2.
        sigma = float(np.median(spread))
        need = {d: math.ceil(8 * sigma ** 2 / d ** 2) for d in (min(paper), max(paper))}
        lines.append(f"At that median spread a true difference of d points stands beyond two standard errors "
                     f"with about 8 sigma^2 / d^2 seeds per cell: {need[min(paper)]} for the paper's smallest gain "
                     f"({min(paper):.2f}), {need[max(paper)]} for its largest ({max(paper):.2f}).")
    lines.append("")
    lines.append("The paper's claims (a - b in points ± standard error; 'supported' or 'contradicted' needs a "
                 "difference beyond two standard errors):")
    outcomes: dict[str, list[str]] = {}
    for grid, a, b, what in PAPER_CLAIMS:
        s = present.get(grid)
        if s is None or a not in s["cells"] or b not in s["cells"]:
            continue
        c = compare(s, a, b, _settings(s, settings), metrics, what)
        outcomes.setdefault(c.outcome, []).append(f"{a} > {b}")
        lines.append(_comparison_line(c))
    for grid, best in (("table3", " > ".join(("full", "base+p+mca", "base+p+pca", "base+p", "base"))),
                       ("table4", PAPER_TABLE4_BEST + " best"), ("parts", PAPER_FIGURE4_BEST + " best")):
        if grid in present:
            s = present[grid]
            orders = "; ".join(f"{st}: {' > '.join(ranking(s, st, 'rank1'))}" for st in _settings(s, settings))
            lines.append(f"- {grid} order by mean Rank-1, best first: {orders} (paper: {best}).")
    if "options" in present and "default" in present["options"]["cells"]:
        s = present["options"]
        lines.append("")
        lines.append("The options of SPEC section 7 against the default (no direction claimed):")
        for name in s["cells"]:
            if name != "default":
                c = compare(s, name, "default", _settings(s, settings), metrics, f"{name} instead of the default")
                lines.append(_comparison_line(c, "differs beyond the noise" if c.larger or c.smaller
                                              else "within the noise"))
    lines.append("")
    lines.append("In short: " + "; ".join(f"{outcome}: {', '.join(claims)}" for outcome, claims in outcomes.items())
                 + ".")
    if absent:
        lines.append(f"No results yet for: {', '.join(absent)}.")
    return "\n".join(lines)


def grids_readme(out: str | Path = "results/ablations") -> str:
    """``<out>/README.md``: what produced the grids (command, preset, seeds, machine, wall time, all read from
    their summaries), each grid's table with standard errors, Table 3 beside the paper's gains, and the
    :func:`conclusions`. Every number in it comes from a ``summary.json``; grids without one are named."""
    out = Path(out)
    summaries = {g: load_summary(out, g) for g in GRIDS if (out / g / "summary.json").is_file()}
    lines = ["# Ablation results on the synthetic RegDB layout", "",
             "Written by `python -c \"from vireid_lib.ablation import write_grids_readme; write_grids_readme()\"` "
             "from each grid's `summary.json` (the grids: `results/ablations/run_all.sh`). Each run's JSON "
             "(`<grid>/<cell>/seed<k>.json`) holds its config, seed, metrics, wall time, machine and command.", ""]
    missing = [g for g in GRIDS if g not in summaries]
    if missing:
        lines += [f"Grids without results yet: {', '.join(missing)}.", ""]
    for grid, s in summaries.items():
        base = s["base_config"]
        w = s["wall_seconds"]
        lines += [f"## {grid}", "",
                  f"Preset `{base['name']}`: {base['model']['arch']} at width {base['model'].get('width', 64)}, "
                  f"{base['data']['height']}x{base['data']['width']} input, {base['train'].get('optimizer', 'sgd')} at "
                  f"{base['train']['lr']:g}, {base['train']['epochs']} epochs of {base['train']['max_steps_per_epoch']} "
                  f"steps; synthetic {base['data']['dataset']} layout, {base['data']['synthetic_identities']} "
                  f"identities, dataset seed {base['data']['synthetic_seed']}, infrared correlation "
                  f"{base['data'].get('synthetic_ir_correlation', 0.0):g}, trial {base['data']['trial']}. "
                  f"{w['runs']} runs; training {w['train'] / 60:.0f} min and evaluation {w['eval'] / 60:.0f} min of "
                  f"wall time in all (shared trainings counted once)."
                  + (f" Missing runs: {len(s['missing'])}." if s["missing"] else ""), "",
                  format_summary(s), ""]
        if grid == "table3" and all(c in s["cells"] for c in ("base", "base+p")):
            lines += ["Gains in Rank-1 points over Base and Base+P (± standard error) beside the paper's:", "",
                      table3_comparison(s), ""]
    if summaries:
        lines += ["## Conclusions", "", conclusions(summaries), ""]
    return "\n".join(lines)


def write_grids_readme(out: str | Path = "results/ablations") -> Path:
    """Write :func:`grids_readme` to ``<out>/README.md`` atomically."""
    path = Path(out) / "README.md"
    atomic_write_text(path, grids_readme(out))
    return path
