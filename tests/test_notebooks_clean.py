"""Notebooks are committed without outputs, and each has the parameter cell the house style asks for: it reads
``VIREID_SMOKE`` and the dataset location from the environment in code, and later cells use what it read."""

import ast
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

READS_ONLY = {"05_ablations": "it reads the committed grids and trains nothing, so neither parameter changes it"}
"""Notebooks whose parameter cell reads the parameters without using them, and why."""


def _code(source: str) -> ast.Module:
    """The code cells' Python, IPython magics (``%matplotlib inline``) and shell lines left out."""
    return ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))


def _bound_names(tree: ast.Module, reads: Callable[[ast.AST], bool]) -> set[str]:
    """Names assigned from an expression for which ``reads(node)`` holds somewhere inside it."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(reads(n) for n in ast.walk(node.value)):
            names |= {t.id for target in node.targets for t in ast.walk(target) if isinstance(t, ast.Name)}
    return names


def _reads_smoke(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == "VIREID_SMOKE"


def _reads_data(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and node.value == "VIREID_DATA":
        return True
    name = getattr(node.func, "id", getattr(node.func, "attr", None)) if isinstance(node, ast.Call) else None
    return name == "data_root_from_env"


def parameter_problems(source: str, use_required: bool = True) -> list[str]:
    """What the notebook's code lacks: a read of each parameter in code (a comment does not count) and, when
    ``use_required``, a later use of the name it was read into."""
    tree = _code(source)
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    problems = []
    for label, reads in (("VIREID_SMOKE", _reads_smoke), ("the data location (VIREID_DATA)", _reads_data)):
        names = _bound_names(tree, reads)
        if not names:
            problems.append(f"no code reads {label}")
        elif use_required and not names & loaded:
            problems.append(f"{label} is read into {sorted(names)} but never used")
    return problems


def test_the_check_fails_on_a_comment_or_an_unused_read():
    assert parameter_problems("# VIREID_SMOKE and VIREID_DATA in a comment only\nx = 1") == [
        "no code reads VIREID_SMOKE", "no code reads the data location (VIREID_DATA)"]
    unused = 'import os\nSMOKE = os.environ.get("VIREID_SMOKE") == "1"\nROOT = data_root_from_env("sysu")\n'
    assert parameter_problems(unused) == ["VIREID_SMOKE is read into ['SMOKE'] but never used",
                                          "the data location (VIREID_DATA) is read into ['ROOT'] but never used"]
    assert parameter_problems(unused + "%matplotlib inline\nprint(SMOKE, ROOT)") == []
    assert parameter_problems(unused, use_required=False) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_reads_and_uses_smoke_and_data_parameters(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    problems = parameter_problems(code, use_required=path.stem not in READS_ONLY)
    assert not problems, f"{path.name}: {'; '.join(problems)}"
