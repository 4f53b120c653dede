"""SYSU-MM01 and RegDB readers on tiny fake trees in the real layouts: records, protocol sampling, errors."""

from __future__ import annotations

import os
import random
import warnings

import pytest

from data_trees import default_sysu, regdb_tree, sysu_tree, write_image
from vireid_lib.config import DataConfig
from vireid_lib.data import RegDB, SYSUMM01, data_root_from_env, open_dataset


@pytest.fixture
def sysu(tmp_path):
    return SYSUMM01(default_sysu(tmp_path / "SYSU-MM01"))


def reference_gallery(root, mode, trial):
    """A literal transcription of the reference protocol's single-shot gallery draw (process_gallery_sysu)."""
    random.seed(trial)
    cams = ["cam1", "cam2", "cam4", "cam5"] if mode == "all" else ["cam1", "cam2"]
    ids = ["%04d" % int(x) for x in (root / "exp" / "test_id.txt").read_text().splitlines()[0].split(",")]
    files = []
    for pid in sorted(ids):
        for cam in cams:
            d = os.path.join(root, cam, pid)
            if os.path.isdir(d):
                files.append(random.choice(sorted(d + "/" + f for f in os.listdir(d))))
    return files


def test_sysu_train_relabels_train_and_val_in_sorted_order(sysu):
    # ids 1, 2, 3 (val) become labels 0, 1, 2; id 2 has 1 visible (cam1) and 1 infrared (cam3) image.
    assert sysu.num_train_ids == 3
    by_label = {}
    for r in sysu.train:
        by_label.setdefault(r.pid, []).append((r.camid, r.modality, os.path.basename(r.path)))
    assert by_label[1] == [(1, "visible", "0001.jpg"), (3, "infrared", "0001.jpg")]
    assert {c for c, _, _ in by_label[2]} == {4, 6}
    assert len(by_label[0]) == 2 + 3 + 2 + 1 + 2 + 2
    assert all(("cam" + str(r.camid)) in r.path for r in sysu.train)


def test_sysu_query_is_every_cam3_cam6_test_image_sorted(sysu):
    q = sysu.query()
    assert [(r.pid, r.camid) for r in q] == [(4, 3)] * 2 + [(4, 6)] * 3 + [(5, 3)] * 2
    assert {r.modality for r in q} == {"infrared"}
    assert [os.path.basename(r.path) for r in q[:2]] == ["0001.jpg", "0002.jpg"]


def test_sysu_single_shot_gallery_cameras_hand_checked(sysu):
    # id 4 has cams 1, 2, 4, 5; id 5 has cams 1, 4, 5 (no cam2): 7 images all-search, 3 indoor-search.
    g = sysu.gallery("all", trial=0)
    assert [(r.pid, r.camid) for r in g] == [(4, 1), (4, 2), (4, 4), (4, 5), (5, 1), (5, 4), (5, 5)]
    assert [(r.pid, r.camid) for r in sysu.gallery("indoor", trial=3)] == [(4, 1), (4, 2), (5, 1)]
    # cam4 of id 4 and cam5 of id 5 hold a single image: the draw is forced.
    assert os.path.basename(g[2].path) == "0001.jpg" and os.path.basename(g[6].path) == "0001.jpg"


@pytest.mark.parametrize("mode", ["all", "indoor"])
def test_sysu_single_shot_gallery_matches_the_reference_draw_trial_for_trial(tmp_path, mode):
    root = sysu_tree(tmp_path / "S", {p: {1: 5 + p, 2: 3, 4: 7, 5: 2 + p, 3: 1, 6: 1} for p in range(1, 9)},
                     train=(1, 2), val=(3,), test=(8, 4, 6, 5, 7))   # unsorted in the file, as allowed
    ds = SYSUMM01(root)
    for trial in range(10):
        assert [r.path for r in ds.gallery(mode, trial=trial)] == reference_gallery(root, mode, trial)
    assert ds.gallery(mode, trial=1) != ds.gallery(mode, trial=2)


def test_sysu_gallery_is_independent_of_the_global_random_state(sysu):
    random.seed(123)
    a = sysu.gallery("all", trial=5)
    random.seed(999)
    assert sysu.gallery("all", trial=5) == a


