"""benchmarks/bench_gpu.py: without a GPU one clear line and status 2, never a traceback (CI has no GPU); with its
measured results (results/gpu/), the wall-time table of docs/REPRODUCE.md."""

import json
from pathlib import Path

import pytest
import torch

from benchmarks import bench_gpu

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this checks the message shown where there is no CUDA")
def test_bench_gpu_says_there_is_no_gpu(capsys):
    assert bench_gpu.main(["--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device" in err and len(err.strip().splitlines()) == 1


def test_variants_cover_the_issue():
    assert set(bench_gpu.VARIANTS) >= {"fp32", "bf16", "bf16+cl", "bf16+cl+compile", "fp16+scaler+cl"}


def test_reproduce_doc_wall_time_table_is_the_measured_one():
    """docs/REPRODUCE.md section 4 is `python -m benchmarks.bench_gpu --table` over results/gpu/: hours from
    the measured images/s, not numbers copied by hand."""
    from benchmarks.bench_synth import card_section

    doc = (ROOT / "docs" / "REPRODUCE.md").read_text()
    assert card_section(doc, "gpu_wall_time") == bench_gpu.wall_time_table()
    assert "PyTorch 2.11" in doc and "torch 2.11" in (ROOT / "results" / "gpu" / "tests_h200.log").read_text()


def test_wall_time_table_hand_worked(tmp_path):
    """1,000 img/s: SYSU-MM01's 6,676,800 images take 1.85 h, printed 1.9; the compiled variant is left out."""
    f = tmp_path / "bench_gpu_x.json"
    f.write_text(json.dumps({"device": "GPU X", "gpu": [
        {"variant": "bf16", "images_per_s": 1000.0}, {"variant": "bf16+cl+compile", "images_per_s": 5000.0}]}))
    table = bench_gpu.wall_time_table([f])
    assert "bf16 on GPU X (1000 img/s)" in table and "compile" not in table
    assert "| SYSU-MM01, one model | 100 epochs x 1,391 steps x 48 = 6.68 M | 1.9 h |" in table


def test_loader_kept_up_on_the_measured_gpu():
    """The claim of docs/REPRODUCE.md section 4: 4 cached workers outran the fastest eager step."""
    d = json.loads((ROOT / "results" / "gpu" / "bench_gpu_h200.json").read_text())
    fastest = max(r["images_per_s"] for r in d["gpu"])
    assert next(r for r in d["loader"] if r["workers"] == 4)["images_per_s"] > fastest
    assert max(d["gpu"], key=lambda r: r["images_per_s"])["variant"] == "bf16"   # the doc's GPU line


def test_readme_gpu_test_claim_is_the_log():
    """README: on the H200 the CUDA tests gave 26 passed, and the one error was collecting `test_transform`."""
    log = (ROOT / "results" / "gpu" / "tests_h200.log").read_text()
    assert log.rstrip().splitlines()[-1].startswith("26 passed, 1 skipped, 1 error")
    assert "ERROR at setup of test_transform" in log and log.count("ERROR at setup") == 1
    readme = (ROOT / "README.md").read_text().replace("\n", " ")
    assert "CUDA tests (26 passed; the one error there was pytest collecting an imported helper named `test_transform`" in readme
