"""The network: shapes, sharing, gradients, modality routing, determinism, state dicts, pretrained loading."""

import urllib.error

import pytest
import torch
import torchvision

from vireid_lib.models import MCA, ModelOutput, build_model, complexity
from vireid_lib.models.attention import StripeConv1x1, criss_cross_affinity
from vireid_lib.presets import VARIANTS, model_variant

NUM_CLASSES = 7
H, W = 48, 32  # resnet18 with last stride 1: a 3x2 final map, so P = 3 divides it


def tiny(variant="full", **overrides):
    return build_model(model_variant(variant, arch="resnet18", local_dim=16, **overrides), NUM_CLASSES)


@pytest.fixture(scope="module")
def full_model():
    torch.manual_seed(0)
    return tiny("full")


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("modality", ["visible", "infrared", "exchanged"])
def test_output_shapes_per_variant_and_modality(variant, modality):
    model = tiny(variant).eval()
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        out = model(x, modality)
    assert isinstance(out, ModelOutput)
    assert out.pooled.shape == out.bn.shape == (2, 512) and out.logits.shape == (2, NUM_CLASSES)
    if VARIANTS[variant]["local_branch"]:
        assert out.parts.shape == (2, 3, 16) and out.part_logits.shape == (2, 3, NUM_CLASSES)
    else:
        assert out.parts is None and out.part_logits is None
    assert model.forward_features(x, modality).shape == (2, 512, 3, 2)
    assert all(torch.isfinite(t).all() for t in out if t is not None)


@pytest.mark.parametrize("arch,channels", [("resnet34", 512), ("resnet50", 2048)])
def test_deeper_archs_keep_last_stride_one(arch, channels):
    model = build_model(model_variant("full", arch=arch), NUM_CLASSES).eval()
    with torch.no_grad():
        fmap = model.forward_features(torch.randn(1, 3, 48, 32), "infrared")
    assert fmap.shape == (1, channels, 3, 2)


@pytest.mark.parametrize("arch,width,channels,blocks", [("resnet10", 32, 256, 1), ("resnet18", 16, 128, 2),
                                                       ("resnet50", 16, 512, 3)])
def test_width_and_resnet10_set_the_channels_and_depth(arch, width, channels, blocks):
    model = build_model(model_variant("full", arch=arch, width=width), NUM_CLASSES).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 48, 32), "infrared")
    assert out.bn.shape == (2, channels)
    assert model.forward_features(torch.randn(1, 3, 48, 32), "visible").shape == (1, channels, 3, 2)
    assert len(model.backbone.layer4) == blocks
    stem_conv = model.backbone.stems["visible"].conv1
    assert stem_conv.out_channels == width


def test_narrow_or_resnet10_refuse_imagenet_weights():
    with pytest.raises(ValueError, match="no ImageNet weights"):
        build_model(model_variant("base", arch="resnet10", width=64, pretrained="imagenet"), 3)
    with pytest.raises(ValueError, match="no ImageNet weights"):
        build_model(model_variant("base", arch="resnet18", width=32, pretrained="imagenet"), 3)
    with pytest.raises(ValueError, match="width must be positive"):
        build_model(model_variant("base", arch="resnet18", width=0), 3)


def test_last_stride_two_halves_the_map():
    model = tiny("base", last_stride=2).eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 64, 32), "visible").shape == (1, 512, 2, 1)


def test_train_and_eval_return_the_same_structure(full_model):
    x = torch.randn(4, 3, H, W)
    full_model.train()
    train_out = full_model(x, "visible")
    full_model.eval()
    eval_out = full_model(x, "visible")
    assert type(train_out) is type(eval_out)
    assert [t.shape for t in train_out] == [t.shape for t in eval_out]


def test_stems_are_private_and_later_layers_shared(full_model):
    stems = full_model.backbone.stems
    vis, ir = {id(p) for p in stems["visible"].parameters()}, {id(p) for p in stems["infrared"].parameters()}
    assert vis and not vis & ir
    shared = {id(p) for name in ("layer2", "layer3", "layer4")
              for p in getattr(full_model.backbone, name).parameters()}
    assert not shared & (vis | ir)
    # A visible-only pass touches the visible stem and the shared layers, never the infrared stem.
    full_model.train()
    full_model.zero_grad()
    full_model(torch.randn(2, 3, H, W), "visible").logits.sum().backward()
    assert all(p.grad is None for p in stems["infrared"].parameters())
    assert all(p.grad is not None for p in stems["visible"].parameters())
    assert all(p.grad is not None for p in full_model.backbone.layer2.parameters())


def test_gradients_reach_both_stems_and_every_module(full_model):
    full_model.train()
    full_model.zero_grad()
    out = full_model(torch.randn(6, 3, H, W), ["visible", "exchanged", "infrared"] * 2)
    loss = out.logits.logsumexp(1).sum() + out.part_logits.logsumexp(2).sum() + out.pooled.square().sum() \
        + out.parts.square().sum()
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in full_model.named_parameters():
        if not p.requires_grad:
            assert name == "global_head.neck.bias"
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} receives a zero gradient"


