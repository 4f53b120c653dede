"""A deletion test of Grad-CAM's faithfulness: does hiding the most-attributed region lower the similarity
more than hiding a random region of the same size?"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vireid_lib.explain.gradcam import check_images, embed, similarity_cam


class Faithfulness(NamedTuple):
    """Similarity drops when part of each image is hidden.

    Attributes:
        cam_drop: ``(N,)`` drop when the most-attributed box is hidden.
        random_drop: ``(N,)`` mean drop over random boxes of the same size.
        empty: ``(N,)`` True where the map was zero everywhere (no pixel raised the similarity); such an
            image has no most-attributed region, so its "attributed" box is its first random box.
        box: ``(height, width)`` of the hidden box in pixels.
    """

    cam_drop: np.ndarray
    random_drop: np.ndarray
    empty: np.ndarray
    box: tuple[int, int]

    @property
    def margin(self) -> float:
        """Mean of ``cam_drop - random_drop``: positive when the maps point at what the match relies on."""
        return float(np.mean(self.cam_drop - self.random_drop))


def box_size(height: int, width: int, area: float) -> tuple[int, int]:
    """A box with the image's aspect ratio covering about ``area`` of it."""
    if not 0.0 < area < 1.0:
        raise ValueError(f"area must lie strictly between 0 and 1, got {area}")
    scale = area ** 0.5
    return max(1, round(height * scale)), max(1, round(width * scale))


def most_attributed_box(cams: np.ndarray | torch.Tensor, box: tuple[int, int]) -> torch.Tensor:
    """Top-left corners ``(B, 2)`` of the boxes holding the most CAM mass (first such corner on ties)."""
    cams = torch.as_tensor(np.asarray(cams, dtype=np.float32))
    mass = F.avg_pool2d(cams.unsqueeze(1), box, stride=1).squeeze(1)  # (B, H - bh + 1, W - bw + 1)
    flat = mass.flatten(1).argmax(dim=1)  # (B,)
    return torch.stack([flat // mass.shape[2], flat % mass.shape[2]], dim=1)


def hide_boxes(images: torch.Tensor, corners: torch.Tensor, box: tuple[int, int]) -> torch.Tensor:
    """A copy of ``images`` with each image's box set to 0, the dataset's mean colour after normalisation."""
    out = images.clone()
    bh, bw = box
    for i, (top, left) in enumerate(corners.tolist()):
        out[i, :, top:top + bh, left:left + bw] = 0.0
    return out


@torch.no_grad()
def _similarity(model: nn.Module, images: torch.Tensor, modality: str, references: torch.Tensor,
                feature: str) -> torch.Tensor:
    return (embed(model, images, modality, feature) * F.normalize(references, dim=1)).sum(dim=1)


def faithfulness_check(model: nn.Module, images: torch.Tensor, modality: str, references: torch.Tensor, *,
                       layer: str = "layer4", method: str = "gradcam", area: float = 0.1, n_random: int = 8,
                       seed: int = 0, feature: str = "bn") -> Faithfulness:
    """Deletion test: does hiding the most-attributed region lower the similarity more than hiding a random
    region of the same area?

    For each image the cosine similarity to its reference embedding is measured on the intact image, with the
    box of highest Grad-CAM mass hidden, and with ``n_random`` uniformly placed boxes of the same size hidden.

    Args:
        model: a ``VIReIDNet``.
        images: ``(N, 3, H, W)`` normalised query images of ``modality``.
        modality: their modality.
        references: ``(N, D)`` embeddings they should match (for example a true match in the gallery).
        layer: Grad-CAM target layer.
        method: a key of :data:`CAM_METHODS`.
        area: fraction of the image each box hides.
        n_random: random boxes per image.
        seed: seed of the random boxes.
        feature: ``"bn"`` or ``"pool"``.
    """
    images = check_images(images)
    if references.shape[0] != images.shape[0]:
        raise ValueError(f"got {references.shape[0]} reference embeddings for {images.shape[0]} images")
    if n_random < 1:
        raise ValueError(f"n_random must be at least 1, got {n_random}")
    n, _, height, width = images.shape
    box = box_size(height, width, area)
    cams = similarity_cam(model, images, modality, references, layer=layer, method=method, feature=feature)
    gen = torch.Generator().manual_seed(seed)
    random_corners = [torch.stack([torch.randint(0, height - box[0] + 1, (n,), generator=gen),
                                   torch.randint(0, width - box[1] + 1, (n,), generator=gen)], dim=1)
                      for _ in range(n_random)]  # each (N, 2)
    empty = torch.from_numpy(cams.reshape(n, -1).max(axis=1) <= 0)
    corners = torch.where(empty[:, None], random_corners[0], most_attributed_box(cams, box))
    intact = _similarity(model, images, modality, references, feature)
    cam_drop = intact - _similarity(model, hide_boxes(images, corners, box), modality, references, feature)
    random_drop = sum(intact - _similarity(model, hide_boxes(images, c, box), modality, references, feature)
                      for c in random_corners) / n_random
    return Faithfulness(cam_drop.numpy(), random_drop.numpy(), empty.numpy(), box)
