"""Results in the paper's format: tables of Rank-1/10/20, mAP and mINP in percent beside the paper's rows
(the paper's Tables 1-2; DECISIONS §11), and CMC curves.

Our results are the dicts of :mod:`vireid_lib.evaluation.protocols` (fractions, a ``cmc`` list); the
paper's are percentages transcribed from the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vireid_lib.evaluation.people import people_se
from vireid_lib.provenance import data_label

COLUMNS = ("R1", "R10", "R20", "mAP", "mINP")

SETTINGS = {
    "sysu/all": "SYSU-MM01 all-search",
    "sysu/indoor": "SYSU-MM01 indoor-search",
    "regdb/v2t": "RegDB visible->thermal",
    "regdb/t2v": "RegDB thermal->visible",
}
"""Every table setting, ``"<protocol>/<mode or direction>"``, in the paper's order, with its title. A protocol
result keys them by the part after the slash (``"all"``, ``"v2t"``); :func:`settings_of` re-keys it."""

RANKS = (1, 10, 20)
"""The CMC ranks a table reports."""


def protocol_settings(protocol: str) -> tuple[str, ...]:
    """The settings of ``"sysu"`` or ``"regdb"``, in the paper's order.

    Raises:
        ValueError: for an unknown protocol.
    """
    found = tuple(s for s in SETTINGS if s.split("/")[0] == protocol)
    if not found:
        raise ValueError(f"dataset must be 'sysu' or 'regdb', got {protocol!r}")
    return found


def settings_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """``{"sysu/all": ..., "sysu/indoor": ...}`` or ``{"regdb/v2t": ..., "regdb/t2v": ...}`` from a protocol
    result (or an aggregate over trials); a mapping already keyed by setting is returned as it is."""
    if any("/" in k for k in result):
        return {k: v for k, v in result.items() if "/" in k}
    proto = "sysu" if "all" in result or "indoor" in result else "regdb"
    return {s: result[s.split("/")[1]] for s in protocol_settings(proto) if s.split("/")[1] in result}


def cmc_ranks(cmc: Sequence[float], ranks: Sequence[int] = RANKS) -> dict[str, float]:
    """The matching rate at each rank of a CMC (fractions): ``{"rank1": cmc[0], "rank10": cmc[9], ...}``.

    The one rule for a CMC shorter than a rank (a gallery smaller than it): the rate at that rank is the
    CMC's last value, since a CMC stays constant past the end of the ranking, as
    :func:`~vireid_lib.evaluation.metrics.rank_metrics` extends it.

    Raises:
        ValueError: an empty CMC.
    """
    cmc = np.asarray(cmc, dtype=float)
    if cmc.ndim != 1 or len(cmc) == 0:
        raise ValueError(f"a CMC must be a non-empty list of matching rates, got shape {cmc.shape}")
    return {f"rank{k}": float(cmc[min(k, len(cmc)) - 1]) for k in ranks}


def headline_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """``{"rank1", "rank10", "rank20", "mAP", "mINP"}`` (fractions) of one setting's result: a metric dict, or
    a summary over trials (its ``"mean"``). Ranks read by :func:`cmc_ranks`.

    Raises:
        ValueError: when the result lacks ``cmc``, ``mAP`` or ``mINP``, or its CMC is empty.
    """
    if "mean" in result:
        result = result["mean"]
    missing = {"cmc", "mAP", "mINP"} - set(result)
    if missing:
        raise ValueError(f"a result needs cmc, mAP and mINP; missing {sorted(missing)}")
    return {**cmc_ranks(result["cmc"]), "mAP": float(result["mAP"]), "mINP": float(result["mINP"])}


def _row(*values: float) -> dict[str, float]:
    return dict(zip(COLUMNS, values))


PAPER_RESULTS: dict[str, dict[str, dict[str, float]]] = {
    "sysu/all": {
        "AGW": _row(47.50, 84.39, 92.14, 47.65, 35.30),
        "CAJ": _row(69.88, 95.71, 98.46, 66.89, 53.61),
        "Ours (paper)": _row(74.18, 96.58, 99.20, 70.04, 56.97),
    },
    "sysu/indoor": {
        "AGW": _row(54.17, 91.14, 95.98, 62.97, 59.23),
        "CAJ": _row(76.26, 97.88, 99.49, 80.37, 76.69),
        "Ours (paper)": _row(79.69, 98.12, 99.73, 83.08, 79.65),
    },
    "regdb/v2t": {
        "AGW": _row(70.05, 86.21, 91.55, 66.37, 50.19),
        "CAJ": _row(85.03, 95.49, 97.54, 79.14, 65.33),
        "Ours (paper)": _row(95.22, 98.54, 99.17, 87.70, 74.48),
    },
    "regdb/t2v": {
        "AGW": _row(70.49, 87.21, 91.84, 65.90, 51.24),
        "CAJ": _row(84.75, 95.33, 97.51, 77.82, 61.56),
        "Ours (paper)": _row(93.67, 98.35, 98.83, 86.43, 71.68),
    },
}
"""The paper's full rows (percent), by setting and method; "Ours (paper)" is the method reproduced here."""

PAPER_OTHER_RESULTS: dict[str, dict[str, dict[str, float]]] = {
    "sysu/all": {name: {"R1": r1, "mAP": m} for name, r1, m in [
        ("Zero-Pad", 14.80, 15.95), ("HSME", 20.68, 23.12), ("AlignGAN", 42.40, 40.70),
        ("X-Modal", 49.90, 50.70), ("DDAG", 54.75, 53.02), ("MCLNet", 65.40, 61.98),
        ("MPANet", 70.58, 68.24), ("GLMC", 64.37, 63.43), ("MMN", 70.61, 66.90), ("MID", 60.27, 59.40),
        ("SPOT", 65.34, 62.25), ("CMT", 71.88, 68.57), ("MAUM", 71.68, 68.79)]},
    "regdb/v2t": {name: {"R1": r1, "mAP": m} for name, r1, m in [
        ("Zero-Pad", 17.75, 18.90), ("HSME", 50.85, 47.00), ("AlignGAN", 57.90, 53.60),
        ("X-Modal", 62.21, 60.18), ("DDAG", 69.34, 63.46), ("MCLNet", 80.31, 79.83),
        ("MPANet", 83.70, 80.90), ("GLMC", 91.84, 81.42), ("MMN", 91.60, 84.10), ("MID", 87.45, 84.85),
        ("SPOT", 80.35, 72.46), ("CMT", 95.17, 87.30), ("MAUM", 87.87, 85.09)]},
}
"""The paper's other comparison rows, which report only Rank-1 and mAP (percent)."""


def percent_row(result: Mapping[str, Any]) -> dict[str, float]:
    """Rank-1/10/20, mAP and mINP in percent from one result (:func:`headline_metrics`: a plain result or a
    trial summary with a ``"mean"`` entry; a CMC shorter than a rank reads its last value there).

    Raises:
        ValueError: when the result lacks ``cmc``/``mAP``/``mINP`` or its CMC is empty.
    """
    m = headline_metrics(result)
    return _row(*(100 * m[k] for k in ("rank1", "rank10", "rank20", "mAP", "mINP")))


