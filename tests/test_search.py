"""``vireid search`` on a folder of synthetic images whose identities are known: the same ranking as the
protocol, the content-keyed feature cache, and the clear errors."""

from __future__ import annotations

import csv
import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from vireid_lib.cli import main
from vireid_lib.config import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, TrainConfig
from vireid_lib.data import open_dataset
from vireid_lib.evaluation import extract_features, pairwise_distance
from vireid_lib.evaluation.protocols import evaluate_regdb
from vireid_lib.search import content_key, list_folder, model_key, search
from vireid_lib.checkpoints import load_model
from vireid_lib.training import fit


def tiny_regdb() -> Config:
    return Config(
        name="tiny-regdb",
        data=DataConfig(dataset="regdb", height=32, width=16, num_workers=0, cache=False, synthetic_smoke=True),
        model=ModelConfig(arch="resnet10", width=8, parts=2, local_dim=8, mca_stages=(3,)),
        loss=LossConfig(),
        train=TrainConfig(epochs=1, lr=0.01, warmup_epochs=1, ids_per_batch=2, per_modality=2, max_steps_per_epoch=2,
                          eval_every=0, device="cpu"),
        eval=EvalConfig(batch_size=32, flip=True),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A trained tiny checkpoint, its reader, and a copy of its RegDB test images in a user's layout:
    ``queries/thermal/<pid>_<n>.bmp`` and ``gallery/visible/<pid>_<n>.bmp`` (the identity kept only in
    the file name, for the test to check)."""
    cfg = tiny_regdb()
    reader = open_dataset(cfg.data)
    out = tmp_path_factory.mktemp("run")
    fit(cfg, out, progress=False, reader=reader, eval_fn=lambda *_: {})
    root = tmp_path_factory.mktemp("mine")
    copies = {}
    for sub, records in (("queries/thermal", reader.query("t2v")), ("gallery/visible", reader.gallery("t2v"))):
        for n, r in enumerate(records):
            dst = root / sub / f"{r.pid:04d}_{n:03d}{r.path[r.path.rfind('.'):]}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r.path, dst)
            copies[str(dst.resolve())] = r
    return out / "last.pt", reader, root, copies


def test_search_ranks_as_the_protocol(run, tmp_path):
    ckpt, reader, root, copies = run
    res = search(ckpt, [root / "queries"], root / "gallery", top_k=5, cache_dir=tmp_path / "cache")
    assert {q.modality for q in res.queries} == {"infrared"} and {g.modality for g in res.gallery} == {"visible"}
    assert len(res.queries) == len(reader.query("t2v")) and len(res.gallery) == len(reader.gallery("t2v"))
    # independent truth 1: the protocol's own features and distances, in the reader's order
    model, cfg = load_model(ckpt)
    queries, gallery = reader.query("t2v"), reader.gallery("t2v")
    e = cfg.eval
    qf = extract_features(model, queries, cfg.data, flip=e.flip, normalize=e.normalize, progress=False)
    gf = extract_features(model, gallery, cfg.data, flip=e.flip, normalize=e.normalize, progress=False)
    ref = pairwise_distance(qf, gf)
    g_index = {r.path: j for j, r in enumerate(gallery)}
    q_index = {r.path: i for i, r in enumerate(queries)}
    for i, q in enumerate(res.queries):
        row = ref[q_index[copies[q.path].path]]
        top = res.gallery[res.ranking[i, 0]]
        best = int(np.argmin(row))
        # the same nearest image, unless two gallery images are closer than float noise: the tolerance the
        # distances agree to below (the search batches its images otherwise than the protocol, and on CUDA a
        # batch of another size may take another convolution kernel, which rounds otherwise)
        assert copies[top.path].path == gallery[best].path or \
            abs(row[g_index[copies[top.path].path]] - row[best]) < 1e-5
        assert res.distances[i, res.ranking[i, 0]] == pytest.approx(row[best], abs=1e-5)
    # independent truth 2: the search's top-1 identity accuracy is the protocol's Rank-1
    hits = [copies[res.gallery[res.ranking[i, 0]].path].pid == copies[q.path].pid for i, q in enumerate(res.queries)]
    protocol = evaluate_regdb(model, reader, cfg.eval, cfg.data, directions=("t2v",), progress=False)
    assert np.mean(hits) == pytest.approx(protocol["t2v"]["cmc"][0])


def test_second_search_is_served_from_the_content_keyed_cache(run, tmp_path):
    ckpt, _, root, _ = run
    cache = tmp_path / "cache"
    first = search(ckpt, [root / "queries"], root / "gallery", cache_dir=cache)
    assert first.embedded == len(first.queries) + len(first.gallery) and first.cached == 0
    # a renamed copy is the same content: nothing new to embed
    moved = tmp_path / "moved"
    shutil.copytree(root / "gallery" / "visible", moved / "visible")
    second = search(ckpt, [root / "queries"], moved, cache_dir=cache)
    assert second.embedded == 0 and second.cached == len(second.queries) + len(second.gallery)
    np.testing.assert_allclose(second.distances, first.distances, atol=0)
    # an edited image is new content; it is embedded again (and only it)
    img = sorted((moved / "visible").iterdir())[0]
    with open(img, "ab") as f:
        f.write(b"\0")  # trailing bytes: the same pixels, another file content
    third = search(ckpt, [root / "queries"], moved, cache_dir=cache)
    assert third.embedded == 1
    # another model is another key (the keys hash the weights)
    model, cfg = load_model(ckpt)
    key = model_key(model, cfg)
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    assert model_key(model, cfg) != key
    assert content_key(img, "visible") != content_key(img, "infrared")


def test_cli_writes_ranking_files_and_figures(run, tmp_path, capsys):
    ckpt, _, root, copies = run
    q = sorted((root / "queries" / "thermal").iterdir())[0]
    out = tmp_path / "out"
    assert main(["search", str(ckpt), "--query", str(q), "--gallery", str(root / "gallery"), "--top-k", "3",
                 "--out", str(out), "--cache", str(tmp_path / "cache"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "#1" in text and "#3" in text and "#4" not in text and "ranking:" in text
    ranking = json.loads((out / "ranking.json").read_text())
    results = ranking["queries"][0]["results"]
    assert [r["rank"] for r in results] == [1, 2, 3]
    assert results == sorted(results, key=lambda r: r["distance"])
    rows = list(csv.DictReader((out / "ranking.csv").open()))
    assert [r["gallery"] for r in rows] == [r["gallery"] for r in results]
    figures = list((out / "ranked").glob("*.png"))
    assert len(figures) == 1 and figures[0].stat().st_size > 1000


def test_modality_from_folders_and_flags(tmp_path):
    for sub in ("a/visible/x", "a/Thermal", "a/infrared"):
        (tmp_path / sub).mkdir(parents=True)
    from PIL import Image

    for sub in ("a/visible/x/1.png", "a/Thermal/2.jpg", "a/infrared/3.bmp"):
        Image.new("RGB", (8, 16)).save(tmp_path / sub)
    got = {r.path.rsplit("/", 1)[1]: r.modality for r in list_folder(tmp_path / "a")}
    assert got == {"1.png": "visible", "2.jpg": "infrared", "3.bmp": "infrared"}
    assert {r.modality for r in list_folder(tmp_path / "a", "visible")} == {"visible"}
    assert {r.modality for r in list_folder(tmp_path / "a" / "visible")} == {"visible"}  # the root's own name
    with pytest.raises(ValueError, match="unknown modality 'rgb'"):
        list_folder(tmp_path / "a", "rgb")


def test_clear_errors(run, tmp_path, capsys):
    ckpt, _, root, _ = run
    q = str(sorted((root / "queries" / "thermal").iterdir())[0])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["search", str(ckpt), "--query", q, "--gallery", str(empty), "--no-cache"]) == 2
    assert "holds no image files" in capsys.readouterr().err
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copyfile(q, plain / "x.bmp")
    assert main(["search", str(ckpt), "--query", q, "--gallery", str(plain), "--no-cache"]) == 2
    assert "cannot tell the modality" in capsys.readouterr().err
    # a named query that is not an image stops the search, naming it
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["search", str(ckpt), "--query", str(bad), "--query-modality", "infrared", "--gallery",
                 str(root / "gallery"), "--no-cache"]) == 2
    assert "bad.png" in capsys.readouterr().err
    # in a folder, a broken image and a text file are skipped with warnings naming them
    shutil.copyfile(bad, plain / "broken.jpg")
    (plain / "notes.txt").write_text("hello")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = search(ckpt, [q], plain, gallery_modality="visible", cache_dir=None)
    text = " ".join(str(w.message) for w in caught)
    assert "broken.jpg" in text and "notes.txt" in text
    assert [g.path.rsplit("/", 1)[1] for g in res.gallery] == ["x.bmp"]
    assert sorted(p.rsplit("/", 1)[1] for p, _ in res.skipped) == ["broken.jpg", "notes.txt"]
    # a checkpoint whose weights do not fit its config
    state = torch.load(ckpt, weights_only=True)
    cfg = Config.from_json(state["config"])
    state["config"] = Config(name=cfg.name, data=cfg.data, model=ModelConfig(arch="resnet10", width=16), loss=cfg.loss,
                             train=cfg.train, eval=cfg.eval).to_json()
    wrong = tmp_path / "wrong.pt"
    torch.save(state, wrong)
    assert main(["search", str(wrong), "--query", q, "--gallery", str(root / "gallery"), "--no-cache"]) == 2
    assert "its weights do not match" in capsys.readouterr().err
    # an input size the network cannot take (two parts need a final map at least 2 rows high)
    state["config"] = Config(name=cfg.name, data=DataConfig(dataset="regdb", height=16, width=16), model=cfg.model,
                             loss=cfg.loss, train=cfg.train, eval=cfg.eval).to_json()
    torch.save(state, wrong)
    assert main(["search", str(wrong), "--query", q, "--gallery", str(root / "gallery"), "--no-cache"]) == 2
    assert "does not take its own input size 16x16" in capsys.readouterr().err


def test_browser_on_folders_ranks_as_search_and_says_there_are_no_labels(run, tmp_path):
    from vireid_lib.widgets import ANY, QUERY_COLOUR, RetrievalBrowser

    ckpt, _, root, _ = run
    cache = tmp_path / "cache"
    res = search(ckpt, [root / "queries"], root / "gallery", top_k=4, cache_dir=cache)
    b = RetrievalBrowser.from_folders(ckpt, root / "queries", root / "gallery", cache_dir=cache, top_k=4,
                                      image_size=(32, 16))
    assert not b.split.labelled and b.identity.options == (ANY,)
    for i in (0, 3):
        r = b.ranking(b.model.value, i)
        assert list(r.gallery) == list(res.ranking[i]) and np.isnan(r.ap) and not r.matches.any()
    b.select_query(3)
    cards = b.panels[0].gallery.children
    assert len(cards) == 4 and {c.children[0].layout.border for c in cards} == {f"4px solid {QUERY_COLOUR}"}
    assert "no match borders and no AP" in b.panels[0].title.value and "no match borders" in b.status.value


@pytest.mark.parametrize("command", ["search", "export"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: vireid {command}" in text and "examples:" in text