def test_sysu_multi_shot_takes_ten_distinct_or_all(tmp_path):
    root = sysu_tree(tmp_path / "S", {1: {1: 2, 3: 2}, 2: {1: 2, 3: 1}, 3: {1: 14, 2: 4, 3: 1}},
                     train=(1,), val=(2,), test=(3,))
    ds = SYSUMM01(root)
    g = ds.gallery("all", trial=0, shots=10)
    cam1 = [r.path for r in g if r.camid == 1]
    assert len(cam1) == 10 and len(set(cam1)) == 10
    assert len([r for r in g if r.camid == 2]) == 4   # fewer than 10: all of them
    assert g == ds.gallery("all", trial=0, shots=10) and g != ds.gallery("all", trial=1, shots=10)


def test_sysu_bad_arguments(sysu):
    with pytest.raises(ValueError, match="search mode"):
        sysu.gallery("outdoor")
    with pytest.raises(ValueError, match="shots"):
        sysu.gallery("all", shots=5)


def test_sysu_missing_root_and_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*cam1"):
        SYSUMM01(tmp_path / "nowhere")
    root = default_sysu(tmp_path / "S")
    (root / "exp" / "val_id.txt").unlink()
    with pytest.raises(FileNotFoundError, match="val_id.txt is missing.*comma-separated"):
        SYSUMM01(root)


@pytest.mark.parametrize("text, line", [("1,2\n3,x\n", 2), ("1,,2\n", 1), ("1;2\n", 1)])
def test_sysu_malformed_id_line_names_file_and_line(tmp_path, text, line):
    root = default_sysu(tmp_path / "S")
    (root / "exp" / "train_id.txt").write_text(text)
    with pytest.raises(ValueError, match=rf"train_id.txt:{line}: malformed id"):
        SYSUMM01(root)


def test_sysu_empty_split_file_and_overlapping_splits(tmp_path):
    root = default_sysu(tmp_path / "S")
    (root / "exp" / "test_id.txt").write_text("\n")
    with pytest.raises(ValueError, match="no ids"):
        SYSUMM01(root)
    (root / "exp" / "test_id.txt").write_text("2,4\n")
    with pytest.raises(ValueError, match=r"\[2\].*disjoint"):
        SYSUMM01(root)


def test_sysu_identity_without_infrared_is_skipped_with_a_warning(tmp_path):
    root = sysu_tree(tmp_path / "S", {1: {1: 2, 3: 1}, 2: {1: 2, 4: 1}, 3: {2: 1, 6: 2}, 4: {1: 1, 3: 1}},
                     train=(1, 2), val=(3,), test=(4,))
    with pytest.warns(UserWarning, match=r"skipping 1 training identities.*2 \(no infrared images\)"):
        ds = SYSUMM01(root)
    assert ds.num_train_ids == 2
    assert sorted({(r.pid, r.camid) for r in ds.train}) == [(0, 1), (0, 3), (1, 2), (1, 6)]


def test_sysu_training_identities_without_any_image_folder_are_named(tmp_path):
    # 10 ids asked (train + val), 3 of them (5, 8, 9) have no folder in any camera: 7 used, and the 3 named
    cams = {pid: {1: 1, 3: 1} for pid in (1, 2, 3, 4, 6, 7, 10, 11)}
    root = sysu_tree(tmp_path / "S", cams, train=(1, 2, 3, 4, 5, 6, 7, 8), val=(9, 10), test=(11,))
    with pytest.warns(UserWarning) as record:
        ds = SYSUMM01(root)
    assert ds.num_train_ids == 7
    messages = [str(w.message) for w in record]
    assert any("skipping 3 training identities listed in exp/train_id.txt or val_id.txt without any image" in m
               and m.endswith(": 5, 8, 9") for m in messages), messages


