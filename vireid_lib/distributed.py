"""The training device and the ``torchrun`` process group: which device, which rank, and the few collective
steps :func:`~vireid_lib.training.fit` needs (equal step counts, identical buffers, every rank's RNG state).

Start a distributed run with ``torchrun --nproc_per_node N vireid train ...``: each rank gets whole identities
(so the centre losses of eqs. (11)–(13) stay correct per rank), and only rank 0 logs, evaluates and writes.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from vireid_lib.config import TrainConfig
from vireid_lib.seeding import rng_state


def evaluation_device(cfg: TrainConfig) -> torch.device:
    """Where :func:`~vireid_lib.evaluation.protocols.evaluate` runs a model of a run trained with ``cfg``:
    CUDA when the run did not ask for the CPU and CUDA is here (``cfg.device``'s own index when this machine
    has it, else the current device), else the CPU. Unlike :func:`resolve_device` it never refuses: a
    checkpoint trained on a GPU is evaluated on a machine without one, or with fewer, too."""
    if cfg.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    named = torch.device(cfg.device) if cfg.device.startswith("cuda") else torch.device("cuda")
    return named if named.index is None or named.index < torch.cuda.device_count() else torch.device("cuda")


def resolve_device(cfg: TrainConfig, local_rank: int = 0) -> torch.device:
    """The training device: ``cfg.device``, where ``"auto"`` means CUDA when available.

    Raises:
        ValueError: CUDA is asked for but not available, or autocast is asked for without CUDA.
    """
    name = cfg.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"train.device={cfg.device!r} but CUDA is not available; use train.device=cpu")
    try:
        device = torch.device(f"cuda:{local_rank}" if name == "cuda" else name)
    except RuntimeError:
        raise ValueError(f"train.device={cfg.device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if cfg.amp not in ("none", "bf16", "fp16"):
        raise ValueError(f"train.amp must be none, bf16 or fp16, got {cfg.amp!r}")
    if cfg.amp != "none" and device.type != "cuda":
        raise ValueError(f"train.amp={cfg.amp} is a CUDA option; use train.amp=none on {device.type}")
    return device


def init_distributed(cfg: TrainConfig) -> tuple[int, int, int, bool]:
    """Join the ``torchrun`` process group when launched by it.

    Returns:
        ``(rank, world size, local rank, whether this call created the process group)``; ``(0, 1, 0, False)``
        for a single process.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), False
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0, False
    use_cuda = cfg.device != "cpu" and torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), local_rank, True


def common_steps(n: int, cap: int | None, world: int, device: torch.device) -> int:
    """Steps this epoch: the loader's length, capped, and equal on every rank (DDP needs that).

    Raises:
        ValueError: the sampler yields no batch.
    """
    steps = n if cap is None else min(n, cap)
    if world > 1:
        t = torch.tensor([steps], device=device if device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        steps = int(t.item())
    if steps < 1:
        raise ValueError("the training sampler yields no batch: fewer identities with both modalities than "
                         "train.ids_per_batch (per rank); lower train.ids_per_batch or use fewer ranks")
    return steps


def broadcast_buffers(model: nn.Module, world: int) -> None:
    """Give every rank rank 0's buffers. DDP syncs buffers at the start of a forward, so the last step's BN
    statistics differ per rank until they are copied; after this every rank ends the epoch in one state."""
    if world > 1:
        for buf in model.buffers():
            dist.broadcast(buf, 0)


def barrier(world: int) -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if world > 1:
        dist.barrier()


def gather_rng(world: int) -> list[dict[str, Any]]:
    """Every rank's :func:`~vireid_lib.seeding.rng_state`, in rank order."""
    state = rng_state()
    if world == 1:
        return [state]
    states: list[Any] = [None] * world
    dist.all_gather_object(states, state)
    return states
