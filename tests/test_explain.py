"""Grad-CAM wrapper, similarity targets, attention maps, overlays and the faithfulness check."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vireid_lib import explain
from vireid_lib.config import ModelConfig
from vireid_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from vireid_lib.models import build_model

H, W = 64, 32  # resnet18 with last stride 1: a 4x2 final map, so P = 2 stripes


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="resnet18", parts=2, local_dim=32), num_classes=5).eval()


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 3, H, W, generator=torch.Generator().manual_seed(seed))


def test_embedding_model_is_the_networks_test_feature(model):
    x = _images(2, 1)
    out = model(x, "infrared")
    assert torch.equal(explain.EmbeddingModel(model, "infrared")(x), out.bn)
    assert torch.equal(explain.EmbeddingModel(model, "infrared", feature="pool")(x), out.pooled)
    emb = explain.embed(model, x, "infrared")
    assert torch.allclose(emb.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="feature"):
        explain.EmbeddingModel(model, "visible", feature="logits")


def test_similarity_target_is_cosine_and_its_opposite():
    ref = torch.tensor([3.0, 4.0, 0.0])
    e = torch.tensor([4.0, 3.0, 0.0])  # cos = (12 + 12) / 25
    assert explain.SimilarityTarget(ref)(e).item() == pytest.approx(24 / 25)
    assert explain.SimilarityTarget(ref, opposite=True)(e).item() == pytest.approx(-24 / 25)


@pytest.mark.parametrize("method", ["gradcam", "hirescam", "eigencam"])
def test_cam_on_every_layer_of_the_path(model, method):
    x, refs = _images(2, 2), explain.embed(model, _images(2, 3), "visible")
    before = x.clone()
    hooks_before = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    for layer in model.target_layers():
        if layer == "stem.visible":
            continue
        cams = explain.similarity_cam(model, x, "infrared", refs, layer=layer, method=method)
        assert cams.shape == (2, H, W) and cams.dtype == np.float32
        assert cams.min() >= 0 and cams.max() <= 1 + 1e-6
    assert torch.equal(x, before), "the input was modified"
    hooks_after = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    assert hooks_after == hooks_before, "hooks were left on the model"


def test_cam_follows_the_target(model):
    # HiResCAM of the similarity and of its opposite sum gradient x activation of opposite sign, so where
    # one map is positive before the ReLU the other is zero: on the layer's own grid (the 4x2 layer3 cells,
    # read at their centres, where the bilinear upsampling mixes in at most 1/32 of a neighbour) they do not
    # overlap.
    x, refs = _images(1, 4), explain.embed(model, _images(1, 5), "visible")
    pos = explain.similarity_cam(model, x, "visible", refs, layer="layer3", method="hirescam")
    neg = explain.similarity_cam(model, x, "visible", refs, layer="layer3", method="hirescam", opposite=True)
    pos, neg = pos[:, 8::16, 8::16], neg[:, 8::16, 8::16]  # (1, 4, 2) cell centres
    assert pos.max() > 0 and neg.max() > 0
    assert np.minimum(pos, neg).max() < 0.05


def test_cam_errors_name_the_problem(model):
    x, refs = _images(2, 6), explain.embed(model, _images(2, 7), "visible")
    with pytest.raises(ValueError, match="not on the path of visible images"):
        explain.similarity_cam(model, x, "visible", refs, layer="stem.infrared")
    with pytest.raises(ValueError, match="choose one of"):
        explain.similarity_cam(model, x, "visible", refs, layer="layer9")
    with pytest.raises(ValueError, match="unknown CAM method"):
        explain.similarity_cam(model, x, "visible", refs, method="magic")
    with pytest.raises(ValueError, match="3 reference embeddings for 2 images"):
        explain.similarity_cam(model, x, "visible", torch.randn(3, refs.shape[1]))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        explain.similarity_cam(model, x[:, :1], "visible", refs)


def test_explain_matches_uses_each_sides_own_stem(model):
    q, g = _images(1, 8)[0], _images(3, 9)
    out = explain.explain_matches(model, q, "infrared", g, "visible", layer="stem.visible", method="gradcam")
    assert out.query.shape == (3, H, W) and out.gallery.shape == (3, H, W)


def test_mca_pixel_attention_lies_on_the_criss_cross(model):
    x = _images(2, 10)
    mca = model.target_layers()["mca.layer3"]
    fmap = model.forward_intermediates(x, "visible")["layer3"]  # MCA's input, computed independently
    h, w = fmap.shape[2:]
    y, xx = 37, 20  # input pixel -> map cell (37 * h // 64, 20 * w // 32)
    row, col = y * h // H, xx * w // W
    att = explain.mca_pixel_attention(model, x, "visible", (y, xx), stage="mca.layer3")
    assert att.shape == (2, H, W)
    cells = att[:, :: H // h, :: W // w]  # (2, h, w): one value per map cell
    assert torch.allclose(F.interpolate(cells[:, None], size=(H, W), mode="nearest")[:, 0], att)
    off = torch.ones(h, w, dtype=torch.bool)
    off[row, :] = False
    off[:, col] = False
    assert torch.all(cells[:, off] == 0)
    assert torch.allclose(cells.sum(dim=(1, 2)), torch.ones(2), atol=1e-5)
    expected = mca.pixel_weights(fmap, row, col).as_map(row, col)
    assert torch.allclose(cells, expected, atol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        explain.mca_pixel_attention(model, x, "visible", (H, 0))
    with pytest.raises(ValueError, match="not an MCA module"):
        explain.mca_pixel_attention(model, x, "visible", (0, 0), stage="layer3")


def test_pca_stripe_weights_are_the_term_of_eq_8(model):
    x = _images(2, 11)
    maps = model.forward_intermediates(x, "infrared")
    weights = explain.pca_stripe_weights(model, x, "infrared")
    p = model.cfg.parts
    assert weights.shape == (2, p, model.channels)
    # eq. (8), add mode: pca(x) - x is tanh(x') of the stripe, constant over the stripe's rows and columns.
    diff = (maps["pca"] - maps["mca.layer4"] if "mca.layer4" in maps else maps["pca"] - maps["layer4"])
    stripe_rows = diff.shape[2] // p
    for i in range(p):
        assert torch.allclose(diff[:, :, i * stripe_rows, 0], weights[:, i], atol=1e-5)


def test_overlay_on_infrared_and_visible():
    ir = np.zeros((8, 4), dtype=np.uint8)
    ir[:, 2:] = 200  # a single-channel infrared image: dark left, bright right
    cam = np.zeros((8, 4), dtype=np.float32)
    out = explain.overlay(ir, cam)
    assert out.shape == (8, 4, 3) and out.dtype == np.uint8
    # no attribution: the image itself, stretched to the full range, in grey
    assert np.all(out[:, :2] == 0) and np.all(out[:, 2:] == 255)
    cam[0, 0] = 1.0
    hot = explain.overlay(ir, cam, alpha=1.0, cmap="jet")
    expected = np.round(255 * np.array(__import__("matplotlib").colormaps["jet"](1.0)[:3]))
    assert np.array_equal(hot[0, 0], expected.astype(np.uint8))
    assert np.array_equal(hot[1:], out[1:])
    colour = np.zeros((8, 4, 3), dtype=np.uint8)
    colour[..., 0] = 255
    colour[0, 0] = 0  # a red image: drawn in grey only when asked
    assert explain.overlay(colour, np.zeros((2, 1)))[1, 1, 1] == 0
    assert explain.overlay(colour, np.zeros((2, 1)), gray=True)[1, 1, 1] == 255
    with pytest.raises(ValueError, match="alpha"):
        explain.overlay(ir, cam, alpha=2.0)
    with pytest.raises(ValueError, match="one \\(H, W\\) map"):
        explain.overlay(ir, np.zeros((2, 8, 4)))


def test_to_display_undoes_the_normalisation():
    img = torch.rand(3, 4, 2)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    back = explain.to_display((img - mean) / std)
    assert np.allclose(back, img.permute(1, 2, 0).numpy(), atol=1e-6)


def test_box_search_and_hiding_by_hand():
    assert explain.box_size(100, 50, 0.25) == (50, 25)
    cams = np.zeros((1, 6, 4), dtype=np.float32)
    cams[0, 3:5, 2:4] = 1.0
    cams[0, 0, 0] = 1.5  # a single hot pixel holds less mass than the 2x2 block
    corners = explain.most_attributed_box(cams, (2, 2))
    assert corners.tolist() == [[3, 2]]
    x = torch.ones(1, 3, 6, 4)
    hidden = explain.hide_boxes(x, corners, (2, 2))
    assert hidden[0, :, 3:5, 2:4].abs().sum() == 0 and hidden.sum() == 3 * (24 - 4)
    assert x.sum() == 3 * 24, "the input was modified"
    with pytest.raises(ValueError, match="area"):
        explain.box_size(10, 10, 1.5)


# ---------------------------------------------------------------------------------- faithfulness

_PATCH = 16


def _patch_images(colours: torch.Tensor, ids: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Noise images holding the identity's two-colour patch at a random place: the patch is the only cue."""
    n = len(ids)
    x = torch.randn(n, 3, H, W, generator=gen) * 0.5
    top = torch.randint(0, H - _PATCH + 1, (n,), generator=gen)
    left = torch.randint(0, W - _PATCH + 1, (n,), generator=gen)
    for i in range(n):
        patch = colours[ids[i]].repeat_interleave(_PATCH // 2, dim=1).expand(3, _PATCH, _PATCH)  # (3, S, S)
        x[i, :, top[i]:top[i] + _PATCH, left[i]:left[i] + _PATCH] = patch
    return x


@pytest.mark.slow
def test_hiding_the_attributed_region_hurts_the_match_more_than_a_random_region():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    ids_n = 8
    colours = torch.rand(ids_n, 3, 2, 1, generator=gen) * 4 - 2  # (ids, 3, 2 halves, 1)
    model = build_model(ModelConfig(arch="resnet18", parts=2, local_dim=32), ids_n)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    for _ in range(40):
        ids = torch.randint(0, ids_n, (16,), generator=gen)
        loss = F.cross_entropy(model(_patch_images(colours, ids, gen), "visible").logits, ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    ids = torch.arange(ids_n).repeat(2)
    queries, gallery = _patch_images(colours, ids, gen), _patch_images(colours, ids, gen)
    refs = explain.embed(model, gallery, "visible")
    top1 = (explain.embed(model, queries, "visible") @ refs.T).argmax(dim=1)
    assert (ids[top1] == ids).float().mean() >= 0.75, "the model did not learn the task; the check means nothing"

    result = explain.faithfulness_check(model, queries, "visible", refs, layer="layer2", method="gradcam",
                                        area=0.15, n_random=8, seed=0)
    assert result.cam_drop.shape == result.random_drop.shape == (16,)
    assert result.cam_drop.mean() > result.random_drop.mean()
    assert result.margin > 0.05


def test_match_cam_figure_draws_both_rows(model):
    q, g = _images(1, 12)[0], _images(2, 13)
    ex = explain.explain_matches(model, q, "infrared", g, "visible", layer="layer4")
    fig = explain.match_cam_figure(q, g, ex, [True, False], [0.1, 0.4])
    axes = fig.axes
    assert len(axes) == 6 and all(len(ax.images) == 1 for ax in axes)
    assert axes[1].get_title() == "#1 0.100" and axes[1].spines["top"].get_edgecolor()[:3] == (0, 0.5019607843137255, 0)


def test_the_package_names_each_helper_once_from_its_own_module():
    """``explain.X`` reaches every public helper, and each is defined in one submodule, not in the package."""
    homes = {}
    for name in explain.__all__:
        obj = getattr(explain, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            homes[name] = obj.__module__
    assert all(m.startswith("vireid_lib.explain.") for m in homes.values()), homes
    assert homes["similarity_cam"] == "vireid_lib.explain.gradcam"
    assert homes["mca_pixel_attention"] == homes["pca_stripe_weights"] == "vireid_lib.explain.attention"
    assert homes["faithfulness_check"] == "vireid_lib.explain.faithfulness"
    assert homes["pick_cases"] == "vireid_lib.explain.cases"
    assert homes["overlay"] == "vireid_lib.explain.figures"
