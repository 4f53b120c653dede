"""The machine record: what it reports agrees with the operating system and torch, read independently."""

import os
import platform

import torch

from vireid_lib import __version__
from vireid_lib.machine import machine_info


def test_machine_info_reports_this_machine():
    m = machine_info()
    assert m["nproc"] == len(os.sched_getaffinity(0)) and m["logical_cpus"] == os.cpu_count()
    assert m["torch_threads"] == torch.get_num_threads() and m["torch"] == torch.__version__
    assert m["cuda"] == [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    assert m["python"] == platform.python_version() and m["vireid"] == __version__
    assert isinstance(m["cpu"], str) and m["cpu"] and m["load_average_1min"] >= 0
