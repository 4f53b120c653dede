"""The paper's learning-rate schedule (section 2.2, as CAJ's ``adjust_learning_rate``) and the optimiser with
its parameter groups: backbone, attention blocks (optional) and heads, each at its own multiple of the rate."""

from __future__ import annotations

import math

import torch
from torch import nn

from vireid_lib.config import TrainConfig


def lr_factor(epoch: int, cfg: TrainConfig | None = None) -> float:
    """Multiplier of the base learning rate for a 0-based ``epoch`` (paper section 2.2, DECISIONS §8).

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
    """The optimiser of ``cfg.optimizer`` with two parameter groups (DECISIONS §8, as in CAJ).

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
        # The fused kernel: the same update in one pass over all tensors (on 2 CPU cores within about a tenth of
        # the default kernel either way, `python -m benchmarks.step_time`), rounded otherwise: the committed
        # ablation grids ran with the default kernel, the later CPU results with the fused one (train.adamw_kernel).
        # PyTorch has it for CPU and CUDA tensors only.
        # "default" passes no choice (None), as the grids' code did: PyTorch's loop on the CPU, its foreach
        # kernel on CUDA.
        fused = cfg.adamw_kernel == "fused" and all(p.device.type in ("cpu", "cuda") for g in groups
                                                     for p in g["params"])
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay,
                                 fused=True if fused else None)
    raise ValueError(f"train.optimizer must be sgd or adamw, got {cfg.optimizer!r}")


def set_epoch_lr(optimizer: torch.optim.Optimizer, epoch: int, cfg: TrainConfig) -> float:
    """Set every group's rate for ``epoch``; returns the base (head) rate."""
    lr = cfg.lr * lr_factor(epoch, cfg)
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_mult", 1.0)
    return lr
