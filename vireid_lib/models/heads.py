"""The two branches on the final map: the global BN-neck head (DECISIONS §5) and the PCB local head
(DECISIONS §6)."""

from __future__ import annotations

import torch
from torch import nn

from vireid_lib.models.attention import StripeConv1x1, split_stripes


def gem(x: torch.Tensor, p: float, dims: tuple[int, ...], eps: float = 1e-6) -> torch.Tensor:
    """Generalised-mean pooling (Radenovic et al., TPAMI 2019) over ``dims``: mean(x^p)^(1/p).

    The clamp keeps the power real where PCA's additive term made an activation negative.
    """
    return x.clamp(min=eps).pow(p).mean(dim=dims).pow(1.0 / p)


class GlobalHead(nn.Module):
    """GeM pooling -> BN neck with a frozen bias -> bias-free identity classifier (CAJ; eq. (9) for the logits).

    Returns the pooled feature (triplet and MSE losses, eqs. (10) and (13)), the BN feature (the test feature)
    and the logits.
    """

    def __init__(self, channels: int, num_classes: int, p: float = 3.0) -> None:
        super().__init__()
        self.p = p
        self.neck = nn.BatchNorm1d(channels)
        self.neck.bias.requires_grad_(False)  # BNNeck: a frozen zero shift keeps the feature centred
        self.classifier = nn.Linear(channels, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = gem(x, self.p, dims=(2, 3))  # (B, C)
        bn = self.neck(pooled)
        return pooled, bn, self.classifier(bn)


class LocalHead(nn.Module):
    """PCB local branch (Sun et al., ECCV 2018), as in the hetero-centre triplet code (DECISIONS §6).

    Each of the P horizontal stripes is GeM-pooled, embedded by its own 1x1 convolution to ``dim`` channels
    with BN and ReLU, and classified by its own bias-free classifier. Returns the ``(B, P, dim)`` stripe
    embeddings (centre-triplet and hetero-centre losses, eqs. (11)–(12)) and ``(B, P, num_classes)`` logits.
    """

    def __init__(self, channels: int, num_classes: int, parts: int = 3, dim: int = 256,
                 p: float = 3.0) -> None:
        super().__init__()
        self.parts, self.dim, self.p = parts, dim, p
        self.embed = StripeConv1x1(parts, channels, dim, bias=False)
        self.bn = nn.BatchNorm1d(parts * dim)  # one set of statistics per stripe and channel
        self.classifier = StripeConv1x1(parts, dim, num_classes, bias=False)
        nn.init.kaiming_normal_(self.embed.weight.view(parts * dim, channels), mode="fan_in")
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stripes = gem(split_stripes(x, self.parts), self.p, dims=(3, 4))  # (B, C, P)
        e = self.embed(stripes)  # (B, dim, P)
        e = self.bn(e.transpose(1, 2).reshape(-1, self.parts * self.dim))  # (B, P * dim)
        parts = torch.relu(e).view(-1, self.parts, self.dim)  # (B, P, dim)
        logits = self.classifier(parts.transpose(1, 2)).transpose(1, 2)  # (B, P, num_classes)
        return parts, logits
