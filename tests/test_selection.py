"""Model selection (train.select): which checkpoint best.pt holds, and both models reported, labelled."""

import json

import pytest
from test_cli import TINY
from test_training_fit import tiny_config

from vireid_lib.cli import main
from vireid_lib.data import open_dataset
from vireid_lib.selection import labels, selection_metric
from vireid_lib.checkpoints import load_checkpoint
from vireid_lib.training import fit

# rank1 peaks at epoch 1, mAP at epoch 2 (then both fall)
SCRIPT = {1: {"mAP": 0.2, "rank1": 0.5}, 2: {"mAP": 0.4, "rank1": 0.3}, 3: {"mAP": 0.1, "rank1": 0.1}}


def scripted_eval():
    calls = []

    def eval_fn(model, cfg, reader):
        calls.append(1)
        return dict(SCRIPT[len(calls)])
    return eval_fn


@pytest.fixture(scope="module")
def reader():
    return open_dataset(tiny_config().data)


@pytest.mark.parametrize("select, epoch, value", [("best-rank1", 1, 0.5), ("best-map", 2, 0.4), ("last", 2, 0.4)])
def test_best_checkpoint_follows_the_policy(tmp_path, reader, select, epoch, value):
    res = fit(tiny_config(3, select=select, max_steps_per_epoch=1), tmp_path, progress=False,
              eval_fn=scripted_eval(), reader=reader)
    assert load_checkpoint(res.best)["epoch"] == epoch and res.best_map == pytest.approx(value)
    assert load_checkpoint(res.last)["epoch"] == 3


def test_policy_names_and_labels():
    assert [selection_metric(s) for s in ("last", "best-map", "best-rank1")] == ["mAP", "mAP", "rank1"]
    with pytest.raises(ValueError, match="train.select"):
        selection_metric("best-loss")
    lab = labels("best-rank1", 4)
    assert lab["last"] == "last epoch"
    assert "Rank-1" in lab["best"] and "epoch 4" in lab["best"] and "(selected)" in lab["best"]
    assert "chosen on test ids" in lab["best"]
    assert labels("last", 2)["last"] == "last epoch (selected)" and "(selected)" not in labels("last", 2)["best"]


def test_unknown_policy_fails_before_training(tmp_path, reader):
    with pytest.raises(ValueError, match="train.select"):
        fit(tiny_config(1, select="best"), tmp_path, progress=False, reader=reader)
    assert not (tmp_path / "last.pt").exists()


def test_train_command_reports_last_and_best(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--smoke", "--quiet", "--out", str(out), *TINY, "--set", "train.epochs=2",
            "--set", "train.eval_every=1", "--set", "train.select=best-rank1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "last epoch" in text and "best trial-0 Rank-1" in text
    assert (out / "last.results.json").is_file() and (out / "best.results.json").is_file()
    best = json.loads((out / "best.results.json").read_text())
    assert best["config"]["train"]["select"] == "best-rank1"


def test_reproduce_reports_last_and_best_labelled(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("vireid_lib.training.evaluate_trial0", scripted_eval())   # best Rank-1 at epoch 1
    args = ["reproduce", "--dataset", "sysu", "--smoke", "--quiet", "--out", str(tmp_path), *TINY,
            "--set", "model.pretrained=null", "--set", "train.epochs=2", "--set", "train.eval_every=1",
            "--set", "train.select=best-rank1", "--set", "train.schedule=step"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "ours (reproduced), last epoch |" in text.replace("**", "").replace(" (synthetic)", "")
    assert "best trial-0 Rank-1, epoch 1, chosen on test ids (selected)" in text
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["labels"]["best"].startswith("best trial-0 Rank-1, epoch 1")
    best = json.loads((tmp_path / "model" / "best.results.json").read_text())
    assert best["checkpoint"]["epoch"] == 1 and summary["best"] == best["results"]
    assert summary["results"] == json.loads((tmp_path / "model" / "last.results.json").read_text())["results"]
    assert summary["best"] != summary["results"]     # two models, two sets of numbers
    # a second call reuses both evaluations and reports both again
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "model: already evaluated" in text and "best trial-0 Rank-1, epoch 1" in text


def test_reproduce_with_select_last_reports_one_model(tmp_path, capsys):
    args = ["reproduce", "--dataset", "regdb", "--smoke", "--quiet", "--trials", "1", "--out", str(tmp_path), *TINY,
            "--set", "model.pretrained=null"]
    assert main(args) == 0
    assert "best trial-0" not in capsys.readouterr().out
    assert "best" not in json.loads((tmp_path / "summary.json").read_text())
