"""Synthetic dataset: generation time at the default size by worker count, and how hard it is.

Target: the default size of each layout in under a minute on 2 cores.

    python benchmarks/bench_synth.py [--identities N] [--workers 1 2]
    python benchmarks/bench_synth.py --difficulty [--seed S] [--identities N] [--ir-correlation C]

``--difficulty`` measures the modality gap on a synthetic SYSU-MM01-layout set (default: 200 identities, seed
0, the calibrated infrared correlation): each matcher is scored across modalities (the all-search protocol:
infrared queries, single-shot visible gallery, 10 trials) and within the visible modality (cams 1, 2 against a
single-shot draw of cams 4, 5, 10 trials; ``SYSUMM01.within_visible``). Matchers: random distances (chance),
a colour histogram, a grey-level histogram, the untrained ``cpu-demo`` network, the same network trained on
visible images only (its infrared stem sees visible images), and the full ``cpu-demo`` recipe, each from
random weights (``model.pretrained=null``, not the preset's shipped start). The two trainings take about 4
minutes each on 2 cores; the table is the one in ``data_cards/synthetic.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vireid_lib.data import SYSUMM01, synthetic
from vireid_lib.data.views import VisibleOnly
from vireid_lib.markdown import replace_section, section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=None, help="identities (default: each layout's)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--difficulty", action="store_true", help="measure the modality gap instead")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed for --difficulty (default 0)")
    parser.add_argument("--ir-correlation", type=float, default=None,
                        help="infrared correlation for --difficulty (default: the calibrated one)")
    parser.add_argument("--out", default=None, help="also write the --difficulty results as JSON here")
    parser.add_argument("--card", action="store_true",
                        help="rewrite data_cards/synthetic.md's tables from results/synthetic")
    args = parser.parse_args()
    if args.card:
        write_card()
        return
    if args.difficulty:
        rows = difficulty(args.identities, args.seed, args.ir_correlation)
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
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


def _scores(distance, query, galleries, protocol: str = "sysu") -> tuple[float, float]:
    """Mean Rank-1 and mAP (percent) of ``distance(query, gallery) -> (Q, G)`` over the galleries."""
    from vireid_lib.evaluation import rank_metrics

    r1, m = [], []
    for gallery in galleries:
        res = rank_metrics(distance(query, gallery), [r.pid for r in query], [r.pid for r in gallery],
                           [r.camid for r in query], [r.camid for r in gallery], protocol=protocol)
        r1.append(res["cmc"][0])
        m.append(res["mAP"])
    return 100 * float(np.mean(r1)), 100 * float(np.mean(m))


def _embedding_distance(embed):
    """``distance(query, gallery) -> (Q, G)`` squared Euclidean distances of ``embed(records) -> (N, D)``,
    each record embedded once however many draws hold it."""
    cache: dict[str, np.ndarray] = {}

    def features(records):
        missing = list({r.path: r for r in records if r.path not in cache}.values())
        if missing:
            cache.update(zip([r.path for r in missing], embed(missing)))
        return np.stack([cache[r.path] for r in records])

    def distance(query, gallery):
        q, g = features(query), features(gallery)
        return ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)                     # (Q, G)
    return distance


def _network_distance(model, cfg):
    """The network's test feature (L2-normalised, so squared Euclidean distance ranks as cosine does)."""
    from vireid_lib.evaluation.extract import extract_features
    from vireid_lib.evaluation.protocols import default_transform

    transform = default_transform(cfg.data)
    return _embedding_distance(lambda records: extract_features(
        model.eval(), records, transform, batch_size=cfg.eval.batch_size, flip=cfg.eval.flip, normalize=True,
        progress=False).numpy())


def difficulty_config(identities: int | None, seed: int = 0, ir_correlation: float | None = None):
    """The ``cpu-demo`` recipe the gap table trains, from random weights (``model.pretrained=null``): the table
    measures what the data teaches a network, not what the preset's shipped start brings to it."""
    from vireid_lib.config import apply_overrides
    from vireid_lib.presets import preset

    return apply_overrides(preset("cpu-demo"), ["model.pretrained=null", f"data.synthetic_seed={seed}"]
                           + ([f"data.synthetic_identities={identities}"] if identities else [])
                           + ([f"data.synthetic_ir_correlation={ir_correlation}"] if ir_correlation is not None
                              else []))


