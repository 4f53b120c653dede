"""Config round-trips (of every preset), immutability and command-line overrides."""

import dataclasses

import pytest

from vireid_lib.config import Config, apply_overrides
from vireid_lib.presets import PRESETS, preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_json_round_trip(name, tmp_path):
    cfg = preset(name)
    path = tmp_path / "config.json"
    cfg.to_json(path)
    back = Config.from_json(path)
    assert back == cfg
    assert isinstance(back.model.mca_stages, tuple) and isinstance(back.train.milestones, tuple)


def test_overrides_parse_types():
    cfg = apply_overrides(preset("cpu-demo"), ["train.epochs=5", "model.arch=resnet34", "train.lr=0.01",
                                               "model.mca_stages=3", "model.pretrained=null",
                                               "model.pca=false", "train.milestones=[3,4]"])
    assert cfg.train.epochs == 5 and cfg.model.arch == "resnet34" and cfg.train.lr == 0.01
    assert cfg.model.mca_stages == (3,) and cfg.model.pretrained is None and cfg.model.pca is False
    assert cfg.train.milestones == (3, 4)
    assert apply_overrides(cfg, ["model.mca_stages=2,3"]).model.mca_stages == (2, 3)
    assert apply_overrides(cfg, ["model.mca_stages="]).model.mca_stages == ()


@pytest.mark.parametrize("bad, message", [
    ("train.epochs", "section.key=value"),
    ("train.epoch=5", "unknown key 'epoch'"),
    ("trian.epochs=5", "not a config section"),
    ("train.epochs=five", "expected an integer"),
    ("model.arch=resnet101", "not one of"),
    ("model.pca=1", "expected true or false"),
])
def test_bad_overrides_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(preset("paper-sysu"), [bad])


def test_from_json_rejects_unknown_keys_and_bad_json(tmp_path):
    d = preset("paper-sysu").to_dict()
    d["model"]["attention"] = "mca"
    with pytest.raises(ValueError, match=r"config.model: unknown keys \['attention'\]"):
        Config.from_dict(d)
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Config.from_json(bad)


def test_configs_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset("paper-sysu").train.epochs = 3
