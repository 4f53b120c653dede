"""fit() end to end on a tiny synthetic set: resume equality, best checkpoint, log, config errors; load_or_train."""

import dataclasses
import json

import pytest
import torch

from vireid_lib.config import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, TrainConfig
from vireid_lib.data import open_dataset
from vireid_lib.checkpoints import load_checkpoint, load_model
from vireid_lib.training import fit, load_or_train


def tiny_config(epochs: int = 2, **train) -> Config:
    return Config(
        name="tiny",
        data=DataConfig(dataset="sysu", height=32, width=16, num_workers=0, cache=False, synthetic_smoke=True),
        model=ModelConfig(arch="resnet18", parts=2, local_dim=8, mca_stages=(3,)),
        loss=LossConfig(),
        train=TrainConfig(**{**dict(epochs=epochs, lr=0.01, warmup_epochs=1, milestones=(1,), ids_per_batch=2,
                                    per_modality=2, max_steps_per_epoch=2, eval_every=1, device="cpu"), **train}),
        eval=EvalConfig(batch_size=16, flip=False),
    )


@pytest.fixture(scope="module")
def reader():
    return open_dataset(tiny_config().data)


def fake_eval(model, cfg, reader):
    """A deterministic stand-in metric that changes with the weights (the real protocols are tested
    elsewhere): mAP = a function of the classifier's weight norm."""
    w = model.global_head.classifier.weight.detach()
    return {"mAP": float(torch.sigmoid(-w.norm())), "rank1": 0.0}


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, reader):
    straight = fit(tiny_config(2), tmp_path / "straight", progress=False, eval_fn=fake_eval, reader=reader)
    first = fit(tiny_config(1), tmp_path / "resumed", progress=False, eval_fn=fake_eval, reader=reader)
    assert first.epochs == 1 and first.steps == 2
    second = fit(tiny_config(2), tmp_path / "resumed", progress=False, eval_fn=fake_eval, reader=reader)
    assert second.epochs == 2 and second.steps == 4
    a = load_checkpoint(straight.last)["model"]
    b = load_checkpoint(second.last)["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    # the log of the resumed run reads as one run: steps 1..4 once each, one eval per epoch
    log = [json.loads(line) for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["event"] == "step"] == [1, 2, 3, 4]
    assert [r["epoch"] for r in log if r["event"] == "eval"] == [1, 2]
    assert {"lr", "images_per_s", "total", "id", "tri", "mse", "local_id", "center", "hc"} <= set(log[0])


def test_checkpoint_contents_and_best_by_map(tmp_path, reader):
    res = fit(tiny_config(2), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    ckpt = load_checkpoint(res.last)
    assert ckpt["epoch"] == 2 and ckpt["step"] == 4
    assert Config.from_json(ckpt["config"]) == tiny_config(2)
    assert Config.from_json(tmp_path / "config.json") == tiny_config(2)
    assert set(ckpt["rng"][0]) == {"torch", "cuda", "numpy", "python"}
    assert ckpt["optimizer"]["param_groups"][0]["nesterov"] is True
    best = load_checkpoint(res.best)
    assert best["best_map"] == res.best_map == max(best["metrics"]["mAP"], ckpt["best_map"])
    assert best["epoch"] == best["best_epoch"]
    model, cfg = load_model(res.last)
    assert cfg == tiny_config(2) and not model.training


def test_resume_with_another_config_is_refused(tmp_path, reader):
    fit(tiny_config(1), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    other = tiny_config(2, lr=0.5)
    with pytest.raises(ValueError, match=r"different configuration.*train\.lr"):
        fit(other, tmp_path, progress=False, eval_fn=fake_eval, reader=reader)


def test_non_finite_loss_stops_fit_and_keeps_the_last_good_checkpoint(tmp_path, reader, monkeypatch):
    import vireid_lib.training as training
    from vireid_lib.losses import LossResult, Objective

    fit(tiny_config(1), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    good = load_checkpoint(tmp_path / "last.pt")

    class Exploding(Objective):
        def forward(self, out, labels, modalities):
            res = super().forward(out, labels, modalities)
            return LossResult(res.total * float("nan"), res.terms)

    monkeypatch.setattr(training, "Objective", Exploding)
    with pytest.raises(training.NonFiniteLossError, match="non-finite.*epoch 2, step 3"):
        fit(tiny_config(2), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    after = load_checkpoint(tmp_path / "last.pt")
    assert after["epoch"] == 1 and after["step"] == 2
    assert all(torch.equal(good["model"][k], after["model"][k]) for k in good["model"])


def test_load_or_train_trains_once_then_loads_and_refuses_another_config(tmp_path, reader):
    first = load_or_train(tiny_config(1), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    assert first.trained and first.cfg == tiny_config(1) and not first.model.training
    log = (tmp_path / "log.jsonl").read_text()
    again = load_or_train(tiny_config(1), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    assert not again.trained and (tmp_path / "log.jsonl").read_text() == log   # loaded, nothing trained
    saved = load_checkpoint(tmp_path / "last.pt")["model"]
    for model in (first.model, again.model):
        assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    # more epochs of the same run: training continues from the checkpoint
    longer = load_or_train(tiny_config(2), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    assert longer.trained and load_checkpoint(tmp_path / "last.pt")["epoch"] == 2
    with pytest.raises(ValueError, match=r"different configuration.*model\.local_dim"):
        load_or_train(dataclasses.replace(tiny_config(2), model=dataclasses.replace(tiny_config().model, local_dim=4)),
                      tmp_path, progress=False, reader=reader)



def test_fit_returns_its_model_in_the_memory_format_its_checkpoint_loads_in(tmp_path, reader):
    """A model trained in channels_last comes back in the default format (what load_model gives), with the
    checkpoint's outputs to the last bit, so evaluating it is evaluating the checkpoint (on CUDA the two
    formats take kernels that round otherwise)."""
    fitted = fit(tiny_config(1, channels_last=True), tmp_path, progress=False, eval_fn=fake_eval, reader=reader)
    convs = [p for p in fitted.model.parameters() if p.dim() == 4 and p.shape[-1] > 1]
    assert convs and all(p.is_contiguous() for p in convs)
    loaded, _ = load_model(fitted.last)
    x = torch.rand(3, 3, 32, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = fitted.model(x, "visible").bn, loaded(x, "visible").bn
    assert torch.equal(a, b)


def test_periodic_evaluation_of_a_channels_last_run_sees_what_its_checkpoint_gives(tmp_path, reader):
    """The evaluation during training (the run's log, its best value and best.pt's choice) scores the network in
    the default memory format, as load_model gives it, not in the channels_last format it trains in (the two
    round otherwise); and evaluating does not change the training: the same weights as a run that evaluates
    only at its end."""
    x = torch.rand(3, 3, 32, 16, generator=torch.Generator().manual_seed(0))
    seen = []

    def features_eval(model, cfg, reader):
        with torch.no_grad():
            seen.append(model(x, "visible").bn.clone())
        return fake_eval(model, cfg, reader)

    fit(tiny_config(1, channels_last=True), tmp_path / "run", progress=False, eval_fn=features_eval, reader=reader)
    loaded, _ = load_model(tmp_path / "run" / "last.pt")
    with torch.no_grad():
        assert torch.equal(seen[-1], loaded(x, "visible").bn)
    every = fit(tiny_config(2, channels_last=True), tmp_path / "every", progress=False, eval_fn=fake_eval,
                reader=reader)
    end = fit(tiny_config(2, channels_last=True, eval_every=0), tmp_path / "end", progress=False,
              eval_fn=fake_eval, reader=reader)
    a, b = load_checkpoint(every.last)["model"], load_checkpoint(end.last)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
