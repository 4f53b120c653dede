"""MCA and PCA against literal slow references written here, independently of the library's einsums."""

import pytest
import torch
import torch.nn.functional as F

from vireid_lib.models.attention import (MCA, PCA, MultiScaleMaxPool, StripeConv1x1, criss_cross_affinity,
                                         criss_cross_aggregate)


def dense_criss_cross(q, k, v):
    """For each position, a full softmax over its row and column (the position itself once), then the
    weighted sum of V over the same positions. Returns the output and the per-position weight maps."""
    b, _, height, width = q.shape
    out = torch.zeros_like(v)
    maps = torch.zeros(b, height, width, height, width, dtype=q.dtype)
    for i in range(height):
        for j in range(width):
            positions = [(i, c) for c in range(width)] + [(r, j) for r in range(height) if r != i]
            keys = torch.stack([k[:, :, r, c] for r, c in positions], dim=-1)  # (B, C', H+W-1)
            vals = torch.stack([v[:, :, r, c] for r, c in positions], dim=-1)  # (B, C, H+W-1)
            energy = (q[:, :, i, j].unsqueeze(-1) * keys).sum(dim=1)  # (B, H+W-1)
            w = torch.softmax(energy, dim=-1)
            out[:, :, i, j] = (vals * w.unsqueeze(1)).sum(dim=-1)
            for n, (r, c) in enumerate(positions):
                maps[:, i, j, r, c] = w[:, n]
    return out, maps


def test_criss_cross_equals_dense_reference():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64), torch.randn(2, 3, 5, 4, generator=g,
                                                                                   dtype=torch.float64)
    v = torch.randn(2, 6, 5, 4, generator=g, dtype=torch.float64)
    weights = criss_cross_affinity(q, k)
    assert weights.shape == (2, 5, 4, 5 + 4)  # O(HW(H+W)), never (HW)^2
    expected, _ = dense_criss_cross(q, k, v)
    torch.testing.assert_close(criss_cross_aggregate(weights, v), expected)


def test_mca_forward_and_pixel_weights_match_dense_reference():
    mca = MCA(16, reduction=4, value_reduction=2).double().eval()
    x = torch.randn(2, 16, 6, 5, dtype=torch.float64)
    expected, maps = dense_criss_cross(mca.query(x), mca.key(x), mca.value(x))
    torch.testing.assert_close(mca(x), x + expected)
    pw = mca.pixel_weights(x, 2, 3)
    assert pw.row.shape == (2, 5) and pw.column.shape == (2, 6)
    assert torch.all(pw.column[:, 2] == 0)  # the pixel itself is counted once, in its row
    torch.testing.assert_close(pw.as_map(2, 3), maps[:, 2, 3])
    torch.testing.assert_close(pw.as_map(2, 3).sum(dim=(1, 2)), torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="outside"):
        mca.pixel_weights(x, 6, 0)


def test_mca_learnable_scale_starts_as_identity_and_learns():
    mca = MCA(8, reduction=2, learnable_scale=True)
    x = torch.randn(2, 8, 4, 3)
    out = mca(x)
    torch.testing.assert_close(out, x)
    out.square().sum().backward()
    assert mca.scale.grad is not None and mca.scale.grad.abs().item() > 0


def test_multiscale_max_pool_by_hand():
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 3, 3] = 1.0
    out = MultiScaleMaxPool((3, 5, 7))(x)
    assert out.shape == x.shape  # stride 1, same padding
    # The centre is seen by all three kernels, a pixel 2 away by the 5 and 7 kernels, a corner only by 7.
    assert out[0, 0, 3, 3] == 3 and out[0, 0, 3, 5] == 2 and out[0, 0, 0, 0] == 1 and out[0, 0, 2, 2] == 3
    with pytest.raises(ValueError, match="odd"):
        MultiScaleMaxPool((2,))


@pytest.mark.parametrize("kernels", [(3, 5, 7), (7, 3), (1, 5), (3, 3, 9)])
def test_cascaded_max_pool_equals_direct_pools(kernels):
    x = torch.randn(2, 3, 9, 6)
    direct = sum(F.max_pool2d(x, k, stride=1, padding=k // 2) for k in kernels)
    torch.testing.assert_close(MultiScaleMaxPool(kernels)(x), direct)


def test_stripe_conv_equals_per_stripe_conv():
    conv = StripeConv1x1(3, 4, 5)
    torch.nn.init.normal_(conv.bias)
    x = torch.randn(2, 4, 3, 2, 6)  # (B, C, P, h, w)
    out = conv(x)
    for i in range(3):
        ref = F.conv2d(x[:, :, i], conv.weight[i].unsqueeze(-1).unsqueeze(-1), conv.bias[:, i])
        torch.testing.assert_close(out[:, :, i], ref)


def literal_pca(pca, x, parts, mode):
    """Eqs. (5)-(8) stripe by stripe with ordinary convolutions."""
    height = x.shape[2] // parts
    rows = []
    for i in range(parts):
        xi = x[:, :, i * height:(i + 1) * height]
        w1, b1 = pca.squeeze.weight[i][..., None, None], pca.squeeze.bias[:, i]
        w2, b2 = pca.excite.weight[i][..., None, None], pca.excite.bias[:, i]
        s = F.adaptive_max_pool2d(F.relu(F.conv2d(xi, w1, b1)), 1)  # eq. (5)
        s = torch.tanh(F.adaptive_avg_pool2d(F.conv2d(s, w2, b2), 1))  # eq. (6)
        rows.append(s.expand(-1, -1, height, x.shape[3]))
    term = torch.tanh(torch.cat(rows, dim=2))  # eqs. (7)–(8)
    return x + term if mode == "add" else x * (1 + term)


@pytest.mark.parametrize("mode", ["add", "gate"])
def test_pca_matches_literal_equations(mode):
    pca = PCA(32, parts=3, reduction=4, mode=mode).double()
    torch.nn.init.normal_(pca.squeeze.bias)
    x = torch.randn(2, 32, 6, 4, dtype=torch.float64)
    torch.testing.assert_close(pca(x), literal_pca(pca, x, 3, mode))
    w = pca.stripe_weights(x)
    assert w.shape == (2, 3, 32) and torch.all(w.abs() < 1)


@pytest.mark.parametrize("mode", ["add", "gate"])
def test_pca_stripe_output_depends_only_on_its_stripe(mode):
    pca = PCA(16, parts=3, reduction=2, mode=mode)
    x = torch.randn(2, 16, 9, 3)
    base = pca(x)
    for j in range(3):
        y = x.clone()
        y[:, :, 3 * j:3 * (j + 1)] = torch.randn(2, 16, 3, 3)
        out = pca(y)
        for i in range(3):
            same = torch.equal(out[:, :, 3 * i:3 * (i + 1)], base[:, :, 3 * i:3 * (i + 1)])
            assert same == (i != j), f"stripe {i} after changing stripe {j}"


def test_pca_rejects_height_not_divisible_by_parts():
    with pytest.raises(ValueError, match="parts=3 does not divide the feature map height 4"):
        PCA(8, parts=3, reduction=2)(torch.randn(1, 8, 4, 2))
    with pytest.raises(ValueError, match="pca_mode"):
        PCA(8, mode="mul")
