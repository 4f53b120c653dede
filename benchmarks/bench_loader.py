"""Training-loader throughput: images per second delivered by build_train_loader, by worker count and
with or without the memory-mapped image cache, on the default synthetic SYSU-MM01 dataset.

One "image" is one of the three tensors of a pair (visible, exchanged, infrared), so a batch of
4 ids x 4 pairs counts 48 images, the unit of the training step's images/s (benchmarks/bench_model.py).

    python benchmarks/bench_loader.py [--height 288 --width 144] [--batches 60] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from vireid_lib.config import DataConfig, TrainConfig
from vireid_lib.data import SYSUMM01, synthetic
from vireid_lib.data.dataset import build_train_loader


def throughput(reader: SYSUMM01, cfg: DataConfig, train: TrainConfig, batches: int) -> dict:
    """Build the training loader and time ``batches`` batches after 5 warm-up ones.

    Returns:
        ``{"build_s", "images_per_s"}``; images count each of a pair's three tensors.
    """
    t0 = time.perf_counter()
    loader = build_train_loader(reader, cfg, train)
    build = time.perf_counter() - t0
    it = iter(loader)
    for _ in range(5):
        next(it)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        n += 3 * len(batch.labels)
    dt = time.perf_counter() - t0
    del it, loader
    return {"build_s": build, "images_per_s": n / dt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=288)
    parser.add_argument("--width", type=int, default=144)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    reader = SYSUMM01(synthetic.synthetic_root("sysu"))
    train = TrainConfig(seed=0)
    print(f"cores: {os.cpu_count()}; input {args.height}x{args.width}; batch "
          f"{train.ids_per_batch} ids x {train.per_modality} pairs x 3 = "
          f"{3 * train.ids_per_batch * train.per_modality} images; {args.batches} batches after 5 warm-up")
    print(f"{'workers':>7} {'cache':>6} {'build s':>8} {'images/s':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VIREID_CACHE"] = tmp   # a cold cache: the build time below is the first-use cost
        for cache in (False, True):
            for workers in args.workers:
                cfg = DataConfig(height=args.height, width=args.width, num_workers=workers, cache=cache)
                r = throughput(reader, cfg, train, args.batches)
                print(f"{workers:>7} {str(cache):>6} {r['build_s']:>8.1f} {r['images_per_s']:>9.0f}")


if __name__ == "__main__":
    main()
