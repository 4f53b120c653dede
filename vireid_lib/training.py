"""Training: the paper's schedule and optimiser, resumable atomic checkpoints, ``train_one_epoch`` and ``fit``.

Plain functions, no trainer class. ``fit(cfg, out_dir)`` trains one :class:`~vireid_lib.config.Config` and
leaves in ``out_dir``:

- ``config.json``: the run's configuration;
- ``last.pt``: the checkpoint written after every epoch (resume point);
- ``best.pt``: the checkpoint with the highest mAP of the periodic evaluation on gallery trial 0. That
  evaluation uses the test identities, as the reference code's model selection does, so numbers of
  ``best.pt`` are optimistic; the final evaluation reports ``last.pt`` unless told otherwise;
- ``log.jsonl``: one JSON object per training step (every loss term, learning rate, images per second),
  one per evaluation (``"event": "eval"``) and one per ``fit`` call (``"event": "fit"``: wall time, machine);
- ``tensorboard/``: the same scalars as TensorBoard event files (``train.tensorboard``; optional package);
- ``MODEL_CARD.md``: the run described for a reader (``vireid_lib/model_card.py``);
- ``.vireid.lock`` (and, while training, ``.vireid.lock.json``): the run folder's lock; a second training into
  the same folder is refused while one runs (:mod:`vireid_lib.locks`).

Each checkpoint holds a SHA-256 of its weights (:func:`vireid_lib.provenance.weights_sha256`), which every
results file records.
When ``fit`` replaces ``last.pt`` or ``best.pt`` it first deletes that checkpoint's ``*.results.json``: the
numbers were of weights that no longer exist (``vireid train`` evaluates the new ones; ``vireid evaluate``
does on request).

Distributed training: start with ``torchrun --nproc_per_node N vireid train ...``; ``fit`` joins the process
group, wraps the model in DistributedDataParallel, gives each rank whole identities (so the centre losses of
eqs. 11-13 stay correct per rank), and only rank 0 logs, evaluates and writes checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from vireid_lib import EXCHANGED, INFRARED, VISIBLE, __version__
from vireid_lib.config import Config, TrainConfig
from vireid_lib.io import atomic_write, atomic_write_text, remove_stale_temps
from vireid_lib.locks import folder_lock
from vireid_lib.losses import Objective
from vireid_lib.models.build import state_dict_mismatch
from vireid_lib.provenance import weights_sha256
from vireid_lib.tensorboard_log import TensorBoardLog
from vireid_lib.selection import selection_metric

CHECKPOINT_FORMAT = "vireid-checkpoint-v1"

RESUMABLE_CHANGES = frozenset({
    "name", "data.num_workers", "data.cache", "train.epochs", "train.eval_every", "train.device", "train.amp",
    "train.channels_last", "train.tensorboard", "train.audit_every",
})
"""Config keys that may differ between a checkpoint and the run resuming it (they do not change what the
first epochs computed); ``eval.*`` may differ too. Any other difference is an error."""


# ---------------------------------------------------------------------------------------------- schedule

def lr_factor(epoch: int, cfg: TrainConfig | None = None) -> float:
    """Multiplier of the base learning rate for a 0-based ``epoch`` (paper section 2.2, SPEC 4).

    Linear warm-up as in CAJ's ``adjust_learning_rate``: during the first ``warmup_epochs`` epochs the
    factor is ``(epoch + 1) / warmup_epochs`` (0.1, 0.2, ..., 1.0 for the paper's 10 epochs, constant within
    an epoch; so ``warmup_epochs=1`` is the full rate from the start). Afterwards, the ``step`` schedule
    gives ``gamma ** k`` with ``k`` the number of milestones reached (paper: x0.1 from epoch 20, x0.01 from
    epoch 50); the ``cosine`` schedule gives
    ``0.5 * (1 + cos(pi * t))`` with ``t = (epoch - warmup_epochs) / (epochs - warmup_epochs)``: 1 right
    after the warm-up, decreasing towards 0, which it does not reach (the last epoch has ``t < 1``).

    Args:
        epoch: the 0-based epoch.
        cfg: schedule, warm-up length, milestones and gamma (default: the paper's).
    """
    cfg = cfg or TrainConfig()
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if epoch < cfg.warmup_epochs:
        return (epoch + 1) / cfg.warmup_epochs
    if cfg.schedule == "cosine":
        t = (epoch - cfg.warmup_epochs) / max(1, cfg.epochs - cfg.warmup_epochs)
        return 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))
    return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser of ``cfg.optimizer`` with two parameter groups (SPEC 7.8, as in CAJ).

    ``"sgd"``: SGD with (Nesterov) momentum and L2 weight decay, the paper's. ``"adamw"``: AdamW with
    ``betas=(momentum, 0.999)`` and decoupled weight decay. Group 0 holds ``model.backbone_parameters()`` at
    ``lr * backbone_lr_mult``; the last group holds ``model.head_parameters()`` at ``lr``. With
    ``attention_lr_mult`` set, MCA and PCA leave the heads' group for one of their own (group 1) at
    ``lr * attention_lr_mult``. Each group records its multiplier as ``lr_mult`` so :func:`set_epoch_lr` can
    apply the schedule.

    Raises:
        ValueError: for an unknown optimiser name.
    """
    attention = {id(p) for p in model.attention_parameters()} if cfg.attention_lr_mult is not None else set()
    groups = [
        {"params": [p for p in model.backbone_parameters() if p.requires_grad], "lr_mult": cfg.backbone_lr_mult},
        {"params": [p for p in model.head_parameters() if p.requires_grad and id(p) not in attention],
         "lr_mult": 1.0},
    ]
    if attention:  # the heads' group stays last: train_one_epoch logs param_groups[-1]'s rate
        groups.insert(1, {"params": [p for p in model.attention_parameters() if p.requires_grad],
                          "lr_mult": cfg.attention_lr_mult})
    for g in groups:
        g["lr"] = cfg.lr * g["lr_mult"]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.nesterov)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay)
    raise ValueError(f"train.optimizer must be sgd or adamw, got {cfg.optimizer!r}")


