"""Synthetic dataset: generation time at the default size by worker count, and how hard it is.

Target: the default size of each layout in under a minute on 2 cores.

    python benchmarks/bench_synth.py [--identities N] [--workers 1 2]
    python benchmarks/bench_synth.py --difficulty      # SYSU-MM01 protocol scores of feature-free matchers

``--difficulty`` scores, on the default synthetic SYSU-MM01 test set (all-search, single-shot, 10 trials),
matchers that use no training: a colour histogram and a grey-level histogram across modalities (infrared
query, visible gallery), the colour histogram within the visible modality for contrast, a randomly
initialised ResNet-18, and random distances (chance).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vireid_lib.data import SYSUMM01, synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=None, help="identities (default: each layout's)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--difficulty", action="store_true", help="score training-free matchers instead")
    args = parser.parse_args()
    if args.difficulty:
        difficulty(args.identities)
        return
    print(f"cores: {os.cpu_count()}")
    print(f"{'layout':<7} {'ids':>5} {'workers':>7} {'images':>7} {'seconds':>8} {'images/s':>9}")
    for layout in ("sysu", "regdb"):
        for workers in args.workers:
            r = generation_time(layout, args.identities, workers)
            print(f"{layout:<7} {r['identities']:>5} {workers:>7} {r['images']:>7} {r['seconds']:>8.1f} "
                  f"{r['images'] / r['seconds']:>9.0f}")


def generation_time(layout: str, identities: int | None, workers: int) -> dict:
    """Generate one layout into a temporary folder; ``{"identities", "images", "seconds"}``."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        stats = synthetic.generate(layout, Path(tmp) / "d", identities=identities, workers=workers)
        dt = time.perf_counter() - t0
        n = sum(1 for p in (Path(tmp) / "d").rglob("*") if p.suffix in (".jpg", ".bmp"))
    return {"identities": stats["identities"], "images": n, "seconds": dt}


def _colour_hist(path: str) -> np.ndarray:
    a = np.asarray(Image.open(path).convert("RGB")) // 32                      # (H, W, 3) in 0..7
    h = np.bincount((a[..., 0] * 64 + a[..., 1] * 8 + a[..., 2]).ravel(), minlength=512).astype(float)
    return np.sqrt(h / h.sum())                                                 # Hellinger embedding


def _grey_hist(path: str) -> np.ndarray:
    a = np.asarray(Image.open(path).convert("L")) // 16
    h = np.bincount(a.ravel(), minlength=16).astype(float)
    return np.sqrt(h / h.sum())


def _random_resnet(paths: list[str]) -> np.ndarray:
    import torch
    import torchvision

    from vireid_lib.data.transforms import test_transform

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    net.fc = torch.nn.Identity()
    tf = test_transform(128, 64)
    with torch.no_grad():
        feats = [net(torch.stack([tf(Image.open(p).convert("RGB")) for p in paths[i:i + 64]]))
                 for i in range(0, len(paths), 64)]
    f = torch.cat(feats)
    return torch.nn.functional.normalize(f, dim=1).numpy()


def _scores(embed, query, trials) -> tuple[float, float]:
    from vireid_lib.evaluation import rank_metrics

    q = embed([r.path for r in query])
    r1, m = [], []
    for gallery in trials:
        g = embed([r.path for r in gallery])
        d = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)                      # (Q, G)
        res = rank_metrics(d, [r.pid for r in query], [r.pid for r in gallery], [r.camid for r in query],
                           [r.camid for r in gallery], protocol="sysu")
        r1.append(res["cmc"][0])
        m.append(res["mAP"])
    return 100 * float(np.mean(r1)), 100 * float(np.mean(m))


def difficulty(identities: int | None) -> None:
    root = synthetic.synthetic_root("sysu", identities=identities)
    ds = SYSUMM01(root)
    query = ds.query()
    galleries = [ds.gallery("all", trial=t) for t in range(10)]
    vis_query = [r for pid in ds.test_ids for cam in (1, 2) for r in ds._images(pid, cam)]
    vis_galleries = [[r for r in g if r.camid in (4, 5)] for g in galleries]
    rng = np.random.default_rng(0)
    print(f"synthetic SYSU-MM01 at {root}: {len(query)} infrared queries, {len(galleries[0])} gallery images "
          f"({len(ds.test_ids)} test ids), all-search single-shot, 10 trials")
    print(f"{'matcher':<46} {'R1 %':>6} {'mAP %':>6}")
    rows = [
        ("colour histogram, infrared -> visible", lambda p: np.stack([_colour_hist(x) for x in p]), query, galleries),
        ("grey-level histogram, infrared -> visible", lambda p: np.stack([_grey_hist(x) for x in p]), query,
         galleries),
        ("random-init ResNet-18, infrared -> visible", _random_resnet, query, galleries),
        ("random distances (chance), infrared -> visible", lambda p: rng.random((len(p), 8)), query, galleries),
        ("colour histogram, visible cam1/2 -> cam4/5", lambda p: np.stack([_colour_hist(x) for x in p]),
         vis_query, vis_galleries),
    ]
    for name, embed, q, g in rows:
        r1, m = _scores(embed, q, g)
        print(f"{name:<46} {r1:>6.1f} {m:>6.1f}")


if __name__ == "__main__":
    main()
