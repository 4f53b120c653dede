"""How MCA and PCA start and learn (issue 11): the identity start and the attention learning-rate group."""

import dataclasses
from collections import namedtuple

import pytest
import torch

from vireid_lib.config import LossConfig, ModelConfig, TrainConfig
from vireid_lib.losses import Objective
from vireid_lib.models import build_model
from vireid_lib.models.attention import MCA, PCA
from vireid_lib.schedule import build_optimizer, set_epoch_lr
from vireid_lib.training import train_one_epoch

TINY = ModelConfig(arch="resnet18", parts=2, local_dim=8, mca_stages=(2, 3), pca=True)
Batch = namedtuple("Batch", "visible exchanged infrared labels")


def _x(shape=(2, 16, 6, 4), seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("scale", [False, True])
def test_mca_identity_start_returns_its_input_exactly(scale):
    torch.manual_seed(0)
    mca = MCA(16, reduction=4, value_reduction=2, learnable_scale=scale)
    x = _x()
    if scale:  # a scale moved away from 0 must be put back
        with torch.no_grad():
            mca.scale.fill_(0.5)
    assert not torch.equal(mca(x), x)
    mca.identity_start_()
    assert torch.equal(mca(x), x)


@pytest.mark.parametrize("mode", ["add", "gate"])
def test_pca_identity_start_returns_its_input_exactly(mode):
    torch.manual_seed(0)
    pca = PCA(16, parts=3, reduction=4, mode=mode)
    x = _x((2, 16, 6, 4))
    assert not torch.equal(pca(x), x)
    pca.identity_start_()
    assert torch.equal(pca(x), x)


def test_model_with_identity_start_equals_the_model_without_attention_at_step_0():
    torch.manual_seed(0)
    with_att = build_model(dataclasses.replace(TINY, attention_init="identity"), 4).eval()
    without = build_model(dataclasses.replace(TINY, mca_stages=(), pca=False), 4).eval()
    without.load_state_dict({k: v for k, v in with_att.state_dict().items()
                             if not k.startswith(("mca.", "pca."))})
    x = _x((3, 3, 64, 32), seed=1)
    maps = with_att.forward_intermediates(x, "visible")
    assert torch.equal(maps["mca.layer2"], maps["layer2"])
    assert torch.equal(maps["pca"], maps["layer4"] if "mca.layer4" not in maps else maps["mca.layer4"])
    assert torch.equal(with_att(x, "visible").pooled, without(x, "visible").pooled)
    default = build_model(TINY, 4).eval()
    d = default.forward_intermediates(x, "visible")
    assert not torch.equal(d["mca.layer2"], d["layer2"])


def test_identity_start_still_learns():
    """The zeroed layers get gradient at once, so one step moves the attention away from the identity."""
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(TINY, attention_init="identity"), 2)
    opt = build_optimizer(model, TrainConfig(lr=0.05, attention_lr_mult=1.0))
    set_epoch_lr(opt, 9, TrainConfig(lr=0.05))
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(2).repeat_interleave(2)
    batch = Batch(*(torch.randn(4, 3, 64, 32, generator=g) for _ in range(3)), labels)
    train_one_epoch(model, Objective(LossConfig(), True), [batch], opt, epoch=0)
    assert model.mca["layer2"].value.proj.weight.abs().sum() > 0
    assert model.pca.excite.weight.abs().sum() > 0


def test_identity_start_rejects_unknown_names():
    with pytest.raises(ValueError, match="attention_init"):
        build_model(dataclasses.replace(TINY, attention_init="zeros"), 4)


def test_attention_learning_rate_group():
    model = build_model(TINY, 4)
    attention = {id(p) for p in model.attention_parameters()}
    assert attention and attention == {id(p) for p in [*model.mca.parameters(), *model.pca.parameters()]}
    # default: attention trains with the heads, two groups as before
    opt = build_optimizer(model, TrainConfig())
    assert len(opt.param_groups) == 2 and attention <= {id(p) for p in opt.param_groups[1]["params"]}
    # a group of its own at lr x attention_lr_mult; heads stay last, every parameter in exactly one group
    cfg = TrainConfig(lr=0.1, backbone_lr_mult=0.1, attention_lr_mult=0.1)
    opt = build_optimizer(model, cfg)
    backbone, att, heads = opt.param_groups
    assert {id(p) for p in att["params"]} == attention
    assert not ({id(p) for p in heads["params"]} & attention)
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in model.parameters() if p.requires_grad)
    set_epoch_lr(opt, 9, cfg)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01, 0.01, 0.1])
