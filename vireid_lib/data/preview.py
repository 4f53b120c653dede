"""Image grids for looking at data (notebooks): records, PIL images or normalised tensors."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from vireid_lib.data.images import load_image
from vireid_lib.data.transforms import denormalize


def _as_array(img: object) -> np.ndarray:
    """An (H, W, 3) array in [0, 1] from a path, a PIL image, or a normalised (3, H, W) tensor."""
    if isinstance(img, str):
        img = load_image(img)
    if isinstance(img, Image.Image):
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return denormalize(img.detach().cpu().float()).permute(1, 2, 0).numpy()   # (H, W, 3)


def show_images(images: Sequence[object], titles: Sequence[str] | None = None, ncols: int = 8,
                size: float = 1.3, suptitle: str | None = None):
    """A matplotlib figure with the images on a grid, ``ncols`` per row.

    Args:
        images: image paths, PIL images or ImageNet-normalised ``(3, H, W)`` tensors; ``None`` leaves a
            cell empty (to start a new row).
        titles: optional title per image.
        ncols: images per row.
        size: width of one cell in inches (cells are twice as tall as wide, like a person crop).
        suptitle: optional figure title.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    import matplotlib.pyplot as plt   # lazy: only this function draws; the array helpers above need no plotting backend

    if not images:
        raise ValueError("show_images needs at least one image")
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 2.1), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < len(images) and images[k] is not None:
            ax.imshow(_as_array(images[k]))
            if titles is not None:
                ax.set_title(titles[k], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig
