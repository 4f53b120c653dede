"""Paper-format tables and CMC plots."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from vireid_lib.evaluation.report import (
    PAPER_OTHER_RESULTS,
    PAPER_RESULTS,
    SETTINGS,
    cmc_ranks,
    headline_metrics,
    percent_row,
    plot_cmc,
    protocol_settings,
    results_table,
    settings_of,
)


def _result(r1, r10, r20, m_ap, m_inp):
    cmc = np.linspace(r1, 1.0, 20)
    cmc[9], cmc[19] = r10, r20
    return {"cmc": cmc.tolist(), "mAP": m_ap, "mINP": m_inp}


def test_paper_rows_match_spec_section_6():
    # Spot checks transcribed by hand from the paper's Tables 1-2 (docs/DECISIONS.md §11).
    assert PAPER_RESULTS["sysu/all"]["Ours (paper)"] == dict(R1=74.18, R10=96.58, R20=99.20, mAP=70.04, mINP=56.97)
    assert PAPER_RESULTS["sysu/indoor"]["CAJ"]["mINP"] == 76.69
    assert PAPER_RESULTS["regdb/v2t"]["AGW"]["R20"] == 91.55
    assert PAPER_RESULTS["regdb/t2v"]["Ours (paper)"]["mAP"] == 86.43
    assert PAPER_OTHER_RESULTS["sysu/all"]["CMT"] == {"R1": 71.88, "mAP": 68.57}
    assert PAPER_OTHER_RESULTS["regdb/v2t"]["Zero-Pad"] == {"R1": 17.75, "mAP": 18.90}
    assert len(PAPER_OTHER_RESULTS["sysu/all"]) == len(PAPER_OTHER_RESULTS["regdb/v2t"]) == 13


def test_percent_row_reads_ranks_1_10_20():
    row = percent_row(_result(0.5, 0.8, 0.9, 0.4, 0.25))
    assert row == pytest.approx(dict(R1=50.0, R10=80.0, R20=90.0, mAP=40.0, mINP=25.0))


def test_table_shows_paper_rows_then_ours_with_std():
    summary = {"mean": _result(0.5, 0.8, 0.9, 0.4, 0.25), "std": _result(0.01, 0.02, 0.03, 0.015, 0.005)}
    text = results_table({"ours, 2 trials": summary}, "sysu/all", paper_rows=["CAJ", "Ours (paper)"])
    lines = text.splitlines()
    assert lines[0] == "| SYSU-MM01 all-search | R1 | R10 | R20 | mAP | mINP |"
    assert lines[2] == "| CAJ | 69.88 | 95.71 | 98.46 | 66.89 | 53.61 |"
    assert lines[3].startswith("| Ours (paper) | 74.18")
    assert lines[4] == "| **ours, 2 trials** | 50.00 ± 1.00 | 80.00 ± 2.00 | 90.00 ± 3.00 | 40.00 ± 1.50 | 25.00 ± 0.50 |"
    with_others = results_table({}, "regdb/v2t", paper_rows=False, other_rows=True)
    assert "| HSME | 50.85 | - | - | 47.00 | - |" in with_others


def test_table_errors():
    with pytest.raises(ValueError, match="unknown setting"):
        results_table({}, "market/all")
    with pytest.raises(ValueError, match="no paper row"):
        results_table({}, "sysu/all", paper_rows=["DDAG++"])
    with pytest.raises(ValueError, match="non-empty"):
        results_table({"empty": {"cmc": [], "mAP": 1.0, "mINP": 1.0}}, "sysu/all")
    with pytest.raises(ValueError, match="missing"):
        percent_row({"cmc": [1.0] * 20})


def test_cmc_plot_draws_one_line_per_curve_in_percent(tmp_path):
    fig = plot_cmc({"a": np.linspace(0.2, 1, 20), "b": {"mean": _result(0.5, 0.8, 0.9, 0.4, 0.2)}})
    assert isinstance(fig, Figure)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    assert lines[0].get_ydata()[0] == pytest.approx(20.0)
    assert lines[0].get_xdata()[0] == 1
    fig.savefig(tmp_path / "cmc.png")  # renders without a display
    assert (tmp_path / "cmc.png").stat().st_size > 0


def test_one_cmc_reader_with_one_rule_for_short_curves():
    cmc = [0.05 * (i + 1) for i in range(20)]
    assert cmc_ranks(cmc) == {"rank1": 0.05, "rank10": 0.5, "rank20": pytest.approx(1.0)}
    # a CMC shorter than a rank (a gallery of 3): the rate there is its last value, as rank_metrics extends it
    assert cmc_ranks([0.5, 0.7, 0.9]) == {"rank1": 0.5, "rank10": 0.9, "rank20": 0.9}
    with pytest.raises(ValueError, match="non-empty"):
        cmc_ranks([])
    summary = {"mean": {"cmc": [0.5, 0.7, 0.9], "mAP": 0.4, "mINP": 0.2}, "std": {}}
    assert headline_metrics(summary) == {"rank1": 0.5, "rank10": 0.9, "rank20": 0.9, "mAP": 0.4, "mINP": 0.2}
    assert percent_row(summary) == pytest.approx({"R1": 50.0, "R10": 90.0, "R20": 90.0, "mAP": 40.0, "mINP": 20.0})


def test_setting_names_are_defined_once():
    assert protocol_settings("sysu") == ("sysu/all", "sysu/indoor")
    assert protocol_settings("regdb") == ("regdb/v2t", "regdb/t2v")
    assert set(protocol_settings("sysu") + protocol_settings("regdb")) == set(SETTINGS)
    with pytest.raises(ValueError, match="sysu' or 'regdb"):
        protocol_settings("market")
    r = {"protocol": "regdb", "trial": 1, "v2t": {"cmc": [1.0]}, "t2v": {"cmc": [0.5]}}
    assert settings_of(r) == {"regdb/v2t": {"cmc": [1.0]}, "regdb/t2v": {"cmc": [0.5]}}
    assert settings_of({"all": 1, "num_trials": 2}) == {"sysu/all": 1}
    assert settings_of({"sysu/all": 1}) == {"sysu/all": 1}

