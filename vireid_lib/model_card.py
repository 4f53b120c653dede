"""``MODEL_CARD.md`` beside every trained checkpoint, in the Hugging Face model card layout.

:func:`write_model_card` (re)writes ``<run>/MODEL_CARD.md`` atomically from what the run folder holds, so it is
always a view of the files and never a second source of truth:

- ``config.json`` (linked, and included in full) and each checkpoint's header (epoch, step, best mAP);
- each ``<checkpoint>.results.json`` (the protocol's numbers, with the gallery protocol and the checkpoint
  policy named);
- the ``"event": "fit"`` records of ``log.jsonl`` (training time and machine of each ``fit`` call);
- the library versions and git commit of the code writing the card.

``fit`` writes it at the end of training; ``vireid train`` and ``vireid evaluate`` rewrite it after saving
results. The layout follows Hugging Face's template: YAML metadata (``model-index`` with the results), then
Model Details, Uses, Bias/Risks/Limitations, How to Get Started, Training Details, Evaluation, Technical
Specifications, Citation.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from vireid_lib import __version__
from vireid_lib.data.synthetic import setting_words
from vireid_lib.evaluation.report import SETTINGS, headline_metrics, people_line, settings_of
from vireid_lib.io import atomic_write_text

CARD_NAME = "MODEL_CARD.md"
CHECKPOINTS = ("last.pt", "best.pt")
SETTING_NAMES = SETTINGS
METRIC_NAMES = {"rank1": "Rank-1", "rank10": "Rank-10", "rank20": "Rank-20", "mAP": "mAP", "mINP": "mINP"}
POLICY = {
    "last.pt": "last: the weights after the final epoch (an unbiased number)",
    "best.pt": "best: the epoch with the highest trial-0 mAP during training, selected on the test identities "
               "as the reference code does (optimistic)",
}


def card_path(run_or_checkpoint: str | Path) -> Path:
    """The card of a run folder or of a checkpoint (the card of its folder)."""
    p = Path(run_or_checkpoint)
    return (p if p.is_dir() else p.parent) / CARD_NAME


def _checkpoint_header(path: Path) -> dict[str, Any] | None:
    """Epoch, step and selection fields of a checkpoint, without reading its tensors (memory-mapped)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # an unreadable file is reported as such on the card, not fatal to it
        return None
    keys = ("epoch", "step", "best_map", "best_epoch", "library_version", "num_classes", "metrics")
    return {k: ckpt.get(k) for k in keys} | {"parameters": sum(t.numel() for t in ckpt["model"].values()
                                                              if hasattr(t, "numel"))}


