"""Learning-curve probes of the CPU recipe: train the ``cpu-demo`` preset with ``--set`` changes on the
synthetic SYSU-MM01 layout and record, every ``train.eval_every`` epochs, the all-search and within-visible
Rank-1 and mAP (a few gallery draws, for speed).

    python benchmarks/probe_recipe.py --tag NAME [--set key=value ...] [--threads 2] [--trials 2]
    python benchmarks/probe_recipe.py --table          # the Markdown table of results/recipe/probes/*.json

Two diagnostics replace part of the pipeline for one probe only: ``--shared-stem`` sends infrared images
through the visible stem (is a separate infrared stem what keeps the gap?), ``--ir-easy`` renders the
infrared cameras with visible-like blur and noise (are they what keeps the gap?), ``--ir-luma`` gives every
infrared material the level of its visible luma (infrared keeps everything but hue: the upper bound of what
this generator's data can give across modalities). The probes behind
``docs/CPU_RECIPE.md`` are in ``results/recipe/probes/`` with their settings and notes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from vireid_lib.config import apply_overrides
from vireid_lib.machine import machine_info
from vireid_lib.presets import preset

PROBES = Path(__file__).resolve().parents[1] / "results" / "recipe" / "probes"


def table(folder: Path = PROBES) -> str:
    """One row per probe: the settings that differ from the base preset, then each evaluated point as
    ``step: all-search R1 / within-visible R1``."""
    rows = ["| probe | what changed | steps: all-search R1 / within-visible R1 (%) |", "|---|---|---|"]
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stem.lower()):
        d = json.loads(path.read_text())
        # Older records hold no step per point: every eval_every epochs of 50 steps.
        every = next((int(s.split("=")[1]) for s in d["set"] if s.startswith("train.eval_every=")), 6) * 50
        points = ", ".join(f"{c.get('step', every * (i + 1))}: {c['cross_r1']:.1f} / {c['vis_r1']:.1f}"
                           for i, c in enumerate(d["curve"]))
        machine = d.get("machine")   # older records name no machine (the 2-core CPU) and say their version in the note
        draws = d.get("trials", 2)   # older records hold no count: the default 2 gallery draws
        note = d["note"] if machine is None else (
            f"{d['note']} (generator version {d['synthetic']['generator_version']}; "
            f"ran on {machine['cuda'][0] if machine['cuda'] else 'the CPU'}"
            f"{'' if draws == 2 else f'; {draws} gallery draws'})")
        rows.append(f"| {d['tag']} | {note} | {points}{'' if d['finished'] else ' (stopped)'} |")
    return "\n".join(rows)


def _patch_build(change) -> None:
    """Every network ``fit`` builds goes through ``change(model)``: the name ``training`` calls is patched, the
    one it imported (patching ``vireid_lib.models.build_model`` alone left ``fit``'s own binding untouched)."""
    from vireid_lib import training

    original = training.build_model

    def build(*args, **kwargs):
        model = original(*args, **kwargs)
        change(model)
        return model
    training.build_model = build


def _patch_shared_stem() -> None:
    def shared(model):
        model.backbone.stems["infrared"] = model.backbone.stems["visible"]
    _patch_build(shared)


def _patch_init(checkpoint: str) -> None:
    from vireid_lib.audit import load_backbone

    _patch_build(lambda model: load_backbone(model, checkpoint))


def _patch_ir_easy() -> None:
    from vireid_lib.data import synthetic

    original = synthetic._camera.__wrapped__

    def camera(layout, seed, camid):
        cam = original(layout, seed, camid)
        return dataclasses.replace(cam, blur=0.5, noise=0.012) if cam.modality == "infrared" else cam
    synthetic._camera = camera


def _patch_ir_luma() -> None:
    from vireid_lib.data import synthetic

    original = synthetic._tables

    def tables(person, pose):
        rgb, heat = original(person, pose)
        levels = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]   # (N_MATERIALS,) visible luma
        return rgb, (0.2 + 0.62 * levels).astype(heat.dtype)
    synthetic._tables = tables


def _patch_skin_luma() -> None:
    from vireid_lib.data import synthetic

    original = synthetic._tables

    def tables(person, pose):
        rgb, heat = original(person, pose)
        for m in (synthetic.SKIN, synthetic.HAIR):
            heat[m] = 0.2 + 0.62 * (0.299 * rgb[m, 0] + 0.587 * rgb[m, 1] + 0.114 * rgb[m, 2])
        return rgb, heat
    synthetic._tables = tables


def _patch_visible_grey(probability: float) -> None:
    from torchvision import transforms as T

    from vireid_lib.data import dataset, transforms

    original = transforms.train_transforms

    def grey_sometimes(img):
        return transforms._grey(img) if float(torch.rand(1)) < probability else img

    def train_transforms(height, width):
        pipes = original(height, width)
        pipes["visible"] = T.Compose([*pipes["visible"].transforms, grey_sometimes])
        return pipes
    dataset.train_transforms = train_transforms


