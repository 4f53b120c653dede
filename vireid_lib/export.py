"""ONNX export of the test-time path, and its check against PyTorch with ONNX Runtime.

One graph per modality (``<checkpoint stem>.<modality>.onnx``): the modality's stem, the shared layers, MCA and
PCA, and the test feature of the run's ``eval`` settings (the paper's: the global head's BN feature). Input
``images``: ``(batch, 3, H, W)`` float32 at the checkpoint's input size, already preprocessed as the test
pipeline does (RGB, resized bilinearly to H x W, scaled to [0, 1], minus the ImageNet mean, divided by its
standard deviation; grey infrared images as three equal channels). Output ``features``: ``(batch, D)``. The
batch dimension is dynamic; height and width are fixed to the checkpoint's (PCA's stripes and MCA's
criss-cross mask are sized for its map).

Flip averaging and L2 normalisation happen inside the graph, exactly as
:func:`~vireid_lib.evaluation.extract_features` does them: when ``eval.flip`` is set the graph adds the
feature of the horizontally flipped input to that of the input, and when ``eval.normalize`` is set it then
divides by the L2 norm. So ``features`` equals PyTorch's test feature and the caller ranks by ``1 - q.g``.
Each file records these settings, the input size, mean and standard deviation in its metadata.

What does not export: the training-only outputs (identity logits, stripe logits, the pooled feature the losses
use) and the ``exchanged`` input, which exists only in training. Everything on the test path exports at
opset :data:`OPSET` with TorchScript-based ``torch.onnx.export`` (``dynamo=False``, which needs no onnxscript);
MCA's einsums need opset 12 or later.

Needs the optional ``onnx`` package to write and check the files, and ``onnxruntime`` to verify them
(``pip install 'vireid[onnx]'``).
"""

from __future__ import annotations

import inspect
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vireid_lib import INFRARED, MODALITIES, VISIBLE, __version__
from vireid_lib.config import EvalConfig, apply_overrides
from vireid_lib.data import open_dataset
from vireid_lib.data.images import load_image
from vireid_lib.data.records import Record
from vireid_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD, test_transform
from vireid_lib.evaluation.extract import _embed, extract_features, feature_options
from vireid_lib.evaluation.protocols import pairwise_distance
from vireid_lib.io import atomic_write
from vireid_lib.search import load_search_model, modality_name

OPSET = 17
"""The ONNX opset written (ONNX Runtime 1.14 and later run it)."""

FORMATS = ("onnx",)

TIE_TOLERANCE = 1e-5
"""Two gallery images whose PyTorch distances to a query differ by less than this are a tie at float32
precision: :func:`verify_onnx` counts rankings as identical when they differ only by the order of such ties
(ONNX Runtime's features differ from PyTorch's by about 1e-6, enough to break an exact tie the other way)."""


class FeatureGraph(nn.Module):
    """The test feature of one modality as a single-input module: what the ONNX graph computes.

    Args:
        model: the trained network (kept in evaluation mode).
        modality: ``"visible"`` or ``"infrared"``.
        eval_cfg: the run's feature settings (flip, normalise, feature, branch).
    """

    def __init__(self, model: nn.Module, modality: str, eval_cfg: EvalConfig) -> None:
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        self.model, self.modality, self.e = model, modality, eval_cfg
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        e = self.e
        f = _embed(self.model, images, self.modality, e.feature, e.branch, e.normalize)  # (B, D)
        if e.flip:
            f = f + _embed(self.model, images.flip(3), self.modality, e.feature, e.branch, e.normalize)
        return F.normalize(f, dim=1) if e.normalize else f


def _require(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        raise ValueError(f"this needs the optional package {name!r}: pip install 'vireid[onnx]' "
                         f"(or pip install onnx onnxruntime)") from None


def export_modalities(modality: str) -> tuple[str, ...]:
    """``("visible",)``, ``("infrared",)`` or both for ``"visible"``, ``"infrared"`` (``"thermal"``), ``"both"``."""
    if modality == "both":
        return MODALITIES
    return (modality_name(modality),)


def export_onnx(checkpoint: str | Path, out_dir: str | Path | None = None, modality: str = "both", *,
                opset: int = OPSET) -> list[Path]:
    """Write ``<stem>.<modality>.onnx`` for each modality asked (atomically), checked by ``onnx.checker``.

    Args:
        checkpoint: a ``.pt`` written by ``vireid train``.
        out_dir: folder for the files (default: the checkpoint's folder).
        modality: ``"visible"``, ``"infrared"`` or ``"both"``.
        opset: the ONNX opset (12 or later).

    Raises:
        FileNotFoundError: no such checkpoint.
        ValueError: a checkpoint that does not fit its config, an unknown modality, opset < 12, or the
            ``onnx`` package missing.
    """
    onnx = _require("onnx")
    if opset < 12:
        raise ValueError(f"opset must be 12 or later (MCA's einsum), got {opset}")
    modalities = export_modalities(modality)
    model, cfg = load_search_model(checkpoint)
    checkpoint = Path(checkpoint)
    out_dir = Path(out_dir) if out_dir is not None else checkpoint.parent
    h, w = cfg.data.height, cfg.data.width
    kwargs = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    paths = []
    for m in modalities:
        net = FeatureGraph(model, m, cfg.eval)
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
            torch.onnx.export(net, (torch.zeros(2, 3, h, w),), buffer, input_names=["images"],
                              output_names=["features"], opset_version=opset,
                              dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}}, **kwargs)
        graph = onnx.load_from_string(buffer.getvalue())
        e = cfg.eval
        meta = {"vireid_version": __version__, "checkpoint": checkpoint.name, "modality": m, "height": h,
                "width": w, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "flip_in_graph": e.flip,
                "l2_normalized_in_graph": e.normalize, "feature": e.feature, "branch": e.branch, "opset": opset,
                "distance": "1 - q.g"}
        for k, v in meta.items():
            graph.metadata_props.add(key=k, value=str(v))
        graph.doc_string = (f"vireid test feature, {m} stream: images (batch, 3, {h}, {w}) preprocessed as the "
                            "test pipeline does -> features (batch, D)")
        onnx.checker.check_model(graph)
        data = graph.SerializeToString()
        paths.append(atomic_write(out_dir / f"{checkpoint.stem}.{m}.onnx", lambda f, d=data: f.write(d)))
    return paths


