"""Drawing explanations: a normalised image back to display colours, a map laid over an image, and a query
with its matches and their Grad-CAM maps."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from vireid_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from vireid_lib.explain.gradcam import MatchExplanation


def to_display(image: torch.Tensor | np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """An image as ``(H, W, 3)`` float32 in [0, 1] for drawing.

    Accepts a normalised ``(3, H, W)`` tensor (undone with ``mean`` and ``std``), or a uint8 / float array of
    shape ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (single-channel infrared images become three equal
    channels).
    """
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) tensor, got {tuple(image.shape)}")
        m = torch.tensor(mean).view(3, 1, 1)  # (3, 1, 1)
        s = torch.tensor(std).view(3, 1, 1)  # (3, 1, 1)
        arr = (image.detach().cpu().float() * s + m).permute(1, 2, 0).numpy()  # (H, W, 3)
    else:
        arr = np.asarray(image)
        arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3):
            raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got {arr.shape}")
        arr = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def overlay(image: torch.Tensor | np.ndarray, cam: np.ndarray | torch.Tensor, *, alpha: float = 0.6,
            cmap: str = "jet", gray: bool | None = None) -> np.ndarray:
    """Draw a [0, 1] map over an image, ``(H, W, 3)`` uint8.

    The heat colour is blended in proportion to the map (``alpha * cam``), so unattributed pixels keep the
    image as it is, and the image is drawn in grey when ``gray`` (default: when it has no colour, as
    infrared images do), so the heat colours never mix with the image's own colours and a dark, low-contrast
    infrared image still shows its outline under the map.

    Args:
        image: see :func:`to_display`.
        cam: ``(H', W')`` map in [0, 1]; resized bilinearly to the image when its size differs.
        alpha: the largest weight of the heat colour.
        cmap: a matplotlib colormap name.
        gray: draw the image in grey; ``None`` decides from the image.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    base = to_display(image)
    cam = torch.as_tensor(np.asarray(cam, dtype=np.float32))
    if cam.dim() != 2:
        raise ValueError(f"cam must be one (H, W) map, got shape {tuple(cam.shape)}")
    if tuple(cam.shape) != base.shape[:2]:
        cam = F.interpolate(cam[None, None], size=base.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    cam = cam.clamp(0, 1).numpy()
    colourless = np.allclose(base[..., 0], base[..., 1], atol=1e-2) and np.allclose(base[..., 1], base[..., 2],
                                                                                   atol=1e-2)
    if gray if gray is not None else colourless:
        luma = base @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (H, W)
        base = np.repeat(luma[..., None], 3, axis=2)
    # Stretch a dim image (infrared) to the full range so its outline survives the blend.
    lo, hi = float(base.min()), float(base.max())
    base = (base - lo) / (hi - lo) if hi - lo > 1e-6 else base
    heat = matplotlib.colormaps[cmap](cam)[..., :3].astype(np.float32)
    weight = alpha * cam[..., None]
    return np.round(255 * ((1 - weight) * base + weight * heat)).astype(np.uint8)


def match_cam_figure(query: torch.Tensor, gallery: torch.Tensor, explanation: MatchExplanation,
                     matches: Sequence[bool], distances: Sequence[float]) -> Figure:
    """A query and its top-k matches, each drawn plain (top row) and with its Grad-CAM (bottom row).

    The query's bottom image is its map for the first match; gallery borders are green for the query's
    identity and red otherwise, as in the ranked-results figure of :mod:`vireid_lib.visualize`.

    Args:
        query: ``(3, H, W)`` normalised query image.
        gallery: ``(k, 3, H, W)`` normalised gallery images, best first.
        explanation: :func:`explain_matches` of these images.
        matches: whether each gallery image shows the query's identity.
        distances: their distances to the query.
    """
    k = gallery.shape[0]
    fig = Figure(figsize=(1.0 * (k + 1) + 0.3, 4.4), layout="constrained")
    axes = fig.subplots(2, k + 1, squeeze=False)
    columns = [(query, explanation.query[0], "query", "0.25")]
    columns += [(g, c, f"#{i + 1} {d:.3f}", "green" if m else "red")
                for i, (g, c, m, d) in enumerate(zip(gallery, explanation.gallery, matches, distances))]
    for j, (image, cam, title, colour) in enumerate(columns):
        axes[0, j].imshow(to_display(image))
        axes[1, j].imshow(overlay(image, cam))
        axes[0, j].set_title(title, fontsize=7, color=colour)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color(colour)
                spine.set_linewidth(3)
    return fig