def main() -> None:
    from vireid_lib.data import open_dataset
    from vireid_lib.data.synthetic import read_stats
    from vireid_lib.evaluation.protocols import evaluate_sysu, evaluate_within_visible
    from vireid_lib.runs import runs_dir
    from vireid_lib.training import fit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag")
    parser.add_argument("--set", nargs="*", default=[])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--shared-stem", action="store_true")
    parser.add_argument("--init", help="a vireid checkpoint whose backbone (stems, layer2-4) every probe network "
                                       "starts from (audit.load_backbone), in place of random weights")
    parser.add_argument("--ir-easy", action="store_true", help="use a fresh VIREID_CACHE: the images change")
    parser.add_argument("--ir-luma", action="store_true",
                        help="infrared levels follow each material's visible luma exactly (no flips, no "
                             "independent part, skin and hair too): infrared keeps everything but hue; "
                             "use a fresh VIREID_CACHE: the images change")
    parser.add_argument("--flips", type=float, default=None,
                        help="share of fabrics whose infrared brightness is inverted (the generator's "
                             "FLIPPED_FABRICS); use a fresh VIREID_CACHE: the images change")
    parser.add_argument("--skin-luma", action="store_true",
                        help="skin and hair levels in infrared at exactly their visible luma (versions 2 and 3 "
                             "draw them by the ir_correlation rule, version 2 skin in a fixed band); use a fresh "
                             "VIREID_CACHE: the images change")
    parser.add_argument("--visible-grey", type=float, default=None,
                        help="recipe diagnostic: the visible training pipeline turns an image grey (luma) with "
                             "this probability (the exchanged and infrared pipelines are unchanged)")
    parser.add_argument("--note", default="", help="what this probe changes, for the table")
    parser.add_argument("--table", action="store_true")
    a = parser.parse_args()
    if a.table:
        print(table())
        return
    if not a.tag:
        parser.error("--tag is required unless --table")
    torch.set_num_threads(a.threads)
    if a.shared_stem and a.init:
        parser.error("--init and --shared-stem together would load both stems' weights into the one shared stem")
    if a.shared_stem:
        _patch_shared_stem()
    if a.ir_easy:
        # The patched images must never land in (or come from) the shared cache under the normal name.
        os.environ["VIREID_CACHE"] = tempfile.mkdtemp(prefix="vireid-ir-easy-")
        _patch_ir_easy()
    if a.ir_luma:
        os.environ["VIREID_CACHE"] = tempfile.mkdtemp(prefix="vireid-ir-luma-")
        _patch_ir_luma()
    if a.flips is not None or a.skin_luma:
        from vireid_lib.data import synthetic

        os.environ["VIREID_CACHE"] = tempfile.mkdtemp(prefix="vireid-variant-")
        if a.flips is not None:
            synthetic.FLIPPED_FABRICS = a.flips
        if a.skin_luma:
            _patch_skin_luma()
    if a.visible_grey is not None:
        _patch_visible_grey(a.visible_grey)
    # from random weights, as every probe of the table was measured, unless --set names a start
    cfg = apply_overrides(preset("cpu-demo"), ["model.pretrained=null", *a.set])
    init_sha256 = None
    if a.init:
        from vireid_lib.audit import load_backbone
        from vireid_lib.checkpoints import load_checkpoint, weights_sha256
        from vireid_lib.models import build_model

        try:   # no checkpoint, or one of another arch or width: refused in one line before any data is made
            init_sha256 = weights_sha256(load_checkpoint(a.init)["model"])
            load_backbone(build_model(cfg.model, 2), a.init)
        except (FileNotFoundError, ValueError) as e:
            parser.error(f"--init: {e}")
        _patch_init(a.init)
    reader = open_dataset(cfg.data)
    curve, t0, last = [], time.time(), {"step": 0}

    def evaluate(model, cfg, reader):
        x = evaluate_sysu(model, reader, cfg.eval, cfg.data, modes=("all",), trials=a.trials,
                          progress=False)["all"]["mean"]
        v = evaluate_within_visible(model, reader, cfg.eval, cfg.data, trials=a.trials, progress=False)["visible"]["mean"]
        curve.append({"t": round(time.time() - t0), "step": last["step"], "cross_r1": round(100 * x["cmc"][0], 1),
                      "cross_mAP": round(100 * x["mAP"], 1), "vis_r1": round(100 * v["cmc"][0], 1),
                      "vis_mAP": round(100 * v["mAP"], 1)})
        print(a.tag, curve[-1], flush=True)
        return {"mAP": x["mAP"]}

    out = runs_dir() / "probes" / a.tag
    shutil.rmtree(out, ignore_errors=True)
    result = fit(cfg, out, resume=False, progress=False, reader=reader, eval_fn=evaluate,
                 on_step=lambda record: last.update(step=record.step))
    record = {"tag": a.tag, "set": a.set, "curve": curve, "train_s": result.seconds, "steps": result.steps,
              "finished": True, "note": a.note, "preset": "cpu-demo", "shared_stem": a.shared_stem, "init": a.init,
              "init_sha256": init_sha256,
              "ir_easy": a.ir_easy, "ir_luma": a.ir_luma, "flips": a.flips,
              "skin_luma": a.skin_luma,
              "visible_grey": a.visible_grey, "trials": a.trials, "config": cfg.to_dict(), "synthetic": read_stats(reader.root),
              "machine": machine_info()}
    PROBES.mkdir(parents=True, exist_ok=True)
    (PROBES / f"{a.tag}.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
