"""Tiny fake dataset trees in SYSU-MM01's and RegDB's real layouts, for the tests that read datasets (a helper
module, not a test file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, value: int, size: tuple[int, int] = (16, 8), fmt: str | None = None) -> Path:
    """A small solid image (height, width) = size whose pixels all equal ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path, format=fmt)
    return path


def sysu_tree(root: Path, cams: dict[int, dict[int, int]], train=(1, 2), val=(3,), test=(4, 5)) -> Path:
    """A SYSU-MM01 tree: ``cams[pid][cam] = number of images`` in ``cam{cam}/{pid:04d}/{k:04d}.jpg``."""
    for pid, per_cam in cams.items():
        for cam, n in per_cam.items():
            for k in range(1, n + 1):
                write_image(root / f"cam{cam}" / f"{pid:04d}" / f"{k:04d}.jpg", (pid * 10 + k) % 256)
    (root / "exp").mkdir(parents=True, exist_ok=True)
    for name, ids in (("train", train), ("val", val), ("test", test)):
        (root / "exp" / f"{name}_id.txt").write_text(",".join(str(i) for i in ids) + "\n")
    return root


def default_sysu(root: Path) -> Path:
    """Train ids 1, 2, 3 (3 is the val id), test ids 4, 5; id 5 is missing cam2 and cam6."""
    full = {1: 2, 2: 3, 4: 2, 5: 1, 3: 2, 6: 2}
    return sysu_tree(root, {1: full, 2: {1: 1, 3: 1}, 3: {4: 2, 6: 3},
                            4: {1: 3, 2: 2, 4: 1, 5: 4, 3: 2, 6: 3}, 5: {1: 2, 4: 3, 5: 1, 3: 2}})


def regdb_tree(root: Path, n_ids: int = 4, per_modality: int = 3) -> Path:
    """A RegDB tree: ids 1..n, ``per_modality`` images each; every trial trains on the odd ids."""
    for pid in range(1, n_ids + 1):
        for k in range(1, per_modality + 1):
            write_image(root / "Visible" / str(pid) / f"male_front_v_{pid:03d}{k:02d}_{k}.bmp", pid * 20 + k, fmt="BMP")
            write_image(root / "Thermal" / str(pid) / f"male_front_t_{pid:03d}{k:02d}_{k}.bmp", pid * 20 + k, fmt="BMP")
    (root / "idx").mkdir(exist_ok=True)
    for t in range(1, 11):
        for split, ids in (("train", range(1, n_ids + 1, 2)), ("test", range(2, n_ids + 1, 2))):
            for folder, name, tag in (("Visible", "visible", "v"), ("Thermal", "thermal", "t")):
                lines = [f"{folder}/{p}/male_front_{tag}_{p:03d}{k:02d}_{k}.bmp {p - 1}"
                         for p in ids for k in range(1, per_modality + 1)]
                (root / "idx" / f"{split}_{name}_{t}.txt").write_text("\n".join(lines) + "\n")
    return root