def test_mixed_batch_equals_separate_calls(full_model):
    full_model.eval()
    x = torch.randn(5, 3, H, W)
    modality = ["infrared", "visible", "exchanged", "infrared", "visible"]
    with torch.no_grad():
        mixed = full_model(x, modality)
        vis = full_model(x[[1, 2, 4]], "visible")
        ir = full_model(x[[0, 3]], "infrared")
        exchanged = full_model(x[[2]], "exchanged")
    for field in ModelOutput._fields:
        got = getattr(mixed, field)
        torch.testing.assert_close(got[[1, 2, 4]], getattr(vis, field), atol=1e-4, rtol=1e-3)
        torch.testing.assert_close(got[[0, 3]], getattr(ir, field), atol=1e-4, rtol=1e-3)
        torch.testing.assert_close(got[[2]], getattr(exchanged, field), atol=1e-4, rtol=1e-3)
    # The two stems really differ once their weights do.
    with torch.no_grad():
        full_model.backbone.stems["infrared"].conv1.weight.add_(0.1)
        assert not torch.allclose(full_model(x[:1], "infrared").bn, full_model(x[:1], "visible").bn)
        full_model.backbone.stems["infrared"].conv1.weight.sub_(0.1)


def test_eval_is_deterministic(full_model):
    full_model.eval()
    x = torch.randn(3, 3, H, W)
    with torch.no_grad():
        a, b = full_model(x, "infrared"), full_model(x, "infrared")
    for s, t in zip(a, b):
        assert torch.equal(s, t)


def test_state_dict_round_trip(tmp_path, full_model):
    path = tmp_path / "model.pt"
    torch.save(full_model.state_dict(), path)
    fresh = tiny("full")
    fresh.load_state_dict(torch.load(path, weights_only=True))
    full_model.eval(), fresh.eval()
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        for s, t in zip(full_model(x, "visible"), fresh(x, "visible")):
            assert torch.equal(s, t)


def test_parameter_groups_split_backbone_and_heads(full_model):
    backbone = {id(p) for p in full_model.backbone_parameters()}
    head = {id(p) for p in full_model.head_parameters()}
    assert backbone.isdisjoint(head) and backbone | head == {id(p) for p in full_model.parameters()}
    assert {id(p) for p in full_model.mca.parameters()} <= head
    assert {id(p) for p in full_model.backbone.stems.parameters()} <= backbone


def test_target_layer_names_follow_the_variant():
    assert list(tiny("base").target_layers()) == ["stem.visible", "stem.infrared", "layer2", "layer3", "layer4"]
    assert list(tiny("full").target_layers()) == ["stem.visible", "stem.infrared", "layer2", "mca.layer2",
                                                  "layer3", "mca.layer3", "layer4", "pca"]


def test_bad_inputs_raise_clear_errors(full_model):
    x = torch.randn(2, 3, H, W)
    with pytest.raises(ValueError, match="unknown modality"):
        full_model(x, "thermal")
    with pytest.raises(ValueError, match="3 modality names for a batch of 2"):
        full_model(x, ["visible"] * 3)
    with pytest.raises(ValueError, match=r"parts=3 does not divide the feature map height 4"):
        full_model(torch.randn(2, 3, 64, 32), "visible")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        full_model(torch.randn(2, 1, H, W), "visible")
    with pytest.raises(ValueError, match="arch"):
        build_model(model_variant("base", arch="resnet101"), NUM_CLASSES)
    with pytest.raises(ValueError, match="mca_stages"):
        build_model(model_variant("full", arch="resnet18", mca_stages=(1,)), NUM_CLASSES)


@pytest.fixture
def resnet18_file(tmp_path):
    torch.manual_seed(123)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    return path, state


def assert_loaded(model, state):
    for stem in model.backbone.stems.values():
        assert torch.equal(stem.conv1.weight, state["conv1.weight"])
        assert torch.equal(stem.layer1[1].bn2.running_var, state["layer1.1.bn2.running_var"])
    assert torch.equal(model.backbone.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])
    stems = model.backbone.stems
    assert stems["visible"].conv1.weight is not stems["infrared"].conv1.weight


def test_pretrained_from_local_state_dict(resnet18_file):
    path, state = resnet18_file
    assert_loaded(build_model(model_variant("full", arch="resnet18", pretrained=str(path)), 3), state)


