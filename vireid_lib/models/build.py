"""The full network of DECISIONS §1–§6 (VIReIDNet), its output structure, and the factory with pretrained
loading."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vireid_lib.config import ModelConfig
from vireid_lib.models.attention import MCA, PCA
from vireid_lib.models.backbone import ARCHS, TwoStreamResNet, make_resnet, out_channels
from vireid_lib.models.heads import GlobalHead, LocalHead
from vireid_lib.models.start import STARTS, start_state_dict

_WEIGHTS = {
    "resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": torchvision.models.ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V1,
}
_MCA_STAGES = (2, 3, 4)


class ModelOutput(NamedTuple):
    """What the network returns, in training and evaluation alike.

    Attributes:
        pooled: ``(B, C)`` GeM feature before the BN neck (triplet and MSE losses, eqs. (10) and (13)).
        bn: ``(B, C)`` feature after the BN neck (the test feature).
        logits: ``(B, num_classes)`` global identity logits (eq. (9)).
        parts: ``(B, P, local_dim)`` stripe embeddings (eqs. (11)–(12)), ``None`` without the local branch.
        part_logits: ``(B, P, num_classes)`` stripe identity logits, ``None`` without the local branch.
    """

    pooled: torch.Tensor
    bn: torch.Tensor
    logits: torch.Tensor
    parts: torch.Tensor | None
    part_logits: torch.Tensor | None


class VIReIDNet(nn.Module):
    """Two-stream ResNet with MCA after chosen stages, PCA on the final map, and the global and local heads.

    Build it with :func:`build_model`. ``model(x, modality)`` takes images ``(B, 3, H, W)`` and one modality
    name or one per image (``"visible"``, ``"exchanged"``, ``"infrared"``).

    Initialisation of the added layers: BN to identity, classifiers N(0, 0.001) and the local embedding
    Kaiming (CAJ). MCA and PCA keep PyTorch's default convolution initialisation, as CCNet's criss-cross
    module and squeeze-excitation blocks do: Kaiming gain through Q's three stacked 1x1 convolutions and the
    summed poolings of eqs. (1)–(2) puts the affinities in the hundreds (a one-hot softmax), and through
    eqs. (5)–(6) saturates PCA's tanh; both would stop the gradient from the start.
    """

    def __init__(self, cfg: ModelConfig, num_classes: int, resnet: torchvision.models.ResNet) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = TwoStreamResNet(resnet, cfg.last_stride)
        self.mca = nn.ModuleDict({
            f"layer{s}": MCA(out_channels(getattr(self.backbone, f"layer{s}")), cfg.mca_reduction,
                             cfg.mca_pool_kernels, cfg.mca_dilations, cfg.mca_value_reduction,
                             cfg.mca_scale == "learnable")
            for s in cfg.mca_stages})
        c = self.backbone.channels
        self.pca = PCA(c, cfg.parts, cfg.pca_reduction, cfg.pca_mode) if cfg.pca else None
        self.global_head = GlobalHead(c, num_classes, cfg.gem_p)
        self.local_head = LocalHead(c, num_classes, cfg.parts, cfg.local_dim, cfg.gem_p) \
            if cfg.local_branch else None
        self.channels = c
        if cfg.attention_init == "identity":
            for block in [*self.mca.values(), *([self.pca] if self.pca is not None else [])]:
                block.identity_start_()

    def forward_features(self, x: torch.Tensor, modality: str | Sequence[str]) -> torch.Tensor:
        """The final ``(B, C, h, w)`` map (after PCA when present), for Grad-CAM and inspection."""
        return self.forward_intermediates(x, modality)["final"]

    def forward_intermediates(self, x: torch.Tensor, modality: str | Sequence[str]) -> dict[str, torch.Tensor]:
        """Every stage's output map in order: ``stem``, ``layer2``, ``mca.layer2``, ..., ``pca``, ``final``."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        maps = {"stem": self.backbone.stem(x, modality)}
        x = maps["stem"]
        for name in ("layer2", "layer3", "layer4"):
            x = maps[name] = getattr(self.backbone, name)(x)
            if name in self.mca:
                x = maps[f"mca.{name}"] = self.mca[name](x)
        if self.pca is not None:
            x = maps["pca"] = self.pca(x)
        maps["final"] = x
        return maps

    def forward_head(self, feature_map: torch.Tensor) -> ModelOutput:
        """Global (and local) branches on a final map from :meth:`forward_features`."""
        pooled, bn, logits = self.global_head(feature_map)
        parts, part_logits = self.local_head(feature_map) if self.local_head is not None else (None, None)
        return ModelOutput(pooled, bn, logits, parts, part_logits)

    def forward(self, x: torch.Tensor, modality: str | Sequence[str]) -> ModelOutput:
        return self.forward_head(self.forward_features(x, modality))

    def target_layers(self) -> dict[str, nn.Module]:
        """The layers Grad-CAM can hook, by name (only those present in this variant)."""
        layers = {f"stem.{m}": stem for m, stem in self.backbone.stems.items()}
        for name in ("layer2", "layer3", "layer4"):
            layers[name] = getattr(self.backbone, name)
            if name in self.mca:
                layers[f"mca.{name}"] = self.mca[name]
        if self.pca is not None:
            layers["pca"] = self.pca
        return layers

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """The ResNet's parameters (stems and layer2-4), which start pretrained: the lower learning rate."""
        return self.backbone.parameters()

    def attention_parameters(self) -> Iterator[nn.Parameter]:
        """MCA's and PCA's parameters (a learning-rate group of their own with ``train.attention_lr_mult``)."""
        yield from self.mca.parameters()
        if self.pca is not None:
            yield from self.pca.parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Everything added to the ResNet (MCA, PCA, necks, classifiers): the base learning rate.

        Includes the frozen BN-neck bias, whose gradient stays ``None`` so SGD leaves it untouched.
        """
        backbone = {id(p) for p in self.backbone.parameters()}
        return (p for p in self.parameters() if id(p) not in backbone)


def _validate(cfg: ModelConfig, num_classes: int) -> None:
    if cfg.arch not in ARCHS:
        raise ValueError(f"model.arch={cfg.arch!r} is not supported; choose one of {list(ARCHS)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    bad = [s for s in cfg.mca_stages if s not in _MCA_STAGES]
    if bad:
        raise ValueError(f"model.mca_stages {bad} invalid: MCA can follow the shared stages {_MCA_STAGES}")
    if cfg.parts < 1 or cfg.local_dim < 1 or cfg.mca_reduction < 1 or cfg.mca_value_reduction < 1 \
            or cfg.pca_reduction < 1:
        raise ValueError("model.parts, local_dim, mca_reduction, mca_value_reduction and pca_reduction must be "
                         f"positive, got {cfg.parts}, {cfg.local_dim}, {cfg.mca_reduction}, "
                         f"{cfg.mca_value_reduction}, {cfg.pca_reduction}")
    if cfg.attention_init not in ("default", "identity"):
        raise ValueError(f"model.attention_init must be 'default' or 'identity', got {cfg.attention_init!r}")
    if cfg.mca_scale not in ("none", "learnable"):
        raise ValueError(f"model.mca_scale must be 'none' or 'learnable', got {cfg.mca_scale!r}")
    if cfg.gem_p <= 0:
        raise ValueError(f"model.gem_p must be positive, got {cfg.gem_p}")


def imagenet_weights_path(arch: str) -> Path:
    """Where torchvision keeps (or will download) the ImageNet weights of ``arch``: the torch hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_WEIGHTS[arch].url)


def imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for ``arch``, from the torch hub cache or downloaded into it.

    Raises:
        FileNotFoundError: offline with no cached file; the message names the file and the folder.
    """
    weights = _WEIGHTS[arch]
    cached = imagenet_weights_path(arch)
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True)
    try:
        return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; a truncated download a RuntimeError
        raise FileNotFoundError(
            f"could not download the ImageNet weights of {arch} ({e}). Offline, download {weights.url} "
            f"elsewhere and place it as {cached} (the torch hub checkpoint folder, "
            f"torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it), or set model.pretrained to the "
            f"path of a local ResNet state dict") from None


def load_resnet_state_dict(resnet: torchvision.models.ResNet, path: str | Path, arch: str) -> None:
    """Load a local torchvision-style ResNet state dict (``fc.*`` ignored) into ``resnet``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a state dict of this architecture (missing, unexpected or mis-shaped keys).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained={str(path)!r}: no such file; give a saved torchvision "
                                f"{arch} state dict, 'imagenet', or null for random initialisation")
    try:
        with warnings.catch_warnings():   # torch warns about the pickle protocol of files it then refuses
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a text file, an arbitrary pickle (refused by weights_only), a torn file...
        raise ValueError(f"model.pretrained={str(path)!r} is not a tensor-only torch file; give a torchvision "
                         f"{arch} state dict saved with torch.save, 'imagenet', or null (torch.load with "
                         f"weights_only=True refused it: {type(e).__name__})") from None
    _load_checked(resnet, state, f"model.pretrained={str(path)!r}", arch)


