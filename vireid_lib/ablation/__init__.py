"""Ablation grids: the paper's Table 3 (variants), Table 4 (test branch), Figure 4 (part count) and the
options of DECISIONS §12, each cell trained with several seeds (``vireid ablate``).

A grid is a list of cells; a cell is a list of ``section.key=value`` overrides of the ``ablation`` preset,
so an ablation is a config value, never a copy of the code. The files:

- ``<out>/<grid>/<cell>/seed<k>.json``: one result per run: config, seed, metrics, wall time, machine,
  the command;
- ``<out>/<grid>/summary.json`` and ``summary.md``: mean and standard deviation over seeds per cell;
- ``<work>/<key>-seed<k>/``: the training folder of :func:`~vireid_lib.training.fit`, named by a hash of
  the training configuration, so every cell that trains the same network shares it (table3's ``full``,
  parts' ``P=3``, options' ``default`` and all of table4), and ``eval-<key>.json`` files caching each
  evaluation of it.

Resumable: a run whose result JSON exists is skipped, an interrupted training continues from its
``last.pt``. Table 4 trains nothing of its own: its cells are the full model evaluated with
``eval.branch`` = global, local and both.

The rooms: :mod:`~vireid_lib.ablation.grids` (grids, cells, planning, keys and paths),
:mod:`~vireid_lib.ablation.run` (running a grid), :mod:`~vireid_lib.ablation.report` (metrics, summaries over
seeds, their tables and plot), :mod:`~vireid_lib.ablation.paper` (differences, verdicts, the paper's
claims and the conclusions) and :mod:`~vireid_lib.ablation.readme` (the grids' README and their cost).
Their public names are all importable from here.
:mod:`~vireid_lib.ablation.people` (the verdicts' error over the test people as well as over seeds, read from
the person tables of ``benchmarks/ablation_people.py``) is used as a module: ``ablation.people.table(...)``.
"""

from vireid_lib.ablation import people
from vireid_lib.ablation.grids import (ABLATION_SMOKE, GRIDS, NEUTRAL_DEFAULTS, Cell, Run, ablation_config, eval_key,
                                       plan, result_path, train_dir, train_key)
from vireid_lib.ablation.paper import (NOISE_SE, PAPER_CLAIMS, PAPER_FIGURE4_BEST, PAPER_TABLE3_DELTAS,
                                       PAPER_TABLE4_BEST, Comparison, compare, conclusions, difference,
                                       table3_comparison, verdict)
from vireid_lib.ablation.readme import cost_table, grids_readme, start_words, write_grids_readme
from vireid_lib.ablation.report import (METRIC_LABELS, METRICS, SETTING_ORDER, data_line, format_summary, load_summary,
                                        mean_std_text, metrics_of, plot_grid, ranking, summarize, write_summary)
from vireid_lib.ablation.run import RUN_FORMAT, SPEED_ONLY, resolve_jobs, run_grid, run_group

__all__ = [
    "ABLATION_SMOKE", "GRIDS", "NEUTRAL_DEFAULTS", "Cell", "Run", "ablation_config", "eval_key", "plan", "result_path",
    "train_dir", "train_key",
    "NOISE_SE", "PAPER_CLAIMS", "PAPER_FIGURE4_BEST", "PAPER_TABLE3_DELTAS", "PAPER_TABLE4_BEST", "Comparison",
    "compare", "conclusions", "difference", "table3_comparison", "verdict",
    "cost_table", "grids_readme", "start_words", "write_grids_readme",
    "METRIC_LABELS", "METRICS", "SETTING_ORDER", "data_line", "format_summary", "load_summary", "mean_std_text",
    "metrics_of", "plot_grid", "ranking", "summarize", "write_summary",
    "RUN_FORMAT", "SPEED_ONLY", "resolve_jobs", "run_grid", "run_group",
    "people",
]