def test_pretrained_file_of_a_narrow_resnet(tmp_path):
    """A local state dict need not be one of torchvision's ImageNet networks: any arch and width the file fits
    (the cpu-demo's resnet10 at width 32); only 'imagenet' needs a torchvision ResNet at width 64."""
    from vireid_lib.models.backbone import make_resnet

    torch.manual_seed(7)
    state = make_resnet("resnet10", 32).state_dict()
    torch.save(state, tmp_path / "r10w32.pth")
    model = build_model(model_variant("full", arch="resnet10", width=32, pretrained=str(tmp_path / "r10w32.pth")), 3)
    for stem in model.backbone.stems.values():
        assert torch.equal(stem.conv1.weight, state["conv1.weight"])
        assert torch.equal(stem.layer1[0].bn2.running_var, state["layer1.0.bn2.running_var"])
    assert torch.equal(model.backbone.layer4[0].conv2.weight, state["layer4.0.conv2.weight"])
    with pytest.raises(ValueError, match="wrong shapes"):
        build_model(model_variant("base", arch="resnet10", width=16, pretrained=str(tmp_path / "r10w32.pth")), 3)
    with pytest.raises(ValueError, match="model.pretrained=imagenet needs a torchvision ResNet"):
        build_model(model_variant("base", arch="resnet10", width=32, pretrained="imagenet"), 3)


def test_pretrained_file_errors(resnet18_file, tmp_path):
    path, state = resnet18_file
    with pytest.raises(FileNotFoundError, match="no such file"):
        build_model(model_variant("base", arch="resnet18", pretrained=str(tmp_path / "nope.pth")), 3)
    with pytest.raises(ValueError, match="does not match torchvision's resnet34"):
        build_model(model_variant("base", arch="resnet34", pretrained=str(path)), 3)
    broken = dict(state)
    broken["layer2.0.conv1.weight"] = torch.zeros(3, 3)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="layer2.0.conv1.weight"):
        build_model(model_variant("base", arch="resnet18", pretrained=str(tmp_path / "broken.pth")), 3)


def test_imagenet_offline_error_then_cached_file(resnet18_file, tmp_path, monkeypatch):
    _, state = resnet18_file
    old_dir = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        def offline(*args, **kwargs):
            raise urllib.error.URLError("no network")

        monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
        cfg = model_variant("base", arch="resnet18", pretrained="imagenet")
        target = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
        with pytest.raises(FileNotFoundError, match="resnet18-f37072fd.pth") as err:
            build_model(cfg, 3)
        assert str(target) in str(err.value)
        target.parent.mkdir(parents=True)
        torch.save(state, target)
        assert_loaded(build_model(cfg, 3), state)
    finally:
        torch.hub.set_dir(old_dir)


def hand_count_macs(model, x, modality):
    """MACs by forward hooks: each conv/linear output element costs its fan-in; the stripe convolutions
    likewise; criss-cross attention costs HW(H + W)(C' + C) (affinity over C', aggregation over C)."""
    total = []

    def conv(m, inp, out):
        total.append(out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])

    def linear(m, inp, out):
        total.append(out.numel() * m.in_features)

    def stripe(m, inp, out):
        total.append(out.numel() * m.weight.shape[2])

    def mca(m, inp, out):
        _, c, h, w = inp[0].shape
        total.append(h * w * (h + w) * (m.query.conv_b.out_channels + c))

    kinds = {torch.nn.Conv2d: conv, torch.nn.Linear: linear, StripeConv1x1: stripe, MCA: mca}
    handles = [m.register_forward_hook(kinds[type(m)]) for m in model.modules() if type(m) in kinds]
    with torch.no_grad():
        model.eval()(x, modality)
    for h in handles:
        h.remove()
    return sum(total)


@pytest.mark.parametrize("variant", ["base", "full"])
def test_complexity_matches_a_hand_count(variant):
    model = tiny(variant)
    params, macs = complexity(model, H, W, "infrared")
    assert macs == hand_count_macs(model, torch.zeros(1, 3, H, W), "infrared")
    assert params == sum(p.numel() for p in model.parameters())


def test_attention_is_not_saturated_at_initialisation():
    """Saturated softmax (one-hot affinities) or tanh at the start would stop MCA's and PCA's gradients."""
    model = tiny("full").train()
    with torch.no_grad():
        maps = model.forward_intermediates(torch.randn(8, 3, 96, 48), "visible")
        for stage in ("layer2", "layer3"):
            mca = model.mca[stage]
            weights = criss_cross_affinity(mca.query(maps[stage]), mca.key(maps[stage]))
            assert weights.amax(dim=-1).mean() < 0.6, stage
        term = model.pca.stripe_weights(maps["layer4"])
    assert (term.abs() > 0.7).float().mean() < 0.2


def test_heads_follow_the_bn_neck_recipe(full_model):
    head = full_model.global_head
    assert not head.neck.bias.requires_grad and torch.all(head.neck.bias == 0)
    assert head.classifier.bias is None
    assert 0.0008 < head.classifier.weight.std().item() < 0.0012
    assert full_model.local_head.classifier.bias is None
