"""Build the shipped ``synthetic-visible`` start (:mod:`vireid_lib.models.start`), the ``cpu-demo`` preset's
stand-in for the paper's ImageNet weights:

    python benchmarks/pretrain_start.py            # about 7 to 10 minutes on 2 cores (the record keeps it)
    python benchmarks/pretrain_start.py --name synthetic-visible-long   # twice the steps, about 16 minutes

It trains the ``cpu-demo`` network from random weights (``model.pretrained=null``) for 68 epochs of 50 steps
on the visible images alone (:class:`~vireid_lib.data.views.VisibleOnly`) of the synthetic SYSU-MM01 layout
at dataset seed :data:`~vireid_lib.models.start.PRETRAIN_SEED`, two threads, then writes the visible stem and
layer2-4 as a torchvision-style ResNet state dict into ``vireid_lib/weights/`` with a JSON record beside it:
the config, the data, the steps, the machine, the commit, the file's SHA-256, and the network's own
all-search and within-visible Rank-1 on that set's test people, 10 gallery draws (it has never seen an
infrared image, so it finds few of them across modalities). The training folder (``--work``) resumes an
interrupted run (a folder trained on other synthetic data is refused). On the same machine and thread count a
rebuild gives the same tensors. Where the shipped file exists the command only compares (``--check`` rebuilds
in a fresh folder): it writes nothing and says whether the rebuilt tensors are the shipped ones, since records
name a start by its name alone; a start built otherwise gets a new name in
:data:`~vireid_lib.models.start.STARTS`.

What it is, and what it is not: re-identification pretraining (the five losses, person labels) on the visible
images of other people drawn by the same generator, channel exchange included (one colour channel copied to
three, as the recipe does), never an infrared image. ImageNet is another task on other images; this start is
closer to the demo's task than ImageNet is to the paper's, and the README says so beside the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import tempfile
from pathlib import Path

import torch

from vireid_lib.config import apply_overrides
from vireid_lib.data import SYSUMM01, synthetic
from vireid_lib.data.synthetic import read_stats
from vireid_lib.data.views import VisibleOnly
from vireid_lib.evaluation.protocols import evaluate_sysu, evaluate_within_visible
from vireid_lib.io import atomic_write, atomic_write_json
from vireid_lib.checkpoints import weights_sha256
from vireid_lib.machine import library_commit, machine_info
from vireid_lib.models.start import PRETRAIN_SEED, file_sha256, resnet_state_dict, start_files
from vireid_lib.runs import fit_seconds, runs_dir
from vireid_lib.presets import preset
from vireid_lib.training import fit

NAME = "synthetic-visible"
EPOCHS = 68
"""Twice the demo's epochs: the one budget measured (docs/CPU_RECIPE.md, the pretrained-start probes)."""
SHIPPED_EPOCHS = {NAME: EPOCHS, "synthetic-visible-long": 2 * EPOCHS}
"""Each shipped start's epochs of 50 steps, its one difference from the others (``--name`` picks it):
``synthetic-visible-long`` is candidate B of docs/CPU_RECIPE.md, twice the steps on the same people."""
THREADS = 2


