"""GPU training throughput at the paper's size: the full ResNet-50 model at 288x144, batch 48 (4 ids x (4 visible +
4 exchanged + 4 infrared)), the paper-sysu objective, an SGD step. Needs CUDA; without it the script says so and
exits with status 2.

    python -m benchmarks.bench_gpu                          # every variant, 30 timed steps each
    python -m benchmarks.bench_gpu --steps 50 --out results/bench_gpu.json
    python -m benchmarks.bench_gpu --root /data/SYSU-MM01 --workers 4 8 16   # the loader on the real images

Variants: fp32; bf16 autocast; bf16 + channels_last; bf16 + channels_last + ``torch.compile``; fp16 autocast with a
GradScaler + channels_last. For each: images per second (median over the timed steps, after warm-up; the compile
variant's warm-up includes compilation) and peak CUDA memory. Then the training loader's images per second at
288x144 for each worker count, and whether it keeps up with the fastest variant (ratio >= 1).

Anchors (issue 11): CAJ logs 0.27 s per 96-image iteration, about 355 images/s; the target on one H100 is at least
1,500 images/s with bf16 and channels_last, which puts a 100-epoch SYSU-MM01 run (6.68 M training images,
docs/REPRODUCE.md) under 1.5 h. Measured on one H200 (``results/gpu/``, by ``benchmarks/gpu_session.sh``): see
docs/REPRODUCE.md section 4, whose wall-time table is ``python -m benchmarks.bench_gpu --table`` (tested).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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

RESULTS = Path(__file__).resolve().parents[1] / "results" / "gpu"

EXPERIMENTS = (   # (what, how its training images are counted (docs/DECISIONS.md §8), that count)
    ("SYSU-MM01, one model", "100 epochs x 1,391 steps x 48", 100 * 1391 * 48),
    ("RegDB, 10 trials", "10 x 100 x 128 x 48", 10 * 100 * 128 * 48),
    ("Table 3, 5 variants x 3 seeds (RegDB)", "15 x 100 x 128 x 48", 15 * 100 * 128 * 48),
    ("Figure 4, 3 more part counts x 3 seeds", "9 x 100 x 128 x 48", 9 * 100 * 128 * 48),
)

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


def wall_time_table(files: list[Path] | None = None) -> str:
    """Training hours of each paper experiment at the measured images per second of each eager variant
    (``results/gpu/bench_gpu_*.json``; the compiled variant is listed in its own file, but ``vireid train`` does
    not compile). Evaluation is not counted (minutes)."""
    files = sorted(RESULTS.glob("bench_gpu_*.json")) if files is None else files
    measured = []
    for f in files:
        d = json.loads(f.read_text())
        measured += [(d["device"], r) for r in d["gpu"] if not VARIANTS[r["variant"]]["compile"]]
    head = "| experiment | training images | " + " | ".join(f"{r['variant']} on {dev} ({r['images_per_s']:.0f} img/s)"
                                                       for dev, r in measured) + " |"
    rows = [head, "|" + "---|" * (2 + len(measured))]
    for what, how, n in EXPERIMENTS:
        rows.append(f"| {what} | {how} = {n / 1e6:.2f} M | "
                    + " | ".join(f"{n / r['images_per_s'] / 3600:.1f} h" for _, r in measured) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--root", help="SYSU-MM01 folder for the loader part (default: the synthetic data)")
    p.add_argument("--workers", type=int, nargs="+", default=[4, 8], help="loader worker counts (default 4 8)")
    p.add_argument("--loader-batches", type=int, default=40, help="batches timed per worker count (default 40)")
    p.add_argument("--out", help="write the rows as JSON here")
    p.add_argument("--table", action="store_true",
                   help="print the wall-time table of docs/REPRODUCE.md from results/gpu/ and exit (no GPU needed)")
    args = p.parse_args(argv)
    if args.table:
        print(wall_time_table())
        return 0
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
