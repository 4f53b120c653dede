"""The retrieval browser's model without widgets: rankings with the SYSU-MM01 camera rule, AP and INP by hand,
the query order, the feature cache and the thumbnails, on hand-made features; the protocols' splits on disk."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vireid_lib.data.records import Record
from vireid_lib.data.synthetic import generate
from vireid_lib.retrieval import DatasetSplits, Retrieval, Split

# Features are unit vectors in the plane at these angles (degrees), so the cosine distance 1 - cos(angle
# difference) orders the gallery by angle from its query. Gallery: visible cams 1 and 2 (SYSU-MM01 drops cam2
# for a cam3 query), and cam4.
GALLERY = [("g0", 1, 1, 30.0), ("g1", 1, 2, 5.0), ("g2", 2, 1, 10.0), ("g3", 2, 2, 60.0), ("g4", 1, 4, 45.0)]
QUERY = [("q0", 1, 6, 0.0), ("q1", 1, 3, 0.0), ("q2", 3, 3, 90.0)]   # q2's identity is not in the gallery
ANGLE = {name: a for name, _, _, a in GALLERY + QUERY}


def _records(rows, modality):
    return [Record(f"/nowhere/{name}.png", pid, cam, modality) for name, pid, cam, _ in rows]


class _Net(nn.Module):
    """Stands in for a model: only its CAM layers are read."""

    def target_layers(self):
        return ["stem.visible", "stem.infrared", "layer3", "mca.layer3", "layer4"]


@pytest.fixture()
def setup():
    query, gallery = _records(QUERY, "infrared"), _records(GALLERY, "visible")
    calls = []

    def extract(model, records):
        calls.append([r.path for r in records])
        rad = [math.radians(ANGLE[r.path.split("/")[-1][:-4]]) for r in records]
        return torch.tensor([[math.cos(a), math.sin(a)] for a in rad], dtype=torch.float32)

    splits = {("toy", "sysu", 0): Split(query, gallery, "sysu"), ("toy", "regdb", 0): Split(query, gallery, "regdb"),
              ("toy", "unlabelled", 0): Split(query, gallery, "regdb", labelled=False)}
    return Retrieval({"net": _Net()}, splits, transform=None, extract=extract), calls


def _by_hand(query_row, protocol):
    """The protocol's order, written out: drop cam2 for a cam3 query on SYSU-MM01, sort by angle, then index."""
    _, _, cam, angle = query_row
    kept = [j for j, (_, _, g_cam, _) in enumerate(GALLERY) if not (protocol == "sysu" and cam == 3 and g_cam == 2)]
    return sorted(kept, key=lambda j: (1 - math.cos(math.radians(GALLERY[j][3] - angle)), j))


def test_ranking_is_the_protocols_order_with_the_camera_rule(setup):
    r, _ = setup
    for key, protocol in ((("toy", "sysu", 0), "sysu"), (("toy", "regdb", 0), "regdb")):
        for i, row in enumerate(QUERY):
            assert list(r.ranking("net", key, i, k=5).gallery) == _by_hand(row, protocol)
    # literally: the cam3 query loses g1 and g3 (cam2) on SYSU-MM01, keeps them on RegDB
    assert list(r.ranking("net", ("toy", "sysu", 0), 1, k=5).gallery) == [2, 0, 4]
    assert list(r.ranking("net", ("toy", "regdb", 0), 1, k=5).gallery) == [1, 2, 0, 4, 3]
    top2 = r.ranking("net", ("toy", "sysu", 0), 1, k=2)
    assert list(top2.gallery) == [2, 0] and list(top2.matches) == [False, True]
    assert top2.distances == pytest.approx([1 - math.cos(math.radians(10)), 1 - math.cos(math.radians(30))],
                                           abs=1e-6)


def test_ap_and_inp_by_hand(setup):
    r, _ = setup
    sysu = ("toy", "sysu", 0)
    # q0 (cam6) ranks g1 g2 g0 g4 g3: identity-1 images at ranks 1, 3, 4
    q0 = r.ranking("net", sysu, 0, k=5)
    assert q0.ap == pytest.approx((1 / 1 + 2 / 3 + 3 / 4) / 3) and q0.inp == pytest.approx(3 / 4)
    # q1 (cam3) ranks g2 g0 g4: identity-1 images at ranks 2 and 3
    q1 = r.ranking("net", sysu, 1, k=5)
    assert q1.ap == pytest.approx((1 / 2 + 2 / 3) / 2) and q1.inp == pytest.approx(2 / 3)
    q2 = r.ranking("net", sysu, 2, k=5)   # no true match: nothing to score
    assert math.isnan(q2.ap) and math.isnan(q2.inp) and not q2.matches.any()


