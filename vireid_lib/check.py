"""``vireid check``: train a few steps of any configuration and print the loss audit of
:mod:`vireid_lib.audit` (each term's value and share of the backbone gradient) at step 0 and every N steps.
Nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vireid_lib.audit import AuditMonitor, audit_terms, format_audit, load_backbone
from vireid_lib.config import Config
from vireid_lib.data import open_dataset
from vireid_lib.distributed import resolve_device
from vireid_lib.losses import LossResult, Objective
from vireid_lib.models import build_model
from vireid_lib.schedule import build_optimizer, set_epoch_lr
from vireid_lib.seeding import seed_everything
from vireid_lib.training import make_train_loader, train_one_epoch


def run_check(cfg: Config, steps: int = 3, every: int = 1, init: str | Path | None = None,
              reader: Any = None, echo: Any = print) -> AuditMonitor:
    """Train ``steps`` optimiser steps of ``cfg`` at the first epoch's learning rate, auditing the loss at step
    0 and every ``every`` steps; print each audit and its warnings with ``echo``. Nothing is written.

    Args:
        cfg: any configuration (a paper preset on the synthetic data needs ``model.pretrained=null``).
        steps: optimiser steps to take.
        every: audit every this many steps (step 0 always).
        init: a ``vireid train`` checkpoint whose backbone replaces the initial one (:func:`load_backbone`).
        reader: a dataset reader to use instead of ``open_dataset(cfg.data)``.
        echo: where the tables and warnings go.

    Returns:
        The monitor, whose ``records`` hold every audit.
    """
    if steps < 1 or every < 1:
        raise ValueError(f"steps and every must be >= 1, got {steps} and {every}")
    reader = reader if reader is not None else open_dataset(cfg.data)
    device = resolve_device(cfg.train, 0)
    seed_everything(cfg.train.seed)
    model = build_model(cfg.model, reader.num_train_ids)
    if init is not None:
        load_backbone(model, init)
    model = model.to(device)
    objective = Objective(cfg.loss, cfg.model.local_branch)
    optimizer = build_optimizer(model, cfg.train)
    set_epoch_lr(optimizer, 0, cfg.train)
    loader = make_train_loader(cfg, reader)
    monitor = AuditMonitor()

    def audit(step: int, result: LossResult) -> None:
        if step % every == 0 or step == steps - 1:
            terms = audit_terms(model, result, cfg.loss)
            echo(format_audit(step, terms))
            for w in monitor.record(step, terms):
                echo(f"WARNING {w}")

    train_one_epoch(model, objective, loader, optimizer, epoch=0, device=device, amp=cfg.train.amp,
                    channels_last=cfg.train.channels_last, max_steps=steps, audit=audit)
    return monitor
