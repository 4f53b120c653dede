"""Every benchmark in one table: ``python -m benchmarks`` (or ``vireid bench``).

Calls the functions of the benchmark scripts beside this file and prints one Markdown table:

- evaluation: vectorised ``rank_metrics`` against the literal per-query loop (bench_eval), SYSU-MM01- and
  RegDB-sized;
- training images/s of each Table-3 variant, cpu-demo preset on the CPU (bench_model), and on CUDA at the
  paper's size when a device is present;
- the training loader's images/s at the same input size against the training step's (bench_loader): a
  ratio above 1 means the loader keeps the step fed;
- peak memory of one training step at 288x144 with resnet50 (bench_model; CPU resident set, or CUDA);
- wall time of ``vireid demo`` in a fresh folder (the whole pipeline; about 5 min on 2 cores, target 5 min);
- synthetic data generation (bench_synth) and the retrieval browser's query switch (bench_browser).

    python -m benchmarks                      # everything (~20 min on 2 cores)
    python -m benchmarks --quick              # fewer repetitions, no peak-memory part, demo and browser on
                                              # the tiny synthetic set, a 40-identity generation
    python -m benchmarks --out results/benchmarks.md

Timings on a CPU that other programs share are slower and noisier; the header gives the load average at the
start and the end, so a reader can tell.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks import bench_eval, bench_loader, bench_model, bench_synth
from vireid_lib.machine import machine_info
from vireid_lib.presets import VARIANTS, preset

Row = tuple[str, str, str, str, str]
"""(part, measurement, value, against, ratio)."""


def evaluation_rows(trials: int) -> list[Row]:
    rows = []
    for name, make, protocol in (("SYSU-MM01-sized", bench_eval.sysu_sized, "sysu"),
                                 ("RegDB-sized", bench_eval.regdb_sized, "regdb")):
        r = bench_eval.run(name, make, protocol, trials)
        q, g = r["shape"]
        rows.append(("evaluation", f"rank_metrics {name} {q}x{g}, {trials} trials (max diff {r['diff']:.0e})",
                     f"{r['fast']:.3f} s", f"loop {r['slow']:.2f} s", f"{r['slow'] / r['fast']:.0f}x faster"))
    return rows


def training_rows(rounds: int, steps: int) -> tuple[list[Row], dict[str, float]]:
    demo = preset("cpu-demo")
    speed = bench_model.cpu_step_speed(rounds, steps)
    rows = [("training", f"{r['variant']}: cpu-demo step ({demo.model.arch} {demo.data.height}x{demo.data.width}, "
                         f"batch 48), best of {rounds}x{steps}", f"{r['images_per_s']:.1f} img/s",
             f"median step {r['wall_med_s']:.2f} s", f"CPU time {r['cpu_vs_base_p']:.2f}x base+p")
            for r in speed]
    rates = {r["variant"]: r["images_per_s"] for r in speed}
    if torch.cuda.is_available():
        for r in bench_model.cuda_speed(steps=20):
            rows.append(("training", f"{r['variant']}: CUDA step (resnet50 288x144, batch 48, bf16)",
                         f"{r['images_per_s']:.0f} img/s", torch.cuda.get_device_name(), "-"))
            rates[f"cuda {r['variant']}"] = r["images_per_s"]
    return rows, rates


def loader_rows(batches: int, rates: dict[str, float]) -> list[Row]:
    from vireid_lib.config import TrainConfig
    from vireid_lib.data import SYSUMM01, synthetic

    demo = preset("cpu-demo")
    reader = SYSUMM01(synthetic.synthetic_root("sysu"))
    slowest, fastest = min(rates, key=rates.get), max(rates, key=rates.get)
    rows = []
    saved = os.environ.get("VIREID_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VIREID_CACHE"] = tmp  # a cold image cache: its build is part of the first use
        try:
            for cache in (False, True):
                cfg = dataclasses.replace(demo.data, cache=cache)
                r = bench_loader.throughput(reader, cfg, TrainConfig(seed=0), batches)
                rows.append(("loader", f"training loader {cfg.height}x{cfg.width}, {cfg.num_workers} workers, "
                                       f"cache {'on' if cache else 'off'} (build {r['build_s']:.1f} s)",
                             f"{r['images_per_s']:.0f} img/s", f"training {fastest} {rates[fastest]:.1f} img/s",
                             f"{r['images_per_s'] / rates[fastest]:.1f}x ({r['images_per_s'] / rates[slowest]:.1f}x "
                             f"{slowest})"))
        finally:
            if saved is None:
                os.environ.pop("VIREID_CACHE", None)
            else:
                os.environ["VIREID_CACHE"] = saved
    return rows


def memory_rows() -> list[Row]:
    rows = [("memory", f"{r['variant']}: peak RSS of one CPU step, resnet50 288x144, batch 48",
             f"{r['peak_mib']:.0f} MiB", f"before the step {r['before_mib']:.0f} MiB", f"+{r['step_mib']:.0f} MiB")
            for r in bench_model.peak_memory()]
    if torch.cuda.is_available():
        rows += [("memory", f"{r['variant']}: peak CUDA memory, resnet50 288x144, batch 48, bf16",
                  f"{r['peak_gib']:.2f} GiB", torch.cuda.get_device_name(), "-") for r in bench_model.cuda_speed(3)]
    return rows


DEMO_TARGETS = {"time_min": 5.0, "sysu/all R1": 60.0, "sysu/all mAP": 50.0, "regdb R1": 60.0, "untrained R1": 10.0}
"""Issue 10's targets for the full demo (percent; minutes), reported beside what was measured."""


def _pct(result: dict, key: str = "cmc") -> float:
    m = result.get("mean", result)
    return 100 * (m["cmc"][0] if key == "cmc" else m[key])


