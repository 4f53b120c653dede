"""The diagnostics of a trained SYSU-layout checkpoint, on one tiny trained model: benchmarks/diag_identities.py
(per-identity all-search Rank-1 agrees with the protocol's) and benchmarks/diag_cameras.py (per-camera Rank-1
agrees with the protocol's and follows its cam3/cam2 rule); bad input is refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import bench_recipe, diag_cameras, diag_identities
from vireid_lib.config import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, TrainConfig
from vireid_lib.data import open_dataset
from vireid_lib.evaluation.protocols import evaluate_sysu
from vireid_lib.training import fit


def tiny_config(dataset: str = "sysu") -> Config:
    return Config(
        name="tiny", data=DataConfig(dataset=dataset, height=32, width=16, num_workers=0, synthetic_smoke=True),
        model=ModelConfig(arch="resnet18", parts=2, local_dim=8, mca_stages=(3,)), loss=LossConfig(),
        train=TrainConfig(epochs=1, lr=0.01, warmup_epochs=1, milestones=(1,), ids_per_batch=2, per_modality=2,
                          max_steps_per_epoch=2, eval_every=0, device="cpu"),
        eval=EvalConfig(batch_size=16, flip=False))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = tiny_config()
    out = tmp_path_factory.mktemp("run")
    fitted = fit(cfg, out, progress=False, reader=open_dataset(cfg.data), eval_fn=lambda m, c, r: {})
    return fitted, cfg


def test_per_identity_rank1_pools_to_the_protocols_all_search_rank1(trained):
    fitted, cfg = trained
    result = diag_identities.measure(fitted.last, trials=3)
    protocol = evaluate_sysu(fitted.model, open_dataset(cfg.data), cfg.eval, cfg.data, modes=("all",), trials=3,
                             progress=False)
    assert result["all_search_rank1"] == pytest.approx(protocol["all"]["mean"]["cmc"][0], abs=1e-9)
    rows = [r for r in result["identities"] if r["pairs"]]
    # Per trial every query with a match counts once, so the pairs pooled over identities pool to the same mean.
    pairs = sum(r["pairs"] for r in rows)
    assert sum(r["rank1"] * r["pairs"] for r in rows) / pairs == pytest.approx(result["all_search_rank1"])
    groups = result["groups"]
    assert sum(g["identities"] for g in groups.values()) == len(rows)
    assert sum(g["pairs"] for g in groups.values()) == pairs
    assert result["data"]["smoke"] and result["data"]["identities"] == 24
    json.dumps(result)   # what the command writes


def test_a_regdb_checkpoint_is_refused_in_one_line(tmp_path, trained):
    fitted, _ = trained
    cfg = tiny_config("regdb")
    run = fit(cfg, tmp_path, progress=False, reader=open_dataset(cfg.data), eval_fn=lambda m, c, r: {})
    with pytest.raises(ValueError, match="synthetic SYSU-MM01 layout"):
        diag_identities.measure(run.last)
    with pytest.raises(ValueError, match="needs a SYSU-MM01-layout checkpoint"):
        diag_cameras.measure(run.last)


@pytest.mark.parametrize("argv, message", [(["--trials", "0"], "--trials must be at least 1"),
                                           (["--trials", "2"], "no checkpoint at")])
def test_command_line_refuses_bad_input_in_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setattr(sys, "argv", ["diag_identities.py", str(tmp_path / "missing.pt") if "no" in message
                                      else str(Path(__file__)), "--tag", "x", *argv])
    with pytest.raises(SystemExit) as e:
        diag_identities.main()
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


def test_table_reads_the_kept_files(tmp_path, trained):
    fitted, _ = trained
    result = diag_identities.measure(fitted.last, trials=1)
    (tmp_path / "x.json").write_text(json.dumps(result))
    line = diag_identities.table(tmp_path).splitlines()[-1]
    flipped = result["groups"]["a flipped garment"]["identities"]
    assert line.startswith("| x | seed 0, 24 ids | ") and f"| {flipped} |" in line


def test_bench_recipe_keep_trains_into_the_named_folder_and_resumes(tmp_path, monkeypatch):
    calls = []

    def fake_fit(cfg, out_dir, *, resume, **kw):
        calls.append((str(out_dir), resume))
        if resume:   # what fit logs of each call that trained: one "fit" event with its wall time
            with open(Path(out_dir) / "log.jsonl", "a") as f:
                f.write(json.dumps({"event": "step", "wall_s": 99.0}) + "\n")
                f.write(json.dumps({"event": "fit", "wall_s": 7.5}) + "\n")
        return SimpleNamespace(model=None, steps=1, epochs=1)

    monkeypatch.setattr(bench_recipe, "fit", fake_fit)
    monkeypatch.setattr(bench_recipe, "open_dataset", lambda data: SimpleNamespace(root=tmp_path))
    stats = {"generator_version": 3}
    monkeypatch.setattr(bench_recipe, "read_stats", lambda root: dict(stats))
    monkeypatch.setattr(bench_recipe, "evaluate_model", lambda *a, **k: {})
    monkeypatch.setattr(bench_recipe, "metrics_of", lambda r: {})
    people = {"pid": [1, 2], "weight": [0.5, 0.5], "rank1": [1.0, 0.0], "mAP": [0.6, 0.2]}
    monkeypatch.setattr(bench_recipe, "evaluate_within_visible",
                        lambda *a, **k: {"visible": {"mean": {"cmc": [0.5], "mAP": 0.4, "mINP": 0.3},
                                                     "people": people}})
    record = bench_recipe.run("seed=1,train_seed=2", tmp_path / "out", keep=tmp_path / "kept")
    assert record["people"] == {"within-visible": people}            # the test people's table is kept
    assert calls == [(str(tmp_path / "kept" / "seed-1_train_seed-2"), True)]
    assert record["training_folder"] == str(tmp_path / "kept" / "seed-1_train_seed-2")
    assert record["train_seconds"] == 7.5                            # the fit events, not the step events
    again = bench_recipe.run("seed=1,train_seed=2", tmp_path / "out", keep=tmp_path / "kept")
    assert again["train_seconds"] == 15.0                            # both calls' training, not this call's
    stats["generator_version"] = 4                                   # the data changed under the kept folder
    with pytest.raises(ValueError, match="trained on other synthetic data"):
        bench_recipe.run("seed=1,train_seed=2", tmp_path / "out", keep=tmp_path / "kept")
    bench_recipe.run("seed=1", tmp_path / "out")                  # without keep: a temporary folder, from scratch
    assert calls[-1][1] is False and "kept" not in calls[-1][0]
    assert "training_folder" not in json.loads((tmp_path / "out" / "seed-1.json").read_text())


def test_camera_galleries_pool_to_the_protocols_all_search_rank1_and_keep_the_cam3_cam2_rule(trained):
    fitted, cfg = trained
    record = diag_cameras.measure(fitted.last, trials=3)
    reader = open_dataset(cfg.data)
    protocol = evaluate_sysu(fitted.model, reader, cfg.eval, cfg.data, modes=("all",), trials=3, progress=False)
    rows = record["rows"]
    assert rows["all"]["r1"] == pytest.approx(100 * protocol["all"]["mean"]["cmc"][0], abs=1e-9)
    # The queries each camera scores, counted by hand from the draws: a query counts when its person has an image
    # from that camera in the draw, except that cam-3 queries never see cam 2 (the same place, SYSU-MM01's rule).
    # Chance, by hand too: a query's person's share of the images it is ranked against, over the scored queries.
    queries = list(reader.query())
    for name, cams in diag_cameras.SETS.items():
        expected, chance = 0, 0.0
        for t in range(3):
            gallery = list(reader.gallery(mode="all", trial=t, shots=1))
            for q in queries:
                seen = [r.pid for r in gallery if r.camid in cams and not (q.camid == 3 and r.camid == 2)]
                if q.pid in seen:
                    expected += 1
                    chance += seen.count(q.pid) / len(seen)
        assert rows[name]["queries"] == expected, name
        assert rows[name]["chance_r1"] == pytest.approx(100 * chance / expected, abs=1e-9), name
    assert rows["cam2"]["queries"] < rows["cam1"]["queries"]   # cam 2 is scored by cam-6 queries only
    d, se = diag_cameras.outdoor_minus_indoor(record)
    assert d == pytest.approx(rows["outdoor"]["r1"] - rows["indoor"]["r1"], abs=1e-9) and se is not None
    json.dumps(record)   # what the command writes