def state_dict_mismatch(own: dict[str, Any], state: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """The sorted keys of ``state`` that do not fit a network whose state dict is ``own``: missing, unexpected,
    and present with another shape (or not a tensor)."""
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state)
                    if not isinstance(state[k], torch.Tensor) or state[k].shape != own[k].shape)
    return missing, unexpected, shapes


def _load_checked(resnet: torchvision.models.ResNet, state: object, source: str, arch: str) -> None:
    if not isinstance(state, dict):
        raise ValueError(f"{source} holds a {type(state).__name__}, not a ResNet state dict")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = {k: v for k, v in resnet.state_dict().items() if not k.startswith("fc.")}
    missing, unexpected, shapes = state_dict_mismatch(own, state)
    if missing or unexpected or shapes:
        raise ValueError(f"{source} does not match torchvision's {arch}: missing keys {missing[:5]}, "
                         f"unexpected keys {unexpected[:5]}, wrong shapes {shapes[:5]} (first five of "
                         f"{len(missing)}, {len(unexpected)}, {len(shapes)}); is it a state dict of another "
                         f"architecture?")
    resnet.load_state_dict(state, strict=False)


def complexity(model: VIReIDNet, height: int, width: int, modality: str = "visible") -> tuple[int, int]:
    """Parameters and multiply-accumulates of one ``height x width`` image through ``model`` in evaluation.

    MACs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, linear layers and
    einsums, the latter lowering to matrix products) as FLOPs / 2; pooling and element-wise work is not
    counted. The model is left in the training mode it had.
    """
    was_training = model.training
    counter = FlopCounterMode(display=False)
    try:
        model.eval()
        with torch.no_grad(), counter:
            model(torch.zeros(1, 3, height, width, device=next(model.parameters()).device), modality)
    finally:
        model.train(was_training)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def build_model(cfg: ModelConfig, num_classes: int) -> VIReIDNet:
    """The network of DECISIONS §1–§6 for a :class:`ModelConfig` (see ``presets.VARIANTS`` for Table 3).

    Args:
        cfg: architecture and options.
        num_classes: number of training identities.

    Raises:
        ValueError: for an invalid option or a state dict that does not fit ``cfg.arch``.
        FileNotFoundError: for a missing pretrained file, or ImageNet weights that cannot be fetched.
    """
    _validate(cfg, num_classes)
    resnet = make_resnet(cfg.arch, cfg.width)
    if cfg.pretrained == "imagenet" and (cfg.arch not in _WEIGHTS or cfg.width != 64):
        raise ValueError(f"model.pretrained=imagenet needs a torchvision ResNet ({sorted(_WEIGHTS)} at model.width=64);"
                         f" {cfg.arch} at width {cfg.width} has no ImageNet weights: set model.pretrained=null or "
                         f"to a state dict of this architecture and width")
    if cfg.pretrained == "imagenet":
        _load_checked(resnet, imagenet_state_dict(cfg.arch), f"ImageNet weights of {cfg.arch}", cfg.arch)
    elif cfg.pretrained in STARTS:
        _load_checked(resnet, start_state_dict(cfg.pretrained, cfg.arch, cfg.width),
                      f"model.pretrained={cfg.pretrained!r}", cfg.arch)
    elif cfg.pretrained is not None:
        load_resnet_state_dict(resnet, cfg.pretrained, cfg.arch)
    return VIReIDNet(cfg, num_classes, resnet)
