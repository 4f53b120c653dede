"""The paper's experiments end to end (``vireid reproduce``), and ``vireid train``'s train-then-evaluate.

RegDB: each of the 10 trials trains its own model on its split and is evaluated in both directions; the
trials are averaged. SYSU-MM01: one model, evaluated on the 10 random gallery draws in all-search and
indoor-search. Both are resumable: a trial whose results file answers for the same configuration and the
same weights is reused, an interrupted training continues from its ``last.pt``, and a run folder trained
with another configuration is refused (naming the differing keys) rather than mixed in.

With ``train.select`` other than ``last``, both models are reported, labelled (:mod:`vireid_lib.selection`):
the final epoch's and the best periodic checkpoint's (chosen on the test identities, so optimistic).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from vireid_lib.checkpoints import checkpoint_config, load_checkpoint, resume_conflicts
from vireid_lib.config import Config, apply_overrides
from vireid_lib.data import open_dataset
from vireid_lib.evaluation.protocols import aggregate_trials, evaluate, results_path, save_results
from vireid_lib.evaluation.report import format_tables, protocol_settings
from vireid_lib.io import atomic_write_json
from vireid_lib.locks import folder_lock
from vireid_lib.model_card import write_model_card
from vireid_lib.presets import preset
from vireid_lib.provenance import checkpoint_info, data_label, describe_data, stale_reason
from vireid_lib.selection import evaluate_last_and_best, labels, selection_metric, update_card
from vireid_lib.training import check_epochs, fit

def train_and_evaluate(cfg: Config, out: Path, *, resume: bool = True, evaluate: bool = True,
                       progress: bool = True, echo: Any = print) -> None:
    """``vireid train``: train ``cfg`` into ``out`` (resumably), then evaluate the final model and, when it
    differs, the best periodic one with the full protocol (:func:`vireid_lib.selection.evaluate_last_and_best`),
    write the results files and the model card, and print the tables, labelled. Under ``torchrun`` every rank
    trains and rank 0 alone evaluates and prints.

    Raises:
        ValueError: ``train.epochs`` is not a positive integer, or ``out`` holds a run of another config.
    """
    check_epochs(cfg.train)
    rank0 = int(os.environ.get("RANK", "0")) == 0   # rank 0 of a torchrun launch, or not launched by it
    reader = open_dataset(cfg.data)
    data = describe_data(reader)
    if rank0:
        echo(data_label(data))
    # the run folder's lock spans training and the final evaluation, so the results are of this run's weights
    with folder_lock(out, f"vireid train ({cfg.name})", enabled=rank0):
        result = fit(cfg, out, resume=resume, progress=progress, reader=reader)
        if result.best is not None:
            echo(f"best trial-0 {selection_metric(cfg.train.select)} {100 * result.best_map:.2f}% -> {result.best} "
                 f"(chosen on the test identities, so optimistic; train.select={cfg.train.select})")
        if not evaluate:
            echo(f"checkpoint: {result.last} (epoch {result.epochs}, step {result.steps})")
            return
        if not rank0:
            return
        models = evaluate_last_and_best(result, cfg, reader, data=data, progress=progress)
        write_model_card(result.last)
    rows = {f"{cfg.name}, {models['labels'][k]}": models[k] for k in ("last", "best") if models[k] is not None}
    echo(format_tables(rows, data=data))
    echo(f"checkpoint: {result.last} (epoch {result.epochs}, step {result.steps})\nresults: {results_path(result.last)}")
    if models["best"] is not None:
        echo(f"best checkpoint: {result.best}\nresults: {results_path(result.best)}")


def reproduce_config(dataset: Literal["sysu", "regdb"], overrides: Sequence[str] = ()) -> Config:
    """The ``paper-<dataset>`` preset with ``overrides`` (``data.root=...`` for the real dataset folder,
    ``data.synthetic_smoke=true`` for the tiny synthetic set).

    Raises:
        ValueError: an unknown dataset or override.
    """
    protocol_settings(dataset)   # one clear error for an unknown dataset
    return apply_overrides(preset(f"paper-{dataset}"), overrides)


def reproduce(cfg: Config, out_dir: str | Path, *, trials: Sequence[int] | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Train and evaluate the paper's experiment on one dataset, resumably.

    A run whose results file answers for this configuration and its checkpoint
    (:func:`~vireid_lib.provenance.stale_reason`) is reused. Otherwise the run is trained (resumed, or
    continued where only resumable keys changed, such as ``train.epochs`` under the step schedule) and
    evaluated again; a run folder holding a model trained with another configuration is refused, naming the
    differing keys: results of two configurations are never mixed in one summary.

    Args:
        cfg: the experiment, usually :func:`reproduce_config` (``paper-<dataset>`` with overrides);
            ``data.dataset`` picks the protocol, ``data.root`` the real dataset folder (``None``: the synthetic
            data, at the tiny size with ``data.synthetic_smoke``).
        out_dir: where each run folder goes (``trial<N>/`` for RegDB, ``model/`` for SYSU-MM01) and the
            aggregate ``summary.json``.
        trials: RegDB trials to run (default 1..10).
        progress: show progress bars.

    Returns:
        ``{"last": result, "best": result or None, "labels": {"last", "best"}}``: the protocol result of the
        final models (RegDB: aggregated over trials) and, when ``train.select`` is not ``last``, that of the
        best periodic checkpoints, each labelled (:func:`vireid_lib.selection.labels`). ``summary.json`` holds
        the same under ``"results"`` and ``"best"``.

    Raises:
        ValueError: a run folder holds a model trained with another configuration.
        FolderInUseError: another process writes ``out_dir``.
    """
    out_dir = Path(out_dir)
    dataset = cfg.data.dataset
    protocol_settings(dataset)   # one clear error for an unknown dataset
    check_epochs(cfg.train)
    runs = [("model", cfg)] if dataset == "sysu" else [
        (f"trial{t}", dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, trial=t)))
        for t in (trials or range(1, 11))]
    with_best = cfg.train.select != "last"
    done: list[dict[str, Any]] = []
    with folder_lock(out_dir, f"vireid reproduce --dataset {dataset}"):
        for name, run_cfg in runs:
            done.append(_run(name, out_dir / name, run_cfg, with_best, progress))
        last = done[0]["last"] if dataset == "sysu" else aggregate_trials([d["last"] for d in done])
        best = None
        if with_best and all(d["best"] is not None for d in done):
            best = done[0]["best"] if dataset == "sysu" else aggregate_trials([d["best"] for d in done])
        names = labels(cfg.train.select, done[0]["best_epoch"] if dataset == "sysu" else None)
        data = dict(done[0]["data"]) if done[0]["data"] else None
        if data is not None and dataset == "regdb":
            data.pop("trial", None)
            data["trials"] = [run_cfg.data.trial for _, run_cfg in runs]
        atomic_write_json(out_dir / "summary.json", {
            "results": last, **({"best": best, "labels": names} if with_best else {}), "config": cfg.to_dict(),
            "data": data, "checkpoints": {n: d["checkpoint"] for (n, _), d in zip(runs, done)}})
    return {"last": last, "best": best, "labels": names}


