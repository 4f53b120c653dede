"""Every number says what produced it: the data (synthetic or real, size, seed), the config and the exact
weights (epoch, step, SHA-256); nothing stale or of another configuration is reused; bad requests get one
line naming the fix."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from test_cli import TINY
from data_trees import default_sysu, regdb_tree
from vireid_lib.cli import main
from vireid_lib.ablation.report import data_line as report_data_line
from vireid_lib.checkpoints import load_checkpoint
from vireid_lib.config import SYNTHETIC_IR_CORRELATION, Config
from vireid_lib.data.synthetic import setting_words
from vireid_lib.data.sysu import SYSUMM01
from vireid_lib.model_card import _data_line
from vireid_lib.provenance import data_label, describe_data

STEP = ["--set", "train.schedule=step"]   # the cosine schedule cannot resume with more epochs


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One `vireid train --smoke` run (1 epoch), copied by the tests that change it."""
    out = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["train", "--smoke", "--quiet", "--out", str(out), *TINY, *STEP]) == 0
    return out


def copy_run(src, dst):
    shutil.copytree(src, dst)
    return dst


# ------------------------------------------------------------------------------ 1. which data, said plainly

def test_synthetic_data_is_said_plainly_in_the_table_and_the_results_file(smoke_run, tmp_path, capsys):
    assert main(["evaluate", str(smoke_run / "last.pt"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "data: SYNTHETIC SYSU-MM01 layout (24 identities, the tiny smoke size, seed 0" in out
    assert "not the real SYSU-MM01" in out and "(synthetic)** |" in out
    data = json.loads((smoke_run / "last.results.json").read_text())["data"]
    assert data["synthetic"] is True and data["identities"] == 24 and data["seed"] == 0 and data["smoke"] is True


def test_the_command_line_reads_vireid_data(tmp_path, monkeypatch, capsys):
    real = default_sysu(tmp_path / "data" / "SYSU-MM01")   # a "real" tree: no synthetic statistics file
    monkeypatch.setenv("VIREID_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    assert main(["train", "--quiet", "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert f"data: SYSU-MM01 at {real}" in text and "SYNTHETIC" not in text and "(synthetic)" not in text
    assert Config.from_json(out / "config.json").data.root == str(real)
    saved = json.loads((out / "last.results.json").read_text())
    assert saved["config"]["data"]["root"] == str(real)
    assert saved["data"] == {"dataset": "sysu", "root": str(real), "synthetic": False}


def test_smoke_means_the_synthetic_set_even_with_vireid_data(tmp_path, monkeypatch):
    default_sysu(tmp_path / "data" / "SYSU-MM01")
    monkeypatch.setenv("VIREID_DATA", str(tmp_path / "data"))
    assert main(["train", "--smoke", "--quiet", "--no-eval", "--out", str(tmp_path / "run"), *TINY]) == 0
    data = Config.from_json(tmp_path / "run" / "config.json").data
    assert data.root is None and data.synthetic_smoke


def test_a_regdb_folder_under_the_sysu_preset_names_the_fix(tmp_path, capsys):
    regdb = regdb_tree(tmp_path / "RegDB")
    assert main(["train", "--quiet", "--root", str(regdb), "--out", str(tmp_path / "run"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "looks like RegDB" in err and "add `--set data.dataset=regdb` or use `--preset paper-regdb`" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    sysu = default_sysu(tmp_path / "SYSU-MM01")
    assert main(["train", "--quiet", "--preset", "paper-regdb", "--root", str(sysu), "--out", str(tmp_path / "run"),
                 *TINY]) == 2
    assert "looks like SYSU-MM01" in capsys.readouterr().err
    assert main(["train", "--quiet", "--root", str(tmp_path), "--out", str(tmp_path / "run"), *TINY]) == 2
    assert f"point --root at {tmp_path / 'SYSU-MM01'}" in capsys.readouterr().err


def test_setting_words_name_only_what_is_not_the_default():
    assert setting_words() == "" and setting_words(None, None) == ""
    assert setting_words(SYNTHETIC_IR_CORRELATION, 0.0) == ""
    assert setting_words(0.0, 0.5) == ", infrared correlation 0, outdoor daylight 0.5"
    assert setting_words(0.9, 1.0) == ", outdoor daylight 1"


def test_a_daylight_set_says_so_in_every_caption(tmp_path, capsys):
    """A set of another generator setting must not read like the default's: the stats, describe_data, the
    printed data line, the model card's line and the ablation report's line all name it; the default set's
    lines name neither setting."""
    common = ["synth", "--layout", "sysu", "--identities", "4", "--workers", "1"]
    assert main([*common, "--out", str(tmp_path / "day"), "--outdoor-daylight", "0.5", "--ir-correlation", "0.7"]) == 0
    assert "outdoor daylight 0.5)" in capsys.readouterr().out
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert "daylight" not in capsys.readouterr().out
    day, plain = describe_data(SYSUMM01(tmp_path / "day")), describe_data(SYSUMM01(tmp_path / "plain"))
    assert day["outdoor_daylight"] == 0.5 and day["ir_correlation"] == 0.7 and "outdoor_daylight" not in plain
    assert ", infrared correlation 0.7, outdoor daylight 0.5)" in data_label(day)
    assert "daylight" not in data_label(plain) and "correlation" not in data_label(plain)
    cfg = Config().to_dict()
    cfg["data"].update(synthetic_outdoor_daylight=0.5, synthetic_ir_correlation=0.7)
    assert "infrared correlation 0.7, outdoor daylight 0.5;" in _data_line(cfg)[0]
    assert "infrared correlation 0.7, outdoor daylight 0.5)" in report_data_line(cfg)
    assert "daylight" not in _data_line(Config().to_dict())[0]
    assert "daylight" not in report_data_line(Config().to_dict())


# ------------------------------------------------------------------------------ 2. reproduce never mixes configs

def test_reproduce_refuses_a_run_of_another_configuration_and_reevaluates_on_eval_changes(tmp_path, capsys):
    args = ["reproduce", "--dataset", "regdb", "--smoke", "--quiet", "--trials", "1", "--out", str(tmp_path), *TINY,
            "--set", "model.pretrained=null"]
    assert main(args) == 0
    summary = (tmp_path / "summary.json").read_text()
    capsys.readouterr()
    # another model: refused, naming the key; nothing is rewritten
    assert main([*args, "--set", "model.local_dim=4"]) == 2
    err = capsys.readouterr().err
    assert "model.local_dim" in err and "another configuration" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "summary.json").read_text() == summary
    # only the evaluation changed: the model is reused, the numbers are not
    assert main([*args, "--set", "eval.flip=true"]) == 0
    out = capsys.readouterr().out
    assert "already evaluated" not in out and "eval.flip" in out
    for path in (tmp_path / "summary.json", tmp_path / "trial1" / "last.results.json"):
        assert json.loads(path.read_text())["config"]["eval"]["flip"] is True
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["data"]["synthetic"] and saved["data"]["trials"] == [1]
    assert saved["checkpoints"]["trial1"]["epoch"] == 1
    # the same again: reused
    assert main([*args, "--set", "eval.flip=true"]) == 0
    assert "trial1: already evaluated" in capsys.readouterr().out


# ------------------------------------------------------------------------------ 3. exactly what was evaluated

def test_every_results_file_records_the_checkpoint_epoch_step_and_weights(smoke_run):
    from vireid_lib.provenance import weights_sha256

    saved = json.loads((smoke_run / "last.results.json").read_text())
    ckpt = load_checkpoint(smoke_run / "last.pt")
    assert saved["checkpoint"]["epoch"] == ckpt["epoch"] == 1 and saved["checkpoint"]["step"] == ckpt["step"]
    assert saved["checkpoint"]["weights_sha256"] == weights_sha256(ckpt["model"]) == ckpt["weights_sha256"]


@pytest.mark.parametrize("override", ["model.parts=6", "loss.margin=0.5", "train.lr=0.5"])
def test_evaluate_rejects_overrides_a_trained_model_cannot_take(smoke_run, override, capsys):
    before = (smoke_run / "last.results.json").read_text()
    assert main(["evaluate", str(smoke_run / "last.pt"), "--quiet", "--set", override]) == 2
    err = capsys.readouterr().err
    assert f"--set {override.split('=')[0]}: cannot apply to a trained model" in err
    assert len(err.strip().splitlines()) == 1
    assert (smoke_run / "last.results.json").read_text() == before


def test_evaluate_uses_the_data_size_the_checkpoint_was_trained_on(smoke_run, tmp_path):
    run = copy_run(smoke_run, tmp_path / "run")
    (run / "last.results.json").unlink()
    assert Config.from_json(run / "config.json").data.synthetic_smoke
    assert main(["evaluate", str(run / "last.pt"), "--quiet"]) == 0   # no --smoke: the stored size
    saved = json.loads((run / "last.results.json").read_text())
    assert saved["data"]["identities"] == 24 and saved["config"]["data"]["synthetic_smoke"] is True


def test_a_config_saved_before_the_smoke_field_still_loads(smoke_run):
    d = json.loads((smoke_run / "config.json").read_text())
    del d["data"]["synthetic_smoke"]
    assert Config.from_dict(d).data.synthetic_smoke is False


def test_last_results_do_not_go_stale_when_training_continues(smoke_run, tmp_path, capsys):
    run = copy_run(smoke_run, tmp_path / "run")
    assert (run / "last.results.json").is_file()
    assert main(["train", "--smoke", "--quiet", "--no-eval", "--out", str(run), *TINY, *STEP,
                 "--set", "train.epochs=2"]) == 0
    assert load_checkpoint(run / "last.pt")["epoch"] == 2
    assert not (run / "last.results.json").exists()   # it described epoch 1's weights
    assert main(["evaluate", str(run / "last.pt"), "--quiet"]) == 0
    assert json.loads((run / "last.results.json").read_text())["checkpoint"]["epoch"] == 2


# ------------------------------------------------------------------------------ 5. epochs

@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_non_positive_epochs_are_refused(tmp_path, epochs, capsys):
    out = tmp_path / "run"
    assert main(["train", "--smoke", "--quiet", "--out", str(out), *TINY, "--set", f"train.epochs={epochs}"]) == 2
    err = capsys.readouterr().err
    assert f"train.epochs must be a positive number of epochs, got {epochs}" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()   # refused before anything is written
    assert "checkpoint:" not in capsys.readouterr().out
