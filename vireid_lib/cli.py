"""The ``vireid`` command line. Argparse lives here only; every command calls a library function."""

from __future__ import annotations

import argparse
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


def _config(args: argparse.Namespace):
    from vireid_lib.config import Config, apply_overrides, preset

    cfg = Config.from_json(args.config) if args.config else preset(args.preset)
    extra = [f"data.root={args.root}"] if getattr(args, "root", None) else []
    return apply_overrides(cfg, [*extra, *args.set])


def _cmd_train(args: argparse.Namespace) -> int:
    from vireid_lib.config import apply_overrides
    from vireid_lib.data import open_dataset
    from vireid_lib.evaluation.protocols import results_path
    from vireid_lib.reproduce import format_tables
    from vireid_lib.selection import evaluate_last_and_best, selection_metric
    from vireid_lib.training import fit, runs_dir

    cfg = _config(args)
    if args.audit_steps is not None:
        cfg = apply_overrides(cfg, [f"train.audit_every={args.audit_steps}"])
    out = Path(args.out) if args.out else runs_dir() / cfg.name
    reader = open_dataset(cfg.data, smoke=args.smoke)
    result = fit(cfg, out, resume=not args.no_resume, progress=not args.quiet, smoke=args.smoke, reader=reader)
    if result.best is not None:
        print(f"best trial-0 {selection_metric(cfg.train.select)} {100 * result.best_map:.2f}% -> {result.best} "
              f"(chosen on the test identities, so optimistic; train.select={cfg.train.select})")
    if args.no_eval:
        print(f"checkpoint: {result.last}")
        return 0
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return 0
    models = evaluate_last_and_best(result, cfg, reader, progress=not args.quiet)
    rows = {f"{cfg.name}, {models['labels'][k]}": models[k] for k in ("last", "best") if models[k] is not None}
    print(format_tables(rows))
    print(f"checkpoint: {result.last}\nresults: {results_path(result.last)}")
    if models["best"] is not None:
        print(f"best checkpoint: {result.best}\nresults: {results_path(result.best)}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from vireid_lib.audit import run_check

    monitor = run_check(_config(args), steps=args.steps, every=args.audit_every, init=args.init, smoke=args.smoke)
    warned = sum(len(r["warnings"]) for r in monitor.records)
    print(f"{len(monitor.records)} audits, {warned} warnings")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from vireid_lib.evaluation.protocols import results_path
    from vireid_lib.reproduce import evaluate_checkpoint, format_tables

    result = evaluate_checkpoint(args.checkpoint, args.set, root=args.root, smoke=args.smoke,
                                 progress=not args.quiet)
    print(format_tables({Path(args.checkpoint).parent.name or "model": result}))
    print(f"results: {results_path(args.checkpoint)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from vireid_lib.demo import run_demo
    from vireid_lib.training import runs_dir

    out = Path(args.out) if args.out else runs_dir() / ("demo-smoke" if args.smoke else "demo")
    run_demo(out, smoke=args.smoke, overrides=tuple(args.set), progress=not args.quiet)
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from vireid_lib.reproduce import format_tables, reproduce
    from vireid_lib.training import runs_dir

    trials = [int(t) for t in args.trials.split(",")] if args.trials else None
    out = Path(args.out) if args.out else runs_dir() / f"reproduce-{args.dataset}"
    summary = reproduce(args.dataset, args.root, out, overrides=args.set, trials=trials, smoke=args.smoke,
                        progress=not args.quiet)
    print(format_tables({"ours (reproduced)": summary}, paper_rows=True))
    print(f"summary: {out / 'summary.json'}")
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from vireid_lib.ablation import format_summary, run_grid
    from vireid_lib.training import runs_dir

    out = Path(args.out) if args.out else runs_dir() / "ablations-smoke" if args.smoke else Path("results/ablations")
    overrides = [*([f"data.root={args.root}"] if args.root else []), *args.set]
    summary = run_grid(args.grid, args.seeds, out, args.work, smoke=args.smoke, overrides=overrides,
                       base=args.preset, jobs=args.jobs, summary_only=args.summary_only, progress=not args.quiet)
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
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 --set model.arch=resnet18 "
                        "(repeatable; sections: data, model, loss, train, eval)")
    p.add_argument("--smoke", action="store_true", help="tiny synthetic data (seconds; for tests)")
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
                    "log.jsonl and the results JSON.",
        epilog="examples:\n"
               "  vireid train --preset cpu-demo --out runs/mine\n"
               "  vireid train --preset paper-sysu --root /data/SYSU-MM01 --set train.amp=bf16\n"
               "  vireid train --preset paper-regdb --root /data/RegDB --set data.trial=3\n"
               "  torchrun --nproc_per_node 4 -m vireid_lib.cli train --preset paper-sysu --root /data/SYSU-MM01")
    p.add_argument("--preset", default="cpu-demo", choices=["cpu-demo", "paper-sysu", "paper-regdb"],
                   help="starting configuration (default: cpu-demo)")
    p.add_argument("--config", help="a config.json to start from instead of a preset")
    p.add_argument("--root", help="dataset folder (.../SYSU-MM01 or .../RegDB); default: synthetic data")
    p.add_argument("--out", help="run folder (default: runs/<config name>)")
    p.add_argument("--no-resume", action="store_true",
                   help="start afresh even if the run folder holds a checkpoint (default: resume)")
    p.add_argument("--no-eval", action="store_true", help="skip the final full-protocol evaluation")
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
                                   "directions. Writes <checkpoint>.results.json and prints the paper's table.")
    p.add_argument("checkpoint", help="a .pt file written by vireid train (e.g. runs/cpu-demo/last.pt)")
    p.add_argument("--root", help="dataset folder to evaluate on (default: the one in the checkpoint's config)")
    _add_common(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("demo", help="the main job: synthetic data, train, evaluate, report (about 5 min on 2 cores)",
                       description="Generate the synthetic data if absent, evaluate the untrained network, train "
                                   "the cpu-demo preset, evaluate SYSU-style (all, indoor) and RegDB-style (both "
                                   "directions), print untrained vs trained tables, save a CMC plot and a "
                                   "ranked-results figure.")
    p.add_argument("--out", help="run folder (default: runs/demo; a finished run is reused)")
    _add_common(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("reproduce", help="the paper's experiment on a real dataset, resumable",
                       description="RegDB: train and evaluate each of the 10 trials, then average. SYSU-MM01: "
                                   "train once, evaluate the 10 gallery draws in all- and indoor-search. Run the "
                                   "same command again to continue where it stopped.")
    p.add_argument("--dataset", choices=["sysu", "regdb"], required=True, help="which paper experiment")
    p.add_argument("--root", help="dataset folder (.../SYSU-MM01 or .../RegDB); omit for synthetic data")
    p.add_argument("--out", help="output folder (default: runs/reproduce-<dataset>)")
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
    p.add_argument("--root", help="dataset folder (.../RegDB or .../SYSU-MM01); default: synthetic data")
    p.add_argument("--out", help="results folder (default: results/ablations, or runs/ablations-smoke with --smoke)")
    p.add_argument("--work", help="training folders (default: runs/ablations or runs/ablations-smoke)")
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
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        print(f"vireid {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
