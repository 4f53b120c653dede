"""Test features of a list of records, each image through its own modality's stream (DECISIONS §5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from vireid_lib import MODALITIES
from vireid_lib.config import DataConfig, EvalConfig
from vireid_lib.data.dataset import ImageDataset, ordered_loader
from vireid_lib.data.interrupts import whole_batches
from vireid_lib.data.records import Record
from vireid_lib.data.transforms import build_test_transform

Transform = Callable[[Image.Image], torch.Tensor]


def feature_options(eval_cfg: EvalConfig) -> dict[str, Any]:
    """The keyword arguments of :func:`extract_features` that an :class:`~vireid_lib.config.EvalConfig` sets
    (``batch_size``, ``flip``, ``normalize``, ``feature``, ``branch``), the one place a config is unpacked into
    them: ``extract_features(model, records, transform, **feature_options(cfg.eval))``."""
    return {"batch_size": eval_cfg.batch_size, "flip": eval_cfg.flip, "normalize": eval_cfg.normalize,
            "feature": eval_cfg.feature, "branch": eval_cfg.branch}


def extract_features(
    model: nn.Module,
    records: Sequence[Record],
    transform: Transform | DataConfig,
    *,
    batch_size: int = 64,
    flip: bool = True,
    normalize: bool = True,
    feature: Literal["bn", "pool"] = "bn",
    branch: Literal["global", "local", "both"] = "global",
    device: str | torch.device | None = None,
    num_workers: int = 0,
    progress: bool = True,
) -> torch.Tensor:
    """Features of ``records`` in their order, each image through the stem of its modality.

    The paper's test feature (DECISIONS §5, as CAJ) is the BN-neck feature of the global branch, averaged with
    that of the horizontally flipped image, then L2-normalised. ``branch="local"`` uses the concatenated
    stripe embeddings and ``"both"`` concatenates global and local features, each normalised first so
    that neither dominates (Table 4).

    Args:
        model: a network following the ``ModelOutput`` contract (``model(x, modality)``).
        records: images to embed; ``record.modality`` picks the stream (``"visible"`` or ``"infrared"``).
        transform: test transform from a PIL image to a ``(3, H, W)`` tensor, or a ``DataConfig`` whose
            test pipeline (resize, to tensor, ImageNet normalisation) is used.
        batch_size: images per forward pass.
        flip: average with the horizontally flipped image.
        normalize: L2-normalise the features.
        feature: ``"bn"`` (after the BN neck) or ``"pool"`` (the GeM feature before it); global branch.
        branch: ``"global"``, ``"local"`` or ``"both"``.
        device: where to run (default: the model's device); a model elsewhere is moved there for the
            extraction and back after it.
        num_workers: data-loader worker processes.
        progress: show a progress bar.

    Returns:
        ``(N, D)`` float32 features on the CPU.

    Raises:
        ValueError: for no records, an unknown modality, feature or branch, ``branch`` needing the
            local branch of a model built without it, an unreadable image (named), or non-finite features
            (a diverged model).
        FileNotFoundError: for a missing image file (named).
    """
    if len(records) == 0:
        raise ValueError("no records to extract features from")
    if feature not in ("bn", "pool"):
        raise ValueError(f"feature must be 'bn' or 'pool', got {feature!r}")
    if branch not in ("global", "local", "both"):
        raise ValueError(f"branch must be 'global', 'local' or 'both', got {branch!r}")
    unknown = sorted({r.modality for r in records} - set(MODALITIES))
    if unknown:
        raise ValueError(f"records have modalities {unknown}; test images are one of {MODALITIES}")
    if isinstance(transform, DataConfig):
        transform = build_test_transform(transform)
    first = next(model.parameters(), None)
    home = first.device if first is not None else None
    moved = device is not None and home is not None and any(p.device != torch.device(device)
                                                            for p in model.parameters())
    device = torch.device(device) if device is not None else home if home is not None else torch.device("cpu")
    was_training = model.training
    cudnn = torch.backends.cudnn
    kernels = cudnn.deterministic, cudnn.benchmark
    out: list[torch.Tensor | None] = [None] * len(records)
    bar = tqdm(total=len(records), desc="features", unit="img", disable=not progress, leave=False)
    try:
        # cuDNN's deterministic kernels, none chosen by timing: a checkpoint's features come out the same in
        # every process (the CPU's kernels are deterministic already)
        cudnn.deterministic, cudnn.benchmark = True, False
        model.eval()
        if moved:
            model.to(device)
        with torch.inference_mode():
            for modality in MODALITIES:  # a batch goes through one stream
                index = [i for i, r in enumerate(records) if r.modality == modality]
                loader = ordered_loader(ImageDataset([records[i] for i in index], transform), batch_size,
                                        num_workers)
                pos = 0
                for x, _, _ in whole_batches(loader, hold=num_workers > 0):   # Ctrl-C: data/interrupts.py
                    x = x.to(device)
                    f = _embed(model, x, modality, feature, branch, normalize)
                    if flip:
                        f = f + _embed(model, x.flip(3), modality, feature, branch, normalize)
                    if normalize:
                        f = F.normalize(f, dim=1)
                    for j, row in zip(index[pos:pos + len(f)], f.float().cpu()):
                        out[j] = row
                    pos += len(f)
                    bar.update(len(f))
    finally:
        cudnn.deterministic, cudnn.benchmark = kernels
        bar.close()
        model.train(was_training)
        if moved:
            model.to(home)
    feats = torch.stack(out)  # type: ignore[arg-type]
    bad = ~torch.isfinite(feats).all(dim=1)
    if bad.any():
        first = records[int(bad.nonzero()[0])]
        raise ValueError(f"the model produced NaN or infinite features for {int(bad.sum())} of {len(records)} images "
                         f"(first: {first.path}); its weights or BN statistics are probably non-finite, e.g. after "
                         "a diverged training run")
    return feats


def _embed(model: nn.Module, x: torch.Tensor, modality: str, feature: str, branch: str,
           normalize: bool) -> torch.Tensor:
    out = model(x, modality)
    parts: list[torch.Tensor] = []
    if branch in ("global", "both"):
        parts.append(out.bn if feature == "bn" else out.pooled)
    if branch in ("local", "both"):
        if out.parts is None:
            raise ValueError(f"branch={branch!r} needs the local branch, but the model has none "
                             "(ModelConfig.local_branch=False); use branch='global'")
        parts.append(out.parts.flatten(1))  # (B, P * local_dim)
    if branch == "both" and normalize:
        parts = [F.normalize(p, dim=1) for p in parts]
    return torch.cat(parts, dim=1)