def _fit_records(run: Path) -> list[dict[str, Any]]:
    log = run / "log.jsonl"
    if not log.is_file():
        return []
    return [r for r in (json.loads(line) for line in log.read_text().splitlines() if line.strip())
            if r.get("event") == "fit"]


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the source checkout holding ``path`` (default: this library), ``+dirty`` when it has
    uncommitted changes to tracked files; ``None`` outside a git checkout."""
    where = path or Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    """Python and the versions of the libraries a checkpoint depends on."""
    out = {"python": platform.python_version(), "vireid": __version__}
    for name in ("torch", "torchvision", "numpy", "pillow"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def gallery_protocol(result: dict[str, Any], eval_cfg: dict[str, Any], short: bool = False) -> str:
    """How the gallery of a result was drawn, in words: draw kind, shots and draws for SYSU-MM01; the trial for
    RegDB. Reads the result's own fields first (``gallery``, ``draw`` or ``gallery_protocol``, ``shots``, ``num_trials``),
    then the config's ``eval`` section (``sysu_draw`` or ``sysu_gallery``, ``sysu_shots``, ``sysu_trials``), so
    a protocol option added later shows here once the results or the config name it.

    Args:
        short: a few words (for the metadata) instead of a sentence.
    """
    if result.get("protocol") == "regdb" or "v2t" in result or "t2v" in result:
        trial = result.get("trial", result.get("trials"))
        where = f" (trial {trial})" if trial is not None else ""
        return f"RegDB fixed split{where}" if short else f"RegDB: the trial's fixed test split{where}, no draw"
    # "gallery" is what the evaluation used; the config's sysu_gallery may only say "auto"
    draw = result.get("gallery") or result.get("draw") or result.get("gallery_protocol") \
        or eval_cfg.get("sysu_draw") or eval_cfg.get("sysu_gallery") or "reference"
    shots = int(result.get("shots", eval_cfg.get("sysu_shots", 1)))
    trials = result.get("num_trials", eval_cfg.get("sysu_trials"))
    kind = f"{'single' if shots == 1 else 'multi'}-shot"
    if short:
        return f"{kind}, mean of {trials} {draw} draws"
    what = ("the reference code's draw (AGW/CAJ process_gallery_sysu, random.Random(trial))"
            if draw == "reference" else f"the {draw} draw")
    return f"SYSU-MM01 gallery: {kind} ({shots} per identity and camera), mean over {trials} draws of {what}"


def _data_line(cfg: dict[str, Any]) -> tuple[str, bool]:
    d = cfg["data"]
    name = {"sysu": "SYSU-MM01", "regdb": "RegDB"}[d["dataset"]]
    split = f", trial {d['trial']} (its train/test identity split)" if d["dataset"] == "regdb" else \
        ", the exp/ train+val identities for training, test_id.txt for testing"
    if d.get("root"):
        return f"real {name} at `{d['root']}`{split}", False
    ids = d.get("synthetic_identities")
    size = f"{ids} identities" if ids else \
        "the tiny smoke size" if d.get("synthetic_smoke") else "the layout's default number of identities"
    return (f"synthetic data in {name}'s layout (generator of `vireid_lib/data/synthetic.py`, "
            f"{size}, seed {d.get('synthetic_seed')}, infrared correlation "
            f"{d.get('synthetic_ir_correlation')}{setting_words(None, d.get('synthetic_outdoor_daylight'))}; "
            f"see `data_cards/synthetic.md`){split}", True)


def _metrics_rows(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{setting: {rank1, rank10, rank20, mAP, mINP}}`` (fractions; SYSU-MM01: the mean over gallery draws)."""
    return {s: headline_metrics(r) for s, r in settings_of(result).items()}


def _yaml(obj: Any, indent: int = 0) -> str:
    """A small YAML writer for the front matter (block mappings and lists, scalars as JSON, which YAML reads)."""
    pad = "  " * indent
    if isinstance(obj, dict):
        lines = []
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:\n{_yaml(v, indent + 1)}")
            else:
                lines.append(f"{pad}{k}: {json.dumps(v)}")
        return "\n".join(lines)
    if isinstance(obj, list):
        lines = []
        for v in obj:
            body = _yaml(v, indent + 1) if isinstance(v, (dict, list)) else f"{pad}  {json.dumps(v)}"
            lines.append(f"{pad}- {body.lstrip()}")
        return "\n".join(lines)
    return f"{pad}{json.dumps(obj)}"


