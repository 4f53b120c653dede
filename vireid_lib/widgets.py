"""An interactive retrieval browser for JupyterLab (ipywidgets).

Pick a dataset, protocol and trial, then a query (by index, identity or camera, or walking the hardest
failures, lowest AP first); the top-k gallery shows with green (same identity) or red borders, the query's
AP and INP, optionally a Grad-CAM overlay, and a second model's ranking of the same query beside it.

Features are extracted once per model and image and cached, and each split's distances and per-query
metrics are computed once, so moving between queries only ranks one row and draws k + 1 thumbnails.
The browser is built from in-memory models and splits (``RetrievalBrowser(models, splits, transform)``,
what tests do), from checkpoints (:meth:`RetrievalBrowser.from_checkpoints`), or from a checkpoint and
folders of your own, unlabelled images (:meth:`RetrievalBrowser.from_folders`).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image
from torch import nn

from vireid_lib import explain
from vireid_lib.data.records import Record
from vireid_lib.evaluation.extract import Transform, extract_features
from vireid_lib.evaluation.metrics import kept_gallery, rank_metrics
from vireid_lib.evaluation.protocols import pairwise_distance
from vireid_lib.visualize import load_image

MATCH_COLOUR, MISMATCH_COLOUR, QUERY_COLOUR = "#00aa00", "#d70000", "#3c3c3c"
ORDERS = ("index", "hardest first")
UNLABELLED = ("images without identity labels: ranked by distance only, so no match borders and no AP or INP "
              "(the hardest-first order keeps the folder order)")
ANY = "any"

Extractor = Callable[[nn.Module, Sequence[Record]], torch.Tensor]
"""``extract(model, records) -> (N, D)`` L2-normalised features, in the records' order."""


class Split(NamedTuple):
    """One query/gallery split of a test protocol.

    Attributes:
        query: query records.
        gallery: gallery records.
        protocol: ``"sysu"`` (cam3 queries do not see cam2) or ``"regdb"``: the rule of
            :func:`~vireid_lib.evaluation.rank_metrics`.
        labelled: the records carry identities and cameras. ``False`` (your own images,
            :meth:`RetrievalBrowser.from_folders`): no match borders, no AP or INP, no identity filter.
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

    def __getitem__(self, key: tuple[str, str, int]) -> Split:
        from vireid_lib.data import SYSUMM01, RegDB

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

    def __iter__(self) -> Iterator[tuple[str, str, int]]:
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


class _Evaluated(NamedTuple):
    distmat: np.ndarray  # (Q, G)
    ap: np.ndarray  # (Q,)
    inp: np.ndarray  # (Q,)


def _short(path: str, n: int = 18) -> str:
    """A file name cut to ``n`` characters for a caption."""
    name = Path(path).name
    return name if len(name) <= n else name[: n - 3] + "..."


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="png")
    return buffer.getvalue()


class _Card:
    """One image with a coloured border and a caption."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.image = widgets.Image(format="png", width=size[1], height=size[0])
        self.caption = widgets.HTML()
        self.box = widgets.VBox([self.image, self.caption], layout=widgets.Layout(align_items="center",
                                                                                 margin="0 2px"))
        self.box.add_class("vireid-card")

    def show(self, png: bytes, colour: str, caption: str) -> None:
        self.image.value = png
        self.image.layout.border = f"4px solid {colour}"
        self.caption.value = f"<div style='font-size:11px;line-height:1.2;text-align:center'>{caption}</div>"


class _Panel:
    """One model's row: the query card and its top-k gallery cards."""

    def __init__(self, size: tuple[int, int], max_k: int) -> None:
        self.title = widgets.HTML()
        self.query = _Card(size)
        self.query.box.add_class("vireid-query")
        self.cards = [_Card(size) for _ in range(max_k)]
        self.gallery = widgets.HBox([], layout=widgets.Layout(flex_flow="row wrap"))
        self.gallery.add_class("vireid-gallery")
        row = widgets.HBox([self.query.box, widgets.HTML("<div style='width:12px'></div>"), self.gallery])
        self.box = widgets.VBox([self.title, row])


