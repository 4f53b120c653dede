"""Cost of each Table-3 variant: parameters, multiply-accumulates, CPU training-step speed, peak memory, CUDA speed.

    python benchmarks/bench_model.py                    # everything (the memory part takes a few minutes)
    python benchmarks/bench_model.py --skip-memory      # parameters, MACs and CPU step time only
    python benchmarks/bench_model.py --out results/benchmarks/model.json   # also the record the README reads

1. Parameters and MACs at 288x144 with resnet50 (the paper's network), by ``vireid_lib.models.complexity``
   (``torch.utils.flop_counter.FlopCounterMode``: convolutions, linear layers and the einsums of the
   criss-cross attention, which lower to batched matrix products; pooling and element-wise work are not
   counted). MACs = FLOPs / 2.
2. Training-step speed of the ``cpu-demo`` preset's network and input size (resnet10 at width 32, 96x48) on a
   fixed batch of 4 ids x (4 visible + 4 exchanged + 4 infrared) = 48 images, whatever the preset's batch:
   forward, the full objective, backward and an SGD step. Variants
   are timed in interleaved rounds; the table gives the fastest and the median wall time, images per
   second from the fastest, and the process CPU time per step (least sensitive to a shared CPU), with its
   ratio to ``base+p``.
3. Peak memory of one such step at 288x144, batch 48, resnet50: the peak resident set size of a fresh
   process (each variant in its own) and its growth over the size just before the step (Linux only).
4. With CUDA: the training step at 288x144, batch 48, resnet50, bf16 autocast and channels_last, in images
   per second, and the peak CUDA memory. Skipped without CUDA.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from vireid_lib import EXCHANGED, INFRARED, VISIBLE
from vireid_lib.config import ModelConfig
from vireid_lib.io import atomic_write_json
from vireid_lib.losses import Objective
from vireid_lib.machine import machine_info
from vireid_lib.models import build_model, complexity
from vireid_lib.presets import VARIANTS, model_variant, preset

NUM_CLASSES = 395  # SYSU-MM01 training identities
IDS, PER_MODALITY = 4, 4


def batch(height: int, width: int, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A training batch laid out as the training step builds it: [visible; exchanged; infrared]."""
    n = IDS * PER_MODALITY
    labels = torch.arange(IDS).repeat_interleave(PER_MODALITY).repeat(3).to(device)
    modalities = [VISIBLE] * n + [EXCHANGED] * n + [INFRARED] * n
    return torch.randn(3 * n, 3, height, width, device=device), labels, modalities


def make_step(cfg: ModelConfig, height: int, width: int, device: str = "cpu", amp: bool = False,
              channels_last: bool = False, optimizer: Callable[[Iterator[nn.Parameter]], torch.optim.Optimizer] | None = None,
              compiled: bool = False):
    """A closure running one training step of ``cfg`` on a fixed random batch (``optimizer``: built from the
    model's parameters; default the paper's SGD; ``compiled``: the network through ``torch.compile``, whose
    first call compiles)."""
    model = build_model(cfg, NUM_CLASSES).to(device).train()
    objective = Objective(preset("paper-sysu").loss, cfg.local_branch)
    optimizer = (optimizer or (lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True,
                                                              weight_decay=5e-4)))(model.parameters())
    x, labels, modalities = batch(height, width, device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

    forward = torch.compile(model) if compiled else model

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=amp):
            loss = objective(forward(x, modalities), labels, modalities).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def params_and_macs() -> list[dict]:
    rows = []
    for name in VARIANTS:
        params, macs = complexity(build_model(model_variant(name, arch="resnet50"), NUM_CLASSES), 288, 144)
        rows.append(dict(variant=name, params_m=params / 1e6, gmacs=macs / 1e9))
    return rows


def cpu_step_speed(rounds: int, steps: int) -> list[dict]:
    demo = preset("cpu-demo")
    height, width = demo.data.height, demo.data.width
    steps_of = {name: make_step(model_variant(name, base=demo.model), height, width) for name in VARIANTS}
    wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for step in steps_of.values():
        step()  # warm-up: allocator, kernels
    for _ in range(rounds):
        for name, step in steps_of.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                step()
            wall[name].append((time.perf_counter() - start) / steps)
            cpu[name].append((time.process_time() - start_cpu) / steps)
    # The minimum is the round least disturbed by other processes; CPU time is less sensitive to them still.
    n = 3 * IDS * PER_MODALITY
    return [dict(variant=name, wall_min_s=min(wall[name]), wall_med_s=statistics.median(wall[name]),
                 images_per_s=n / min(wall[name]), cpu_s=min(cpu[name]),
                 cpu_vs_base_p=min(cpu[name]) / min(cpu["base+p"])) for name in VARIANTS]


