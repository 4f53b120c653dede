"""Search your own images: rank a folder of gallery images against query images with a trained checkpoint.

``search(checkpoint, queries, gallery)`` embeds every image with the checkpoint's test feature (the same
:func:`~vireid_lib.evaluation.extract_features` call, with the run's ``eval`` settings, that the protocols
use), ranks the gallery by the protocols' distance (``1 - q.g`` on L2-normalised features) and returns the
top-k of each query. :func:`write_outputs` saves ``ranking.json``, ``ranking.csv`` and one ranked-results
figure per query.

Folders are read recursively (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.webp``, ``.tif``, ``.tiff``). Each image's
modality, which picks the network's stem, is the one given (``modality=``), else the nearest enclosing folder
named ``visible``, ``infrared`` or ``thermal`` (infrared).

Bad files, decided once here: in a folder, a file that is not an image (another suffix, or an image suffix
that does not decode) is skipped with a warning that names it, so one stray file does not stop a search
over thousands; a query file named explicitly that does not decode stops the search with an error naming it.
An empty folder, or one with no readable image left, is an error.

Features are cached per image content and model: the key is the SHA-256 of the file's bytes and its
modality, under a model key that hashes the weights, the input size and the ``eval`` feature settings. So a
renamed or copied image is not embedded again, an edited one is, and a second search over the same gallery
embeds only the query images it has not seen.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from vireid_lib import INFRARED, VISIBLE
from vireid_lib.checkpoints import load_model
from vireid_lib.config import Config
from vireid_lib.data.images import load_image
from vireid_lib.data.records import Record
from vireid_lib.data.synthetic import default_cache_dir
from vireid_lib.data.transforms import build_test_transform
from vireid_lib.evaluation.extract import extract_features, feature_options
from vireid_lib.evaluation.protocols import pairwise_distance
from vireid_lib.io import atomic_write, atomic_write_json, atomic_write_text
from vireid_lib.visualize import ranked_results_figure, save_figure

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MODALITY_NAMES = {"visible": VISIBLE, "infrared": INFRARED, "thermal": INFRARED}
"""Accepted modality names, as a flag value or a folder name (case-insensitive); ``thermal`` is RegDB's word."""

FEATURE_CACHE_VERSION = 1
"""Part of every model key: bumped when the way features are computed changes, so old entries are never used."""


class SearchResult(NamedTuple):
    """What :func:`search` found.

    Attributes:
        queries: the query images (``Record`` with ``pid = camid = -1``: no labels), in the order given.
        gallery: the gallery images, sorted by path.
        distances: ``(Q, G)`` distances, ``1 - q.g`` (cosine) on the test features.
        ranking: ``(Q, k)`` gallery indices, nearest first (ties by gallery order, as the protocols rank).
        embedded: images put through the network in this call.
        cached: images whose features came from the cache.
        skipped: files left out, each with the reason.
        model_key: the cache key of the model and its feature settings.
    """

    queries: list[Record]
    gallery: list[Record]
    distances: np.ndarray
    ranking: np.ndarray
    embedded: int
    cached: int
    skipped: list[tuple[str, str]]
    model_key: str


def modality_name(name: str) -> str:
    """``"visible"`` or ``"infrared"`` for a flag or folder name (``thermal`` is infrared).

    Raises:
        ValueError: for any other name.
    """
    key = name.strip().lower()
    if key not in MODALITY_NAMES:
        raise ValueError(f"unknown modality {name!r}; use visible, infrared or thermal (= infrared)")
    return MODALITY_NAMES[key]


def _modality_from_folders(path: Path, root: Path) -> str | None:
    """The nearest folder between ``path`` and ``root`` (``root`` included) named after a modality."""
    parents = list(path.relative_to(root).parts[:-1])[::-1] + [root.name]
    return next((MODALITY_NAMES[p.lower()] for p in parents if p.lower() in MODALITY_NAMES), None)