class RetrievalBrowser:
    """Browse the rankings of one or two models on the test splits.

    Args:
        models: networks by name (``{"base": m1, "full": m2}``); put in evaluation mode.
        splits: ``(dataset, protocol, trial) -> Split`` (a dict, or :class:`DatasetSplits`).
        transform: the test transform (PIL image -> normalised ``(3, H, W)``), used for CAM inputs and by
            the default extractor.
        extract: ``extract(model, records) -> (N, D)`` features; default: the paper's test feature
            (:func:`~vireid_lib.evaluation.extract_features` with flip averaging, BN feature, L2-normalised).
        top_k: gallery images shown (the slider goes up to ``max_k``).
        max_k: the largest top-k offered.
        image_size: ``(height, width)`` of each thumbnail.
        cam_methods: CAM methods offered (keys of :data:`vireid_lib.explain.CAM_METHODS`).

    Raises:
        ValueError: for no models or no splits, or an unknown CAM method.
    """

    def __init__(self, models: Mapping[str, nn.Module], splits: Mapping[tuple[str, str, int], Split],
                 transform: Transform, *, extract: Extractor | None = None, top_k: int = 5, max_k: int = 10,
                 image_size: tuple[int, int] = (128, 64),
                 cam_methods: Sequence[str] = ("gradcam", "hirescam", "eigencam")) -> None:
        if not models:
            raise ValueError("give at least one model, e.g. {'full': model}")
        if len(splits) == 0:
            raise ValueError("give at least one split, e.g. DatasetSplits(sysu_root=...)")
        unknown = sorted(set(cam_methods) - set(explain.CAM_METHODS))
        if unknown:
            raise ValueError(f"unknown CAM methods {unknown}; choose from {sorted(explain.CAM_METHODS)}")
        if not 1 <= top_k <= max_k:
            raise ValueError(f"top_k must lie in 1..max_k={max_k}, got {top_k}")
        self.models = dict(models)
        for m in self.models.values():
            m.eval()
        self.splits, self.transform = splits, transform
        self.extract = extract or (lambda model, records: extract_features(model, records, transform,
                                                                           progress=False))
        self.image_size = image_size
        self._features: dict[str, dict[tuple[str, str], torch.Tensor]] = {name: {} for name in self.models}
        self._evaluated: dict[tuple[str, tuple[str, str, int]], _Evaluated] = {}
        self._thumbs: dict[str, bytes] = {}
        self._order: list[int] = []
        self._updating = False
        self.last_render_s = 0.0
        self._build(top_k, max_k, cam_methods)
        self._on_split()

    # ------------------------------------------------------------------------------------------ building

    @classmethod
    def from_checkpoints(cls, checkpoints: Mapping[str, str | Path], *, sysu_root: str | Path | None = None,
                         regdb_root: str | Path | None = None, smoke: bool = False, sysu_trials: int = 10,
                         **kwargs: Any) -> RetrievalBrowser:
        """A browser over trained checkpoints (``{"base": "runs/base/last.pt", "full": ...}``).

        Each model's test feature follows its run's ``eval`` settings. Without ``sysu_root`` and
        ``regdb_root`` the synthetic datasets of both layouts are used (``smoke`` picks their tiny size).

        Raises:
            ValueError: when the checkpoints were trained at different input sizes.
        """
        from vireid_lib.data.synthetic import synthetic_root
        from vireid_lib.data.transforms import test_transform
        from vireid_lib.checkpoints import load_model

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
            e = by_model[id(model)]
            return extract_features(model, records, transform, batch_size=e.batch_size, flip=e.flip,
                                    normalize=e.normalize, feature=e.feature, branch=e.branch, progress=False)

        if sysu_root is None and regdb_root is None:
            sysu_root, regdb_root = synthetic_root("sysu", smoke=smoke), synthetic_root("regdb", smoke=smoke)
        splits = DatasetSplits(sysu_root, regdb_root, sysu_trials=sysu_trials)
        return cls(models, splits, transform, extract=extract, **kwargs)

    @classmethod
    def from_folders(cls, checkpoint: str | Path, query: str | Path | Sequence[str | Path], gallery: str | Path, *,
                     query_modality: str | None = None, gallery_modality: str | None = None,
                     cache_dir: str | Path | None = "default", **kwargs: Any) -> RetrievalBrowser:
        """A browser over your own images: the queries and the gallery folder of ``vireid search``.

        The images carry no identities, so the view has no match borders and no AP or INP (it says so). Images
        are found, their modality told (flag or ``visible/`` / ``infrared/`` / ``thermal/`` folders), bad files
        skipped and features cached exactly as :func:`vireid_lib.search.search` does.

        Args:
            checkpoint: a ``.pt`` written by ``vireid train``.
            query: an image file or folder, or a list of them.
            gallery: a folder of gallery images (searched recursively).
            query_modality: ``"visible"`` or ``"infrared"`` for every query (default: from folder names).
            gallery_modality: the same for the gallery.
            cache_dir: the feature cache folder (``"default"``: ``vireid_lib.search.default_feature_cache()``;
                ``None``: no cache).
            **kwargs: passed to the constructor (``top_k``, ``image_size``, ...).
        """
        from vireid_lib.data.transforms import test_transform
        from vireid_lib.search import (FeatureCache, default_feature_cache, embed, list_folder, load_search_model,
                                       model_key)

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
        return cls({name: model}, splits, test_transform(cfg.data.height, cfg.data.width), extract=extract, **kwargs)

    def _build(self, top_k: int, max_k: int, cam_methods: Sequence[str]) -> None:
        keys = list(self.splits)
        datasets = list(dict.fromkeys(k[0] for k in keys))
        names = list(self.models)
        small = widgets.Layout(width="190px")
        self.dataset = widgets.Dropdown(options=datasets, description="dataset", layout=small)
        self.protocol = widgets.Dropdown(description="protocol", layout=small)
        self.trial = widgets.Dropdown(description="trial", layout=small)
        self.model = widgets.Dropdown(options=names, description="model", layout=small)
        self.compare = widgets.Dropdown(options=["none"] + names, value="none",
                                        description="compare", layout=small)
        self.top_k = widgets.IntSlider(value=top_k, min=1, max=max_k, description="top-k",
                                       layout=widgets.Layout(width="260px"))
        self.top_k.add_class("vireid-topk")
        self.identity = widgets.Dropdown(description="identity", layout=small)
        self.camera = widgets.Dropdown(description="camera", layout=small)
        self.order = widgets.ToggleButtons(options=ORDERS, value="index", description="order",
                                           style={"button_width": "100px"})
        self.position = widgets.BoundedIntText(value=0, min=0, max=0, description="query", layout=small)
        self.prev = widgets.Button(description="previous", icon="arrow-left", layout=widgets.Layout(width="110px"))
        self.next = widgets.Button(description="next", icon="arrow-right", layout=widgets.Layout(width="110px"))
        self.prev.add_class("vireid-prev")
        self.next.add_class("vireid-next")
        self.cam = widgets.Checkbox(value=False, description="Grad-CAM overlay", indent=False,
                                    layout=widgets.Layout(width="150px"))
        self.cam_method = widgets.Dropdown(options=list(cam_methods), description="method", layout=small)
        self.cam_layer = widgets.Dropdown(description="layer", layout=small)
        self.status = widgets.HTML()
        self.status.add_class("vireid-status")
        self.panels = [_Panel(self.image_size, max_k), _Panel(self.image_size, max_k)]
        self.panels[1].box.layout.display = "none"
        self.widget = widgets.VBox([
            widgets.HBox([self.dataset, self.protocol, self.trial, self.model, self.compare]),
            widgets.HBox([self.identity, self.camera, self.order]),
            widgets.HBox([self.position, self.prev, self.next, self.top_k]),
            widgets.HBox([self.cam, self.cam_method, self.cam_layer]),
            self.status, self.panels[0].box, self.panels[1].box])
        self.widget.add_class("vireid-browser")

        self.dataset.observe(lambda _: self._on_dataset(), "value")
        self.protocol.observe(lambda _: self._on_protocol(), "value")
        self.trial.observe(lambda _: self._on_split(), "value")
        self.model.observe(lambda _: self._on_model(), "value")
        for w in (self.identity, self.camera, self.order):
            w.observe(lambda _: self._on_filter(), "value")
        for w in (self.compare, self.top_k, self.cam, self.cam_method, self.cam_layer, self.position):
            w.observe(lambda _: self.render(), "value")
        self.prev.on_click(lambda _: self.step(-1))
        self.next.on_click(lambda _: self.step(+1))
        self._on_dataset(render=False)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------------------------------ state

    @property
    def split_key(self) -> tuple[str, str, int]:
        return self.dataset.value, self.protocol.value, self.trial.value

    @property
    def split(self) -> Split:
        return self.splits[self.split_key]

    @property
    def candidates(self) -> list[int]:
        """Query indices selectable now: filtered by identity and camera, in the chosen order."""
        return list(self._order)

    @property
    def query_index(self) -> int:
        """Index (in the split's query list) of the query shown."""
        return self._order[self.position.value]

    def select_query(self, index: int) -> None:
        """Show query ``index`` of the split, clearing filters that exclude it."""
        if not 0 <= index < len(self.split.query):
            raise ValueError(f"query index {index} outside 0..{len(self.split.query) - 1}")
        if index not in self._order:
            with self._hold():
                self.identity.value, self.camera.value = ANY, ANY
            self._on_filter(render=False)
        with self._hold():
            self.position.value = self._order.index(index)
        self.render()

    def step(self, delta: int) -> None:
        """Move ``delta`` places through the candidates (wrapping around)."""
        self.position.value = (self.position.value + delta) % len(self._order)

    def _hold(self) -> Any:
        browser = self

        class _Hold:
            def __enter__(self) -> None:
                browser._updating = True

            def __exit__(self, *exc: Any) -> None:
                browser._updating = False

        return _Hold()

    def _on_dataset(self, render: bool = True) -> None:
        if self._updating:
            return
        protocols = list(dict.fromkeys(k[1] for k in self.splits if k[0] == self.dataset.value))
        with self._hold():
            self.protocol.options = protocols
            self.protocol.value = protocols[0]
        self._on_protocol(render)

    def _on_protocol(self, render: bool = True) -> None:
        if self._updating:
            return
        trials = [k[2] for k in self.splits if k[:2] == (self.dataset.value, self.protocol.value)]
        with self._hold():
            previous = self.trial.value
            self.trial.options = trials
            self.trial.value = previous if previous in trials else trials[0]
        if render:
            self._on_split()

    def _on_split(self) -> None:
        if self._updating:
            return
        split = self.split
        pids = sorted({r.pid for r in split.query}) if split.labelled else []
        cams = sorted({r.camid for r in split.query}) if split.labelled else []
        with self._hold():
            self.identity.options = [ANY] + pids
            self.camera.options = [ANY] + cams
            self.identity.value = self.camera.value = ANY
        self._on_model()

    def _on_model(self) -> None:
        """Offer the model's CAM layers (``"stem"``: each side's own stem), then re-order the queries."""
        if self._updating:
            return
        names = [n for n in self.models[self.model.value].target_layers() if not n.startswith("stem.")]
        with self._hold():
            previous = self.cam_layer.value
            self.cam_layer.options = ["stem"] + names
            self.cam_layer.value = previous if previous in self.cam_layer.options else "layer4"
        self._on_filter()

    def _on_filter(self, render: bool = True) -> None:
        if self._updating:
            return
        split, ev = self.split, self.evaluated(self.model.value, self.split_key)
        order = [i for i, r in enumerate(split.query)
                 if (self.identity.value == ANY or r.pid == self.identity.value)
                 and (self.camera.value == ANY or r.camid == self.camera.value)]
        if self.order.value == "hardest first":
            # Lowest AP first; queries without a true match (NaN AP) go last, they have nothing to find.
            ap = np.where(np.isnan(ev.ap[order]), np.inf, ev.ap[order])
            order = [order[j] for j in np.argsort(ap, kind="stable")]
        self._order = order
        with self._hold():
            self.position.max = max(len(order) - 1, 0)
            self.position.value = 0
        if render:
            self.render()

    # ------------------------------------------------------------------------------------------ computing

    def features(self, name: str, records: Sequence[Record]) -> torch.Tensor:
        """Features of ``records`` under model ``name``, extracting only images not seen before."""
        cache = self._features[name]
        missing = [r for r in dict.fromkeys(records) if (r.path, r.modality) not in cache]
        if missing:
            for r, f in zip(missing, self.extract(self.models[name], missing)):
                cache[r.path, r.modality] = f
        return torch.stack([cache[r.path, r.modality] for r in records])

    def evaluated(self, name: str, key: tuple[str, str, int]) -> _Evaluated:
        """Distances and per-query AP and INP of model ``name`` on split ``key`` (computed once)."""
        if (name, key) not in self._evaluated:
            split = self.splits[key]
            distmat = pairwise_distance(self.features(name, split.query), self.features(name, split.gallery))
            if not split.labelled:  # no identities: nothing to score
                nan = np.full(len(split.query), np.nan)
                self._evaluated[name, key] = _Evaluated(distmat, nan, nan.copy())
                return self._evaluated[name, key]
            m = rank_metrics(distmat, [r.pid for r in split.query], [r.pid for r in split.gallery],
                             [r.camid for r in split.query], [r.camid for r in split.gallery],
                             protocol=split.protocol)
            self._evaluated[name, key] = _Evaluated(distmat, m["ap"], m["inp"])
        return self._evaluated[name, key]

    def ranking(self, name: str, query: int | None = None) -> Ranking:
        """Model ``name``'s top-k for a query of the current split (default: the one shown)."""
        query = self.query_index if query is None else query
        split, ev = self.split, self.evaluated(name, self.split_key)
        q = split.query[query]
        keep = np.flatnonzero(kept_gallery(q.camid, [g.camid for g in split.gallery], split.protocol))
        top = keep[np.argsort(ev.distmat[query, keep], kind="stable")][: self.top_k.value]
        matches = np.array([split.labelled and split.gallery[j].pid == q.pid for j in top], dtype=bool)
        return Ranking(top, ev.distmat[query, top], matches, float(ev.ap[query]), float(ev.inp[query]))

    def _thumb(self, record: Record) -> bytes:
        if record.path not in self._thumbs:
            self._thumbs[record.path] = _png(load_image(record.path, self.image_size))
        return self._thumbs[record.path]

    def _tensor(self, record: Record) -> torch.Tensor:
        with Image.open(record.path) as img:
            return self.transform(img.convert("RGB"))

    def _cam_thumbs(self, name: str, query: Record, gallery: Sequence[Record]) -> tuple[bytes, list[bytes]]:
        """Overlays: each gallery image's map for its similarity to the query, and the query's map for its
        similarity to the top match."""
        model, layer = self.models[name], self.cam_layer.value
        # A compared model may lack the chosen attention layer ("base" has no MCA): it falls back to layer4.
        layer = "stem.visible" if layer == "stem" else layer if layer in model.target_layers() else "layer4"
        q = self._tensor(query)
        g = torch.stack([self._tensor(r) for r in gallery])
        maps = explain.explain_matches(model, q, query.modality, g, gallery[0].modality, layer=layer,
                                       method=self.cam_method.value)
        size = (self.image_size[1], self.image_size[0])

        def thumb(image: torch.Tensor, cam: np.ndarray) -> bytes:
            return _png(np.asarray(Image.fromarray(explain.overlay(image, cam)).resize(size, Image.BILINEAR)))

        return thumb(q, maps.query[0]), [thumb(x, c) for x, c in zip(g, maps.gallery)]

    # ------------------------------------------------------------------------------------------ drawing

    def render(self) -> None:
        """Redraw the panels for the current query and settings."""
        if self._updating or not self._order:
            return
        tic = time.perf_counter()
        names = [self.model.value] + ([self.compare.value] if self.compare.value not in ("none",
                                                                                        self.model.value) else [])
        split, qi = self.split, self.query_index
        q = split.query[qi]
        for panel, name in zip(self.panels, names):
            r = self.ranking(name, qi)
            gallery = [split.gallery[j] for j in r.gallery]
            if self.cam.value:
                q_png, g_pngs = self._cam_thumbs(name, q, gallery)
            else:
                q_png, g_pngs = self._thumb(q), [self._thumb(g) for g in gallery]
            ap = "n/a" if np.isnan(r.ap) else f"{100 * r.ap:.1f}%"
            inp = "n/a" if np.isnan(r.inp) else f"{100 * r.inp:.1f}%"
            if split.labelled:
                panel.title.value = f"<b>{name}</b>: AP {ap}, INP {inp}"
                panel.query.show(q_png, QUERY_COLOUR, f"query #{qi}<br>id {q.pid} cam {q.camid}<br>AP {ap} INP {inp}")
            else:
                panel.title.value = (f"<b>{name}</b>: {UNLABELLED}")
                panel.query.show(q_png, QUERY_COLOUR, f"query #{qi}<br>{_short(q.path)}<br>{q.modality}")
            for rank, (card, g, d, hit, png) in enumerate(zip(panel.cards, gallery, r.distances, r.matches,
                                                              g_pngs), start=1):
                if split.labelled:
                    card.show(png, MATCH_COLOUR if hit else MISMATCH_COLOUR,
                              f"#{rank} {d:.3f}<br>id {g.pid} cam {g.camid}")
                else:
                    card.show(png, QUERY_COLOUR, f"#{rank} {d:.3f}<br>{_short(g.path)}")
            panel.gallery.children = [c.box for c in panel.cards[: len(gallery)]]
        self.panels[1].box.layout.display = None if len(names) == 2 else "none"
        self.last_render_s = time.perf_counter() - tic
        where = f"{split.protocol} {self.split_key[1]} trial {self.split_key[2]}" if split.labelled else \
            f"{self.split_key[0]} ({UNLABELLED})"
        self.status.value = (f"{where}: query "
                             f"{self.position.value + 1} of {len(self._order)} selected ({len(split.query)} "
                             f"queries, {len(split.gallery)} gallery images); drawn in "
                             f"{self.last_render_s:.2f} s")
