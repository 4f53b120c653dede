"""More seeds for some cells of a committed grid, trained and evaluated by the grids' own code.

The committed grids ran from commit 423adf9, which has no ``vireid ablate --cells``, and the library has
changed the training's arithmetic since (AdamW's fused kernel), so a run of today's code does not repeat
theirs bit for bit. This script plans a grid's runs with that commit's ``plan``, keeps the named cells, and
trains and evaluates each with its ``run_group``, as ``vireid ablate`` does, one run at a time on one
thread; run two of it at once on a 2-core machine, each with its own seeds. Finished runs are skipped.

Usage, with a checkout of the grids' commit (``git worktree add ../wt-abl 423adf9``):

    PYTHONPATH=../wt-abl OMP_NUM_THREADS=1 VIREID_RUNS=<training folders> \\
        python results/ablations/more_seeds.py --grid options --cells triplet=adp --seeds 19 21 23 \\
        --out ../wt-abl/results/ablations

Then ``vireid ablate --grid options --seeds 0 ... --summary-only`` (today's code) writes the summary over every
finished run.
"""

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import torch

import vireid_lib
from vireid_lib.ablation.grids import GRIDS, plan, result_path
from vireid_lib.ablation.run import run_group
from vireid_lib.runs import runs_dir


GRIDS_COMMIT = "423adf9"
"""The commit every run of the committed grids came from."""


def library_commit() -> str:
    """The commit of the checkout that ``vireid_lib`` is imported from (``unknown`` outside a git checkout)."""
    here = Path(vireid_lib.__file__).resolve().parent
    done = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", required=True, choices=sorted(GRIDS))
    p.add_argument("--cells", nargs="+", required=True)
    p.add_argument("--seeds", type=int, nargs="+", required=True)
    p.add_argument("--out", required=True, help="the grids' results folder")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = plan(args.grid, args.seeds)
    unknown = sorted(set(args.cells) - {r.cell.name for r in runs})
    if unknown:
        sys.exit(f"error: {unknown} are not cells of grid {args.grid!r}")
    commit = library_commit()
    if not commit.startswith(GRIDS_COMMIT):
        sys.exit(f"error: vireid_lib is imported from commit {commit[:7]}, not the grids' {GRIDS_COMMIT}, whose "
                 f"runs today's code does not repeat bit for bit; put a checkout of {GRIDS_COMMIT} first on "
                 f"PYTHONPATH (git worktree add ../wt-abl {GRIDS_COMMIT})")
    command = "python results/ablations/more_seeds.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    work = runs_dir() / "ablations"
    for run in runs:
        if run.cell.name in args.cells and not result_path(args.out, run).is_file():
            run_group([run], args.out, work, command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
