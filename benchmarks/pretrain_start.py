"""Build the shipped ``synthetic-visible`` start (:mod:`vireid_lib.models.start`), the ``cpu-demo`` preset's
stand-in for the paper's ImageNet weights:

    python benchmarks/pretrain_start.py            # about 7 minutes on 2 cores

It trains the ``cpu-demo`` network from random weights (``model.pretrained=null``) for 68 epochs of 50 steps
on the visible images alone (:class:`~vireid_lib.data.views.VisibleOnly`) of the synthetic SYSU-MM01 layout
at dataset seed :data:`~vireid_lib.models.start.PRETRAIN_SEED`, two threads, then writes the visible stem and
layer2-4 as a torchvision-style ResNet state dict into ``vireid_lib/weights/`` with a JSON record beside it:
the config, the data, the steps, the machine, the commit, the file's SHA-256, and the network's own
all-search and within-visible Rank-1 on that set's test people, 10 gallery draws (it has never seen an
infrared image, so it finds few of them across modalities). The training folder (``--work``) resumes an
interrupted run. On the same machine and
thread count a rebuild gives the same bytes; ``--check`` rebuilds into the work folder only and says whether
the shipped file is what the command gives.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import time
from pathlib import Path

import torch

from benchmarks.grid_repeat import library_commit
from vireid_lib.config import apply_overrides
from vireid_lib.data import SYSUMM01, synthetic
from vireid_lib.data.views import VisibleOnly
from vireid_lib.evaluation.protocols import evaluate_sysu, evaluate_within_visible
from vireid_lib.io import atomic_write, atomic_write_json
from vireid_lib.machine import machine_info
from vireid_lib.models.start import PRETRAIN_SEED, file_sha256, resnet_state_dict, start_files
from vireid_lib.presets import preset
from vireid_lib.training import fit

NAME = "synthetic-visible"
EPOCHS = 68
"""Twice the demo's epochs: the one budget measured (docs/CPU_RECIPE.md, the pretrained-start probes)."""
THREADS = 2


def pretrain_config():
    return apply_overrides(preset("cpu-demo"), ["model.pretrained=null", f"data.synthetic_seed={PRETRAIN_SEED}",
                                                f"train.epochs={EPOCHS}", "train.eval_every=0"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="runs/pretrain_start", help="the training folder (resumable)")
    parser.add_argument("--check", action="store_true", help="rebuild and compare with the shipped file; "
                                                             "write nothing into the package")
    a = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    cfg = pretrain_config()
    root = synthetic.synthetic_root("sysu", identities=cfg.data.synthetic_identities, seed=PRETRAIN_SEED,
                                    ir_correlation=cfg.data.synthetic_ir_correlation)
    reader = VisibleOnly(SYSUMM01(root))
    t0 = time.perf_counter()
    run = fit(cfg, a.work, resume=True, progress=False, reader=reader, eval_fn=lambda model, cfg, reader: {})
    seconds = time.perf_counter() - t0
    state = resnet_state_dict(run.model.state_dict())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    weights, record = start_files(NAME)
    built = Path(a.work) / weights.name
    atomic_write(built, lambda f: f.write(buffer.getvalue()))
    if a.check:
        same = weights.is_file() and file_sha256(built) == file_sha256(weights)
        print(f"{built}: {'the same bytes as' if same else 'NOT the bytes of'} {weights}")
        return 0 if same else 1
    cross = evaluate_sysu(run.model, reader, cfg.eval, cfg.data, modes=("all",), progress=False)["all"]["mean"]
    within = evaluate_within_visible(run.model, reader, cfg.eval, cfg.data, progress=False)["visible"]["mean"]
    atomic_write(weights, lambda f: f.write(buffer.getvalue()))
    atomic_write_json(record, {
        "name": NAME, "arch": cfg.model.arch, "width": cfg.model.width, "sha256": file_sha256(weights),
        "command": "python benchmarks/pretrain_start.py", "commit": library_commit(),
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