def pretrain_config(epochs: int = EPOCHS, identities: int | None = None):
    return apply_overrides(preset("cpu-demo"), ["model.pretrained=null", f"data.synthetic_seed={PRETRAIN_SEED}",
                                                f"train.epochs={epochs}", "train.eval_every=0",
                                                "data.synthetic_identities=" + json.dumps(identities)])


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=None, help="the training folder (resumable; default "
                                                     "$VIREID_RUNS/pretrain_start)")
    parser.add_argument("--check", action="store_true", help="rebuild in a fresh folder and compare its tensors "
                                                             "with the shipped file's; write nothing into the package")
    parser.add_argument("--name", choices=sorted(SHIPPED_EPOCHS), default=NAME,
                        help=f"the shipped start to build or check (default {NAME})")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of 50 steps (default: the named start's, " + ", ".join(
                            f"{k} {v}" for k, v in SHIPPED_EPOCHS.items()) + ")")
    parser.add_argument("--identities", type=int, default=None,
                        help="identities of the pretraining set (default: the layout's, 200)")
    parser.add_argument("--out", type=Path, default=None,
                        help="build a candidate start into this folder (start.pt and start.json, for "
                             "model.pretrained=<folder>/start.pt), never into the package: needed with --epochs "
                             "or --identities other than the shipped start's")
    a = parser.parse_args(argv)
    a.epochs = SHIPPED_EPOCHS[a.name] if a.epochs is None else a.epochs
    if (a.epochs != SHIPPED_EPOCHS[a.name] or a.identities is not None) and a.out is None:
        parser.error("a start built otherwise than the shipped one is a candidate: give --out FOLDER "
                     "(the shipped file keeps its recipe; a new shipped start gets a new name in STARTS)")
    torch.set_num_threads(THREADS)
    cfg = pretrain_config(a.epochs, a.identities)
    root = synthetic.synthetic_root("sysu", identities=cfg.data.synthetic_identities, seed=PRETRAIN_SEED,
                                    ir_correlation=cfg.data.synthetic_ir_correlation)
    reader = VisibleOnly(SYSUMM01(root))
    weights, record = start_files(a.name) if a.out is None else (a.out / "start.pt", a.out / "start.json")
    shipped = torch.load(weights, map_location="cpu", weights_only=True) \
        if weights.is_file() and a.out is None else None
    with tempfile.TemporaryDirectory() as fresh:
        work = Path(fresh) if a.check else Path(a.work) if a.work else runs_dir() / "pretrain_start"
        kept_on = work / "synthetic.json"   # the data a kept folder was trained on: the generator is not in the config
        if kept_on.is_file() and json.loads(kept_on.read_text()) != read_stats(root):
            parser.error(f"{work} was trained on other synthetic data ({kept_on}); delete it to train again")
        atomic_write_json(kept_on, read_stats(root))
        run = fit(cfg, work, resume=True, progress=False, reader=reader, eval_fn=lambda model, cfg, reader: {})
        seconds = fit_seconds(work)   # every call's training time, a resumed run's included
    state = resnet_state_dict(run.model.state_dict())
    if shipped is not None or a.check:
        same = shipped is not None and _same_tensors(state, shipped)
        print(f"{weights} is missing" if shipped is None else
              f"the rebuilt {a.name} start {'has' if same else 'does NOT have'} the tensors of {weights}"
              + ("" if same or a.check else "; records name a start by its name alone, so the shipped file is "
                 "kept: give other weights a new name in vireid_lib.models.start.STARTS"))
        return 0 if same else 1
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    cross = evaluate_sysu(run.model, reader, cfg.eval, cfg.data, modes=("all",), progress=False)["all"]["mean"]
    within = evaluate_within_visible(run.model, reader, cfg.eval, cfg.data, progress=False)["visible"]["mean"]
    atomic_write(weights, lambda f: f.write(buffer.getvalue()))
    atomic_write_json(record, {
        "name": a.name if a.out is None else f"candidate ({a.out})", "arch": cfg.model.arch, "width": cfg.model.width,
        "sha256": file_sha256(weights),
        "weights_sha256": weights_sha256(state),
        "command": "python benchmarks/pretrain_start.py" + ("" if a.name == NAME else f" --name {a.name}") + (
            "" if a.out is None else " " + " ".join(
            f"--{k} {v}" for k, v in (("epochs", a.epochs), ("identities", a.identities), ("out", a.out))
            if v is not None)),
        "commit": library_commit(),
        "config": dataclasses.asdict(cfg), "steps": run.steps, "threads": THREADS, "train_seconds": round(seconds, 1),
        "data": {"layout": "sysu", "seed": PRETRAIN_SEED, "generator_version": synthetic.GENERATOR_VERSION,
                 "train_ids": reader.num_train_ids, "train_images_visible": len(reader.train) // 2,
                 "modalities_seen": ["visible"]},
        "own_set": {"gallery_draws": cfg.eval.sysu_trials, "all_search_rank1": cross["cmc"][0],
                    "all_search_mAP": cross["mAP"], "within_visible_rank1": within["cmc"][0],
                    "within_visible_mAP": within["mAP"]},
        "machine": machine_info(),
    })
    print(f"wrote {weights} and {record}: on its own set's test people, all-search Rank-1 {100 * cross['cmc'][0]:.1f}, "
          f"within-visible {100 * within['cmc'][0]:.1f} ({cfg.eval.sysu_trials} gallery draws)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