def demo_rows(mode: str) -> list[Row]:
    """The demo's wall time and its numbers against the targets (full mode: the real demo, cold cache excluded;
    smoke mode: seconds of the pipeline on the tiny set, no targets)."""
    from vireid_lib.demo import run_demo

    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(Path(tmp) / "demo", smoke=mode == "smoke", progress=False, echo=lambda *a: None)
    t, u = result.trained, result.untrained
    name = f"vireid demo{' --smoke' if mode == 'smoke' else ''}, fresh folder (data already generated)"
    if mode == "smoke":
        return [("demo", name, f"{result.seconds / 60:.1f} min", f"trained SYSU all-search R1 {_pct(t['sysu/all']):.1f}%",
                 "-")]
    within = result.within_visible["trained"]
    rows = [("demo", name, f"{result.seconds / 60:.1f} min", f"target {DEMO_TARGETS['time_min']:.0f} min", "-"),
            ("demo", "trained SYSU-layout all-search R1 / mAP",
             f"{_pct(t['sysu/all']):.1f} / {_pct(t['sysu/all'], 'mAP'):.1f} %",
             f"target {DEMO_TARGETS['sysu/all R1']:.0f} / {DEMO_TARGETS['sysu/all mAP']:.0f}",
             f"within-visible R1 {_pct(within):.1f}"),
            ("demo", "trained SYSU-layout indoor-search R1", f"{_pct(t['sysu/indoor']):.1f} %", "higher than all-search",
             "-"),
            ("demo", "trained RegDB-layout R1 visible->thermal / thermal->visible",
             f"{_pct(t['regdb/v2t']):.1f} / {_pct(t['regdb/t2v']):.1f} %", f"target {DEMO_TARGETS['regdb R1']:.0f}", "-"),
            ("demo", "before-training (start) SYSU-layout all-search R1", f"{_pct(u['sysu/all']):.1f} %",
             f"target <= {DEMO_TARGETS['untrained R1']:.0f}", "-")]
    return rows


def extra_rows(queries: int, identities: int | None, smoke: bool) -> list[Row]:
    r = bench_synth.generation_time("sysu", identities, os.cpu_count() or 1)
    rows = [("data", f"synthetic SYSU-MM01 layout, {r['identities']} ids, {os.cpu_count()} workers",
             f"{r['seconds']:.1f} s", f"{r['images']} images", f"{r['images'] / r['seconds']:.0f} img/s")]
    # Lazy: bench_browser imports ipywidgets (the browser's widgets), so that --help and every other part run
    # on a machine without Jupyter's widgets (the GPU image of results/gpu/).
    from benchmarks import bench_browser

    b = bench_browser.measure(smoke=smoke, queries=queries)
    size = "tiny" if smoke else "default"
    rows.append(("browser", f"retrieval browser ({size} synthetic SYSU-MM01): switch query, no CAM, median of "
                            f"{len(b['plain'])}",
                 f"{statistics.median(b['plain']):.3f} s", "target 1 s", f"first view {b['first']:.1f} s"))
    rows.append(("browser", f"retrieval browser ({size}): switch query with Grad-CAM, median of {len(b['cam'])}",
                 f"{statistics.median(b['cam']):.3f} s", "-", "-"))
    return rows


def format_table(rows: list[Row], header: list[str]) -> str:
    lines = [*header, "", "| part | measurement | value | against | ratio |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions, no peak-memory part, the demo in smoke mode (a few minutes)")
    parser.add_argument("--demo", choices=["full", "smoke", "skip"], default=None,
                        help="how to time the demo (default: full, or smoke with --quick)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the 288x144 peak-memory part")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    demo_mode = args.demo or ("smoke" if args.quick else "full")
    start_load = os.getloadavg()[0]
    t0 = time.perf_counter()

    rows: list[Row] = []

    def part(name: str, fn: Callable[[], Any]) -> Any:
        tic = time.perf_counter()
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        result = fn()
        print(f"[{name}] {time.perf_counter() - tic:.0f} s", file=sys.stderr, flush=True)
        return result

    rows += part("evaluation", lambda: evaluation_rows(2 if args.quick else 10))
    train, rates = part("training", lambda: training_rows(2 if args.quick else 5, 1 if args.quick else 3))
    rows += train
    rows += part("loader", lambda: loader_rows(15 if args.quick else 60, {k: v for k, v in rates.items()
                                                                           if not k.startswith("cuda")}))
    if not (args.quick or args.skip_memory):
        rows += part("memory", memory_rows)
    if demo_mode != "skip":
        rows += part("demo", lambda: demo_rows(demo_mode))
    rows += part("data and browser", lambda: extra_rows(5 if args.quick else 30, 40 if args.quick else None,
                                                           args.quick))

    m = machine_info()
    header = [f"Benchmarks ({'quick' if args.quick else 'full'}), "
              f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {time.perf_counter() - t0:.0f} s "
              f"in all.",
              f"Machine: {m['cpu']}, nproc {m['nproc']}, {torch.get_num_threads()} torch threads, "
              + (f"CUDA {', '.join(m['cuda'])}" if m["cuda"] else "no CUDA")
              + f"; torch {m['torch']}; 1-minute load average {start_load:.1f} at the start, "
                f"{os.getloadavg()[0]:.1f} at the end.",
              f"Variants: {', '.join(VARIANTS)}."]
    if args.quick or args.skip_memory:
        header.append("Peak memory skipped (--quick / --skip-memory).")
    table = format_table(rows, header)
    print(table)
    if args.out:
        from vireid_lib.io import atomic_write_text

        atomic_write_text(args.out, table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
