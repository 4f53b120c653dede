"""The cross-modality P x K identity sampler (DECISIONS §8 and §2, after CAJ's ``IdentitySampler``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator, NamedTuple, Sequence

import numpy as np


class AlignedPair(NamedTuple):
    """One sample of a batch: a visible and an infrared image of the same identity, and the seed of its
    augmentation (so augmentation depends on the sampler's seed and epoch, not on the worker count)."""

    visible: int
    infrared: int
    seed: int


class CrossModalityIdentitySampler:
    """Batches of ``ids_per_batch`` identities x ``per_modality`` aligned (visible, infrared) index pairs.

    A batch is a list of ``P x K`` :class:`AlignedPair` ``(visible, infrared, seed)``, identity-contiguous: pairs
    ``k*K .. k*K + K - 1`` belong to the k-th identity of the batch, so visible sample j, its exchanged copy
    and infrared sample j share an identity. An identity's K images of a modality are drawn without
    replacement, with replacement only when it has fewer than K. Within an epoch every identity of the
    shard is used before any is reused (identities are taken in chunks of P from a fresh permutation).

    An epoch is ``N_visible // (P x K)`` batches in all (DECISIONS §8), divided between ranks. For distributed
    training the identities (not the images) are sharded: every rank computes the same permutation of the
    identities from ``(seed, epoch)`` and keeps every ``world_size``-th, so no identity is split between
    ranks within an epoch. The whole state is ``(seed, epoch)``: call :meth:`set_epoch` before each epoch
    (a resumed run does the same and gets the same batches).

    Args:
        visible_labels: training label (0..N-1) of each visible image.
        infrared_labels: training label of each infrared image.
        ids_per_batch: P identities per batch (paper: 4).
        per_modality: K images per identity and modality (paper: 4).
        seed: base seed.
        rank: this process's rank.
        world_size: number of ranks.
        max_batches: optional cap on the batches per epoch and rank (``TrainConfig.max_steps_per_epoch``).

    Raises:
        ValueError: when the labels of the two modalities differ, or a rank's shard holds fewer than P
            identities, or the sizes are not positive.
    """

    def __init__(self, visible_labels: Sequence[int], infrared_labels: Sequence[int], ids_per_batch: int = 4,
                 per_modality: int = 4, seed: int = 0, rank: int = 0, world_size: int = 1,
                 max_batches: int | None = None) -> None:
        if ids_per_batch < 1 or per_modality < 1:
            raise ValueError(f"ids_per_batch and per_modality must be positive, got {ids_per_batch}, "
                             f"{per_modality}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}")
        self.visible = _index(visible_labels)
        self.infrared = _index(infrared_labels)
        if set(self.visible) != set(self.infrared):
            only = sorted(set(self.visible) ^ set(self.infrared))[:10]
            raise ValueError(f"every training identity needs visible and infrared images; labels {only} "
                             f"have only one modality")
        self.ids = np.array(sorted(self.visible))
        per_rank = len(self.ids) // world_size
        if per_rank < ids_per_batch:
            raise ValueError(f"{len(self.ids)} identities over {world_size} rank(s) leave {per_rank} per rank, "
                             f"fewer than ids_per_batch={ids_per_batch}; lower ids_per_batch or use more "
                             f"identities")
        self.P, self.K = ids_per_batch, per_modality
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self.num_visible = len(visible_labels)
        self.max_batches = max_batches

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches the next iteration yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = max(1, self.num_visible // (self.P * self.K) // self.world_size)
        return n if self.max_batches is None else max(1, min(n, self.max_batches))

    def _shard(self) -> np.ndarray:
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.ids)
        shard = perm[self.rank::self.world_size]
        return shard[: len(self.ids) // self.world_size]   # equal shard sizes on every rank

    def __iter__(self) -> Iterator[list[AlignedPair]]:
        shard = self._shard()
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, 1])
        queue: list[int] = []
        for _ in range(len(self)):
            batch_ids = []
            while len(batch_ids) < self.P:
                if not queue:
                    queue = [int(p) for p in rng.permutation(shard)]
                pid = queue.pop()
                if pid not in batch_ids:   # a refill may bring back an id already in this batch
                    batch_ids.append(pid)
            batch = []
            for pid in batch_ids:
                vis = _draw(rng, self.visible[pid], self.K)
                ir = _draw(rng, self.infrared[pid], self.K)
                batch.extend(zip(vis, ir))
            seeds = rng.integers(0, 2**63 - 1, size=len(batch))
            yield [AlignedPair(v, i, int(s)) for (v, i), s in zip(batch, seeds)]


def _index(labels: Sequence[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        out[int(label)].append(i)
    return dict(out)


def _draw(rng: np.random.Generator, pool: list[int], k: int) -> list[int]:
    """K indices from ``pool``: without replacement when it has at least K, else with replacement."""
    picked = rng.choice(len(pool), size=k, replace=len(pool) < k)
    return [pool[int(i)] for i in picked]
