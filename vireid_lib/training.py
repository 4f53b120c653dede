"""Training: ``train_one_epoch`` and ``fit`` (with the schedule and optimiser of :mod:`vireid_lib.schedule`), which trains one
:class:`~vireid_lib.config.Config` into a run folder, resumably (what it leaves there: :mod:`vireid_lib.runs`;
what a checkpoint holds: :mod:`vireid_lib.checkpoints`), and :func:`load_or_train`, which trains only when the
run folder holds no finished run of the config.

Plain functions, no trainer class. When ``fit`` replaces ``last.pt`` or ``best.pt`` it first deletes that
checkpoint's ``*.results.json``: the numbers were of weights that no longer exist (``vireid train`` evaluates
the new ones; ``vireid evaluate`` does on request).

Distributed training: start with ``torchrun --nproc_per_node N vireid train ...``; ``fit`` joins the process
group, wraps the model in DistributedDataParallel, gives each rank whole identities (so the centre losses of
eqs. (11)–(13) stay correct per rank), and only rank 0 logs, evaluates and writes checkpoints
(:mod:`vireid_lib.distributed`).
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from vireid_lib import EXCHANGED, INFRARED, VISIBLE
from vireid_lib.audit import fit_auditor
from vireid_lib.checkpoints import (TrainingProgress, load_checkpoint, load_model, restore_training, save_epoch,
                                    training_state)
from vireid_lib.config import Config, TrainConfig
from vireid_lib.data import open_dataset
from vireid_lib.data.dataset import build_train_loader
from vireid_lib.data.interrupts import whole_batches
from vireid_lib.distributed import (barrier, broadcast_buffers, common_steps, gather_rng, init_distributed,
                                    resolve_device)
from vireid_lib.evaluation.protocols import evaluate_trial0, results_path
from vireid_lib.io import atomic_write, remove_stale_temps
from vireid_lib.locks import folder_lock
from vireid_lib.losses import Objective
from vireid_lib.machine import machine_info
from vireid_lib.model_card import write_model_card
from vireid_lib.models import build_model, check_start_data
from vireid_lib.runs import RunLog, trim_log
from vireid_lib.schedule import build_optimizer, lr_factor, set_epoch_lr
from vireid_lib.seeding import rng_state, seed_everything, set_rng_state
from vireid_lib.selection import selection_metric


# ---------------------------------------------------------------------------------------------- one epoch

class StepRecord(NamedTuple):
    """What one training step logs."""

    epoch: int
    step: int
    lr: float
    images_per_s: float
    total: float
    terms: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step, "lr": self.lr, "images_per_s": self.images_per_s,
                "total": self.total, **self.terms}


class NonFiniteLossError(FloatingPointError):
    """Raised when a loss term becomes NaN or infinite; training stops before the weights are touched."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`; the message says where training stopped and which checkpoint resumes it."""


