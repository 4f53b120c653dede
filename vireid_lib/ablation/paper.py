"""The grids against the paper: differences between cells with their standard errors, verdicts against the
seed-to-seed noise, Table 3 beside the paper's gains, the paper's claims tested one by one and the conclusions
(the grids' README that gathers them: :mod:`~vireid_lib.ablation.readme`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from vireid_lib.ablation.grids import GRIDS
from vireid_lib.ablation.report import METRIC_LABELS, SETTING_ORDER, cell_se, mean_std_text, ranking, standard_error

PAPER_TABLE3_DELTAS: dict[str, dict[str, float]] = {
    "base+p+mca": {"base": 2.77, "base+p": 1.02},
    "base+p+pca": {"base": 2.72, "base+p": 0.68},
    "full": {"base": 4.56, "base+p": 1.87},
}
"""The paper's Table 3 (RegDB) as gains in points over Base and over Base+P (DECISIONS §11). The paper
does not name the metric and its deltas do not add up exactly, so they are read as an ordering."""

PAPER_TABLE4_BEST = "global"
"""Table 4: the global feature alone beats the local feature alone and global + local."""

PAPER_FIGURE4_BEST = "P=3"
"""Figure 4: of P = 1, 2, 3 and 6 stripes, 3 is best."""


# ---------------------------------------------------------------------------------------------- against the paper

def difference(summary: dict[str, Any], a: str, b: str, setting: str, metric: str = "rank1",
               paired: bool = True) -> tuple[float, float | None]:
    """Cell ``a`` minus cell ``b`` in points, and its standard error.

    Paired (the default): the cells of a grid train with the same seeds (``train.seed``: initial weights,
    batch order, augmentation draws; the data set is the same), so two cells' results on one seed move
    together, and the error of the difference is that of the per-seed differences,
    ``std(a_k - b_k) / sqrt(n)`` over the ``n`` seeds both cells hold (at least two). The difference is their
    mean: the difference of the cell means when the two cells hold the same seeds, else that of their means
    over the shared seeds (a noisier cell given more seeds, ``vireid ablate --cells``, is compared on the seeds
    the other holds too). Unpaired (``paired=False``, and the fallback for fewer than two shared seeds or a
    summary without per-seed values):
    ``sqrt(s_a^2 / n_a + s_b^2 / n_b)`` and the difference of the cell means. ``None`` stands for the
    error when there is too little to estimate it.

    Raises:
        KeyError: a cell without results (named).
    """
    cells = summary["cells"]
    for name in (a, b):
        if name not in cells:
            raise KeyError(f"cell {name!r} has no results in grid {summary['grid']!r}; have {sorted(cells)}")
    ca, cb = cells[a], cells[b]
    if paired:
        per_seed = paired_differences(ca, cb, setting, metric)
        if per_seed is not None and len(per_seed) >= 2:
            return float(np.mean(per_seed)), standard_error(per_seed)
    diff = 100 * (ca["mean"][setting][metric] - cb["mean"][setting][metric])
    sa, sb = ca["std"][setting][metric], cb["std"][setting][metric]
    if sa is None or sb is None:
        return diff, None
    return diff, 100 * math.sqrt(sa ** 2 / ca["n"] + sb ** 2 / cb["n"])


def paired_differences(ca: dict[str, Any], cb: dict[str, Any], setting: str, metric: str) -> list[float] | None:
    """``a_k - b_k`` in points for every seed ``k`` both cells hold, in seed order, when each holds a value of
    ``setting`` and ``metric`` per seed; ``None`` otherwise (no shared seed, or a summary written before
    per-seed values were kept)."""
    va = ca.get("values", {}).get(setting, {}).get(metric)
    vb = cb.get("values", {}).get(setting, {}).get(metric)
    sa, sb = ca.get("seeds"), cb.get("seeds")
    if va is None or vb is None or sa is None or sb is None or len(sa) != len(va) or len(sb) != len(vb):
        return None
    a, b = dict(zip(sa, va)), dict(zip(sb, vb))
    shared = sorted(a.keys() & b.keys())
    return [100 * (a[k] - b[k]) for k in shared] if shared else None


NOISE_SE = 2.0
"""A difference stands out of the seed-to-seed noise when it is more than this many standard errors from 0."""


def beyond_noise(d: float, se: float | None) -> bool:
    """Whether difference ``d`` stands more than :data:`NOISE_SE` standard errors from 0. With ``se`` 0 (the
    same difference on every seed) it does unless it is 0 up to rounding (identical cells); without an
    error bar it does not."""
    return se is not None and abs(d) > max(NOISE_SE * se, 1e-9)


def verdict(summary: dict[str, Any], a: str, b: str, setting: str, metric: str = "rank1") -> str:
    """One line comparing cell ``a`` with cell ``b``: :func:`difference` in points, its standard error (paired
    by seed), and whether it stands out of the seed-to-seed noise (more than two standard errors)."""
    d, se = difference(summary, a, b, setting, metric)
    label = f"{a} - {b}: {d:+.2f} {METRIC_LABELS[metric]} points"
    if se is None:
        return label + " (one seed: no error bar)"
    if se == 0:
        return label + (" (the same on every seed: beyond the noise)" if beyond_noise(d, se)
                        else " (identical on every seed)")
    what = "larger than" if beyond_noise(d, se) else "within"
    return label + f" ± {se:.2f} (standard error), {abs(d / se):.1f} SE: {what} the seed-to-seed noise"


def table3_comparison(summary: dict[str, Any], setting: str = "regdb/v2t", metric: str = "rank1") -> str:
    """Markdown: our gains over Base and over Base+P (points, ± standard error) beside the paper's."""
    lines = [f"| variant | ours {METRIC_LABELS[metric]} | ours vs Base | paper vs Base | ours vs Base+P | "
             "paper vs Base+P |", "|---|---|---|---|---|---|"]
    for name, c in summary["cells"].items():
        cells = [mean_std_text(c["mean"][setting][metric], c["std"][setting][metric])]
        for ref in ("base", "base+p"):
            if name == ref or ref not in summary["cells"]:
                cells += ["-", "-"]
                continue
            d, se = difference(summary, name, ref, setting, metric)
            paper = PAPER_TABLE3_DELTAS.get(name, {}).get(ref)
            cells += [f"{d:+.2f}" + (f" ± {se:.2f}" if se is not None else ""),
                      f"{paper:+.2f}" if paper is not None else "-"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- conclusions

PAPER_CLAIMS: tuple[tuple[str, str, str, str], ...] = (
    ("table3", "base+p", "base", "the local branch: Base+P above Base (implied by every gain of Table 3)"),
    ("table3", "base+p+mca", "base+p", "MCA adds to Base+P"),
    ("table3", "base+p+pca", "base+p", "PCA adds to Base+P"),
    ("table3", "full", "base+p", "MCA and PCA together add to Base+P"),
    ("table3", "full", "base", "the full model above Base"),
    ("table4", "global", "local", "Table 4: the global test feature above the local one"),
    ("table4", "global", "both", "Table 4: the global test feature above global + local"),
    *(("parts", "P=3", f"P={p}", f"Figure 4: P = 3 above P = {p}") for p in (1, 2, 6)),
)
"""The paper's claims as ``(grid, a, b, what)``: cell ``a`` should beat cell ``b``."""


class Comparison(NamedTuple):
    """Cell ``a`` against cell ``b`` of one grid over several settings and metrics.

    Attributes:
        grid, a, b: the grid and the two cells.
        what: the claim in words.
        differences: ``{(setting, metric): (a - b in points, standard error or None)}``.
        larger, smaller, within: how many of those differences stand above zero, below zero, or inside
            two standard errors (no error bar counts as within).
    """

    grid: str
    a: str
    b: str
    what: str
    differences: dict[tuple[str, str], tuple[float, float | None]]
    larger: int
    smaller: int
    within: int

    @property
    def outcome(self) -> str:
        """For a claim that ``a`` beats ``b``: ``supported`` (some differences stand out in its direction,
        none against it), ``contradicted`` (the reverse), ``mixed`` (both) or ``within the noise``."""
        if self.larger and self.smaller:
            return "mixed"
        if self.larger:
            return "supported"
        if self.smaller:
            return "contradicted"
        return "within the noise"


def compare(summary: dict[str, Any], a: str, b: str, settings: Sequence[str], metrics: Sequence[str] = ("rank1", "mAP"),
            what: str = "") -> Comparison:
    """:func:`difference` of ``a`` and ``b`` in every setting and metric, counted as above, below or within
    two standard errors (the screen of :func:`verdict`).

    Raises:
        KeyError: a cell without results.
    """
    diffs, counts = {}, {"larger": 0, "smaller": 0, "within": 0}
    for setting in settings:
        for metric in metrics:
            d, se = difference(summary, a, b, setting, metric)
            diffs[setting, metric] = (d, se)
            key = "within" if not beyond_noise(d, se) else "larger" if d > 0 else "smaller"
            counts[key] += 1
    return Comparison(summary["grid"], a, b, what or f"{a} against {b}", diffs, **counts)


def same_as_default(summary: dict[str, Any], cell: str, default: str = "default") -> bool:
    """Whether ``cell`` gave the ``default`` cell's numbers exactly, seed by seed, in every setting and metric: an
    option that on this preset computes what the default does (``loss.mse_reduction=mean`` where eq. (12) is
    already reduced by its mean, say), which no difference of zero should pass off as a measured one."""
    a, b = summary["cells"][cell], summary["cells"][default]
    shared = sorted(set(a["seeds"]) & set(b["seeds"]))
    if len(shared) < 2 or a["values"].keys() != b["values"].keys():
        return False   # over the seeds both hold (the default may have more); one seed could match by chance

    def at(c: dict[str, Any], st: str, m: str) -> list[float] | None:
        values = c["values"][st].get(m)
        return None if values is None else [values[c["seeds"].index(k)] for k in shared]

    return all(at(a, st, m) == at(b, st, m) for st in a["values"] for m in a["values"][st])


def _settings(summary: dict[str, Any], settings: Sequence[str] | None) -> list[str]:
    have = next(iter(summary["cells"].values()))["mean"]
    return [s for s in (settings or sorted(have, key=SETTING_ORDER.index)) if s in have]


def _comparison_line(c: Comparison, outcome: str | None = None) -> str:
    parts = [f"{s} {METRIC_LABELS[m]} {d:+.2f}" + (f" ± {se:.2f}" if se is not None else "")
             for (s, m), (d, se) in c.differences.items()]
    n = c.larger + c.smaller + c.within
    return (f"- {c.what} ({c.a} - {c.b}): {'; '.join(parts)}. Above the noise in {c.larger} of {n}, below in "
            f"{c.smaller}, within in {c.within}: {outcome or c.outcome}.")


def conclusions(summaries: dict[str, dict[str, Any]], settings: Sequence[str] | None = None,
                metrics: Sequence[str] = ("rank1", "mAP")) -> str:
    """The conclusions of the grids, computed from their summaries: the accuracy range and seed-to-seed
    spread against the size of the paper's effects, each claim of :data:`PAPER_CLAIMS` with its differences
    in points (± standard error) and outcome, the order of the cells, and each option of the ``options``
    grid against the default. Grids absent from ``summaries`` are named and skipped.

    Args:
        summaries: ``{grid: summary}`` from :func:`load_summary`.
        settings: settings compared (default: every setting of each summary).
        metrics: metrics compared.
    """
    lines: list[str] = []
    absent = [g for g in GRIDS if g not in summaries or not summaries[g]["cells"]]
    present = {g: s for g, s in summaries.items() if s["cells"]}
    if not present:
        return "No grid has results yet: nothing to conclude."
    rank1 = [100 * c["mean"][s]["rank1"] for g in present.values() for c in g["cells"].values()
             for s in _settings(g, settings)]
    spread = [100 * c["std"][s]["rank1"] for g in present.values() for c in g["cells"].values()
              for s in _settings(g, settings) if c["std"][s]["rank1"] is not None]
    seeds = sorted({c["n"] for g in present.values() for c in g["cells"].values()})
    paper = [v for gains in PAPER_TABLE3_DELTAS.values() for v in gains.values()]
    lines.append(f"Scale: mean Rank-1 of the cells {min(rank1):.1f}-{max(rank1):.1f}%, over "
                 f"{'-'.join(map(str, dict.fromkeys([seeds[0], seeds[-1]])))} seeds per cell"
                 + (f"; seed-to-seed standard deviation of Rank-1 {min(spread):.1f}-{max(spread):.1f} points "
                    f"(median {float(np.median(spread)):.1f})" if spread else "")
                 + f", against the paper's Table 3 gains of {min(paper):.2f}-{max(paper):.2f} points.")
    # The spread of the claims' per-seed Rank-1 differences, and their paired against unpaired errors.
    table3_sd, ratio = [], []
    for grid, a, b, _ in PAPER_CLAIMS:
        s = present.get(grid)
        if s is None or a not in s["cells"] or b not in s["cells"]:
            continue
        for st in _settings(s, settings):
            per_seed = paired_differences(s["cells"][a], s["cells"][b], st, "rank1")
            _, unpaired = difference(s, a, b, st, paired=False)
            if per_seed is not None and len(per_seed) >= 2 and unpaired:
                ratio.append(standard_error(per_seed) / unpaired)
                if grid == "table3":
                    table3_sd.append(float(np.std(per_seed, ddof=1)))
    if ratio:
        uneven = any(len({c["n"] for c in s["cells"].values()}) > 1 for s in present.values())
        lines.append(f"Differences are paired by seed: "
                     + ("two cells are compared on the seeds both hold (not every cell of a grid holds the same "
                        "seeds), " if uneven else "every cell trains with the same seeds, ")
                     + f"and a difference's standard error is that of its per-seed differences (median "
                     f"{float(np.median(ratio)):.2f} of the unpaired sqrt(s_a^2 / n_a + s_b^2 / n_b) over the "
                     f"claims' Rank-1 differences below).")
    if table3_sd:
        # Paired over n seeds, SE = s_d / sqrt(n): a true gain d lies 2 SE from 0 on average at n = 4 s_d^2 / d^2,
        # and clears 2 SE in four grids of five at n = (2 + 0.84)^2 s_d^2 / d^2, about 8 s_d^2 / d^2.
        s_d = float(np.median(table3_sd))
        need = {d: math.ceil(8 * s_d ** 2 / d ** 2) for d in (min(paper), max(paper))}
        lines.append(f"At the median spread of Table 3's per-seed Rank-1 differences, s_d = {s_d:.1f} points, a "
                     f"true gain of d points clears two standard errors in four grids of five with about "
                     f"8 s_d^2 / d^2 seeds per cell: {need[min(paper)]} for the paper's smallest gain "
                     f"({min(paper):.2f}), {need[max(paper)]} for its largest ({max(paper):.2f}).")
    elif spread:
        # Unpaired, two cells of n seeds each: SE of the difference = sigma * sqrt(2 / n); 2 SE at n = 8 sigma^2 / d^2.
        sigma = float(np.median(spread))
        need = {d: math.ceil(8 * sigma ** 2 / d ** 2) for d in (min(paper), max(paper))}
        lines.append(f"At that median spread a true difference of d points stands beyond two standard errors "
                     f"with about 8 sigma^2 / d^2 seeds per cell: {need[min(paper)]} for the paper's smallest gain "
                     f"({min(paper):.2f}), {need[max(paper)]} for its largest ({max(paper):.2f}).")
    # Standard error of each cell's mean Rank-1 over its seeds, std / sqrt(n), against the one-point bar.
    ses = [(100 * se, grid, cell, s, c["n"])
           for grid, g in present.items() for cell, c in g["cells"].items() for s in _settings(g, settings)
           if (se := cell_se(c, s)) is not None]
    if ses:
        worst = [max(x for x in ses if x[1] == grid) for grid in present if any(x[1] == grid for x in ses)]
        lines.append(f"Standard error of a cell's mean Rank-1 (std / sqrt(seeds)): at most 1 point in "
                     f"{sum(x[0] <= 1.0 for x in ses)} of {len(ses)} cells and settings; the largest per grid: "
                     + "; ".join(f"{grid} {se:.2f} ({cell}, {s}, {n} seeds)" for se, grid, cell, s, n in worst)
                     + ".")
    lines.append("")
    lines.append("The paper's claims (a - b in points ± standard error, paired by seed where the summaries keep "
                 "per-seed values; 'supported' or 'contradicted' needs a difference beyond two standard errors):")
    outcomes: dict[str, list[str]] = {}
    for grid, a, b, what in PAPER_CLAIMS:
        s = present.get(grid)
        if s is None or a not in s["cells"] or b not in s["cells"]:
            continue
        c = compare(s, a, b, _settings(s, settings), metrics, what)
        outcomes.setdefault(c.outcome, []).append(f"{a} > {b}")
        lines.append(_comparison_line(c))
    for grid, best in (("table3", " > ".join(("full", "base+p+mca", "base+p+pca", "base+p", "base"))),
                       ("table4", PAPER_TABLE4_BEST + " best"), ("parts", PAPER_FIGURE4_BEST + " best")):
        if grid in present:
            s = present[grid]
            orders = "; ".join(f"{st}: {' > '.join(ranking(s, st, 'rank1'))}" for st in _settings(s, settings))
            lines.append(f"- {grid} order by mean Rank-1, best first: {orders} (paper: {best}).")
    if "options" in present and "default" in present["options"]["cells"]:
        s = present["options"]
        lines.append("")
        lines.append("The options of docs/DECISIONS.md §12 against the default (no direction claimed):")
        for name in s["cells"]:
            if name == "default":
                continue
            if same_as_default(s, name):
                lines.append(f"- {name}: on every seed both cells hold, every number is the default's, so on this "
                             f"preset the option computes what the default does: no comparison.")
                continue
            c = compare(s, name, "default", _settings(s, settings), metrics, f"{name} instead of the default")
            lines.append(_comparison_line(c, "differs beyond the noise" if c.larger or c.smaller
                                          else "within the noise"))
    lines.append("")
    lines.append("In short: " + "; ".join(f"{outcome}: {', '.join(claims)}" for outcome, claims in outcomes.items())
                 + ".")
    if absent:
        lines.append(f"No results yet for: {', '.join(absent)}.")
    return "\n".join(lines)
