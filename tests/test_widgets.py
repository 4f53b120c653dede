"""The retrieval browser's logic, headless: set widget values, read children and state."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vireid_lib.config import ModelConfig
from vireid_lib.data.records import Record
from vireid_lib.data import transforms
from vireid_lib.evaluation import rank_metrics
from vireid_lib.models import build_model
from vireid_lib.retrieval import Split
from vireid_lib.widgets import MATCH_COLOUR, MISMATCH_COLOUR, RetrievalBrowser

H, W = 64, 32
IDS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Tiny SYSU-style split on disk: infrared queries from cams 3 and 6, visible gallery from cams 1 and 2."""
    root = tmp_path_factory.mktemp("tree")
    rng = np.random.default_rng(0)

    def image(name: str) -> str:
        path = root / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(path)
        return str(path)

    query = [Record(image(f"q{p}_{c}"), p, c, "infrared") for p in IDS for c in (3, 6)]
    gallery = [Record(image(f"g{p}_{c}"), p, c, "visible") for p in IDS for c in (1, 2)]
    return query, gallery


def _designed_features(query, gallery):
    """Features with a known geometry: gallery image of identity p on axis p (cam2 slightly off it); query
    (p, cam) sits between its own axis and the next identity's, closer to the next one for cam 6."""
    feats = {}
    for g in gallery:
        v = torch.zeros(8)
        v[g.pid] = 1.0
        v[0] = 0.1 if g.camid == 2 else 0.0
        feats[g.path] = v / v.norm()
    for q in query:
        v = torch.zeros(8)
        own, other = (1.0, 0.5) if q.camid == 3 else (0.5, 1.0)
        v[q.pid], v[q.pid % len(IDS) + 1] = own, other
        feats[q.path] = v / v.norm()
    return feats


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    cfg = ModelConfig(arch="resnet18", parts=2, local_dim=16)
    base = build_model(ModelConfig(arch="resnet18", mca_stages=(), pca=False, local_branch=False), 4)
    return {"full": build_model(cfg, 4).eval(), "base": base.eval()}


@pytest.fixture()
def browser(tree, models):
    query, gallery = tree
    feats = _designed_features(query, gallery)
    calls = []

    def extract(model, records):
        calls.append((model, [r.path for r in records]))
        sign = 1.0 if model is models["full"] else -1.0  # "base" ranks in reverse: a different ranking
        return torch.stack([feats[r.path] * (sign if r.modality == "infrared" else 1.0) for r in records])

    splits = {("toy", "sysu", 0): Split(query, gallery, "sysu"),
              ("toy", "sysu", 1): Split(query, gallery[::-1], "sysu"),
              ("toy", "regdb", 0): Split(query, gallery, "regdb")}
    b = RetrievalBrowser(models, splits, transforms.test_transform(H, W), extract=extract, top_k=3, max_k=6,
                         image_size=(32, 16))
    b.calls = calls
    return b


def _shown(b, panel=0):
    """(caption text, border colour) of each gallery card on screen."""
    return [(card.children[1].value, card.children[0].layout.border) for card in b.panels[panel].gallery.children]


def test_shows_top_k_with_match_borders(browser, tree):
    query, gallery = tree
    assert browser.query_index == 0 and query[0].camid == 3 and query[0].pid == 1
    shown = _shown(browser)
    assert len(shown) == 3
    # query (id 1, cam 3): cam2 images are removed (SYSU rule); then id 1 cam1 (match), id 2 cam1 (mismatch)
    # and the rest of the cam1 images tied, in gallery order.
    r = browser.ranking("full")
    assert [gallery[j].pid for j in r.gallery] == [1, 2, 3]
    assert all(gallery[j].camid == 1 for j in r.gallery)
    assert [c for _, c in shown] == [f"4px solid {MATCH_COLOUR}", f"4px solid {MISMATCH_COLOUR}",
                                     f"4px solid {MISMATCH_COLOUR}"]
    assert "#1" in shown[0][0] and "id 1 cam 1" in shown[0][0]
    # AP of the query by hand: its only kept true match is first -> 1.0; INP = 1 / 1.
    assert r.ap == pytest.approx(1.0) and r.inp == pytest.approx(1.0)
    assert "AP 100.0%" in browser.panels[0].title.value


def test_query_metrics_equal_rank_metrics(browser, tree):
    query, gallery = tree
    ev = browser.evaluated("full", browser.split_key)
    m = rank_metrics(ev.distmat, [q.pid for q in query], [g.pid for g in gallery], [q.camid for q in query],
                     [g.camid for g in gallery], protocol="sysu")
    for i in range(len(query)):
        r = browser.ranking("full", i)
        assert r.ap == pytest.approx(m["ap"][i]) and r.inp == pytest.approx(m["inp"][i])
        # a cam6 query is closer to the next identity: its top match is wrong, and its AP below 1
        if query[i].camid == 6:
            assert not r.matches[0] and r.ap < 1


