"""The sample record shared by every dataset reader, sampler and evaluation runner."""

from __future__ import annotations

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
