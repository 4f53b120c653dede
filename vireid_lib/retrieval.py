"""The retrieval browser's model, without widgets: the test splits of the protocols, networks from
checkpoints or from a checkpoint and folders of your own images, features extracted once per network and
image, each split's distances and per-query AP and INP computed once, a query's top-k as the protocol ranks
it (SYSU-MM01: no cam2 gallery image for a cam3 query), the order queries are walked in, and the thumbnails
(plain or with a CAM overlay) a view draws.

:class:`~vireid_lib.widgets.RetrievalBrowser` is the view over a :class:`Retrieval`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import nn

from vireid_lib import explain
from vireid_lib.checkpoints import load_model
from vireid_lib.data import SYSUMM01, RegDB
from vireid_lib.data.records import Record
from vireid_lib.data.synthetic import synthetic_root
from vireid_lib.data.transforms import test_transform
from vireid_lib.evaluation.extract import Transform, extract_features, feature_options
from vireid_lib.evaluation.metrics import rank_metrics, top_k
from vireid_lib.evaluation.protocols import pairwise_distance
from vireid_lib.search import FeatureCache, default_feature_cache, embed, list_folder, load_search_model, model_key
from vireid_lib.visualize import load_display_image

Extractor = Callable[[nn.Module, Sequence[Record]], torch.Tensor]
"""``extract(model, records) -> (N, D)`` L2-normalised features, in the records' order."""

SplitKey = tuple[str, str, int]
"""``(dataset, protocol, trial)``."""


class Split(NamedTuple):
    """One query/gallery split of a test protocol.

    Attributes:
        query: query records.
        gallery: gallery records.
        protocol: ``"sysu"`` (cam3 queries do not see cam2) or ``"regdb"``: the rule of
            :func:`~vireid_lib.evaluation.rank_metrics`.
        labelled: the records carry identities and cameras. ``False`` (your own images,
            :meth:`Retrieval.from_folders`): no match borders, no AP or INP, no identity filter.
    """

    query: Sequence[Record]
    gallery: Sequence[Record]
    protocol: Literal["sysu", "regdb"]
    labelled: bool = True


class DatasetSplits(Mapping):
    """The test splits of SYSU-MM01 and/or RegDB, keyed ``(dataset, protocol, trial)``, read lazily.

    SYSU-MM01: protocols ``"all"`` and ``"indoor"`` (single-shot), trials ``0..sysu_trials - 1``.
    RegDB: protocols ``"v2t"`` and ``"t2v"``, trials ``1..10`` (each trial's idx files).

    Args:
        sysu_root: a folder in SYSU-MM01's layout, or ``None`` to leave SYSU-MM01 out.
        regdb_root: a folder in RegDB's layout, or ``None`` to leave RegDB out.
        sysu_trials: number of SYSU-MM01 gallery draws offered.
    """

    def __init__(self, sysu_root: str | Path | None = None, regdb_root: str | Path | None = None,
                 sysu_trials: int = 10) -> None:
        if sysu_root is None and regdb_root is None:
            raise ValueError("give at least one of sysu_root and regdb_root")
        self.sysu_root, self.regdb_root = sysu_root, regdb_root
        self._keys = []
        if sysu_root is not None:
            self._keys += [("sysu", mode, t) for mode in ("all", "indoor") for t in range(sysu_trials)]
        if regdb_root is not None:
            self._keys += [("regdb", d, t) for d in ("v2t", "t2v") for t in range(1, 11)]
        self._readers: dict[Any, Any] = {}

    def __getitem__(self, key: SplitKey) -> Split:
        if key not in self._keys:
            raise KeyError(f"no split {key}; available: datasets {sorted({k[0] for k in self._keys})}")
        dataset, protocol, trial = key
        if dataset == "sysu":
            if "sysu" not in self._readers:
                self._readers["sysu"] = SYSUMM01(self.sysu_root)
            reader = self._readers["sysu"]
            return Split(reader.query(), reader.gallery(mode=protocol, trial=trial), "sysu")
        if trial not in self._readers:
            self._readers[trial] = RegDB(self.regdb_root, trial=trial)
        reader = self._readers[trial]
        return Split(reader.query(protocol), reader.gallery(protocol), "regdb")

    def __iter__(self) -> Iterator[SplitKey]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class Ranking(NamedTuple):
    """One query's top-k under one model.

    Attributes:
        gallery: top-k gallery indices, best first (protocol rule applied, ties by gallery index).
        distances: their distances.
        matches: whether each has the query's identity.
        ap: the query's average precision (NaN without a true match in the gallery).
        inp: the query's inverse negative penalty (NaN likewise).
    """

    gallery: np.ndarray
    distances: np.ndarray
    matches: np.ndarray
    ap: float
    inp: float