def list_folder(folder: str | Path, modality: str | None = None,
                skipped: list[tuple[str, str]] | None = None) -> list[Record]:
    """Every image under ``folder`` (recursively, sorted by path) as an unlabelled :class:`Record`.

    Args:
        folder: the folder (a single image file is accepted too).
        modality: the modality of every image; ``None`` reads it from ``visible/``, ``infrared/`` or
            ``thermal/`` folders.
        skipped: files without an image suffix are appended here (``(path, reason)``) and warned about.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        ValueError: no image files, an unknown ``modality``, or an image whose modality cannot be told.
    """
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"{folder} does not exist; give a folder of images or an image file")
    fixed = modality_name(modality) if modality is not None else None
    if folder.is_file():
        files, root = [folder], folder.parent
    else:
        files, root = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")), folder
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        warnings.warn(f"skipping {len(others)} file(s) in {folder} that are not images by their suffix "
                      f"({', '.join(str(p) for p in others[:5])}{' ...' if len(others) > 5 else ''}); images "
                      f"end in {', '.join(IMAGE_SUFFIXES)}", stacklevel=2)
        if skipped is not None:
            skipped += [(str(p), "not an image suffix") for p in others]
    if not images:
        raise ValueError(f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)}); point it at a folder "
                         "of person crops")
    records = []
    for p in images:
        m = fixed or _modality_from_folders(p, root)
        if m is None:
            raise ValueError(f"cannot tell the modality of {p}: pass it (--query-modality / --gallery-modality "
                             "visible|infrared) or put the images under a visible/, infrared/ or thermal/ folder")
        records.append(Record(str(p.resolve()), -1, -1, m))
    return records


# ---------------------------------------------------------------------------------------------- the model

def load_search_model(checkpoint: str | Path) -> tuple[nn.Module, Config]:
    """The checkpoint's network in evaluation mode and its config, checked on one input of its size.

    Raises:
        FileNotFoundError: no such checkpoint.
        ValueError: not a vireid checkpoint, weights that do not fit the config it stores, or an input size
            the network cannot take (the message names it).
    """
    model, cfg = load_model(checkpoint)   # weights that do not fit their config: one ValueError naming them
    h, w = cfg.data.height, cfg.data.width
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, h, w), VISIBLE)
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"{checkpoint}: its network does not take its own input size {h}x{w} "
                         f"(data.height x data.width): {str(e).splitlines()[0]}") from None
    return model, cfg


def model_key(model: nn.Module, cfg: Config) -> str:
    """A hex key naming the features a model computes: its weights and buffers, the input size and the
    ``eval`` feature settings (flip, normalise, feature, branch)."""
    h = hashlib.sha256()
    e = cfg.eval
    h.update(json.dumps([FEATURE_CACHE_VERSION, cfg.data.height, cfg.data.width, e.flip, e.normalize, e.feature,
                         e.branch]).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if t.numel() else b"")
    return h.hexdigest()[:32]


def content_key(path: str | Path, modality: str) -> str:
    """The cache key of one image: the SHA-256 of its bytes and its modality."""
    return f"{hashlib.sha256(Path(path).read_bytes()).hexdigest()}:{modality}"


class FeatureCache:
    """Features of one model key, in ``<folder>/<model key>.pt`` (``{"keys": [...], "features": (N, D)}``).

    Read with ``weights_only=True``; written atomically, so an interrupted search leaves the previous file.
    Two searches writing at once do not corrupt it: the later one wins and the other's new entries are
    computed again next time.
    """

    def __init__(self, folder: str | Path | None, key: str) -> None:
        self.path = Path(folder) / f"{key}.pt" if folder is not None else None
        self.entries: dict[str, torch.Tensor] = {}
        self.dirty = False
        if self.path is not None and self.path.is_file():
            try:
                data = torch.load(self.path, map_location="cpu", weights_only=True)
                self.entries = dict(zip(data["keys"], data["features"]))
            except Exception as e:  # a damaged cache only costs recomputation
                warnings.warn(f"ignoring the unreadable feature cache {self.path} ({type(e).__name__}: {e})",
                              stacklevel=2)

    def get(self, key: str) -> torch.Tensor | None:
        return self.entries.get(key)

    def put(self, key: str, feature: torch.Tensor) -> None:
        self.entries[key] = feature.clone()
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        keys = list(self.entries)
        state = {"keys": keys, "features": torch.stack([self.entries[k] for k in keys])}
        atomic_write(self.path, lambda f: torch.save(state, f))
        self.dirty = False


