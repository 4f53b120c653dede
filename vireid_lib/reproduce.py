"""Full-protocol evaluation of a checkpoint, and the paper's experiments end to end (``vireid reproduce``).

RegDB: each of the 10 trials trains its own model on its split and is evaluated in both directions; the
trials are averaged. SYSU-MM01: one model, evaluated on the 10 random gallery draws in all-search and
indoor-search. Both are resumable: a trial whose results file exists is skipped, an interrupted training
continues from its ``last.pt``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from torch import nn

from vireid_lib.config import Config, apply_overrides, preset

SETTINGS = {"sysu": ("sysu/all", "sysu/indoor"), "regdb": ("regdb/v2t", "regdb/t2v")}
"""The table settings of each protocol, in the paper's order."""


def evaluate_model(model: nn.Module, cfg: Config, reader: Any, *, progress: bool = True) -> dict[str, Any]:
    """The full test protocol for ``cfg.data.dataset``: SYSU-MM01 all- and indoor-search over
    ``cfg.eval.sysu_trials`` gallery draws, or RegDB both directions on the reader's trial."""
    from vireid_lib.evaluation.protocols import evaluate_regdb, evaluate_sysu

    model.eval()
    if cfg.data.dataset == "sysu":
        return evaluate_sysu(model, reader, cfg.eval, cfg.data, progress=progress)
    return evaluate_regdb(model, reader, cfg.eval, cfg.data, progress=progress)


def settings_of(result: dict[str, Any]) -> dict[str, Any]:
    """``{"sysu/all": ..., "sysu/indoor": ...}`` or ``{"regdb/v2t": ..., "regdb/t2v": ...}`` from a protocol
    result (or an aggregate over trials); a mapping already keyed by setting is returned as it is."""
    if any("/" in k for k in result):
        return {k: v for k, v in result.items() if "/" in k}
    proto = "sysu" if "all" in result or "indoor" in result else "regdb"
    return {s: result[s.split("/")[1]] for s in SETTINGS[proto] if s.split("/")[1] in result}


def format_tables(rows: dict[str, dict[str, Any]], paper_rows: Sequence[str] | bool = ("Ours (paper)",)) -> str:
    """Paper-format tables, one per setting: ``rows`` maps a row name to a protocol result."""
    from vireid_lib.evaluation.report import results_table

    settings: dict[str, dict[str, Any]] = {}
    for name, result in rows.items():
        for s, r in settings_of(result).items():
            settings.setdefault(s, {})[name] = r
    return "\n\n".join(results_table(ours, s, paper_rows=paper_rows) for s, ours in settings.items())


def evaluate_checkpoint(checkpoint: str | Path, overrides: Sequence[str] = (), *, root: str | None = None,
                        smoke: bool = False, progress: bool = True) -> dict[str, Any]:
    """Evaluate a checkpoint with the full protocol and save ``<checkpoint>.results.json`` beside it.

    Args:
        checkpoint: a ``.pt`` written by training.
        overrides: ``section.key=value`` changes to the stored config (``eval.*`` typically).
        root: dataset folder to evaluate on instead of the stored ``data.root``.
        smoke: tiny synthetic data (when the stored config uses synthetic data).
        progress: show progress bars.

    Returns:
        The protocol result.
    """
    from vireid_lib.data import open_dataset
    from vireid_lib.evaluation.protocols import results_path, save_results
    from vireid_lib.training import load_model

    model, cfg = load_model(checkpoint)
    cfg = apply_overrides(cfg, [*overrides, *([f"data.root={root}"] if root else [])])
    reader = open_dataset(cfg.data, smoke=smoke)
    result = evaluate_model(model, cfg, reader, progress=progress)
    save_results(result, results_path(checkpoint), cfg)
    _update_card(checkpoint)
    return result


def _update_card(checkpoint: str | Path) -> None:
    """Rewrite the model card of a checkpoint's run folder after new results (a lone checkpoint without its
    run's ``config.json`` has no card)."""
    from vireid_lib.model_card import write_model_card

    if (Path(checkpoint).parent / "config.json").is_file():
        write_model_card(checkpoint)


def reproduce(dataset: Literal["sysu", "regdb"], root: str | None, out_dir: str | Path, *,
              overrides: Sequence[str] = (), trials: Sequence[int] | None = None, smoke: bool = False,
              progress: bool = True) -> dict[str, Any]:
    """Train and evaluate the paper's experiment on one dataset, resumably.

    Args:
        dataset: ``"sysu"`` or ``"regdb"``; the preset is ``paper-<dataset>``.
        root: the dataset folder (``.../SYSU-MM01`` or ``.../RegDB``); ``None`` for the synthetic data.
        out_dir: where each run folder goes (``trial<N>/`` for RegDB, ``model/`` for SYSU-MM01) and the
            aggregate ``summary.json``.
        overrides: ``section.key=value`` changes to the preset.
        trials: RegDB trials to run (default 1..10).
        smoke: tiny synthetic data (tests).
        progress: show progress bars.

    Returns:
        The protocol result (RegDB: the aggregate over trials).
    """
    from vireid_lib.data import open_dataset
    from vireid_lib.evaluation.protocols import aggregate_trials, results_path, save_results
    from vireid_lib.io import atomic_write_json
    from vireid_lib.training import fit

    if dataset not in SETTINGS:
        raise ValueError(f"dataset must be 'sysu' or 'regdb', got {dataset!r}")
    out_dir = Path(out_dir)
    cfg = apply_overrides(preset(f"paper-{dataset}"), [*overrides, *([f"data.root={root}"] if root else [])])
    runs = [("model", cfg)] if dataset == "sysu" else [
        (f"trial{t}", dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, trial=t)))
        for t in (trials or range(1, 11))]
    results = []
    for name, run_cfg in runs:
        run = out_dir / name
        done = results_path(run / "last.pt")
        if done.is_file():
            print(f"{name}: already evaluated ({done})")
            results.append(json.loads(done.read_text())["results"])
            continue
        print(f"{name}: training into {run}")
        reader = open_dataset(run_cfg.data, smoke=smoke)
        trained = fit(run_cfg, run, resume=True, progress=progress, reader=reader)
        result = evaluate_model(trained.model, run_cfg, reader, progress=progress)
        save_results(result, done, run_cfg)
        _update_card(run / "last.pt")
        results.append(result)
    summary = results[0] if dataset == "sysu" else aggregate_trials(results)
    atomic_write_json(out_dir / "summary.json", {"results": summary, "config": cfg.to_dict()})
    return summary
