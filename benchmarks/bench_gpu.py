"""GPU training throughput at the paper's size: the full ResNet-50 model at 288x144, batch 48 (4 ids x (4 visible +
4 exchanged + 4 infrared)), the paper-sysu objective, an SGD step. Needs CUDA; without it the script says so and
exits with status 2.

    python benchmarks/bench_gpu.py                          # every variant, 30 timed steps each
    python benchmarks/bench_gpu.py --steps 50 --out results/bench_gpu.json
    python benchmarks/bench_gpu.py --root /data/SYSU-MM01 --workers 4 8 16   # the loader on the real images

Variants: fp32; bf16 autocast; bf16 + channels_last; bf16 + channels_last + ``torch.compile``; fp16 autocast with a
GradScaler + channels_last. For each: images per second (median over the timed steps, after warm-up; the compile
variant's warm-up includes compilation) and peak CUDA memory. Then the training loader's images per second at
288x144 for each worker count, and whether it keeps up with the fastest variant (ratio >= 1).

Anchors (issue 11): CAJ logs 0.27 s per 96-image iteration, about 355 images/s; the target on one H100 is at least
1,500 images/s with bf16 and channels_last, which puts a 100-epoch SYSU-MM01 run (6.68 M training images,
docs/REPRODUCE.md) under 1.5 h. No GPU was available where this script was written, so it has not been run yet.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.bench_loader import throughput
from benchmarks.bench_model import IDS, NUM_CLASSES, PER_MODALITY, batch
from vireid_lib.config import DataConfig, TrainConfig
from vireid_lib.data import open_dataset
from vireid_lib.io import atomic_write_json
from vireid_lib.losses import Objective
from vireid_lib.models import build_model
from vireid_lib.presets import preset

VARIANTS = {
    "fp32": dict(amp="none", channels_last=False, compile=False),
    "bf16": dict(amp="bf16", channels_last=False, compile=False),
    "bf16+cl": dict(amp="bf16", channels_last=True, compile=False),
    "bf16+cl+compile": dict(amp="bf16", channels_last=True, compile=True),
    "fp16+scaler+cl": dict(amp="fp16", channels_last=True, compile=False),
}


def gpu_step_speed(name: str, steps: int, warmup: int) -> dict:
    """Images per second and peak memory of one variant's training step (fresh model, fixed batch)."""
    v = VARIANTS[name]
    torch.manual_seed(0)
    cfg = preset("paper-sysu")
    model = build_model(dataclasses.replace(cfg.model, pretrained=None), NUM_CLASSES).cuda()
    objective = Objective(cfg.loss, cfg.model.local_branch)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x, labels, modalities = batch(288, 144, "cuda")
    if v["channels_last"]:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model) if v["compile"] else model
    scaler = torch.amp.GradScaler("cuda") if v["amp"] == "fp16" else None
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(v["amp"])

    def step() -> None:
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            out = forward(x, modalities)
        loss = objective(out, labels, modalities).total
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    n = x.shape[0]
    return dict(variant=name, images_per_s=n / statistics.median(times), step_ms=1000 * statistics.median(times),
                peak_gib=torch.cuda.max_memory_allocated() / 2**30, batch=n)


def loader_speed(root: str | None, workers: list[int], batches: int) -> list[dict]:
    """The training loader's images per second at 288x144 for each worker count (bench_loader's measure)."""
    rows = []
    for w in workers:
        data = DataConfig(dataset="sysu", root=root, height=288, width=144, num_workers=w)
        reader = open_dataset(data)
        r = throughput(reader, data, TrainConfig(ids_per_batch=IDS, per_modality=PER_MODALITY), batches)
        rows.append(dict(workers=w, images_per_s=r["images_per_s"], cache=data.cache))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--root", help="SYSU-MM01 folder for the loader part (default: the synthetic data)")
    p.add_argument("--workers", type=int, nargs="+", default=[4, 8], help="loader worker counts (default 4 8)")
    p.add_argument("--loader-batches", type=int, default=40, help="batches timed per worker count (default 40)")
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device here; run it on a machine with a GPU", file=sys.stderr)
        return 2
    device = torch.cuda.get_device_name()
    print(f"training step at 288x144, batch {IDS * PER_MODALITY * 3}, resnet50, full model ({device})")
    print("| variant | images/s | step ms | peak GiB |\n|---|---|---|---|", flush=True)
    rows = []
    for v in args.variants:   # each row as soon as it is measured: a later variant may be stopped by a timeout
        rows.append(r := gpu_step_speed(v, args.steps, args.warmup))
        print(f"| {r['variant']} | {r['images_per_s']:.0f} | {r['step_ms']:.1f} | {r['peak_gib']:.2f} |", flush=True)
    best = max(r["images_per_s"] for r in rows)
    loader = loader_speed(args.root, args.workers, args.loader_batches)
    print("\n| loader workers | images/s | keeps up with the fastest step (ratio) |\n|---|---|---|")
    for r in loader:
        print(f"| {r['workers']} | {r['images_per_s']:.0f} | {r['images_per_s'] / best:.2f} |")
    if args.out:
        atomic_write_json(Path(args.out), {"device": device, "steps": args.steps, "gpu": rows, "loader": loader})
    return 0


if __name__ == "__main__":
    sys.exit(main())
