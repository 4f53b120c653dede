"""The ``vireid`` command line. Argparse lives here only; every command calls a library function."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vireid_lib import __version__


def _cmd_synth(args: argparse.Namespace) -> int:
    from vireid_lib.data.synthetic import format_stats, generate

    stats = generate(args.layout, Path(args.out), identities=args.identities, seed=args.seed,
                     workers=args.workers)
    print(format_stats(stats))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from vireid_lib.data import synthetic

    for layout in ("sysu", "regdb"):
        root = synthetic.synthetic_root(layout, smoke=args.smoke)
        print(format(root))
        print(synthetic.format_stats(synthetic.read_stats(root)))
    return 0


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
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("demo", help="the main job: synthetic data, train, evaluate, report",
                       description="Run the whole pipeline on the synthetic dataset on a CPU.")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds, for tests)")
    p.set_defaults(func=_cmd_demo)
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