def test_next_changes_query_and_images(browser):
    before = [c.children[0].value for c in browser.panels[0].gallery.children]
    browser.next.click()
    assert browser.query_index == 1
    after = [c.children[0].value for c in browser.panels[0].gallery.children]
    assert after != before
    browser.prev.click()
    browser.prev.click()  # wraps around to the last query
    assert browser.query_index == len(browser.split.query) - 1


def test_hardest_first_walks_lowest_ap(browser):
    browser.order.value = "hardest first"
    ev = browser.evaluated("full", browser.split_key)
    aps = [ev.ap[i] for i in browser.candidates]
    assert aps == sorted(aps) and aps[0] < 1
    assert browser.query_index == browser.candidates[0]
    browser.next.click()
    assert browser.query_index == browser.candidates[1]


def test_filters_by_identity_and_camera(browser, tree):
    query, _ = tree
    browser.identity.value = 3
    assert [query[i].pid for i in browser.candidates] == [3, 3]
    browser.camera.value = 6
    assert [(query[i].pid, query[i].camid) for i in browser.candidates] == [(3, 6)]
    assert browser.query_index == browser.candidates[0]
    browser.select_query(0)  # outside the filter: the filters are cleared
    assert browser.identity.value == "any" and browser.query_index == 0


def test_top_k_and_compare(browser, tree):
    _, gallery = tree
    browser.top_k.value = 5
    assert len(browser.panels[0].gallery.children) == 4  # only 4 cam1 images survive the cam3 rule
    browser.protocol.value = "regdb"  # no camera rule: all 8 gallery images are ranked
    assert len(browser.panels[0].gallery.children) == 5
    assert browser.panels[1].box.layout.display == "none"
    browser.compare.value = "base"
    assert browser.panels[1].box.layout.display is None
    full, base = browser.ranking("full"), browser.ranking("base")
    assert not np.array_equal(full.gallery, base.gallery)
    assert [c.children[1].value for c in browser.panels[1].gallery.children] != \
        [c.children[1].value for c in browser.panels[0].gallery.children]
    browser.compare.value = "none"
    assert browser.panels[1].box.layout.display == "none"


def test_features_are_extracted_once(browser, tree):
    query, gallery = tree
    n = len(browser.calls)
    for _ in range(3):
        browser.next.click()
    browser.trial.value = 1  # the same images in another order: nothing new to extract
    browser.order.value = "hardest first"
    assert len(browser.calls) == n
    browser.model.value = "base"  # a new model extracts its own features, once
    browser.trial.value = 0
    assert len(browser.calls) == n + 2
    extracted = [p for _, paths in browser.calls for p in paths]
    assert len(extracted) == 2 * (len(query) + len(gallery)) and len(set(extracted)) == len(query) + len(gallery)


def test_switching_split_updates_choices(browser, tree):
    assert list(browser.protocol.options) == ["sysu", "regdb"]
    assert list(browser.trial.options) == [0, 1]
    browser.trial.value = 1
    _, gallery = tree
    assert browser.split.gallery[0] == gallery[-1]
    assert "trial 1" in browser.status.value


def test_cam_overlay_toggle(browser):
    plain = [c.children[0].value for c in browser.panels[0].gallery.children]
    query_plain = browser.panels[0].query.image.value
    browser.cam.value = True
    cam = [c.children[0].value for c in browser.panels[0].gallery.children]
    assert len(cam) == len(plain) and all(a != b for a, b in zip(cam, plain))
    assert browser.panels[0].query.image.value != query_plain
    assert "mca.layer3" in browser.cam_layer.options and "stem" in browser.cam_layer.options
    browser.cam_layer.value = "stem"
    browser.cam_method.value = "hirescam"
    assert [c.children[0].value for c in browser.panels[0].gallery.children] != cam
    browser.cam_layer.value = "mca.layer3"
    browser.compare.value = "base"  # base has no MCA: its panel falls back to layer4 instead of failing
    assert len(browser.panels[1].gallery.children) == 3
    browser.cam.value = False
    assert [c.children[0].value for c in browser.panels[0].gallery.children] == plain


def test_bad_construction(tree, models):
    query, gallery = tree
    splits = {("toy", "sysu", 0): Split(query, gallery, "sysu")}
    with pytest.raises(ValueError, match="at least one model"):
        RetrievalBrowser({}, splits, transforms.test_transform(H, W))
    with pytest.raises(ValueError, match="at least one split"):
        RetrievalBrowser(models, {}, transforms.test_transform(H, W))
    with pytest.raises(ValueError, match="unknown CAM methods"):
        RetrievalBrowser(models, splits, transforms.test_transform(H, W), cam_methods=("magic",))