def test_sysu_no_usable_training_identity_is_an_error(tmp_path):
    root = sysu_tree(tmp_path / "S", {1: {1: 2}, 2: {3: 1}, 3: {1: 1, 3: 1}}, train=(1,), val=(2,), test=(3,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="no training identity has both"):
            SYSUMM01(root)


def test_regdb_records_and_directions(tmp_path):
    ds = RegDB(regdb_tree(tmp_path / "RegDB"), trial=3)
    assert ds.num_train_ids == 2
    assert sorted({r.pid for r in ds.train}) == [0, 1]   # idx labels 0 and 2 relabelled
    assert sum(r.modality == "visible" for r in ds.train) == 6
    q, g = ds.query("v2t"), ds.gallery("v2t")
    assert {r.modality for r in q} == {"visible"} and {r.modality for r in g} == {"infrared"}
    assert {r.camid for r in q} == {1} and {r.camid for r in g} == {2}
    assert [r.pid for r in q] == [1, 1, 1, 3, 3, 3]   # test labels kept from the idx file
    assert ds.query("t2v") == g and ds.gallery("t2v") == q
    assert os.path.isfile(q[0].path)
    with pytest.raises(ValueError, match="direction"):
        ds.query("rgb")


@pytest.mark.parametrize("trial", [0, 11, "1", 1.0, True])
def test_regdb_trial_outside_1_to_10(tmp_path, trial):
    with pytest.raises(ValueError, match="1..10"):
        RegDB(regdb_tree(tmp_path / "R"), trial=trial)


def test_regdb_missing_root_idx_and_image(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*idx"):
        RegDB(tmp_path / "none", 1)
    root = regdb_tree(tmp_path / "R")
    (root / "idx" / "test_thermal_2.txt").unlink()
    with pytest.raises(FileNotFoundError, match="test_thermal_2.txt is missing"):
        RegDB(root, 2)
    os.unlink(root / "Visible" / "1" / "male_front_v_00102_2.bmp")
    with pytest.raises(FileNotFoundError, match=r"train_visible_1.txt:2: image .* does not exist"):
        RegDB(root, 1)


@pytest.mark.parametrize("bad", ["Visible/1/a.bmp", "Visible/1/a.bmp zero", "Visible/1/a.bmp 1 2"])
def test_regdb_malformed_idx_line_names_file_and_line(tmp_path, bad):
    root = regdb_tree(tmp_path / "R")
    path = root / "idx" / "train_thermal_4.txt"
    lines = path.read_text().splitlines()
    lines[3] = bad
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"train_thermal_4.txt:4: malformed line"):
        RegDB(root, 4)


def test_regdb_identity_with_one_modality_is_skipped(tmp_path):
    root = regdb_tree(tmp_path / "R")
    path = root / "idx" / "train_thermal_1.txt"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.endswith(" 2")) + "\n")
    with pytest.warns(UserWarning, match=r"2 \(no infrared images\)"):
        ds = RegDB(root, 1)
    assert ds.num_train_ids == 1


def test_data_root_from_env(tmp_path, monkeypatch):
    monkeypatch.delenv("VIREID_DATA", raising=False)
    assert data_root_from_env("sysu") is None
    (tmp_path / "RegDB").mkdir()
    monkeypatch.setenv("VIREID_DATA", str(tmp_path))
    assert data_root_from_env("regdb") == str(tmp_path / "RegDB")
    with pytest.warns(UserWarning, match="no SYSU-MM01/"):
        assert data_root_from_env("sysu") is None
    monkeypatch.setenv("VIREID_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        data_root_from_env("regdb")
    with pytest.raises(ValueError, match="unknown dataset"):
        data_root_from_env("market")


def test_open_dataset_real_roots(tmp_path):
    s = open_dataset(DataConfig(dataset="sysu", root=str(default_sysu(tmp_path / "S"))))
    assert isinstance(s, SYSUMM01) and s.num_train_ids == 3
    r = open_dataset(DataConfig(dataset="regdb", root=str(regdb_tree(tmp_path / "R")), trial=7))
    assert isinstance(r, RegDB) and r.trial == 7
    with pytest.raises(ValueError, match="1..10"):
        open_dataset(DataConfig(dataset="regdb", root=str(tmp_path / "R"), trial=12))


def test_summary_tables(sysu, tmp_path):
    assert "gallery:indoor" in sysu.summary() and "query" in sysu.summary()
    assert "RegDB trial 1" in RegDB(regdb_tree(tmp_path / "R"), 1).summary()


def test_write_image_helper_round_trips(tmp_path):
    from PIL import Image
    p = write_image(tmp_path / "x.jpg", 77)
    assert Image.open(p).size == (8, 16)
