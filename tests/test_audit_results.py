"""results/audit/: the loss-audit outputs quoted in docs/REPRODUCE.md, row for row."""

from pathlib import Path

import pytest

from vireid_lib.audit import parse_audit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "audit"
DOC = ROOT / "docs" / "REPRODUCE.md"
TERMS = ("id", "tri", "mse", "local_id", "center", "hc")
START = {"random": "random weights", "trained": "synthetic-trained ResNet-50"}
READING = {"sum": "sums (as written)", "mean": "means (presets)", "mean-identity": "means, attention_init=identity"}


def audit_rows(path: Path) -> list[str]:
    """The table rows of one saved ``vireid check`` output: run, step, each term's share of the backbone
    gradient (percent), and the values of eqs. (13) and (12)."""
    preset, start, reading = path.stem.split("_")
    rows = []
    for a in parse_audit(path.read_text()):
        t = a["terms"]
        shares = " | ".join(f"{100 * t[k]['share']:.1f}" for k in TERMS)
        values = f"{t['mse']['value']:.4g} | {t['hc']['value']:.4g}"
        rows.append(f"| {preset} | {START[start]} | {READING[reading]} | {a['step']} | {shares} | {values} |")
    return rows


def files() -> list[Path]:
    return sorted(p for p in RESULTS.glob("paper-*_*_*.txt"))


def test_the_audit_results_exist_for_both_presets_and_both_starts():
    names = {p.stem for p in files()}
    for preset in ("paper-sysu", "paper-regdb"):
        for start in ("random", "trained"):
            assert f"{preset}_{start}_sum" in names


@pytest.mark.parametrize("path", files(), ids=lambda p: p.stem)
def test_every_audit_row_is_in_the_reproduction_guide(path):
    doc = DOC.read_text()
    rows = audit_rows(path)
    assert rows, f"{path} holds no audit"
    for row in rows:
        assert row in doc, f"docs/REPRODUCE.md lacks the row {row!r} of {path.name}"
    for a in parse_audit(path.read_text()):
        assert sum(t["share"] for t in a["terms"].values()) == pytest.approx(1.0, abs=0.002)


def test_parse_audit_reads_the_printed_table():
    from vireid_lib.audit import TermAudit, format_audit

    text = format_audit(4, {"id": TermAudit(2.5, 1.0, 3.0, 0.25), "hc": TermAudit(700.0, 2.0, 9.0, 0.75)})
    assert parse_audit(text) == [{"step": 4, "terms": {
        "id": {"value": 2.5, "weight": 1.0, "grad_norm": 3.0, "share": 0.25},
        "hc": {"value": 700.0, "weight": 2.0, "grad_norm": 9.0, "share": 0.75}}}]
