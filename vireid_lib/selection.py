"""Model selection and checkpoint evaluation: the final epoch, or the best checkpoint of the periodic evaluation
(``train.select``), and the full protocol of any checkpoint (``vireid evaluate``).

CAJ evaluates every 2 epochs on gallery trial 0 and keeps the checkpoint with the best Rank-1, and papers usually
report that one. Those evaluations use the test identities, so a best checkpoint is chosen on the test set and
its numbers are optimistic; the final epoch's are not. :func:`evaluate_last_and_best` evaluates both with the
full protocol and labels them, so a reproduction can be compared like for like and read honestly.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vireid_lib.checkpoints import config_diff, load_checkpoint, load_model
from vireid_lib.config import apply_overrides
from vireid_lib.data import open_dataset
from vireid_lib.evaluation.protocols import evaluate, results_path, save_results
from vireid_lib.evaluation.report import format_tables, people_line
from vireid_lib.model_card import write_model_card
from vireid_lib.provenance import checkpoint_info, describe_data

SELECT_METRICS = {"last": "mAP", "best-map": "mAP", "best-rank1": "rank1"}
"""The trial-0 metric that picks ``best.pt`` under each ``train.select`` policy."""


def selection_metric(select: str) -> str:
    """The key of the periodic evaluation's metrics that ``select`` maximises.

    Raises:
        ValueError: an unknown policy.
    """
    if select not in SELECT_METRICS:
        raise ValueError(f"train.select must be one of {list(SELECT_METRICS)}, got {select!r}")
    return SELECT_METRICS[select]


def labels(select: str, best_epoch: int | None) -> dict[str, str]:
    """Row names of the two models: ``last`` and ``best`` (with the metric, epoch and the selection caveat);
    the selected one is marked."""
    metric = {"mAP": "mAP", "rank1": "Rank-1"}[selection_metric(select)]
    last = "last epoch" + (" (selected)" if select == "last" else "")
    best = f"best trial-0 {metric}" + (f", epoch {best_epoch}" if best_epoch is not None else "") + \
        ", chosen on test ids" + (" (selected)" if select != "last" else "")
    return {"last": last, "best": best}


def evaluate_last_and_best(fit_result: Any, cfg: Any, reader: Any, *, data: dict[str, Any] | None = None,
                           progress: bool = True) -> dict[str, Any]:
    """The full protocol for the final model and, when ``best.pt`` exists and differs from it, for the best
    one; results files go beside each checkpoint, with ``data`` (``provenance.describe_data``) and the
    checkpoint's epoch, step and weights hash.

    Returns:
        ``{"last": result, "best": result or None, "best_epoch": int or None, "labels": {...}}``.
    """
    last = evaluate(fit_result.model, cfg, reader, progress=progress)
    save_results(last, results_path(fit_result.last), cfg, data=data, checkpoint=checkpoint_info(fit_result.last))
    best, best_epoch = None, None
    if fit_result.best is not None and fit_result.best.is_file():
        best_epoch = load_checkpoint(fit_result.best)["epoch"]
        if best_epoch == load_checkpoint(fit_result.last)["epoch"]:
            best = last
        else:
            model, _ = load_model(fit_result.best)
            best = evaluate(model.to(next(fit_result.model.parameters()).device), cfg, reader, progress=progress)
        save_results(best, results_path(fit_result.best), cfg, data=data,
                     checkpoint=checkpoint_info(fit_result.best))
    return {"last": last, "best": best, "best_epoch": best_epoch, "labels": labels(cfg.train.select, best_epoch)}


FIXED_AFTER_TRAINING = ("model", "loss", "train")
"""Config sections a trained model's checkpoint fixes: an evaluation may change ``data`` and ``eval`` only."""


def evaluate_checkpoint(checkpoint: str | Path, overrides: Sequence[str] = (), *,
                        progress: bool = True) -> dict[str, Any]:
    """Evaluate a checkpoint with the full protocol and save ``<checkpoint>.results.json`` beside it.

    The data are those of the checkpoint's config (its dataset folder, or the synthetic set at the size it
    was trained on, ``data.synthetic_smoke`` included) unless a ``data.*`` override says otherwise. The results
    file records the config, the data (synthetic or real, size, seed) and the checkpoint (epoch, step, SHA-256
    of the weights).

    Args:
        checkpoint: a ``.pt`` written by training.
        overrides: ``section.key=value`` changes to the stored config: ``eval.*`` and ``data.*`` only
            (``data.root=...`` evaluates on another dataset folder).
        progress: show progress bars.

    Returns:
        The protocol result.

    Raises:
        ValueError: an override of the ``model``, ``loss`` or ``train`` section, which a trained model fixes.
    """
    model, stored = load_model(checkpoint)
    cfg = apply_overrides(stored, overrides)
    fixed = [k for k in config_diff(stored, cfg) if k.split(".")[0] in FIXED_AFTER_TRAINING]
    if fixed:
        raise ValueError(f"--set {', '.join(fixed)}: cannot apply to a trained model ({checkpoint} fixes the model, "
                         f"loss and train settings); at evaluation only data.* and eval.* may change")
    reader = open_dataset(cfg.data)
    result = evaluate(model, cfg, reader, progress=progress)
    save_results(result, results_path(checkpoint), cfg, data=describe_data(reader),
                 checkpoint=checkpoint_info(checkpoint))
    update_card(checkpoint)
    return result


def evaluate_and_report(checkpoint: str | Path, overrides: Sequence[str] = (), *, progress: bool = True,
                        echo: Any = print) -> dict[str, Any]:
    """``vireid evaluate``: :func:`evaluate_checkpoint`, then the paper-format tables and which weights they are
    of (epoch, step, SHA-256). Returns the protocol result."""
    result = evaluate_checkpoint(checkpoint, overrides, progress=progress)
    saved = json.loads(results_path(checkpoint).read_text())
    if os.environ.get("VIREID_DATA", "").strip() and saved["data"]["synthetic"] and \
            not any(o.startswith("data.root=") for o in overrides):
        print(f"note: {checkpoint} was trained on synthetic data and is evaluated on the same; VIREID_DATA is "
              f"not applied to a trained model's data (pass --root to evaluate it on a real dataset)", file=sys.stderr)
    echo(format_tables({Path(checkpoint).parent.name or "model": result}, data=saved["data"]))
    people = people_line(result)
    if people:
        echo(people)
    ck = saved["checkpoint"]
    echo(f"checkpoint: {checkpoint} (epoch {ck['epoch']}, step {ck['step']}, weights sha256 "
         f"{ck['weights_sha256'][:12]})\nresults: {results_path(checkpoint)}")
    return result


def update_card(checkpoint: str | Path) -> None:
    """Rewrite the model card of a checkpoint's run folder after new results (a lone checkpoint without its
    run's ``config.json`` has no card)."""
    if (Path(checkpoint).parent / "config.json").is_file():
        write_model_card(checkpoint)
