"""Wall time of one ``cpu-demo`` training step on this machine, data loading included, for ``--set`` variants:
what the recipe's minutes buy (docs/CPU_RECIPE.md). Each variant trains a few dozen steps of the real loop
(``training.fit``) on the synthetic SYSU-MM01 layout; the first steps (start-up, caches) are not timed. Then
AdamW's fused kernel against its default on a fixed batch (``training`` uses the fused one), and with
``--compile`` ``torch.compile`` against eager on that batch.

    python -m benchmarks.step_time                                    # the variants of docs/CPU_RECIPE.md
    python -m benchmarks.step_time --variants "" "train.per_modality=2" --out results/recipe/step_time.json
    python -m benchmarks.step_time --table         # the table of the committed record (or of the one named)
    python -m benchmarks.step_time --compile --out results/recipe/step_time.json   # with torch.compile

Run it on an otherwise idle machine: the numbers are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.bench_model import make_step
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
    # from random weights: a step's time does not depend on the start, and a variant may change the network
    cfg = apply_overrides(preset("cpu-demo"), ["model.pretrained=null", *sets, "train.epochs=1",
                                               f"train.max_steps_per_epoch={steps}", "train.eval_every=0",
                                               "train.tensorboard=false"])
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as run:
        fit(cfg, run, resume=False, progress=False, reader=open_dataset(cfg.data),
            on_step=lambda record: stamps.append(time.perf_counter()))
    return statistics.median(b - a for a, b in zip(stamps[skip:], stamps[skip + 1:]))


def fixed_batch_step_times(steps: int, fused: bool = True, compiled: bool = False) -> list[float]:
    """Wall seconds of each of ``steps`` training steps of the cpu-demo network on bench_model's fixed 48-image
    batch (no loader), channels_last, with AdamW's fused kernel or its default (``training`` uses the fused
    one), eager or through ``torch.compile`` (whose first step compiles)."""
    demo = preset("cpu-demo")
    torch.manual_seed(0)
    step = make_step(demo.model, demo.data.height, demo.data.width, channels_last=True, compiled=compiled,
                     optimizer=lambda params: torch.optim.AdamW(params, lr=demo.train.lr,
                                                                weight_decay=demo.train.weight_decay, fused=fused))
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def optimizer_step_seconds(fused: bool, steps: int, skip: int) -> float:
    """Median wall seconds of a fixed-batch step after the first ``skip``, with AdamW's fused kernel or its
    default."""
    return statistics.median(fixed_batch_step_times(steps, fused=fused)[skip:])


def compile_seconds(steps: int, skip: int) -> dict[str, float]:
    """``torch.compile`` on the CPU against eager, on the fixed batch with the fused AdamW of ``training``: each
    one's first step in wall seconds (for the compiled one, the compilation) and median step after ``skip``
    steps, in ms."""
    out: dict[str, float] = {}
    for name, compiled in (("eager", False), ("compiled", True)):
        times = fixed_batch_step_times(steps, compiled=compiled)
        out[f"{name}_first_step_s"] = round(times[0], 1)
        out[f"{name}_ms"] = round(1000 * statistics.median(times[skip:]), 1)
    return out


RESULTS = Path(__file__).resolve().parents[1] / "results" / "recipe" / "step_time.json"


def table(record: dict) -> str:
    """The Markdown table of docs/CPU_RECIPE.md from a record written by ``--out``."""
    rows = ["| --set on the cpu-demo preset | ms per step | steps in 4 minutes |", "|---|---|---|"]
    rows += [f"| {r['set'] or '(the preset as it is)'} | {r['ms_per_step']:.0f} | {240_000 / r['ms_per_step']:.0f} |"
             for r in record["rows"]]
    rows += [f"| AdamW {name} kernel, fixed 48-image batch, no loader | {ms:.0f} | |" for name, ms in record["optimizer"].items()]
    if "compile" in record:
        c = record["compile"]
        rows += [f"| eager, fixed 48-image batch, no loader (first step {c['eager_first_step_s']:.1f} s) | {c['eager_ms']:.0f} | |",
                 f"| `torch.compile`, the same (first step, compiling: {c['compiled_first_step_s']:.0f} s) | {c['compiled_ms']:.0f} | |"]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), help="comma-separated --set lists ('' = preset)")
    p.add_argument("--steps", type=int, default=45, help="steps per variant (default 45)")
    p.add_argument("--skip", type=int, default=10, help="untimed first steps (default 10)")
    p.add_argument("--rounds", type=int, default=3, help="timed passes over the variants; the fastest is kept")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="write the record as JSON here (docs/CPU_RECIPE.md reads results/recipe/step_time.json)")
    p.add_argument("--table", nargs="?", const=str(RESULTS), default=None, metavar="RECORD",
                   help="print the table of a record (default results/recipe/step_time.json) and exit")
    p.add_argument("--compile", action="store_true", help="also time torch.compile against eager (minutes: it compiles)")
    a = p.parse_args(argv)
    if a.table:
        if not Path(a.table).is_file():
            p.error(f"--table {a.table}: no such record; write one with --out, or leave the path out for "
                    f"{RESULTS}")
        print(table(json.loads(Path(a.table).read_text())))
        return
    torch.set_num_threads(a.threads)
    sets = {v: [s for s in v.split(",") if s] for v in a.variants}
    times: dict[str, list[float]] = {v: [] for v in a.variants}
    fused: dict[str, list[float]] = {"default": [], "fused": []}
    step_seconds(sets[a.variants[0]], a.skip + 2, a.skip)   # untimed: first reads, caches
    for _ in range(a.rounds):   # interleaved rounds, so a burst of other work hits every variant alike
        for v in a.variants:
            times[v].append(step_seconds(sets[v], a.steps, a.skip))
        for name in fused:
            fused[name].append(optimizer_step_seconds(name == "fused", a.steps, a.skip))
    # the fastest round: other work on the machine only ever adds time
    record = {"rounds": a.rounds, "rows": [{"set": v, "ms_per_step": round(1000 * min(ts), 1),
                        "rounds_ms": [round(1000 * t, 1) for t in ts]} for v, ts in times.items()],
              "optimizer": {k: round(1000 * min(ts), 1) for k, ts in fused.items()},
              "threads": a.threads, "steps": a.steps, "skip": a.skip, "machine": machine_info()}
    if a.compile:
        record["compile"] = compile_seconds(a.steps, a.skip)
    print(table(record))
    if a.out:
        atomic_write_json(a.out, record)


if __name__ == "__main__":
    main()
