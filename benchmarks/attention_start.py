"""How MCA and PCA should start and learn on top of a trained backbone: the short run of issue 11.

ImageNet weights cannot be fetched on any machine here, so the stand-in for a pretrained backbone is the
two-stream ResNet of a synthetic run (by default the demo's checkpoint). Its backbone weights are loaded;
MCA, PCA and the heads start fresh, as they do on top of ImageNet weights in a real run. Each variant
(``model.attention_init`` x ``train.attention_lr_mult``) then trains a short run with the paper's optimiser
(SGD, heads at 10x the backbone's rate, a linear warm-up, the paper presets' loss weights and reductions),
on the checkpoint's data and input size. Recorded per variant:

- at step 0, before any update: how far MCA and PCA move the backbone's final map (relative L2 change on
  a batch of test images), and the all-search Rank-1 / mAP of the fresh model (the heads' BN-neck is
  untrained, so this measures what the attention blocks do to the trained features);
- after the run: all-search Rank-1 / mAP and the first and last losses.

    python benchmarks/attention_start.py [--checkpoint runs/demo/last.pt] [--steps 200] [--seeds 0]

Writes ``results/audit/attention_start.json`` (with the command, the checkpoint's provenance and the data)
and prints a Markdown table (``--table`` prints the table of the saved file).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import vireid_lib.models as models
from vireid_lib.config import Config
from vireid_lib.data import open_dataset
from vireid_lib.data.dataset import ImageDataset
from vireid_lib.evaluation.protocols import default_transform, evaluate_sysu
from vireid_lib.presets import preset
from vireid_lib.provenance import checkpoint_info, describe_data
from vireid_lib.checkpoints import load_model
from vireid_lib.runs import read_log
from vireid_lib.seeding import seed_everything
from vireid_lib.training import fit

OUT = Path(__file__).resolve().parents[1] / "results" / "audit" / "attention_start.json"
VARIANTS = (("default", None), ("default", 0.1), ("identity", None), ("identity", 0.1))


def backbone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The two-stream ResNet's weights (stems, layer2-4) of a trained model: the 'pretrained' part."""
    return {k: v.detach().clone() for k, v in model.backbone.state_dict().items()}


