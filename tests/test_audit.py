"""The loss audit: per-term gradient norms against separate backward passes, shares, warnings, and the commands."""

import copy
import json
import math
from collections import namedtuple

import pytest
import torch

from vireid_lib.audit import AuditMonitor, TermAudit, audit_terms, format_audit, load_backbone, term_weights
from vireid_lib.cli import main
from vireid_lib.config import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, TrainConfig
from vireid_lib.data import open_dataset
from vireid_lib.losses import Objective
from vireid_lib.models import build_model
from vireid_lib.presets import LOSS_WEIGHTS
from vireid_lib.schedule import build_optimizer
from vireid_lib.training import fit, train_one_epoch

TINY = ModelConfig(arch="resnet18", parts=2, local_dim=8, mca_stages=(3,))
Batch = namedtuple("Batch", "visible exchanged infrared labels")
V, X, T = "visible", "exchanged", "infrared"


def _batch(ids=2, k=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(ids).repeat_interleave(k)
    return Batch(*(torch.randn(ids * k, 3, 32, 16, generator=g) for _ in range(3)), labels)


def _forward(model, batch, loss_cfg):
    n = len(batch.labels)
    mods = [V] * n + [X] * n + [T] * n
    out = model(torch.cat([batch.visible, batch.exchanged, batch.infrared]), mods)
    return Objective(loss_cfg, True)(out, batch.labels.repeat(3), mods)


def test_term_weights_follow_eq_16():
    w = term_weights(LossConfig(**{**LOSS_WEIGHTS["regdb"], "alpha": 2.0}))
    assert w == {"id": 1.0, "tri": 1.0, "mse": 1.0, "local_id": 2.0, "center": 1.2, "hc": 1.2}


def test_gradient_norms_equal_separate_backward_passes():
    torch.manual_seed(0)
    model = build_model(TINY, 2).train()
    cfg = LossConfig(**LOSS_WEIGHTS["sysu"])
    result = _forward(model, _batch(), cfg)
    audit = audit_terms(model, result, cfg)
    assert set(audit) == {"id", "tri", "mse", "local_id", "center", "hc"}
    assert sum(a.share for a in audit.values()) == pytest.approx(1.0)
    shared = [p for layer in (model.backbone.layer2, model.backbone.layer3, model.backbone.layer4)
              for p in layer.parameters()]
    weights = term_weights(cfg)
    for name in audit:  # independent truth: one fresh forward and backward per term, .grad read directly
        torch.manual_seed(0)
        fresh = build_model(TINY, 2).train()
        fresh.load_state_dict(model.state_dict())
        term = _forward(fresh, _batch(), cfg).terms[name]
        (weights[name] * term).backward()
        fresh_shared = [p for layer in (fresh.backbone.layer2, fresh.backbone.layer3, fresh.backbone.layer4)
                        for p in layer.parameters()]
        norm = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in fresh_shared if p.grad is not None))
        assert audit[name].grad_norm == pytest.approx(norm, rel=1e-4), name
        assert audit[name].value == pytest.approx(float(term.detach()), rel=1e-5)
    assert len(shared) > 0


def test_audit_leaves_the_training_step_unchanged():
    torch.manual_seed(0)
    a = build_model(TINY, 2)
    b = copy.deepcopy(a)
    cfg = LossConfig()
    seen = []
    for model, audit in ((a, None), (b, lambda step, r: seen.append(audit_terms(b, r, cfg)))):
        opt = build_optimizer(model, TrainConfig(lr=0.01))
        torch.manual_seed(1)
        train_one_epoch(model, Objective(cfg, True), [_batch(seed=s) for s in range(2)], opt, epoch=0, audit=audit)
    assert len(seen) == 2
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def _audit(**shares_values):
    return {k: TermAudit(v, 1.0, s, s) for k, (v, s) in shares_values.items()}


