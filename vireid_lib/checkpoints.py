"""Checkpoints: what a run's ``last.pt`` and ``best.pt`` hold, atomic writes, checked reads, and the model
rebuilt from one.

A checkpoint is a dict of tensors and plain values, read back with ``torch.load(..., weights_only=True)``:
the format tag, the library version, the run's config (JSON), the number of training identities, the
model's weights and their SHA-256 (:func:`weights_sha256`, which every results file records), and the
optimiser, scaler, schedule, sampler and RNG states that let :func:`~vireid_lib.training.fit` resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vireid_lib import __version__
from vireid_lib.config import Config
from vireid_lib.io import atomic_write
from vireid_lib.models import build_model
from vireid_lib.models.build import state_dict_mismatch
from vireid_lib.seeding import seed_everything, set_rng_state

CHECKPOINT_FORMAT = "vireid-checkpoint-v1"

RESUMABLE_CHANGES = frozenset({
    "name", "data.num_workers", "data.cache", "train.epochs", "train.eval_every", "train.device", "train.amp",
    "train.channels_last", "train.tensorboard", "train.audit_every",
})
"""Config keys that may differ between a checkpoint and the run resuming it (they do not change what the
first epochs computed); ``eval.*`` may differ too. Any other difference is an error."""


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """A SHA-256 of a model's weights: every tensor's name, dtype, shape and bytes in sorted name order.
    Equal weights give equal hashes on any device; it names exactly which weights a result is of."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def results_path(checkpoint: str | Path) -> Path:
    """Where the results of a checkpoint go: ``run/model.pt`` -> ``run/model.results.json``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".results.json")


def config_diff(a: Config, b: Config) -> list[str]:
    """The dotted keys whose values differ between two configs; ``train.adamw_kernel`` only when either trains
    with AdamW (without it the kernel changes nothing, as :func:`~vireid_lib.ablation.grids.train_key` has it)."""
    def flat(d: dict, prefix: str = "") -> dict[str, Any]:
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out
    fa, fb = flat(a.to_dict()), flat(b.to_dict())
    unused = set() if "adamw" in (a.train.optimizer, b.train.optimizer) else {"train.adamw_kernel"}
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k) and k not in unused)


def training_state(cfg: Config, model: nn.Module, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None, num_classes: int, epoch: int, step: int,
                   best_value: float | None, best_epoch: int | None, rng: list[dict[str, Any]],
                   metrics: dict[str, float] | None, lr_factor: float) -> dict[str, Any]:
    """The dict :func:`save_checkpoint` writes after ``epoch`` epochs (1-based count) and ``step`` steps.

    Args:
        rng: one :func:`~vireid_lib.seeding.rng_state` per rank.
        best_value: the best periodic value of ``train.select``'s metric so far (stored as ``best_map``).
        metrics: this epoch's periodic evaluation, or ``None``.
        lr_factor: the schedule's factor of the epoch just trained.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "library_version": __version__,
        "config": cfg.to_json(),
        "num_classes": num_classes,
        "model": model.state_dict(),
        "weights_sha256": weights_sha256(model.state_dict()),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "schedule": {"epoch": epoch, "lr_factor": lr_factor},
        # The sampler's order of epoch e is a pure function of (seed, e, rank, world size), so these
        # four numbers are its whole state.
        "sampler": {"seed": cfg.train.seed, "epoch": epoch, "world_size": len(rng)},
        "rng": rng,
        "epoch": epoch,
        "step": step,
        "best_map": best_value,
        "best_epoch": best_epoch,
        "metrics": metrics,
    }


@dataclasses.dataclass
class TrainingProgress:
    """Where a training run stands: what its next checkpoint records and a Ctrl-C message reports."""

    epoch: int = 0                   # epochs completed when this training call started
    step: int = 0                    # optimiser steps completed
    best_value: float | None = None  # best periodic value of train.select's metric (stored as best_map)
    best_epoch: int | None = None
    saved: int | None = None         # the epoch of the last checkpoint written
    current: int = 0                 # the epoch being trained
    resumed: bool = False


def restore_training(path: Path, cfg: Config, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scaler: torch.amp.GradScaler | None, device: torch.device, rank: int = 0,
                     world: int = 1) -> TrainingProgress:
    """Continue the run of checkpoint ``path`` for ``cfg``: its weights, optimiser and scaler states, counters,
    and this rank's random streams (reseeded deterministically when the world size changed).

    Raises:
        ValueError: the checkpoint is of another configuration (:func:`resume_conflicts`), or its weights do not
            fit ``model``.
    """
    ckpt = load_checkpoint(path, cfg, map_location=device)
    load_weights(model, ckpt["model"], path)
    optimizer.load_state_dict(ckpt["optimizer"])
    if scaler is not None and ckpt["scaler"] is not None:
        scaler.load_state_dict(ckpt["scaler"])
    if len(ckpt["rng"]) == world:
        set_rng_state(ckpt["rng"][rank])
    else:  # a different world size cannot continue each rank's stream; reseed deterministically
        seed_everything(cfg.train.seed + 1000 * ckpt["epoch"] + rank)
    return TrainingProgress(ckpt["epoch"], ckpt["step"], ckpt["best_map"], ckpt["best_epoch"],
                            saved=ckpt["epoch"] or None, current=ckpt["epoch"], resumed=True)


def save_epoch(out_dir: Path, state: dict[str, Any], *, best: bool,
               write: Callable[[Path, Callable[[Any], None]], Any] = atomic_write) -> None:
    """Write ``out_dir/last.pt`` and, when this epoch is the best so far, ``out_dir/best.pt``. A results file
    describes one checkpoint's weights, so each goes before they are replaced (``vireid train`` and
    ``vireid evaluate`` write it afresh) and never goes stale."""
    for path in ([out_dir / "best.pt"] if best else []) + [out_dir / "last.pt"]:
        results_path(path).unlink(missing_ok=True)
        save_checkpoint(path, state, write)


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
    """Read a checkpoint written by :func:`~vireid_lib.training.fit` (``weights_only=True``).

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
        diff = resume_conflicts(checkpoint_config(ckpt), cfg)
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
    """The :class:`Config` stored in a checkpoint. One written before ``train.adamw_kernel`` existed names no
    kernel, but the AdamW state it saved does: ``fused`` is true for the fused kernel and unset for PyTorch's
    default (the committed ablation grids' checkpoints); today's default would misname the latter."""
    d = json.loads(ckpt["config"])
    train = d.get("train") if isinstance(d, dict) else None
    if isinstance(train, dict) and "adamw_kernel" not in train and train.get("optimizer") == "adamw":
        state = ckpt.get("optimizer")
        groups = (state.get("param_groups") if isinstance(state, dict) else None) or [{}]
        train["adamw_kernel"] = "fused" if groups[0].get("fused") else "default"
    return Config.from_dict(d)


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, Config]:
    """Rebuild the trained network from a checkpoint, in evaluation mode.

    Returns:
        ``(model, cfg)``: the network with the checkpoint's weights and the run's configuration.
    """
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
