"""Every bad input of docs/BAD_INPUTS.md, run through the ``vireid`` command: one line on stderr naming the
file, value or flag and the fix, never a traceback. The table in the docs is rendered from ``CASES`` and
checked here, so it stays true; rewrite it with ``python tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from PIL import Image

from data_trees import default_sysu, sysu_tree

DOC = Path(__file__).resolve().parents[1] / "docs" / "BAD_INPUTS.md"

TINY = ["data.height=32", "data.width=16", "data.num_workers=0", "data.cache=false", "model.arch=resnet18",
        "model.parts=2", "model.local_dim=8", "model.mca_stages=3", "train.epochs=1", "train.max_steps_per_epoch=1",
        "train.ids_per_batch=2", "train.per_modality=2", "train.eval_every=0", "train.device=cpu",
        "eval.sysu_trials=1", "eval.flip=false", "model.pretrained=null"]
"""A network and schedule small enough for a CPU test."""


def sets(*more: str) -> list[str]:
    """``--set KEY=VALUE`` for each of :data:`TINY` and ``more``."""
    return [a for kv in (*TINY, *more) for a in ("--set", kv)]


class Case(NamedTuple):
    """One row of the table: what the user gave, an excerpt of the one line they get, and how to make it."""

    input: str
    message: str
    argv: Callable[[Path, Path, Any], list[str]]
    code: int = 2


def _text_file(tmp: Path, run: Path, mp: Any) -> list[str]:
    (tmp / "weights.txt").write_text("not weights\n")
    return ["train", "--smoke", "--quiet", "--out", str(tmp / "r"), *sets("model.width=64",
            f"model.pretrained={tmp / 'weights.txt'}")]


def _pickle_file(tmp: Path, run: Path, mp: Any) -> list[str]:
    import pickle

    (tmp / "weights.pkl").write_bytes(pickle.dumps({"conv1.weight": [1, 2, 3]}))
    return ["train", "--smoke", "--quiet", "--out", str(tmp / "r"), *sets("model.width=64",
            f"model.pretrained={tmp / 'weights.pkl'}")]


def _edited_checkpoint(tmp: Path, run: Path, mp: Any) -> list[str]:
    ckpt = torch.load(run / "last.pt", weights_only=True)
    cfg = json.loads(ckpt["config"])
    cfg["model"]["parts"] = 3       # the weights hold 2 stripes' heads
    ckpt["config"] = json.dumps(cfg)
    torch.save(ckpt, tmp / "edited.pt")
    return ["evaluate", str(tmp / "edited.pt"), "--smoke", "--quiet"]


def _corrupt_image(tmp: Path, run: Path, mp: Any) -> list[str]:
    root = default_sysu(tmp / "SYSU-MM01")
    (root / "cam4" / "0004" / "0001.jpg").write_bytes(b"this is not a jpeg")   # a test image: training never draws it
    return ["train", "--quiet", "--no-eval", "--root", str(root), "--out", str(tmp / "r"), *sets("data.num_workers=1")]


def _test_ids_without_images(tmp: Path, run: Path, mp: Any) -> list[str]:
    full = {1: 1, 2: 1, 3: 1, 6: 1}
    root = sysu_tree(tmp / "SYSU-MM01", {1: full, 2: full, 3: full}, train=(1, 2), val=(3,), test=(8, 9))
    return ["train", "--quiet", "--root", str(root), "--out", str(tmp / "r"), *sets()]


def _ctrl_c(tmp: Path, run: Path, mp: Any) -> list[str]:
    from vireid_lib import training

    calls = []
    real = training.train_one_epoch

    def interrupted_in_epoch_2(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    mp.setattr(training, "train_one_epoch", interrupted_in_epoch_2)
    return ["train", "--smoke", "--quiet", "--no-eval", "--out", str(tmp / "r"), *sets("train.epochs=3")]


CASES = [
    Case("`--set model.mca_stages=2,x`", "override 'model.mca_stages=2,x': config.model.mca_stages: expected an "
         "integer, got 'x' (a list: comma-separated values such as model.mca_stages=2,3)",
         lambda tmp, run, mp: ["train", "--smoke", "--out", str(tmp / "r"), "--set", "model.mca_stages=2,x"]),
    Case("`--set train.epochs=2 train.bogus=1` (several values after one `--set` are all applied)",
         "override 'train.bogus=1': unknown key 'bogus'",
         lambda tmp, run, mp: ["train", "--smoke", "--out", str(tmp / "r"), "--set", "train.epochs=2",
                               "train.bogus=1"]),
    Case("`--set train.device=nope`", "train.device='nope' is not a device; use auto, cpu, cuda or cuda:N",
         lambda tmp, run, mp: ["train", "--smoke", "--quiet", "--out", str(tmp / "r"), *sets("train.device=nope")]),
    Case("`--set data.random_erasing=1.5`", "data.random_erasing must be in [0, 1] (the probability of channel random "
         "erasing in each training pipeline; 0 turns it off), got 1.5",
         lambda tmp, run, mp: ["train", "--smoke", "--quiet", "--out", str(tmp / "r"), *sets("data.random_erasing=1.5")]),
    Case("`vireid reproduce --trials 1,x`", "--trials 1,x: expected comma-separated RegDB trials from 1 to 10, "
         "such as --trials 1,2,3",
         lambda tmp, run, mp: ["reproduce", "--dataset", "regdb", "--smoke", "--out", str(tmp / "r"),
                               "--trials", "1,x"]),
    Case("`vireid synth --out FILE` (an existing file)", "is a file, not a folder; give a new folder",
         lambda tmp, run, mp: ["synth", "--layout", "sysu", "--out", str(run / "config.json")]),
    Case("`vireid synth --layout regdb --outdoor-daylight 0.5`", "outdoor_daylight is a SYSU-MM01-layout setting "
         "(RegDB has no indoor cameras); use 0 for the regdb layout, got 0.5",
         lambda tmp, run, mp: ["synth", "--layout", "regdb", "--out", str(tmp / "d"), "--outdoor-daylight", "0.5"]),
    Case("`vireid synth --outdoor-daylight 2`", "outdoor_daylight must be in [0, 1] (0: outdoor cameras render as "
         "indoor ones), got 2.0",
         lambda tmp, run, mp: ["synth", "--layout", "sysu", "--out", str(tmp / "d"), "--outdoor-daylight", "2"]),
    Case("`--set model.pretrained=weights.txt` (a text file)", "is not a tensor-only torch file; give a "
         "torchvision resnet18 state dict saved with torch.save, 'imagenet', or null", _text_file),
    Case("`--set model.pretrained=weights.pkl` (a pickle of Python objects)", "is not a tensor-only torch file; "
         "give a torchvision resnet18 state dict saved with torch.save, 'imagenet', or null (torch.load with "
         "weights_only=True refused it: UnpicklingError)", _pickle_file),
    Case("`vireid evaluate CKPT` whose stored config does not match its weights", "its weights do not match the "
         "model its stored config describes", _edited_checkpoint),
    Case("`vireid train` into a run folder of another configuration", "was written for a different "
         "configuration (differing keys: ['train.lr']); use another --out folder, or start afresh with --no-resume",
         lambda tmp, run, mp: ["train", "--smoke", "--quiet", "--out", str(run), *sets("train.lr=0.5")]),
    Case("a file that is not an image, never drawn by training (a test image), `data.cache=false`, "
         "`data.num_workers=1`: found when the loader is built, before the first step",
         "cannot read image", _corrupt_image),
    Case("SYSU-MM01 `exp/test_id.txt` listing ids without images (found when the reader opens)",
         "the query set (no test id has infrared images) would be empty for the 2 ids of exp/test_id.txt ([8, 9])",
         _test_ids_without_images),
    Case("Ctrl-C during `vireid train`", "stopped at epoch 2 of 3, step 1; the last checkpoint is epoch 1 of 3",
         _ctrl_c, code=130),
]


def table() -> str:
    """The markdown table of ``CASES`` (input, message)."""
    rows = ["| input | message (excerpt of the one line on stderr) |", "|---|---|"]
    rows += [f"| {c.input} | `{c.message}` |" for c in CASES]
    return "\n".join(rows) + "\n"


BEGIN, END = "<!-- begin: generated by tests/test_bad_inputs.py -->\n", "<!-- end: generated -->\n"


def render(doc: str) -> str:
    """``doc`` with the text between the markers replaced by :func:`table`."""
    head, rest = doc.split(BEGIN)
    return head + BEGIN + table() + END + rest.split(END)[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny finished run (read only)."""
    from vireid_lib.cli import main

    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--smoke", "--quiet", "--no-eval", "--out", str(out), *sets()]) == 0
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.input[:40] for c in CASES])
def test_bad_input_gets_one_line(case: Case, trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture) -> None:
    from vireid_lib.cli import main

    argv = case.argv(tmp_path, trained, monkeypatch)
    capsys.readouterr()
    try:
        code = main(argv)
    except KeyboardInterrupt:   # pytest would take it for the user's own Ctrl-C and stop the session
        pytest.fail("a KeyboardInterrupt escaped vireid's main()")
    err = capsys.readouterr().err.strip()
    assert code == case.code, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"vireid {argv[0]}: ") and case.message in err, err


