"""TensorBoard event files: the same numbers as log.jsonl, a flag turns them off, a missing package only warns."""

from __future__ import annotations

import builtins
import json

import pytest

from vireid_lib.config import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, TrainConfig
from vireid_lib.data import open_dataset

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

from vireid_lib.training import fit  # noqa: E402


def tiny(tensorboard: bool = True, epochs: int = 1) -> Config:
    return Config(
        name="tiny-tb",
        data=DataConfig(dataset="sysu", height=32, width=16, num_workers=0, cache=False, synthetic_smoke=True),
        model=ModelConfig(arch="resnet10", width=8, parts=2, local_dim=8, mca_stages=()),
        loss=LossConfig(),
        train=TrainConfig(epochs=epochs, lr=0.01, warmup_epochs=1, ids_per_batch=2, per_modality=2,
                          max_steps_per_epoch=2, eval_every=1, device="cpu", tensorboard=tensorboard),
        eval=EvalConfig(flip=False),
    )


@pytest.fixture(scope="module")
def reader():
    return open_dataset(tiny().data)


def fake_eval(model, cfg, reader):
    return {"mAP": 0.25, "mINP": 0.125, "rank1": 0.5}


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    acc = event_accumulator.EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_events_hold_what_the_json_log_holds(tmp_path, reader):
    fit(tiny(epochs=1), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    fit(tiny(epochs=2), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)  # resumed: one run's curves
    scalars = _scalars(tmp_path / "tensorboard")
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "step"]
    terms = set(steps[0]) - {"event", "epoch", "step", "lr", "images_per_s", "total"}
    assert {"id", "tri", "mse"} <= terms
    assert set(scalars) == {f"loss/{t}" for t in terms} | {"loss/total", "train/lr", "train/images_per_s",
                                                         "eval/mAP", "eval/mINP", "eval/rank1"}
    assert [s for s, _ in scalars["loss/total"]] == [r["step"] for r in steps] == [1, 2, 3, 4]
    for tag, key in (("loss/total", "total"), ("loss/id", "id"), ("train/lr", "lr")):
        assert [v for _, v in scalars[tag]] == pytest.approx([r[key] for r in steps], rel=1e-6)
    assert scalars["eval/mAP"] == [(2, pytest.approx(25.0)), (4, pytest.approx(25.0))]  # percent
    assert [v for _, v in scalars["eval/mINP"]] == pytest.approx([12.5, 12.5])


def test_flag_turns_them_off(tmp_path, reader):
    fit(tiny(tensorboard=False), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    assert (tmp_path / "log.jsonl").is_file() and not (tmp_path / "tensorboard").exists()


def test_missing_package_warns_and_trains(tmp_path, reader, monkeypatch):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.warns(UserWarning, match="tensorboard package is not installed"):
        res = fit(tiny(), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    assert res.last.is_file() and not (tmp_path / "tensorboard").exists()
