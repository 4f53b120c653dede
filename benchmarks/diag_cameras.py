"""Which visible cameras does a trained model match infrared queries in? Rank-1 of one SYSU-MM01-layout
checkpoint against one visible camera's gallery at a time, beside all- and indoor-search.

    python -m benchmarks.diag_cameras CHECKPOINT --tag NAME   # writes results/recipe/cameras/NAME.json
    python -m benchmarks.diag_cameras --table                 # the Markdown table of those files
    python -m benchmarks.diag_cameras --card                  # rewrite the data card's copy and reading

The all-search protocol's gallery draws (``evaluate_sysu``'s: the reader's official or seeded draws, single
shot) are split by camera: for visible camera c, the infrared queries (cams 3 and 6) are ranked against the
draw's cam-c images alone, with the protocol's cam3/cam2 rule (``rank_metrics(protocol="sysu")``), and Rank-1
is averaged over draws, weighted by the queries each scores; the same for the indoor pair (cams 1, 2: indoor-
search's cameras) and the outdoor pair (4, 5), whose difference carries its error over draws of the test
people. A camera whose images are harder to match scores lower. On the real SYSU-MM01 indoor-search scores above
all-search; the data card reads the synthetic layout's cameras against that.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_synth import CARD
from vireid_lib.ablation.paper import beyond_noise
from vireid_lib.checkpoints import load_model
from vireid_lib.data import open_dataset
from vireid_lib.data.sysu_official import resolve_protocol
from vireid_lib.evaluation.metrics import kept_gallery, rank_metrics
from vireid_lib.evaluation.people import people_difference, person_table
from vireid_lib.evaluation.protocols import _features, _pool, default_transform, pairwise_distance
from vireid_lib.evaluation.report import PAPER_RESULTS
from vireid_lib.io import atomic_write_json, atomic_write_text
from vireid_lib.markdown import replace_section, section
from vireid_lib.provenance import checkpoint_info

OUT = Path(__file__).resolve().parents[1] / "results" / "recipe" / "cameras"
SECTION = "cameras_table"   # <!-- cameras_table --> ... <!-- /cameras_table --> in the data card
VISIBLE_CAMS = (1, 2, 4, 5)
INDOOR, OUTDOOR = (1, 2), (4, 5)


SETS = {"all": VISIBLE_CAMS, "indoor": INDOOR, "outdoor": OUTDOOR, **{f"cam{c}": (c,) for c in VISIBLE_CAMS}}
"""The galleries, each a part of every all-search draw: all of it, its indoor cameras (as indoor-search's
gallery, but from the all-search draw), its outdoor cameras (the mirror image, which no protocol has), and each
camera alone."""


def measure(checkpoint: str | Path, trials: int | None = None) -> dict[str, Any]:
    """Rank-1 (%) of the infrared queries against each gallery of :data:`SETS`, with the queries each scores and
    chance (the mean over scored queries of their person's share of the images they are ranked against, %: the
    Rank-1 of a random ranking), and the person tables of the indoor
    and outdoor galleries (:func:`~vireid_lib.evaluation.people.person_table`).

    Raises:
        ValueError: a checkpoint of another layout than SYSU-MM01's.
    """
    model, cfg = load_model(checkpoint)
    if cfg.data.dataset != "sysu":
        raise ValueError(f"{checkpoint} was trained on the {cfg.data.dataset} layout; the camera diagnostic "
                         "needs a SYSU-MM01-layout checkpoint (indoor and outdoor cameras)")
    reader = open_dataset(cfg.data)
    trials = cfg.eval.sysu_trials if trials is None else trials
    draw = {"protocol": "official"} if resolve_protocol(cfg.eval.sysu_gallery, reader.root) == "official" else {}
    queries = list(reader.query())
    galleries = [list(reader.gallery(mode="all", trial=t, shots=1, **draw)) for t in range(trials)]
    pool, index = _pool(galleries)
    tf = default_transform(cfg.data)
    qf = _features(model, queries, tf, cfg.eval, None, False, 0)
    pf = _features(model, pool, tf, cfg.eval, None, False, 0)
    q_pids, q_cams = [r.pid for r in queries], [r.camid for r in queries]
    sums: dict[str, list[float]] = {name: [0.0, 0.0, 0.0] for name in SETS}
    ranked: dict[str, list[dict[str, Any]]] = {"indoor": [], "outdoor": []}
    for gallery in galleries:
        dist = pairwise_distance(qf, pf[[index[r.path] for r in gallery]])   # (Q, G) against the whole draw
        for name, cams in SETS.items():
            cols = [j for j, r in enumerate(gallery) if r.camid in cams]
            g = [gallery[j] for j in cols]
            m = rank_metrics(dist[:, cols], q_pids, [r.pid for r in g], q_cams, [r.camid for r in g],
                             protocol="sysu")
            n, s = m["num_valid_queries"], sums[name]
            s[0], s[1], s[2] = s[0] + n * m["cmc"][0], s[1] + n, s[2] + _chance(q_pids, q_cams, g)
            if name in ranked:
                ranked[name].append(m)
    rows = {name: {"r1": 100 * r1 / n, "queries": int(n), "chance_r1": 100 * chance / n}
            for name, (r1, n, chance) in sums.items()}
    return {"checkpoint": checkpoint_info(checkpoint), "trials": trials, "config": cfg.to_dict(), "rows": rows,
            "people": {name: person_table(per_draw, q_pids) for name, per_draw in ranked.items()}}


def _chance(q_pids: list[int], q_cams: list[int], gallery: list[Any]) -> float:
    """The summed chance Rank-1 of the queries with a match in ``gallery``: for each, its person's images over
    the images it is ranked against (the protocol's :func:`~vireid_lib.evaluation.metrics.kept_gallery`: no
    cam-2 image for a cam-3 query), the first image of a random ranking being the person's."""
    g_pids, g_cams = np.array([r.pid for r in gallery]), np.array([r.camid for r in gallery])
    kept_by_cam = {cam: kept_gallery(cam, g_cams, "sysu") for cam in set(q_cams)}   # one mask per query camera
    total = 0.0
    for pid, cam in zip(q_pids, q_cams):
        kept = kept_by_cam[cam]
        matches = int((g_pids[kept] == pid).sum())
        total += matches / int(kept.sum()) if matches else 0.0
    return total


