"""Data: dataset readers, the synthetic generator, transforms, the cross-modality sampler and loaders.

The readers and :func:`open_dataset` are importable without torch; the torch parts live in
``vireid_lib.data.transforms``, ``sampler``, ``dataset`` and ``cache``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from vireid_lib.config import DataConfig
from vireid_lib.data.records import Record
from vireid_lib.data.regdb import RegDB
from vireid_lib.data.sysu import SYSUMM01

__all__ = ["Record", "RegDB", "SYSUMM01", "DATASET_FOLDERS", "data_root_from_env", "open_dataset", "TrainBatch",
           "build_train_loader", "build_test_loader"]

_TORCH_NAMES = {"TrainBatch", "build_train_loader", "build_test_loader"}


def __getattr__(name: str) -> object:
    # The loaders need torch; importing them lazily keeps the readers (and the generator's worker
    # processes) free of torch's import time.
    if name in _TORCH_NAMES:
        from vireid_lib.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

DATASET_FOLDERS = {"sysu": "SYSU-MM01", "regdb": "RegDB"}
"""The folder name of each dataset inside ``$VIREID_DATA``."""


def data_root_from_env(dataset: str) -> str | None:
    """The real dataset's folder under ``$VIREID_DATA``, or ``None`` for the synthetic dataset.

    ``$VIREID_DATA`` names a folder holding ``SYSU-MM01/`` and/or ``RegDB/``. Unset (or empty) means the
    synthetic data. Set, but without the folder of ``dataset``, also means the synthetic data, with a
    warning, so a notebook about one dataset still runs when only the other was downloaded.

    Raises:
        ValueError: for an unknown dataset name.
        FileNotFoundError: when ``$VIREID_DATA`` is set to a folder that does not exist.
    """
    if dataset not in DATASET_FOLDERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASET_FOLDERS)}")
    env = os.environ.get("VIREID_DATA", "").strip()
    if not env:
        return None
    base = Path(env).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"VIREID_DATA={env} is not a folder; point it to the folder holding "
                                f"SYSU-MM01/ and/or RegDB/, or unset it to use the synthetic dataset")
    root = base / DATASET_FOLDERS[dataset]
    if not root.is_dir():
        warnings.warn(f"VIREID_DATA={env} has no {DATASET_FOLDERS[dataset]}/ folder; using the synthetic "
                      f"{dataset} dataset instead", stacklevel=2)
        return None
    return str(root)


def open_dataset(data_cfg: DataConfig, smoke: bool = False) -> SYSUMM01 | RegDB:
    """The reader for a :class:`~vireid_lib.config.DataConfig`.

    ``data_cfg.root`` names the real dataset's folder; ``None`` means the synthetic dataset in the same
    layout, generated on first use into the cache (``data_cfg.synthetic_identities`` and
    ``data_cfg.synthetic_seed``; ``smoke`` selects the tiny size used by tests and CI notebooks).

    Raises:
        ValueError: for an unknown dataset, or a RegDB trial outside 1..10.
    """
    from vireid_lib.data.synthetic import synthetic_root

    if data_cfg.dataset not in DATASET_FOLDERS:
        raise ValueError(f"unknown dataset {data_cfg.dataset!r}; choose one of {sorted(DATASET_FOLDERS)}")
    root = data_cfg.root
    if root is None:
        root = synthetic_root(data_cfg.dataset, smoke=smoke, identities=data_cfg.synthetic_identities,
                              seed=data_cfg.synthetic_seed, ir_correlation=data_cfg.synthetic_ir_correlation)
    if data_cfg.dataset == "sysu":
        return SYSUMM01(root)
    return RegDB(root, trial=data_cfg.trial)
