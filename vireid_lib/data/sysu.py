"""SYSU-MM01 reader and its test protocol (query set, gallery trials)."""

from __future__ import annotations

import random
import warnings
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from vireid_lib import INFRARED, VISIBLE
from vireid_lib.data.common import list_images, relabel_training, split_by_modality, summary_table
from vireid_lib.data.records import Record
from vireid_lib.data.sysu_official import PERM_FILE, load_rand_perm, official_gallery_names

VISIBLE_CAMS = (1, 2, 4, 5)
INFRARED_CAMS = (3, 6)
GALLERY_CAMS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
SPLIT_FILES = ("train_id.txt", "val_id.txt", "test_id.txt")

LAYOUT_HELP = ("SYSU-MM01 layout: ROOT/cam1 ... ROOT/cam6, each holding one folder per identity "
               "({pid:04d}/) of images ({img:04d}.jpg), and ROOT/exp/train_id.txt, val_id.txt, "
               "test_id.txt, each one line of comma-separated integer ids")


class SYSUMM01:
    """SYSU-MM01 (Wu et al., "RGB-Infrared Cross-Modality Person Re-Identification", ICCV 2017).

    Dataset statistics (the real data):
        - identities: 491 (395 train + val, 96 test).
        - cameras: visible cam1, cam2 (indoor), cam4, cam5 (outdoor); near-infrared cam3 (indoor),
          cam6 (outdoor).
        - training images (train + val ids): 22,258 visible + 11,909 infrared.
        - query: 3,803 infrared images (every cam3/cam6 image of the test ids).
        - gallery, single-shot: 301 visible images (all-search), 112 (indoor-search) per trial.

    Training identities are ``exp/train_id.txt`` plus ``exp/val_id.txt`` relabelled 0..N-1 in sorted pid
    order, as in the reference code (Ye et al., AGW / CAJ). A training identity without visible or without
    infrared images, or without any image folder, is skipped with a warning that names it (see
    :func:`~vireid_lib.data.common.relabel_training`).

    Args:
        root: the ``SYSU-MM01`` folder.

    Raises:
        FileNotFoundError: when ``root`` or a split file is missing (the message describes the layout).
        ValueError: for a malformed id line (file and line number), an id listed in both the training and
            the test split, or an empty training set.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"SYSU-MM01 root {self.root} does not exist. Expected the {LAYOUT_HELP}.")
        split = {name: _read_ids(self.root / "exp" / name) for name in SPLIT_FILES}
        self.train_ids = sorted(set(split["train_id.txt"]) | set(split["val_id.txt"]))
        self.test_ids = sorted(set(split["test_id.txt"]))
        both = sorted(set(self.train_ids) & set(self.test_ids))
        if both:
            raise ValueError(f"SYSU-MM01 ids {both[:10]} appear both in exp/test_id.txt and in the training "
                             f"split (train_id.txt/val_id.txt); the splits must be disjoint")
        records = [r for pid in self.train_ids for cam in VISIBLE_CAMS + INFRARED_CAMS
                   for r in self._images(pid, cam)]
        self.train: list[Record] = relabel_training(
            records, "SYSU-MM01", listed=self.train_ids,
            where="listed in exp/train_id.txt or val_id.txt without any image (no folder cam1..cam6/<pid:04d>/)")
        """Training records (train + val ids), pids relabelled 0..N-1; visible and infrared together."""
        self._check_test_images()

    @property
    def num_train_ids(self) -> int:
        """Number of training identities (after skipping any without both modalities)."""
        return len({r.pid for r in self.train})

    def _images(self, pid: int, cam: int) -> list[Record]:
        folder = self.root / f"cam{cam}" / f"{pid:04d}"
        if not folder.is_dir():   # not every identity passes every camera
            return []
        modality = INFRARED if cam in INFRARED_CAMS else VISIBLE
        return [Record(str(p), pid, cam, modality) for p in list_images(folder)]

    def _check_test_images(self) -> None:
        """Name test ids without images now, when the reader opens, rather than after a training epoch.

        A test id without infrared images is never queried, one without visible images never in the gallery
        (a warning names them); no query at all, or an empty all- or indoor-search gallery, is an error.
        """
        queried = {r.pid for r in self._query}
        shown = {cam: {pid for pid in self.test_ids if self._images(pid, cam)} for cam in GALLERY_CAMS["all"]}
        no_ir = [p for p in self.test_ids if p not in queried]
        no_vis = [p for p in self.test_ids if not any(p in ids for ids in shown.values())]
        for ids, what in ((no_ir, "infrared images (cam3/, cam6/): never queried"),
                          (no_vis, "visible images (cam1/, cam2/, cam4/, cam5/): never in the gallery")):
            if ids and len(ids) < len(self.test_ids):
                warnings.warn(f"SYSU-MM01 at {self.root}: test ids {ids[:20]}{' ...' if len(ids) > 20 else ''} "
                              f"of exp/test_id.txt have no {what}", stacklevel=3)
        empty = [name for name, ok in (
            ("the query set (no test id has infrared images)", queried),
            ("the all-search gallery (no test id has visible images)", no_vis != self.test_ids),
            ("the indoor-search gallery (no test id has cam1/ or cam2/ images)", shown[1] | shown[2])) if not ok]
        if empty:
            raise ValueError(f"SYSU-MM01 at {self.root}: {empty[0]} would be empty for the "
                             f"{len(self.test_ids)} ids of exp/test_id.txt ({self.test_ids[:10]}"
                             f"{' ...' if len(self.test_ids) > 10 else ''}); check those ids against the camera "
                             f"folders. Expected the {LAYOUT_HELP}.")

    @cached_property
    def _query(self) -> list[Record]:
        return [r for pid in self.test_ids for cam in INFRARED_CAMS for r in self._images(pid, cam)]

    def query(self) -> list[Record]:
        """Every cam3 and cam6 image of the test ids (sorted by id, camera, file), for both search modes."""
        return list(self._query)

    def gallery(self, mode: Literal["all", "indoor"] = "all", trial: int = 0, shots: int = 1,
                protocol: Literal["reference", "official"] = "reference") -> list[Record]:
        """The visible gallery of one trial of the SYSU-MM01 protocol.

        ``protocol="official"`` takes the gallery from the dataset's fixed permutations,
        ``exp/rand_perm_cam.mat`` (:mod:`vireid_lib.data.sysu_official`); the rest of this docstring describes
        the default, ``"reference"``.

        For each sorted test id and each gallery camera (all-search: cam1, cam2, cam4, cam5; indoor-search:
        cam1, cam2) that has a folder for it, ``shots`` images are drawn from the sorted file list.

        Single-shot reproduces the reference protocol (``process_gallery_sysu`` of the AGW/CAJ code) draw
        for draw: Python's Mersenne Twister seeded with the trial (``random.Random(trial)``, the same
        generator and seed as its ``random.seed(trial)``) and one ``choice`` per (id, camera) in that order,
        so trial t here is trial t there. A private ``random.Random`` rather than the module-level generator
        keeps the draw independent of any other code that uses ``random``.

        Multi-shot draws 10 images per (id, camera) without replacement with ``numpy.random.RandomState(
        trial)``. The reference draws them with numpy's global generator, which it never seeds per trial,
        so its multi-shot galleries are not reproducible and there is no trial-for-trial equivalent; a
        folder with fewer than ``shots`` images contributes all of them (the reference would crash).

        Args:
            mode: ``"all"`` or ``"indoor"`` search.
            trial: trial number (the protocol averages trials 0..9).
            shots: images per identity and camera: 1 (single-shot) or 10 (multi-shot).
            protocol: ``"reference"`` (AGW/CAJ's seeded draw) or ``"official"`` (``exp/rand_perm_cam.mat``).

        Raises:
            ValueError: for an unknown mode or protocol, a shot count other than 1 or 10, or an official
                permutation naming an image the dataset lacks.
            FileNotFoundError: ``protocol="official"`` without ``exp/rand_perm_cam.mat``.
        """
        if mode not in GALLERY_CAMS:
            raise ValueError(f"unknown SYSU-MM01 search mode {mode!r}; choose 'all' or 'indoor'")
        if shots not in (1, 10):
            raise ValueError(f"shots must be 1 (single-shot) or 10 (multi-shot), got {shots}")
        if protocol == "official":
            return self._official(GALLERY_CAMS[mode], trial, shots)
        if protocol != "reference":
            raise ValueError(f"unknown SYSU-MM01 gallery protocol {protocol!r}; choose 'reference' or 'official'")
        if shots == 1:
            return self._single_shot(GALLERY_CAMS[mode], random.Random(trial))
        np_rng = np.random.RandomState(trial)
        out: list[Record] = []
        for pid in self.test_ids:
            for cam in GALLERY_CAMS[mode]:
                files = self._images(pid, cam)
                if not files:
                    continue
                if len(files) <= shots:
                    out.extend(files)
                else:
                    out.extend(files[i] for i in np_rng.choice(len(files), shots, replace=False))
        return out

    def test_images(self) -> list[Record]:
        """Every test image an evaluation may read: the query and every visible image of the test ids (any
        gallery draw picks among them)."""
        return self.query() + [r for pid in self.test_ids for cam in GALLERY_CAMS["all"]
                               for r in self._images(pid, cam)]

    def within_visible(self, trial: int = 0) -> tuple[list[Record], list[Record]]:
        """A same-modality diagnostic beside the cross-modality protocol (not part of SYSU-MM01's protocol).

        Queries: every indoor visible image (cam1, cam2) of the test ids. Gallery: one image per test id and
        outdoor visible camera (cam4, cam5), drawn with ``random.Random(trial)`` as the single-shot gallery
        is. Query and gallery cameras never coincide, so no same-camera rule applies. Comparing its scores
        with all-search's shows how much of what a model learns crosses the modality gap.

        Returns:
            ``(queries, gallery)``.
        """
        queries = [r for pid in self.test_ids for cam in (1, 2) for r in self._images(pid, cam)]
        return queries, self._single_shot((4, 5), random.Random(trial))

    @cached_property
    def _rand_perm(self) -> list[list[np.ndarray]]:
        return load_rand_perm(self.root / PERM_FILE)

    def _official(self, cams: tuple[int, ...], trial: int, shots: int) -> list[Record]:
        """The gallery of ``trial`` from ``exp/rand_perm_cam.mat``; image number n is file ``{n:04d}.*``."""
        out = []
        for cam, pid, number in official_gallery_names(self._rand_perm, cams, self.test_ids, trial, shots):
            by_number = {Path(r.path).stem: r for r in self._images(pid, cam)}
            record = by_number.get(f"{number:04d}")
            if record is None:
                raise ValueError(f"exp/rand_perm_cam.mat names image {number:04d} of id {pid} in cam{cam}, which "
                                 f"{self.root / f'cam{cam}' / f'{pid:04d}'} does not hold; is the dataset complete?")
            out.append(record)
        return out

    def _single_shot(self, cams: tuple[int, ...], rng: random.Random) -> list[Record]:
        """One ``rng.choice`` per sorted test id and camera of ``cams`` that has images, in that order (the
        reference protocol's single-shot draw)."""
        out = []
        for pid in self.test_ids:
            for cam in cams:
                files = self._images(pid, cam)
                if files:
                    out.append(rng.choice(files))
        return out

    def summary(self) -> str:
        """A statistics table of this copy of the dataset (train, query, trial-0 galleries)."""
        vis, ir = split_by_modality(self.train)
        q = self.query()
        rows = [("train", self.num_train_ids, len(vis), len(ir)),
                ("query", len({r.pid for r in q}), 0, len(q))]
        for mode in GALLERY_CAMS:
            g = self.gallery(mode)
            rows.append((f"gallery:{mode}", len({r.pid for r in g}), len(g), 0))
        return summary_table(f"SYSU-MM01 at {self.root}", rows)

    def __repr__(self) -> str:
        return f"SYSUMM01(root={str(self.root)!r}, num_train_ids={self.num_train_ids})"


def _read_ids(path: Path) -> list[int]:
    """Parse a SYSU-MM01 split file: comma-separated integer ids (one line; blank lines ignored)."""
    if not path.is_file():
        raise FileNotFoundError(f"SYSU-MM01 split file {path} is missing. Expected the {LAYOUT_HELP}.")
    ids: list[int] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        for token in line.split(","):
            token = token.strip()
            if not token and not line.strip():
                continue
            try:
                ids.append(int(token))
            except ValueError:
                raise ValueError(f"{path}:{lineno}: malformed id {token!r}; expected comma-separated "
                                 f"integer ids such as '1,2,4'") from None
    if not ids:
        raise ValueError(f"{path}: no ids found; expected one line of comma-separated integer ids")
    return ids
