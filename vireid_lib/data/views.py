"""Views of a dataset reader that change what training sees, leaving the test protocol as it is."""

from __future__ import annotations

from typing import Any

from vireid_lib import INFRARED, VISIBLE


class VisibleOnly:
    """A reader whose training set holds only the visible images of ``reader``: each is listed once as
    visible and once as infrared, so the infrared stem is trained on visible images and never sees an
    infrared one. The test identities, queries and galleries are the reader's own.

    The network it trains is the modality-blind control of the data card's gap table and the
    ``synthetic-visible`` start (:mod:`vireid_lib.models.start`): a network that has seen people only in
    visible light, as an ImageNet one has seen only visible images.
    """

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        visible = [r for r in reader.train if r.modality == VISIBLE]
        self.train = visible + [r._replace(modality=INFRARED) for r in visible]

    @property
    def num_train_ids(self) -> int:
        return self.reader.num_train_ids

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)
