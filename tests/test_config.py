"""Config round-trips, presets, variants and command-line overrides."""

import dataclasses

import pytest

from vireid_lib.config import (LOSS_WEIGHTS, VARIANTS, Config, ModelConfig, apply_overrides, model_variant,
                               preset)


@pytest.mark.parametrize("name", ["paper-sysu", "paper-regdb", "cpu-demo"])
def test_preset_json_round_trip(name, tmp_path):
    cfg = preset(name)
    path = tmp_path / "config.json"
    cfg.to_json(path)
    back = Config.from_json(path)
    assert back == cfg
    assert isinstance(back.model.mca_stages, tuple) and isinstance(back.train.milestones, tuple)


def test_paper_presets_follow_the_paper():
    sysu, regdb = preset("paper-sysu"), preset("paper-regdb")
    # Paper section 2.2: SYSU-MM01 alpha=1, l1=0.5, l2=0.1, l3=2; RegDB alpha=1, l1=1, l2=0.6, l3=0.6.
    assert (sysu.loss.alpha, sysu.loss.lambda_id, sysu.loss.lambda_center, sysu.loss.lambda_hc) == (1, 0.5, 0.1, 2)
    assert (regdb.loss.alpha, regdb.loss.lambda_id, regdb.loss.lambda_center, regdb.loss.lambda_hc) == (
        1, 1, 0.6, 0.6)
    for cfg in (sysu, regdb):
        assert (cfg.data.height, cfg.data.width) == (288, 144)
        assert cfg.model.arch == "resnet50" and cfg.model.parts == 3 and cfg.model.last_stride == 1
        assert cfg.model.pretrained == "imagenet"
        t = cfg.train
        assert (t.epochs, t.lr, t.warmup_epochs, t.milestones) == (100, 0.1, 10, (20, 50))
        assert (t.ids_per_batch, t.per_modality) == (4, 4)
    assert set(LOSS_WEIGHTS) == {"sysu", "regdb"}


def test_variants_are_config_values():
    assert model_variant("base") == ModelConfig(mca_stages=(), pca=False, local_branch=False)
    assert model_variant("full") == ModelConfig()
    assert model_variant("base+p+pca", parts=6).parts == 6
    assert set(VARIANTS) == {"base", "base+p", "base+p+mca", "base+p+pca", "full"}
    with pytest.raises(ValueError, match="unknown model variant"):
        model_variant("everything")


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


def test_default_config_is_named_for_what_it_is():
    """Config() is not the paper-sysu preset (random weights, the literal reductions) and does not carry a
    preset's name."""
    from vireid_lib.config import PRESETS

    default, paper = Config(), preset("paper-sysu")
    assert default.name == "default" and default.name not in PRESETS
    assert default.model.pretrained is None and paper.model.pretrained == "imagenet"
    assert default != dataclasses.replace(paper, name="default")
