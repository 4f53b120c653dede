"""benchmarks/bench_gpu.py without a GPU: one clear line and status 2, never a traceback (CI has no GPU)."""

import pytest
import torch

from benchmarks import bench_gpu


@pytest.mark.skipif(torch.cuda.is_available(), reason="this checks the message shown where there is no CUDA")
def test_bench_gpu_says_there_is_no_gpu(capsys):
    assert bench_gpu.main(["--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device" in err and len(err.strip().splitlines()) == 1


def test_variants_cover_the_issue():
    assert set(bench_gpu.VARIANTS) >= {"fp32", "bf16", "bf16+cl", "bf16+cl+compile", "fp16+scaler+cl"}
