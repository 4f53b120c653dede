"""Model selection: the final epoch, or the best checkpoint of the periodic evaluation (``train.select``).

CAJ evaluates every 2 epochs on gallery trial 0 and keeps the checkpoint with the best Rank-1, and papers usually
report that one. Those evaluations use the test identities, so a best checkpoint is chosen on the test set and
its numbers are optimistic; the final epoch's are not. :func:`evaluate_last_and_best` evaluates both with the
full protocol and labels them, so a reproduction can be compared like for like and read honestly.
"""

from __future__ import annotations

from typing import Any

from vireid_lib.checkpoints import load_checkpoint, load_model
from vireid_lib.evaluation.protocols import evaluate, results_path, save_results
from vireid_lib.provenance import checkpoint_info

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
