"""Full-protocol evaluation of a checkpoint, and the paper's experiments end to end (``vireid reproduce``).

RegDB: each of the 10 trials trains its own model on its split and is evaluated in both directions; the
trials are averaged. SYSU-MM01: one model, evaluated on the 10 random gallery draws in all-search and
indoor-search. Both are resumable: a trial whose results file answers for the same configuration and the
same weights is reused, an interrupted training continues from its ``last.pt``, and a run folder trained
with another configuration is refused (naming the differing keys) rather than mixed in.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
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


def format_tables(rows: dict[str, dict[str, Any]], paper_rows: Sequence[str] | bool = ("Ours (paper)",),
                  data: Mapping[str, Any] | None = None) -> str:
    """Paper-format tables, one per setting: ``rows`` maps a row name to a protocol result.

    Args:
        rows: row name -> protocol result.
        paper_rows: the paper's rows to show (see :func:`~vireid_lib.evaluation.report.results_table`).
        data: what our rows are on (:func:`vireid_lib.provenance.describe_data`): a first line says so, and on
            synthetic data each of our rows is marked ``(synthetic)``, so no synthetic number passes for one
            on the real dataset beside the paper's.
    """
    from vireid_lib.evaluation.report import results_table
    from vireid_lib.provenance import data_label

    synthetic = bool(data and data.get("synthetic"))
    settings: dict[str, dict[str, Any]] = {}
    for name, result in rows.items():
        for s, r in settings_of(result).items():
            settings.setdefault(s, {})[f"{name} (synthetic)" if synthetic else name] = r
    tables = "\n\n".join(results_table(ours, s, paper_rows=paper_rows) for s, ours in settings.items())
    return f"{data_label(data)}\n\n{tables}" if data else tables


FIXED_AFTER_TRAINING = ("model", "loss", "train")
"""Config sections a trained model's checkpoint fixes: an evaluation may change ``data`` and ``eval`` only."""

