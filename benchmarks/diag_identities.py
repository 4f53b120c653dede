"""Whom does a trained model miss across modalities? All-search Rank-1 of one SYSU-MM01-layout checkpoint per
test identity, beside what the generator drew for that person (``Identity.flipped``, ``Identity.twin_of``).

    python benchmarks/diag_identities.py CHECKPOINT --tag NAME   # writes results/recipe/identities/NAME.json
    python benchmarks/diag_identities.py --table                  # the Markdown table of those files
    python benchmarks/diag_identities.py --doc                    # rewrite docs/CPU_RECIPE.md's copy

The ranking is the protocol's: every cam3 and cam6 query against each of the ``--trials`` all-search
galleries the checkpoint's ``eval`` settings draw (shots and gallery draws as ``vireid eval``; cam3 queries do not
see cam2; re-ranking is refused); an identity's Rank-1 is the share of its (query, draw) pairs whose first gallery
image is that person, and the mean over every pair is the protocol's all-search Rank-1 (a test checks the two
agree). Identities are split by whether a garment fabric
they show flips in infrared (``FLIPPED_FABRICS``: dark in visible, bright in infrared or the reverse), the one
drawn property meant to defeat grey-level matching, so the table says how much of a data set's difficulty the
count of such people in its test split carries.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from vireid_lib.checkpoints import load_model
from vireid_lib.data import open_dataset
from vireid_lib.data.synthetic import make_identities, read_stats
from vireid_lib.evaluation.extract import extract_features, feature_options
from vireid_lib.evaluation.metrics import rank_metrics
from vireid_lib.data.sysu_official import resolve_protocol
from vireid_lib.evaluation.protocols import _pool, default_transform, pairwise_distance
from vireid_lib.io import atomic_write_json, atomic_write_text
from vireid_lib.markdown import replace_section
from vireid_lib.provenance import checkpoint_info

OUT = Path(__file__).resolve().parents[1] / "results" / "recipe" / "identities"
DOC = Path(__file__).resolve().parents[1] / "docs" / "CPU_RECIPE.md"
SECTION = "identities_table"
GARMENTS = ("upper", "upper 2", "lower", "lower 2")
"""The clothes' fabrics (not the bag or the shoes): an identity is counted as flipped when one it shows flips.
"upper 2" and "lower 2" are a pattern's second colour: stripes, a block or a front logo, a check."""


def per_query_hits(model: Any, cfg: Any, reader: Any, trials: int) -> tuple[list, np.ndarray, np.ndarray]:
    """The queries, and per (trial, query) whether the first kept gallery image is the query's person and
    whether the query has a true match at all (the protocol leaves the others out), each ``(trials, Q)``."""
    transform, options = default_transform(cfg.data), feature_options(cfg.eval)
    queries = list(reader.query())
    draw = {"protocol": "official"} if resolve_protocol(cfg.eval.sysu_gallery, reader.root) == "official" else {}
    galleries = [list(reader.gallery(mode="all", trial=t, shots=cfg.eval.sysu_shots, **draw)) for t in range(trials)]
    pool, index = _pool(galleries)   # each image embedded once, in evaluate_sysu's order
    qf, pf = (extract_features(model, records, transform, **options, num_workers=0, progress=False)
              for records in (queries, pool))
    hits, valid = [], []
    for gallery in galleries:
        gf = pf[[index[r.path] for r in gallery]]
        m = rank_metrics(pairwise_distance(qf, gf), [r.pid for r in queries], [r.pid for r in gallery],
                         [r.camid for r in queries], [r.camid for r in gallery], protocol="sysu")
        hits.append(m["match_rank"] == 0)
        valid.append(m["match_rank"] >= 0)
    # Which queries have a match does not depend on the draw (every draw takes images from each camera an identity
    # passes), so the pairs pooled over draws weigh each draw equally, as the protocol's mean over trials does.
    return queries, np.array(hits), np.array(valid)