def difficulty(identities: int | None, seed: int = 0, ir_correlation: float | None = None) -> list[dict]:
    """Print and return the gap table (see the module docstring)."""
    import dataclasses

    from vireid_lib.models import build_model
    from vireid_lib.seeding import seed_everything
    from vireid_lib.training import fit

    cfg = difficulty_config(identities, seed, ir_correlation)
    root = synthetic.synthetic_root("sysu", identities=cfg.data.synthetic_identities, seed=seed,
                                    ir_correlation=cfg.data.synthetic_ir_correlation)
    ds = SYSUMM01(root)
    query = ds.query()
    galleries = [ds.gallery("all", trial=t) for t in range(10)]
    vis_query = ds.within_visible(0)[0]
    vis_galleries = [ds.within_visible(t)[1] for t in range(10)]
    rng = np.random.default_rng(0)
    print(f"synthetic SYSU-MM01 layout at {root}: {len(query)} infrared queries, {len(galleries[0])} gallery "
          f"images ({len(ds.test_ids)} test ids), all-search single-shot, 10 trials; within-visible: "
          f"{len(vis_query)} queries, {len(vis_galleries[0])} gallery images")
    seed_everything(cfg.train.seed)
    untrained = build_model(cfg.model, ds.num_train_ids).eval()
    matchers = [
        ("random distances (chance)", lambda q, g: rng.random((len(q), len(g)))),
        ("colour histogram (8x8x8 bins)", _embedding_distance(lambda rs: np.stack([_colour_hist(r.path) for r in rs]))),
        ("grey-level histogram (16 bins)", _embedding_distance(lambda rs: np.stack([_grey_hist(r.path) for r in rs]))),
        ("untrained cpu-demo network", _network_distance(untrained, cfg)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, reader in (("cpu-demo network trained on visible images only", VisibleOnly(ds)),
                             ("cpu-demo recipe (both modalities)", ds)):
            t0 = time.perf_counter()
            run = fit(cfg, Path(tmp) / name.split()[-1].strip("()"), resume=False, progress=False, reader=reader,
                      eval_fn=lambda model, cfg, reader: {})
            print(f"  trained '{name}': {run.steps} steps in {time.perf_counter() - t0:.0f} s")
            matchers.append((name, _network_distance(run.model, cfg)))
    rows = []
    print(f"| matcher | all-search R1 | mAP | within-visible R1 | mAP |")
    print("|---|---|---|---|---|")
    for name, distance in matchers:
        cr1, cmap = _scores(distance, query, galleries, "sysu")
        vr1, vmap = _scores(distance, vis_query, vis_galleries, "regdb")
        rows.append({"matcher": name, "cross_rank1": cr1, "cross_mAP": cmap, "visible_rank1": vr1,
                     "visible_mAP": vmap})
        print(f"| {name} | {cr1:.1f} | {cmap:.1f} | {vr1:.1f} | {vmap:.1f} |")
    meta = {"seed": seed, "identities": ds.num_train_ids + len(ds.test_ids),
            "generator_version": synthetic.GENERATOR_VERSION,
            "ir_correlation": cfg.data.synthetic_ir_correlation, "config": dataclasses.asdict(cfg)}
    return [{"meta": meta}, *rows]


RESULTS = Path(__file__).resolve().parents[1] / "results" / "synthetic"


def statistics_table(folder: Path = RESULTS) -> str:
    """The data card's statistics, from the generator's own ``synthetic_stats.json`` files copied into
    ``results/synthetic`` (default and smoke sizes, seed 0)."""
    def load(name: str) -> dict:
        return json.loads((folder / f"stats_{name}_seed0.json").read_text())

    sysu, regdb, sysu_s, regdb_s = (load(n) for n in ("sysu_default", "regdb_default", "sysu_smoke",
                                                      "regdb_smoke"))
    rows = ["| size | layout | identities | split | visible | infrared |", "|---|---|---|---|---|---|"]
    for size, st in (("default", sysu), ("smoke", sysu_s)):
        rows += [f"| {size} | sysu | {st['train_ids']} train + {st['val_ids']} val | training | "
                 f"{st['train_visible']:,} | {st['train_infrared']:,} |",
                 f"| {size} | sysu | {st['test_ids']} test | query (cams 3, 6) | - | {st['query']:,} |",
                 f"| {size} | sysu | {st['test_ids']} test | gallery, single-shot trial 0 | "
                 f"{st['gallery_single_shot_all']} all-search / {st['gallery_single_shot_indoor']} indoor | - |"]
    for size, st in (("default", regdb), ("smoke", regdb_s)):
        rows.append(f"| {size} | regdb | {st['ids']} ({st['train_ids_per_trial']} train / "
                    f"{st['test_ids_per_trial']} test per trial) | all | {st['visible']:,} | {st['thermal']:,} |")
    cams = ", ".join(f"{k} {v:,}" for k, v in sysu["images_per_camera"].items())
    attrs = "; ".join(f"{k} " + " / ".join(f"{n} {c}" for n, c in v.items()) for k, v in sysu["attributes"].items())
    return "\n".join(rows) + (f"\n\nSYSU layout, default size, images per camera: {cams}. Attributes of its "
                              f"{sysu['identities']} identities: {attrs}; near-duplicates {sysu['near_duplicates']}. "
                              f"Generator version {sysu['generator_version']}, infrared correlation "
                              f"{sysu['ir_correlation']:g}.")


def gap_table(path: Path = RESULTS / "gap_seed0.json") -> str:
    """The data card's modality-gap table, from ``--difficulty --out``'s JSON."""
    meta, *rows = json.loads(Path(path).read_text())
    lines = ["| matcher | all-search R1 % | mAP % | within-visible R1 % | mAP % | cross / within R1 |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r["cross_rank1"] / r["visible_rank1"] if r["visible_rank1"] else float("nan")
        lines.append(f"| {r['matcher']} | {r['cross_rank1']:.1f} | {r['cross_mAP']:.1f} | {r['visible_rank1']:.1f} "
                     f"| {r['visible_mAP']:.1f} | {ratio:.2f} |")
    m = meta["meta"]
    version = f", generator version {m['generator_version']}" if "generator_version" in m else ""
    return "\n".join(lines) + (f"\n\nDataset: synthetic SYSU-MM01 layout, {m['identities']} identities, seed "
                               f"{m['seed']}, infrared correlation {m['ir_correlation']:g}{version}.")


CARD = Path(__file__).resolve().parents[1] / "data_cards" / "synthetic.md"


def write_card(card: Path = CARD) -> None:
    """Regenerate the data card's tables from ``results/synthetic`` (the gap table once its JSON exists)."""
    text = card.read_text()
    tables = [("statistics_table", statistics_table())]
    if (RESULTS / "gap_seed0.json").is_file():
        tables.append(("gap_table", gap_table()))
    for name, body in tables:
        text = replace_section(text, name, body)
    card.write_text(text)


if __name__ == "__main__":
    main()
