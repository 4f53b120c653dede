"""The ablations' numbers: each run's metrics read from a protocol result, each grid's summary over seeds
(mean, standard deviation, standard error), its Markdown table and files, and the cells' order and plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vireid_lib.ablation.grids import GRIDS, Run, result_path
from vireid_lib.data import DATASET_FOLDERS
from vireid_lib.data.synthetic import DEFAULT_IDENTITIES, SMOKE_IDENTITIES, setting_words
from vireid_lib.io import atomic_write_json, atomic_write_text
from vireid_lib.evaluation.report import headline_metrics, settings_of

METRICS = ("rank1", "rank10", "rank20", "mAP", "mINP")
METRIC_LABELS = {"rank1": "R1", "rank10": "R10", "rank20": "R20", "mAP": "mAP", "mINP": "mINP"}
SETTING_ORDER = ("sysu/all", "sysu/indoor", "regdb/v2t", "regdb/t2v")


def metrics_of(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{setting: {rank1, rank10, rank20, mAP, mINP}}`` (fractions) from a protocol result; SYSU-MM01 results
    give the mean over their gallery draws."""
    return {setting: headline_metrics(r) for setting, r in settings_of(result).items()}


# ---------------------------------------------------------------------------------------------- summaries

def summarize(grid: str, runs: Sequence[Run], out: str | Path, seeds: Sequence[int] | None = None,
              cells: Sequence[str] | None = None) -> dict[str, Any]:
    """Mean, sample standard deviation (``ddof=1``; ``None`` with one seed) and standard error of the mean
    (``std / sqrt(n)``) over seeds, per cell, setting and metric, from the result files of ``runs``.

    Returns:
        ``{"grid", "cells": {cell: {"overrides", "seeds", "n", "mean", "std", "se", "values"}}, "missing",
        "commands", "machines", "wall_seconds", "base_config", "steps"}`` (``steps``: the training steps of
        the runs, each count once); ``missing`` lists the cells (``cells``,
        default every cell of the grid) and seeds asked for (``seeds``) without a result.
    """
    wanted = [c.name for c in GRIDS[grid]] if cells is None else list(cells)
    records = [json.loads(result_path(out, r).read_text()) for r in runs]
    summaries: dict[str, Any] = {}
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
            entry["se"][setting] = {m: standard_error(v) for m, v in values.items()}
        summaries[cell.name] = entry
    asked = list(seeds) if seeds is not None else sorted({r.seed for r in runs})
    missing = [{"cell": c.name, "seed": s} for s in asked for c in GRIDS[grid] if c.name in wanted
               if not any(r["cell"] == c.name and r["seed"] == s for r in records)]
    trained = {r["train_dir"]: r["wall_seconds"]["train"] for r in records}
    evaluated = {(r["train_dir"], json.dumps(r["config"]["eval"], sort_keys=True)): r["wall_seconds"]["eval"]
                 for r in records}
    return {
        "grid": grid, "cells": summaries, "missing": missing,
        "commands": sorted({r["command"] for r in records}),
        "machines": _unique([{k: v for k, v in r["machine"].items() if k != "load_average_1min"} for r in records]),
        "load_average_1min": [r["machine"]["load_average_1min"] for r in records],
        # Shared trainings and cached evaluations are counted once.
        "wall_seconds": {"train": float(sum(trained.values())), "eval": float(sum(evaluated.values())),
                         "runs": len(records)},
        "base_config": records[0]["config"] if records else None,
        # what a run trained: an epoch holds at most max_steps_per_epoch steps, fewer when the sampler runs out
        "steps": sorted({r["steps"] for r in records if r.get("steps") is not None}),
        # Records written before the field existed carry no version (they are generator version 2's).
        "synthetic_generator_versions": sorted({r.get("synthetic_generator_version") or 0 for r in records}),
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
        row = [mean_std_text(c["mean"][s][m], c["std"][s][m]) for s in settings for m in metrics]
        se = [_se(c, s) for s in settings]
        lines.append(f"| {name} | {c['n']} | " + " | ".join(row) + " | " + " | ".join(se) + " |")
    return "\n".join(lines)


def data_line(config: dict[str, Any]) -> str:
    """One line saying what data a grid's config (``Config.to_dict()``) trains on: the real dataset's folder,
    or plainly synthetic with its size, seed and any generator setting that is not the default."""
    d = config["data"]
    name = DATASET_FOLDERS[d["dataset"]]
    if d.get("root"):
        return f"data: {name} at {d['root']}"
    smoke = d.get("synthetic_smoke", False)
    n = d.get("synthetic_identities") or (SMOKE_IDENTITIES if smoke else DEFAULT_IDENTITIES)[d["dataset"]]
    settings = setting_words(d.get("synthetic_ir_correlation"), d.get("synthetic_outdoor_daylight"))
    return (f"data: SYNTHETIC {name} layout ({n} identities{', the tiny smoke size' if smoke else ''}, seed "
            f"{d.get('synthetic_seed', 0)}{settings}), not the real {name}")


def cell_se(cell: dict[str, Any], setting: str, metric: str = "rank1") -> float | None:
    """The standard error of a cell's mean (a fraction): the summary's ``se``, or std / sqrt(n) for a summary
    written before it was stored; None with one seed."""
    se = cell.get("se", {}).get(setting, {}).get(metric)
    if se is not None:
        return se
    std = cell["std"][setting][metric]
    return None if std is None else std / math.sqrt(cell["n"])


def _se(cell: dict[str, Any], setting: str) -> str:
    """The standard error of a cell's mean Rank-1 in points, for the summary table."""
    se = cell_se(cell, setting)
    return "-" if se is None else f"{100 * se:.2f}"


def standard_error(values: Sequence[float]) -> float | None:
    """The standard error of the mean of ``values``: the sample standard deviation (ddof=1) over sqrt(n); None
    below two values."""
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None


def mean_std_text(mean: float, std: float | None) -> str:
    """``mean ± std`` in percent from fractions (the mean alone without a std)."""
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


def ranking(summary: dict[str, Any], setting: str, metric: str = "rank1") -> list[str]:
    """The cells from best to worst mean."""
    cells = summary["cells"]
    return sorted(cells, key=lambda c: -cells[c]["mean"][setting][metric])


def plot_grid(summary: dict[str, Any], setting: str, metric: str = "rank1", ax: Any = None) -> Any:
    """Bars of each cell's mean (percent) with ± one standard deviation, and every seed as a dot.

    Returns:
        The matplotlib axes.
    """
    import matplotlib.pyplot as plt   # here, not at the top: `vireid ablate` and its workers never draw

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
