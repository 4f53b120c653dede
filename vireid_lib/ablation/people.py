"""The ablation verdicts over the test people as well as over training seeds: the read side of the person
tables that ``benchmarks/ablation_people.py`` keeps in ``results/ablations/<grid>/people.json`` (each committed
run evaluated again from its checkpoint, weights and metrics checked against its record).

An ablation cell's standard error is over training seeds, every seed scored on the same test people of the
synthetic RegDB layout's trial 1. Whether a verdict would hold on other people is another question
(docs/DECISIONS.md §13): for each verdict of ``results/ablations/README.md`` (the paper's claims, and each option
against the default), :func:`claim_rows` gives the difference of the seed means on the seeds with person tables,
with its error over the seeds, over the people, the people's own part and over both
(:func:`~vireid_lib.evaluation.people.seeds_and_people`), beside the committed difference over all seeds;
:func:`table`, :func:`reading_line` and :func:`document` (``results/ablations/people.md``) read them out.
Notebook 05 shows the table and its reading. :func:`spread_rows` splits each cell's spread over seeds into a
whole-model part and each person's own noise (:func:`~vireid_lib.evaluation.people.seed_spread`): what more
test people would and would not buy a cell's standard error.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from vireid_lib.ablation.grids import GRIDS
from vireid_lib.ablation.paper import PAPER_CLAIMS, beyond_noise, paired_differences, same_as_default
from vireid_lib.ablation.report import standard_error
from vireid_lib.evaluation.people import run_variance, seed_spread, seeds_and_people

SETTINGS = ("regdb/v2t", "regdb/t2v")
"""The settings the person tables hold: the RegDB layout's two directions."""


def people_path(grid: str, results: Path) -> Path:
    """Where a grid's person tables are kept: ``<results>/<grid>/people.json``."""
    return results / grid / "people.json"


def person_key(cell: str, seed: int) -> str:
    """A run's key in ``people.json``: ``<cell>/seed<k>``."""
    return f"{cell}/seed{seed}"


def comparisons(grid: str) -> list[tuple[str, str, str]]:
    """The cell pairs ``(a, b, what)`` a grid's verdicts compare: the paper's claims on it
    (:data:`~vireid_lib.ablation.paper.PAPER_CLAIMS`), and for ``options`` each option against the default, as
    ``results/ablations/README.md`` does."""
    pairs = [(a, b, what) for g, a, b, what in PAPER_CLAIMS if g == grid]
    if grid == "options":
        pairs += [(c.name, "default", f"{c.name} instead of the default") for c in GRIDS["options"]
                  if c.name != "default"]
    return pairs


def claim_rows(grid: str, results: Path, settings: tuple[str, ...] = SETTINGS,
               metric: str = "rank1") -> list[dict[str, Any]]:
    """For each comparison of ``grid`` (:func:`comparisons`) and each setting, over the seeds both cells hold in
    the person tables, :func:`~vireid_lib.evaluation.people.seeds_and_people` in points (the difference of the
    seed means; its error over seeds, over people, the people's own part and over both), beside the committed
    summary's difference over all the seeds both cells hold and that difference's error over seeds. Empty when
    the grid has no person tables."""
    path = people_path(grid, results)
    if not path.is_file():
        return []
    runs = json.loads(path.read_text())["runs"]
    summary = json.loads((results / grid / "summary.json").read_text())
    rows = []
    for a, b, what in comparisons(grid):
        if b == "default" and a in summary["cells"] and same_as_default(summary, a):
            continue   # the option computes the default on this preset: no comparison (the conclusions say so)
        seeds = sorted({r["seed"] for r in runs.values() if r["cell"] == a} &
                       {r["seed"] for r in runs.values() if r["cell"] == b})
        if len(seeds) < 2:
            continue
        for s in settings:
            two_way = seeds_and_people([runs[person_key(a, k)]["people"][s] for k in seeds],
                                       [runs[person_key(b, k)]["people"][s] for k in seeds], metric)
            ca, cb = summary["cells"][a], summary["cells"][b]
            every = paired_differences(ca, cb, s, metric)
            if every is None:
                raise ValueError(f"{results / grid / 'summary.json'}: cells {a!r} and {b!r} share no seed or hold no "
                                 f"per-seed values; rebuild it with `vireid ablate --grid {grid} --summary-only`")
            rows.append({"claim": what, "a": a, "b": b, "setting": s, "seeds": seeds,
                         **{k: 100 * v for k, v in two_way.items()},
                         "all_seeds": len(every), "all_difference": float(np.mean(every)),
                         "all_se_seeds": standard_error(every)})
    return rows


