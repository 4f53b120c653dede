"""What produced a number: the data (real, or plainly synthetic with its size and seed), the exact weights
(checkpoint epoch, step and a SHA-256 of the weights) and whether a saved result still answers for a config.

Every results file (``vireid train``, ``evaluate``, ``reproduce``, ``demo``, ``ablate``) records
:func:`describe_data` and :func:`checkpoint_info`; every printed table of ``train``, ``evaluate`` and
``reproduce`` starts with :func:`data_label`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from vireid_lib.checkpoints import config_diff, load_checkpoint, weights_sha256
from vireid_lib.config import Config
from vireid_lib.data import data_root_from_env
from vireid_lib.data.synthetic import STATS_FILE, setting_words

REUSE_IGNORES = frozenset({"name", "data.num_workers", "data.cache", "train.device"})
"""Config keys that may differ between a saved result and the run asking for it (they change neither the
weights nor the numbers); any other difference means the result is not of that configuration."""

_DATASET_NAMES = {"sysu": "SYSU-MM01", "regdb": "RegDB"}


def resolve_data_root(cfg: Config) -> Config:
    """Where the command line's data come from, as in the notebooks: ``data.root`` (``--root``) when set;
    else ``$VIREID_DATA/<the dataset's folder>`` when ``VIREID_DATA`` is set, except with
    ``data.synthetic_smoke`` (``--smoke``), which always means the tiny synthetic set; else the synthetic
    dataset.

    Raises:
        FileNotFoundError: ``VIREID_DATA`` names a folder that does not exist.
    """
    if cfg.data.root is not None or cfg.data.synthetic_smoke:
        return cfg
    root = data_root_from_env(cfg.data.dataset)
    return cfg if root is None else dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=root))


def describe_data(reader: Any) -> dict[str, Any]:
    """What data a reader (``SYSUMM01`` or ``RegDB``) reads, for results files and table captions.

    A folder written by the synthetic generator (``vireid synth`` or the cache; it holds
    ``synthetic_stats.json``) is reported as synthetic with its size and seed, wherever it lies.

    Returns:
        ``{"dataset", "root", "synthetic": False}`` for real data; for synthetic data also ``"identities"``,
        ``"seed"``, ``"smoke"``, ``"ir_correlation"`` and ``"generator_version"``, and ``"outdoor_daylight"``
        when above 0; RegDB adds ``"trial"``.
    """
    trial = getattr(reader, "trial", None)
    out: dict[str, Any] = {"dataset": "sysu" if trial is None else "regdb", "root": str(reader.root),
                           "synthetic": False}
    if trial is not None:
        out["trial"] = trial
    stats_path = Path(reader.root) / STATS_FILE
    if stats_path.is_file():
        try:
            stats = json.loads(stats_path.read_text())
        except ValueError:
            stats = {}
        out.update(synthetic=True, identities=stats.get("identities"), seed=stats.get("seed"),
                   smoke=bool(stats.get("smoke", False)), ir_correlation=stats.get("ir_correlation"),
                   generator_version=stats.get("generator_version"))
        if stats.get("outdoor_daylight"):   # absent at 0, as in the stats (every set before the setting)
            out["outdoor_daylight"] = stats["outdoor_daylight"]
    return out


def data_label(data: dict[str, Any]) -> str:
    """One line saying what data a result is on (:func:`describe_data`): plainly synthetic with its size, seed
    and any generator setting that is not the default, or the real dataset's folder."""
    name = _DATASET_NAMES[data["dataset"]]
    trial = f", trial {data['trial']}" if data.get("trial") is not None else ""
    if not data.get("synthetic"):
        return f"data: {name} at {data['root']}{trial}"
    size = f"{data.get('identities')} identities" + (", the tiny smoke size" if data.get("smoke") else "")
    settings = setting_words(data.get("ir_correlation"), data.get("outdoor_daylight"))
    return (f"data: SYNTHETIC {name} layout ({size}, seed {data.get('seed')}{trial}, generator "
            f"v{data.get('generator_version')}{settings}), not the real {name}; "
            "the paper's rows are on the real data")


def checkpoint_info(path: str | Path) -> dict[str, Any]:
    """What a results file records of the checkpoint it evaluated: ``{"path", "epoch", "step",
    "weights_sha256"}`` (the hash is read from the checkpoint, or computed for one written before it held it).
    """
    ckpt = load_checkpoint(path)
    return {"path": str(Path(path).resolve()), "epoch": ckpt["epoch"], "step": ckpt["step"],
            "weights_sha256": ckpt.get("weights_sha256") or weights_sha256(ckpt["model"])}


def stale_reason(results_file: str | Path, cfg: Config, checkpoint: str | Path | None = None) -> str | None:
    """Why a saved results file does not answer for ``cfg`` (and the checkpoint beside it), or ``None`` when
    it does: its config must match except for :data:`REUSE_IGNORES`, and the SHA-256 of the weights it
    records must be that of ``checkpoint`` (when the checkpoint exists)."""
    try:
        payload = json.loads(Path(results_file).read_text())
        done = Config.from_dict(payload["config"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"its results file is unreadable ({type(e).__name__}: {e})"
    diff = [k for k in config_diff(done, cfg) if k not in REUSE_IGNORES]
    if diff:
        return f"its results are of another configuration (differing keys: {', '.join(diff)})"
    if checkpoint is not None and Path(checkpoint).is_file():
        recorded = payload.get("checkpoint") or {}
        current = checkpoint_info(checkpoint)
        if recorded.get("weights_sha256") != current["weights_sha256"]:
            was = f"epoch {recorded['epoch']}" if "epoch" in recorded else "unrecorded weights"
            return f"its results are of {was}, not of the weights now in {checkpoint} (epoch {current['epoch']})"
    return None
