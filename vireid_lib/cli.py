"""The ``vireid`` command line. Argparse lives here only; every command calls a library function.

Each subcommand imports its library rooms inside its own function, on purpose: ``vireid --help`` and
``vireid synth`` then start without importing torch, and a command pays only for what it uses.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vireid_lib import __version__
from vireid_lib.config import SYNTHETIC_IR_CORRELATION


def _cmd_synth(args: argparse.Namespace) -> int:
    from vireid_lib.data.synthetic import format_stats, generate

    stats = generate(args.layout, Path(args.out), identities=args.identities, seed=args.seed,
                     workers=args.workers, ir_correlation=args.ir_correlation)
    print(format_stats(stats))
    return 0


def _data_overrides(args: argparse.Namespace, smoke: bool = True) -> list[str]:
    """``--root`` and ``--smoke`` as config overrides, before ``--set``: the one place the command line turns them
    into ``data.root=...`` and ``data.synthetic_smoke=true`` (recorded in the run's config.json, so evaluating
    a smoke run needs no ``--smoke`` again)."""
    root = getattr(args, "root", None)
    return [*([f"data.root={root}"] if root else []),
            *(["data.synthetic_smoke=true"] if smoke and getattr(args, "smoke", False) and not root else []),
            *getattr(args, "set", [])]


def _config(args: argparse.Namespace):
    from vireid_lib.config import Config, apply_overrides
    from vireid_lib.presets import preset
    from vireid_lib.provenance import resolve_data_root

    cfg = Config.from_json(args.config) if args.config else preset(args.preset)
    return resolve_data_root(apply_overrides(cfg, _data_overrides(args)))


def _cmd_train(args: argparse.Namespace) -> int:
    from vireid_lib.reproduce import train_and_evaluate
    from vireid_lib.runs import runs_dir

    args.set = [*args.set, *(["train.tensorboard=false"] if args.no_tensorboard else []),
                *([f"train.audit_every={args.audit_steps}"] if args.audit_steps is not None else [])]
    cfg = _config(args)
    out = Path(args.out) if args.out else runs_dir() / cfg.name
    print(f"run folder: {out}")
    train_and_evaluate(cfg, out, resume=not args.no_resume, evaluate=not args.no_eval, progress=not args.quiet)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from vireid_lib.check import run_check

    monitor = run_check(_config(args), steps=args.steps, every=args.audit_every, init=args.init)
    warned = sum(len(r["warnings"]) for r in monitor.records)
    print(f"{len(monitor.records)} audits, {warned} warnings")
    return 0


def _checkpoint_after_set(args: argparse.Namespace) -> None:
    """``vireid evaluate --set eval.flip=true CKPT``: --set took the checkpoint as one of its values; give it
    back to the positional argument (the only value that is not KEY=VALUE)."""
    if args.checkpoint is not None:
        return
    loose = [s for s in args.set if "=" not in s]
    if len(loose) != 1:
        raise ValueError("give the checkpoint to evaluate: vireid evaluate CHECKPOINT [--set KEY=VALUE ...]")
    args.checkpoint = loose[0]
    args.set = [s for s in args.set if s != loose[0]]


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from vireid_lib.selection import evaluate_and_report

    _checkpoint_after_set(args)
    evaluate_and_report(args.checkpoint, _data_overrides(args), progress=not args.quiet)
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    import warnings

    from vireid_lib.runs import runs_dir
    from vireid_lib.search import format_result, search, write_outputs

    with warnings.catch_warnings(record=True) as caught:  # skipped files: one line each, not a source listing
        warnings.simplefilter("always")
        result = search(args.checkpoint, args.query, args.gallery, query_modality=args.query_modality,
                        gallery_modality=args.gallery_modality, top_k=args.top_k,
                        cache_dir=None if args.no_cache else (args.cache or "default"), device=args.device,
                        progress=not args.quiet)
    for w in caught:
        print(f"vireid search: warning: {w.message}", file=sys.stderr)
    out = Path(args.out) if args.out else runs_dir() / "search"
    write_outputs(result, out, args.checkpoint, figures=not args.no_figures)
    print(format_result(result))
    print(f"ranking: {out / 'ranking.json'}, {out / 'ranking.csv'}"
          + ("" if args.no_figures else f"; figures: {out / 'ranked'}"))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from vireid_lib.export import export_modalities, export_onnx, format_verification, verify_onnx

    paths = export_onnx(args.checkpoint, args.out, args.modality, opset=args.opset)
    for p in paths:
        print(f"wrote {p}")
    if args.verify:
        if len(paths) < 2:
            raise ValueError("--verify runs the test set's two modalities: export with --modality both")
        v = verify_onnx(args.checkpoint, dict(zip(export_modalities(args.modality), paths)), _data_overrides(args))
        print(format_verification(v))
        return 0 if v["rankings_identical"] and v["max_abs_diff"] <= 1e-4 else 1
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from vireid_lib.demo import run_demo
    from vireid_lib.runs import runs_dir

    if os.environ.get("VIREID_DATA", "").strip():
        print("note: vireid demo runs on its synthetic data by design; VIREID_DATA is read by vireid train, "
              "reproduce and ablate", file=sys.stderr)
    out = Path(args.out) if args.out else runs_dir() / ("demo-smoke" if args.smoke else "demo")
    print(f"run folder: {out}")
    run_demo(out, smoke=args.smoke, overrides=tuple(args.set), progress=not args.quiet)
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from vireid_lib.data import DATASET_FOLDERS
    from vireid_lib.provenance import resolve_data_root
    from vireid_lib.reproduce import format_reproduction, reproduce, reproduce_config
    from vireid_lib.runs import runs_dir

    trials = _trials(args.trials) if args.trials else None
    out = Path(args.out) if args.out else runs_dir() / f"reproduce-{args.dataset}"
    print(f"run folder: {out}")
    cfg = resolve_data_root(reproduce_config(args.dataset, _data_overrides(args)))   # VIREID_DATA when no --root
    root = cfg.data.root
    print(f"data: {DATASET_FOLDERS[args.dataset]} at {root}" if root else
          f"data: SYNTHETIC {DATASET_FOLDERS[args.dataset]} layout{' (the tiny smoke size)' if args.smoke else ''}; "
          f"--root or VIREID_DATA for the real dataset")
    reproduce(cfg, out, trials=trials, progress=not args.quiet)
    print(format_reproduction(out))
    return 0


def _trials(text: str) -> list[int]:
    """``--trials 1,2,3`` as a list; one clear error for anything else."""
    try:
        trials = [int(t) for t in text.split(",")]
    except ValueError:
        trials = []
    if not trials or any(t not in range(1, 11) for t in trials):
        raise ValueError(f"--trials {text}: expected comma-separated RegDB trials from 1 to 10, such as "
                         f"--trials 1,2,3")
    return trials


def _cmd_ablate(args: argparse.Namespace) -> int:
    from vireid_lib.ablation import ablation_config, data_line, format_summary, run_grid
    from vireid_lib.config import apply_overrides
    from vireid_lib.presets import preset
    from vireid_lib.provenance import resolve_data_root
    from vireid_lib.runs import runs_dir

    out = Path(args.out) if args.out else runs_dir() / ("ablations-smoke" if args.smoke else "ablations")
    print(f"results folder: {out}; training folders: "
          f"{args.work or runs_dir() / ('ablations-smoke' if args.smoke else 'ablations')}")
    # --smoke is the ablation's own smoke preset (run_grid's smoke), more than the data size
    overrides = _data_overrides(args, smoke=False)
    if not args.smoke:   # the tiny synthetic set ignores VIREID_DATA
        cfg = resolve_data_root(apply_overrides(preset(args.preset), overrides))
        overrides = [*([f"data.root={cfg.data.root}"] if cfg.data.root and not args.root else []), *overrides]
    summary = run_grid(args.grid, args.seeds, out, args.work, smoke=args.smoke, overrides=overrides,
                       base=args.preset, jobs=args.jobs, summary_only=args.summary_only, progress=not args.quiet)
    print(data_line(ablation_config(args.smoke, overrides, args.preset).to_dict()))
    print(format_summary(summary))
    print(f"summary: {out / args.grid / 'summary.md'}")
    return 1 if summary["failed"] else 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "__main__.py").is_file():
        raise FileNotFoundError(f"no benchmarks/ beside {root / 'vireid_lib'}; the benchmarks ship with the "
                                "source checkout: clone the repository and run `python -m benchmarks` there")
    return subprocess.run([sys.executable, "-m", "benchmarks", *args.bench_args], cwd=root).returncode


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config values, e.g. --set train.epochs=5 model.arch=resnet18 (one or more "
                        "per --set, and --set may be repeated; sections: data, model, loss, train, eval). "
                        "A positional argument goes before --set")
    p.add_argument("--smoke", action="store_true",
                   help="tiny synthetic data (seconds; for tests); recorded in the config as data.synthetic_smoke")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vireid`` command."""
    parser = argparse.ArgumentParser(
        prog="vireid",
        description="Visible-infrared person re-identification with dual attention (MCA + PCA). "
                    "Start with `vireid demo`; then open notebooks/00_quickstart.ipynb.",
    )
    parser.add_argument("--version", action="version", version=f"vireid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("synth", help="write the synthetic visible/infrared dataset in a real dataset's layout",
                       description="Generate the synthetic dataset in SYSU-MM01's or RegDB's on-disk layout. "
                                   "The same seed always gives the same bytes.")
    p.add_argument("--layout", choices=["sysu", "regdb"], required=True,
                   help="on-disk layout to write: sysu (SYSU-MM01) or regdb (RegDB)")
    p.add_argument("--out", required=True, help="folder to write the dataset into (created if missing)")
    p.add_argument("--identities", type=int, default=None, help="number of identities (default: layout's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--ir-correlation", type=float, default=SYNTHETIC_IR_CORRELATION,
                   help="how much of a garment's visible luminance its infrared brightness keeps, 0..1 "
                        f"(default: the calibrated {SYNTHETIC_IR_CORRELATION}; 0: the hard setting, see "
                        "data_cards/synthetic.md)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser(
        "train", help="train a preset or config (resumable; works under torchrun)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train with the paper's recipe, then evaluate the final model with the full protocol.\n"
                    "The run folder gets config.json, last.pt (every epoch), best.pt (best trial-0 mAP), "
                    "log.jsonl, tensorboard/, the results JSON and MODEL_CARD.md.",
        epilog="examples:\n"
               "  vireid train --preset cpu-demo --out runs/mine\n"
               "  vireid train --preset paper-sysu --root /data/SYSU-MM01 --set train.amp=bf16\n"
               "  vireid train --preset paper-regdb --root /data/RegDB --set data.trial=3\n"
               "  torchrun --nproc_per_node 4 -m vireid_lib.cli train --preset paper-sysu --root /data/SYSU-MM01")
    p.add_argument("--preset", default="cpu-demo", choices=["cpu-demo", "paper-sysu", "paper-regdb"],
                   help="starting configuration (default: cpu-demo)")
    p.add_argument("--config", help="a config.json to start from instead of a preset")
    p.add_argument("--root", help="dataset folder (.../SYSU-MM01 or .../RegDB); default: $VIREID_DATA/<dataset folder> "
                                  "when VIREID_DATA is set, else the synthetic data")
    p.add_argument("--out", help="run folder (default: $VIREID_RUNS/<config name>; VIREID_RUNS defaults to "
                                 "./runs of the current folder)")
    p.add_argument("--no-resume", action="store_true",
                   help="start afresh even if the run folder holds a checkpoint (default: resume)")
    p.add_argument("--no-eval", action="store_true", help="skip the final full-protocol evaluation")
    p.add_argument("--no-tensorboard", action="store_true",
                   help="no TensorBoard event files in <run>/tensorboard (default: written when the tensorboard "
                        "package is installed; open with tensorboard --logdir <run>/tensorboard)")
    p.add_argument("--audit-steps", type=int, metavar="N",
                   help="log the loss audit at step 0 and every N steps (train.audit_every; docs/REPRODUCE.md)")
    _add_common(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "check", help="train a few steps and print the loss audit (each term's share of the backbone gradient)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a few steps of a preset or config at the first epoch's learning rate and print, at step 0 "
                    "and every --audit-every steps, each loss term's value and its share of the gradient norm on "
                    "the shared backbone, with a warning when one term dominates or grows without bound. Writes "
                    "nothing. See docs/REPRODUCE.md (loss scales).",
        epilog="examples:\n"
               "  vireid check --preset paper-sysu --root /data/SYSU-MM01 --steps 20 --audit-every 5\n"
               "  vireid check --preset paper-regdb --set model.pretrained=null --steps 3   # synthetic data\n"
               "  vireid check --preset paper-sysu --set model.pretrained=null --init runs/synth/last.pt")
    p.add_argument("--preset", default="paper-sysu", choices=["cpu-demo", "paper-sysu", "paper-regdb", "ablation"],
                   help="starting configuration (default: paper-sysu)")
    p.add_argument("--config", help="a config.json to start from instead of a preset")
    p.add_argument("--root", help="dataset folder (.../SYSU-MM01 or .../RegDB); default: synthetic data")
    p.add_argument("--steps", type=int, default=3, help="optimiser steps to take (default: 3)")
    p.add_argument("--audit-every", type=int, default=1, help="audit every this many steps (default: 1)")
    p.add_argument("--init", help="a vireid checkpoint whose backbone (stems, layer2-4) replaces the initial one")
    _add_common(p)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint with the full test protocol",
                       description="SYSU-MM01: all- and indoor-search over the gallery draws; RegDB: both "
                                   "directions, on the data the checkpoint was trained on unless --root, --smoke "
                                   "or --set data.* says otherwise. --set may change data.* and eval.* only (the "
                                   "model, loss and train settings are the checkpoint's). Writes "
                                   "<checkpoint>.results.json (with the checkpoint's epoch, step and weights "
                                   "SHA-256) and prints the paper's table.")
    p.add_argument("checkpoint", nargs="?", help="a .pt file written by vireid train (e.g. runs/cpu-demo/last.pt)")
    p.add_argument("--root", help="dataset folder to evaluate on (default: the data in the checkpoint's config, "
                                  "synthetic at the size it was trained on included)")
    _add_common(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "search", help="rank a folder of your own images against query images with a trained checkpoint",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Embed the query images and every image under the gallery folder (recursively; jpg, png, "
                    "bmp, webp, tif) with the checkpoint's\ntest feature, print each query's top-k with "
                    "distances (1 - cosine similarity; smaller is closer), and write ranking.json,\n"
                    "ranking.csv and one ranked-results figure per query. No identities are needed.\n\n"
                    "Modality picks the network's stream: give it with --query-modality / --gallery-modality, "
                    "or keep the\nimages under folders named visible/ and infrared/ (or thermal/).\n"
                    "Files that are not images are skipped with a warning naming them; a query file you name "
                    "that does not\ndecode is an error. Features are cached by file content and model, so a "
                    "second search over the same\ngallery only embeds new images.",
        epilog="examples:\n"
               "  vireid search runs/cpu-demo/last.pt --query me_ir.png --query-modality infrared \\\n"
               "      --gallery photos/ --gallery-modality visible --top-k 5\n"
               "  vireid search runs/cpu-demo/last.pt --query queries/infrared --gallery gallery/  "
               "# gallery/visible/..., gallery/infrared/...")
    p.add_argument("checkpoint", help="a .pt file written by vireid train (e.g. runs/cpu-demo/last.pt)")
    p.add_argument("--query", nargs="+", required=True, metavar="PATH",
                   help="query image files and/or folders of query images")
    p.add_argument("--gallery", required=True, metavar="DIR", help="folder of gallery images (searched recursively)")
    p.add_argument("--query-modality", choices=["visible", "infrared", "thermal"],
                   help="modality of every query image (default: from visible/ infrared/ thermal/ folder names)")
    p.add_argument("--gallery-modality", choices=["visible", "infrared", "thermal"],
                   help="modality of every gallery image (default: from folder names)")
    p.add_argument("--top-k", type=int, default=10, help="gallery images listed per query (default: 10)")
    p.add_argument("--out", help="folder for ranking.json, ranking.csv and ranked/ figures (default: runs/search)")
    p.add_argument("--cache", metavar="DIR", help="feature cache folder (default: $VIREID_CACHE/features or "
                                                  "~/.cache/vireid/features)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    p.add_argument("--no-figures", action="store_true", help="write only ranking.json and ranking.csv")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the network runs (default: auto, CUDA when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser(
        "export", help="export the test-time network to ONNX (one graph per modality), optionally verified",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write <checkpoint>.<modality>.onnx beside the checkpoint: the modality's stem, the shared "
                    "layers, MCA, PCA and the\nglobal head's BN feature, batch dimension dynamic, opset 17. "
                    "Input 'images' (batch, 3, H, W) at the checkpoint's\nsize, preprocessed as the test "
                    "pipeline: RGB resized to H x W, /255, minus the ImageNet mean, divided by its std.\n"
                    "Output 'features' (batch, D). Flip averaging and L2 normalisation are inside the graph "
                    "(as the run's\neval settings say), so rank by 1 - q.g. Not exported: the training-only "
                    "outputs (logits, stripe\nlogits) and the exchanged input. Needs pip install onnx onnxruntime.",
        epilog="examples:\n"
               "  vireid export runs/cpu-demo/last.pt --modality both --verify\n"
               "  vireid export runs/cpu-demo/last.pt --modality infrared --out exported/")
    p.add_argument("checkpoint", help="a .pt file written by vireid train")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format (default: onnx)")
    p.add_argument("--modality", choices=["visible", "infrared", "thermal", "both"], default="both",
                   help="which stream(s) to export (default: both, one file each)")
    p.add_argument("--out", help="folder for the .onnx files (default: the checkpoint's folder)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17; 12 or later)")
    p.add_argument("--verify", action="store_true",
                   help="run the graphs with onnxruntime on the checkpoint's test set and compare features "
                        "and rankings with PyTorch (exit 1 unless within 1e-4 and identical)")
    p.add_argument("--root", help="with --verify: dataset folder (default: the checkpoint's data, else synthetic)")
    p.add_argument("--smoke", action="store_true", help="with --verify: the tiny synthetic test set")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("demo", help="the main job: synthetic data, train, evaluate, report (about 5 min on 2 cores)",
                       description="Generate the synthetic data if absent, evaluate the untrained network, train "
                                   "the cpu-demo preset, evaluate SYSU-style (all, indoor) and RegDB-style (both "
                                   "directions), print untrained vs trained tables, save a CMC plot and a "
                                   "ranked-results figure.")
    p.add_argument("--out", help="run folder (default: $VIREID_RUNS/demo, VIREID_RUNS defaulting to ./runs; "
                                 "a finished run is reused)")
    _add_common(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("reproduce", help="the paper's experiment on a real dataset, resumable",
                       description="RegDB: train and evaluate each of the 10 trials, then average. SYSU-MM01: "
                                   "train once, evaluate the 10 gallery draws in all- and indoor-search. Run the "
                                   "same command again to continue where it stopped.")
    p.add_argument("--dataset", choices=["sysu", "regdb"], required=True, help="which paper experiment")
    p.add_argument("--root", help="dataset folder (.../SYSU-MM01 or .../RegDB); default: $VIREID_DATA/<dataset folder> "
                                  "when VIREID_DATA is set, else the synthetic data")
    p.add_argument("--out", help="output folder (default: $VIREID_RUNS/reproduce-<dataset>, VIREID_RUNS "
                                 "defaulting to ./runs)")
    p.add_argument("--trials", help="RegDB trials to run, comma-separated (default: 1,...,10)")
    _add_common(p)
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser(
        "ablate", help="an ablation grid over seeds (Table 3, Table 4, part count, options), resumable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train and evaluate every cell of a grid with each seed on the `ablation` preset (synthetic "
                    "RegDB layout), one result JSON per run, then the mean and standard deviation per cell.\n"
                    "A finished run is skipped; an interrupted one resumes. Several runs go at once only with "
                    "several CUDA devices (one each): on a CPU one run already uses every core.",
        epilog="grids:\n"
               "  table3   base, base+p, base+p+mca, base+p+pca, full\n"
               "  table4   the full model's test feature from the global branch, the local branch, both\n"
               "  parts    P = 1, 2, 3, 6 stripes\n"
               "  options  PCA add vs gate, MCA scale none vs learnable, batch-hard vs weighted triplet\n"
               "examples:\n"
               "  vireid ablate --grid table3\n"
               "  vireid ablate --grid parts --seeds 0 1 2 3 4 --set train.epochs=6\n"
               "  vireid ablate --grid table3 --smoke\n"
               "  vireid ablate --grid table3 --preset paper-regdb --root /data/RegDB --out results/ablations-regdb")
    p.add_argument("--grid", choices=["table3", "table4", "parts", "options"], required=True, help="which grid")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    p.add_argument("--preset", default="ablation", choices=["ablation", "paper-regdb", "paper-sysu", "cpu-demo"],
                   help="starting configuration (default: ablation, the short synthetic-RegDB schedule)")
    p.add_argument("--root", help="dataset folder (.../RegDB or .../SYSU-MM01); default: $VIREID_DATA/<dataset folder> "
                                  "when VIREID_DATA is set, else the synthetic data")
    p.add_argument("--out", help="results folder (default: $VIREID_RUNS/ablations, or $VIREID_RUNS/ablations-smoke "
                                 "with --smoke; VIREID_RUNS defaults to ./runs)")
    p.add_argument("--work", help="training folders (default: the same folder as --out's default)")
    p.add_argument("--jobs", type=int, help="runs at once (default: one per CUDA device; one on a CPU)")
    p.add_argument("--summary-only", action="store_true",
                   help="train nothing: summarise the finished runs and list the missing ones")
    _add_common(p)
    p.set_defaults(func=_cmd_ablate)

    # prefix_chars="+": every option after `bench` (--help included) belongs to python -m benchmarks
    p = sub.add_parser("bench", help="every benchmark in one table (python -m benchmarks)", prefix_chars="+",
                       add_help=False)
    p.add_argument("bench_args", nargs="*", help="options passed to python -m benchmarks")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vireid`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from vireid_lib.locks import FolderInUseError

    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FolderInUseError) as e:
        print(f"vireid {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        # training raises TrainingInterrupted (a KeyboardInterrupt) whose message says where it stopped
        print(f"vireid {args.command}: {e or 'interrupted'}", file=sys.stderr)
        return 130


def _one_line(e: BaseException) -> str:
    """The message of an error; for one re-raised from a DataLoader worker (``Caught ValueError in DataLoader
    worker process 0. Original Traceback ...``), only the original error's own message."""
    text = str(e)
    if "Original Traceback" not in text:
        return text
    last = [line for line in text.splitlines() if line.strip()][-1]
    return last.split(": ", 1)[1] if last.startswith(f"{type(e).__name__}: ") else last


if __name__ == "__main__":
    sys.exit(main())
