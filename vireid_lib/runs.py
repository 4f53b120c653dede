"""Run folders: where they go, the step log ``log.jsonl`` (with its TensorBoard twin) and loss plots of it.

:func:`~vireid_lib.training.fit` trains one config into a run folder and leaves there:

- ``config.json``: the run's configuration (the data size included: ``data.synthetic_smoke``);
- ``last.pt``: the checkpoint written after every epoch (resume point; :mod:`vireid_lib.checkpoints`);
- ``best.pt``: the checkpoint with the best value of ``train.select``'s metric in the periodic evaluation on
  gallery trial 0. That evaluation uses the test identities, as the reference code's model selection does, so
  numbers of ``best.pt`` are optimistic; the final evaluation reports ``last.pt`` beside it;
- ``log.jsonl``: one JSON object per training step (every loss term, learning rate, images per second),
  one per evaluation (``"event": "eval"``), per loss audit (``"event": "audit"``) and per ``fit`` call
  (``"event": "fit"``: wall time, machine);
- ``tensorboard/``: the same scalars as TensorBoard event files (``train.tensorboard``; optional package);
- ``MODEL_CARD.md``: the run described for a reader (:mod:`vireid_lib.model_card`);
- ``.vireid.lock`` (and, while training, ``.vireid.lock.json``): the run folder's lock (:mod:`vireid_lib.locks`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vireid_lib.io import atomic_write_text
from vireid_lib.tensorboard_log import TensorBoardLog


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


# ---------------------------------------------------------------------------------------------- the step log

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


def fit_seconds(path: str | Path) -> float:
    """The wall seconds of every ``fit`` call a run's log records (a file or its run folder): a resumed or
    reused run's calls summed."""
    return sum(r["wall_s"] for r in read_log(path) if r.get("event") == "fit")


def trim_log(path: Path, step: int) -> None:
    """Keep the records of ``log.jsonl`` up to ``step`` (a resumed run drops what came after its checkpoint)."""
    kept = [r for r in _read_log(path) if r["step"] <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


class RunLog:
    """A run's ``log.jsonl`` and TensorBoard scalars, appended as training goes. Disabled (every method a no-op)
    on every rank but 0.

    Args:
        out_dir: the run folder.
        enabled: write at all (rank 0).
        tensorboard: also write TensorBoard event files.
        resumed: the run continues from ``step`` (TensorBoard purges later events) rather than starting afresh.
        step: the step the run starts from.
        on_step: also called with every step record (live plots in notebooks).
    """

    def __init__(self, out_dir: Path, *, enabled: bool, tensorboard: bool, resumed: bool, step: int,
                 on_step: Callable[[Any], None] | None = None) -> None:
        self.file = open(out_dir / "log.jsonl", "a") if enabled else None
        self.tb = TensorBoardLog(out_dir / "tensorboard", fresh=not resumed, purge_step=step + 1 if resumed else None) \
            if enabled and tensorboard else None
        self.on_step = on_step

    def write(self, record: Mapping[str, Any]) -> None:
        """One JSON line (an audit, the ``fit`` line)."""
        if self.file is not None:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def step(self, record: Any) -> None:
        """One :class:`~vireid_lib.training.StepRecord`."""
        if self.file is None:
            return
        self.write({"event": "step", **record.to_json()})
        if self.tb is not None:
            self.tb.step(record.step, record.lr, record.images_per_s, record.total, record.terms)
        if self.on_step is not None:
            self.on_step(record)

    def evaluation(self, epoch: int, step: int, metrics: Mapping[str, float]) -> None:
        """A periodic evaluation's metrics (fractions)."""
        self.write({"event": "eval", "epoch": epoch, "step": step, **metrics})
        if self.tb is not None:
            self.tb.evaluation(step, metrics)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None


# ---------------------------------------------------------------------------------------------- loss plots

def _steps(records: Sequence[dict[str, Any]] | str | Path) -> list[dict[str, Any]]:
    if isinstance(records, (str, Path)):
        records = read_log(records)
    steps = [r for r in records if r.get("event", "step") == "step"]
    if not steps:
        raise ValueError("the log holds no training steps yet")
    return steps


def plot_losses(records: Sequence[dict[str, Any]] | str | Path, smooth: int = 20, axes: Any = None) -> Any:
    """Loss curves: one panel per logged term (and the learning rate), moving-averaged over ``smooth`` steps.

    Args:
        records: log records (:func:`read_log`) or the path of a run folder / ``log.jsonl``.
        smooth: moving-average window in steps.
        axes: matplotlib axes to draw into (one per panel); a new figure when ``None``.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt  # only when plotting: the commands that import this module draw nothing

    steps = _steps(records)
    skip = {"epoch", "step", "images_per_s", "event"}
    keys = [k for k in steps[-1] if k not in skip]
    if axes is None:
        cols = min(4, len(keys))
        rows = (len(keys) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
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
    steps = _steps(records)
    w = max(1, min(window, len(steps) // 2))
    skip = {"epoch", "step", "images_per_s", "event", "lr"}
    keys = [k for k in steps[-1] if k not in skip]
    return {k: (float(np.nanmean([r.get(k, np.nan) for r in steps[:w]])),
                float(np.nanmean([r.get(k, np.nan) for r in steps[-w:]]))) for k in keys}


def live_loss_plot(every: int = 10, smooth: int = 10) -> Callable[[Any], None]:
    """An ``on_step`` callback for :func:`~vireid_lib.training.fit` that redraws the per-term loss curves every
    ``every`` steps in place (a notebook output that updates while training runs).

    Returns:
        The callback (it takes a :class:`~vireid_lib.training.StepRecord`); its ``records`` attribute holds
        every record seen.
    """
    import matplotlib.pyplot as plt  # notebook-only helpers: IPython is not a dependency of the commands
    from IPython.display import display

    records: list[dict[str, Any]] = []
    handle: dict[str, Any] = {}

    def on_step(record: Any) -> None:
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
