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


def test_the_attention_start_short_run_is_quoted_as_saved():
    """docs/REPRODUCE.md quotes the short run of benchmarks/attention_start.py table for table."""
    import json

    from benchmarks.attention_start import VARIANTS, summary, table

    rows = json.loads((RESULTS / "attention_start.json").read_text())["rows"]
    doc = DOC.read_text()
    assert table(rows) in doc
    assert summary(rows) in doc
    assert {(r["attention_init"], r["attention_lr_mult"]) for r in rows} == set(VARIANTS)
    assert len({r["seed"] for r in rows}) >= 3
    # The doc's reading: no variant differs from the default by more than about one standard error.
    base = {r["seed"]: r["end"]["r1"] for r in rows if (r["attention_init"], r["attention_lr_mult"]) == VARIANTS[0]}
    for variant in VARIANTS[1:]:
        d = [r["end"]["r1"] - base[r["seed"]] for r in rows if (r["attention_init"], r["attention_lr_mult"]) == variant]
        mean = sum(d) / len(d)
        se = (sum((x - mean) ** 2 for x in d) / (len(d) - 1) / len(d)) ** 0.5
        assert abs(mean) <= 1.5 * se, (variant, mean, se)


def test_attention_start_summary_pairs_by_seed():
    from benchmarks.attention_start import summary

    def row(init, mult, seed, r1):
        return {"attention_init": init, "attention_lr_mult": mult, "seed": seed, "end": {"r1": r1, "mAP": r1}}

    rows = [row("default", None, 0, 10.0), row("default", None, 1, 20.0),
            row("identity", None, 0, 12.0), row("identity", None, 1, 24.0)]
    lines = summary(rows).splitlines()
    assert lines[2] == "| default | heads (1) | 2 | 15.0 ± 5.0 | 15.0 ± 5.0 | - |"
    # paired differences 2 and 4: mean 3, sample variance 2, standard error sqrt(2 / 2) = 1.0
    assert lines[3] == "| identity | heads (1) | 2 | 18.0 ± 6.0 | 18.0 ± 6.0 | 3.0 ± 1.0 |"
