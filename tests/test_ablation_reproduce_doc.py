"""docs/REPRODUCE.md: every `vireid` command of its tested block runs end to end on the synthetic data in
both layouts, at tiny sizes, with the block's variables pointed at the synthetic trees and a CPU."""

import json
import re
import shlex
from pathlib import Path

import pytest
import torch
import torchvision

from vireid_lib.cli import main
from vireid_lib.data.synthetic import synthetic_root

DOC = Path(__file__).resolve().parents[1] / "docs" / "REPRODUCE.md"
MARKER = "<!-- tested: tests/test_ablation_reproduce_doc.py"

# Sizes only: the small network, input and schedule of the other command-line tests (resnet18 for speed).
TINY = ["--set", "data.height=32", "--set", "data.width=16", "--set", "data.num_workers=0", "--set", "data.cache=false",
        "--set", "model.arch=resnet18", "--set", "model.parts=2", "--set", "model.local_dim=8",
        "--set", "model.mca_stages=3", "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=1",
        "--set", "train.ids_per_batch=2", "--set", "train.per_modality=2", "--set", "train.eval_every=0",
        "--set", "train.device=cpu", "--set", "eval.sysu_trials=1", "--set", "eval.flip=false", "--quiet"]
TINY_ABLATE = ["--smoke", "--seeds", "0", "--set", "model.arch=resnet18", "--set", "train.device=cpu", "--quiet"]


def doc_block() -> tuple[dict[str, str], list[str]]:
    """The variables and the `vireid` lines of the tested block of REPRODUCE.md."""
    text = DOC.read_text()
    assert MARKER in text, "REPRODUCE.md lost its tested block marker"
    block = re.search(r"```bash\n(.*?)```", text[text.index(MARKER):], re.S).group(1)
    variables, commands = {}, []
    for line in block.splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("vireid "):
            commands.append(line)
        elif re.match(r"(export )?[A-Z_]+=", line):
            name, value = line.removeprefix("export ").split("=", 1)
            variables[name] = value
    return variables, commands


def expand(line: str, env: dict[str, str]) -> list[str]:
    """Shell expansion of ``$NAME`` / ``"$NAME/..."`` with ``env``, then word splitting (as bash would for
    unquoted variables)."""
    unquoted = re.sub(r'(?<!")\$([A-Z_]+)(?!")', lambda m: env[m.group(1)], line)
    return shlex.split(re.sub(r"\$([A-Z_]+)", lambda m: env[m.group(1)], unquoted))


def test_doc_block_names_the_commands_for_every_table():
    variables, commands = doc_block()
    assert set(variables) == {"VIREID_DATA", "PRETRAINED", "GPU", "OUT"}
    assert any("--dataset sysu" in c for c in commands) and any("--dataset regdb" in c for c in commands)
    assert [c.split()[3] for c in commands if c.startswith("vireid ablate")] == ["table3", "table4", "parts"]
    assert all("--preset paper-regdb" in c for c in commands if c.startswith("vireid ablate"))


@pytest.mark.slow
def test_doc_commands_run_on_synthetic_data(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "SYSU-MM01").symlink_to(synthetic_root("sysu", smoke=True), target_is_directory=True)
    (data / "RegDB").symlink_to(synthetic_root("regdb", smoke=True), target_is_directory=True)
    weights = tmp_path / "resnet18.pth"   # stands in for the ImageNet download: same code path, no internet
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    out = tmp_path / "paper"
    env = {"VIREID_DATA": str(data), "PRETRAINED": f"--set model.pretrained={weights}", "GPU": "", "OUT": str(out)}
    _, commands = doc_block()
    for line in commands:
        argv = expand(line, env)
        if argv[1] == "reproduce":
            argv += TINY + (["--trials", "1,2"] if "regdb" in argv else [])
        else:
            argv += TINY_ABLATE
        assert main(argv[1:]) == 0, line
    text = capsys.readouterr().out
    assert "All-search" in text or "all-search" in text.lower()

    sysu = json.loads((out / "sysu" / "summary.json").read_text())
    assert {"all", "indoor"} <= set(sysu["results"]) and sysu["config"]["data"]["root"] == str(data / "SYSU-MM01")
    regdb = json.loads((out / "regdb" / "summary.json").read_text())
    assert regdb["results"]["num_trials"] == 2 and {"v2t", "t2v"} <= set(regdb["results"])
    for grid, cells in (("table3", 5), ("table4", 3), ("parts", 4)):
        summary = json.loads((out / "ablations" / grid / "summary.json").read_text())
        assert len(summary["cells"]) == cells and summary["missing"] == [] and summary["failed"] == []
        assert summary["base_config"]["data"]["root"] == str(data / "RegDB")
        assert summary["base_config"]["model"]["pretrained"] == str(weights)
    # Table 4 trained nothing: its three cells evaluated Table 3's full model
    runs = {p.name for p in (out / "ablation-runs").iterdir()}
    assert len(runs) == 5 + 3   # five variants, and P = 1, 2, 6 (P = 3 is the full model)
