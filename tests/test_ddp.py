"""Distributed training: two CPU processes on the gloo backend end with identical weights."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vireid_lib.config import Config, DataConfig, ModelConfig, TrainConfig
from vireid_lib.data import open_dataset
from vireid_lib.models import build_model
from vireid_lib.seeding import seed_everything
from vireid_lib.training import fit, make_train_loader

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="needs torch.distributed with gloo")


def tiny_config(epochs: int = 1) -> Config:
    return Config(
        name="tiny-ddp",
        data=DataConfig(dataset="sysu", height=32, width=16, num_workers=0, cache=False, synthetic_smoke=True),
        model=ModelConfig(arch="resnet18", parts=2, local_dim=8, mca_stages=(3,)),
        train=TrainConfig(epochs=epochs, lr=0.01, warmup_epochs=1, ids_per_batch=2, per_modality=2,
                          max_steps_per_epoch=2, eval_every=1, device="cpu"),
    )


def _worker(rank: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    os.environ["LOCAL_RANK"] = str(rank)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=world)
    try:
        cfg = tiny_config(1)
        res = fit(cfg, f"{tmp}/run", progress=False, eval_fn=lambda m, c, r: {"mAP": 0.5})
        torch.save(res.model.state_dict(), f"{tmp}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    open_dataset(tiny_config().data)  # generate the data once, before the ranks race for it
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # ... and they trained: the weights moved away from the common initialisation
    cfg = tiny_config(1)
    seed_everything(cfg.train.seed)
    init = build_model(cfg.model, open_dataset(cfg.data).num_train_ids).state_dict()
    assert any(not torch.equal(a[k], init[k]) for k in a)
    # only rank 0 wrote the run folder and the log: one line per step, not one per rank; its lock's holder
    # record went with it (the empty lock file stays)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {"config.json", "best.pt", "last.pt", "log.jsonl", ".vireid.lock",
                                                "MODEL_CARD.md", "tensorboard"}
    steps = [line for line in (run / "log.jsonl").read_text().splitlines() if '"event": "step"' in line]
    assert len(steps) == 2


def test_ranks_receive_disjoint_whole_identities():
    cfg = tiny_config()
    reader = open_dataset(cfg.data)
    labels = []
    for rank in range(2):
        loader = make_train_loader(cfg, reader, epoch=0, rank=rank, world_size=2)
        labels.append({int(x) for batch in loader for x in batch.labels})
    assert labels[0] and labels[1] and not labels[0] & labels[1]
