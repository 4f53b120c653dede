"""Channel augmentation (Ye et al., "Channel Augmented Joint Learning for Visible-Infrared Recognition",
ICCV 2021, "CAJ") and the training and test pipelines of DECISIONS §9.

Every random choice draws from torch's generator (never Python's ``random``), so the DataLoader's per-worker
seeding makes augmentation reproducible for a given ``TrainConfig.seed``. The channel transforms act on a
normalised ``(3, H, W)`` tensor and return a new tensor (the input is left unchanged).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from vireid_lib import EXCHANGED, INFRARED, VISIBLE
from vireid_lib.config import DataConfig
from vireid_lib.data.images import resize_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ERASE_FILL = (0.4914, 0.4822, 0.4465)
"""CAJ's per-channel fill value for erased rectangles (applied after normalisation, as there)."""


def _randint(low: int, high: int) -> int:
    """A uniform integer in [low, high], inclusive (Python's ``random.randint`` on torch's generator)."""
    return int(torch.randint(low, high + 1, (1,)).item())


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(1).item())


def _copy_channel(img: torch.Tensor, c: int) -> torch.Tensor:
    return img[c:c + 1].expand_as(img).clone()   # (3, H, W): channel c in all three


class ChannelExchange:
    """Replace the image by one of its colour channels copied to all three (CAJ's ``ChannelExchange``).

    With ``gray = 2`` (the CAJ default and DECISIONS §9) one of R, G, B is chosen uniformly; with ``gray = 3``
    a fourth outcome, the luma grey image, is possible too. This builds the "exchanged" third input
    (DECISIONS §2), a colour-free copy of a visible image that bridges the gap to infrared.
    """

    def __init__(self, gray: int = 2) -> None:
        if gray not in (2, 3):
            raise ValueError(f"gray must be 2 (R, G or B) or 3 (R, G, B or grey), got {gray}")
        self.gray = gray

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        idx = _randint(0, self.gray)
        if idx < 3:
            return _copy_channel(img, idx)
        return _grey(img)

    def __repr__(self) -> str:
        return f"ChannelExchange(gray={self.gray})"


def _grey(img: torch.Tensor) -> torch.Tensor:
    y = 0.2989 * img[0] + 0.5870 * img[1] + 0.1140 * img[2]   # (H, W) ITU-R 601 luma
    return y.unsqueeze(0).expand_as(img).clone()             # (3, H, W)


class ChannelAdapGray:
    """CAJ's ``ChannelAdapGray`` for infrared images: with probability 3/4 copy one channel (R, G or B,
    uniformly) to all three; otherwise turn the image grey with probability ``probability``, else keep it.
    """

    def __init__(self, probability: float = 0.5) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability}")
        self.probability = probability

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        idx = _randint(0, 3)
        if idx < 3:
            return _copy_channel(img, idx)
        if float(torch.rand(1).item()) < self.probability:
            return _grey(img)
        return img.clone()

    def __repr__(self) -> str:
        return f"ChannelAdapGray(probability={self.probability})"


class ChannelRandomErasing:
    """Random erasing (Zhong et al., AAAI 2020) with a per-channel fill, as in CAJ's
    ``ChannelRandomErasing``: with probability ``probability``, up to 100 attempts to place a rectangle of
    area ``U(sl, sh) x H x W`` and aspect ratio ``U(r1, 1 / r1)`` inside the image; the first that fits is
    filled with ``mean[c]`` in channel c.
    """

    def __init__(self, probability: float = 0.5, sl: float = 0.02, sh: float = 0.4, r1: float = 0.3,
                 mean: tuple[float, float, float] = ERASE_FILL) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability}")
        if not 0.0 < sl <= sh <= 1.0 or not 0.0 < r1 <= 1.0:
            raise ValueError(f"need 0 < sl <= sh <= 1 and 0 < r1 <= 1, got sl={sl}, sh={sh}, r1={r1}")
        self.probability, self.sl, self.sh, self.r1, self.mean = probability, sl, sh, r1, mean

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if float(torch.rand(1).item()) >= self.probability:
            return img
        _, H, W = img.shape
        for _ in range(100):
            target = _uniform(self.sl, self.sh) * H * W
            aspect = _uniform(self.r1, 1.0 / self.r1)
            h = int(round(math.sqrt(target * aspect)))
            w = int(round(math.sqrt(target / aspect)))
            if w < W and h < H:
                y0, x0 = _randint(0, H - h), _randint(0, W - w)
                out = img.clone()
                for c in range(out.shape[0]):
                    out[c, y0:y0 + h, x0:x0 + w] = self.mean[c]
                return out
        return img

    def __repr__(self) -> str:
        return f"ChannelRandomErasing(probability={self.probability}, sl={self.sl}, sh={self.sh}, r1={self.r1})"


class ResizeIfNeeded:
    """Resize a PIL image to (height, width) with bilinear antialiasing, unless it already has that size
    (images from the preprocessed cache do)."""

    def __init__(self, height: int, width: int) -> None:
        self.size = (height, width)

    def __call__(self, img: Image.Image) -> Image.Image:
        return resize_image(img, *self.size)

    def __repr__(self) -> str:
        return f"ResizeIfNeeded(height={self.size[0]}, width={self.size[1]})"


def padding(width: int) -> int:
    """Pad of the random crop: 10 pixels at the paper's 144-pixel width (DECISIONS §9), scaled with the width so
    a small CPU input (e.g. 48 wide) is shifted by the same fraction of the image, not by a fifth of it."""
    return max(1, round(10 * width / 144))