def results_table(
    ours: Mapping[str, Mapping[str, Any]],
    setting: str,
    *,
    paper_rows: Sequence[str] | bool = True,
    other_rows: bool = False,
) -> str:
    """A Markdown table in the paper's format, our rows below the paper's.

    Args:
        ours: row name -> result (a protocol result for this setting, or a trial summary with ``mean``
            and ``std``; a summary shows ``mean ± std``).
        setting: ``"sysu/all"``, ``"sysu/indoor"``, ``"regdb/v2t"`` or ``"regdb/t2v"``.
        paper_rows: ``True`` for all of the paper's full rows, ``False`` for none, or the method names.
        other_rows: also list the paper's Rank-1/mAP-only comparison rows (SYSU all-search, RegDB V->T).

    Raises:
        ValueError: for an unknown setting or paper row.
    """
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; choose one of {sorted(SETTINGS)}")
    paper = PAPER_RESULTS[setting]
    names = list(paper) if paper_rows is True else list(paper_rows or [])
    unknown = [n for n in names if n not in paper]
    if unknown:
        raise ValueError(f"no paper row {unknown} for {setting}; the paper's rows are {sorted(paper)}")
    lines = [f"| {SETTINGS[setting]} | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    if other_rows:
        for name, row in PAPER_OTHER_RESULTS.get(setting, {}).items():
            lines.append(f"| {name} | " + " | ".join(_fmt(row.get(c)) for c in COLUMNS) + " |")
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_fmt(paper[name][c]) for c in COLUMNS) + " |")
    for name, result in ours.items():
        row = percent_row(result)
        spread = percent_row(result["std"]) if "std" in result else None
        cells = [_fmt(row[c]) + (f" ± {spread[c]:.2f}" if spread else "") for c in COLUMNS]
        lines.append(f"| **{name}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_tables(rows: Mapping[str, Mapping[str, Any]], paper_rows: Sequence[str] | bool = ("Ours (paper)",),
                  data: Mapping[str, Any] | None = None) -> str:
    """Paper-format tables, one per setting: ``rows`` maps a row name to a protocol result.

    Args:
        rows: row name -> protocol result (re-keyed by :func:`settings_of`).
        paper_rows: the paper's rows to show (see :func:`results_table`).
        data: what our rows are on (:func:`vireid_lib.provenance.describe_data`): a first line says so, and on
            synthetic data each of our rows is marked ``(synthetic)``, so no synthetic number passes for one
            on the real dataset beside the paper's.
    """
    synthetic = bool(data and data.get("synthetic"))
    settings: dict[str, dict[str, Any]] = {}
    for name, result in rows.items():
        for s, r in settings_of(result).items():
            settings.setdefault(s, {})[f"{name} (synthetic)" if synthetic else name] = r
    tables = "\n\n".join(results_table(ours, s, paper_rows=paper_rows) for s, ours in settings.items())
    return f"{data_label(data)}\n\n{tables}" if data else tables


def people_line(result: Mapping[str, Any]) -> str:
    """One line on what a protocol result's ± leaves out: Rank-1's standard error over draws of the test people
    per setting, with the people it scores (:func:`~vireid_lib.evaluation.people.people_se`,
    docs/DECISIONS.md §13); empty for a result saved without its person tables."""
    parts = []
    for s, r in settings_of(result).items():
        if "people" in r:
            se = people_se(r["people"])
            n = len(r["people"]["pid"])
            count = f"{n} person" if n == 1 else f"{n} people"
            parts.append(f"{s} {'undefined' if se is None else f'{100 * se:.1f}'} ({count})")
    if not parts:
        return ""
    return (f"Rank-1 standard error over draws of the test people, in points: {', '.join(parts)}; "
            "the ± of SYSU-MM01 rows is over gallery draws of the same people only.")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def plot_cmc(
    curves: Mapping[str, Any],
    *,
    ax: Axes | None = None,
    title: str = "CMC",
    max_rank: int | None = None,
) -> Figure:
    """CMC curves (matching rate in percent against rank), one line per entry.

    Works without a display (no pyplot state is used unless the caller passes pyplot axes).

    Args:
        curves: name -> a CMC array (fractions) or a result/summary holding ``cmc`` (or ``mean.cmc``).
        ax: axes to draw into; a new figure is made when ``None``.
        title: axes title.
        max_rank: last rank shown (default: the longest curve).

    Returns:
        The figure holding the axes.
    """
    if ax is None:
        fig = Figure(figsize=(5, 3.5), layout="constrained")
        ax = fig.add_subplot()
    for name, curve in curves.items():
        if isinstance(curve, Mapping):
            curve = (curve["mean"] if "mean" in curve else curve)["cmc"]
        cmc = 100 * np.asarray(curve, dtype=float)[:max_rank]
        ax.plot(np.arange(1, len(cmc) + 1), cmc, marker="o", markersize=3, label=name)
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_title(title)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return ax.figure