class Evaluated(NamedTuple):
    """One model on one split: ``distmat`` ``(Q, G)``, and per query ``ap`` and ``inp`` ``(Q,)`` (NaN for a
    query without a true match, and for every query of an unlabelled split)."""

    distmat: np.ndarray
    ap: np.ndarray
    inp: np.ndarray


def png(array: np.ndarray) -> bytes:
    """An ``(H, W, 3)`` uint8 image as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="png")
    return buffer.getvalue()


class Retrieval:
    """Rankings of one or more models on test splits, each feature, distance matrix and thumbnail computed once.

    Args:
        models: networks by name (``{"base": m1, "full": m2}``); put in evaluation mode.
        splits: ``(dataset, protocol, trial) -> Split`` (a dict, or :class:`DatasetSplits`).
        transform: the test transform (PIL image -> normalised ``(3, H, W)``), used for CAM inputs and by
            the default extractor.
        extract: ``extract(model, records) -> (N, D)`` features; default: the paper's test feature
            (:func:`~vireid_lib.evaluation.extract_features` with flip averaging, BN feature, L2-normalised).

    Raises:
        ValueError: for no models or no splits.
    """

    def __init__(self, models: Mapping[str, nn.Module], splits: Mapping[SplitKey, Split], transform: Transform,
                 extract: Extractor | None = None) -> None:
        if not models:
            raise ValueError("give at least one model, e.g. {'full': model}")
        if len(splits) == 0:
            raise ValueError("give at least one split, e.g. DatasetSplits(sysu_root=...)")
        self.models = dict(models)
        for m in self.models.values():
            m.eval()
        self.splits, self.transform = splits, transform
        self.extract = extract or (lambda model, records: extract_features(model, records, transform,
                                                                           progress=False))
        self._features: dict[str, dict[tuple[str, str], torch.Tensor]] = {name: {} for name in self.models}
        self._evaluated: dict[tuple[str, SplitKey], Evaluated] = {}
        self._thumbs: dict[tuple[str, tuple[int, int]], bytes] = {}

    # ------------------------------------------------------------------------------------------ building

    @classmethod
    def from_checkpoints(cls, checkpoints: Mapping[str, str | Path], *, sysu_root: str | Path | None = None,
                         regdb_root: str | Path | None = None, sysu_trials: int = 10) -> Retrieval:
        """Trained checkpoints (``{"base": "runs/base/last.pt", "full": ...}``) on the test splits.

        Each model's test feature follows its run's ``eval`` settings. Without ``sysu_root`` and
        ``regdb_root`` the synthetic datasets of both layouts are used, at the size the checkpoints were trained
        on (their ``data.synthetic_smoke``).

        Raises:
            ValueError: when the checkpoints were trained at different input sizes, or some on the tiny smoke
                data and some not (without roots there would be no one synthetic size to browse).
        """
        loaded = {name: load_model(path) for name, path in checkpoints.items()}
        sizes = {(cfg.data.height, cfg.data.width) for _, cfg in loaded.values()}
        if len(sizes) != 1:
            raise ValueError(f"the checkpoints use different input sizes {sorted(sizes)}; compare models trained "
                             "at the same size")
        height, width = sizes.pop()
        transform = test_transform(height, width)
        eval_cfgs = {name: cfg.eval for name, (_, cfg) in loaded.items()}
        models = {name: model for name, (model, _) in loaded.items()}
        by_model = {id(m): eval_cfgs[n] for n, m in models.items()}

        def extract(model: nn.Module, records: Sequence[Record]) -> torch.Tensor:
            return extract_features(model, records, transform, **feature_options(by_model[id(model)]),
                                    progress=False)

        if sysu_root is None and regdb_root is None:
            smokes = {cfg.data.synthetic_smoke for _, cfg in loaded.values()}
            if len(smokes) != 1:
                raise ValueError("some checkpoints were trained on the tiny smoke data and some were not; browse "
                                 "models of one synthetic size, or give sysu_root / regdb_root")
            smoke = smokes.pop()
            sysu_root, regdb_root = synthetic_root("sysu", smoke=smoke), synthetic_root("regdb", smoke=smoke)
        return cls(models, DatasetSplits(sysu_root, regdb_root, sysu_trials=sysu_trials), transform, extract)

    @classmethod
    def from_folders(cls, checkpoint: str | Path, query: str | Path | Sequence[str | Path], gallery: str | Path, *,
                     query_modality: str | None = None, gallery_modality: str | None = None,
                     cache_dir: str | Path | None = "default") -> Retrieval:
        """A checkpoint on your own images: the queries and the gallery folder of ``vireid search``, as one
        unlabelled split ``("your images", "unlabelled", 0)``.

        Images are found, their modality told (flag or ``visible/`` / ``infrared/`` / ``thermal/`` folders), bad
        files skipped and features cached exactly as :func:`vireid_lib.search.search` does.

        Args:
            checkpoint: a ``.pt`` written by ``vireid train``.
            query: an image file or folder, or a list of them.
            gallery: a folder of gallery images (searched recursively).
            query_modality: ``"visible"`` or ``"infrared"`` for every query (default: from folder names).
            gallery_modality: the same for the gallery.
            cache_dir: the feature cache folder (``"default"``: ``vireid_lib.search.default_feature_cache()``;
                ``None``: no cache).

        Raises:
            ValueError: when no query or no gallery image could be read.
        """
        model, cfg = load_search_model(checkpoint)
        cache = FeatureCache(default_feature_cache() if cache_dir == "default" else cache_dir, model_key(model, cfg))
        skipped: list[tuple[str, str]] = []
        queries = [r for q in ([query] if isinstance(query, (str, Path)) else query)
                   for r in list_folder(q, query_modality, skipped)]
        queries, _, _ = embed(model, cfg, queries, cache, strict=False, skipped=skipped)
        images, _, _ = embed(model, cfg, list_folder(gallery, gallery_modality, skipped), cache, strict=False,
                             skipped=skipped)
        cache.save()
        if not queries or not images:
            raise ValueError("no readable " + ("query" if not queries else "gallery") + " image (see the warnings)")

        def extract(net: nn.Module, records: Sequence[Record]) -> torch.Tensor:
            return embed(net, cfg, records, cache, strict=True, skipped=[])[1]

        name = Path(checkpoint).parent.name or "model"
        splits = {("your images", "unlabelled", 0): Split(queries, images, "regdb", labelled=False)}
        return cls({name: model}, splits, test_transform(cfg.data.height, cfg.data.width), extract)

    # ------------------------------------------------------------------------------------------ computing

    def features(self, name: str, records: Sequence[Record]) -> torch.Tensor:
        """Features of ``records`` under model ``name``, extracting only images not seen before."""
        cache = self._features[name]
        missing = [r for r in dict.fromkeys(records) if (r.path, r.modality) not in cache]
        if missing:
            for r, f in zip(missing, self.extract(self.models[name], missing)):
                cache[r.path, r.modality] = f
        return torch.stack([cache[r.path, r.modality] for r in records])

    def evaluated(self, name: str, key: SplitKey) -> Evaluated:
        """Distances and per-query AP and INP of model ``name`` on split ``key`` (computed once)."""
        if (name, key) not in self._evaluated:
            split = self.splits[key]
            distmat = pairwise_distance(self.features(name, split.query), self.features(name, split.gallery))
            if not split.labelled:  # no identities: nothing to score
                nan = np.full(len(split.query), np.nan)
                self._evaluated[name, key] = Evaluated(distmat, nan, nan.copy())
                return self._evaluated[name, key]
            m = rank_metrics(distmat, [r.pid for r in split.query], [r.pid for r in split.gallery],
                             [r.camid for r in split.query], [r.camid for r in split.gallery],
                             protocol=split.protocol)
            self._evaluated[name, key] = Evaluated(distmat, m["ap"], m["inp"])
        return self._evaluated[name, key]

    def ranking(self, name: str, key: SplitKey, query: int, k: int) -> Ranking:
        """Model ``name``'s top ``k`` for query ``query`` of split ``key``, as the protocol ranks it
        (:func:`~vireid_lib.evaluation.metrics.top_k`)."""
        split, ev = self.splits[key], self.evaluated(name, key)
        q = split.query[query]
        top = top_k(ev.distmat[query], q.camid, [g.camid for g in split.gallery], split.protocol, k=k)
        matches = np.array([split.labelled and split.gallery[j].pid == q.pid for j in top], dtype=bool)
        return Ranking(top, ev.distmat[query, top], matches, float(ev.ap[query]), float(ev.inp[query]))

    def queries(self, name: str, key: SplitKey, *, identity: int | None = None, camera: int | None = None,
                hardest_first: bool = False) -> list[int]:
        """The query indices of split ``key`` with identity ``identity`` and camera ``camera`` (``None``: any),
        in index order or, with ``hardest_first``, by increasing AP under model ``name`` (equal APs in index
        order; queries without a true match, NaN AP, last: they have nothing to find)."""
        split = self.splits[key]
        order = [i for i, r in enumerate(split.query)
                 if (identity is None or r.pid == identity) and (camera is None or r.camid == camera)]
        if hardest_first:
            ap = self.evaluated(name, key).ap[order]
            order = [order[j] for j in np.argsort(np.where(np.isnan(ap), np.inf, ap), kind="stable")]
        return order

    def cam_layers(self, name: str) -> list[str]:
        """The CAM layers of model ``name``: ``"stem"`` (each side's own stem), then its other target layers."""
        return ["stem"] + [n for n in self.models[name].target_layers() if not n.startswith("stem.")]

    # ------------------------------------------------------------------------------------------ thumbnails

    def thumbnail(self, record: Record, size: tuple[int, int]) -> bytes:
        """``record``'s image at ``size`` (height, width) as PNG (computed once per image and size)."""
        if (record.path, size) not in self._thumbs:
            self._thumbs[record.path, size] = png(load_display_image(record.path, size))
        return self._thumbs[record.path, size]

    def _tensor(self, record: Record) -> torch.Tensor:
        with Image.open(record.path) as img:
            return self.transform(img.convert("RGB"))

    def cam_thumbnails(self, name: str, query: Record, gallery: Sequence[Record], layer: str, method: str,
                       size: tuple[int, int]) -> tuple[bytes, list[bytes]]:
        """CAM overlays at ``size`` (height, width) as PNG: each gallery image's map for its similarity to the
        query, and the query's map for its similarity to the first gallery image.

        Args:
            layer: a layer of :meth:`cam_layers`; one model ``name`` lacks (``"base"`` has no MCA) falls back
                to ``layer4``.
            method: a key of :data:`vireid_lib.explain.CAM_METHODS`.
        """
        model = self.models[name]
        layer = "stem.visible" if layer == "stem" else layer if layer in model.target_layers() else "layer4"
        q = self._tensor(query)
        g = torch.stack([self._tensor(r) for r in gallery])
        maps = explain.explain_matches(model, q, query.modality, g, gallery[0].modality, layer=layer, method=method)

        def thumb(image: torch.Tensor, cam: np.ndarray) -> bytes:
            return png(np.asarray(Image.fromarray(explain.overlay(image, cam)).resize((size[1], size[0]),
                                                                                      Image.BILINEAR)))

        return thumb(q, maps.query[0]), [thumb(x, c) for x, c in zip(g, maps.gallery)]
