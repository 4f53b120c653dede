"""Vectorised rank_metrics vs the literal per-query loop on SYSU-MM01- and RegDB-sized inputs.

Prints, per protocol: total time of each over the trials, the speed-up, the largest difference between
their results, and the peak memory of the vectorised path relative to the distance matrix.

    python benchmarks/bench_eval.py            # 10 trials each (the protocols' trial counts)
    python benchmarks/bench_eval.py --trials 2
    python benchmarks/bench_eval.py --out results/benchmarks/eval.json   # also the record the README reads
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from vireid_lib.evaluation import rank_metrics
from vireid_lib.evaluation.reference import literal_eval
from vireid_lib.io import atomic_write_json
from vireid_lib.machine import machine_info


def _embeddings(pids: np.ndarray, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = centres[pids] + 1.2 * rng.standard_normal((len(pids), centres.shape[1]))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sysu_sized(rng: np.random.Generator):
    """3,803 infrared queries of 96 identities (cam3/cam6) vs a 301-image single-shot gallery."""
    ids = np.arange(96)
    q_pids = np.sort(rng.choice(ids, 3803))
    q_cams = rng.choice([3, 6], 3803)
    g_pids = np.repeat(ids, 4)[:301]
    g_cams = np.tile([1, 2, 4, 5], 96)[:301]
    centres = rng.standard_normal((96, 64))
    dist = 1 - _embeddings(q_pids, centres, rng) @ _embeddings(g_pids, centres, rng).T
    return dist.astype(np.float32), q_pids, g_pids, q_cams, g_cams


def regdb_sized(rng: np.random.Generator):
    """2,060 visible queries vs 2,060 thermal gallery images, 206 identities x 10 each."""
    pids = np.repeat(np.arange(206), 10)
    centres = rng.standard_normal((206, 64))
    dist = 1 - _embeddings(pids, centres, rng) @ _embeddings(pids, centres, rng).T
    return dist.astype(np.float32), pids, pids, None, None


def run(name: str, make, protocol: str, trials: int) -> dict:
    rng = np.random.default_rng(0)
    t_fast = t_slow = 0.0
    max_diff = 0.0
    peak_ratio = 0.0
    shape = None
    for _ in range(trials):
        dist, q_pids, g_pids, q_cams, g_cams = make(rng)
        shape = dist.shape
        t0 = time.perf_counter()
        fast = rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol)
        t_fast += time.perf_counter() - t0
        # Memory is measured on a separate call: tracing allocations would distort the timing.
        tracemalloc.start()
        rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol)
        peak_ratio = max(peak_ratio, tracemalloc.get_traced_memory()[1] / dist.nbytes)
        tracemalloc.stop()
        t0 = time.perf_counter()
        cmc, m_ap, m_inp = literal_eval(dist, q_pids, g_pids, q_cams, g_cams, protocol=protocol)
        t_slow += time.perf_counter() - t0
        max_diff = max(max_diff, np.abs(fast["cmc"] - cmc).max(), abs(fast["mAP"] - m_ap),
                       abs(fast["mINP"] - m_inp))
    return dict(name=name, shape=shape, trials=trials, fast=t_fast, slow=t_slow, diff=max_diff, peak=peak_ratio,
                rank1=fast["cmc"][0], mAP=fast["mAP"])


TIMED = ("fast", "slow", "diff", "peak", "rank1", "mAP")
"""The numeric fields of a :func:`run` row (numpy scalars among them), written as floats."""
README_NAMES = {"SYSU-MM01 (all-search)": "SYSU-MM01 all-search", "RegDB (V->T)": "RegDB visible→thermal"}


def readme_table(record: dict) -> str:
    """The README's evaluation table from a record written with ``--out``: per input the loop's and the
    vectorised path's time over the trials, the speed-up and the vectorised path's peak memory over the
    distance matrix's."""
    lines = ["| input | queries x gallery | trials | loop | vectorised | speed-up | max difference | "
             "peak memory / distmat |", "|---|---|---|---|---|---|---|---|"]
    for r in record["rows"]:
        q, g = r["shape"]
        lines.append(f"| {README_NAMES[r['name']]} | {q:,} x {g:,} | {r['trials']} | {r['slow']:.2f} s | "
                     f"{r['fast']:.3f} s | {r['slow'] / r['fast']:.0f}x | {r['diff']:.0e} | {r['peak']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--out", help="also write the results as JSON here (the README's table: readme_table)")
    args = parser.parse_args()
    rows = [run("SYSU-MM01 (all-search)", sysu_sized, "sysu", args.trials),
            run("RegDB (V->T)", regdb_sized, "regdb", args.trials)]
    if args.out:
        atomic_write_json(Path(args.out), {
            "command": "python benchmarks/bench_eval.py " + " ".join(sys.argv[1:]), "machine": machine_info(),
            "rows": [{**r, "shape": list(r["shape"]), **{k: float(r[k]) for k in TIMED}} for r in rows]})
    print(f"{'input':24} {'Q x G':>11} {'trials':>6} {'loop s':>8} {'vector s':>9} {'speed-up':>9} "
          f"{'max |diff|':>11} {'peak mem / distmat':>19}")
    for r in rows:
        q, g = r["shape"]
        print(f"{r['name']:24} {f'{q} x {g}':>11} {r['trials']:>6} {r['slow']:>8.2f} {r['fast']:>9.3f} "
              f"{r['slow'] / r['fast']:>8.1f}x {r['diff']:>11.1e} {r['peak']:>18.2f}x")
    print("(distance matrices are float32; peak memory is what tracemalloc sees during rank_metrics; "
          f"last trial: SYSU R1 {rows[0]['rank1']:.3f} mAP {rows[0]['mAP']:.3f}, "
          f"RegDB R1 {rows[1]['rank1']:.3f} mAP {rows[1]['mAP']:.3f})")


if __name__ == "__main__":
    main()
