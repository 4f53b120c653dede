"""The grids' README (``<out>/README.md``): what produced each grid, its table with standard errors, Table 3
beside the paper's gains, the conclusions of :mod:`~vireid_lib.ablation.paper`, what the grids cost, and the
sentence on their repeat check; every number read from the grids' ``summary.json`` files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from vireid_lib.ablation.grids import GRIDS
from vireid_lib.ablation.paper import conclusions, table3_comparison
from vireid_lib.ablation.people import results_flag
from vireid_lib.ablation.report import cell_se, format_summary, load_summary
from vireid_lib.io import atomic_write_text


def _generator(summary: dict) -> str:
    """``" (generator version N)"`` for a synthetic grid's summary; summaries and records written before the
    version was recorded say so."""
    if summary["base_config"]["data"].get("root") is not None:
        return ""
    versions = [str(v) if v else "not recorded, written before version 3"
                for v in summary.get("synthetic_generator_versions", [0])]
    return f" (generator version {', '.join(versions)})"


COST_SEEDS = 5
"""The fewest seeds per cell the grids are read at (issue 10): the cost table scales the committed runs to it."""


def cost_table(summaries: dict[str, dict[str, Any]], jobs: int = 2, seeds: int = COST_SEEDS) -> str:
    """What the grids cost and what fewer seeds would buy: per grid the seeds per cell, the runs, their wall time
    summed (training and evaluation, shared trainings counted once) and divided by ``jobs`` runs at a time, in
    hours; the same scaled to ``seeds`` seeds per cell, the largest Rank-1 standard error of a cell's mean that
    would leave (each cell's SE x sqrt(n / seeds)), and the seeds per cell the largest SE needs to come to one
    point (n x SE^2, rounded up). Estimates from the committed runs, assuming each seed costs the same and the
    seed-to-seed spread stays as measured."""
    lines = [f"| grid | seeds per cell | runs | hours, {jobs} at a time | at {seeds} seeds: hours | largest Rank-1 "
             f"SE | seeds for an SE of 1 |", "|---|---|---|---|---|---|---|"]
    total = total_scaled = 0.0
    for grid, s in summaries.items():
        counts = [c["n"] for c in s["cells"].values()]
        hours = (s["wall_seconds"]["train"] + s["wall_seconds"]["eval"]) / 3600 / jobs
        # each cell's error scales with its own seed count: SE x sqrt(n / seeds); it reaches one point at n SE^2
        ses = [(100 * se, c["n"]) for c in s["cells"].values() for setting in c["std"]
               if (se := cell_se(c, setting)) is not None]
        scaled = hours * seeds * len(counts) / sum(counts)   # every cell-seed costs the same
        total, total_scaled = total + hours, total_scaled + scaled
        span = "-".join(map(str, dict.fromkeys([min(counts), max(counts)])))
        lines.append(f"| {grid} | {span} | {s['wall_seconds']['runs']} | {hours:.1f} | {scaled:.1f} | "
                     + ("- | - |" if not ses else
                        f"{max(se * math.sqrt(n / seeds) for se, n in ses):.2f} | "
                        f"{max(math.ceil(n * se ** 2 - 1e-9) for se, n in ses)} |"))
    lines.append(f"| all | | | {total:.1f} | {total_scaled:.1f} | | |")
    return "\n".join(lines)


def start_words(config: dict[str, Any]) -> str:
    """How a grid's network starts, from its config (``Config.to_dict()``): "from random weights" or "from the
    `<name>` start" (``model.pretrained``)."""
    start = config["model"].get("pretrained")
    return f"from the `{start}` start" if start else "from random weights"


def _steps_words(summary: dict[str, Any]) -> str:
    """The schedule of a grid's runs: epochs, and the training steps its records name (an epoch holds at most
    ``max_steps_per_epoch`` steps, fewer when the sampler runs out of identities). Summaries written before
    they kept the steps give the cap."""
    train = summary["base_config"]["train"]
    steps = summary.get("steps")
    if steps:
        return f"{train['epochs']} epochs, {'-'.join(map(str, dict.fromkeys([steps[0], steps[-1]])))} steps a run"
    return f"{train['epochs']} epochs of at most {train['max_steps_per_epoch']} steps"


def _shown(out: Path) -> str:
    """``out`` relative to the working folder when it lies under it (the committed folders), else as given."""
    try:
        return str(out.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(out)


def grids_readme(out: str | Path = "results/ablations") -> str:
    """``<out>/README.md``: what produced the grids (command, preset, seeds, machine, wall time, all read from
    their summaries), each grid's table with standard errors, Table 3 beside the paper's gains, and the
    :func:`conclusions`. Every number in it comes from a ``summary.json``; grids without one are named."""
    out = Path(out)
    summaries = {g: load_summary(out, g) for g in GRIDS if (out / g / "summary.json").is_file()}
    first = next(iter(summaries.values()), None)
    start = start_words(first["base_config"]) if first else ""
    lines = [f"# Ablation results on the synthetic RegDB layout{', ' + start if start else ''}", "",
             f"Written by `python -c \"from vireid_lib.ablation import write_grids_readme; "
             f"write_grids_readme('{_shown(out)}')\"` from each grid's `summary.json` (the grids: `run_all.sh` in "
             "this folder). Each run's JSON (`<grid>/<cell>/seed<k>.json`) holds its config, seed, metrics, wall "
             "time, machine and command.", ""]
    missing = [g for g in GRIDS if g not in summaries]
    if missing:
        lines += [f"Grids without results yet: {', '.join(missing)}.", ""]
    for grid, s in summaries.items():
        base = s["base_config"]
        w = s["wall_seconds"]
        lines += [f"## {grid}", "",
                  f"Preset `{base['name']}`: {base['model']['arch']} at width {base['model'].get('width', 64)} "
                  f"{start_words(base)}, {base['data']['height']}x{base['data']['width']} input, "
                  f"{base['train'].get('optimizer', 'sgd')} at {base['train']['lr']:g}, {_steps_words(s)}; synthetic {base['data']['dataset']} layout, "
                  f"{base['data']['synthetic_identities']} identities{_generator(s)}, dataset seed {base['data']['synthetic_seed']}, infrared correlation "
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
        lines += ["## Cost", "",
                  f"The committed runs' wall time, summed over runs and divided by the two runs the 2-core CPU ran at "
                  f"a time, and what {COST_SEEDS} seeds per cell would cost and leave: the largest Rank-1 standard "
                  "error of a cell's mean at that count, and the seeds per cell that error needs to come to one "
                  "point. Estimates scaled from these runs (each seed costs the same, the spread over seeds stays "
                  "as measured), not measurements.", "", cost_table(summaries), ""]
    if (out / "repeat.json").is_file():
        lines += [repeat_line(json.loads((out / "repeat.json").read_text())), ""]
    if (out / "people.md").is_file():
        lines += ["Every error above is over training seeds, the test people fixed. `people.md` reads the "
                  "verdicts over the test people as well, on the runs that were evaluated again from their "
                  f"checkpoints (`python -m benchmarks.ablation_people{results_flag(out)}`), and splits each "
                  "cell's spread into a "
                  "whole-model part, which more test people would not shrink, and each person's own noise, which "
                  "they would.", ""]
    return "\n".join(lines)


def write_grids_readme(out: str | Path = "results/ablations") -> Path:
    """Write :func:`grids_readme` to ``<out>/README.md`` atomically."""
    path = Path(out) / "README.md"
    atomic_write_text(path, grids_readme(out))
    return path


def repeat_line(record: dict[str, Any]) -> str:
    """The sentence on ``repeat.json`` (``python -m benchmarks.grid_repeat``): how many committed runs today's code
    trained again with the ``ablation`` preset as it is, and with other settings, and how many gave their record's
    weights and metrics exactly."""
    plain = [r for r in record["runs"] if not r["set"]]
    other = [r for r in record["runs"] if r["set"]]
    same = lambda rs: sum(r["same_weights"] and r["same_metrics"] for r in rs)   # noqa: E731
    text = (f"Does today's code repeat these runs? `python -m benchmarks.grid_repeat` trained {len(plain)} of them "
            f"again ({', '.join(r['run'] for r in plain)}) with the `ablation` preset as it is, AdamW's default "
            f"kernel included (`train.adamw_kernel`), and {same(plain)} of {len(plain)} gave their record's weights "
            "and metrics exactly (`repeat.json`).")
    for setting in dict.fromkeys(" ".join(r["set"]) for r in other):
        rs = [r for r in other if " ".join(r["set"]) == setting]
        text += (f" With `--set {setting}`, {same(rs)} of {len(rs)} did ({', '.join(r['run'] for r in rs)}).")
    return text


def grids_line(out: str | Path) -> str:
    """One paragraph on a folder of grids, for the project README: how they start, the seeds per cell, the wall
    time (each training and evaluation counted once across the grids, two at a time), the cells' mean Rank-1
    and seed-to-seed spread, the largest standard error of a cell's mean Rank-1 and how many cell settings are at
    most one point, and the "In short" line of :func:`~vireid_lib.ablation.paper.conclusions`.

    Raises:
        FileNotFoundError: a grid of :data:`~vireid_lib.ablation.grids.GRIDS` has no ``summary.json`` there.
    """
    out = Path(out)
    summaries = {g: load_summary(out, g) for g in GRIDS}
    cells = [c for s in summaries.values() for c in s["cells"].values()]
    seeds = sorted({c["n"] for c in cells})
    records = [json.loads(p.read_text()) for g in GRIDS for p in sorted((out / g).glob("*/seed*.json"))]
    # a training shared by cells of several grids (the full model's) and a cached evaluation count once
    trained = {r["train_dir"]: r["wall_seconds"]["train"] for r in records if not r["wall_seconds"]["train_reused"]}
    evaluated = sum(r["wall_seconds"]["eval"] for r in records if not r["wall_seconds"]["eval_reused"])
    hours = (sum(trained.values()) + evaluated) / 3600 / 2
    rank1 = [100 * c["mean"][s]["rank1"] for c in cells for s in c["mean"]]
    # a cell with one seed has no spread yet: its settings are left out of the spread and the errors
    sds = [100 * c["std"][s]["rank1"] for c in cells for s in c["std"] if c["std"][s]["rank1"] is not None]
    ses = [100 * se for c in cells for s in c["std"] if (se := cell_se(c, s)) is not None]
    short = next(line for line in conclusions(summaries).splitlines() if line.startswith("In short: "))
    return (f"{len(GRIDS)} grids {start_words(summaries['table3']['base_config'])}, "
            f"{'-'.join(map(str, dict.fromkeys([seeds[0], seeds[-1]])))} seeds per cell, {len(records)} runs of "
            f"{', '.join(map(str, sorted({st for s in summaries.values() for st in s.get('steps', [])})))} steps: "
            f"{hours:.1f} hours of wall time two at a time ({len(trained)} trainings and their evaluations, each "
            f"counted once). The cells' mean Rank-1 is {min(rank1):.1f}-{max(rank1):.1f}%, its seed-to-seed "
            f"standard deviation {min(sds):.1f}-{max(sds):.1f} points (median {float(np.median(sds)):.2f}), and the "
            f"standard error of a cell's mean Rank-1 at most {max(ses):.2f} points ({sum(se <= 1 for se in ses)} of "
            f"{len(ses)} cell settings at one point or less"
            + (f"; {unseen} with one seed, no error yet" if (unseen := sum(map(len, (c["std"] for c in cells)))
                                                             - len(ses)) else "") + f"). {short}")