def evaluate_checkpoint(checkpoint: str | Path, overrides: Sequence[str] = (), *, root: str | None = None,
                        smoke: bool = False, progress: bool = True) -> dict[str, Any]:
    """Evaluate a checkpoint with the full protocol and save ``<checkpoint>.results.json`` beside it.

    The data are those of the checkpoint's config (its dataset folder, or the synthetic set at the size it
    was trained on) unless ``root``, ``smoke`` or a ``data.*`` override says otherwise. The results file
    records the config, the data (synthetic or real, size, seed) and the checkpoint (epoch, step, SHA-256 of
    the weights).

    Args:
        checkpoint: a ``.pt`` written by training.
        overrides: ``section.key=value`` changes to the stored config: ``eval.*`` and ``data.*`` only.
        root: dataset folder to evaluate on instead of the stored ``data.root``.
        smoke: tiny synthetic data (``data.synthetic_smoke=true``).
        progress: show progress bars.

    Returns:
        The protocol result.

    Raises:
        ValueError: an override of the ``model``, ``loss`` or ``train`` section, which a trained model fixes.
    """
    from vireid_lib.data import open_dataset
    from vireid_lib.evaluation.protocols import results_path, save_results
    from vireid_lib.provenance import checkpoint_info, describe_data
    from vireid_lib.training import config_diff, load_model

    model, stored = load_model(checkpoint)
    cfg = apply_overrides(stored, [*overrides, *([f"data.root={root}"] if root else []),
                                   *(["data.synthetic_smoke=true"] if smoke else [])])
    fixed = [k for k in config_diff(stored, cfg) if k.split(".")[0] in FIXED_AFTER_TRAINING]
    if fixed:
        raise ValueError(f"--set {', '.join(fixed)}: cannot apply to a trained model ({checkpoint} fixes the model, "
                         f"loss and train settings); at evaluation only data.* and eval.* may change")
    reader = open_dataset(cfg.data)
    result = evaluate_model(model, cfg, reader, progress=progress)
    save_results(result, results_path(checkpoint), cfg, data=describe_data(reader),
                 checkpoint=checkpoint_info(checkpoint))
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

    A run whose results file answers for this configuration and its checkpoint
    (:func:`~vireid_lib.provenance.stale_reason`) is reused. Otherwise the run is trained (resumed, or
    continued where only resumable keys changed, such as ``train.epochs`` under the step schedule) and
    evaluated again; a run folder holding a model trained with another configuration is refused, naming the
    differing keys: results of two configurations are never mixed in one summary.

    Args:
        dataset: ``"sysu"`` or ``"regdb"``; the preset is ``paper-<dataset>``.
        root: the dataset folder (``.../SYSU-MM01`` or ``.../RegDB``); ``None`` for the synthetic data.
        out_dir: where each run folder goes (``trial<N>/`` for RegDB, ``model/`` for SYSU-MM01) and the
            aggregate ``summary.json``.
        overrides: ``section.key=value`` changes to the preset.
        trials: RegDB trials to run (default 1..10).
        smoke: tiny synthetic data (tests; ``data.synthetic_smoke=true``).
        progress: show progress bars.

    Returns:
        The protocol result (RegDB: the aggregate over trials).

    Raises:
        ValueError: a run folder holds a model trained with another configuration.
        FolderInUseError: another process writes ``out_dir``.
    """
    from vireid_lib.data import open_dataset
    from vireid_lib.evaluation.protocols import aggregate_trials, results_path, save_results
    from vireid_lib.io import atomic_write_json
    from vireid_lib.locks import folder_lock
    from vireid_lib.provenance import checkpoint_info, describe_data, stale_reason
    from vireid_lib.training import check_epochs, fit

    if dataset not in SETTINGS:
        raise ValueError(f"dataset must be 'sysu' or 'regdb', got {dataset!r}")
    out_dir = Path(out_dir)
    cfg = apply_overrides(preset(f"paper-{dataset}"), [*overrides, *([f"data.root={root}"] if root else [])])
    if smoke and cfg.data.root is None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, synthetic_smoke=True))
    check_epochs(cfg.train)
    runs = [("model", cfg)] if dataset == "sysu" else [
        (f"trial{t}", dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, trial=t)))
        for t in (trials or range(1, 11))]
    results, datas, checkpoints = [], [], []
    with folder_lock(out_dir, f"vireid reproduce --dataset {dataset}"):
        for name, run_cfg in runs:
            run = out_dir / name
            done, last = results_path(run / "last.pt"), run / "last.pt"
            if done.is_file():
                reason = stale_reason(done, run_cfg, last)
                if reason is None:
                    print(f"{name}: already evaluated ({done})")
                    payload = json.loads(done.read_text())
                    results.append(payload["results"])
                    datas.append(payload.get("data"))
                    checkpoints.append(payload.get("checkpoint"))
                    continue
                print(f"{name}: not reused: {reason}")
            _check_resumable(run, run_cfg)
            print(f"{name}: {'resuming' if last.is_file() else 'training into'} {run}")
            reader = open_dataset(run_cfg.data)
            trained = fit(run_cfg, run, resume=True, progress=progress, reader=reader)
            result = evaluate_model(trained.model, run_cfg, reader, progress=progress)
            datas.append(describe_data(reader))
            checkpoints.append(checkpoint_info(trained.last))
            save_results(result, done, run_cfg, data=datas[-1], checkpoint=checkpoints[-1])
            _update_card(run / "last.pt")
            results.append(result)
        summary = results[0] if dataset == "sysu" else aggregate_trials(results)
        data = dict(datas[0]) if datas[0] else None
        if data is not None and dataset == "regdb":
            data.pop("trial", None)
            data["trials"] = [run_cfg.data.trial for _, run_cfg in runs]
        atomic_write_json(out_dir / "summary.json", {"results": summary, "config": cfg.to_dict(), "data": data,
                                                     "checkpoints": dict(zip([n for n, _ in runs], checkpoints))})
    return summary


def _check_resumable(run: Path, cfg: Config) -> None:
    """Refuse a run folder whose checkpoint was trained with another configuration (keys that change what
    training computes), naming the differing keys."""
    from vireid_lib.training import checkpoint_config, load_checkpoint, resume_conflicts

    last = run / "last.pt"
    if not last.is_file():
        return
    diff = resume_conflicts(checkpoint_config(load_checkpoint(last)), cfg)
    if diff:
        raise ValueError(f"{run} holds a model trained with another configuration (differing keys: "
                         f"{', '.join(diff)}); vireid reproduce never mixes configurations: use another --out, or "
                         f"delete {run} to train that run afresh")
