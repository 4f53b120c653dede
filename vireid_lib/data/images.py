"""Reading and resizing image files, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError


def load_image(path: str | Path) -> Image.Image:
    """Read an image file as RGB (grey infrared images become three identical channels).

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when the file is not a readable image (corrupt, truncated, another format); the message
            names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image {p} does not exist")
    try:
        with Image.open(p) as img:
            return img.convert("RGB")   # convert() decodes the whole file, so truncation surfaces here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"cannot read image {p}: {e}. The file is corrupt or not an image; replace it "
                         f"from the original dataset archive") from None


def resize_image(img: Image.Image, height: int, width: int) -> Image.Image:
    """Resize as the training and test pipelines do (bilinear), unless already at (height, width)."""
    if (img.height, img.width) == (height, width):
        return img
    return img.resize((width, height), Image.BILINEAR)
