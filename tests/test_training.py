"""Training: one epoch (``train_one_epoch``) and its failure handling; ``fit`` end to end is in
test_training_fit.py, the schedule in test_schedule.py, checkpoints in test_checkpoints.py."""

import json
from collections import namedtuple

import numpy as np
import pytest
import torch

from vireid_lib.config import Config, ModelConfig, TrainConfig
from vireid_lib.losses import Objective
from vireid_lib.models import build_model
from vireid_lib.schedule import build_optimizer
from vireid_lib.training import NonFiniteLossError, train_one_epoch

Batch = namedtuple("Batch", "visible exchanged infrared labels")
TINY = ModelConfig(arch="resnet18", parts=2, local_dim=8, mca_stages=(2,), pca=True)


def _batches(n_batches=2, ids=2, k=2, h=32, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        labels = torch.arange(ids).repeat_interleave(k)
        out.append(Batch(*(torch.randn(ids * k, 3, h, w, generator=g) for _ in range(3)), labels))
    return out


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
    logged = json.loads(json.dumps(records[0].to_json()))   # a log.jsonl line reads back as the record
    assert logged == {"epoch": 0, "step": 6, "lr": pytest.approx(0.01), "images_per_s": records[0].images_per_s,
                      "total": records[0].total, **records[0].terms}


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