def memory_child(name: str) -> None:
    """Runs in a fresh process: its peak resident set during one training step, and its size just before."""
    step = make_step(model_variant(name, arch="resnet50"), 288, 144)
    before = _proc_status_mib("VmRSS")
    step()
    print(json.dumps(dict(variant=name, before_mib=before, peak_mib=_proc_status_mib("VmHWM"))))


def _proc_status_mib(field: str) -> float:
    """A memory line of /proc/self/status (Linux): VmRSS is the current resident set, VmHWM its peak since
    this program started (getrusage's ru_maxrss can carry the parent's peak over a fork)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field}; the memory part needs Linux")


def peak_memory() -> list[dict]:
    rows = []
    for name in VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--memory-child", name], capture_output=True, text=True,
                             check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(dict(row, step_mib=row["peak_mib"] - row["before_mib"]))
    return rows


def cuda_speed(steps: int) -> list[dict]:
    rows = []
    for name in VARIANTS:
        step = make_step(model_variant(name, arch="resnet50"), 288, 144, "cuda", amp=True, channels_last=True)
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / steps
        rows.append(dict(variant=name, step_s=seconds, images_per_s=3 * IDS * PER_MODALITY / seconds,
                         peak_gib=torch.cuda.max_memory_allocated() / 2**30))
    return rows


def table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    keys = list(rows[0])
    print(" | ".join(f"{k:>12}" for k in keys))
    for r in rows:
        print(" | ".join(f"{r[k]:>12.3f}" if isinstance(r[k], float) else f"{r[k]:>12}" for k in keys))


def readme_table(record: dict) -> str:
    """The README's model-cost table from a record written with ``--out``: per variant the parameters and MACs
    (288x144, resnet50), the cpu-demo step (fastest round) with its images/s and CPU time against ``base+p``,
    and the peak-memory growth of one 288x144 step (``-`` where the record has no memory part)."""
    steps = {r["variant"]: r for r in record["cpu_step"]}
    memory = {r["variant"]: r for r in record.get("memory") or []}
    lines = ["| variant | params (M) | GMACs | cpu-demo step | images/s | CPU time vs base+p | step peak memory |",
             "|---|---|---|---|---|---|---|"]
    for r in record["params_macs"]:
        s, m = steps[r["variant"]], memory.get(r["variant"])
        lines.append(f"| {r['variant']} | {r['params_m']:.2f} | {r['gmacs']:.3f} | {s['wall_min_s']:.3f} s | "
                     f"{s['images_per_s']:.1f} | {s['cpu_vs_base_p']:.2f}x | "
                     + ("- |" if m is None else f"{m['step_mib'] / 1024:.2f} GiB |"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the results as JSON here (the README's table: readme_table)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds on the CPU")
    parser.add_argument("--steps", type=int, default=3, help="training steps per round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--skip-memory", action="store_true", help="skip the 288x144 peak-memory part")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    record: dict = {"command": "python benchmarks/bench_model.py " + " ".join(sys.argv[1:]), "machine": machine_info(),
                    "threads": args.threads, "rounds": args.rounds, "steps": args.steps}
    record["params_macs"] = params_and_macs()
    table("Parameters (M) and multiply-accumulates (G) at 288x144, resnet50, one image", record["params_macs"])
    demo = preset("cpu-demo")
    record["cpu_step"] = cpu_step_speed(args.rounds, args.steps)
    record["cpu_step_network"] = f"{demo.model.arch} at width {demo.model.width}, {demo.data.height}x{demo.data.width}"
    table(f"CPU training step, cpu-demo preset ({demo.model.arch}, {demo.data.height}x{demo.data.width}, "
          f"batch 48; {args.rounds} rounds of {args.steps} steps)", record["cpu_step"])
    record["memory"] = None if args.skip_memory else peak_memory()
    if record["memory"] is not None:
        table("Peak CPU memory of one training step at 288x144, batch 48, resnet50 (MiB of RSS)", record["memory"])
    record["cuda"] = cuda_speed(steps=20) if torch.cuda.is_available() else None
    if record["cuda"] is not None:
        table(f"CUDA training step at 288x144, batch 48, resnet50, bf16 + channels_last "
              f"({torch.cuda.get_device_name()})", record["cuda"])
    else:
        print("\nCUDA section skipped: no CUDA device")
    record["machine_after"] = machine_info()
    if args.out:
        atomic_write_json(Path(args.out), record)


if __name__ == "__main__":
    main()