def _autocast(device: torch.device, amp: str):
    if amp == "none":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def train_one_epoch(model: nn.Module, objective: Objective, batches: Iterable[Any],
                    optimizer: torch.optim.Optimizer, *, epoch: int, step: int = 0,
                    device: torch.device | str = "cpu", amp: str = "none", channels_last: bool = False,
                    scaler: torch.amp.GradScaler | None = None, max_steps: int | None = None,
                    on_step: Callable[[StepRecord], None] | None = None, progress: bool = False,
                    audit: Callable[[int, Any], None] | None = None) -> int:
    """One pass over ``batches`` of :class:`~vireid_lib.data.TrainBatch` (visible, exchanged, infrared,
    labels); returns the global step count after it.

    Each batch is concatenated as ``[visible; exchanged; infrared]`` with the matching modality names, so
    the exchanged copy goes through the visible stem (DECISIONS §2) and the objective sees ``3N`` rows.
    ``audit(step, result)``, when given, sees every step's loss before its backward pass (``vireid_lib.audit``).

    Raises:
        NonFiniteLossError: a loss term is NaN or infinite (before the optimiser step, so the weights and
            the last checkpoint are intact).
    """
    device = torch.device(device)
    model.train()
    lr = optimizer.param_groups[-1]["lr"]
    bar = tqdm(batches, desc=f"epoch {epoch + 1}", total=max_steps, leave=False, disable=not progress,
               dynamic_ncols=True)
    tic = time.perf_counter()
    # SIGINT held during a fetch from loader workers (vireid_lib/data/interrupts.py)
    for i, batch in enumerate(whole_batches(bar, hold=getattr(batches, "num_workers", 0) > 0)):
        if max_steps is not None and i >= max_steps:
            break
        n = batch.labels.shape[0]
        x = torch.cat([batch.visible, batch.exchanged, batch.infrared]).to(device, non_blocking=True)  # (3N, 3, H, W)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        labels = batch.labels.to(device).repeat(3)  # (3N,)
        modalities = [VISIBLE] * n + [EXCHANGED] * n + [INFRARED] * n
        with _autocast(device, amp):
            out = model(x, modalities)
        result = objective(out, labels, modalities)
        terms = {k: float(v.detach()) for k, v in result.terms.items()}
        total = float(result.total.detach())
        if not math.isfinite(total):
            raise NonFiniteLossError(
                f"the loss became non-finite at epoch {epoch + 1}, step {step + 1} (terms: {terms}); training "
                f"stopped before updating the weights, so the last checkpoint is intact. Lower train.lr, or "
                f"use train.amp=none / bf16 instead of fp16")
        if audit is not None:
            audit(step, result)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(result.total).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            result.total.backward()
            optimizer.step()
        step += 1
        toc = time.perf_counter()
        record = StepRecord(epoch, step, lr, 3 * n / max(toc - tic, 1e-9), total, terms)
        tic = toc
        bar.set_postfix(loss=f"{total:.3f}")
        if on_step is not None:
            on_step(record)
    bar.close()
    return step


# ---------------------------------------------------------------------------------------------- fit

class FitResult(NamedTuple):
    """Where ``fit`` left its files and how it went.

    Attributes:
        out_dir: the run folder.
        last: the checkpoint of the final epoch.
        best: the checkpoint with the best trial-0 value of ``train.select``'s metric (mAP, or Rank-1 for
            ``best-rank1``), ``None`` when no evaluation ran.
        best_map: that value (fraction; named for the default metric), ``None`` when no evaluation ran.
        epochs: epochs completed (including those of a resumed run).
        steps: optimiser steps completed.
        seconds: wall time of this call.
        model: the trained network (unwrapped from DistributedDataParallel), in evaluation mode.
    """

    out_dir: Path
    last: Path
    best: Path | None
    best_map: float | None
    epochs: int
    steps: int
    seconds: float
    model: nn.Module


EvalFn = Callable[[nn.Module, Config, Any], dict[str, float]]
"""``eval_fn(model, cfg, reader) -> metrics``: evaluates the (unwrapped, eval-mode) model; the best checkpoint
is chosen by the metric of ``train.select`` (``"mAP"`` or ``"rank1"``, a fraction)."""


class _Parts(NamedTuple):
    """What one training run updates: the network (and its DDP wrapper), the objective, optimiser and scaler."""

    model: nn.Module
    net: nn.Module
    objective: Objective
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None


