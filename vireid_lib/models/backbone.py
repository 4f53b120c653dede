"""Two-stream ResNet (DECISIONS §1): per-modality stem and layer1, shared layer2-4, last stride 1."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from vireid_lib import EXCHANGED, INFRARED, VISIBLE

ARCHS = ("resnet10", "resnet18", "resnet34", "resnet50")

_DEPTHS: dict[str, tuple[type[nn.Module], list[int]]] = {
    "resnet10": (BasicBlock, [1, 1, 1, 1]),
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}
"""Block type and blocks per stage. ``resnet10`` (one block per stage) is not a torchvision model: a CPU-sized
depth, with no ImageNet weights (``cpu-demo``'s width 32 has a shipped start: ``models/start.py``)."""


class _WideResNet(torchvision.models.ResNet):
    """A torchvision ResNet whose stages are ``width, 2 width, 4 width, 8 width`` channels wide (torchvision's
    are 64, 128, 256, 512 times the block expansion). Same modules, names and initialisation as
    torchvision's, so the rest of the network treats it as any ResNet."""

    def __init__(self, block: type[nn.Module], layers: list[int], width: int) -> None:
        nn.Module.__init__(self)
        self._norm_layer, self.dilation, self.groups, self.base_width = nn.BatchNorm2d, 1, 1, 64
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool, self.fc = nn.AdaptiveAvgPool2d((1, 1)), nn.Identity()
        for m in self.modules():   # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def make_resnet(arch: str, width: int = 64) -> torchvision.models.ResNet:
    """A randomly initialised ResNet of depth ``arch`` whose first stage is ``width`` channels wide.

    ``width=64`` with a torchvision depth is torchvision's own model (its ImageNet weights fit it).

    Raises:
        ValueError: for an unknown depth or a non-positive width.
    """
    if arch not in _DEPTHS:
        raise ValueError(f"model.arch={arch!r} is not supported; choose one of {list(ARCHS)}")
    if width < 1:
        raise ValueError(f"model.width must be positive, got {width}")
    if width == 64 and arch != "resnet10":
        return getattr(torchvision.models, arch)(weights=None)
    return _WideResNet(*_DEPTHS[arch], width)
STEM_OF = {VISIBLE: VISIBLE, EXCHANGED: VISIBLE, INFRARED: INFRARED}
"""Which stem each modality goes through: the channel-exchanged copy is a visible image (DECISIONS §2)."""


class Stem(nn.Module):
    """One modality's private layers: conv1, bn1, relu, maxpool and layer1."""

    def __init__(self, resnet: torchvision.models.ResNet) -> None:
        super().__init__()
        self.conv1, self.bn1 = copy.deepcopy(resnet.conv1), copy.deepcopy(resnet.bn1)
        self.relu, self.maxpool = nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = copy.deepcopy(resnet.layer1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))


def stem_groups(modality: str | Sequence[str], batch: int) -> dict[str, torch.Tensor] | str:
    """Which stem each sample goes through.

    Returns:
        The stem name when the whole batch shares one stem, otherwise a dict from stem name to the
        indices of its samples.

    Raises:
        ValueError: for an unknown modality name or a list whose length is not the batch size.
    """
    names = [modality] if isinstance(modality, str) else list(modality)
    unknown = sorted(set(names) - set(STEM_OF))
    if unknown:
        raise ValueError(f"unknown modality {unknown}; use one of {sorted(STEM_OF)}")
    if not isinstance(modality, str) and len(names) != batch:
        raise ValueError(f"got {len(names)} modality names for a batch of {batch} images; pass one string "
                         f"for the whole batch or one per image")
    stems = [STEM_OF[m] for m in names]
    if len(set(stems)) == 1:
        return stems[0]
    return {s: torch.tensor([i for i, t in enumerate(stems) if t == s]) for s in dict.fromkeys(stems)}


def out_channels(stage: nn.Module) -> int:
    """Channels a ResNet stage produces: those of its last batch norm (BasicBlock and Bottleneck alike)."""
    return [m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features


class TwoStreamResNet(nn.Module):
    """Torchvision ResNet split into two modality stems and shared layer2-4.

    Args:
        resnet: a torchvision ResNet, already holding its initial (pretrained or random) weights; both stems
            are deep copies of its stem, so they start equal and train apart.
        last_stride: stride of layer4 (1 doubles the final map's height and width).
    """

    def __init__(self, resnet: torchvision.models.ResNet, last_stride: int = 1) -> None:
        super().__init__()
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
        self.stems = nn.ModuleDict({VISIBLE: Stem(resnet), INFRARED: Stem(resnet)})
        self.layer2, self.layer3, self.layer4 = resnet.layer2, resnet.layer3, resnet.layer4
        # BasicBlock strides in conv1, Bottleneck in conv2; both stride in the downsample path.
        for m in self.layer4[0].modules():
            if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
                m.stride = (last_stride, last_stride)
        self.channels = out_channels(self.layer4)

    def stem(self, x: torch.Tensor, modality: str | Sequence[str]) -> torch.Tensor:
        """Run each sample through its modality's stem, one call per stem, results in input order.

        In training each stem's batch norm sees only its own samples, as with separate per-modality calls.
        """
        groups = stem_groups(modality, x.shape[0])
        if isinstance(groups, str):
            return self.stems[groups](x)
        outs = {s: self.stems[s](x[idx.to(x.device)]) for s, idx in groups.items()}
        first = next(iter(outs.values()))
        channels_last = first.is_contiguous(memory_format=torch.channels_last) and not first.is_contiguous()
        out = first.new_empty((x.shape[0], *first.shape[1:]))  # (B, C, h, w)
        out = out.contiguous(memory_format=torch.channels_last) if channels_last else out
        for s, idx in groups.items():
            out[idx.to(x.device)] = outs[s]
        return out
