"""Ranked-result figures in the style of torchreid's ``visualize_ranked_results``: the query, then its top-k
gallery images with a green (same identity) or red (different identity) border, each labelled with its
rank and distance. Works for visible and infrared images alike (single-channel images are shown in grey).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from vireid_lib.data.records import Record
from vireid_lib.evaluation.metrics import top_k
from vireid_lib.io import atomic_write

MATCH = (0, 170, 0)
MISMATCH = (215, 0, 0)
QUERY = (60, 60, 60)


def load_display_image(path: str | Path, size: tuple[int, int] = (128, 64)) -> np.ndarray:
    """An image as ``(H, W, 3)`` uint8 RGB at ``size`` (height, width) for a figure; grey images are repeated.
    (The loader of training and evaluation is :func:`vireid_lib.data.images.load_image`, which returns the
    full-size PIL image.)

    Raises:
        FileNotFoundError: when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist; check the dataset root the records came from")
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((size[1], size[0]), Image.BILINEAR))


def _bordered(img: np.ndarray, colour: tuple[int, int, int], width: int) -> np.ndarray:
    h, w, _ = img.shape
    out = np.empty((h + 2 * width, w + 2 * width, 3), dtype=np.uint8)
    out[:] = colour
    out[width:width + h, width:width + w] = img
    return out


def ranked_results_figure(
    query: Record,
    gallery: Sequence[Record],
    distances: Any,
    *,
    topk: int = 10,
    protocol: Literal["sysu", "regdb"] = "sysu",
    size: tuple[int, int] = (128, 64),
    border: int = 4,
    labels: bool = True,
) -> Figure:
    """The query and its top-k gallery images, bordered green/red, labelled ``#rank`` and distance.

    The ranking is the one :func:`~vireid_lib.evaluation.rank_metrics` scores: increasing distance, ties by
    gallery index, and for SYSU-MM01 a cam3 query does not see cam2 images.

    Args:
        query: the query record.
        gallery: the gallery records, in the column order of ``distances``.
        distances: ``(G,)`` distances from the query to each gallery image.
        topk: how many gallery images to show.
        protocol: ``"sysu"`` or ``"regdb"`` (which images the query is ranked against).
        size: (height, width) each image is resized to.
        border: border width in pixels.
        labels: the records carry identities; ``False`` (images of unknown identity, as ``vireid search``
            ranks) draws every border grey and captions the file name instead of identity and camera.

    Returns:
        A matplotlib figure (no pyplot state; save it with :func:`save_figure` or ``fig.savefig``).

    Raises:
        ValueError: when ``distances`` does not have one entry per gallery record or ``topk < 1``.
    """
    distances = np.asarray(distances, dtype=float).ravel()
    if len(distances) != len(gallery):
        raise ValueError(f"distances has {len(distances)} entries for {len(gallery)} gallery records")
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    order = top_k(distances, query.camid, [g.camid for g in gallery], protocol, k=topk)

    fig = Figure(figsize=(1.1 * (len(order) + 1) + 0.3, 2.6), layout="constrained")
    axes = fig.subplots(1, len(order) + 1, squeeze=False)[0]
    def name(r: Record) -> str:
        return f"id {r.pid} cam {r.camid}" if labels else Path(r.path).name[:14]

    panels = [(query, QUERY, f"query\n{name(query)}")]
    for rank, j in enumerate(order, start=1):
        g = gallery[j]
        colour = (MATCH if g.pid == query.pid else MISMATCH) if labels else QUERY
        panels.append((g, colour, f"#{rank}  {distances[j]:.3f}\n{name(g)}"))
    for ax, (record, colour, label) in zip(axes, panels):
        ax.imshow(_bordered(load_display_image(record.path, size), colour, border))
        ax.set_title(label, fontsize=7, color=np.array(colour) / 255)
        ax.set_xlabel(record.modality, fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write a figure as PNG atomically (a reader never sees a half-written file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


def save_ranked_results(
    distmat: Any,
    queries: Sequence[Record],
    gallery: Sequence[Record],
    out_dir: str | Path,
    *,
    topk: int = 10,
    protocol: Literal["sysu", "regdb"] = "sysu",
    query_indices: Sequence[int] | None = None,
    size: tuple[int, int] = (128, 64),
) -> list[Path]:
    """One ranked-result PNG per query (torchreid's ``visrank``), named after the query's position.

    Args:
        distmat: ``(Q, G)`` distances.
        queries: the query records (rows of ``distmat``).
        gallery: the gallery records (columns of ``distmat``).
        out_dir: folder for the PNG files (created if missing).
        topk: gallery images per figure.
        protocol: ``"sysu"`` or ``"regdb"``.
        query_indices: which queries to draw (default: all).
        size: (height, width) of each image.

    Returns:
        The written paths.

    Raises:
        ValueError: when ``distmat`` does not match the record lists.
    """
    distmat = np.asarray(distmat)
    if distmat.shape != (len(queries), len(gallery)):
        raise ValueError(f"distmat has shape {distmat.shape} for {len(queries)} queries and {len(gallery)} "
                         "gallery records")
    out_dir = Path(out_dir)
    paths = []
    for i in range(len(queries)) if query_indices is None else query_indices:
        fig = ranked_results_figure(queries[i], gallery, distmat[i], topk=topk, protocol=protocol, size=size)
        q = queries[i]
        paths.append(save_figure(fig, out_dir / f"query{i:05d}_id{q.pid}_cam{q.camid}.png"))
    return paths