class ShiftFlipNormalize:
    """Pad by ``pad`` black pixels, crop a random ``(height, width)`` window, flip horizontally with probability
    1/2, then a float tensor in [0, 1] normalised with the ImageNet statistics: torchvision's ``Pad``,
    ``RandomCrop``, ``RandomHorizontalFlip``, ``ToTensor`` and ``Normalize`` in one step.

    It draws the same random numbers from torch's generator in the same order (the crop's row, its column, the
    flip) and does the same float arithmetic, so its output is bit for bit that of the five torchvision
    transforms (tests/test_data_transforms.py checks it against them); the pad, crop and flip are one copy of
    the uint8 array instead of three PIL images, a few percent of a ``cpu-demo`` training step saved
    (docs/CPU_RECIPE.md).

    The bit-for-bit equality holds for RGB images (what the image cache and ``load_image`` give); another mode
    is converted to RGB first, where torchvision would keep its channels.

    Args:
        height: output height (the input's, after :class:`ResizeIfNeeded`).
        width: output width.
        pad: pixels of black border on each side before the crop (:func:`padding`), 1 to ``min(height, width)``.
    """

    def __init__(self, height: int, width: int, pad: int) -> None:
        if not 1 <= pad <= min(height, width):
            raise ValueError(f"pad must be between 1 and the image's smaller side {min(height, width)}, got {pad}")
        self.height, self.width, self.pad = height, width, pad
        # float64, cast to the output's dtype per call as torchvision's Normalize casts the tuples
        self._mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(3, 1, 1)   # (3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(3, 1, 1)     # (3, 1, 1)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        a = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))   # (H, W, 3) uint8
        h, w, p = self.height, self.width, self.pad
        if a.shape[:2] != (h, w):
            raise ValueError(f"expected a {h}x{w} image (resize it first), got {a.shape[0]}x{a.shape[1]}")
        # RandomCrop.get_params on the (h + 2p, w + 2p) padded image: the window's top row, then its left column.
        top = int(torch.randint(0, 2 * p + 1, size=(1,)).item())
        left = int(torch.randint(0, 2 * p + 1, size=(1,)).item())
        out = np.zeros((h, w, 3), np.uint8)                         # the padding's black where no pixel lands
        dy, dx = top - p, left - p                                  # window origin in the unpadded image
        y0, y1, x0, x1 = max(0, dy), min(h, dy + h), max(0, dx), min(w, dx + w)
        out[y0 - dy:y1 - dy, x0 - dx:x1 - dx] = a[y0:y1, x0:x1]
        if torch.rand(1) < 0.5:
            out = out[:, ::-1]                                      # horizontal flip
        x = torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))   # (3, h, w) uint8
        x = x.to(torch.get_default_dtype()).div(255)                        # ToTensor
        return x.sub_(self._mean.to(x.dtype)).div_(self._std.to(x.dtype))   # Normalize

    def __repr__(self) -> str:
        return f"ShiftFlipNormalize(height={self.height}, width={self.width}, pad={self.pad})"


def _common(height: int, width: int, erasing: float) -> list[Callable]:
    return [ResizeIfNeeded(height, width), ShiftFlipNormalize(height, width, padding(width)),
            ChannelRandomErasing(probability=erasing)]


def train_transforms(height: int, width: int, erasing: float = 0.5) -> dict[str, T.Compose]:
    """The three training pipelines of DECISIONS §9, by modality name.

    All three: resize to (height, width), pad 10 (at width 144; see :func:`padding`), random crop back to (height, width), horizontal flip, to
    tensor, ImageNet normalisation, channel random erasing (probability ``erasing``; CAJ's and the paper
    presets' 0.5, ``DataConfig.random_erasing``). Then ``"exchanged"`` adds
    :class:`ChannelExchange` and ``"infrared"`` adds :class:`ChannelAdapGray` (p 0.5); ``"visible"`` stops.
    """
    if not 0.0 <= erasing <= 1.0:   # named by its config key: the value comes from --set data.random_erasing
        raise ValueError(f"data.random_erasing must be in [0, 1] (the probability of channel random erasing in each "
                         f"training pipeline; 0 turns it off), got {erasing}")
    return {VISIBLE: T.Compose(_common(height, width, erasing)),
            EXCHANGED: T.Compose(_common(height, width, erasing) + [ChannelExchange(gray=2)]),
            INFRARED: T.Compose(_common(height, width, erasing) + [ChannelAdapGray(probability=0.5)])}


def test_transform(height: int, width: int) -> T.Compose:
    """The test pipeline: resize to (height, width), to tensor, ImageNet normalisation."""
    return T.Compose([ResizeIfNeeded(height, width), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def build_test_transform(data_cfg: DataConfig) -> T.Compose:
    """:func:`test_transform` at ``data_cfg``'s input size."""
    return test_transform(data_cfg.height, data_cfg.width)


def denormalize(img: torch.Tensor) -> torch.Tensor:
    """Undo the ImageNet normalisation of a ``(3, H, W)`` or ``(B, 3, H, W)`` tensor, clipped to [0, 1]
    (for showing images)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=img.dtype).view(3, 1, 1)   # (3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=img.dtype).view(3, 1, 1)     # (3, 1, 1)
    return (img * std + mean).clamp(0, 1)
