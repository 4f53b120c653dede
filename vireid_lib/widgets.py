"""An interactive retrieval browser for JupyterLab (ipywidgets): the view over a
:class:`~vireid_lib.retrieval.Retrieval`.

Pick a dataset, protocol and trial, then a query (by index, identity or camera, or walking the hardest
failures, lowest AP first); the top-k gallery shows with green (same identity) or red borders, the query's
AP and INP, optionally a Grad-CAM overlay, and a second model's ranking of the same query beside it.

Features are extracted once per model and image and cached, and each split's distances and per-query
metrics are computed once (by the :class:`~vireid_lib.retrieval.Retrieval`), so moving between queries only
ranks one row and draws k + 1 thumbnails. The browser is built from in-memory models and splits
(``RetrievalBrowser(models, splits, transform)``, what tests do), from checkpoints
(:meth:`RetrievalBrowser.from_checkpoints`), or from a checkpoint and folders of your own, unlabelled images
(:meth:`RetrievalBrowser.from_folders`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from vireid_lib import explain
from vireid_lib.data.records import Record
from vireid_lib.evaluation.extract import Transform
# DatasetSplits and Split are offered here too: a notebook builds a browser from this module alone.
from vireid_lib.retrieval import DatasetSplits, Evaluated, Extractor, Ranking, Retrieval, Split, SplitKey

MATCH_COLOUR, MISMATCH_COLOUR, QUERY_COLOUR = "#00aa00", "#d70000", "#3c3c3c"
ORDERS = ("index", "hardest first")
UNLABELLED = ("images without identity labels: ranked by distance only, so no match borders and no AP or INP "
              "(the hardest-first order keeps the folder order)")
ANY = "any"


def _short(path: str, n: int = 18) -> str:
    """A file name cut to ``n`` characters for a caption."""
    name = Path(path).name
    return name if len(name) <= n else name[: n - 3] + "..."


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

    Attributes:
        retrieval: the :class:`~vireid_lib.retrieval.Retrieval` that computes what is shown.

    Raises:
        ValueError: for no models or no splits, or an unknown CAM method.
    """

    def __init__(self, models: Mapping[str, nn.Module], splits: Mapping[SplitKey, Split],
                 transform: Transform, *, extract: Extractor | None = None, top_k: int = 5, max_k: int = 10,
                 image_size: tuple[int, int] = (128, 64),
                 cam_methods: Sequence[str] = ("gradcam", "hirescam", "eigencam")) -> None:
        self.retrieval = Retrieval(models, splits, transform, extract)
        unknown = sorted(set(cam_methods) - set(explain.CAM_METHODS))
        if unknown:
            raise ValueError(f"unknown CAM methods {unknown}; choose from {sorted(explain.CAM_METHODS)}")
        if not 1 <= top_k <= max_k:
            raise ValueError(f"top_k must lie in 1..max_k={max_k}, got {top_k}")
        self.image_size = image_size
        self._order: list[int] = []
        self._updating = False
        self.last_render_s = 0.0
        self._build(top_k, max_k, cam_methods)
        self._on_split()

    @property
    def models(self) -> dict[str, nn.Module]:
        """The networks by name."""
        return self.retrieval.models

    @property
    def splits(self) -> Mapping[SplitKey, Split]:
        """The splits by ``(dataset, protocol, trial)``."""
        return self.retrieval.splits

    @property
    def transform(self) -> Transform:
        """The test transform."""
        return self.retrieval.transform

    @property
    def extract(self) -> Extractor:
        """The feature extractor."""
        return self.retrieval.extract

    # ------------------------------------------------------------------------------------------ building

    @classmethod
    def from_checkpoints(cls, checkpoints: Mapping[str, str | Path], *, sysu_root: str | Path | None = None,
                         regdb_root: str | Path | None = None, sysu_trials: int = 10,
                         **kwargs: Any) -> RetrievalBrowser:
        """A browser over trained checkpoints (``{"base": "runs/base/last.pt", "full": ...}``): the view of
        :meth:`Retrieval.from_checkpoints <vireid_lib.retrieval.Retrieval.from_checkpoints>`, whose arguments
        these are; ``kwargs`` go to the constructor (``top_k``, ``image_size``, ...).

        Raises:
            ValueError: when the checkpoints were trained at different input sizes.
        """
        return cls._of(Retrieval.from_checkpoints(checkpoints, sysu_root=sysu_root, regdb_root=regdb_root,
                                                  sysu_trials=sysu_trials), **kwargs)

    @classmethod
    def from_folders(cls, checkpoint: str | Path, query: str | Path | Sequence[str | Path], gallery: str | Path, *,
                     query_modality: str | None = None, gallery_modality: str | None = None,
                     cache_dir: str | Path | None = "default", **kwargs: Any) -> RetrievalBrowser:
        """A browser over your own images: the queries and the gallery folder of ``vireid search``.

        The images carry no identities, so the view has no match borders and no AP or INP (it says so). The
        arguments are those of :meth:`Retrieval.from_folders <vireid_lib.retrieval.Retrieval.from_folders>`;
        ``kwargs`` go to the constructor (``top_k``, ``image_size``, ...).
        """
        return cls._of(Retrieval.from_folders(checkpoint, query, gallery, query_modality=query_modality,
                                              gallery_modality=gallery_modality, cache_dir=cache_dir), **kwargs)

    @classmethod
    def _of(cls, retrieval: Retrieval, **kwargs: Any) -> RetrievalBrowser:
        # A Retrieval's caches are empty until it ranks, so the browser may build its own from the same parts.
        return cls(retrieval.models, retrieval.splits, retrieval.transform, extract=retrieval.extract, **kwargs)

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
        with self._hold():
            previous = self.cam_layer.value
            self.cam_layer.options = self.retrieval.cam_layers(self.model.value)
            self.cam_layer.value = previous if previous in self.cam_layer.options else "layer4"
        self._on_filter()

    def _on_filter(self, render: bool = True) -> None:
        if self._updating:
            return
        order = self.retrieval.queries(self.model.value, self.split_key,
                                       identity=None if self.identity.value == ANY else self.identity.value,
                                       camera=None if self.camera.value == ANY else self.camera.value,
                                       hardest_first=self.order.value == "hardest first")
        self._order = order
        with self._hold():
            self.position.max = max(len(order) - 1, 0)
            self.position.value = 0
        if render:
            self.render()

    # ------------------------------------------------------------------------------------------ computing

    def features(self, name: str, records: Sequence[Record]) -> torch.Tensor:
        """Features of ``records`` under model ``name`` (:meth:`Retrieval.features`)."""
        return self.retrieval.features(name, records)

    def evaluated(self, name: str, key: SplitKey) -> Evaluated:
        """Distances and per-query AP and INP of model ``name`` on split ``key`` (:meth:`Retrieval.evaluated`)."""
        return self.retrieval.evaluated(name, key)

    def ranking(self, name: str, query: int | None = None) -> Ranking:
        """Model ``name``'s top-k for a query of the current split (default: the one shown)."""
        query = self.query_index if query is None else query
        return self.retrieval.ranking(name, self.split_key, query, self.top_k.value)

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
                q_png, g_pngs = self.retrieval.cam_thumbnails(name, q, gallery, self.cam_layer.value,
                                                              self.cam_method.value, self.image_size)
            else:
                q_png, g_pngs = self.retrieval.thumbnail(q, self.image_size), \
                    [self.retrieval.thumbnail(g, self.image_size) for g in gallery]
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
