"""Which modality holds a trained model back? Rank-1 and mAP of one SYSU-MM01-layout checkpoint within each
modality and across them, on the test identities.

    python benchmarks/diag_modalities.py CHECKPOINT --tag NAME [--trials 3]   # writes results/recipe/modalities/NAME.json
    python benchmarks/diag_modalities.py --table                               # the Markdown table of those files
    python benchmarks/diag_modalities.py --doc                                 # rewrite docs/CPU_RECIPE.md's copy

Four retrieval settings, each against a single-shot gallery (one image per test identity and gallery camera,
drawn with ``random.Random(trial)`` as the protocol's is), averaged over ``--trials`` draws:

- **within infrared**: cam3 queries against cam6, and cam6 queries against cam3 (the two infrared cameras),
  pooled over both directions;
- **within visible**: the diagnostic of ``SYSUMM01.within_visible`` (cams 1-2 against 4-5);
- **infrared -> visible**: the all-search protocol (cams 3, 6 against 1, 2, 4, 5, with its cam3/cam2 rule);
- **visible -> infrared**: the indoor visible images (cams 1, 2) against the infrared cameras.

The two within-modality galleries hold a different number of images (two visible cameras, one infrared
camera per direction), so read each row against its own chance level, which the table gives.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vireid_lib.data import open_dataset
from vireid_lib.data.records import Record
from vireid_lib.evaluation.protocols import _features, default_transform, evaluate_features, evaluate_sysu
from vireid_lib.evaluation.protocols import evaluate_within_visible
from vireid_lib.io import atomic_write_text
from vireid_lib.markdown import replace_section, section
from vireid_lib.checkpoints import load_model

OUT = Path(__file__).resolve().parents[1] / "results" / "recipe" / "modalities"
DOC = Path(__file__).resolve().parents[1] / "docs" / "CPU_RECIPE.md"
SECTION = "modalities_table"   # <!-- modalities_table --> ... <!-- /modalities_table --> in DOC
SETTINGS = ("within infrared", "within visible", "infrared -> visible", "visible -> infrared")


def _pooled(parts: list[tuple[int, dict[str, Any]]]) -> dict[str, float]:
    """Query-weighted Rank-1 and mAP (in %) of several query sets."""
    n = sum(k for k, _ in parts)
    return {"r1": 100 * sum(k * m["cmc"][0] for k, m in parts) / n,
            "mAP": 100 * sum(k * m["mAP"] for k, m in parts) / n}


def measure(checkpoint: str | Path, trials: int = 3) -> dict[str, Any]:
    """The four settings of the module docstring for one checkpoint, each ``{"r1", "mAP", "chance_r1"}``
    (chance: the mean over queries of one over the gallery size, in %)."""
    model, cfg = load_model(checkpoint)
    reader = open_dataset(cfg.data)
    tf = default_transform(cfg.data)

    def feats(records: Sequence[Record]) -> torch.Tensor:
        return _features(model, records, tf, cfg.eval, "cpu", False, cfg.data.num_workers)

    ir = reader.query()
    visible, _ = reader.within_visible(0)                   # every cam1 and cam2 image of the test ids
    ir_f, vis_f = feats(ir), feats(visible)
    ir_index = {r.path: i for i, r in enumerate(ir)}
    out: dict[str, Any] = {}
    rows: dict[str, list[dict[str, float]]] = {s: [] for s in SETTINGS}
    for t in range(trials):
        rng = random.Random(t)
        parts = []
        for qcam, gcam in ((3, 6), (6, 3)):
            qs = [r for r in ir if r.camid == qcam]
            gs = reader._single_shot((gcam,), rng)   # the protocol's own single-shot draw
            m = evaluate_features(ir_f[[ir_index[r.path] for r in qs]], ir_f[[ir_index[r.path] for r in gs]],
                                  qs, gs, protocol="regdb")
            parts.append((m["num_valid_queries"], m | {"gallery": len(gs)}))
        rows["within infrared"].append(_pooled(parts) | {
            "chance_r1": 100 * sum(k / m["gallery"] for k, m in parts) / sum(k for k, _ in parts)})
        gs = reader._single_shot((3, 6), rng)
        m = evaluate_features(vis_f, ir_f[[ir_index[r.path] for r in gs]], visible, gs, protocol="regdb")
        rows["visible -> infrared"].append(_pooled([(m["num_valid_queries"], m)]) | {"chance_r1": 100 / len(gs)})
    vis = evaluate_within_visible(model, reader, cfg.eval, cfg.data, trials=trials, progress=False)
    sysu = evaluate_sysu(model, reader, cfg.eval, cfg.data, modes=("all",), trials=trials, progress=False)
    for name, res, gallery in (("within visible", vis["visible"], reader.within_visible(0)[1]),
                               ("infrared -> visible", sysu["all"], reader.gallery("all", 0))):
        rows[name].append({"r1": 100 * res["mean"]["cmc"][0], "mAP": 100 * res["mean"]["mAP"],
                           "chance_r1": 100 / len(gallery)})
    for s in SETTINGS:
        out[s] = {k: round(float(np.mean([r[k] for r in rows[s]])), 1) for k in ("r1", "mAP", "chance_r1")}
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    out["checkpoint"] = {"path": str(checkpoint), "epoch": int(ckpt.get("epoch", -1))}
    out["data"] = {"dataset": cfg.data.dataset, "synthetic_identities": cfg.data.synthetic_identities,
                   "synthetic_seed": cfg.data.synthetic_seed,
                   "synthetic_ir_correlation": cfg.data.synthetic_ir_correlation, "root": cfg.data.root}
    out["trials"] = trials
    return out


def table(folder: Path = OUT) -> str:
    """One row per measured checkpoint: Rank-1 (chance) of each setting."""
    rows = ["| checkpoint | " + " | ".join(f"{s} R1 (chance)" for s in SETTINGS) + " |",
            "|---|" + "---|" * len(SETTINGS)]
    for path in sorted(folder.glob("*.json")):
        d = json.loads(path.read_text())
        rows.append(f"| {path.stem} | " + " | ".join(f"{d[s]['r1']:.1f} ({d[s]['chance_r1']:.1f})"
                                                     for s in SETTINGS) + " |")
    return "\n".join(rows)


def doc_section(text: str) -> str:
    """What stands between the document's modalities markers."""
    return section(text, SECTION)


def write_doc(path: Path = DOC) -> None:
    """Put :func:`table` between the document's markers."""
    atomic_write_text(path, replace_section(path.read_text(), SECTION, table()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?")
    parser.add_argument("--tag")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--doc", action="store_true", help="rewrite the table in docs/CPU_RECIPE.md")
    a = parser.parse_args()
    if a.table:
        print(table())
        return
    if a.doc:
        write_doc()
        return
    if not (a.checkpoint and a.tag):
        parser.error("give CHECKPOINT and --tag, or --table")
    torch.set_num_threads(a.threads)
    result = measure(a.checkpoint, a.trials)
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / f"{a.tag}.json", json.dumps(result, indent=1) + "\n")
    print(json.dumps({s: result[s] for s in SETTINGS}, indent=1))


if __name__ == "__main__":
    main()
