"""Wall time of one ``cpu-demo`` training step on this machine, data loading included, for ``--set`` variants:
what the recipe's minutes buy (docs/CPU_RECIPE.md). Each variant trains a few dozen steps of the real loop
(``training.fit``) on the synthetic SYSU-MM01 layout; the first steps (start-up, caches) are not timed.

    python -m benchmarks.step_time                                    # the variants of docs/CPU_RECIPE.md
    python -m benchmarks.step_time --variants "" "train.per_modality=2" --out results/recipe/step_time.json

Run it on an otherwise idle machine: the numbers are wall-clock times.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from vireid_lib.config import apply_overrides
from vireid_lib.data import open_dataset
from vireid_lib.io import atomic_write_json
from vireid_lib.machine import machine_info
from vireid_lib.presets import preset
from vireid_lib.training import fit

# The recipe before this page's last change, and that change one piece at a time (each a comma-separated --set list).
VARIANTS = (
    "data.random_erasing=0.5,train.per_modality=4,train.channels_last=false,data.num_workers=1",
    "data.random_erasing=0,train.per_modality=4,train.channels_last=false,data.num_workers=1",
    "data.random_erasing=0,train.per_modality=4,train.channels_last=true,data.num_workers=1",
    "data.random_erasing=0,train.per_modality=2,train.channels_last=true,data.num_workers=1",
    "",   # the cpu-demo preset as it is
)


def step_seconds(sets: list[str], steps: int, skip: int) -> float:
    """Median wall seconds between consecutive training steps after the first ``skip``."""
    cfg = apply_overrides(preset("cpu-demo"), [*sets, "train.epochs=1", f"train.max_steps_per_epoch={steps}",
                                                "train.eval_every=0", "train.tensorboard=false"])
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as run:
        fit(cfg, run, resume=False, progress=False, reader=open_dataset(cfg.data),
            on_step=lambda record: stamps.append(time.perf_counter()))
    return statistics.median(b - a for a, b in zip(stamps[skip:], stamps[skip + 1:]))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), help="comma-separated --set lists ('' = preset)")
    p.add_argument("--steps", type=int, default=45, help="steps per variant (default 45)")
    p.add_argument("--skip", type=int, default=10, help="untimed first steps (default 10)")
    p.add_argument("--rounds", type=int, default=2, help="passes over the variants; the median is kept")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="write the rows as JSON here")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    times: dict[str, list[float]] = {v: [] for v in a.variants}
    for _ in range(a.rounds):   # interleaved rounds, so a burst of other work hits every variant alike
        for v in a.variants:
            times[v].append(step_seconds([s for s in v.split(",") if s], a.steps, a.skip))
    print("| --set (cpu-demo preset) | ms per step | steps in 4 minutes |\n|---|---|---|")
    rows = []
    for v, ts in times.items():
        ms = 1000 * statistics.median(ts)
        rows.append({"set": v, "ms_per_step": round(ms, 1), "rounds_ms": [round(1000 * t, 1) for t in ts]})
        print(f"| {v or '(the preset)'} | {ms:.0f} | {240_000 / ms:.0f} |")
    if a.out:
        atomic_write_json(a.out, {"rows": rows, "threads": a.threads, "steps": a.steps, "skip": a.skip,
                                  "machine": machine_info()})


if __name__ == "__main__":
    main()
