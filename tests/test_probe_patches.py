"""benchmarks/probe_recipe.py's network patches reach the network ``fit`` builds (``training._build`` calls the
name ``training.build_model``): ``--shared-stem`` (the infrared images through the visible stem) and ``--init``
(the backbone of a checkpoint). The shared stem once patched ``vireid_lib.models.build_model`` only, after
``training`` had imported the function under its own name: a silent no-op."""

from __future__ import annotations

import sys

import pytest
import torch

from benchmarks import probe_recipe
from vireid_lib import training
from vireid_lib.config import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, TrainConfig
from vireid_lib.data import open_dataset

TINY = ModelConfig(arch="resnet18", parts=2, local_dim=8, mca_stages=(3,))


def test_shared_stem_reaches_the_network_fit_builds(monkeypatch):
    monkeypatch.setattr(training, "build_model", training.build_model)   # restored after the test
    probe_recipe._patch_shared_stem()
    model = training.build_model(TINY, 8)
    assert model.backbone.stems["infrared"] is model.backbone.stems["visible"]


def test_init_starts_the_network_fit_builds_from_the_checkpoints_backbone(tmp_path, monkeypatch):
    cfg = Config(name="tiny", data=DataConfig(dataset="sysu", height=32, width=16, num_workers=0, cache=False,
                                              synthetic_smoke=True),
                 model=TINY, loss=LossConfig(),
                 train=TrainConfig(epochs=1, lr=0.01, warmup_epochs=1, ids_per_batch=2, per_modality=2,
                                   max_steps_per_epoch=2, eval_every=0, device="cpu"),
                 eval=EvalConfig(batch_size=16, flip=False))
    reader = open_dataset(cfg.data)
    training.fit(cfg, tmp_path, progress=False, eval_fn=lambda m, c, r: {}, reader=reader)
    donor = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    monkeypatch.setattr(training, "build_model", training.build_model)
    probe_recipe._patch_init(str(tmp_path / "last.pt"))
    start = training.build_model(TINY, reader.num_train_ids).state_dict()
    assert all(torch.equal(start[k], donor[k]) for k in start if k.startswith("backbone."))
    assert not all(torch.equal(start[k], donor[k]) for k in start if not k.startswith("backbone."))


def test_init_is_refused_in_one_line_before_any_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIREID_CACHE", str(tmp_path / "cache"))
    for argv, said in ((["--tag", "x", "--init", str(tmp_path / "none.pt")], "no checkpoint at"),
                       (["--tag", "x", "--init", "a.pt", "--shared-stem"], "would load both stems")):
        monkeypatch.setattr(sys, "argv", ["probe_recipe.py", *argv])
        with pytest.raises(SystemExit):
            probe_recipe.main()
        assert said in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()