def default_feature_cache() -> Path:
    """Where search features are cached: ``<$VIREID_CACHE or ~/.cache/vireid>/features``."""
    return default_cache_dir() / "features"


def embed(model: nn.Module, cfg: Config, records: Sequence[Record], cache: FeatureCache, *, strict: bool,
          skipped: list[tuple[str, str]], progress: bool = False) -> tuple[list[Record], torch.Tensor, int]:
    """Test features of ``records``, each distinct (content, modality) put through the network once.

    Args:
        strict: an image that does not decode is an error; otherwise it is skipped with a warning.
        skipped: where skipped files are listed.

    Returns:
        ``(kept records, (N, D) features, number embedded now)``.
    """
    keys, kept = [], []
    for r in records:
        k = content_key(r.path, r.modality)
        if cache.get(k) is None:
            try:
                load_image(r.path)
            except ValueError as e:
                if strict:
                    raise
                warnings.warn(f"skipping {r.path}: {e}", stacklevel=2)
                skipped.append((r.path, "not a readable image"))
                continue
        keys.append(k)
        kept.append(r)
    todo = {k: r for k, r in zip(keys, kept) if cache.get(k) is None}
    if todo:
        feats = extract_features(model, list(todo.values()), build_test_transform(cfg.data),
                                 **feature_options(cfg.eval), progress=progress)
        for k, f in zip(todo, feats):
            cache.put(k, f)
    if not kept:
        return kept, torch.zeros(0), len(todo)
    return kept, torch.stack([cache.get(k) for k in keys]), len(todo)