def all_seeds_both(row: dict[str, Any]) -> float:
    """The committed all-seed difference's error when the people are drawn anew too: its error over seeds
    (which holds the seeds' noise on each of these people) and the people's own part measured on the person
    tables' seeds (which more seeds do not shrink), in quadrature."""
    return math.hypot(row["all_se_seeds"], row["people_part"])


def _span(seeds: list[int]) -> str:
    """``0–4`` for consecutive seeds, else the list."""
    return f"{seeds[0]}–{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


def _se_text(d: float, se: float) -> str:
    return f"{se:.2f} ({_verdict(d, se)})"


def _verdict(d: float, se: float) -> str:
    return ("above" if d > 0 else "below") if beyond_noise(d, se) else "within"


def _grid_rows(results: Path, grids: tuple[str, ...] = tuple(GRIDS)) -> dict[str, list[dict[str, Any]]]:
    """:func:`claim_rows` of each grid, read once for a table and its reading."""
    return {g: claim_rows(g, results) for g in grids}


def table(results: Path, grids: tuple[str, ...] = tuple(GRIDS),
          rows: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """The Markdown table of the committed person tables: one row per comparison and setting (Rank-1, points);
    ``rows``: :func:`claim_rows` by grid when already read."""
    rows = _grid_rows(results, grids) if rows is None else rows
    lines = ["| a − b | setting | seeds | a − b | ± seeds | ± people | people's own part | ± seeds and people | "
             "all seeds (committed), ± seeds | ± seeds and people |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for grid in grids:
        for r in rows[grid]:
            d, d_all = r["difference"], r["all_difference"]
            lines.append(
                f"| {r['a']} − {r['b']} | {r['setting']} | {_span(r['seeds'])} | {d:+.2f} | "
                f"{_se_text(d, r['se_seeds'])} | {_se_text(d, r['se_people'])} | {r['people_part']:.2f} | "
                f"{_se_text(d, r['se_both'])} | {d_all:+.2f} ± {_se_text(d_all, r['all_se_seeds'])} over "
                f"{r['all_seeds']} | {_se_text(d_all, all_seeds_both(r))} |")
    return "\n".join(lines)


def reading(results: Path, rows: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Counts over every row of :func:`table` (Rank-1 differences): on the person tables' seeds, how many stand
    beyond two standard errors over the seeds and how many beyond two over seeds and people; the same for the
    committed all-seed differences (:func:`all_seeds_both`); the median ratio of the people's own part to the
    error over seeds on those seeds; and the seeds of each grid. ``rows``: :func:`claim_rows` by grid when
    already read (the grids it holds are the ones counted)."""
    by_grid = _grid_rows(results) if rows is None else rows
    rows = [r for g in by_grid for r in by_grid[g]]
    seeds = [r for r in rows if beyond_noise(r["difference"], r["se_seeds"])]
    both = [r for r in seeds if beyond_noise(r["difference"], r["se_both"])]
    committed = [r for r in rows if beyond_noise(r["all_difference"], r["all_se_seeds"])]
    kept = [r for r in committed if beyond_noise(r["all_difference"], all_seeds_both(r))]
    ratios = [r["people_part"] / r["se_seeds"] for r in rows if r["se_seeds"] > 0]
    name = lambda r: f"{r['a']} − {r['b']} ({r['setting']})"   # noqa: E731
    return {"rows": len(rows), "beyond_seeds": len(seeds), "beyond_both": len(both),
            "lost": [name(r) for r in seeds if r not in both],
            "committed_beyond": len(committed), "committed_kept": len(kept),
            "committed_lost": [name(r) for r in committed if r not in kept],
            "median_ratio": float(np.median(ratios)) if ratios else None,
            "seeds": {g: sorted({k for r in by_grid[g] for k in r["seeds"]}) for g in by_grid}}


def results_flag(results: str | Path) -> str:
    """The ``--results`` the command needs for a grids folder other than its default, ``results/ablations``."""
    return "" if Path(results).name == "ablations" else f" --results results/{Path(results).name}"


def document(results: Path) -> str:
    """``results/ablations/people.md``: what the table is, the table, and its reading."""
    rows, spread = _grid_rows(results), spread_rows(results)
    seeds = "; ".join(f"{g} seeds {_span(s)}" for g, s in reading(results, rows)["seeds"].items() if s)
    return "\n".join([
        "# The ablation verdicts over seeds and over the test people",
        "",
        f"Written by `python -m benchmarks.ablation_people --table --write{results_flag(results)}` from",
        "`<grid>/people.json`: the committed",
        "runs whose training folders were still on the machine, evaluated again from their checkpoints (weights",
        "and metrics checked against each run's record) to keep each test person's Rank-1. Rank-1 differences in",
        f"points, cell a minus cell b, over the seeds that have person tables ({seeds}). With each person's",
        "difference on each seed, a two-way decomposition into people, seeds and the rest",
        "(`vireid_lib/evaluation/people.py`, `seeds_and_people`; `docs/DECISIONS.md` §13) gives: ± seeds, the",
        "paired standard error over those seeds with these test people fixed (what the grids' summaries",
        "report); ± people, the standard error over draws of the people with these seeds fixed; the people's own",
        "part of it, which more seeds do not shrink (the rest is the seeds' noise on each person); and ± seeds",
        "and people, the error when both are drawn anew. Each says whether the difference stands beyond two of",
        "its standard errors. The last two columns are the committed difference over all of a grid's seeds",
        "(`README.md` in this folder) with its error over those seeds, then with the people's own part added.",
        "Read the verdicts as screens, not tests: over K seeds the seeds' error has K - 1 degrees of freedom,",
        "and a people's own part truncated at zero adds nothing. The people's errors keep each person's results",
        "as measured: the gallery competitors that new people would bring are not in them.",
        "",
        table(results, rows=rows),
        "",
        reading_line(results, rows),
        "",
        "## What more test people would buy",
        "",
        "Each cell's spread over seeds, split in two: a run's standard deviation of Rank-1 over all the cell's",
        "committed seeds (its summary; every run scored on these 50 people); each person's own noise from seed",
        "to seed, which a run averages over its people (the residual of the two-way decomposition over the seeds",
        "with person tables, `vireid_lib/evaluation/people.py`, `seed_spread`); and the whole-model part that",
        "leaves, a seed training a better or a worse model for every person at once (its square the run's",
        "variance less the people's share, truncated at zero). A run on four times the people keeps the",
        "whole-model part and divides the people's share by four. The seeds a cell needs for a standard error of",
        "one point are the measured spread's on these people, and the split's on four times as many and on any",
        "number (the whole-model part alone). Rank-1 in points. Each row is a point estimate from its own seeds",
        "(a standard deviation over K seeds has K - 1 degrees of freedom), and the full model's trainings",
        "appear in several rows (table3 full, table4's three test features, parts P=3, options default), each",
        "over the seeds its grid holds. More people would also bring more gallery competitors, which the split",
        "does not model.",
        "",
        spread_table(spread),
        "",
        spread_line(spread),
        ""])


def reading_line(results: Path, rows: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """The sentence that reads the table (:func:`reading`), in ``people.md`` and the README."""
    r = reading(results, rows)
    return (f"On the seeds with person tables, {r['beyond_seeds']} of {r['rows']} differences stand beyond two "
            f"standard errors over seeds and {r['beyond_both']} beyond two over seeds and people"
            + (f" (not: {', '.join(r['lost'])})" if r["lost"] else "")
            + "." + ("" if r["median_ratio"] is None else
                     f" The people's own part is a median {r['median_ratio']:.2f} times the error over seeds there.")
            + f" Of the committed all-seed differences, {r['committed_beyond']} stand beyond two standard errors "
            f"over their seeds and {r['committed_kept']} with the people's own part added"
            + (f" (not: {', '.join(r['committed_lost'])})" if r["committed_lost"] else "") + ".")


SPREAD_SEEDS = 5
"""The seeds per cell the grids are sized for (the issue's least), against which :func:`spread_line` counts."""


def spread_rows(results: Path, grids: tuple[str, ...] = tuple(GRIDS), settings: tuple[str, ...] = SETTINGS,
                metric: str = "rank1") -> list[dict[str, Any]]:
    """For each cell of each grid with person tables on at least two seeds, and each setting: a run's standard
    deviation over all the cell's committed seeds (its summary; every run scored on the same people), each
    person's own noise from seed to seed (the residual of :func:`~vireid_lib.evaluation.people.seed_spread` over
    the seeds with person tables), the whole-model part that leaves, ``sqrt(max(0, sd^2 - residual^2 / P))``,
    a run's standard deviation on four times as many people
    (:func:`~vireid_lib.evaluation.people.run_variance`), and the seeds a standard error of one point needs on
    these people, on four times as many and on any number (the whole-model part alone). All in points; point
    estimates, each from its own seeds."""
    rows = []
    for grid in grids:
        path = people_path(grid, results)
        if not path.is_file():
            continue
        runs = json.loads(path.read_text())["runs"]
        cells = json.loads((results / grid / "summary.json").read_text())["cells"]
        for cell in dict.fromkeys(r["cell"] for r in runs.values()):
            tabled = sorted(r["seed"] for r in runs.values() if r["cell"] == cell)
            if len(tabled) < 2:
                continue
            for s in settings:
                own = seed_spread([runs[person_key(cell, k)]["people"][s] for k in tabled], metric)
                sd, residual, n = 100 * cells[cell]["std"][s][metric], 100 * own["residual"], own["people"]
                points = {"sd_runs": sd, "residual": residual,
                          "seed_part": math.sqrt(max(0.0, sd ** 2 - residual ** 2 / n))}
                rows.append({"grid": grid, "cell": cell, "setting": s, "seeds": cells[cell]["n"],
                             "tabled_seeds": tabled, "people": n, **points,
                             "sd_four_times": math.sqrt(run_variance(points, 4 * n)),
                             "seeds_here": _seeds_for_one_point(sd ** 2),
                             "seeds_four_times": _seeds_for_one_point(run_variance(points, 4 * n)),
                             "seeds_any": _seeds_for_one_point(points["seed_part"] ** 2)})
    return rows


def _seeds_for_one_point(variance: float) -> int:
    """The seeds whose mean has a standard error of at most one point, for a run's variance in points^2."""
    return max(1, math.ceil(variance - 1e-9))


def spread_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of :func:`spread_rows` (Rank-1, points)."""
    lines = ["| grid | cell | setting | seeds (with person tables) | test people | a run's SD | whole-model part | "
             "each person's noise | SD on 4x the people | seeds for an SE of 1: these people | 4x the people | "
             "any number |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['grid']} | {r['cell']} | {r['setting']} | {r['seeds']} ({len(r['tabled_seeds'])}) | "
                     f"{r['people']} | "
                     f"{r['sd_runs']:.2f} | {r['seed_part']:.2f} | {r['residual']:.1f} | {r['sd_four_times']:.2f} | "
                     f"{r['seeds_here']} | {r['seeds_four_times']} | {r['seeds_any']} |")
    return "\n".join(lines)


def spread_line(rows: list[dict[str, Any]]) -> str:
    """The sentence that reads :func:`spread_table`: how many cell settings :data:`SPREAD_SEEDS` seeds would bring
    to a standard error of one point on these people, on four times as many and on any number."""
    if not rows:
        return "No grid holds person tables on two seeds or more, so no cell's spread is split."
    over = {tag: sum(r[f"seeds_{tag}"] > SPREAD_SEEDS for r in rows) for tag in ("here", "four_times", "any")}
    part, sd = np.median([r["seed_part"] for r in rows]), np.median([r["sd_runs"] for r in rows])
    # the reading follows the counts: where no setting needs more seeds on any number of people, the part that
    # stays with more people is small and more people would do; otherwise it is what keeps those settings
    reading = ("is a seed training a better or a worse model, and more test people do not shrink it" if over["any"]
               else "is small: the rest of a run's spread is each person's noise, which more test people shrink")
    return (f"Of {len(rows)} cell settings, {over['here']} need more than {SPREAD_SEEDS} seeds for a Rank-1 standard "
            f"error of one point on these test people, {over['four_times']} on four times as many, and "
            f"{over['any']} on any number of people: the whole-model part (median {part:.2f} points against a "
            f"run's median SD of {sd:.2f}) {reading}.")
