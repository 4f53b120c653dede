"""The paper's learning-rate schedule and the optimiser's parameter groups (``vireid_lib.schedule``)."""

import dataclasses

import numpy as np
import pytest
import torch

from vireid_lib.config import ModelConfig, TrainConfig
from vireid_lib.models import build_model
from vireid_lib.schedule import build_optimizer, lr_factor, set_epoch_lr

TINY = ModelConfig(arch="resnet18", parts=2, local_dim=8, mca_stages=(2,), pca=True)


@pytest.mark.parametrize("epoch, factor", [
    (0, 0.1),    # warm-up: (epoch + 1) / 10, as CAJ's adjust_learning_rate
    (9, 1.0),    # last warm-up epoch reaches the base rate
    (10, 1.0),
    (19, 1.0),
    (20, 0.1),   # paper: decays to 0.01 (= 0.1 x 0.1) at epoch 20
    (49, 0.1),
    (50, 0.01),  # paper: 0.001 (= 0.1 x 0.01) at epoch 50
    (99, 0.01),
])
def test_paper_schedule(epoch, factor):
    assert lr_factor(epoch) == pytest.approx(factor)
    assert TrainConfig().lr * lr_factor(epoch) == pytest.approx(0.1 * factor)


def test_schedule_warmup_is_linear_and_rejects_negative_epochs():
    assert [round(lr_factor(e), 6) for e in range(10)] == [round((e + 1) / 10, 6) for e in range(10)]
    short = TrainConfig(warmup_epochs=2, milestones=(3,), gamma=0.5)
    assert [lr_factor(e, short) for e in range(5)] == [0.5, 1.0, 1.0, 0.5, 0.5]
    with pytest.raises(ValueError):
        lr_factor(-1)


def test_optimizer_groups_and_rates():
    model = build_model(TINY, 4)
    cfg = TrainConfig()
    opt = build_optimizer(model, cfg)
    backbone = {id(p) for p in model.backbone_parameters()}
    g0, g1 = opt.param_groups
    assert {id(p) for p in g0["params"]} <= backbone and len(g0["params"]) > 0
    assert not ({id(p) for p in g1["params"]} & backbone) and len(g1["params"]) > 0
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in g0["params"] + g1["params"]} == trainable
    assert g0["nesterov"] and g0["momentum"] == 0.9 and g0["weight_decay"] == 5e-4
    # the head's rate 0.1 x lr_factor, the backbone's a tenth of it (hand values of the paper's schedule)
    for epoch, head in [(0, 0.01), (4, 0.05), (15, 0.1), (25, 0.01), (60, 0.001)]:
        assert set_epoch_lr(opt, epoch, cfg) == pytest.approx(head), epoch
        assert (g0["lr"], g1["lr"]) == pytest.approx((head / 10, head)), epoch


def test_cosine_schedule_hand_values():
    cfg = TrainConfig(schedule="cosine", epochs=5, warmup_epochs=1)
    # t = (epoch - 1) / 4 after the warm-up epoch: 0, 1/4, 1/2, 3/4.
    assert [lr_factor(e, cfg) for e in range(5)] == pytest.approx(
        [1.0, 1.0, 0.5 * (1 + np.cos(np.pi / 4)), 0.5, 0.5 * (1 + np.cos(3 * np.pi / 4))])
    assert lr_factor(2, TrainConfig(schedule="cosine", epochs=10, warmup_epochs=4)) == pytest.approx(0.75)


def test_adamw_optimizer_keeps_the_two_groups():
    model = torch.nn.Linear(2, 2)
    model.backbone_parameters = lambda: [model.weight]
    model.head_parameters = lambda: [model.bias]
    opt = build_optimizer(model, TrainConfig(optimizer="adamw", lr=0.01, backbone_lr_mult=0.5, momentum=0.8))
    assert isinstance(opt, torch.optim.AdamW)
    assert [g["lr"] for g in opt.param_groups] == [0.005, 0.01] and opt.defaults["betas"] == (0.8, 0.999)
    with pytest.raises(ValueError, match="optimizer"):
        build_optimizer(model, TrainConfig(optimizer="adam"))


def _twin_linears() -> tuple[torch.nn.Linear, torch.nn.Linear]:
    """Two copies of one small layer, its weight the backbone's group and its bias the heads'."""
    torch.manual_seed(0)
    a, b = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    for m in (a, b):
        m.backbone_parameters = lambda m=m: [m.weight]
        m.head_parameters = lambda m=m: [m.bias]
    return a, b


def _five_steps(*pairs: tuple[torch.nn.Module, torch.optim.Optimizer]) -> None:
    """Five optimiser steps of each (model, optimiser) pair on one batch."""
    x = torch.randn(8, 5)
    for _ in range(5):
        for m, opt in pairs:
            opt.zero_grad()
            m(x).square().sum().backward()
            opt.step()


def test_adamw_fused_kernel_matches_the_reference_update():
    """build_optimizer's AdamW uses the fused kernel on the CPU; its steps match torch's for-loop AdamW."""
    a, b = _twin_linears()
    cfg = TrainConfig(optimizer="adamw", lr=0.01, backbone_lr_mult=0.5, weight_decay=0.05)
    fused = build_optimizer(a, cfg)
    assert fused.defaults["fused"] is True
    reference = torch.optim.AdamW([{"params": [b.weight], "lr": 0.005}, {"params": [b.bias], "lr": 0.01}],
                                  betas=(cfg.momentum, 0.999), weight_decay=0.05, foreach=False)
    _five_steps((a, fused), (b, reference))
    torch.testing.assert_close(a.weight, b.weight)
    torch.testing.assert_close(a.bias, b.bias)


def test_adamw_default_kernel_is_the_for_loop_update_bit_for_bit():
    """train.adamw_kernel="default" (the ablation preset's, the committed grids' kernel) is torch's for-loop
    AdamW exactly, every bit, so a run repeats the grids' weights; "fused" is only close to it."""
    a, b = _twin_linears()
    cfg = TrainConfig(optimizer="adamw", lr=0.01, backbone_lr_mult=0.5, weight_decay=0.05, adamw_kernel="default")
    default = build_optimizer(a, cfg)
    assert default.defaults["fused"] is None          # no choice passed, as the grids' code did
    reference = torch.optim.AdamW([{"params": [b.weight], "lr": 0.005}, {"params": [b.bias], "lr": 0.01}],
                                  betas=(cfg.momentum, 0.999), weight_decay=0.05, foreach=False)
    _five_steps((a, default), (b, reference))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert build_optimizer(a, dataclasses.replace(cfg, adamw_kernel="fused")).defaults["fused"] is True
