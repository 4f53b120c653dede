"""The two attention modules of the paper: MCA (spatial, eqs. (1)–(4)) and PCA (channel, eqs. (5)–(8)).

MCA builds on the criss-cross attention of CCNet (Huang et al., ICCV 2019): every position attends to the
H + W - 1 positions of its own row and column, so memory grows as HW(H + W), never as (HW)^2.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class CrissCrossWeights(NamedTuple):
    """Attention weights of one query pixel over its row and column (they sum to 1 per sample).

    Attributes:
        row: ``(B, W)`` weights over the pixel's row, the pixel itself included.
        column: ``(B, H)`` weights over the pixel's column; the pixel's own entry is 0 because it is
            counted once, in the row.
    """

    row: torch.Tensor
    column: torch.Tensor

    def as_map(self, h: int, w: int) -> torch.Tensor:
        """The weights laid out on the ``(B, H, W)`` grid (zero off the criss-cross), for drawing."""
        out = self.row.new_zeros(self.row.shape[0], self.column.shape[1], self.row.shape[1])
        out[:, h, :] = self.row
        out[:, :, w] += self.column
        return out


def criss_cross_affinity(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Aff of eq. (4): softmax-normalised affinities of each position with its row and column.

    Args:
        q: queries ``(B, C', H, W)``.
        k: keys ``(B, C', H, W)``.

    Returns:
        ``(B, H, W, H + W)`` weights: the first H entries run down the position's column, the last W along
        its row. The position itself appears in both halves; its column entry is masked to -inf (as
        CCNet's diagonal mask does) so it is counted once and the softmax runs over H + W - 1 positions.
    """
    _, _, height, width = q.shape
    column = torch.einsum("bchw,bcgw->bhwg", q, k)  # (B, H, W, H): position (h, w) against (g, w)
    row = torch.einsum("bchw,bchv->bhwv", q, k)  # (B, H, W, W): position (h, w) against (h, v)
    # The diagonal as a comparison of two ranges, not torch.eye: the ONNX export of a boolean eye is an
    # EyeLike node that ONNX Runtime does not implement for booleans.
    index = torch.arange(height, device=q.device)
    self_mask = (index.view(height, 1, 1) == index.view(1, 1, height))  # (H, 1, H)
    column = column.masked_fill(self_mask, float("-inf"))
    return torch.cat([column, row], dim=-1).softmax(dim=-1)