def render_card(run: str | Path) -> str:
    """The text of a run folder's model card (see the module docstring for what it reads).

    Raises:
        FileNotFoundError: the folder holds no ``config.json``.
    """
    run = Path(run)
    if not (run / "config.json").is_file():
        raise FileNotFoundError(f"{run} has no config.json; a model card describes a run folder written by "
                                "vireid train / training.fit")
    cfg = json.loads((run / "config.json").read_text())
    name = cfg.get("name", run.name)
    data, synthetic = _data_line(cfg)
    headers = {c: _checkpoint_header(run / c) for c in CHECKPOINTS if (run / c).is_file()}
    results = {}
    for c in headers:
        path = run / (Path(c).stem + ".results.json")
        if path.is_file():
            results[c] = json.loads(path.read_text())
    fits = _fit_records(run)
    m, t = cfg["model"], cfg["train"]

    # ------------------------------------------------------------------ metadata (model-index)
    index = []
    for c, payload in results.items():
        res = payload.get("results", payload)
        protocol = gallery_protocol(res, (payload.get("config") or cfg).get("eval", {}), short=True)
        for setting, row in _metrics_rows(res).items():
            index.append({
                "task": {"type": "person-re-identification", "name": "Visible-infrared person re-identification"},
                "dataset": {"type": ("synthetic-" if synthetic else "") + setting.split("/")[0],
                            "name": ("synthetic " if synthetic else "") + SETTING_NAMES.get(setting, setting),
                            "split": "test", "args": {"gallery": protocol, "checkpoint": c}},
                "metrics": [{"type": k, "value": round(100 * row[k], 2), "name": f"{METRIC_NAMES[k]} (%, {c})"}
                            for k in METRIC_NAMES],
            })
    front = {"library_name": "vireid", "license": "mit",
             "tags": ["person-re-identification", "visible-infrared", "cross-modality", "pytorch"]
             + (["synthetic-data"] if synthetic else []),
             "metrics": ["rank1", "mAP", "mINP"]}
    if index:
        front["model-index"] = [{"name": name, "results": index}]

    # ------------------------------------------------------------------ body
    lines = ["---", _yaml(front), "---", "", f"# Model card for `{name}`", "",
             "A two-stream ResNet with multi-scale criss-cross attention (MCA) and part channel attention (PCA) "
             "for visible-infrared person re-identification (Wei et al., 2024), trained with the `vireid` "
             "library. This card is regenerated from the run folder by `vireid train` and `vireid evaluate`; "
             "edits to it are overwritten.", "",
             "## Model Details", "", "### Model Description", "",
             f"- **Model type:** `{m['arch']}` two-stream ResNet (first stage {m['width']} channels), MCA after "
             f"stages {m['mca_stages'] or 'none'}, PCA {'on' if m['pca'] else 'off'} ({m['parts']} stripes), local "
             f"branch {'on' if m['local_branch'] else 'off'}; test feature: the {cfg['eval']['branch']} branch's "
             f"{cfg['eval']['feature']} feature" + (", flip-averaged" if cfg["eval"]["flip"] else "")
             + (", L2-normalised" if cfg["eval"]["normalize"] else ""),
             f"- **Input:** {cfg['data']['height']} x {cfg['data']['width']} RGB (infrared as three equal channels), "
             "ImageNet mean and standard deviation",
             f"- **Initialisation:** {m['pretrained'] or 'random'}",
             "- **License:** MIT (the code); the data's own terms apply to the weights (see Training Data)",
             "- **Configuration:** [`config.json`](config.json) (in full at the end of this card)", "",
             "### Checkpoints", "", "| file | epoch | step | parameters | best trial-0 mAP (epoch) | written by |",
             "|---|---|---|---|---|---|"]
    for c, h in headers.items():
        if h is None:
            lines.append(f"| `{c}` | unreadable | | | | |")
            continue
        best = f"{100 * h['best_map']:.2f}% ({h['best_epoch']})" if h.get("best_map") is not None else "-"
        lines.append(f"| `{c}` | {h['epoch']} | {h['step']} | {h['parameters']:,} | {best} | "
                     f"vireid {h.get('library_version')} |")
    lines += ["", "## Uses", "", "### Direct Use", ""]
    if synthetic:
        lines += ["Teaching and testing only: this model was trained on procedurally generated people. It shows "
                  "how the method and the code behave; its numbers say nothing about real cameras or real people.",
                  "", "### Out-of-Scope Use", "",
                  "Any use on real images of people: it has never seen one. Comparing its numbers with "
                  "published results on SYSU-MM01 or RegDB."]
    else:
        lines += ["Research on visible-infrared re-identification benchmarks: reproducing and comparing "
                  "published numbers, and studying the method.", "", "### Out-of-Scope Use", "",
                  "Identifying or tracking people without their consent or a legal basis; any decision about a "
                  "person. Deployment beyond the cameras, places and people of its training data."]
    lines += ["", "## Bias, Risks, and Limitations", "",
              "Re-identification links images of the same person across cameras: it is a surveillance "
              "technology and its errors fall on people. The benchmarks are small (hundreds of identities, a "
              "few cameras, one campus or building), so performance elsewhere is unknown. The `best.pt` "
              "checkpoint was selected on the test identities; report `last.pt` for an unbiased number.", "",
              "## How to Get Started with the Model", "", "```",
              "vireid evaluate last.pt                       # the full test protocol, updates this card",
              "vireid search last.pt --query me.png --query-modality infrared --gallery photos/ "
              "--gallery-modality visible",
              "vireid export last.pt --modality both --verify   # ONNX graphs, checked with onnxruntime",
              "```", "", "```python", "from vireid_lib.checkpoints import load_model",
              "model, cfg = load_model(\"last.pt\")  # torch.load(..., weights_only=True)",
              "out = model(images, \"infrared\")      # out.bn: the test feature before flip and L2", "```", "",
              "## Training Details", "", "### Training Data", "", data, "",
              "### Training Procedure", "", "#### Training Hyperparameters", "",
              f"- optimiser {t['optimizer']}, learning rate {t['lr']} (backbone x{t['backbone_lr_mult']}), "
              f"weight decay {t['weight_decay']}, {t['schedule']} schedule with {t['warmup_epochs']} warm-up "
              f"epoch(s), {t['epochs']} epochs" + (f" of at most {t['max_steps_per_epoch']} steps"
                                                    if t.get("max_steps_per_epoch") else ""),
              f"- batch: {t['ids_per_batch']} identities x {t['per_modality']} images per modality "
              f"(visible, channel-exchanged, infrared), seed {t['seed']}, precision {t['amp']}"]
    if t.get("select") is not None:
        lines.append(f"- checkpoint selection: `train.select = {t['select']}`")
    lines += ["", "#### Speeds, Sizes, Times", ""]
    if fits:
        wall = sum(float(r.get("wall_s", 0.0)) for r in fits)
        lines.append(f"- training time: {wall / 60:.1f} min wall-clock over {len(fits)} `fit` call(s) "
                     f"(resumptions count separately), {fits[-1].get('step')} steps, {fits[-1].get('epoch')} epochs")
    else:
        lines.append("- training time: not recorded (the run's log has no `fit` record)")
    lines += ["", "## Evaluation", "", "### Testing Data, Factors & Metrics", "",
              "Testing data: the test identities of the same dataset (above). Metrics: Rank-k (CMC), mAP and "
              "mINP, in percent (`vireid_lib/evaluation/metrics.py`); distances `1 - q.g` between test features.",
              "", "### Results", ""]
    if not results:
        lines.append("No results yet: run `vireid evaluate last.pt` (or `vireid train` without `--no-eval`).")
    for c, payload in results.items():
        res = payload.get("results", payload)
        run_cfg = payload.get("config") or cfg
        tested = _data_line(run_cfg)[0] if "data" in run_cfg else data
        other = "" if tested == data else f" Evaluated on {tested}."
        lines += [f"**`{c}`**, checkpoint policy {POLICY.get(c, c)}; "
                  f"{gallery_protocol(res, run_cfg.get('eval', {}))}.{other}", "",
                  "| setting | Rank-1 | Rank-10 | Rank-20 | mAP | mINP |", "|---|---|---|---|---|---|"]
        for setting, row in _metrics_rows(res).items():
            lines.append(f"| {SETTING_NAMES.get(setting, setting)} | " + " | ".join(
                f"{100 * row[k]:.2f}" for k in ("rank1", "rank10", "rank20", "mAP", "mINP")) + " |")
        people = people_line(res)   # empty for results saved before person tables were kept
        if people:
            lines += ["", people]
        lines.append("")
    lines += ["", "## Technical Specifications", "", "### Compute Infrastructure", "", "#### Hardware", ""]
    if fits and fits[-1].get("machine"):
        mach = fits[-1]["machine"]
        lines.append(f"- trained on: device {fits[-1].get('device', '?')}; CPU {mach.get('cpu')}, "
                     f"{mach.get('nproc')} cores, CUDA {', '.join(mach.get('cuda') or []) or 'none'}; "
                     f"{mach.get('platform')}")
    else:
        lines.append("- not recorded")
    commit = git_commit()
    lines += ["", "#### Software", "",
              "- " + ", ".join(f"{k} {v}" for k, v in versions().items()) + " (when this card was written)",
              f"- git commit of the code that wrote this card: {commit or 'not a git checkout'}", "",
              "## Citation", "",
              "Wei et al. (2024), \"Visible-Infrared Person Re-Identification Based on Dual Attention "
              "Mechanism\"; the library: `vireid` (this repository).", "",
              "## Configuration", "", "<details><summary>config.json</summary>", "", "```json",
              json.dumps(cfg, indent=2, sort_keys=True), "```", "", "</details>", ""]
    return "\n".join(lines)


def write_model_card(run_or_checkpoint: str | Path) -> Path:
    """(Re)write ``MODEL_CARD.md`` in a run folder (or the folder of a checkpoint), atomically."""
    path = card_path(run_or_checkpoint)
    return atomic_write_text(path, render_card(path.parent))