def format_reproduction(out_dir: str | Path) -> str:
    """The tables of a reproduction's ``summary.json`` beside the paper's rows: the final models and, when
    ``train.select`` is not ``last``, the best periodic ones, each row labelled; then where the summary is."""
    path = Path(out_dir) / "summary.json"
    summary = json.loads(path.read_text())
    rows = {"ours (reproduced)": summary["results"]} if summary.get("best") is None else {
        f"ours (reproduced), {summary['labels']['last']}": summary["results"],
        f"ours (reproduced), {summary['labels']['best']}": summary["best"]}
    return f"{format_tables(rows, paper_rows=True, data=summary.get('data'))}\nsummary: {path}"


def _run(name: str, run: Path, cfg: Config, with_best: bool, progress: bool) -> dict[str, Any]:
    """One run folder: reused when its results answer for ``cfg``, else trained (or resumed) and evaluated.

    Returns:
        ``{"last", "best", "best_epoch", "data", "checkpoint"}`` (``best`` is ``None`` without ``with_best``).
    """
    last_pt, best_pt = run / "last.pt", run / "best.pt"
    last_file, best_file = results_path(last_pt), results_path(best_pt)
    if last_file.is_file():
        reason = stale_reason(last_file, cfg, last_pt)
        if reason is None and with_best and best_pt.is_file():
            reason = stale_reason(best_file, cfg, best_pt) if best_file.is_file() else "its best model is not evaluated"
        if reason is None:
            print(f"{name}: already evaluated ({last_file})")
            payload = json.loads(last_file.read_text())
            best = json.loads(best_file.read_text())["results"] if with_best and best_pt.is_file() else None
            best_epoch = load_checkpoint(best_pt)["epoch"] if best is not None else None
            return {"last": payload["results"], "best": best, "best_epoch": best_epoch, "data": payload.get("data"),
                    "checkpoint": payload.get("checkpoint")}
        print(f"{name}: not reused: {reason}")
    _check_resumable(run, cfg)
    print(f"{name}: {'resuming' if last_pt.is_file() else 'training into'} {run}")
    reader = open_dataset(cfg.data)
    trained = fit(cfg, run, resume=True, progress=progress, reader=reader)
    data = describe_data(reader)
    if with_best:
        models = evaluate_last_and_best(trained, cfg, reader, data=data, progress=progress)
    else:
        models = {"last": evaluate(trained.model, cfg, reader, progress=progress), "best": None, "best_epoch": None}
        save_results(models["last"], last_file, cfg, data=data, checkpoint=checkpoint_info(last_pt))
    update_card(last_pt)
    return {"last": models["last"], "best": models["best"], "best_epoch": models["best_epoch"], "data": data,
            "checkpoint": checkpoint_info(last_pt)}


def _check_resumable(run: Path, cfg: Config) -> None:
    """Refuse a run folder whose checkpoint was trained with another configuration (keys that change what
    training computes), naming the differing keys."""
    last = run / "last.pt"
    if not last.is_file():
        return
    diff = resume_conflicts(checkpoint_config(load_checkpoint(last)), cfg)
    if diff:
        raise ValueError(f"{run} holds a model trained with another configuration (differing keys: "
                         f"{', '.join(diff)}); vireid reproduce never mixes configurations: use another --out, or "
                         f"delete {run} to train that run afresh")
