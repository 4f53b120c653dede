"""benchmarks/pretrain_start.py without its ten minutes of training (``fit`` and the data replaced): with the
shipped file present it only compares and writes nothing, and it says whether the rebuilt tensors are the
shipped ones; the first build writes the file and a record whose SHA-256s and training time are the build's."""

import json
from types import SimpleNamespace

import pytest
import torch

from benchmarks import pretrain_start
from vireid_lib.checkpoints import weights_sha256
from vireid_lib.config import ModelConfig
from vireid_lib.models import build_model
from vireid_lib.models import start as start_module
from vireid_lib.models.start import file_sha256, resnet_state_dict


@pytest.fixture
def fake(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="resnet10", width=8, parts=2, local_dim=8), 3)
    state = resnet_state_dict(model.state_dict())

    def fit(cfg, work, **kwargs):
        (work / "log.jsonl").write_text(json.dumps({"event": "fit", "wall_s": 12.5}) + "\n")
        return SimpleNamespace(model=model, steps=3400)

    monkeypatch.setattr(start_module, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(pretrain_start, "fit", fit)
    monkeypatch.setattr(pretrain_start.synthetic, "synthetic_root", lambda *a, **k: tmp_path)
    monkeypatch.setattr(pretrain_start, "SYSUMM01", lambda root: None)
    monkeypatch.setattr(pretrain_start, "VisibleOnly", lambda reader: SimpleNamespace(num_train_ids=3, train=[0, 0]))
    monkeypatch.setattr(pretrain_start, "read_stats", lambda root: {"seed": 100})
    summary = {"mean": {"cmc": [0.07], "mAP": 0.15}}
    monkeypatch.setattr(pretrain_start, "evaluate_sysu", lambda *a, **k: {"all": summary})
    monkeypatch.setattr(pretrain_start, "evaluate_within_visible", lambda *a, **k: {"visible": summary})
    return state


def test_first_build_then_compare_then_refuse(fake, tmp_path, capsys):
    work = ["--work", str(tmp_path / "work")]
    weights, record = start_module.start_files("synthetic-visible")
    assert pretrain_start.main(work) == 0                               # the first build writes both
    saved = json.loads(record.read_text())
    assert saved["sha256"] == file_sha256(weights) and saved["weights_sha256"] == weights_sha256(fake)
    assert saved["train_seconds"] == 12.5 and saved["steps"] == 3400
    before = (weights.read_bytes(), record.read_text())
    assert pretrain_start.main(work) == 0                               # a rebuild of the same tensors compares
    assert "has the tensors" in capsys.readouterr().out
    assert (weights.read_bytes(), record.read_text()) == before         # and writes nothing
    assert pretrain_start.main(["--check"]) == 0
    other = {k: v + 1 if v.is_floating_point() else v for k, v in fake.items()}
    torch.save(other, weights)
    assert pretrain_start.main(work) == 1                               # other tensors: refused, file kept
    assert "does NOT have" in capsys.readouterr().out and torch.equal(torch.load(weights)["conv1.weight"],
                                                                      other["conv1.weight"])
    (tmp_path / "work" / "synthetic.json").write_text(json.dumps({"seed": 5}))
    with pytest.raises(SystemExit):                                     # a folder of other data
        pretrain_start.main(work)


def test_a_candidate_start_goes_to_its_own_folder_with_its_recipe(fake, tmp_path, monkeypatch, capsys):
    seen = {}
    fit = pretrain_start.fit
    monkeypatch.setattr(pretrain_start, "fit", lambda cfg, work, **k: seen.update(cfg=cfg) or fit(cfg, work, **k))
    with pytest.raises(SystemExit):                                     # another recipe without --out: refused
        pretrain_start.main(["--epochs", "136"])
    assert "give --out FOLDER" in capsys.readouterr().err
    out = tmp_path / "cand"
    assert pretrain_start.main(["--work", str(tmp_path / "w"), "--epochs", "136", "--identities", "600",
                                "--out", str(out)]) == 0
    assert seen["cfg"].train.epochs == 136 and seen["cfg"].data.synthetic_identities == 600
    saved = json.loads((out / "start.json").read_text())
    assert saved["weights_sha256"] == weights_sha256(fake) and saved["sha256"] == file_sha256(out / "start.pt")
    assert saved["command"] == f"python benchmarks/pretrain_start.py --epochs 136 --identities 600 --out {out}"
    assert not start_module.start_files("synthetic-visible")[0].exists()   # nothing written into the package
    # the candidate loads as model.pretrained=<file>: a torchvision-style state dict of the network
    assert torch.equal(torch.load(out / "start.pt", weights_only=True)["conv1.weight"], fake["conv1.weight"])


def test_the_long_start_builds_under_its_own_name_with_its_own_steps(fake, tmp_path, monkeypatch, capsys):
    seen = {}
    fit = pretrain_start.fit
    monkeypatch.setattr(pretrain_start, "fit", lambda cfg, work, **k: seen.update(cfg=cfg) or fit(cfg, work, **k))
    with pytest.raises(SystemExit):                                     # its name with another recipe: a candidate
        pretrain_start.main(["--name", "synthetic-visible-long", "--epochs", "68"])
    assert "give --out FOLDER" in capsys.readouterr().err
    assert pretrain_start.main(["--work", str(tmp_path / "w"), "--name", "synthetic-visible-long"]) == 0
    assert seen["cfg"].train.epochs == 136
    weights, record = start_module.start_files("synthetic-visible-long")
    saved = json.loads(record.read_text())
    assert saved["name"] == "synthetic-visible-long" and saved["sha256"] == file_sha256(weights)
    assert saved["command"] == "python benchmarks/pretrain_start.py --name synthetic-visible-long"
    assert not start_module.start_files("synthetic-visible")[0].exists()   # the other start untouched
