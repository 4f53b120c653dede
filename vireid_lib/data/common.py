"""Helpers shared by the dataset readers: image listing and the training-set relabelling rule."""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from vireid_lib import INFRARED, VISIBLE
from vireid_lib.data.records import Record

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(folder: Path) -> list[Path]:
    """The image files of ``folder`` sorted by name (other files, such as ``Thumbs.db``, are ignored)."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=lambda p: p.name)


def relabel_training(records: list[Record], dataset: str, listed: Iterable[int] = (),
                     where: str = "listed in the split without any image") -> list[Record]:
    """Relabel training records 0..N-1 in sorted original-pid order.

    An identity needs both modalities to form the aligned visible/infrared pairs that training draws
    (DECISIONS §2), so an identity with no visible or no infrared image is skipped with a warning that names
    it, rather than failing the whole dataset for one gap; the remaining identities are relabelled densely.
    An identity of ``listed`` (the split's training ids) with no image at all is skipped with a warning too.

    Args:
        records: the training images.
        dataset: the dataset's name in warnings and errors.
        listed: the training ids the split lists (an id without records has no image folder at all).
        where: how the warning describes those ids (where they are listed, where images were looked for).

    Raises:
        ValueError: when no identity has both modalities.
    """
    modalities: dict[int, set[str]] = defaultdict(set)
    for r in records:
        modalities[r.pid].add(r.modality)
    absent = sorted(set(listed) - set(modalities))
    if absent:
        warnings.warn(f"{dataset}: skipping {len(absent)} training identities {where}: "
                      f"{', '.join(map(str, absent[:20]))}{' ...' if len(absent) > 20 else ''}", stacklevel=3)
    incomplete = sorted(p for p, m in modalities.items() if m != {VISIBLE, INFRARED})
    if incomplete:
        detail = ", ".join(f"{p} (no {'infrared' if modalities[p] == {VISIBLE} else 'visible'} images)"
                           for p in incomplete[:20])
        warnings.warn(f"{dataset}: skipping {len(incomplete)} training identities without both modalities: "
                      f"{detail}{' ...' if len(incomplete) > 20 else ''}", stacklevel=3)
    keep = sorted(p for p in modalities if p not in set(incomplete))
    if not keep:
        raise ValueError(f"{dataset}: no training identity has both visible and infrared images")
    label = {p: i for i, p in enumerate(keep)}
    return [r._replace(pid=label[r.pid]) for r in records if r.pid in label]


def split_by_modality(records: list[Record]) -> tuple[list[Record], list[Record]]:
    """The visible and the infrared records of a list, each in its original order."""
    return [r for r in records if r.modality == VISIBLE], [r for r in records if r.modality == INFRARED]


def summary_table(title: str, rows: list[tuple[str, int, int, int]]) -> str:
    """A torchreid-style statistics table: (subset, identities, visible images, infrared images)."""
    lines = [title, "  subset         | # ids | # visible | # infrared", "  " + "-" * 47]
    lines += [f"  {name:<14} | {ids:5d} | {vis:9d} | {ir:10d}" for name, ids, vis, ir in rows]
    return "\n".join(lines)
