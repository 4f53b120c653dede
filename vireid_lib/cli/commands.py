"""The bodies of the ``vireid`` subcommands: each reads its parsed arguments and calls the library.

Each imports its library rooms inside its own function, on purpose: ``vireid --help`` and ``vireid synth``
then start without importing torch, and a command pays only for what it uses.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def cmd_synth(args: argparse.Namespace) -> int:
    from vireid_lib.data.synthetic import format_stats, generate

    stats = generate(args.layout, Path(args.out), identities=args.identities, seed=args.seed,
                     workers=args.workers, ir_correlation=args.ir_correlation,
                     outdoor_daylight=args.outdoor_daylight)
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


def cmd_train(args: argparse.Namespace) -> int:
    from vireid_lib.models.start import STARTS, synthetic_seed_of
    from vireid_lib.reproduce import train_and_evaluate
    from vireid_lib.runs import runs_dir

    args.set = [*args.set, *(["train.tensorboard=false"] if args.no_tensorboard else []),
                *([f"train.audit_every={args.audit_steps}"] if args.audit_steps is not None else [])]
    cfg = _config(args)
    out = Path(args.out) if args.out else runs_dir() / cfg.name
    print(f"run folder: {out}")
    start = cfg.model.pretrained
    print(f"start: {'random weights' if start is None else start}"
          + (" (synthetic weights on real data: --set model.pretrained=null trains from random weights)"
             if start in STARTS and synthetic_seed_of(cfg.data) is None else ""))
    train_and_evaluate(cfg, out, resume=not args.no_resume, evaluate=not args.no_eval, progress=not args.quiet)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vireid_lib.selection import evaluate_and_report

    _checkpoint_after_set(args)
    evaluate_and_report(args.checkpoint, _data_overrides(args), progress=not args.quiet)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
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


def cmd_export(args: argparse.Namespace) -> int:
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


def cmd_demo(args: argparse.Namespace) -> int:
    from vireid_lib.demo import run_demo
    from vireid_lib.runs import runs_dir

    if os.environ.get("VIREID_DATA", "").strip():
        print("note: vireid demo runs on its synthetic data by design; VIREID_DATA is read by vireid train, "
              "reproduce and ablate", file=sys.stderr)
    out = Path(args.out) if args.out else runs_dir() / ("demo-smoke" if args.smoke else "demo")
    print(f"run folder: {out}")
    run_demo(out, smoke=args.smoke, overrides=tuple(args.set), progress=not args.quiet)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
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


def cmd_ablate(args: argparse.Namespace) -> int:
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
                       base=args.preset, jobs=args.jobs, summary_only=args.summary_only, progress=not args.quiet,
                       cells=args.cells)
    print(data_line(ablation_config(args.smoke, overrides, args.preset).to_dict()))
    print(format_summary(summary))
    print(f"summary: {out / args.grid / 'summary.md'}")
    return 1 if summary["failed"] else 0


def cmd_bench(args: argparse.Namespace) -> int:
    import subprocess

    root = Path(__file__).resolve().parents[2]   # the repository (vireid_lib/cli/commands.py)
    if not (root / "benchmarks" / "__main__.py").is_file():
        raise FileNotFoundError(f"no benchmarks/ beside {root / 'vireid_lib'}; the benchmarks ship with the "
                                "source checkout: clone the repository and run `python -m benchmarks` there")
    return subprocess.run([sys.executable, "-m", "benchmarks", *args.bench_args], cwd=root).returncode