def criss_cross_aggregate(weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Agg of eq. (4): each position's weighted sum of V over its row and column.

    Args:
        weights: ``(B, H, W, H + W)`` from :func:`criss_cross_affinity`.
        v: values ``(B, C, H, W)``.

    Returns:
        ``(B, C, H, W)``.
    """
    height = v.shape[2]
    column, row = weights[..., :height], weights[..., height:]
    return torch.einsum("bhwg,bcgw->bchw", column, v) + torch.einsum("bhwv,bchv->bchw", row, v)


class MultiScaleMaxPool(nn.Module):
    """Sum of stride-1 max poolings with "same" padding at several kernel sizes (DECISIONS §3, SPPF-like).

    As in SPPF, the larger poolings are computed by cascading: a k-pool of a j-pool is the (j + k - 1)-pool
    when the stride is 1, so 3, 5, 7 costs three 3x3 poolings instead of a 3x3, a 5x5 and a 7x7.
    """

    def __init__(self, kernels: tuple[int, ...]) -> None:
        super().__init__()
        if not kernels or any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"mca_pool_kernels must be odd positive sizes (stride 1, same padding), got {kernels}")
        ordered = sorted(kernels)
        # Each step pools the previous result; the kernel grows by (step - 1), so step = growth + 1.
        self.steps = tuple(b - a + 1 for a, b in zip([1] + ordered[:-1], ordered))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for k in self.steps:
            if k > 1:
                x = F.max_pool2d(x, k, stride=1, padding=k // 2)
            total = x if total is None else total + x
        return total


class PooledProjection(nn.Module):
    """Q1 = conv1x1_b(maxpool(conv1x1_a(Q))) of eq. (1), and likewise K1 of eq. (2)."""

    def __init__(self, in_channels: int, channels: int, kernels: tuple[int, ...]) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, channels, 1)  # Q (or K) = conv1x1(x), C' < C
        self.conv_a = nn.Conv2d(channels, channels, 1)
        self.pool = MultiScaleMaxPool(kernels)
        self.conv_b = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.pool(self.conv_a(self.proj(x))))


class DilatedValue(nn.Module):
    """V1 = avgpool(conv1x1(Dilated(x))) of eq. (3).

    Dilated is the sum of parallel 3x3 convolutions at several rates. It maps C to C / reduction channels,
    followed by BN and ReLU, and the 1x1 convolution of eq. (3) restores C: eq. (3) places a 1x1
    convolution after Dilated, which only does work if Dilated changes the width or is non-linear. The
    3x3 average pool has stride 1 so V1 keeps x's resolution, as Agg needs.
    """

    def __init__(self, channels: int, dilations: tuple[int, ...], reduction: int) -> None:
        super().__init__()
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(f"mca_dilations must be positive rates, got {dilations}")
        hidden = max(1, channels // reduction)
        self.dilated = nn.ModuleList(
            nn.Conv2d(channels, hidden, 3, padding=d, dilation=d, bias=False) for d in dilations)
        self.bn = nn.BatchNorm2d(hidden)
        self.proj = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.relu(self.bn(sum(conv(x) for conv in self.dilated)))
        return F.avg_pool2d(self.proj(v), 3, stride=1, padding=1, count_include_pad=False)


class MCA(nn.Module):
    """Multi-scale cross attention, eqs. (1)–(4): ``x + Agg(Aff(Q1, K1), V1)``.

    Args:
        channels: C of the input map.
        reduction: C' = C / reduction for Q and K (DECISIONS §3: 8).
        pool_kernels: kernels of the multi-scale max pooling of eqs. (1)–(2).
        dilations: rates of the dilated convolutions of eq. (3).
        value_reduction: width reduction inside Dilated (see :class:`DilatedValue`).
        learnable_scale: multiply the attention term by a CCNet-style scalar initialised at 0 (eq. (4) has
            none; off by default).
    """

    def __init__(self, channels: int, reduction: int = 8, pool_kernels: tuple[int, ...] = (3, 5, 7),
                 dilations: tuple[int, ...] = (1, 2, 3), value_reduction: int = 8,
                 learnable_scale: bool = False) -> None:
        super().__init__()
        inner = max(1, channels // reduction)
        self.query = PooledProjection(channels, inner, pool_kernels)
        self.key = PooledProjection(channels, inner, pool_kernels)
        self.value = DilatedValue(channels, dilations, value_reduction)
        self.scale = nn.Parameter(torch.zeros(1)) if learnable_scale else None

    @torch.no_grad()
    def identity_start_(self) -> MCA:
        """Zero the last layer of the attention term (V's 1x1 convolution of eq. (3), or the scale when there is
        one), so ``forward`` starts as the identity, as CAJ's non-local blocks (zero-initialised output BN) and
        CCNet's scale (0) do. Q and K start receiving gradient once that layer has moved."""
        if self.scale is not None:
            self.scale.zero_()
        else:
            self.value.proj.weight.zero_()
            self.value.proj.bias.zero_()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = criss_cross_affinity(self.query(x), self.key(x))
        out = criss_cross_aggregate(weights, self.value(x))
        return x + (out if self.scale is None else self.scale * out)

    @torch.no_grad()
    def pixel_weights(self, x: torch.Tensor, h: int, w: int) -> CrissCrossWeights:
        """The attention weights that position ``(h, w)`` of MCA's input ``x`` puts on its row and column."""
        _, _, height, width = x.shape
        if not (0 <= h < height and 0 <= w < width):
            raise ValueError(f"pixel ({h}, {w}) lies outside the {height}x{width} map")
        weights = criss_cross_affinity(self.query(x), self.key(x))[:, h, w]  # (B, H + W)
        return CrissCrossWeights(row=weights[:, height:], column=weights[:, :height])


def split_stripes(x: torch.Tensor, parts: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, P, H / P, W)``, with a clear error when P does not divide H."""
    b, c, height, width = x.shape
    if height % parts != 0:
        raise ValueError(f"parts={parts} does not divide the feature map height {height}; pick an input "
                         f"height whose final map height is a multiple of {parts} (with last stride 1 the "
                         f"map is 1/16 of the input: 288x144 gives 18x9) or change model.parts")
    return x.view(b, c, parts, height // parts, width)  # (B, C, P, H/P, W)


class StripeConv1x1(nn.Module):
    """P independent 1x1 convolutions, stripe i's weights applied to stripe i only.

    Works on ``(B, C, P, ...)`` tensors (stripe maps or stripe vectors) with one einsum instead of a loop.
    """

    def __init__(self, parts: int, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(parts, out_channels, in_channels))
        self.bias = nn.Parameter(torch.empty(out_channels, parts)) if bias else None
        # Each stripe starts as a default nn.Conv2d(in_channels, out_channels, 1) would.
        bound = 1 / in_channels ** 0.5
        for i in range(parts):
            nn.init.kaiming_uniform_(self.weight[i], a=5 ** 0.5)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.einsum("bcp...,pdc->bdp...", x, self.weight)  # (B, C_out, P, ...)
        if self.bias is not None:
            out = out + self.bias.view(*self.bias.shape, *([1] * (x.dim() - 3)))  # (C_out, P, 1, ...)
        return out


class PCA(nn.Module):
    """Part channel-interaction attention, eqs. (5)–(8).

    x is cut into P horizontal stripes; stripe i gets its own channel vector
    ``x_i' = tanh(avgpool(conv_i'(maxpool(relu(conv_i(x_i))))))`` (eqs. (5)–(6)), the vectors are concatenated
    along the height so that vector i covers stripe i (eq. (7)), and ``output = x + tanh(x')`` (eq. (8), with
    tanh applied in both eq. (6) and eq. (8) as written). The avgpool of eq. (6) acts on a 1x1 map after
    the global max pool of eq. (5) and is the identity. ``mode="gate"`` uses ``x * (1 + tanh(x'))``.

    Args:
        channels: C of the input map.
        parts: number of stripes P.
        reduction: the hidden width of conv_i / conv_i' is C / reduction (the "scaling transform" of the
            paper's text, as in a squeeze-excitation block).
        mode: ``"add"`` (eq. (8)) or ``"gate"``.
    """

    def __init__(self, channels: int, parts: int = 3, reduction: int = 16, mode: str = "add") -> None:
        super().__init__()
        if mode not in ("add", "gate"):
            raise ValueError(f"pca_mode must be 'add' or 'gate', got {mode!r}")
        hidden = max(1, channels // reduction)
        self.parts, self.mode = parts, mode
        self.squeeze = StripeConv1x1(parts, channels, hidden)  # conv_i of eq. (5)
        self.excite = StripeConv1x1(parts, hidden, channels)  # conv_i' of eq. (6)

    @torch.no_grad()
    def identity_start_(self) -> PCA:
        """Zero conv_i' of eq. (6) (weights and bias), so ``tanh(x') = 0`` and ``forward`` starts as the
        identity in both modes; conv_i' still receives gradient at once."""
        self.excite.weight.zero_()
        self.excite.bias.zero_()
        return self

    def stripe_weights(self, x: torch.Tensor) -> torch.Tensor:
        """tanh(x') of eq. (8): the ``(B, P, C)`` channel term of each stripe."""
        s = torch.relu(self.squeeze(split_stripes(x, self.parts)))  # (B, C/r, P, H/P, W)
        s = s.amax(dim=(3, 4))  # (B, C/r, P): global max pool per stripe, eq. (5)
        s = torch.tanh(self.excite(s))  # (B, C, P), eq. (6)
        return torch.tanh(s).transpose(1, 2)  # (B, P, C), eq. (8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        term = self.stripe_weights(x).transpose(1, 2)  # (B, C, P)
        term = term.repeat_interleave(height // self.parts, dim=2).unsqueeze(-1)  # (B, C, H, 1), eq. (7)
        return x + term if self.mode == "add" else x * (1 + term)
