"""Checkpoints and RNG states: round-trips, atomic writes, checked reads (``vireid_lib.checkpoints``,
``vireid_lib.seeding``)."""

import json
import random

import numpy as np
import pytest
import torch

from vireid_lib import __version__
from vireid_lib.checkpoints import (CHECKPOINT_FORMAT, checkpoint_config, config_diff, load_checkpoint,
                                    resume_conflicts, save_checkpoint)
from vireid_lib.config import Config, TrainConfig, apply_overrides
from vireid_lib.io import atomic_write
from vireid_lib.seeding import rng_state, set_rng_state


def test_rng_state_round_trip_restores_every_generator(tmp_path):
    state = rng_state()
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    first = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    set_rng_state(torch.load(path, weights_only=True)["rng"])
    second = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    assert first[2] == second[2]


def test_each_cuda_device_gets_its_own_state_and_missing_devices_are_left_out(monkeypatch):
    """A state saved on a machine with two GPUs, restored on one with one (CUDA's calls recorded, so this
    runs anywhere): the first device gets the first state, as a CPU tensor, and the second is left out."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: calls.append((s, device)))
    state = rng_state()
    state["cuda"] = [torch.full((8,), 1, dtype=torch.uint8), torch.full((8,), 2, dtype=torch.uint8)]
    set_rng_state(state)
    assert len(calls) == 1 and calls[0][1] == 0 and torch.equal(calls[0][0], state["cuda"][0])
    assert calls[0][0].device.type == "cpu"


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


def test_cosine_run_cannot_resume_with_another_epoch_count(tmp_path):
    cfg = Config(train=TrainConfig(schedule="cosine", epochs=4))
    save_checkpoint(tmp_path / "c.pt", {"format": CHECKPOINT_FORMAT, "config": cfg.to_json()})
    longer = apply_overrides(cfg, ["train.epochs=8"])
    with pytest.raises(ValueError, match="train.epochs"):
        load_checkpoint(tmp_path / "c.pt", longer)
    step = Config(train=TrainConfig(epochs=4))
    save_checkpoint(tmp_path / "s.pt", {"format": CHECKPOINT_FORMAT, "config": step.to_json()})
    load_checkpoint(tmp_path / "s.pt", apply_overrides(step, ["train.epochs=8"]))   # step: resumable


@pytest.mark.parametrize("saved,want", [(True, "fused"), (None, "default"), (False, "default")])
def test_a_checkpoint_from_before_the_adamw_kernel_field_names_the_kernel_it_ran(saved, want):
    """The committed grids' checkpoints predate train.adamw_kernel; their AdamW state says which kernel ran (its
    ``fused`` flag), and the config read back says the same, so such a run resumes under the ablation preset."""
    cfg = Config(train=TrainConfig(optimizer="adamw"))
    d = cfg.to_dict()
    del d["train"]["adamw_kernel"]
    ckpt = {"config": json.dumps(d), "optimizer": {"param_groups": [{"lr": 0.1, "fused": saved}]}}
    assert checkpoint_config(ckpt).train.adamw_kernel == want
    resumed = apply_overrides(cfg, [f"train.adamw_kernel={want}"])
    assert resume_conflicts(checkpoint_config(ckpt), resumed) == []
    # a config that names its kernel is read as written; an SGD run's field keeps its default
    named = {**ckpt, "config": json.dumps(apply_overrides(cfg, ["train.adamw_kernel=fused"]).to_dict())}
    assert checkpoint_config(named).train.adamw_kernel == "fused"
    sgd = Config().to_dict()
    del sgd["train"]["adamw_kernel"]
    assert checkpoint_config({**ckpt, "config": json.dumps(sgd)}).train.adamw_kernel == "fused"


def test_old_checkpoint_configs_without_optimizer_state_or_of_sgd_runs():
    """No saved AdamW state (or none at all) reads as the default kernel, a stored config that is not a mapping is
    refused in one line, and an SGD run resumes whatever its (unused) kernel field says."""
    d = Config(train=TrainConfig(optimizer="adamw")).to_dict()
    del d["train"]["adamw_kernel"]
    for state in ({}, {"optimizer": None}, {"optimizer": {"param_groups": []}}):
        assert checkpoint_config({"config": json.dumps(d), **state}).train.adamw_kernel == "default"
    with pytest.raises(ValueError, match="expected a mapping"):
        checkpoint_config({"config": json.dumps([1, 2])})
    sgd = Config()
    assert resume_conflicts(sgd, apply_overrides(sgd, ["train.adamw_kernel=default"])) == []
    adamw = Config(train=TrainConfig(optimizer="adamw"))
    assert resume_conflicts(adamw, apply_overrides(adamw, ["train.adamw_kernel=default"])) == ["train.adamw_kernel"]
