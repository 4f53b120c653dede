"""Where a run trains and where its model is evaluated (vireid_lib/distributed.py), hand-worked for every kind
of ``train.device``, with CUDA present and absent (its presence patched, so this runs on any machine)."""

import pytest
import torch

from vireid_lib.config import TrainConfig
from vireid_lib.distributed import evaluation_device, resolve_device


@pytest.mark.parametrize("name, with_two_gpus, with_one, without_cuda", [
    ("auto", "cuda", "cuda", "cpu"), ("cpu", "cpu", "cpu", "cpu"), ("cuda", "cuda", "cuda", "cpu"),
    ("cuda:1", "cuda:1", "cuda", "cpu")])
def test_a_model_is_evaluated_on_cuda_unless_its_run_asked_for_the_cpu_or_there_is_none(
        monkeypatch, name, with_two_gpus, with_one, without_cuda):
    for gpus, expected in ((2, with_two_gpus), (1, with_one), (0, without_cuda)):
        monkeypatch.setattr(torch.cuda, "is_available", lambda gpus=gpus: gpus > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda gpus=gpus: gpus)
        assert evaluation_device(TrainConfig(device=name)) == torch.device(expected)


def test_training_refuses_cuda_where_evaluation_falls_back_to_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device(TrainConfig(device="cuda"))
    assert evaluation_device(TrainConfig(device="cuda")) == torch.device("cpu")