def measure(checkpoint: str | Path, trials: int = 10) -> dict[str, Any]:
    """Per test identity: its scored (query, draw) pairs, its Rank-1, its flipped fabrics and near-duplicate
    source; then the two groups (a flipped garment or none) and the all-search Rank-1 over every pair."""
    if trials < 1:
        raise ValueError(f"trials must be at least 1 (the protocol draws 10 galleries), got {trials}")
    model, cfg = load_model(checkpoint)
    if cfg.eval.rerank:
        raise ValueError(f"{checkpoint}: its eval settings re-rank, whose first match this diagnostic does not read; "
                         "evaluate without re-ranking")
    if cfg.data.dataset != "sysu" or cfg.data.root is not None:
        raise ValueError(f"{checkpoint}: trained on {cfg.data.root or cfg.data.dataset}; this diagnostic reads "
                         "the generator's draws, so it needs a checkpoint trained on the synthetic SYSU-MM01 layout")
    reader = open_dataset(cfg.data)
    stats = read_stats(reader.root)   # what the generator drew the set with
    n = stats["identities"]
    people = {p.pid: p for p in make_identities(n, stats["seed"], stats["ir_correlation"])}
    queries, hits, valid = per_query_hits(model, cfg, reader, trials)
    pids = np.array([r.pid for r in queries])
    rows = []
    for pid in sorted(set(pids.tolist())):
        cols = pids == pid
        scored = int(valid[:, cols].sum())
        rows.append({"pid": pid, "pairs": scored, "rank1": float(hits[:, cols].sum() / scored) if scored else None,
                     "flipped": list(people[pid].flipped), "twin_of": people[pid].twin_of})
    groups = {}
    for name, keep in (("a flipped garment", lambda r: any(f in GARMENTS for f in r["flipped"])),
                       ("no flipped garment", lambda r: not any(f in GARMENTS for f in r["flipped"]))):
        chosen = [r for r in rows if keep(r) and r["pairs"]]
        pairs = sum(r["pairs"] for r in chosen)
        groups[name] = {"identities": len(chosen), "pairs": pairs,
                        "rank1": sum(r["rank1"] * r["pairs"] for r in chosen) / pairs if pairs else None}
    per_trial = hits.sum(1) / valid.sum(1)
    return {"checkpoint": checkpoint_info(checkpoint), "data": {"identities": n,
            "seed": stats["seed"], "ir_correlation": stats["ir_correlation"], "smoke": stats["smoke"],
            "generator_version": stats["generator_version"]},
            "trials": trials, "all_search_rank1": float(per_trial.mean()), "groups": groups, "identities": rows}


HEADER = ("| checkpoint | data | scored test ids | with a flipped garment | their R1 | the others' R1 | all-search R1 |\n"
          "|---|---|---|---|---|---|---|")


def table(folder: Path = OUT) -> str:
    """The Markdown table of every measurement in ``folder``, percent."""
    lines = [HEADER]
    for path in sorted(folder.glob("*.json")):
        r = json.loads(path.read_text())
        f, o = r["groups"]["a flipped garment"], r["groups"]["no flipped garment"]
        pct = lambda v: "-" if v is None else f"{100 * v:.1f}"   # noqa: E731
        lines.append(f"| {path.stem} | seed {r['data']['seed']}, {r['data']['identities']} ids | "
                     f"{f['identities'] + o['identities']} | {f['identities']} | {pct(f['rank1'])} | "
                     f"{pct(o['rank1'])} | {pct(r['all_search_rank1'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?")
    parser.add_argument("--tag", help="name of the results file (results/recipe/identities/TAG.json)")
    parser.add_argument("--trials", type=int, default=10, help="single-shot gallery draws (protocol: 10)")
    parser.add_argument("--table", action="store_true", help="print the table of the kept measurements")
    parser.add_argument("--doc", action="store_true", help="rewrite the table in docs/CPU_RECIPE.md")
    args = parser.parse_args()
    if args.table:
        print(table())
        return
    if args.doc:
        atomic_write_text(DOC, replace_section(DOC.read_text(), SECTION, table()))
        return
    if not args.checkpoint or not args.tag:
        parser.error("give a CHECKPOINT and --tag NAME, or --table")
    if not Path(args.checkpoint).is_file():
        parser.error(f"no checkpoint at {args.checkpoint}")
    if args.trials < 1:
        parser.error(f"--trials must be at least 1, got {args.trials}")
    try:
        result = measure(args.checkpoint, args.trials)
    except ValueError as e:
        parser.error(str(e))
    result["command"] = f"python benchmarks/diag_identities.py {args.checkpoint} --tag {args.tag} --trials {args.trials}"
    atomic_write_json(OUT / f"{args.tag}.json", result)
    print(table())


if __name__ == "__main__":
    main()
