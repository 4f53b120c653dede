"""The notebooks use the library's shared helpers instead of writing their own: one ``load_or_train`` for
"load the checkpoint if it exists, otherwise train", one ``notebook_config`` for notebook 03's run, and the
data size in the config (``data.synthetic_smoke``) rather than a ``smoke=`` argument beside it."""

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
LOAD_OR_TRAIN = ("00_quickstart", "04_evaluation", "06_gradcam", "07_retrieval_browser")
"""The notebooks that need a trained model they do not train themselves in view (notebook 03 shows ``fit``)."""
NOTEBOOK_03_RUN = ("03_training", "04_evaluation", "06_gradcam", "07_retrieval_browser")


def _tree(name: str) -> ast.Module:
    cells = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    return ast.parse("\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))))


def _calls(tree: ast.Module) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str | None:
    return getattr(call.func, "id", getattr(call.func, "attr", None))


def smoke_keywords(tree: ast.Module) -> list[str]:
    """Calls given ``smoke=``: the data size travelling beside the config."""
    return [f"{_name(c)}(smoke=...)" for c in _calls(tree) for k in c.keywords if k.arg == "smoke"]


def _is_checkpoint_test(call: ast.Call) -> bool:
    """``<a checkpoint path>.is_file()`` (a results file's test is not one)."""
    return (_name(call) == "is_file" and isinstance(call.func, ast.Attribute)
            and any(word in ast.unparse(call.func.value) for word in ("last.pt", "CHECKPOINT", "checkpoint")))


def hand_written_loads(tree: ast.Module) -> list[str]:
    """The hand-written variants of load-or-train: a checkpoint's ``is_file()`` test, or ``load_model``."""
    return [f"{_name(c)}()" for c in _calls(tree) if _is_checkpoint_test(c) or _name(c) == "load_model"]


def test_the_checks_fail_on_the_old_forms():
    old = ast.parse('reader = open_dataset(cfg.data, smoke=SMOKE)\nif (RUN / "last.pt").is_file():\n'
                    '    model, cfg = load_model(RUN / "last.pt")\n')
    assert smoke_keywords(old) == ["open_dataset(smoke=...)"]
    assert hand_written_loads(old) == ["is_file()", "load_model()"]
    assert smoke_keywords(ast.parse("open_dataset(DataConfig(synthetic_smoke=SMOKE))")) == []
    assert hand_written_loads(ast.parse("if COMMITTED_RESULTS.is_file(): pass")) == []


@pytest.mark.parametrize("name", ALL)
def test_no_smoke_argument_beside_the_config(name):
    assert not smoke_keywords(_tree(name)), f"{name}: set data.synthetic_smoke in the config instead"


@pytest.mark.parametrize("name", LOAD_OR_TRAIN)
def test_trained_models_come_from_load_or_train(name):
    tree = _tree(name)
    assert "load_or_train" in {_name(c) for c in _calls(tree)}
    assert not hand_written_loads(tree), f"{name}: use vireid_lib.training.load_or_train"


@pytest.mark.parametrize("name", NOTEBOOK_03_RUN)
def test_notebook_03s_run_has_one_definition(name):
    assert "notebook_config" in {_name(c) for c in _calls(_tree(name))}
