"""RegDB reader: the idx files of trials 1..10."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from vireid_lib import INFRARED, VISIBLE
from vireid_lib.data.common import relabel_training, split_by_modality, summary_table
from vireid_lib.data.records import Record

TRIALS = range(1, 11)
CAMID = {VISIBLE: 1, INFRARED: 2}
"""RegDB has one aligned camera pair; the visible camera is 1 and the thermal camera 2."""

LAYOUT_HELP = ("RegDB layout: ROOT/Visible/..., ROOT/Thermal/... and ROOT/idx/{train,test}_{visible,thermal}_"
               "{trial}.txt for trials 1..10, each line '<path relative to ROOT> <integer label>'")


class RegDB:
    """RegDB (Nguyen et al., "Person Recognition System Based on a Combination of Body Images from Visible
    Light and Thermal Cameras", Sensors 2017), with the split protocol of Ye et al. (BDTR, IJCAI 2018).

    Dataset statistics (the real data):
        - identities: 412, each with 10 visible and 10 thermal images from one aligned camera pair.
        - per trial (1..10, one random half split each): 206 training ids (2,060 + 2,060 images), 206 test
          ids (2,060 + 2,060 images).
        - visible->thermal: the 2,060 visible test images query the 2,060 thermal ones; thermal->visible
          the reverse. No camera filtering.

    Training records come from ``idx/train_{visible,thermal}_{trial}.txt`` relabelled 0..N-1 in sorted
    label order; test records keep the idx files' labels. A training identity present in only one modality
    is skipped with a warning (see :func:`~vireid_lib.data.common.relabel_training`).

    Args:
        root: the ``RegDB`` folder.
        trial: which split, 1..10.

    Raises:
        ValueError: for a trial outside 1..10, a malformed idx line (file and line number), or an empty
            training set.
        FileNotFoundError: when ``root``, an idx file, or an image an idx file lists is missing.
    """

    def __init__(self, root: str | Path, trial: int = 1) -> None:
        if isinstance(trial, bool) or not isinstance(trial, int) or trial not in TRIALS:
            raise ValueError(f"RegDB trial must be an integer in 1..10, got {trial!r}")
        self.root = Path(root).expanduser()
        self.trial = trial
        if not self.root.is_dir():
            raise FileNotFoundError(f"RegDB root {self.root} does not exist. Expected the {LAYOUT_HELP}.")
        self._lists = {(split, m): self._read_idx(split, m) for split in ("train", "test")
                       for m in (VISIBLE, INFRARED)}
        self.train: list[Record] = relabel_training(
            self._lists["train", VISIBLE] + self._lists["train", INFRARED], f"RegDB trial {trial}")
        """Training records, labels relabelled 0..N-1; visible and thermal together."""

    @property
    def num_train_ids(self) -> int:
        """Number of training identities of this trial."""
        return len({r.pid for r in self.train})

    def _read_idx(self, split: str, modality: str) -> list[Record]:
        name = "visible" if modality == VISIBLE else "thermal"
        path = self.root / "idx" / f"{split}_{name}_{self.trial}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"RegDB split file {path} is missing. Expected the {LAYOUT_HELP}.")
        records = []
        for lineno, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                if len(parts) != 2:
                    raise ValueError
                rel, label = parts[0], int(parts[1])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: malformed line {line!r}; expected "
                                 f"'<relative image path> <integer label>'") from None
            image = self.root / rel
            if not image.is_file():
                raise FileNotFoundError(f"{path}:{lineno}: image {image} does not exist")
            records.append(Record(str(image), label, CAMID[modality], modality))
        if not records:
            raise ValueError(f"{path}: no images listed")
        return records

    def query(self, direction: Literal["v2t", "t2v"] = "v2t") -> list[Record]:
        """Test images of the query modality: visible for ``"v2t"``, thermal for ``"t2v"``."""
        return list(self._lists["test", _modalities(direction)[0]])

    def gallery(self, direction: Literal["v2t", "t2v"] = "v2t") -> list[Record]:
        """Test images of the gallery modality: thermal for ``"v2t"``, visible for ``"t2v"``."""
        return list(self._lists["test", _modalities(direction)[1]])

    def test_images(self) -> list[Record]:
        """Every test image of this trial (both directions read them all)."""
        return self._lists["test", VISIBLE] + self._lists["test", INFRARED]

    def summary(self) -> str:
        """A statistics table of this trial."""
        vis, ir = split_by_modality(self.train)
        tv, tt = self._lists["test", VISIBLE], self._lists["test", INFRARED]
        return summary_table(f"RegDB trial {self.trial} at {self.root}",
                             [("train", self.num_train_ids, len(vis), len(ir)),
                              ("test", len({r.pid for r in tv + tt}), len(tv), len(tt))])

    def __repr__(self) -> str:
        return f"RegDB(root={str(self.root)!r}, trial={self.trial}, num_train_ids={self.num_train_ids})"


def _modalities(direction: str) -> tuple[str, str]:
    if direction == "v2t":
        return VISIBLE, INFRARED
    if direction == "t2v":
        return INFRARED, VISIBLE
    raise ValueError(f"unknown RegDB direction {direction!r}; choose 'v2t' (visible query, thermal gallery) "
                     f"or 't2v' (thermal query, visible gallery)")
