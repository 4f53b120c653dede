"""The aligned (visible, exchanged, infrared) training dataset, the test image dataset and their loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from vireid_lib import EXCHANGED, INFRARED, VISIBLE
from vireid_lib.config import DataConfig, TrainConfig
from vireid_lib.data.cache import ImageCache
from vireid_lib.data.common import split_by_modality
from vireid_lib.data.images import load_image
from vireid_lib.data.interrupts import worker_ignores_sigint
from vireid_lib.data.records import Record
from vireid_lib.data.sampler import AlignedPair, CrossModalityIdentitySampler
from vireid_lib.data.synthetic import default_cache_dir
from vireid_lib.data.transforms import test_transform, train_transforms
from vireid_lib.data.validate import check_images
from vireid_lib.machine import usable_cores

__all__ = ["TrainBatch", "AlignedTrainDataset", "ImageDataset", "collate_train", "build_train_loader",
           "build_test_loader", "ordered_loader", "load_batch", "load_image", "image_cache_dir"]


class TrainBatch(NamedTuple):
    """One training batch (ARCHITECTURE.md): sample j of each modality belongs to identity ``labels[j]``.

    Attributes:
        visible: ``(N, 3, H, W)`` augmented visible images.
        exchanged: ``(N, 3, H, W)`` channel-exchanged copies of the same visible images (DECISIONS §2).
        infrared: ``(N, 3, H, W)`` augmented infrared images.
        labels: ``(N,)`` training labels shared by the three.
    """

    visible: torch.Tensor
    exchanged: torch.Tensor
    infrared: torch.Tensor
    labels: torch.Tensor


class _Images:
    """Images of a record list, from the memory-mapped cache when one is given, else decoded from disk."""

    def __init__(self, records: Sequence[Record], cache: ImageCache | None) -> None:
        self.paths = [r.path for r in records]
        self.cache = cache

    def __getitem__(self, i: int) -> Image.Image:
        return self.cache[i] if self.cache is not None else load_image(self.paths[i])


class AlignedTrainDataset(Dataset):
    """Indexed by an :class:`~vireid_lib.data.sampler.AlignedPair` from :class:`CrossModalityIdentitySampler`;
    yields ``(visible, exchanged, infrared, label)``: the visible image through the visible pipeline, the
    same visible image through the exchanged pipeline (independent randomness), the infrared image through
    the infrared pipeline (DECISIONS §9). The augmentation draws from torch's generator seeded with the pair's
    seed, inside a forked RNG state, so a batch is the same with any number of loader workers and the
    caller's generator is left untouched.

    Args:
        visible: visible training records (labels 0..N-1).
        infrared: infrared training records.
        height: input height.
        width: input width.
        visible_cache: optional resized-image cache of ``visible`` (same order).
        infrared_cache: optional resized-image cache of ``infrared``.
        erasing: probability of channel random erasing in each pipeline (``DataConfig.random_erasing``).
    """

    def __init__(self, visible: Sequence[Record], infrared: Sequence[Record], height: int, width: int,
                 visible_cache: ImageCache | None = None, infrared_cache: ImageCache | None = None,
                 erasing: float = 0.5) -> None:
        self.visible, self.infrared = list(visible), list(infrared)
        self._vis, self._ir = _Images(self.visible, visible_cache), _Images(self.infrared, infrared_cache)
        self.transforms = train_transforms(height, width, erasing)

    def __len__(self) -> int:
        return len(self.visible)

    def __getitem__(self, pair: AlignedPair) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        vi, ii, seed = pair
        label = self.visible[vi].pid
        if self.infrared[ii].pid != label:
            raise ValueError(f"misaligned pair: visible {self.visible[vi].path} has label {label}, infrared "
                             f"{self.infrared[ii].path} has label {self.infrared[ii].pid}")
        vis_img, ir_img = self._vis[vi], self._ir[ii]
        with torch.random.fork_rng(devices=[]):
            # The CPU generator alone, which is all the transforms draw from: torch.manual_seed would also
            # reseed the CUDA generators (outside the fork, so for the whole process) and, before CUDA starts,
            # record its call stack for a lazy reseed, a measurable share of a CPU step (docs/CPU_RECIPE.md).
            torch.default_generator.manual_seed(seed)
            return (self.transforms[VISIBLE](vis_img), self.transforms[EXCHANGED](vis_img),
                    self.transforms[INFRARED](ir_img), label)


def collate_train(samples: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]]) -> TrainBatch:
    """Stack aligned samples into a :class:`TrainBatch`, keeping the sampler's order."""
    vis, exc, ir, labels = zip(*samples)
    return TrainBatch(torch.stack(vis), torch.stack(exc), torch.stack(ir), torch.tensor(labels, dtype=torch.long))


