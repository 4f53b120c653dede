"""How fast the retrieval browser answers: first view of a split (feature extraction), switching queries
without CAM (the target: under a second on a CPU), and switching with the Grad-CAM overlay on.

    python benchmarks/bench_browser.py            # the default synthetic SYSU-MM01 size, cpu-demo model
    python benchmarks/bench_browser.py --smoke    # the tiny synthetic size

Uses the checkpoint of notebook 03 when present, otherwise the same network before training (the preset's start)
(speed does not depend on the weights). Prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from vireid_lib.data import transforms
from vireid_lib.data.synthetic import synthetic_root
from vireid_lib.models import build_model
from vireid_lib.checkpoints import load_model
from vireid_lib.presets import preset
from vireid_lib.retrieval import DatasetSplits
from vireid_lib.runs import notebook_run_dir
from vireid_lib.widgets import RetrievalBrowser


def measure(smoke: bool = False, queries: int = 30, top_k: int = 10) -> dict:
    """Time the browser's first view and its query switches (index order, hardest first, with Grad-CAM).

    Returns:
        ``{"source", "cfg", "split", "first", "plain", "hardest", "cam"}``: seconds (lists for switches).
    """
    checkpoint = notebook_run_dir(smoke) / "last.pt"
    cfg = preset("cpu-demo")
    if checkpoint.is_file():
        model, cfg = load_model(checkpoint)
        source = str(checkpoint)
    else:
        model = build_model(cfg.model, 8).eval()
        source = "before training (the preset's start; no notebook-03 checkpoint)"
    splits = DatasetSplits(sysu_root=synthetic_root("sysu", smoke=smoke), sysu_trials=1)
    transform = transforms.test_transform(cfg.data.height, cfg.data.width)

    tic = time.perf_counter()
    browser = RetrievalBrowser({"model": model}, splits, transform, top_k=top_k, max_k=top_k)
    first = time.perf_counter() - tic

    def switches(n: int) -> list[float]:
        times = []
        for _ in range(n):
            tic = time.perf_counter()
            browser.next.click()
            times.append(time.perf_counter() - tic)
        return times

    plain = switches(queries)
    browser.order.value = "hardest first"
    hardest = switches(queries)
    browser.cam.value = True
    cam = switches(max(3, queries // 10))
    return {"source": source, "cfg": cfg, "split": browser.split, "first": first, "plain": plain,
            "hardest": hardest, "cam": cam}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic dataset")
    parser.add_argument("--queries", type=int, default=30, help="query switches to time")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    r = measure(args.smoke, args.queries, args.top_k)
    cfg, split, first = r["cfg"], r["split"], r["first"]

    print(f"model: {r['source']}; arch {cfg.model.arch} at {cfg.data.height}x{cfg.data.width}; "
          f"{torch.get_num_threads()} threads")
    print(f"split: SYSU-MM01 all-search trial 0, {len(split.query)} queries x {len(split.gallery)} gallery, "
          f"top-{args.top_k}")
    print(f"{'step':<42}{'n':>5}{'median s':>11}{'max s':>9}")
    print(f"{'first view (extract + rank + draw)':<42}{1:>5}{first:>11.3f}{first:>9.3f}")
    for name, t in (("switch query, index order, no CAM", r["plain"]),
                    ("switch query, hardest first, no CAM", r["hardest"]),
                    ("switch query, Grad-CAM overlay on", r["cam"])):
        print(f"{name:<42}{len(t):>5}{statistics.median(t):>11.3f}{max(t):>9.3f}")


if __name__ == "__main__":
    main()
