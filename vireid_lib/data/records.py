"""The sample record shared by every dataset reader, sampler and evaluation runner, and its grouping by
identity."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Record(NamedTuple):
    """One image of a person (torchreid's ``(path, pid, camid)`` with the modality named).

    Attributes:
        path: absolute path of the image file.
        pid: person identity; original id in query/gallery lists, relabelled 0..N-1 in training lists.
        camid: camera number as the dataset names it (SYSU-MM01: 1..6; RegDB: 1 visible, 2 thermal).
        modality: ``"visible"`` or ``"infrared"``.
    """

    path: str
    pid: int
    camid: int
    modality: str


def group_by_identity(records: Iterable[Record]) -> dict[int, list[Record]]:
    """The records of each identity, identities in increasing ``pid`` order, each list in the input's order.

    Example: ``group_by_identity(reader.train)[pid]`` lists one person's training images, visible and
    infrared alike; filter by ``r.modality`` for one modality.
    """
    groups: dict[int, list[Record]] = {}
    for r in records:
        groups.setdefault(r.pid, []).append(r)
    return {pid: groups[pid] for pid in sorted(groups)}
