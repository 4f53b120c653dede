"""The machine a run used, recorded beside its results (ablation runs, benchmarks, training logs)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch

from vireid_lib import __version__


def usable_cores() -> int | None:
    """The cores this process may run on (its CPU affinity, as ``nproc`` counts them), else the machine's
    logical CPUs; None where neither is known."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def machine_info() -> dict[str, Any]:
    """The machine a run used: CPU model (``lscpu``), usable cores (``nproc``), torch threads, CUDA devices,
    platform and versions, and the 1-minute load average (how busy the CPU was with other work)."""
    cpu = platform.processor() or platform.machine()
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), cpu)
    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {"cpu": cpu, "nproc": usable_cores(),
            "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "cuda": cuda,
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "vireid": __version__, "load_average_1min": round(os.getloadavg()[0], 2)}


def library_commit() -> str:
    """The commit of the checkout ``vireid_lib`` is imported from, ``-dirty`` when it has uncommitted changes
    (``unknown`` outside a git checkout or without git)."""
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "-C", str(here), "describe", "--always", "--dirty"], capture_output=True,
                              text=True)
    except OSError:   # no git on this machine
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"
