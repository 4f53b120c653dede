"""Training: the paper's schedule, the optimiser groups, RNG and checkpoint round-trips, failure handling."""

import json
import random
from collections import namedtuple

import numpy as np
import pytest
import torch

from vireid_lib import __version__
from vireid_lib.config import Config, ModelConfig, TrainConfig, apply_overrides
from vireid_lib.io import atomic_write
from vireid_lib.losses import Objective
from vireid_lib.models import build_model
from vireid_lib.training import (
    CHECKPOINT_FORMAT,
    NonFiniteLossError,
    build_optimizer,
    config_diff,
    load_checkpoint,
    lr_factor,
    plot_losses,
    rng_state,
    save_checkpoint,
    set_epoch_lr,
    set_rng_state,
    train_one_epoch,
)

Batch = namedtuple("Batch", "visible exchanged infrared labels")
TINY = ModelConfig(arch="resnet18", parts=2, local_dim=8, mca_stages=(2,), pca=True)


def _batches(n_batches=2, ids=2, k=2, h=32, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        labels = torch.arange(ids).repeat_interleave(k)
        out.append(Batch(*(torch.randn(ids * k, 3, h, w, generator=g) for _ in range(3)), labels))
    return out


# ---------------------------------------------------------------------------------------------- schedule

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
    set_epoch_lr(opt, 0, cfg)
    assert (g0["lr"], g1["lr"]) == pytest.approx((0.001, 0.01))  # backbone at 0.1 x, warm-up 1/10
    set_epoch_lr(opt, 25, cfg)
    assert (g0["lr"], g1["lr"]) == pytest.approx((0.001, 0.01))


# ---------------------------------------------------------------------------------------------- RNG, checkpoints

def test_rng_state_round_trip_restores_every_generator(tmp_path):
    state = rng_state()
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    first = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    set_rng_state(torch.load(path, weights_only=True)["rng"])
    second = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    assert first[2] == second[2]


def _fake_ckpt(cfg: Config, value: float = 1.0) -> dict:
    return {"format": CHECKPOINT_FORMAT, "library_version": __version__, "config": cfg.to_json(),
            "model": {"w": torch.full((2,), value)}, "epoch": 1, "step": 3}


def test_interrupted_checkpoint_write_leaves_previous_loadable(tmp_path):
    cfg = Config()
    path = tmp_path / "last.pt"
    save_checkpoint(path, _fake_ckpt(cfg, 1.0))

    def crash_midway(p, write):
        def partial(f):
            f.write(b"PK\x03\x04 half a checkpoint")
            raise KeyboardInterrupt("killed while writing")
        return atomic_write(p, partial)

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _fake_ckpt(cfg, 2.0), write=crash_midway)
    ckpt = load_checkpoint(path, cfg)
    assert torch.equal(ckpt["model"]["w"], torch.full((2,), 1.0))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_load_checkpoint_errors(tmp_path):
    cfg = Config()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable vireid checkpoint"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="not a vireid checkpoint"):
        load_checkpoint(plain)
    good = save_checkpoint(tmp_path / "good.pt", _fake_ckpt(cfg))
    other = apply_overrides(cfg, ["model.arch=resnet18", "loss.margin=0.5"])
    with pytest.raises(ValueError, match=r"different configuration.*loss\.margin.*model\.arch"):
        load_checkpoint(good, other)
    # more epochs or another evaluation setting may resume the same run
    assert load_checkpoint(good, apply_overrides(cfg, ["train.epochs=200", "eval.flip=false"]))["step"] == 3


def test_config_diff_names_dotted_keys():
    cfg = Config()
    assert config_diff(cfg, cfg) == []
    assert config_diff(cfg, apply_overrides(cfg, ["train.lr=0.01", "data.height=64"])) == ["data.height",
                                                                                             "train.lr"]


# ---------------------------------------------------------------------------------------------- one epoch

def test_train_one_epoch_updates_weights_and_logs_every_term():
    model = build_model(TINY, 2)
    opt = build_optimizer(model, TrainConfig(lr=0.01))
    before = [p.detach().clone() for p in model.parameters()]
    records = []
    step = train_one_epoch(model, Objective(Config().loss, True), _batches(), opt, epoch=0, step=5,
                           on_step=records.append)
    assert step == 7 and [r.step for r in records] == [6, 7]
    assert set(records[0].terms) == {"id", "tri", "mse", "local_id", "center", "hc"}
    assert all(np.isfinite(r.total) and r.images_per_s > 0 for r in records)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    json.dumps(records[0].to_json())


def test_non_finite_loss_stops_before_touching_the_weights():
    model = build_model(TINY, 2)
    opt = build_optimizer(model, TrainConfig(lr=0.01))
    bad = _batches(1)[0]
    bad = bad._replace(visible=torch.full_like(bad.visible, float("nan")))
    before = {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    with pytest.raises(NonFiniteLossError, match="non-finite.*epoch 1, step 1.*checkpoint is intact"):
        train_one_epoch(model, Objective(Config().loss, True), [bad], opt, epoch=0)
    after = model.state_dict()
    params = {k for k, _ in model.named_parameters()}
    assert all(torch.equal(before[k], after[k]) for k in before if k in params)


def test_plot_losses_draws_one_panel_per_term(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    log = tmp_path / "log.jsonl"
    rows = [{"event": "step", "epoch": 0, "step": s, "lr": 0.1, "images_per_s": 10.0, "total": 3.0 - s * 0.1,
             "id": 1.0, "tri": 0.5} for s in range(1, 30)] + [{"event": "eval", "epoch": 1, "step": 29, "mAP": 0.2}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fig = plot_losses(tmp_path, smooth=5)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["lr", "total", "id", "tri"]
    with pytest.raises(ValueError, match="no training steps"):
        plot_losses([])


def test_run_folders_follow_vireid_runs(tmp_path, monkeypatch):
    from vireid_lib.training import notebook_run_dir, runs_dir

    monkeypatch.setenv("VIREID_RUNS", str(tmp_path))
    assert runs_dir() == tmp_path
    assert notebook_run_dir() == tmp_path / "notebook-03"
    assert notebook_run_dir(smoke=True) == tmp_path / "notebook-03-smoke"


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


def test_cosine_run_cannot_resume_with_another_epoch_count(tmp_path):
    cfg = Config(train=TrainConfig(schedule="cosine", epochs=4))
    save_checkpoint(tmp_path / "c.pt", {"format": CHECKPOINT_FORMAT, "config": cfg.to_json()})
    longer = apply_overrides(cfg, ["train.epochs=8"])
    with pytest.raises(ValueError, match="train.epochs"):
        load_checkpoint(tmp_path / "c.pt", longer)
    step = Config(train=TrainConfig(epochs=4))
    save_checkpoint(tmp_path / "s.pt", {"format": CHECKPOINT_FORMAT, "config": step.to_json()})
    load_checkpoint(tmp_path / "s.pt", apply_overrides(step, ["train.epochs=8"]))   # step: resumable
