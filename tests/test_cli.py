"""The ``vireid`` command line on the tiny synthetic set: train, evaluate, demo, reproduce, and its errors."""

import json

import pytest

from vireid_lib.cli import build_parser, main

TINY = ["--set", "data.height=32", "--set", "data.width=16", "--set", "data.num_workers=0", "--set", "data.cache=false",
        "--set", "model.arch=resnet18", "--set", "model.pretrained=null", "--set", "model.parts=2",
        "--set", "model.local_dim=8",
        "--set", "model.mca_stages=3", "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=1",
        "--set", "train.ids_per_batch=2", "--set", "train.per_modality=2", "--set", "train.eval_every=0",
        "--set", "train.device=cpu", "--set", "eval.sysu_trials=1", "--set", "eval.flip=false"]


@pytest.mark.parametrize("command", ["train", "evaluate", "demo", "reproduce", "synth"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    assert "usage: vireid " + command in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "vireid demo" in capsys.readouterr().out


def test_train_then_evaluate_then_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--smoke", "--quiet", "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "SYSU-MM01 all-search" in text and "indoor-search" in text
    assert "start: random weights\n" in text   # TINY changes the network, so it trains from random weights
    assert (out / "last.pt").is_file() and (out / "config.json").is_file()
    results = json.loads((out / "last.results.json").read_text())
    assert {"all", "indoor"} <= set(results["results"])
    assert main(["evaluate", str(out / "last.pt"), "--smoke", "--quiet", "--set", "eval.flip=true"]) == 0
    assert "results:" in capsys.readouterr().out
    # a second train call finds the finished run and does not train again
    assert main(["train", "--smoke", "--quiet", "--out", str(out), "--no-eval", *TINY]) == 0
    log = (out / "log.jsonl").read_text().splitlines()
    assert sum('"event": "step"' in line for line in log) == 1


def test_clear_errors(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    assert main(["evaluate", str(junk)]) == 2
    assert "not a readable vireid checkpoint" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["train", "--smoke", "--out", str(tmp_path), "--set", "train.epoch=3"]) == 2
    assert "unknown key 'epoch'" in capsys.readouterr().err
    assert main(["train", "--smoke", "--out", str(tmp_path), "--set", "train.epochs"]) == 2
    assert "section.key=value" in capsys.readouterr().err


def test_demo_smoke(tmp_path, capsys):
    assert main(["demo", "--smoke", "--quiet", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    for expected in ("before training", "trained (cpu-demo)", "SYSU-MM01 all-search", "indoor-search",
                     "RegDB visible->thermal",
                     "RegDB thermal->visible", "wall time", "00_quickstart.ipynb"):
        assert expected in text, expected
    assert (tmp_path / "cmc.png").stat().st_size > 1000
    assert (tmp_path / "ranked_results.png").stat().st_size > 1000
    results = json.loads((tmp_path / "demo.results.json").read_text())["results"]
    assert set(results["trained"]) == {"sysu/all", "sysu/indoor", "regdb/v2t", "regdb/t2v"}


def test_reproduce_regdb_resumes(tmp_path, capsys):
    # The paper presets start from ImageNet weights; offline tests start from random ones.
    args = ["reproduce", "--dataset", "regdb", "--smoke", "--quiet", "--trials", "1,2", "--out", str(tmp_path), *TINY,
            "--set", "model.pretrained=null"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())["results"]
    assert summary["num_trials"] == 2 and {"v2t", "t2v"} <= set(summary)
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out.count("already evaluated") == 2


def test_parser_collects_repeated_overrides():
    args = build_parser().parse_args(["train", "--set", "a.b=1", "--set", "c.d=2"])
    assert args.set == ["a.b=1", "c.d=2"] and args.preset == "cpu-demo"
