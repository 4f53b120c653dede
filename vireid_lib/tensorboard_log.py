"""TensorBoard event files beside a run's ``log.jsonl`` (``torch.utils.tensorboard``, as CAJ's code writes them).

Scalars, by step: ``loss/<term>`` for every loss term and ``loss/total``, ``train/lr``, ``train/images_per_s``,
and each periodic evaluation's ``eval/<metric>`` (``rank1``, ``mAP``, ``mINP``, ...; percent). Open them with
``tensorboard --logdir runs/<run>/tensorboard`` (or ``--logdir runs`` for every run at once).

``tensorboard`` is an optional dependency (``pip install 'vireid[tensorboard]'``); without it training goes on
with a warning and only ``log.jsonl``. ``train.tensorboard=false`` (``vireid train --no-tensorboard``) turns
the files off.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FOLDER = "tensorboard"


class TensorBoardLog:
    """Writes one run's scalars; every method is a no-op when the ``tensorboard`` package is missing.

    Args:
        folder: the event-file folder (``<run>/tensorboard``).
        fresh: a new run: earlier event files in ``folder`` are deleted (as ``log.jsonl`` is).
        purge_step: a resumed run: TensorBoard drops the earlier files' events from this step on (those logged
            after the checkpoint the run resumes from), so the curves read as one run.
    """

    def __init__(self, folder: str | Path, *, fresh: bool, purge_step: int | None = None) -> None:
        self.folder = Path(folder)
        self.writer: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional dependency: imported only when used
        except ImportError:
            warnings.warn("the tensorboard package is not installed, so this run writes log.jsonl only; "
                          "pip install tensorboard (or set train.tensorboard=false to silence this)", stacklevel=2)
            return
        if fresh:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.writer = SummaryWriter(str(self.folder), purge_step=purge_step)

    def step(self, step: int, lr: float, images_per_s: float, total: float, terms: Mapping[str, float]) -> None:
        """One training step's losses, learning rate and throughput."""
        if self.writer is None:
            return
        for k, v in terms.items():
            self.writer.add_scalar(f"loss/{k}", v, step)
        self.writer.add_scalar("loss/total", total, step)
        self.writer.add_scalar("train/lr", lr, step)
        self.writer.add_scalar("train/images_per_s", images_per_s, step)

    def evaluation(self, step: int, metrics: Mapping[str, float]) -> None:
        """A periodic evaluation's metrics (fractions in, percent out)."""
        if self.writer is None:
            return
        for k, v in metrics.items():
            self.writer.add_scalar(f"eval/{k}", 100.0 * float(v), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