def onnx_features(path: str | Path, records: Sequence[Record], height: int, width: int,
                  batch_size: int = 32) -> np.ndarray:
    """``(N, D)`` features of ``records`` from an exported graph run by ONNX Runtime (CPU), with the test
    pipeline's preprocessing; every record must be of the graph's modality."""
    ort = _require("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    transform = test_transform(height, width)
    out = []
    for i in range(0, len(records), batch_size):
        x = torch.stack([transform(load_image(r.path)) for r in records[i:i + batch_size]]).numpy()
        out.append(session.run(["features"], {"images": x})[0])
    return np.concatenate(out)


def verify_onnx(checkpoint: str | Path, paths: dict[str, str | Path], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Compare the exported graphs with PyTorch on the checkpoint's test set: the data of its config, unless
    ``overrides`` change them (``data.root=...`` for a real dataset folder, ``data.synthetic_smoke=true`` for the
    tiny synthetic set).

    The query and gallery sets are the protocol's: SYSU-MM01 infrared queries against the all-search gallery
    of trial 0, or RegDB's visible->thermal split. Both sets go through PyTorch
    (:func:`~vireid_lib.evaluation.extract_features` with the run's ``eval`` settings) and through the graph
    of their modality; the whole ranking of every query is compared (stable sort, ties by gallery order).

    Args:
        checkpoint: the checkpoint the graphs were exported from.
        paths: ``{"visible": file, "infrared": file}``.
        overrides: ``data.*`` changes to the checkpoint's config (``vireid export --root/--smoke``).

    Returns:
        ``{"max_abs_diff", "images", "queries", "gallery", "rankings_identical", "queries_ranked_differently",
        "top1_identical", "max_swap_gap"}``: ``rankings_identical`` is true when the two orders differ only
        between images closer than :data:`TIE_TOLERANCE` in PyTorch's distance (``max_swap_gap``, the largest
        such difference, is 0 for orders identical place for place).
    """
    model, cfg = load_search_model(checkpoint)
    if any(not o.startswith("data.") for o in overrides):
        raise ValueError(f"verify_onnx: only data.* may change, got {list(overrides)}")
    cfg = apply_overrides(cfg, overrides)
    reader = open_dataset(cfg.data)
    if cfg.data.dataset == "sysu":
        queries, gallery = reader.query(), reader.gallery(mode="all", trial=0)
    else:
        queries, gallery = reader.query("v2t"), reader.gallery("v2t")
    missing = sorted({r.modality for r in [*queries, *gallery]} - set(paths))
    if missing:
        raise ValueError(f"the test set has {missing} images but no graph for them was given; export with "
                         "--modality both")
    feats = {}
    diff = 0.0
    for name, records in (("query", queries), ("gallery", gallery)):
        torch_f = extract_features(model, records, cfg.data, **feature_options(cfg.eval), progress=False).numpy()
        onnx_f = np.zeros_like(torch_f)
        for m in (VISIBLE, INFRARED):
            index = [i for i, r in enumerate(records) if r.modality == m]
            if index:
                onnx_f[index] = onnx_features(paths[m], [records[i] for i in index], cfg.data.height, cfg.data.width)
        diff = max(diff, float(np.abs(onnx_f - torch_f).max()))
        feats[name] = (torch_f, onnx_f)
    dist_t = pairwise_distance(feats["query"][0], feats["gallery"][0])
    rank_t = np.argsort(dist_t, axis=1, kind="stable")
    rank_o = np.argsort(pairwise_distance(feats["query"][1], feats["gallery"][1]), axis=1, kind="stable")
    differ = (rank_t != rank_o).any(axis=1)
    # where the orders differ, how far apart (in PyTorch's distance) the images they put at the same place are
    gap = float(np.abs(np.take_along_axis(dist_t, rank_o, 1) - np.take_along_axis(dist_t, rank_t, 1)).max())
    return {"max_abs_diff": diff, "images": len(queries) + len(gallery), "queries": len(queries),
            "gallery": len(gallery), "queries_ranked_differently": int(differ.sum()),
            "top1_identical": bool((rank_t[:, 0] == rank_o[:, 0]).all()), "max_swap_gap": gap,
            "rankings_identical": gap <= TIE_TOLERANCE}


def format_verification(v: dict[str, Any]) -> str:
    """The lines ``vireid export --verify`` prints for a :func:`verify_onnx` result."""
    same = v["queries"] - v["queries_ranked_differently"]
    ties = "only by ties" if v["rankings_identical"] else "beyond ties"
    return (f"onnxruntime vs PyTorch on {v['images']} test images: max |difference| of the features "
            f"{v['max_abs_diff']:.2e}\nrankings of {v['queries']} queries over {v['gallery']} gallery images: "
            f"{same} identical place for place, {v['queries_ranked_differently']} differ {ties} (a tie: two "
            f"images closer than 1e-5 in PyTorch's distance; largest swapped gap {v['max_swap_gap']:.1e}); "
            + ("top-1 identical for every query" if v["top1_identical"] else "top-1 differs for some query"))
