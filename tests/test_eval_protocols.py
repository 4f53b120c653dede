"""Protocol runners with fake readers and a tiny contract-obeying model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from test_eval_extract import HalvesNet, to_tensor

from vireid_lib.config import Config, EvalConfig
from vireid_lib.data.records import Record
from vireid_lib.evaluation import rank_metrics
from vireid_lib.evaluation.extract import extract_features
from vireid_lib.evaluation.protocols import (
    evaluate_within_visible,
    aggregate_trials,
    evaluate_features,
    evaluate_regdb,
    evaluate_sysu,
    pairwise_distance,
    results_path,
    save_results,
)

EVAL = EvalConfig(batch_size=8, flip=True, normalize=True)


def _image(path, rng, pid):
    a = np.empty((8, 4, 3), np.uint8)
    a[:, :2] = np.clip(40 * pid + rng.normal(0, 25, 3), 0, 255)  # identity colour plus noise
    a[:, 2:] = np.clip(rng.normal(128, 40, 3), 0, 255)
    Image.fromarray(a).save(path)
    return str(path)


class FakeSYSU:
    """3 test identities; infrared queries from cam3/cam6; 3 images per identity and visible camera."""

    def __init__(self, root):
        rng = np.random.default_rng(0)
        self.images = {}
        for pid in (1, 2, 3):
            for cam in (1, 2, 3, 4, 5, 6):
                modality = "infrared" if cam in (3, 6) else "visible"
                self.images[pid, cam] = [Record(_image(root / f"{pid}_{cam}_{k}.png", rng, pid), pid, cam, modality)
                                         for k in range(3)]

    def query(self):
        return [r for (pid, cam), rs in sorted(self.images.items()) if cam in (3, 6) for r in rs]

    def within_visible(self, trial=0):
        rng = np.random.default_rng(100 + trial)
        return ([r for pid in (1, 2, 3) for cam in (1, 2) for r in self.images[pid, cam]],
                [self.images[pid, cam][int(rng.integers(3))] for pid in (1, 2, 3) for cam in (4, 5)])

    def gallery(self, mode="all", trial=0, shots=1):
        rng = np.random.default_rng(trial)
        cams = (1, 2, 4, 5) if mode == "all" else (1, 2)
        return [self.images[pid, cam][k] for pid in (1, 2, 3) for cam in cams
                for k in sorted(rng.choice(3, shots, replace=False))]


class FakeRegDB:
    def __init__(self, root, trial=1):
        rng = np.random.default_rng(trial)
        self.trial = trial
        self.visible = [Record(_image(root / f"v{trial}_{p}_{k}.png", rng, p), p, 1, "visible")
                        for p in (1, 2, 3) for k in range(2)]
        self.thermal = [Record(_image(root / f"t{trial}_{p}_{k}.png", rng, p), p, 2, "infrared")
                        for p in (1, 2, 3) for k in range(2)]

    def query(self, direction="v2t"):
        return self.visible if direction == "v2t" else self.thermal

    def gallery(self, direction="v2t"):
        return self.thermal if direction == "v2t" else self.visible


def _direct(model, queries, gallery, protocol):
    qf = extract_features(model, queries, to_tensor, progress=False)
    gf = extract_features(model, gallery, to_tensor, progress=False)
    return rank_metrics(1 - qf @ gf.T, [r.pid for r in queries], [r.pid for r in gallery],
                        [r.camid for r in queries], [r.camid for r in gallery], protocol=protocol)


def test_sysu_trials_equal_direct_evaluation_and_embed_each_image_once(tmp_path):
    reader = FakeSYSU(tmp_path)
    model = HalvesNet()
    res = evaluate_sysu(model, reader, EVAL, trials=3, transform=to_tensor, progress=False)
    assert res["protocol"] == "sysu" and res["num_trials"] == 3 and res["shots"] == 1
    for mode in ("all", "indoor"):
        for t in range(3):
            direct = _direct(model, reader.query(), reader.gallery(mode, t), "sysu")
            got = res[mode]["per_trial"][t]
            assert got["mAP"] == pytest.approx(direct["mAP"], abs=1e-6)
            assert got["cmc"] == pytest.approx(direct["cmc"].tolist(), abs=1e-6)
        maps = [r["mAP"] for r in res[mode]["per_trial"]]
        assert res[mode]["mean"]["mAP"] == pytest.approx(np.mean(maps))
        assert res[mode]["std"]["mAP"] == pytest.approx(np.std(maps))
    assert len(res["all"]["mean"]["cmc"]) == 20
    # Embedded images: 18 queries + the union of the 6 gallery draws, each twice (flip), nothing more.
    union = {r.path for m in ("all", "indoor") for t in range(3) for r in reader.gallery(m, t)}
    model.calls.clear()
    evaluate_sysu(model, reader, EVAL, trials=3, transform=to_tensor, progress=False)
    assert sum(n for _, n, _ in model.calls) == 2 * (18 + len(union))


def test_within_visible_equals_direct_evaluation_per_draw(tmp_path):
    reader = FakeSYSU(tmp_path)
    model = HalvesNet()
    res = evaluate_within_visible(model, reader, EVAL, trials=2, transform=to_tensor, progress=False)
    assert res["protocol"] == "within-visible" and res["num_trials"] == 2
    for t in range(2):
        queries, gallery = reader.within_visible(t)
        direct = _direct(model, queries, gallery, "regdb")
        assert res["visible"]["per_trial"][t]["mAP"] == pytest.approx(direct["mAP"], abs=1e-6)


def test_sysu_reader_within_visible_draws(tmp_path):
    from vireid_lib.data import SYSUMM01, synthetic

    synthetic.generate("sysu", tmp_path / "s", identities=10, seed=3, workers=1, smoke=True)
    reader = SYSUMM01(tmp_path / "s")
    queries, gallery = reader.within_visible(0)
    assert {r.camid for r in queries} <= {1, 2} and {r.camid for r in gallery} <= {4, 5}
    assert {r.pid for r in queries} | {r.pid for r in gallery} <= set(reader.test_ids)
    pairs = [(r.pid, r.camid) for r in gallery]
    assert len(pairs) == len(set(pairs))                       # single-shot: one image per id and camera
    draws = {tuple(r.path for r in reader.within_visible(t)[1]) for t in range(5)}
    assert len(draws) > 1 and reader.within_visible(0)[1] == gallery   # trial-seeded, reproducible


def test_sysu_modes_and_multi_shot(tmp_path):
    reader = FakeSYSU(tmp_path)
    res = evaluate_sysu(HalvesNet(), reader, EVAL, modes=("indoor",), trials=1, shots=2, transform=to_tensor,
                        progress=False)
    assert "all" not in res and res["shots"] == 2
    direct = _direct(HalvesNet(), reader.query(), reader.gallery("indoor", 0, shots=2), "sysu")
    assert res["indoor"]["mean"]["mAP"] == pytest.approx(direct["mAP"], abs=1e-6)
    with pytest.raises(ValueError, match="modes must be"):
        evaluate_sysu(HalvesNet(), reader, EVAL, modes=("outdoor",), transform=to_tensor)
    with pytest.raises(ValueError, match="trials must be"):
        evaluate_sysu(HalvesNet(), reader, EVAL, trials=0, transform=to_tensor)


def test_regdb_both_directions_and_aggregation(tmp_path):
    results = []
    for trial in (1, 2):
        reader = FakeRegDB(tmp_path, trial)
        res = evaluate_regdb(HalvesNet(), reader, EVAL, transform=to_tensor, progress=False)
        assert res["trial"] == trial
        for d in ("v2t", "t2v"):
            direct = _direct(HalvesNet(), reader.query(d), reader.gallery(d), "regdb")
            assert res[d]["mAP"] == pytest.approx(direct["mAP"], abs=1e-6)
        results.append(res)
    agg = aggregate_trials(results)
    assert agg["trials"] == [1, 2] and agg["num_trials"] == 2 and agg["protocol"] == "regdb"
    assert agg["t2v"]["mean"]["mINP"] == pytest.approx((results[0]["t2v"]["mINP"] + results[1]["t2v"]["mINP"]) / 2)


def test_aggregate_hand_values_and_errors():
    a = {"v2t": {"cmc": [0.5, 1.0], "mAP": 0.4, "mINP": 0.2}}
    b = {"v2t": {"cmc": [1.0, 1.0], "mAP": 0.6, "mINP": 0.4}}
    agg = aggregate_trials([a, b])
    assert agg["v2t"]["mean"] == {"cmc": [0.75, 1.0], "mAP": pytest.approx(0.5), "mINP": pytest.approx(0.3)}
    assert agg["v2t"]["std"]["cmc"] == [0.25, 0.0] and agg["v2t"]["std"]["mAP"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="no trial results"):
        aggregate_trials([])
    with pytest.raises(ValueError, match="differ in their settings"):
        aggregate_trials([a, {"t2v": a["v2t"]}])


def test_rerank_option_and_distances():
    rng = np.random.default_rng(0)
    qf = torch.nn.functional.normalize(torch.randn(6, 4), dim=1)
    assert pairwise_distance(qf, qf, "cosine").diagonal() == pytest.approx(np.zeros(6), abs=1e-6)
    assert pairwise_distance(qf, qf * 0, "euclidean")[0, 0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="unknown metric"):
        pairwise_distance(qf, qf, "manhattan")
    with pytest.raises(ValueError, match="same D"):
        pairwise_distance(qf, qf[:, :2])
    records = [Record("x", int(p), 1, "visible") for p in rng.integers(0, 3, 6)]
    plain = evaluate_features(qf, qf, records, records, protocol="regdb")
    reranked = evaluate_features(qf, qf, records, records, protocol="regdb", rerank=True)
    assert plain["cmc"][0] == 1.0 and reranked["cmc"][0] == 1.0  # each image finds itself first either way
    assert set(plain) == {"cmc", "mAP", "mINP", "num_valid_queries"}


def test_results_json_holds_results_and_config(tmp_path):
    path = results_path(tmp_path / "run" / "model.pt")
    assert path.name == "model.results.json"
    save_results({"all": {"mean": {"mAP": 0.5}}}, path, Config())
    saved = json.loads(path.read_text())
    assert saved["results"]["all"]["mean"]["mAP"] == 0.5
    assert Config.from_dict(saved["config"]) == Config()


def test_runners_with_the_real_readers_on_the_smoke_synthetic_data():
    from vireid_lib.config import DataConfig
    from vireid_lib.data import open_dataset

    cfg = DataConfig(dataset="sysu", height=16, width=8, num_workers=0, synthetic_smoke=True)
    sysu = open_dataset(cfg)
    res = evaluate_sysu(HalvesNet(), sysu, EVAL, cfg, trials=2, progress=False)
    assert {r.modality for r in sysu.query()} == {"infrared"}
    assert 0 < res["all"]["mean"]["mAP"] <= 1 and 0 < res["indoor"]["mean"]["mAP"] <= 1
    regdb_cfg = DataConfig(dataset="regdb", height=16, width=8, num_workers=0, trial=1, synthetic_smoke=True)
    regdb = evaluate_regdb(HalvesNet(), open_dataset(regdb_cfg), EVAL, regdb_cfg, progress=False)
    assert regdb["trial"] == 1 and 0 < regdb["v2t"]["mAP"] <= 1


def test_one_evaluate_runs_the_protocol_of_the_config():
    from vireid_lib.config import Config, DataConfig
    from vireid_lib.data import open_dataset
    from vireid_lib.evaluation.protocols import evaluate, evaluate_trial0
    from vireid_lib.evaluation.report import headline_metrics

    for dataset, runner in (("sysu", evaluate_sysu), ("regdb", evaluate_regdb)):
        cfg = Config(data=DataConfig(dataset=dataset, height=16, width=8, num_workers=0, synthetic_smoke=True),
                     eval=EVAL)
        reader = open_dataset(cfg.data)
        assert evaluate(HalvesNet(), cfg, reader, progress=False) == runner(HalvesNet(), reader, EVAL, cfg.data,
                                                                            progress=False)
        first = (runner(HalvesNet(), reader, EVAL, cfg.data, modes=("all",), trials=1, progress=False)["all"]
                 if dataset == "sysu" else
                 runner(HalvesNet(), reader, EVAL, cfg.data, directions=("v2t",), progress=False)["v2t"])
        assert evaluate_trial0(HalvesNet(), cfg, reader) == headline_metrics(first)

