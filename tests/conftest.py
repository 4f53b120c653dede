"""Unit-test setup: CPU, one thread per worker, seeded."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_real_data(monkeypatch):
    """The command line reads VIREID_DATA; tests run on the synthetic data unless one sets it."""
    monkeypatch.delenv("VIREID_DATA", raising=False)