def set_epoch_lr(optimizer: torch.optim.Optimizer, epoch: int, cfg: TrainConfig) -> float:
    """Set every group's rate for ``epoch``; returns the base (head) rate."""
    lr = cfg.lr * lr_factor(epoch, cfg)
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_mult", 1.0)
    return lr


# ---------------------------------------------------------------------------------------------- RNG states

def rng_state() -> dict[str, Any]:
    """The torch, CUDA, numpy and Python generator states as tensors and plain values (``weights_only``)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), p["gauss"]))


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's ``random``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------- checkpoints

def config_diff(a: Config, b: Config) -> list[str]:
    """The dotted keys whose values differ between two configs."""
    def flat(d: dict, prefix: str = "") -> dict[str, Any]:
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out
    fa, fb = flat(a.to_dict()), flat(b.to_dict())
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))


def save_checkpoint(path: str | Path, state: dict[str, Any],
                    write: Callable[[Path, Callable[[Any], None]], Any] = atomic_write) -> Path:
    """Write a checkpoint atomically: a crash at any moment leaves the previous file loadable.

    Args:
        path: destination (``.pt``).
        state: tensors and plain Python values only (it is read back with ``weights_only=True``).
        write: the atomic writer (tests substitute one that fails mid-way).
    """
    path = Path(path)
    write(path, lambda f: torch.save(state, f))
    return path


def load_checkpoint(path: str | Path, cfg: Config | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (``weights_only=True``).

    Args:
        path: the ``.pt`` file.
        cfg: when given, the checkpoint's config must match it except for :data:`RESUMABLE_CHANGES` and
            the ``eval`` section.
        map_location: where tensors are loaded.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a vireid checkpoint, or written for a different config (the keys are named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first (vireid train --out {path.parent})")
    try:
        with warnings.catch_warnings():   # torch warns about the pickle protocol of files it then refuses
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # unpickling errors come in many types; all mean "not a checkpoint"
        raise ValueError(f"{path} is not a readable vireid checkpoint (torch.load with weights_only=True "
                         f"refused it: {type(e).__name__}); checkpoints are written by vireid train") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a vireid checkpoint (expected a dict with format "
                         f"{CHECKPOINT_FORMAT!r}); checkpoints are written by vireid train / training.fit")
    if cfg is not None:
        diff = resume_conflicts(Config.from_json(ckpt["config"]), cfg)
        if diff:
            raise ValueError(f"{path} was written for a different configuration (differing keys: {diff}); "
                             f"use another --out folder, or start afresh with --no-resume (fit(resume=False)), which "
                             f"overwrites this run")
    return ckpt


def resume_conflicts(stored: Config, cfg: Config) -> list[str]:
    """The keys whose difference keeps ``cfg`` from continuing a checkpoint of ``stored``: all but
    :data:`RESUMABLE_CHANGES` and the ``eval`` section."""
    # Under the cosine schedule the epoch count sets every rate after the warm-up: not resumable.
    resumable = RESUMABLE_CHANGES - ({"train.epochs"} if cfg.train.schedule == "cosine" else set())
    return [k for k in config_diff(stored, cfg) if k not in resumable and not k.startswith("eval.")]


def checkpoint_config(ckpt: dict[str, Any]) -> Config:
    """The :class:`Config` stored in a checkpoint."""
    return Config.from_json(ckpt["config"])


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, Config]:
    """Rebuild the trained network from a checkpoint, in evaluation mode.

    Returns:
        ``(model, cfg)``: the network with the checkpoint's weights and the run's configuration.
    """
    from vireid_lib.models import build_model

    ckpt = load_checkpoint(path, map_location=map_location)
    cfg = checkpoint_config(ckpt)
    try:
        model = build_model(dataclasses.replace(cfg.model, pretrained=None), ckpt["num_classes"])
    except ValueError as e:
        raise ValueError(f"{path}: its stored config does not build a model ({e})") from None
    load_weights(model, ckpt["model"], path)
    return model.eval(), cfg


def load_weights(model: nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """``model.load_state_dict(state)`` with one clear error when the weights do not fit the network built
    from the checkpoint's stored config (an edited config, or weights of another architecture).

    Raises:
        ValueError: naming the checkpoint and the first missing, unexpected and mis-shaped keys.
    """
    missing, unexpected, shapes = state_dict_mismatch(model.state_dict(), state)
    if missing or unexpected or shapes:
        raise ValueError(f"{path}: its weights do not match the model its stored config describes (missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]}, wrong shapes {shapes[:3]}; "
                         f"{len(missing)}, {len(unexpected)}, {len(shapes)} in all; a classifier of another size means "
                         f"another number of training identities): the checkpoint, its config or the dataset "
                         f"changed since it was written; use them as they were, or retrain")
    model.load_state_dict(state)


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
    the exchanged copy goes through the visible stem (SPEC 7.2) and the objective sees ``3N`` rows.
    ``audit(step, result)``, when given, sees every step's loss before its backward pass (``vireid_lib.audit``).

    Raises:
        NonFiniteLossError: a loss term is NaN or infinite (before the optimiser step, so the weights and
            the last checkpoint are intact).
    """
    from tqdm.auto import tqdm

    device = torch.device(device)
    model.train()
    lr = optimizer.param_groups[-1]["lr"]
    bar = tqdm(batches, desc=f"epoch {epoch + 1}", total=max_steps, leave=False, disable=not progress,
               dynamic_ncols=True)
    tic = time.perf_counter()
    for i, batch in enumerate(bar):
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
"""``eval_fn(model, cfg, reader) -> metrics``: evaluates the (unwrapped, eval-mode) model; the metrics must
include ``"mAP"`` (a fraction), by which the best checkpoint is chosen."""


