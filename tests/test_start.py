"""The shipped starting weights (vireid_lib/models/start.py): the file is the one its record names, it loads
into the network it was built for and nowhere else, a changed file is refused, and the export of a vireid
backbone as a ResNet state dict is the inverse of the two-stream network's construction."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from vireid_lib.config import ModelConfig
from vireid_lib.models import build_model
from vireid_lib.models import start as start_module
from vireid_lib.models.backbone import make_resnet
from vireid_lib.models.start import (PRETRAIN_SEED, STARTS, file_sha256, resnet_state_dict, start_record,
                                     start_state_dict)
from vireid_lib.presets import preset


@pytest.mark.parametrize("name", sorted(STARTS))
def test_the_shipped_start_is_the_file_its_record_names(name):
    record = start_record(name)
    weights, _ = start_module.start_files(name)
    assert record["name"] == name
    assert file_sha256(weights) == record["sha256"]
    assert (record["arch"], record["width"]) == (preset("cpu-demo").model.arch, preset("cpu-demo").model.width)
    # built as the command says: from random weights, on another set's visible images alone
    assert record["config"]["model"]["pretrained"] is None
    assert record["data"]["seed"] == PRETRAIN_SEED and record["data"]["modalities_seen"] == ["visible"]
    assert record["config"]["data"]["synthetic_seed"] == PRETRAIN_SEED
    assert record["steps"] == record["config"]["train"]["epochs"] * record["config"]["train"]["max_steps_per_epoch"]
    # a network that has seen no infrared image finds few people across modalities on its own set
    own = record["own_set"]
    assert own["all_search_rank1"] < 0.15 < own["within_visible_rank1"]


def test_the_preset_starts_from_it_and_both_stems_equal_its_one_stem():
    cfg = preset("cpu-demo")
    assert cfg.model.pretrained == "synthetic-visible"
    state = start_state_dict("synthetic-visible", cfg.model.arch, cfg.model.width)
    model = build_model(cfg.model, 5)
    for stem in model.backbone.stems.values():
        assert torch.equal(stem.conv1.weight, state["conv1.weight"])
        assert torch.equal(stem.layer1[0].bn1.running_mean, state["layer1.0.bn1.running_mean"])
    assert torch.equal(model.backbone.layer4[0].conv1.weight, state["layer4.0.conv1.weight"])
    assert model.backbone.stems["visible"].conv1.weight is not model.backbone.stems["infrared"].conv1.weight


def test_a_start_of_another_network_or_name_is_refused_in_one_line():
    with pytest.raises(ValueError, match="holds a resnet10 at width 32, not resnet18 at width 64"):
        build_model(ModelConfig(arch="resnet18", width=64, pretrained="synthetic-visible"), 3)
    with pytest.raises(ValueError, match="not a shipped start"):
        start_state_dict("synthetic-thermal", "resnet10", 32)


def test_a_changed_or_missing_file_is_refused(tmp_path, monkeypatch):
    weights, record = start_module.start_files("synthetic-visible")
    for path in (weights, record):
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(start_module, "WEIGHTS_DIR", tmp_path)
    assert start_state_dict("synthetic-visible", "resnet10", 32)["conv1.weight"].shape[0] == 32
    state = torch.load(tmp_path / weights.name, weights_only=True)
    state["conv1.weight"] = state["conv1.weight"] + 1e-6
    torch.save(state, tmp_path / weights.name)
    with pytest.raises(ValueError, match="SHA-256 is not the one"):
        start_state_dict("synthetic-visible", "resnet10", 32)
    (tmp_path / weights.name).unlink()
    with pytest.raises(ValueError, match="weights of start 'synthetic-visible' are missing"):
        start_state_dict("synthetic-visible", "resnet10", 32)
    (tmp_path / record.name).write_text("{not json")
    with pytest.raises(ValueError, match="missing or unreadable"):
        start_record("synthetic-visible")


def test_export_is_the_inverse_of_building_the_two_stream_network():
    torch.manual_seed(3)
    resnet_state = make_resnet("resnet10", 8).state_dict()
    path_free = {k: v for k, v in resnet_state.items() if not k.startswith("fc.")}
    model = build_model(ModelConfig(arch="resnet10", width=8, parts=2, local_dim=8), 3)
    model.backbone.stems["visible"].load_state_dict(
        {k: v for k, v in path_free.items() if k.startswith(("conv1", "bn1", "layer1"))})
    for name in ("layer2", "layer3", "layer4"):
        getattr(model.backbone, name).load_state_dict(
            {k[len(name) + 1:]: v for k, v in path_free.items() if k.startswith(name + ".")})
    exported = resnet_state_dict(model.state_dict())
    assert exported.keys() == path_free.keys()
    assert all(torch.equal(exported[k], path_free[k]) for k in path_free)
    infrared = resnet_state_dict(model.state_dict(), stem="infrared")
    assert not torch.equal(infrared["conv1.weight"], exported["conv1.weight"])   # the other stem's own weights
    with pytest.raises(ValueError, match="no backbone stem"):
        resnet_state_dict({"head.weight": torch.zeros(1)})


def test_every_named_start_has_a_record_naming_its_network():
    for name in STARTS:
        record = start_record(name)
        assert record["name"] == name and json.dumps(record)


def test_the_record_names_the_tensors_and_the_start_never_meets_its_own_people():
    from vireid_lib.checkpoints import weights_sha256
    from vireid_lib.config import apply_overrides
    from vireid_lib.models import check_start_data

    record = start_record("synthetic-visible")
    assert weights_sha256(start_state_dict("synthetic-visible", "resnet10", 32)) == record["weights_sha256"]
    cfg = preset("cpu-demo")
    check_start_data(cfg)                                                   # seed 0: other people
    own = apply_overrides(cfg, [f"data.synthetic_seed={PRETRAIN_SEED}"])
    with pytest.raises(ValueError, match=f"trained on the people of synthetic dataset seed {PRETRAIN_SEED}"):
        check_start_data(own)
    check_start_data(apply_overrides(own, ["model.pretrained=null"]))       # from random weights: allowed
    check_start_data(apply_overrides(own, ["data.root=/data/SYSU-MM01"]))   # real data: no synthetic seed


def test_a_start_is_refused_on_its_own_people_written_to_a_folder(tmp_path):
    """``vireid synth --seed 100`` writes the start's own people to a folder; training on it with --root is
    refused too, while a folder of another seed, or without generator statistics (real data), is not."""
    from vireid_lib.config import apply_overrides
    from vireid_lib.data.synthetic import STATS_FILE
    from vireid_lib.models import check_start_data
    from vireid_lib.models.start import synthetic_seed_of

    for seed in (PRETRAIN_SEED, 7):
        (tmp_path / str(seed)).mkdir()
        (tmp_path / str(seed) / STATS_FILE).write_text(json.dumps({"seed": seed}))
    own = apply_overrides(preset("cpu-demo"), [f"data.root={tmp_path / str(PRETRAIN_SEED)}"])
    assert synthetic_seed_of(own.data) == PRETRAIN_SEED
    with pytest.raises(ValueError, match="trained on the people of synthetic dataset"):
        check_start_data(own)
    check_start_data(apply_overrides(own, [f"data.root={tmp_path / '7'}"]))
    real = apply_overrides(own, [f"data.root={tmp_path}"])
    assert synthetic_seed_of(real.data) is None
    check_start_data(real)


def test_the_long_start_is_the_same_recipe_for_twice_the_steps():
    short, long = start_record("synthetic-visible"), start_record("synthetic-visible-long")
    assert long["steps"] == 2 * short["steps"]
    assert long["config"]["train"]["epochs"] == 2 * short["config"]["train"]["epochs"]
    for part in ("data", "model", "loss", "optim"):
        if part in short["config"]:
            assert long["config"][part] == short["config"][part], part
    assert {k: v for k, v in long["config"]["train"].items() if k != "epochs"} == {
        k: v for k, v in short["config"]["train"].items() if k != "epochs"}
    assert long["data"] == short["data"] and long["command"].endswith("--name synthetic-visible-long")
    assert long["built_as"]["command"] == "python benchmarks/pretrain_start.py --epochs 136 --out /tmp/cand/B"
    candidate = json.loads((Path(__file__).resolve().parents[1] / "results" / "recipe" / "starts"
                            / "candidate-B.json").read_text())   # the build docs/CPU_RECIPE.md probed, byte for byte
    assert (candidate["sha256"], candidate["weights_sha256"]) == (long["sha256"], long["weights_sha256"])
    # it is shipped, not the preset's: the committed tables start from synthetic-visible
    assert preset("cpu-demo").model.pretrained == "synthetic-visible"
    assert start_state_dict("synthetic-visible-long", "resnet10", 32).keys() == start_state_dict(
        "synthetic-visible", "resnet10", 32).keys()
