"""More seeds for some cells of a committed grid, trained and evaluated by the grids' own code.

The options grid's extra seeds came from this script (its runs' records name it), run from the grids' commit
423adf9, which had no ``vireid ablate --cells``. The library later trained AdamW with its fused kernel, which
rounds otherwise; the ``ablation`` preset now names the default kernel (``train.adamw_kernel``), so today's code
repeats the grids' runs bit for bit (``results/ablations/repeat.json``, ``python -m benchmarks.grid_repeat``) and
``vireid ablate --grid G --cells C --seeds ...`` does what this script does. It plans a grid's runs, keeps the
named cells, and trains and evaluates each with ``run_group``, as ``vireid ablate`` does, one run at a time on one
thread; run two of it at once on a 2-core machine, each with its own seeds. Finished runs are skipped.

    OMP_NUM_THREADS=1 python results/ablations/more_seeds.py --grid options --cells triplet=adp --seeds 19 21 23 \\
        --out results/ablations

Then ``vireid ablate --grid options --seeds 0 ... --summary-only`` writes the summary over every finished run.
"""

import argparse
import shlex
import sys

import torch

from vireid_lib.ablation.grids import GRIDS, plan, result_path
from vireid_lib.ablation.run import run_group
from vireid_lib.runs import runs_dir


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
    command = "python results/ablations/more_seeds.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    work = runs_dir() / "ablations"
    for run in runs:
        if run.cell.name in args.cells and not result_path(args.out, run).is_file():
            run_group([run], args.out, work, command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