def test_monitor_warns_on_dominance_and_growth_only():
    m = AuditMonitor(dominance=0.8, growth=10.0)
    assert m.record(0, _audit(id=(5.0, 0.5), tri=(1.0, 0.5))) == []
    w = m.record(10, _audit(id=(4.0, 0.9), tri=(1.0, 0.1)))
    assert len(w) == 1 and "id carries 90%" in w[0]
    w = m.record(20, _audit(id=(4.0, 0.5), tri=(10.5, 0.5)))
    assert len(w) == 1 and "tri = 10.5" in w[0] and "growing" in w[0]
    w = m.record(30, _audit(id=(float("nan"), 0.5), tri=(1.0, 0.5)))
    assert len(w) == 1 and "id" in w[0]
    assert [r["step"] for r in m.records] == [0, 10, 20, 30]
    assert m.records[1]["terms"]["id"]["share"] == 0.9


def test_format_audit_lists_every_term():
    text = format_audit(3, _audit(id=(2.0, 0.25), hc=(1.0, 0.75)))
    assert "step 3" in text and "75.0%" in text and "25.0%" in text


def _tiny_config(**train):
    return Config(
        name="tiny",
        data=DataConfig(dataset="sysu", height=32, width=16, num_workers=0, cache=False, synthetic_smoke=True),
        model=TINY, loss=LossConfig(),
        train=TrainConfig(**{**dict(epochs=1, lr=0.01, warmup_epochs=1, ids_per_batch=2, per_modality=2,
                                    max_steps_per_epoch=3, eval_every=0, device="cpu"), **train}),
        eval=EvalConfig(batch_size=16, flip=False))


def test_fit_logs_audits_at_step_0_and_every_n(tmp_path):
    reader = open_dataset(_tiny_config().data)
    fit(_tiny_config(audit_every=2), tmp_path, progress=False, eval_fn=lambda m, c, r: {}, reader=reader)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    audits = [r for r in log if r["event"] == "audit"]
    assert [r["step"] for r in audits] == [0, 2]
    assert set(audits[0]["terms"]) == {"id", "tri", "mse", "local_id", "center", "hc"}
    assert sum(t["share"] for t in audits[0]["terms"].values()) == pytest.approx(1.0)
    # load_backbone copies the trained ResNet and nothing else
    model = build_model(TINY, reader.num_train_ids)
    before = copy.deepcopy(model.state_dict())
    load_backbone(model, tmp_path / "last.pt")
    trained = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    after = model.state_dict()
    assert all(torch.equal(after[k], trained[k]) for k in after if k.startswith("backbone."))
    assert all(torch.equal(after[k], before[k]) for k in after if not k.startswith("backbone."))
    with pytest.raises(ValueError, match="does not fit"):
        load_backbone(build_model(ModelConfig(arch="resnet10", width=16, parts=2, local_dim=8), 4),
                      tmp_path / "last.pt")


def test_check_command_prints_the_audits(capsys):
    args = ["check", "--preset", "cpu-demo", "--smoke", "--steps", "2", "--audit-every", "1",
            "--set", "data.height=32", "--set", "data.width=16", "--set", "data.num_workers=0",
            "--set", "data.cache=false", "--set", "model.arch=resnet18", "--set", "model.pretrained=null",
            "--set", "model.parts=2",
            "--set", "train.ids_per_batch=2", "--set", "train.per_modality=2", "--set", "train.device=cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "loss audit at step 0" in out and "loss audit at step 1" in out
    assert "2 audits" in out
    assert main(["check", "--smoke", "--steps", "0"]) == 2


def test_check_has_help_and_train_takes_audit_steps(tmp_path, capsys):
    from test_cli import TINY

    with pytest.raises(SystemExit) as e:
        main(["check", "--help"])
    assert e.value.code == 0 and "usage: vireid check" in capsys.readouterr().out
    out = tmp_path / "run"
    assert main(["train", "--smoke", "--quiet", "--out", str(out), "--no-eval", "--audit-steps", "1", *TINY]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["event"] == "audit"] == [0]
    assert json.loads((out / "config.json").read_text())["train"]["audit_every"] == 1