def resolve_device(cfg: TrainConfig, local_rank: int = 0) -> torch.device:
    """The training device: ``cfg.device``, where ``"auto"`` means CUDA when available.

    Raises:
        ValueError: CUDA is asked for but not available, or autocast is asked for without CUDA.
    """
    name = cfg.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"train.device={cfg.device!r} but CUDA is not available; use train.device=cpu")
    try:
        device = torch.device(f"cuda:{local_rank}" if name == "cuda" else name)
    except RuntimeError:
        raise ValueError(f"train.device={cfg.device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if cfg.amp not in ("none", "bf16", "fp16"):
        raise ValueError(f"train.amp must be none, bf16 or fp16, got {cfg.amp!r}")
    if cfg.amp != "none" and device.type != "cuda":
        raise ValueError(f"train.amp={cfg.amp} is a CUDA option; use train.amp=none on {device.type}")
    return device


def _init_distributed(cfg: TrainConfig) -> tuple[int, int, int, bool]:
    """(rank, world size, local rank, whether this call created the process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), False
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0, False
    use_cuda = cfg.device != "cpu" and torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), local_rank, True


def _read_log(path: Path) -> list[dict[str, Any]]:
    """The records of ``log.jsonl``. A torn last line (a crash or a full disk mid-write) is dropped with a
    warning naming the file; a bad line elsewhere is an error naming the file and line."""
    if not path.is_file():
        return []
    lines = [(n, line) for n, line in enumerate(path.read_text().splitlines(), start=1) if line.strip()]
    records = []
    for i, (lineno, line) in enumerate(lines):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError
        except ValueError:
            if i == len(lines) - 1:
                warnings.warn(f"{path}:{lineno}: dropped a torn last line {line[:40]!r} (an interrupted write "
                              f"or a full disk); the log continues from the line before it", stacklevel=3)
                break
            raise ValueError(f"{path}:{lineno}: not a JSON log record ({line[:40]!r}); the log is damaged "
                             f"before its last line: remove that line, or start afresh with --no-resume") from None
        records.append(record)
    return records


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``log.jsonl`` (a file or its run folder)."""
    path = Path(path)
    return _read_log(path / "log.jsonl" if path.is_dir() else path)


def plot_losses(records: Sequence[dict[str, Any]] | str | Path, smooth: int = 20, axes: Any = None) -> Any:
    """Loss curves: one panel per logged term (and the learning rate), moving-averaged over ``smooth`` steps.

    Args:
        records: log records (:func:`read_log`) or the path of a run folder / ``log.jsonl``.
        smooth: moving-average window in steps.
        axes: matplotlib axes to draw into (one per panel); a new figure when ``None``.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    if isinstance(records, (str, Path)):
        records = read_log(records)
    steps = [r for r in records if r.get("event", "step") == "step"]
    if not steps:
        raise ValueError("the log holds no training steps yet")
    skip = {"epoch", "step", "images_per_s", "event"}
    keys = [k for k in steps[-1] if k not in skip]
    if axes is None:
        cols = min(4, len(keys))
        fig, axes = plt.subplots((len(keys) + cols - 1) // cols, cols, figsize=(3.2 * cols, 2.4 * ((len(keys) + cols - 1) // cols)),
                                 squeeze=False)
        axes = axes.ravel()
    fig = axes[0].figure
    x = np.array([r["step"] for r in steps])
    for ax, k in zip(axes, keys):
        y = np.array([r.get(k, np.nan) for r in steps], dtype=float)
        w = max(1, min(smooth, len(y)))
        ys = np.convolve(y, np.ones(w) / w, mode="valid")
        ax.plot(x, y, color="0.8", lw=0.8)
        ax.plot(x[w - 1:], ys, lw=1.5)
        ax.set_title(k)
        ax.set_xlabel("step")
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def loss_trend(records: Sequence[dict[str, Any]] | str | Path, window: int = 50) -> dict[str, tuple[float, float]]:
    """How each logged loss term moved over a run: its mean over the first and over the last ``window``
    steps (``window`` is cut to half the steps, at least one, so short runs compare their two ends).

    Args:
        records: log records (:func:`read_log`) or the path of a run folder / ``log.jsonl``.
        window: steps averaged at each end.

    Returns:
        ``{term: (start, end)}`` for every loss term of the log (not the learning rate).

    Raises:
        ValueError: when the log holds no training steps or ``window < 1``.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if isinstance(records, (str, Path)):
        records = read_log(records)
    steps = [r for r in records if r.get("event", "step") == "step"]
    if not steps:
        raise ValueError("the log holds no training steps yet")
    w = max(1, min(window, len(steps) // 2))
    skip = {"epoch", "step", "images_per_s", "event", "lr"}
    keys = [k for k in steps[-1] if k not in skip]
    return {k: (float(np.nanmean([r.get(k, np.nan) for r in steps[:w]])),
                float(np.nanmean([r.get(k, np.nan) for r in steps[-w:]]))) for k in keys}


def live_loss_plot(every: int = 10, smooth: int = 10) -> Callable[[StepRecord], None]:
    """An ``on_step`` callback for :func:`fit` that redraws the per-term loss curves every ``every`` steps
    in place (a notebook output that updates while training runs).

    Returns:
        The callback; its ``records`` attribute holds every record seen.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    records: list[dict[str, Any]] = []
    handle: dict[str, Any] = {}

    def on_step(record: StepRecord) -> None:
        records.append({"event": "step", **record.to_json()})
        if len(records) % every:
            return
        fig = plot_losses(records, smooth=smooth)
        if "display" not in handle:
            handle["display"] = display(fig, display_id=True)
        else:
            handle["display"].update(fig)
        plt.close(fig)

    on_step.records = records  # type: ignore[attr-defined]
    return on_step


def runs_dir() -> Path:
    """The folder that holds run folders, one rule for every command and notebook: ``$VIREID_RUNS`` when set,
    else ``runs/`` in the current working directory (where the command was launched; a notebook's own folder
    under Jupyter). Never the installed package's folder: a run belongs to the person launching it."""
    if os.environ.get("VIREID_RUNS", "").strip():
        return Path(os.environ["VIREID_RUNS"].strip()).expanduser().absolute()
    return Path.cwd() / "runs"


def notebook_run_dir(smoke: bool = False) -> Path:
    """The run folder of notebook 03, which notebooks 04, 06 and 07 load when present:
    ``runs_dir() / "notebook-03"``, or ``"notebook-03-smoke"`` in smoke mode so a tiny CI run never stands in
    for the real one."""
    return runs_dir() / ("notebook-03-smoke" if smoke else "notebook-03")


def _gather_rng(world: int) -> list[dict[str, Any]]:
    state = rng_state()
    if world == 1:
        return [state]
    states: list[Any] = [None] * world
    dist.all_gather_object(states, state)
    return states


def _checkpoint_state(cfg: Config, model: nn.Module, optimizer: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler | None, num_classes: int, epoch: int, step: int,
                      best_map: float | None, best_epoch: int | None, rng: list[dict[str, Any]],
                      metrics: dict[str, float] | None) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "library_version": __version__,
        "config": cfg.to_json(),
        "num_classes": num_classes,
        "model": model.state_dict(),
        "weights_sha256": weights_sha256(model.state_dict()),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "schedule": {"epoch": epoch, "lr_factor": lr_factor(max(epoch - 1, 0), cfg.train)},
        # The sampler's order of epoch e is a pure function of (seed, e, rank, world size), so these
        # four numbers are its whole state.
        "sampler": {"seed": cfg.train.seed, "epoch": epoch, "world_size": len(rng)},
        "rng": rng,
        "epoch": epoch,
        "step": step,
        "best_map": best_map,
        "best_epoch": best_epoch,
        "metrics": metrics,
    }


def fit(cfg: Config, out_dir: str | Path, *, resume: bool = True, progress: bool = True, smoke: bool = False,
        eval_fn: EvalFn | None = None, on_step: Callable[[StepRecord], None] | None = None,
        reader: Any = None, write: Callable[[Path, Callable[[Any], None]], Any] = atomic_write) -> FitResult:
    """Train ``cfg`` into ``out_dir`` with the paper's recipe (SPEC 4 and 7.8), resumably.

    Every epoch: the learning rate of :func:`lr_factor`, one pass of the cross-modality sampler, and an
    atomic ``last.pt``. Every ``train.eval_every`` epochs and after the last one, ``eval_fn`` runs on
    gallery trial 0 (rank 0 only); the checkpoint with the best mAP so far is kept as ``best.pt`` (chosen
    on the test identities, as in the reference code: report the final model for an unbiased number).

    Args:
        cfg: the run's configuration.
        out_dir: run folder (created); holds ``config.json``, ``last.pt``, ``best.pt``, ``log.jsonl``.
        resume: continue from ``out_dir/last.pt`` when it exists (the config must match, see
            :data:`RESUMABLE_CHANGES`); ``False`` starts afresh and overwrites the folder's run.
        progress: show ``tqdm.auto`` progress bars (widgets in JupyterLab).
        smoke: tiny synthetic data (tests, CI); recorded in the saved config as ``data.synthetic_smoke``.
        eval_fn: the periodic evaluation; default :func:`evaluate_trial0`. ``lambda model, cfg, reader: {}``
            skips evaluation.
        on_step: called with every :class:`StepRecord` on rank 0 (live plots in notebooks).
        reader: a dataset reader to use instead of ``open_dataset(cfg.data, smoke)``.
        write: the atomic file writer for checkpoints (tests substitute a failing one).

    Raises:
        NonFiniteLossError: the loss became NaN or infinite; ``last.pt`` holds the last good epoch.
        ValueError: ``train.epochs`` is not a positive integer, or the run folder's checkpoint is of another
            configuration.
        FolderInUseError: another process is training into ``out_dir`` (:mod:`vireid_lib.locks`).
    """
    from tqdm.auto import tqdm

    from vireid_lib.data import open_dataset
    from vireid_lib.evaluation.protocols import results_path
    from vireid_lib.models import build_model

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    check_epochs(cfg.train)
    if smoke and cfg.data.root is None and not cfg.data.synthetic_smoke:
        # the data size belongs in the run's config (config.json, checkpoints), where evaluation finds it
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, synthetic_smoke=True))
    tc = cfg.train
    selection_metric(tc.select)  # an unknown policy fails before any training
    rank, world, local_rank, owns_group = _init_distributed(tc)
    held = ExitStack()
    try:
        # one writer per run folder: a second training into it is refused while this one runs
        held.enter_context(folder_lock(out_dir, f"training {cfg.name}", enabled=rank == 0))
        if rank == 0:
            remove_stale_temps(out_dir)
        device = resolve_device(tc, local_rank)
        reader = reader if reader is not None else open_dataset(cfg.data, smoke=smoke)
        eval_fn = eval_fn if eval_fn is not None else evaluate_trial0
        seed_everything(tc.seed)  # the same initial weights on every rank
        model = build_model(cfg.model, reader.num_train_ids).to(device)
        if tc.channels_last:
            model = model.to(memory_format=torch.channels_last)
        objective = Objective(cfg.loss, cfg.model.local_branch)
        optimizer = build_optimizer(model, tc)
        scaler = torch.amp.GradScaler("cuda") if tc.amp == "fp16" else None
        last, best, log_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "log.jsonl"
        start_epoch, step, best_map, best_epoch = 0, 0, None, None
        resumed = resume and last.is_file()
        if resumed:
            ckpt = load_checkpoint(last, cfg, map_location=device)
            load_weights(model, ckpt["model"], last)
            optimizer.load_state_dict(ckpt["optimizer"])
            if scaler is not None and ckpt["scaler"] is not None:
                scaler.load_state_dict(ckpt["scaler"])
            start_epoch, step = ckpt["epoch"], ckpt["step"]
            best_map, best_epoch = ckpt["best_map"], ckpt["best_epoch"]
            if len(ckpt["rng"]) == world:
                set_rng_state(ckpt["rng"][rank])
            else:  # a different world size cannot continue each rank's stream; reseed deterministically
                seed_everything(tc.seed + 1000 * start_epoch + rank)
            if rank == 0:
                kept = [r for r in _read_log(log_path) if r["step"] <= step]
                atomic_write_text(log_path, "".join(json.dumps(r) + "\n" for r in kept))
                # stderr and regardless of progress=False: a resumed run must never pass for a fresh one
                print(f"resuming from epoch {start_epoch} of {tc.epochs} (run folder {out_dir})", file=sys.stderr)
        else:
            seed_everything(tc.seed + rank)  # ranks augment differently from here on
            if rank == 0 and log_path.exists():
                log_path.unlink()
                best.unlink(missing_ok=True)
                results_path(best).unlink(missing_ok=True)
        if rank == 0:
            cfg.to_json(out_dir / "config.json")
        net = model
        if world > 1:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)

        log_file = open(log_path, "a") if rank == 0 else None
        tb = TensorBoardLog(out_dir / "tensorboard", fresh=not resumed, purge_step=step + 1 if resumed else None) \
            if rank == 0 and tc.tensorboard and start_epoch < tc.epochs else None
        where = {"epoch": start_epoch, "step": step, "saved": start_epoch if start_epoch else None}

        def log_step(record: StepRecord) -> None:
            where["step"] = record.step
            if log_file is not None:
                log_file.write(json.dumps({"event": "step", **record.to_json()}) + "\n")
                log_file.flush()
                if tb is not None:
                    tb.step(record.step, record.lr, record.images_per_s, record.total, record.terms)
                if on_step is not None:
                    on_step(record)

        auditor = None
        if tc.audit_every > 0 and world == 1:
            from vireid_lib.audit import fit_auditor  # here, not at the top: audit imports this module

            auditor = fit_auditor(cfg, model, lambda r: log_file.write(json.dumps(r) + "\n"), tqdm.write)
        elif tc.audit_every > 0 and rank == 0:
            tqdm.write("train.audit_every is ignored with several processes: audit the first steps with vireid check")
        loader = make_train_loader(cfg, reader, epoch=start_epoch, rank=rank, world_size=world)
        epochs = tqdm(range(start_epoch, tc.epochs), desc="training", initial=start_epoch, total=tc.epochs,
                      disable=not progress or rank != 0, dynamic_ncols=True)
        metrics: dict[str, float] | None = None
        try:
            for epoch in epochs:
                where["epoch"] = epoch
                lr = set_epoch_lr(optimizer, epoch, tc)
                loader.batch_sampler.set_epoch(epoch)
                steps = _common_steps(len(loader), tc.max_steps_per_epoch, world, device)
                step = train_one_epoch(net, objective, loader, optimizer, epoch=epoch, step=step, device=device,
                                       amp=tc.amp, channels_last=tc.channels_last, scaler=scaler,
                                       max_steps=steps, on_step=log_step, progress=progress and rank == 0,
                                       audit=auditor)
                done = epoch + 1
                if world > 1:
                    # DDP syncs buffers at the start of a forward; the last step's BN statistics differ per
                    # rank until rank 0's are copied, so every rank ends the epoch with identical state
                    for buf in model.buffers():
                        dist.broadcast(buf, 0)
                metrics = None
                if (tc.eval_every and done % tc.eval_every == 0) or done == tc.epochs:
                    if rank == 0:
                        # evaluation must not shift the training's random streams (resume equality)
                        saved = rng_state()
                        metrics = eval_fn(model.eval(), cfg, reader)
                        set_rng_state(saved)
                        model.train()
                        if metrics:
                            log_file.write(json.dumps({"event": "eval", "epoch": done, "step": step,
                                                       **metrics}) + "\n")
                            log_file.flush()
                            if tb is not None:
                                tb.evaluation(step, metrics)
                            key = selection_metric(tc.select)
                            if key in metrics and (best_map is None or metrics[key] > best_map):
                                best_map, best_epoch = float(metrics[key]), done
                    if world > 1:
                        dist.barrier()
                rng = _gather_rng(world)
                if rank == 0:
                    state = _checkpoint_state(cfg, model, optimizer, scaler, reader.num_train_ids, done, step,
                                              best_map, best_epoch, rng, metrics)
                    # A results file describes one checkpoint's weights: it goes before they are replaced
                    # (``vireid train`` and ``vireid evaluate`` write it afresh), so it never goes stale.
                    if best_epoch == done:
                        results_path(best).unlink(missing_ok=True)
                        save_checkpoint(best, state, write)
                    results_path(last).unlink(missing_ok=True)
                    save_checkpoint(last, state, write)
                    where["saved"] = done
                    epochs.set_postfix(lr=f"{lr:.3g}", **({"mAP": f"{metrics['mAP']:.3f}"}
                                                          if metrics and "mAP" in metrics else {}))
                if world > 1:
                    dist.barrier()
            if log_file is not None and start_epoch < tc.epochs:
                from vireid_lib.ablation import machine_info

                # the training time and machine of this call, for the run's model card
                log_file.write(json.dumps({"event": "fit", "epoch": tc.epochs, "step": step, "device": str(device),
                                           "wall_s": time.perf_counter() - t0, "machine": machine_info()}) + "\n")
        except KeyboardInterrupt:
            saved = (f"the last checkpoint is epoch {where['saved']} of {tc.epochs} ({last}); rerun the same "
                     f"command to resume" if where["saved"] else
                     "no checkpoint was written yet; rerun the same command to start again")
            raise TrainingInterrupted(f"stopped at epoch {where['epoch'] + 1} of {tc.epochs}, step "
                                      f"{where['step']}; {saved}") from None
        finally:
            epochs.close()
            if log_file is not None:
                log_file.close()
            if tb is not None:
                tb.close()
        if rank == 0:
            from vireid_lib.model_card import write_model_card

            write_model_card(out_dir)
        return FitResult(out_dir, last, best if best_map is not None else None, best_map,
                         max(start_epoch, tc.epochs), step, time.perf_counter() - t0, model.eval())
    finally:
        held.close()
        if owns_group:
            dist.destroy_process_group()


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
    from vireid_lib.data.dataset import build_train_loader

    loader = build_train_loader(reader, cfg.data, cfg.train, rank=rank, world_size=world_size)
    loader.batch_sampler.set_epoch(epoch)
    return loader


