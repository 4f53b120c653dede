"""``vireid demo``: the whole pipeline on the synthetic dataset, on a CPU, within minutes.

Steps: generate the synthetic data if absent; evaluate the network before training (the preset's start: the
shipped ``synthetic-visible`` weights, which have never seen an infrared image; random weights with
``--set model.pretrained=null``); train the ``cpu-demo`` preset on the SYSU-MM01-layout data; evaluate again
SYSU-style (all- and indoor-search) and RegDB-style (both directions); print the paper-format tables with the
before-training and trained rows; save a CMC plot and a ranked-results figure. The results file keeps the
before-training rows under ``"untrained"``, the name they had when every start was random.

The RegDB-style evaluation uses a synthetic RegDB-layout dataset generated with another seed, so its people
are not those of the training set: it measures transfer to unseen people seen by other cameras, not a model
trained on RegDB (``vireid reproduce --dataset regdb`` does that).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

from matplotlib.figure import Figure

from vireid_lib.config import Config, apply_overrides
from vireid_lib.data import open_dataset
from vireid_lib.data.synthetic import read_stats
from vireid_lib.evaluation.extract import extract_features, feature_options
from vireid_lib.evaluation.people import people_se
from vireid_lib.evaluation.protocols import (default_transform, evaluate, evaluate_within_visible, pairwise_distance,
                                             save_results)
from vireid_lib.evaluation.report import format_tables, headline_metrics, people_line, plot_cmc, settings_of
from vireid_lib.locks import folder_lock
from vireid_lib.machine import machine_info
from vireid_lib.models import build_model, check_start_data
from vireid_lib.presets import preset
from vireid_lib.provenance import checkpoint_info, describe_data
from vireid_lib.seeding import seed_everything
from vireid_lib.training import fit
from vireid_lib.visualize import ranked_results_figure, save_figure

DEMO_SMOKE = ("data.synthetic_smoke=true", "train.epochs=1", "train.max_steps_per_epoch=2", "train.ids_per_batch=2",
              "train.per_modality=2", "train.eval_every=0", "eval.sysu_trials=2", "data.num_workers=0")
"""What ``vireid demo --smoke`` changes: a couple of steps on the tiny synthetic sets (seconds, for tests). Not
only the data (that is ``data.synthetic_smoke``): the training is cut short too."""


REGDB_IDENTITIES = 100
"""Identities of the demo's RegDB-style set (50 test identities, 1,000 test images): enough for the
protocol, small enough to embed twice within the time budget."""


class DemoResult(NamedTuple):
    """What the demo measured and wrote.

    Attributes:
        untrained: protocol results of the network before training (its start) by setting (``"sysu/all"``, ...).
        trained: the same for the trained network.
        tables: the printed Markdown tables.
        files: the figures and results written, by name.
        seconds: wall time of the whole demo.
        within_visible: the within-visible diagnostic (``"untrained"``, ``"trained"``), beside the protocol.
    """

    untrained: dict[str, Any]
    trained: dict[str, Any]
    tables: str
    files: dict[str, Path]
    seconds: float
    within_visible: dict[str, Any]


_SETTING_LABELS = {"sysu/all": "SYSU-MM01 layout, all-search", "sysu/indoor": "SYSU-MM01 layout, indoor-search",
                   "regdb/v2t": "RegDB layout, visible→thermal (transfer)",
                   "regdb/t2v": "RegDB layout, thermal→visible (transfer)"}
"""Row labels of the README's demo table. The RegDB rows say "transfer": the demo scores its SYSU-trained model
there, where the RegDB protocol trains one model per trial (``benchmarks/bench_recipe.py --data regdb=T``)."""


def summary_table(results: dict[str, Any]) -> str:
    """The README's Markdown table of a demo results file (``demo.results.json``'s ``results``): per setting
    the before-training and trained rows, percent, SYSU-MM01 rows as mean ± std over the gallery draws, then the
    within-visible diagnostic beside all-search. The last column is Rank-1's standard error over draws of the
    test people (:func:`~vireid_lib.evaluation.people.people_se`; "-" for results saved without their person
    tables)."""
    def cells(r: dict[str, Any]) -> str:
        m, sd = r.get("mean", r), r.get("std")
        vals = [(m["cmc"][k], None if sd is None else sd["cmc"][k]) for k in (0, 9, 19)]
        vals += [(m["mAP"], None if sd is None else sd["mAP"]), (m["mINP"], None if sd is None else sd["mINP"])]
        se = people_se(r["people"]) if "people" in r else None
        return " | ".join([*(f"{100 * v:.2f}" + ("" if e is None else f" ± {100 * e:.2f}") for v, e in vals),
                           "-" if se is None else f"{100 * se:.2f}"])

    lines = ["| synthetic, protocol | model | R1 | R10 | R20 | mAP | mINP | R1 SE, test people |",
             "|---|---|---|---|---|---|---|---|"]
    for setting, label in _SETTING_LABELS.items():
        if setting in results["trained"]:
            lines.append(f"| {label} | before training | {cells(results['untrained'][setting])} |")
            lines.append(f"| | trained | {cells(results['trained'][setting])} |")
    if "within_visible" in results:
        lines.append(f"| SYSU-MM01 layout, within-visible (diagnostic) | before training | "
                     f"{cells(results['within_visible']['untrained'])} |")
        lines.append(f"| | trained | {cells(results['within_visible']['trained'])} |")
    return "\n".join(lines)


def demo_config(smoke: bool = False, overrides: tuple[str, ...] | list[str] = ()) -> Config:
    """The ``cpu-demo`` preset (with the smoke overrides when ``smoke``) plus ``overrides``."""
    return apply_overrides(preset("cpu-demo"), [*(DEMO_SMOKE if smoke else ()), *overrides])


COMMITTED_RESULTS = Path(__file__).resolve().parents[1] / "results" / "demo" / "demo.results.json"
"""The measured demo committed with the repository (``vireid demo`` on the full preset); absent from an
installed package."""


def demo_metrics(path: str | Path = COMMITTED_RESULTS) -> dict[str, Any]:
    """The numbers of a saved demo (``demo.results.json``), for prose computed from them.

    Returns:
        ``{"untrained": {setting: metrics}, "trained": {setting: metrics}, "config": dict | None}``, where
        metrics are ``{"rank1", "rank10", "rank20", "mAP", "mINP"}`` fractions
        (:func:`~vireid_lib.evaluation.report.headline_metrics`: SYSU-style settings are the mean over gallery
        draws) and
        the within-visible diagnostic, when the file records it, is the setting ``"within-visible"``.

    Raises:
        FileNotFoundError: no file at ``path``.
    """
    payload = json.loads(Path(path).read_text())
    results = payload["results"]
    out: dict[str, Any] = {}
    for name in ("untrained", "trained"):
        out[name] = {s: headline_metrics(r) for s, r in settings_of(results[name]).items()}
        within = results.get("within_visible", {}).get(name)
        if within is not None:
            out[name]["within-visible"] = headline_metrics(within)
    out["config"] = payload.get("config")
    return out


def _evaluate(model: Any, cfg: Config, sysu: Any, regdb: Any, regdb_cfg: Config) -> dict[str, Any]:
    return {**settings_of(evaluate(model, cfg, sysu, progress=False)),
            **settings_of(evaluate(model, regdb_cfg, regdb, progress=False))}


def _within_visible(model: Any, cfg: Config, sysu: Any) -> dict[str, Any]:
    return evaluate_within_visible(model, sysu, cfg.eval, cfg.data, progress=False)["visible"]


def _gap_line(name: str, cross: dict[str, Any], within: dict[str, Any]) -> str:
    c, w = cross["mean"], within["mean"]
    return (f"| {name} | {100 * c['cmc'][0]:.1f} / {100 * c['mAP']:.1f} | {100 * w['cmc'][0]:.1f} / "
            f"{100 * w['mAP']:.1f} |")


def ranked_example(model: Any, cfg: Config, reader: Any, query_index: int = 0, topk: int = 10) -> Any:
    """The ranked-results figure of one SYSU-style query against gallery trial 0 (all-search).

    Args:
        model: the network (evaluation mode).
        cfg: its config (input size and feature settings).
        reader: a SYSU-MM01-layout reader.
        query_index: which query of ``reader.query()``.
        topk: gallery images shown.

    Returns:
        A matplotlib figure (green border: same person, red: another).
    """
    query = list(reader.query())[query_index]
    gallery = list(reader.gallery(mode="all", trial=0))
    transform = default_transform(cfg.data)
    feats = [extract_features(model.eval(), records, transform, **feature_options(cfg.eval), num_workers=0,
                              progress=False)
             for records in ([query], gallery)]
    return ranked_results_figure(query, gallery, pairwise_distance(*feats)[0], topk=topk, protocol="sysu")


def run_demo(out_dir: str | Path = "runs/demo", *, smoke: bool = False, overrides: tuple[str, ...] = (),
             progress: bool = True, echo: Any = print) -> DemoResult:
    """Run the demo; see the module docstring.

    Args:
        out_dir: run folder (checkpoints, log, results JSON, figures); a finished run there is reused.
        smoke: tiny data and two training steps (seconds; for tests).
        overrides: ``section.key=value`` changes to the ``cpu-demo`` preset.
        progress: show progress bars.
        echo: where the report lines go.
    """
    out_dir = Path(out_dir)
    with folder_lock(out_dir, "vireid demo"):   # one writer: its checkpoint, results and figures
        return _run_demo(out_dir, smoke, overrides, progress, echo)


def _run_demo(out_dir: Path, smoke: bool, overrides: tuple[str, ...], progress: bool, echo: Any) -> DemoResult:
    t0 = time.perf_counter()
    cfg = demo_config(smoke, overrides)
    # Another seed: the RegDB-style people are not the training people.
    regdb_cfg = dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, dataset="regdb", trial=1, synthetic_seed=cfg.data.synthetic_seed + 1,
        synthetic_identities=None if cfg.data.synthetic_smoke else REGDB_IDENTITIES))
    for checked in (cfg, regdb_cfg):   # the RegDB-style set too: its seed is one above the SYSU-style one
        check_start_data(checked)
    echo("[1/4] synthetic data (generated on first use)")
    sysu = open_dataset(cfg.data)
    regdb = open_dataset(regdb_cfg.data)

    echo(f"[2/4] evaluating the network before training (its start: {cfg.model.pretrained or 'random weights'})")
    seed_everything(cfg.train.seed)  # the initialisation fit() starts from
    initial = build_model(cfg.model, sysu.num_train_ids).eval()
    untrained = _evaluate(initial, cfg, sysu, regdb, regdb_cfg)
    untrained_visible = _within_visible(initial, cfg, sysu)

    echo(f"[3/4] training {cfg.name} into {out_dir}")
    # The full protocol follows, so the periodic trial-0 evaluation is skipped to save time.
    result = fit(cfg, out_dir, resume=True, progress=progress, reader=sysu,
                 eval_fn=lambda model, cfg, reader: {})

    echo("[4/4] evaluating the trained network")
    trained = _evaluate(result.model, cfg, sysu, regdb, regdb_cfg)
    trained_visible = _within_visible(result.model, cfg, sysu)
    files = {"results": out_dir / "demo.results.json"}
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    for ax, proto in zip(fig.subplots(1, 2), ("sysu", "regdb")):
        curves = {f"{name} {s.split('/')[1]}": r for name, res in (("before training", untrained), ("trained", trained))
                  for s, r in res.items() if s.startswith(proto)}
        plot_cmc(curves, ax=ax, title=f"CMC, {proto.upper() if proto == 'sysu' else 'RegDB'}-style synthetic")
    files["cmc"] = save_figure(fig, out_dir / "cmc.png")
    files["ranked"] = save_figure(ranked_example(result.model, cfg, sysu), out_dir / "ranked_results.png")
    data, regdb_data = describe_data(sysu), describe_data(regdb)
    # the lines printed before the tables say that every row is on synthetic data, and which
    tables = format_tables({"before training": untrained, f"trained ({cfg.name})": trained})
    seconds = time.perf_counter() - t0
    # What produced these numbers: the data (synthetic, its size and seed, in the config), the checkpoint
    # (epochs, steps) and the machine and wall time of this call (data generation included on a cold cache).
    save_results({"untrained": untrained, "trained": trained,
                  "within_visible": {"untrained": untrained_visible, "trained": trained_visible},
                  "run": {"seconds": seconds, "epochs": result.epochs, "steps": result.steps,
                          "checkpoint": str(result.last), "synthetic": {
                              "sysu": read_stats(sysu.root), "regdb": read_stats(regdb.root)} if cfg.data.root is None else None,
                          "regdb_style_data": regdb_data, "machine": machine_info()}},
                 out_dir / "demo.results.json", cfg, data=data, checkpoint=checkpoint_info(result.last))
    echo("")
    echo(f"SYNTHETIC data, not the real datasets. SYSU-style: trained on the SYSU-MM01-layout set ({data.get('identities')} "
         f"identities, seed {data.get('seed')}), {cfg.eval.sysu_trials} gallery draws. RegDB-style: unseen people of a "
         f"RegDB-layout set ({regdb_data.get('identities')} identities, seed {regdb_data.get('seed')}), scored with the "
         "SYSU-trained model: a transfer, not the RegDB protocol, which trains one model per trial.")
    echo("The paper's row (real data, ResNet-50 at 288x144, 100 epochs) is shown for the format only.")
    echo("")
    echo(tables)
    echo("")
    echo("Beside the protocol, the same test identities within the visible modality (cams 1, 2 -> 4, 5):")
    echo("| model | all-search R1 / mAP | within-visible R1 / mAP |")
    echo("|---|---|---|")
    echo(_gap_line("before training", untrained["sysu/all"], untrained_visible))
    echo(_gap_line("trained", trained["sysu/all"], trained_visible))
    echo("")
    echo(people_line(trained))
    echo("")
    for name, path in files.items():
        echo(f"{name}: {path}")
    echo(f"wall time: {seconds / 60:.1f} min ({seconds:.0f} s)")
    echo("Next: open notebooks/00_quickstart.ipynb (jupyter lab notebooks/00_quickstart.ipynb).")
    return DemoResult(untrained, trained, tables, files, seconds,
                      {"untrained": untrained_visible, "trained": trained_visible})