def short_run_config(trained: Config, init: str, lr_mult: float | None, steps: int, seed: int) -> Config:
    """The trained run's data, network and input size; the paper preset's optimiser and losses, compressed
    to ``steps`` steps (epochs of 50 steps, warm-up over the first half, no decay)."""
    paper = preset(f"paper-{trained.data.dataset}")
    epochs = max(2, steps // 50)
    train = dataclasses.replace(paper.train, epochs=epochs, max_steps_per_epoch=50, warmup_epochs=epochs // 2,
                                milestones=(10 * epochs,), attention_lr_mult=lr_mult, seed=seed, eval_every=0,
                                tensorboard=False)
    model = dataclasses.replace(trained.model, attention_init=init, pretrained=None)
    return dataclasses.replace(trained, name="attention-start", model=model, loss=paper.loss, train=train)


@torch.no_grad()
def attention_shift(model: torch.nn.Module, images: torch.Tensor, modality: str) -> float:
    """``||final - no_attention|| / ||no_attention||`` of the final map, where ``no_attention`` runs the same
    backbone with MCA and PCA skipped."""
    maps = model.forward_intermediates(images, modality)
    x = model.backbone.stem(images, modality)
    for name in ("layer2", "layer3", "layer4"):
        x = getattr(model.backbone, name)(x)
    return float((maps["final"] - x).norm() / x.norm())


def all_search(model: torch.nn.Module, cfg: Config, reader: Any, trials: int) -> dict[str, float]:
    mean = evaluate_sysu(model, reader, cfg.eval, cfg.data, modes=("all",), trials=trials,
                         progress=False)["all"]["mean"]
    return {"r1": round(100 * float(mean["cmc"][0]), 1), "mAP": round(100 * float(mean["mAP"]), 1)}


def run_variant(trained_state: dict[str, torch.Tensor], cfg: Config, reader: Any, images: torch.Tensor,
                trials: int) -> dict[str, Any]:
    original = models.build_model

    def build_with_trained_backbone(*args: Any, **kwargs: Any) -> torch.nn.Module:
        model = original(*args, **kwargs)
        model.backbone.load_state_dict(trained_state)
        return model

    seed_everything(cfg.train.seed)
    start = build_with_trained_backbone(cfg.model, reader.num_train_ids).eval()
    row: dict[str, Any] = {"attention_init": cfg.model.attention_init,
                           "attention_lr_mult": cfg.train.attention_lr_mult, "seed": cfg.train.seed,
                           "shift_visible": round(attention_shift(start, images["visible"], "visible"), 4),
                           "shift_infrared": round(attention_shift(start, images["infrared"], "infrared"), 4),
                           "step0": all_search(start, cfg, reader, trials)}
    models.build_model = build_with_trained_backbone   # fit builds its model through this name
    try:
        with tempfile.TemporaryDirectory(prefix="attention-start-") as out:
            t0 = time.time()
            result = fit(cfg, out, resume=False, progress=False, reader=reader,
                         eval_fn=lambda model, cfg, reader: {})
            log = [r for r in read_log(Path(out) / "log.jsonl") if "total" in r]
            row.update(steps=result.steps, seconds=round(time.time() - t0),
                       loss_first=round(float(log[0]["total"]), 3), loss_last=round(float(log[-1]["total"]), 3),
                       end=all_search(result.model, cfg, reader, trials))
    finally:
        models.build_model = original
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| attention_init | attention_lr_mult | seed | step-0 shift (visible / infrared) | step-0 R1 / mAP "
             "| loss first -> last | R1 / mAP after the run |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['attention_init']} | {r['attention_lr_mult'] or 'heads (1)'} | {r['seed']} "
                     f"| {r['shift_visible']:.3f} / {r['shift_infrared']:.3f} "
                     f"| {r['step0']['r1']:.1f} / {r['step0']['mAP']:.1f} "
                     f"| {r['loss_first']:.2f} -> {r['loss_last']:.2f} "
                     f"| {r['end']['r1']:.1f} / {r['end']['mAP']:.1f} |")
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> str:
    """Per variant, over seeds: Rank-1 and mAP after the run as mean +- standard error, and the difference of
    Rank-1 to the default variant (``default``, heads' rate) as mean +- standard error of the per-seed
    differences (paired by seed)."""
    def key(r: dict[str, Any]) -> tuple[str, float | None]:
        return r["attention_init"], r["attention_lr_mult"]

    def mean_se(xs: list[float]) -> str:
        m = sum(xs) / len(xs)
        if len(xs) < 2:
            return f"{m:.1f}"
        se = (sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs)) ** 0.5
        return f"{m:.1f} ± {se:.1f}"

    base = {r["seed"]: r["end"]["r1"] for r in rows if key(r) == ("default", None)}
    lines = ["| attention_init | attention_lr_mult | seeds | R1 after the run | mAP after the run "
             "| R1 minus the default's (paired by seed) |", "|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        mine = sorted((r for r in rows if key(r) == variant), key=lambda r: r["seed"])
        if not mine:
            continue
        diffs = [r["end"]["r1"] - base[r["seed"]] for r in mine if r["seed"] in base]
        lines.append(f"| {variant[0]} | {variant[1] or 'heads (1)'} | {len(mine)} "
                     f"| {mean_se([r['end']['r1'] for r in mine])} | {mean_se([r['end']['mAP'] for r in mine])} "
                     f"| {'-' if variant == ('default', None) else mean_se(diffs)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/demo/last.pt")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--table", action="store_true", help="print the table of the saved results and stop")
    a = parser.parse_args()
    if a.table:
        rows = json.loads(a.out.read_text())["rows"]
        print(table(rows) + "\n\n" + summary(rows))
        return
    torch.set_num_threads(a.threads)
    trained, trained_cfg = load_model(a.checkpoint)
    state = backbone_state(trained)
    reader = open_dataset(trained_cfg.data)
    transform = default_transform(trained_cfg.data)
    images = {}
    for modality in ("visible", "infrared"):
        records = [r for r in reader.query() + reader.gallery("all", trial=0) if r.modality == modality][:32]
        images[modality] = torch.stack([ImageDataset(records, transform)[i][0] for i in range(len(records))])
    done = json.loads(a.out.read_text()) if a.out.exists() else {"rows": []}
    rows = done["rows"]
    for seed in a.seeds:
        for init, lr_mult in VARIANTS:
            if any(r["attention_init"] == init and r["attention_lr_mult"] == lr_mult and r["seed"] == seed
                   and r.get("steps") == a.steps for r in rows):
                continue   # resumable: each finished variant is kept
            cfg = short_run_config(trained_cfg, init, lr_mult, a.steps, seed)
            rows.append(run_variant(state, cfg, reader, images, a.trials))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
            command = "python " + " ".join(shlex.quote(x) for x in sys.argv)
            record = {"commands": [*(c for c in done.get("commands", []) if c != command), command],
                      "checkpoint": checkpoint_info(a.checkpoint), "data": describe_data(reader),
                      "steps": a.steps, "rows": rows}
            a.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = a.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=1) + "\n")
            tmp.replace(a.out)
    print(table(rows) + "\n\n" + summary(rows))


if __name__ == "__main__":
    main()
