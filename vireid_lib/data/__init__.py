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
from vireid_lib.data.synthetic import synthetic_root

__all__ = ["Record", "RegDB", "SYSUMM01", "DATASET_FOLDERS", "check_layout", "data_root_from_env", "guess_layout",
           "open_dataset", "TrainBatch", "build_train_loader", "build_test_loader"]

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


def guess_layout(root: str | Path) -> str | None:
    """Which dataset a folder looks like, from its top-level entries: ``"sysu"`` (``cam1``..``cam6/``,
    ``exp/``), ``"regdb"`` (``Visible/``, ``Thermal/``, ``idx/``), ``"parent"`` (a folder holding
    ``SYSU-MM01/`` or ``RegDB/``, as ``$VIREID_DATA`` does), or ``None``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return None
    if (root / "idx").is_dir() and ((root / "Visible").is_dir() or (root / "Thermal").is_dir()):
        return "regdb"
    if (root / "exp").is_dir() or any((root / f"cam{c}").is_dir() for c in range(1, 7)):
        return "sysu"
    if any((root / name).is_dir() for name in DATASET_FOLDERS.values()):
        return "parent"
    return None


def check_layout(root: str | Path, dataset: str) -> None:
    """Refuse a dataset folder of the other dataset's layout, naming the fix, before a reader fails on a
    missing split file.

    Raises:
        ValueError: ``root`` looks like RegDB under a SYSU-MM01 config (or the converse), or holds the
            dataset folders instead of being one.
    """
    layout = guess_layout(root)
    if layout is None or layout == dataset:
        return
    if layout == "parent":
        inside = [name for name in DATASET_FOLDERS.values() if (Path(root).expanduser() / name).is_dir()]
        raise ValueError(f"{root} holds {', '.join(n + '/' for n in inside)} rather than being one dataset: "
                         f"point --root at {Path(root) / DATASET_FOLDERS[dataset]} (or set VIREID_DATA={root} "
                         f"and omit --root)")
    if layout == "regdb":
        raise ValueError(f"{root} looks like RegDB (Visible/, Thermal/, idx/), but the config is for SYSU-MM01: "
                         f"add `--set data.dataset=regdb` or use `--preset paper-regdb`")
    raise ValueError(f"{root} looks like SYSU-MM01 (cam1..cam6/, exp/), but the config is for RegDB: "
                     f"add `--set data.dataset=sysu` or use `--preset paper-sysu`")


def open_dataset(data_cfg: DataConfig) -> SYSUMM01 | RegDB:
    """The reader for a :class:`~vireid_lib.config.DataConfig`.

    ``data_cfg.root`` names the real dataset's folder; ``None`` means the synthetic dataset in the same
    layout, generated on first use into the cache (``data_cfg.synthetic_identities`` and
    ``data_cfg.synthetic_seed``; ``data_cfg.synthetic_smoke`` selects the tiny size used by tests and CI
    notebooks).

    Raises:
        ValueError: for an unknown dataset, a RegDB trial outside 1..10, or a folder of the other dataset's
            layout (:func:`check_layout`).
    """
    if data_cfg.dataset not in DATASET_FOLDERS:
        raise ValueError(f"unknown dataset {data_cfg.dataset!r}; choose one of {sorted(DATASET_FOLDERS)}")
    root = data_cfg.root
    if root is None:
        root = synthetic_root(data_cfg.dataset, smoke=data_cfg.synthetic_smoke,
                              identities=data_cfg.synthetic_identities, seed=data_cfg.synthetic_seed,
                              ir_correlation=data_cfg.synthetic_ir_correlation,
                              outdoor_daylight=data_cfg.synthetic_outdoor_daylight)
    else:
        check_layout(root, data_cfg.dataset)
    if data_cfg.dataset == "sysu":
        return SYSUMM01(root)
    return RegDB(root, trial=data_cfg.trial)