def fit(cfg: Config, out_dir: str | Path, *, resume: bool = True, progress: bool = True,
        eval_fn: EvalFn | None = None, on_step: Callable[[StepRecord], None] | None = None,
        reader: Any = None, write: Callable[[Path, Callable[[Any], None]], Any] = atomic_write) -> FitResult:
    """Train ``cfg`` into ``out_dir`` with the paper's recipe (section 2.2), resumably.

    Every epoch: the learning rate of :func:`lr_factor`, one pass of the cross-modality sampler, and an
    atomic ``last.pt``. Every ``train.eval_every`` epochs and after the last one, ``eval_fn`` runs on
    gallery trial 0 (rank 0 only); the checkpoint with the best value of ``train.select``'s metric so far is
    kept as ``best.pt`` (chosen on the test identities, as in the reference code: report the final model
    for an unbiased number).

    Args:
        cfg: the run's configuration.
        out_dir: run folder (created); holds ``config.json``, ``last.pt``, ``best.pt``, ``log.jsonl``.
        resume: continue from ``out_dir/last.pt`` when it exists (the config must match, see
            :data:`~vireid_lib.checkpoints.RESUMABLE_CHANGES`); ``False`` starts afresh and overwrites the run.
        progress: show ``tqdm.auto`` progress bars (widgets in JupyterLab).
        eval_fn: the periodic evaluation; default :func:`~vireid_lib.evaluation.protocols.evaluate_trial0`.
            ``lambda model, cfg, reader: {}`` skips evaluation.
        on_step: called with every :class:`StepRecord` on rank 0 (live plots in notebooks).
        reader: a dataset reader to use instead of ``open_dataset(cfg.data)``.
        write: the atomic file writer for checkpoints (tests substitute a failing one).

    Raises:
        NonFiniteLossError: the loss became NaN or infinite; ``last.pt`` holds the last good epoch.
        ValueError: ``train.epochs`` is not a positive integer, or the run folder's checkpoint is of another
            configuration.
        FolderInUseError: another process is training into ``out_dir`` (:mod:`vireid_lib.locks`).
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    check_epochs(cfg.train)
    selection_metric(cfg.train.select)  # an unknown policy fails before any training
    rank, world, local_rank, owns_group = init_distributed(cfg.train)
    try:
        # one writer per run folder: a second training into it is refused while this one runs
        with folder_lock(out_dir, f"training {cfg.name}", enabled=rank == 0):
            if rank == 0:
                remove_stale_temps(out_dir)
            device = resolve_device(cfg.train, local_rank)
            reader = reader if reader is not None else open_dataset(cfg.data)
            parts = _build(cfg, reader.num_train_ids, device)
            at = _resume_or_start(cfg, out_dir, parts, device, rank, world, resume)
            if world > 1:
                parts = parts._replace(net=nn.parallel.DistributedDataParallel(
                    parts.model, device_ids=[device.index] if device.type == "cuda" else None))
            if rank == 0:
                cfg.to_json(out_dir / "config.json")
            log = RunLog(out_dir, enabled=rank == 0, tensorboard=cfg.train.tensorboard and at.epoch < cfg.train.epochs,
                         resumed=at.resumed, step=at.step, on_step=on_step)
            try:
                _train_epochs(cfg, out_dir, parts, reader, at, log, eval_fn or evaluate_trial0, device, rank,
                              world, progress, write)
                if rank == 0 and at.epoch < cfg.train.epochs:
                    # the training time and machine of this call, for the run's model card
                    log.write({"event": "fit", "epoch": cfg.train.epochs, "step": at.step, "device": str(device),
                               "wall_s": time.perf_counter() - t0, "machine": machine_info()})
            finally:
                log.close()
            if rank == 0:
                write_model_card(out_dir)
            best = out_dir / "best.pt"
            # The model goes back in the default memory format, the one load_model gives: evaluating it then
            # gives what evaluating its checkpoint gives. The channels_last kernels round otherwise than the
            # default ones, so a trained-in-channels_last model's features differed from its checkpoint's in the
            # last bits: on CUDA enough to move the ablations' metrics, on the CPU one of the demo's numbers in
            # its seventh decimal (results/recipe/demo_1700steps_contiguous_eval.*).
            model = parts.model.to(memory_format=torch.contiguous_format).eval()
            return FitResult(out_dir, out_dir / "last.pt", best if at.best_value is not None else None,
                             at.best_value, max(at.epoch, cfg.train.epochs), at.step, time.perf_counter() - t0,
                             model)
    finally:
        if owns_group:
            dist.destroy_process_group()


def _build(cfg: Config, num_classes: int, device: torch.device) -> _Parts:
    """The network (the same initial weights on every rank), objective, optimiser and fp16 scaler."""
    check_start_data(cfg)   # a shipped start never trains on its own pretraining people
    seed_everything(cfg.train.seed)
    model = build_model(cfg.model, num_classes).to(device)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler("cuda") if cfg.train.amp == "fp16" else None
    return _Parts(model, model, Objective(cfg.loss, cfg.model.local_branch), build_optimizer(model, cfg.train),
                  scaler)


def _resume_or_start(cfg: Config, out_dir: Path, parts: _Parts, device: torch.device, rank: int, world: int,
                     resume: bool) -> TrainingProgress:
    """Restore ``out_dir/last.pt`` (:func:`~vireid_lib.checkpoints.restore_training`; the log cut back to its
    step) when resuming; otherwise seed each rank's stream and delete the folder's earlier log and best model."""
    last, log_path = out_dir / "last.pt", out_dir / "log.jsonl"
    if resume and last.is_file():
        at = restore_training(last, cfg, parts.model, parts.optimizer, parts.scaler, device, rank, world)
        if rank == 0:
            trim_log(log_path, at.step)
            # stderr and regardless of progress=False: a resumed run must never pass for a fresh one
            print(f"resuming from epoch {at.epoch} of {cfg.train.epochs} (run folder {out_dir})", file=sys.stderr)
        return at
    seed_everything(cfg.train.seed + rank)  # ranks augment differently from here on
    if rank == 0 and log_path.exists():
        log_path.unlink()
        (out_dir / "best.pt").unlink(missing_ok=True)
        results_path(out_dir / "best.pt").unlink(missing_ok=True)
    return TrainingProgress()


def _train_epochs(cfg: Config, out_dir: Path, parts: _Parts, reader: Any, at: TrainingProgress, log: RunLog,
                  eval_fn: EvalFn, device: torch.device, rank: int, world: int, progress: bool,
                  write: Callable[[Path, Callable[[Any], None]], Any]) -> None:
    """The epochs from ``at.epoch`` to ``train.epochs``: train, evaluate when due, checkpoint."""
    tc = cfg.train
    auditor = None
    if tc.audit_every > 0 and world == 1:
        auditor = fit_auditor(cfg, parts.model, log.write, tqdm.write)
    elif tc.audit_every > 0 and rank == 0:
        tqdm.write("train.audit_every is ignored with several processes: audit the first steps with vireid check")
    loader = make_train_loader(cfg, reader, epoch=at.epoch, rank=rank, world_size=world)
    epochs = tqdm(range(at.epoch, tc.epochs), desc="training", initial=at.epoch, total=tc.epochs,
                  disable=not progress or rank != 0, dynamic_ncols=True)

    def on_step(record: StepRecord) -> None:
        at.step = record.step
        log.step(record)

    try:
        for epoch in epochs:
            at.current = epoch
            lr = set_epoch_lr(parts.optimizer, epoch, tc)
            loader.batch_sampler.set_epoch(epoch)
            steps = common_steps(len(loader), tc.max_steps_per_epoch, world, device)
            at.step = train_one_epoch(parts.net, parts.objective, loader, parts.optimizer, epoch=epoch, step=at.step,
                                      device=device, amp=tc.amp, channels_last=tc.channels_last, scaler=parts.scaler,
                                      max_steps=steps, on_step=on_step, progress=progress and rank == 0, audit=auditor)
            done = epoch + 1
            broadcast_buffers(parts.model, world)
            metrics = None
            if (tc.eval_every and done % tc.eval_every == 0) or done == tc.epochs:
                metrics = _evaluate_epoch(cfg, parts.model, reader, eval_fn, at, done, log) if rank == 0 else None
                barrier(world)
            rng = gather_rng(world)
            if rank == 0:
                state = training_state(cfg, parts.model, parts.optimizer, parts.scaler, reader.num_train_ids, done,
                                       at.step, at.best_value, at.best_epoch, rng, metrics,
                                       lr_factor(max(done - 1, 0), tc))
                save_epoch(out_dir, state, best=at.best_epoch == done, write=write)
                at.saved = done
                epochs.set_postfix(lr=f"{lr:.3g}", **({"mAP": f"{metrics['mAP']:.3f}"}
                                                      if metrics and "mAP" in metrics else {}))
            barrier(world)
    except KeyboardInterrupt:
        saved = (f"the last checkpoint is epoch {at.saved} of {tc.epochs} ({out_dir / 'last.pt'}); rerun the same "
                 f"command to resume" if at.saved else
                 "no checkpoint was written yet; rerun the same command to start again")
        raise TrainingInterrupted(f"stopped at epoch {at.current + 1} of {tc.epochs}, step {at.step}; {saved}") from None
    finally:
        epochs.close()


def _evaluate_epoch(cfg: Config, model: nn.Module, reader: Any, eval_fn: EvalFn, at: TrainingProgress, done: int,
                    log: RunLog) -> dict[str, float]:
    """The periodic evaluation after ``done`` epochs (rank 0): logged, and the best value updated."""
    saved = rng_state()  # evaluation must not shift the training's random streams (resume equality)
    # channels_last: a copy in load_model's memory format, so the metrics, best value and best.pt's choice are what
    # evaluating the checkpoint gives (the formats round otherwise; see fit's return); training is left as it is
    scored = copy.deepcopy(model).to(memory_format=torch.contiguous_format) if cfg.train.channels_last else model
    metrics = eval_fn(scored.eval(), cfg, reader)
    set_rng_state(saved)
    model.train()
    if metrics:
        log.evaluation(done, at.step, metrics)
        key = selection_metric(cfg.train.select)
        if key in metrics and (at.best_value is None or metrics[key] > at.best_value):
            at.best_value, at.best_epoch = float(metrics[key]), done
    return metrics


class Trained(NamedTuple):
    """What :func:`load_or_train` returns.

    Attributes:
        model: the network of ``run_dir/last.pt``, in evaluation mode, on the CPU.
        cfg: its configuration (the checkpoint's, which answers for the one asked for).
        trained: whether this call trained (``False``: the finished run was loaded as it was).
    """

    model: nn.Module
    cfg: Config
    trained: bool


def load_or_train(cfg: Config, run_dir: str | Path, **fit_kwargs: Any) -> Trained:
    """The model of ``cfg`` in ``run_dir``: loaded from ``run_dir/last.pt`` when that checkpoint finished
    ``cfg``'s training, else trained (or resumed) there with :func:`fit` first.

    Args:
        cfg: the configuration wanted.
        run_dir: the run folder.
        **fit_kwargs: passed to :func:`fit` when training (``progress``, ``reader``, ``eval_fn``, ``on_step``).

    Returns:
        :class:`Trained` ``(model, cfg, trained)``.

    Raises:
        ValueError: ``run_dir/last.pt`` holds a model of another configuration; the message names the differing
            keys (those of :func:`~vireid_lib.checkpoints.resume_conflicts`).
    """
    last = Path(run_dir) / "last.pt"
    if last.is_file():
        ckpt = load_checkpoint(last, cfg)   # one clear error naming the keys when it is another config's
        if ckpt["epoch"] >= cfg.train.epochs:
            model, stored = load_model(last)
            return Trained(model, stored, False)
    fit(cfg, run_dir, resume=True, **fit_kwargs)
    model, stored = load_model(last)
    return Trained(model, stored, True)


def check_epochs(tc: TrainConfig) -> None:
    """Refuse a training of no epochs (it would evaluate the untrained network and write no checkpoint).

    Raises:
        ValueError: ``train.epochs`` is not a positive integer.
    """
    if isinstance(tc.epochs, bool) or not isinstance(tc.epochs, int) or tc.epochs < 1:
        raise ValueError(f"train.epochs must be a positive number of epochs, got {tc.epochs!r} "
                         f"(e.g. --set train.epochs=5)")


def make_train_loader(cfg: Config, reader: Any, *, epoch: int = 0, rank: int = 0, world_size: int = 1) -> Any:
    """The training loader of ``cfg`` set to ``epoch``: the cross-modality identity sampler gives each rank
    whole identities, and every batch is a pure function of ``(train.seed, epoch, rank, world_size)``, so
    the sampler needs no state beyond the epoch (call ``loader.batch_sampler.set_epoch`` for the next one)."""
    loader = build_train_loader(reader, cfg.data, cfg.train, rank=rank, world_size=world_size)
    loader.batch_sampler.set_epoch(epoch)
    return loader


