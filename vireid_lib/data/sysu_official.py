"""The official SYSU-MM01 gallery splits: ``exp/rand_perm_cam.mat`` of Wu et al. (ICCV 2017).

The dataset's own evaluation (its MATLAB code, and in Python the MPANet, SAAI, IDKL and MCJA lineage) draws the
visible gallery of trial ``t`` from fixed permutations instead of a seeded random draw:
``rand_perm_cam[cam - 1][0][pid - 1]`` is a ``(10, n)`` array whose row ``t`` lists the 1-based image numbers of
identity ``pid`` in camera ``cam`` in a fixed random order; the gallery takes the first ``shots`` of that row
(1: single-shot, 10: multi-shot) and the file is ``cam{cam}/{pid:04d}/{number:04d}.jpg``. Identities are taken
per camera, cameras in order, as in that code; the order of the gallery does not change any metric.

The reference code of AGW and CAJ (``process_gallery_sysu``) draws with ``random.seed(trial)`` instead
(:meth:`~vireid_lib.data.sysu.SYSUMM01.gallery` with ``protocol="reference"``). The two protocols pick
different gallery images, so their numbers are not interchangeable (``data_cards/sysu_mm01.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PERM_FILE = Path("exp") / "rand_perm_cam.mat"
"""Where the official permutations live, relative to the SYSU-MM01 root."""

PROTOCOLS = ("auto", "official", "reference")
"""Values of ``EvalConfig.sysu_gallery``."""


def load_rand_perm(path: str | Path) -> list[list[np.ndarray]]:
    """Read ``rand_perm_cam.mat``: for each of the 6 cameras, one ``(10, n)`` integer array per identity
    (index ``pid - 1``; ``n = 0`` where the identity has no image in that camera).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a MATLAB file holding ``rand_perm_cam`` in the dataset's layout.
    """
    import scipy.io  # here, not at the top: only the official protocol needs scipy

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {path}: the official SYSU-MM01 gallery splits come with the dataset "
                                "(evaluation/data_split/rand_perm_cam.mat); copy it to exp/, or set "
                                "eval.sysu_gallery=reference")
    try:
        raw = scipy.io.loadmat(str(path))["rand_perm_cam"]
    except Exception as e:  # loadmat raises several types for a file that is not a .mat
        raise ValueError(f"{path} is not a MATLAB file holding rand_perm_cam ({type(e).__name__}: {e})") from None
    try:
        cams = [np.asarray(raw[c][0]).reshape(-1) for c in range(6)]
        return [[np.asarray(entry, dtype=np.int64).reshape(-1, np.asarray(entry).shape[-1])
                 if np.asarray(entry).size else np.zeros((10, 0), dtype=np.int64) for entry in cam]
                for cam in cams]
    except (IndexError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: rand_perm_cam is not a 6-camera cell array of per-identity (10, n) "
                         f"permutations ({e})") from None


def official_gallery_names(perm: Sequence[Sequence[np.ndarray]], cams: Sequence[int], pids: Sequence[int],
                           trial: int, shots: int) -> list[tuple[int, int, int]]:
    """``(cam, pid, image number)`` of every gallery image of ``trial``: for each camera in order, each pid in
    order, the first ``shots`` numbers of row ``trial`` of its permutation (none where it has no image).

    Raises:
        ValueError: for a trial outside the file's rows or a pid beyond its identities.
    """
    out = []
    for cam in cams:
        table = perm[cam - 1]
        for pid in pids:
            if pid - 1 >= len(table):
                raise ValueError(f"rand_perm_cam.mat lists {len(table)} identities for cam{cam}; test id {pid} "
                                 "is beyond them: is this the file of this dataset?")
            rows = table[pid - 1]
            if rows.size == 0:
                continue
            if not 0 <= trial < rows.shape[0]:
                raise ValueError(f"trial {trial} is outside the {rows.shape[0]} official SYSU-MM01 gallery "
                                 f"trials (0..{rows.shape[0] - 1})")
            out.extend((cam, pid, int(n)) for n in rows[trial][:shots])
    return out


def resolve_protocol(requested: str, root: Any) -> str:
    """``"official"`` or ``"reference"`` for ``EvalConfig.sysu_gallery``: ``"auto"`` is official when the
    dataset holds ``exp/rand_perm_cam.mat`` and reference otherwise.

    Raises:
        ValueError: an unknown name.
        FileNotFoundError: ``"official"`` without the file.
    """
    if requested not in PROTOCOLS:
        raise ValueError(f"eval.sysu_gallery must be one of {list(PROTOCOLS)}, got {requested!r}")
    present = root is not None and (Path(root) / PERM_FILE).is_file()
    if requested == "auto":
        return "official" if present else "reference"
    if requested == "official" and not present:
        raise FileNotFoundError(f"eval.sysu_gallery=official needs {Path(str(root)) / PERM_FILE} (it ships with "
                                "SYSU-MM01 as evaluation/data_split/rand_perm_cam.mat); copy it there or set "
                                "eval.sysu_gallery=reference")
    return requested
