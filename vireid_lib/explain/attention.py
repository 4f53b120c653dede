"""What MCA and PCA compute on an image: one pixel's criss-cross attention (eq. (4)'s Aff) and PCA's
per-stripe channel term (eq. (8)), read from the modules themselves."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vireid_lib.explain.gradcam import check_images, target_layer


@torch.no_grad()
def _module_input(model: nn.Module, module: nn.Module, images: torch.Tensor, modality: str) -> torch.Tensor:
    """The tensor ``module`` receives when ``model`` runs on ``images``."""
    seen: list[torch.Tensor] = []
    hook = module.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    try:
        model.eval()
        model(images, modality)
    finally:
        hook.remove()
    if not seen:
        raise ValueError(f"the requested module never ran on {modality} images")
    return seen[0]


@torch.no_grad()
def mca_pixel_attention(model: nn.Module, images: torch.Tensor, modality: str, pixel: tuple[int, int], *,
                        stage: str = "mca.layer3") -> torch.Tensor:
    """MCA's criss-cross attention of one pixel, projected back onto the image (eq. (4)'s Aff).

    The chosen input pixel falls in one cell of the map MCA sees; that cell attends to its own row and
    column. The weights are laid on the map's grid (zero off the criss-cross) and enlarged to the input
    size by nearest-neighbour upsampling, so each map cell covers the image patch it sees.

    Args:
        model: a ``VIReIDNet`` with MCA.
        images: ``(B, 3, H, W)`` normalised images.
        modality: their modality.
        pixel: ``(y, x)`` in input-image pixels.
        stage: the MCA layer's name in ``model.target_layers()`` (``mca.layer2`` or ``mca.layer3``).

    Returns:
        ``(B, H, W)`` weights; each map cell's weight is repeated over the image patch it covers, so the
        weights sum to 1 over the cells (not over the pixels).
    """
    images = check_images(images)
    module = target_layer(model, stage)
    if not hasattr(module, "pixel_weights"):
        raise ValueError(f"layer {stage!r} is not an MCA module; MCA layers are named 'mca.layer2', "
                         f"'mca.layer3'")
    height, width = images.shape[2:]
    y, x = pixel
    if not (0 <= y < height and 0 <= x < width):
        raise ValueError(f"pixel (y={y}, x={x}) lies outside the {height}x{width} image")
    fmap = _module_input(model, module, images, modality)
    h, w = fmap.shape[2:]
    row, col = y * h // height, x * w // width
    grid = module.pixel_weights(fmap, row, col).as_map(row, col)  # (B, h, w)
    return F.interpolate(grid.unsqueeze(1), size=(height, width), mode="nearest").squeeze(1)


@torch.no_grad()
def pca_stripe_weights(model: nn.Module, images: torch.Tensor, modality: str) -> torch.Tensor:
    """PCA's per-stripe channel term tanh(x') of eq. (8), ``(B, P, C)``: what each stripe adds to each channel."""
    module = target_layer(model, "pca")
    return module.stripe_weights(_module_input(model, module, check_images(images), modality))