def search(checkpoint: str | Path, queries: Sequence[str | Path], gallery: str | Path, *,
           query_modality: str | None = None, gallery_modality: str | None = None, top_k: int = 10,
           cache_dir: str | Path | None = "default", device: str = "auto", progress: bool = False) -> SearchResult:
    """Rank the images of ``gallery`` against each query image with a trained checkpoint.

    Args:
        checkpoint: a ``.pt`` written by ``vireid train``.
        queries: image files and/or folders of query images.
        gallery: a folder of gallery images (any layout, searched recursively).
        query_modality: ``"visible"`` or ``"infrared"`` (``"thermal"``) for every query; ``None`` reads it
            from the folder names.
        gallery_modality: the same for the gallery.
        top_k: gallery images kept per query (all of them if the gallery is smaller).
        cache_dir: feature cache folder; ``"default"`` is :func:`default_feature_cache`, ``None`` disables it.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        progress: show a progress bar while embedding.

    Raises:
        FileNotFoundError: a missing checkpoint, query or gallery.
        ValueError: an empty folder, an unreadable query file, an unknown or untold modality, ``top_k < 1``,
            or a checkpoint that does not fit its config.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if not queries:
        raise ValueError("give at least one query image or folder")
    model, cfg = load_search_model(checkpoint)
    key = model_key(model, cfg)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    cache = FeatureCache(default_feature_cache() if cache_dir == "default" else cache_dir, key)
    skipped: list[tuple[str, str]] = []

    query_records: list[Record] = []
    explicit: set[str] = set()
    for q in queries:
        p = Path(q).expanduser()
        found = list_folder(p, query_modality, skipped)
        query_records += found
        if p.is_file():
            explicit.add(found[0].path)
    gallery_records = list_folder(gallery, gallery_modality, skipped)

    named = [r for r in query_records if r.path in explicit]
    _, _, n0 = embed(model, cfg, named, cache, strict=True, skipped=skipped, progress=progress)
    query_records, qf, n1 = embed(model, cfg, query_records, cache, strict=False, skipped=skipped,
                                  progress=progress)
    gallery_records, gf, n2 = embed(model, cfg, gallery_records, cache, strict=False, skipped=skipped,
                                    progress=progress)
    cache.save()
    if not query_records:
        raise ValueError("no readable query image (every file was skipped; see the warnings)")
    if not gallery_records:
        raise ValueError(f"{gallery} holds no readable image (every file was skipped; see the warnings)")
    distances = pairwise_distance(qf, gf)
    k = min(top_k, len(gallery_records))
    ranking = np.argsort(distances, axis=1, kind="stable")[:, :k]
    total = len(query_records) + len(gallery_records)
    embedded = n0 + n1 + n2
    return SearchResult(query_records, gallery_records, distances, ranking, embedded, total - embedded, skipped,
                        key)


# ---------------------------------------------------------------------------------------------- outputs

def format_result(result: SearchResult) -> str:
    """The top-k of every query as text: rank, distance, modality and path."""
    lines = []
    for i, q in enumerate(result.queries):
        lines.append(f"query {i}: {q.path} ({q.modality})")
        for rank, j in enumerate(result.ranking[i], start=1):
            g = result.gallery[j]
            lines.append(f"  #{rank:<3d} {result.distances[i, j]:.4f}  {g.modality:<8s}  {g.path}")
    lines.append(f"{len(result.queries)} queries, {len(result.gallery)} gallery images; {result.embedded} embedded, "
                 f"{result.cached} from the feature cache; skipped files: {len(result.skipped)}")
    return "\n".join(lines)


def ranking_rows(result: SearchResult) -> list[dict[str, Any]]:
    """One row per (query, rank): ``query``, ``query_modality``, ``rank``, ``gallery``, ``gallery_modality``,
    ``distance``."""
    return [{"query": q.path, "query_modality": q.modality, "rank": rank, "gallery": result.gallery[j].path,
             "gallery_modality": result.gallery[j].modality, "distance": float(result.distances[i, j])}
            for i, q in enumerate(result.queries) for rank, j in enumerate(result.ranking[i], start=1)]


def write_outputs(result: SearchResult, out_dir: str | Path, checkpoint: str | Path | None = None,
                  figures: bool = True) -> list[Path]:
    """Write ``ranking.json``, ``ranking.csv`` and (``figures``) ``ranked/queryNNN.png`` into ``out_dir``.

    Returns:
        The written paths.
    """
    out_dir = Path(out_dir)
    rows = ranking_rows(result)
    payload = {
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "model_key": result.model_key,
        "distance": "1 - q.g on the checkpoint's test features (L2-normalised unless its eval.normalize is false)",
        "queries": [{"path": q.path, "modality": q.modality,
                     "results": [{k: r[k] for k in ("rank", "gallery", "gallery_modality", "distance")}
                                 for r in rows if r["query"] == q.path]} for q in result.queries],
        "gallery_size": len(result.gallery),
        "skipped": [{"path": p, "reason": why} for p, why in result.skipped],
    }
    paths = [atomic_write_json(out_dir / "ranking.json", payload)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["query"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    paths.append(atomic_write_text(out_dir / "ranking.csv", buffer.getvalue()))
    if figures:
        for i, q in enumerate(result.queries):
            fig = ranked_results_figure(q, result.gallery, result.distances[i], topk=result.ranking.shape[1],
                                        protocol="regdb", labels=False)
            paths.append(save_figure(fig, out_dir / "ranked" / f"query{i:03d}_{Path(q.path).stem}.png"))
    return paths