class ImageDataset(Dataset):
    """Test images: yields ``(image, pid, camid)`` for each record, in order.

    Args:
        records: query or gallery records.
        transform: the test pipeline (:func:`~vireid_lib.data.transforms.test_transform`).
        cache: optional resized-image cache of ``records`` (same order).
    """

    def __init__(self, records: Sequence[Record], transform: Callable[[Image.Image], torch.Tensor],
                 cache: ImageCache | None = None) -> None:
        self.records = list(records)
        self.transform = transform
        self._images = _Images(self.records, cache)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        r = self.records[i]
        return self.transform(self._images[i]), r.pid, r.camid


def load_batch(records: Sequence[Record], transform: Callable[[Image.Image], torch.Tensor]) -> torch.Tensor:
    """The images of ``records`` through ``transform`` (usually the test pipeline), stacked ``(N, 3, H, W)`` in
    record order, for inspecting a few images (notebooks, figures); whole splits go through
    :func:`build_test_loader`.

    Raises:
        ValueError: for an empty record list, or (from :func:`load_image`) an unreadable file, named.
    """
    if not records:
        raise ValueError("no records to load")
    return torch.stack([transform(load_image(r.path)) for r in records])


def image_cache_dir() -> Path:
    """Where preprocessed image caches live: ``<$VIREID_CACHE or ~/.cache/vireid>/images``."""
    return default_cache_dir() / "images"


def _cache(records: Sequence[Record], data_cfg: DataConfig) -> ImageCache | None:
    if not data_cfg.cache or not records:
        return None
    # Decoding threads (PIL releases the GIL): every core this process may use, not the loader's worker count
    # (0 in cpu-demo, which left the demo's training-set decode on one of its two cores).
    return ImageCache.build([r.path for r in records], data_cfg.height, data_cfg.width, image_cache_dir(),
                            workers=max(1, data_cfg.num_workers, usable_cores() or 1))


def build_train_loader(reader_or_records: object, data_cfg: DataConfig, train_cfg: TrainConfig, rank: int = 0,
                       world_size: int = 1) -> DataLoader:
    """The training DataLoader: aligned :class:`TrainBatch` es of P identities x K images per modality.

    Its ``batch_sampler`` is a :class:`CrossModalityIdentitySampler`; call
    ``loader.batch_sampler.set_epoch(epoch)`` before each epoch. Every sample's augmentation is seeded by the
    sampler from ``(train_cfg.seed, epoch, rank)``, so the same seed and epoch give the same batches with any
    number of workers.

    Args:
        reader_or_records: a reader (its ``.train``) or a list of training records (labels 0..N-1).
        data_cfg: input size, workers and cache switch.
        train_cfg: ``ids_per_batch``, ``per_modality``, ``seed`` and ``max_steps_per_epoch``.
        rank: this process's rank (distributed training).
        world_size: number of ranks.

    Raises:
        ValueError: an image of the training set (or, for a reader, of its test set) has no readable
            header; the message names it (see ``data/validate.py``).
    """
    records = list(getattr(reader_or_records, "train", reader_or_records))
    # every image the run will read, checked now rather than when first drawn (data/validate.py)
    test = getattr(reader_or_records, "test_images", None)
    check_images([r.path for r in records] + ([r.path for r in test()] if test is not None else []),
                 image_cache_dir().parent / "checked")
    visible, infrared = split_by_modality(records)
    sampler = CrossModalityIdentitySampler([r.pid for r in visible], [r.pid for r in infrared],
                                           ids_per_batch=train_cfg.ids_per_batch,
                                           per_modality=train_cfg.per_modality, seed=train_cfg.seed,
                                           rank=rank, world_size=world_size,
                                           max_batches=train_cfg.max_steps_per_epoch)
    dataset = AlignedTrainDataset(visible, infrared, data_cfg.height, data_cfg.width,
                                  _cache(visible, data_cfg), _cache(infrared, data_cfg), data_cfg.random_erasing)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=data_cfg.num_workers,
                      collate_fn=collate_train, persistent_workers=data_cfg.num_workers > 0,
                      worker_init_fn=worker_ignores_sigint,   # Ctrl-C is the main process's (data/interrupts.py)
                      # its own generator, so starting an epoch leaves the global torch generator untouched
                      generator=torch.Generator().manual_seed(train_cfg.seed + rank))


def build_test_loader(records: Sequence[Record], data_cfg: DataConfig, batch_size: int = 64) -> DataLoader:
    """A DataLoader of ``(images (B, 3, H, W), pids (B,), camids (B,))`` in record order (test pipeline)."""
    dataset = ImageDataset(records, test_transform(data_cfg.height, data_cfg.width), _cache(records, data_cfg))
    return ordered_loader(dataset, batch_size, data_cfg.num_workers)


def ordered_loader(dataset: ImageDataset, batch_size: int, num_workers: int) -> DataLoader:
    """``dataset`` in record order, ``batch_size`` images a batch, its workers leaving Ctrl-C to the main process
    (data/interrupts.py): the loader of :func:`build_test_loader` and of feature extraction
    (:func:`~vireid_lib.evaluation.extract.extract_features`, whose transform may be any)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      worker_init_fn=worker_ignores_sigint)