def test_the_docs_table_is_the_tested_one() -> None:
    doc = DOC.read_text()
    assert doc == render(doc), "docs/BAD_INPUTS.md is out of date: run python tests/test_bad_inputs.py"


def test_several_values_per_set_and_repeated_set() -> None:
    from vireid_lib.cli import build_parser

    args = build_parser().parse_args(["train", "--set", "a.b=1", "c.d=2", "--set", "e.f=3", "--smoke"])
    assert args.set == ["a.b=1", "c.d=2", "e.f=3"] and args.smoke


def test_a_checkpoint_after_set_is_still_the_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from vireid_lib.cli import main

    missing = tmp_path / "missing.pt"
    assert main(["evaluate", "--set", "eval.flip=true", str(missing)]) == 2
    assert f"no checkpoint at {missing}" in capsys.readouterr().err
    assert main(["evaluate", "--set", "eval.flip=true"]) == 2
    assert "give the checkpoint to evaluate: vireid evaluate CHECKPOINT" in capsys.readouterr().err


def test_a_worker_error_is_reported_as_its_own_line(tmp_path: Path) -> None:
    """A truncated image (its header reads, its data does not) decoded in a DataLoader worker: the CLI shows
    the worker's own error, not the 20-line wrapper."""
    from vireid_lib.cli import _one_line
    from vireid_lib.config import DataConfig
    from vireid_lib.data import Record, build_test_loader

    root = default_sysu(tmp_path / "S")
    good = root / "cam1" / "0001" / "0001.jpg"
    bad = tmp_path / "truncated.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 32, 3), np.uint8)).save(bad, quality=95)
    bad.write_bytes(bad.read_bytes()[:400])
    records = [Record(str(good), 1, 1, "visible"), Record(str(bad), 1, 1, "visible")]
    loader = build_test_loader(records, DataConfig(height=32, width=16, num_workers=1, cache=False), batch_size=2)
    with pytest.raises(ValueError) as e:
        next(iter(loader))
    assert "Original Traceback" in str(e.value)   # what torch gives
    line = _one_line(e.value)
    assert line.startswith(f"cannot read image {bad}: ") and "\n" not in line


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text()))
    print(f"wrote {DOC}")