def _common_steps(n: int, cap: int | None, world: int, device: torch.device) -> int:
    """Steps this epoch: the loader's length, capped, and equal on every rank (DDP needs that)."""
    steps = n if cap is None else min(n, cap)
    if world > 1:
        t = torch.tensor([steps], device=device if device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        steps = int(t.item())
    if steps < 1:
        raise ValueError("the training sampler yields no batch: fewer identities with both modalities than "
                         "train.ids_per_batch (per rank); lower train.ids_per_batch or use fewer ranks")
    return steps


def evaluate_trial0(model: nn.Module, cfg: Config, reader: Any) -> dict[str, float]:
    """The periodic evaluation of :func:`fit`: SYSU-MM01 all-search on gallery trial 0, or RegDB
    visible->thermal on the reader's trial. Returns fractions: ``mAP``, ``mINP``, ``rank1``, ``rank10``,
    ``rank20``."""
    from vireid_lib.evaluation.protocols import evaluate_regdb, evaluate_sysu

    if cfg.data.dataset == "sysu":
        result = evaluate_sysu(model, reader, cfg.eval, cfg.data, modes=("all",), trials=1, progress=False)
        m = result["all"]["mean"]
    else:
        m = evaluate_regdb(model, reader, cfg.eval, cfg.data, directions=("v2t",), progress=False)["v2t"]
    cmc = m["cmc"]
    return {"mAP": float(m["mAP"]), "mINP": float(m["mINP"]), "rank1": float(cmc[0]),
            "rank10": float(cmc[min(9, len(cmc) - 1)]), "rank20": float(cmc[min(19, len(cmc) - 1)])}