def outdoor_minus_indoor(record: dict[str, Any]) -> tuple[float, float | None]:
    """Rank-1 against the outdoor cameras minus against the indoor ones, in points, and its standard error over
    draws of the test people (:func:`~vireid_lib.evaluation.people.people_difference`, the people drawn once for
    both)."""
    d, se = people_difference(record["people"]["outdoor"], record["people"]["indoor"])
    return 100 * d, None if se is None else 100 * se


def table(folder: Path = OUT) -> str:
    """One row per record in ``folder``: Rank-1 against each camera and against the indoor and the outdoor pair
    (chance in brackets), outdoor minus indoor with its people error, and all-search."""
    lines = ["| checkpoint | cam1 (indoor) | cam2 (indoor) | cam4 (outdoor) | cam5 (outdoor) | cams 1, 2 | "
             "cams 4, 5 | 4, 5 minus 1, 2 | all-search |", "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("*.json")):
        rec = json.loads(path.read_text())
        cells = [rec["rows"][k] for k in ("cam1", "cam2", "cam4", "cam5", "indoor", "outdoor")]
        d, se = outdoor_minus_indoor(rec)
        lines.append(f"| {path.stem} | " + " | ".join(f"{r['r1']:.1f} ({r['chance_r1']:.1f})" for r in cells)
                     + f" | {d:+.1f} ± {se:.1f} | {rec['rows']['all']['r1']:.1f} |")
    return "\n".join(lines)


def reading(folder: Path = OUT) -> str:
    """The data card's sentence on the table: the outdoor against the indoor pair here (beyond two standard
    errors of the people or not), and the real data's indoor- minus all-search in the paper's own rows."""
    diffs = [outdoor_minus_indoor(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]
    paper = PAPER_RESULTS["sysu/indoor"]["Ours (paper)"]["R1"] - PAPER_RESULTS["sysu/all"]["Ours (paper)"]["R1"]
    beyond = [beyond_noise(d, se) for d, se in diffs]
    text = (f"On the real SYSU-MM01, indoor-search scores {paper:.2f} Rank-1 points above all-search in the paper's "
            "own rows. Here the outdoor pair minus the indoor pair is "
            + ", ".join(f"{d:+.1f} ± {se:.1f}" for d, se in diffs) + " (the test people's standard error): ")
    if all(beyond) and all(d > 0 for d, _ in diffs):
        return text + ("the outdoor cameras' images are the easier ones to match, so indoor-search, which drops "
                       "them, has nothing to gain over all-search.")
    if all(beyond) and all(d < 0 for d, _ in diffs):
        return text + "the indoor cameras' images are the easier ones to match, as indoor-search would need."
    return text + ("the two pairs of cameras do not differ beyond the people's noise, so the synthetic layout gives "
                   "indoor-search nothing that would set it above all-search.")


def write_card(card: Path = CARD, folder: Path = OUT) -> None:
    """Rewrite the data card's camera table and its reading from the records in ``folder``."""
    text = replace_section(card.read_text(), SECTION, table(folder) + "\n\n" + reading(folder))
    atomic_write_text(card, text)


def card_text(card: Path = CARD) -> str:
    """The data card's camera section as written (for the test that compares it with the records)."""
    return section(card.read_text(), SECTION)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", nargs="?", help="a SYSU-MM01-layout checkpoint (last.pt)")
    p.add_argument("--tag", help="the record's name under results/recipe/cameras")
    p.add_argument("--trials", type=int, help="gallery draws (default: the checkpoint's eval.sysu_trials)")
    p.add_argument("--table", action="store_true", help="print the table of the committed records")
    p.add_argument("--card", action="store_true", help="rewrite the data card's table and reading")
    args = p.parse_args(argv)
    try:
        if args.checkpoint:
            if not args.tag:
                p.error("give --tag NAME for the record")
            atomic_write_json(OUT / f"{args.tag}.json", measure(args.checkpoint, args.trials))
        if args.card:
            write_card()
        if args.table or not (args.checkpoint or args.card):
            print(table())
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