def test_query_order_filters_and_hardest_first(setup):
    r, _ = setup
    sysu = ("toy", "sysu", 0)
    assert r.queries("net", sysu) == [0, 1, 2]
    assert r.queries("net", sysu, hardest_first=True) == [1, 0, 2]   # AP 0.58, 0.81, then no match last
    assert r.queries("net", sysu, identity=1) == [0, 1]
    assert r.queries("net", sysu, camera=3) == [1, 2]
    assert r.queries("net", sysu, identity=1, camera=3, hardest_first=True) == [1]


def test_unlabelled_split_ranks_without_scores(setup):
    r, _ = setup
    key = ("toy", "unlabelled", 0)
    top = r.ranking("net", key, 1, k=5)
    assert list(top.gallery) == [1, 2, 0, 4, 3]   # distance alone, no camera rule
    assert not top.matches.any() and math.isnan(top.ap) and math.isnan(top.inp)
    assert r.queries("net", key, hardest_first=True) == [0, 1, 2]   # all NaN: the folder order


def test_features_are_extracted_once_across_splits(setup):
    r, calls = setup
    for key in (("toy", "sysu", 0), ("toy", "regdb", 0), ("toy", "unlabelled", 0)):
        r.ranking("net", key, 0, k=3)
        r.evaluated("net", key)
    paths = [p for call in calls for p in call]
    assert len(calls) == 2 and sorted(paths) == sorted({p for call in calls for p in call})
    assert len(paths) == len(QUERY) + len(GALLERY)
    ev = r.evaluated("net", ("toy", "sysu", 0))
    assert ev.distmat.shape == (3, 5) and r.evaluated("net", ("toy", "sysu", 0)) is ev


def test_cam_layers_offer_one_stem():
    r = Retrieval({"net": _Net()}, {("t", "regdb", 0): Split([], [], "regdb")}, transform=None)
    assert r.cam_layers("net") == ["stem", "layer3", "mca.layer3", "layer4"]


def test_thumbnail_is_a_png_at_the_size_asked(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.full((40, 20, 3), 200, dtype=np.uint8)).save(path)
    rec = Record(str(path), 1, 1, "visible")
    r = Retrieval({"net": _Net()}, {("t", "regdb", 0): Split([rec], [rec], "regdb")}, transform=None)
    png = r.thumbnail(rec, (32, 16))
    path.unlink()   # the second call comes from the cache
    assert r.thumbnail(rec, (32, 16)) == png
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG" and img.size == (16, 32)


def test_bad_construction():
    with pytest.raises(ValueError, match="at least one model"):
        Retrieval({}, {("t", "regdb", 0): Split([], [], "regdb")}, transform=None)
    with pytest.raises(ValueError, match="at least one split"):
        Retrieval({"net": _Net()}, {}, transform=None)


def test_needs_no_widgets():
    code = "import sys, vireid_lib.retrieval; assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dataset_splits_read_both_layouts(tmp_path):
    generate("regdb", tmp_path / "regdb", identities=4, seed=0)
    splits = DatasetSplits(regdb_root=tmp_path / "regdb")
    assert len(splits) == 20 and ("regdb", "t2v", 10) in splits
    s = splits["regdb", "t2v", 3]
    assert s.protocol == "regdb" and {r.modality for r in s.query} == {"infrared"}
    assert {r.modality for r in s.gallery} == {"visible"}
    with pytest.raises(KeyError):
        splits["sysu", "all", 0]
    with pytest.raises(ValueError, match="at least one"):
        DatasetSplits()


def test_from_checkpoints_browses_the_synthetic_size_the_checkpoints_were_trained_on(monkeypatch):
    import dataclasses

    from vireid_lib import retrieval
    from vireid_lib.presets import preset

    smoke_cfg = preset("cpu-demo")
    smoke_cfg = dataclasses.replace(smoke_cfg, data=dataclasses.replace(smoke_cfg.data, synthetic_smoke=True))
    full_cfg = preset("cpu-demo")
    stored = {"a.pt": smoke_cfg, "b.pt": smoke_cfg, "c.pt": full_cfg}
    monkeypatch.setattr(retrieval, "load_model", lambda path: (nn.Identity(), stored[str(path)]))
    roots = []
    monkeypatch.setattr(retrieval, "synthetic_root", lambda layout, smoke: roots.append((layout, smoke)) or layout)
    monkeypatch.setattr(retrieval, "DatasetSplits", lambda sysu, regdb, sysu_trials: (sysu, regdb))

    built = Retrieval.from_checkpoints({"x": "a.pt", "y": "b.pt"})
    assert roots == [("sysu", True), ("regdb", True)]
    assert built.splits == ("sysu", "regdb")
    roots.clear()
    Retrieval.from_checkpoints({"x": "c.pt"})
    assert roots == [("sysu", False), ("regdb", False)]
    with pytest.raises(ValueError, match="tiny smoke data and some were not"):
        Retrieval.from_checkpoints({"x": "a.pt", "y": "c.pt"})
    # given roots, the checkpoints' sizes do not matter
    roots.clear()
    Retrieval.from_checkpoints({"x": "a.pt", "y": "c.pt"}, sysu_root="s", regdb_root="r")
    assert roots == []
