"""The synthetic visible/infrared generator: layouts, determinism, modality properties, the cache."""

from __future__ import annotations

import hashlib
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vireid_lib.config import DataConfig
from vireid_lib.data import RegDB, SYSUMM01, open_dataset, synthetic
from vireid_lib.locks import is_lock_file


def tree_hashes(root: Path) -> dict[str, str]:
    """The dataset's files by hash (not the folder's lock, an empty file that every generation leaves)."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not is_lock_file(p.name)}


@pytest.fixture(scope="module")
def sysu_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn") / "sysu"
    synthetic.generate("sysu", out, identities=10, seed=3, workers=1, smoke=True)
    return out


@pytest.fixture(scope="module")
def regdb_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn") / "regdb"
    synthetic.generate("regdb", out, identities=6, seed=3, workers=1)
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, sysu_tree):
    synthetic.generate("sysu", tmp_path / "again", identities=10, seed=3, workers=1, smoke=True)
    assert tree_hashes(tmp_path / "again") == tree_hashes(sysu_tree)
    synthetic.generate("sysu", tmp_path / "other", identities=10, seed=4, workers=1, smoke=True)
    other = tree_hashes(tmp_path / "other")
    same = tree_hashes(sysu_tree)
    shared = set(other) & set(same) - {synthetic.STATS_FILE}
    assert sum(other[k] == same[k] for k in shared) == 0


def test_worker_count_does_not_change_the_bytes(tmp_path, regdb_tree, monkeypatch):
    monkeypatch.setattr(synthetic, "MIN_IMAGES_FOR_POOL", 0)   # use the process pool even for a tiny set
    synthetic.generate("regdb", tmp_path / "two", identities=6, seed=3, workers=2)
    assert tree_hashes(tmp_path / "two") == tree_hashes(regdb_tree)


def test_sysu_layout(sysu_tree):
    ids = {s: [int(x) for x in (sysu_tree / "exp" / f"{s}_id.txt").read_text().strip().split(",")]
           for s in ("train", "val", "test")}
    assert sorted(sum(ids.values(), [])) == list(range(1, 11))
    folders = {(int(d.parent.name[3:]), int(d.name)) for d in sysu_tree.glob("cam*/*")}
    test = ids["test"]
    for cam in range(1, 7):
        assert any((cam, p) in folders for p in test)          # every camera among the test ids
    assert any(sum((c, p) in folders for c in range(1, 7)) < 6 for p in test)   # some ids miss cameras
    for cam, pid in folders:
        names = sorted(f.name for f in (sysu_tree / f"cam{cam}" / f"{pid:04d}").iterdir())
        assert names == [f"{k:04d}.jpg" for k in range(1, len(names) + 1)]
    img = Image.open(next(sysu_tree.glob("cam3/*/0001.jpg")))
    assert img.format == "JPEG" and img.mode == "RGB" and img.size == (64, 128)
    ds = SYSUMM01(sysu_tree)
    assert ds.num_train_ids == len(ids["train"]) + len(ids["val"])
    stats = synthetic.read_stats(sysu_tree)
    assert stats["query"] == len(ds.query()) and stats["gallery_single_shot_all"] == len(ds.gallery("all"))
    assert "query" in synthetic.format_stats(stats)


def test_infrared_has_three_identical_channels_and_visible_has_colour(sysu_tree):
    for path in list(sysu_tree.glob("cam[36]/*/*.jpg"))[:10]:
        a = np.asarray(Image.open(path).convert("RGB")).astype(int)
        assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2])
    a = np.asarray(Image.open(next(sysu_tree.glob("cam1/*/*.jpg")))).astype(int)
    assert np.abs(a[..., 0] - a[..., 2]).mean() > 3


def test_regdb_layout(regdb_tree):
    for modality in ("Visible", "Thermal"):
        for pid in range(1, 7):
            files = list((regdb_tree / modality / str(pid)).iterdir())
            assert len(files) == 10 and all(f.suffix == ".bmp" for f in files)
    assert Image.open(next(regdb_tree.glob("Visible/1/*.bmp"))).format == "BMP"
    splits = []
    for t in range(1, 11):
        ds = RegDB(regdb_tree, t)
        train = {Path(r.path).parent.name for r in ds.train}
        test = {Path(r.path).parent.name for r in ds.query("v2t")}
        assert len(train) == 3 and len(test) == 3 and not train & test
        assert len(ds.query("v2t")) == len(ds.gallery("v2t")) == 30
        splits.append(frozenset(train))
    assert len(set(splits)) > 1                                  # a random half per trial


def test_garment_ir_mixes_luminance_and_the_fabrics_own_response():
    # Hand-worked: white has luma 1, so 0.7 * 1 + 0.3 * 0.2; flipped, 0.7 * (1 - 1) + 0.3 * 0.2.
    assert synthetic.garment_ir((1.0, 1.0, 1.0), 0.2, False, 0.7) == pytest.approx(0.76)
    assert synthetic.garment_ir((1.0, 1.0, 1.0), 0.2, True, 0.7) == pytest.approx(0.06)
    # Pure red: luma 0.299.
    assert synthetic.garment_ir((1.0, 0.0, 0.0), 0.5, False, 1.0) == pytest.approx(0.299)
    assert synthetic.garment_ir((1.0, 0.0, 0.0), 0.5, False, 0.0) == pytest.approx(0.5)


def test_identity_names_exactly_the_fabrics_that_flip_and_show():
    # Independent truth: a garment's infrared level is garment_ir of its colour, flipped or not; Identity.flipped
    # must name exactly the shown fabrics whose level is the flipped one.
    c = synthetic.SYNTHETIC_IR_CORRELATION
    people = synthetic.make_identities(600, seed=0)
    for p in people:
        for name, rgb, e, level, shown in (("upper", p.up_rgb, p.up_emissivity, p.up_ir, True),
                                           ("lower", p.low_rgb, p.low_emissivity, p.low_ir, True),
                                           ("upper 2", p.up2_rgb, p.up2_emissivity, p.up2_ir, p.up_pattern != "solid"),
                                           ("lower 2", p.low2_rgb, p.low2_emissivity, p.low2_ir, p.low_pattern != "solid")):
            flipped = synthetic.garment_ir(rgb, e, True, c)
            if abs(flipped - synthetic.garment_ir(rgb, e, False, c)) < 1e-6:
                continue                                    # mid-grey: the two levels cannot be told apart
            own_level = level == pytest.approx(flipped)
            # A second colour cut from the first colour's fabric carries that fabric's level, not its own.
            same_fabric = name.endswith("2") and e == (p.up_emissivity if name == "upper 2" else p.low_emissivity)
            if same_fabric:
                assert name not in p.flipped, (p.pid, name)     # its fabric is the first colour's, named there
            else:
                assert (name in p.flipped) == (shown and own_level), (p.pid, name)
        assert ("bag" in p.flipped) <= (p.bag != "none")    # a bag that is not carried is never named
        assert set(p.flipped) <= set(synthetic.FABRICS)
    share = np.mean([any(f in ("upper", "lower") for f in p.flipped) for p in people])
    expected = 1 - (1 - synthetic.FLIPPED_FABRICS) ** 2     # either of the two main fabrics
    assert abs(share - expected) < 0.03                     # 600 draws: SE about 0.012
    # Shoes are always shown and bags only when carried: each flips at the fabric rate where shown.
    assert abs(np.mean(["shoe" in p.flipped for p in people]) - synthetic.FLIPPED_FABRICS) < 0.025
    carried = [p for p in people if p.bag != "none"]
    assert abs(np.mean(["bag" in p.flipped for p in carried]) - synthetic.FLIPPED_FABRICS) < 0.03


def _luma_ir_correlation(people):
    luma = np.array([synthetic.luma(p.up_rgb) for p in people])
    return np.corrcoef(luma, np.array([p.up_ir for p in people]))[0, 1]


def test_infrared_brightness_follows_visible_luminance_by_the_chosen_correlation():
    hard = synthetic.make_identities(600, seed=0, ir_correlation=synthetic.HARD_IR_CORRELATION)
    assert abs(_luma_ir_correlation(hard)) < 0.1            # the hard setting: independent of the dye
    default = synthetic.make_identities(600, seed=0)
    r = _luma_ir_correlation(default)
    assert 0.3 < r < 0.95                                  # correlated, but flips and fabric keep it below 1
    # A share of fabrics flips: bright in visible, dark in infrared (or the reverse).
    full = synthetic.make_identities(600, seed=0, ir_correlation=1.0)
    flipped = np.mean([abs(p.up_ir - synthetic.luma(p.up_rgb)) > 1e-9 for p in full])
    assert 0 < flipped and abs(flipped - synthetic.FLIPPED_FABRICS) < 0.025   # 600 draws: SE about 0.009
    # Skin and hair (version 3) follow their visible luma like a fabric that never flips.
    assert all(p.skin_heat == pytest.approx(synthetic._garment_heat(synthetic.luma(p.skin_rgb))) for p in full)
    assert all(p.hair_heat == pytest.approx(synthetic._garment_heat(synthetic.luma(p.hair_rgb))) for p in full)
    skin = np.array([[synthetic.luma(p.skin_rgb), p.skin_heat] for p in hard])
    assert abs(np.corrcoef(skin.T)[0, 1]) < 0.15                           # independent in the hard setting
    # Identity attributes other than infrared brightness do not depend on the correlation.
    assert [p.up_rgb for p in hard] == [p.up_rgb for p in default]
    twins = [p for p in default if p.twin_of is not None]
    assert 0.1 < len(twins) / len(default) < 0.3
    assert all(p.up_rgb == default[p.twin_of - 1].up_rgb for p in twins)


def test_ir_correlation_outside_unit_interval_is_refused(tmp_path):
    with pytest.raises(ValueError, match="ir_correlation"):
        synthetic.generate("regdb", tmp_path / "x", identities=4, ir_correlation=1.5)
    with pytest.raises(ValueError, match="ir_correlation"):
        synthetic.make_identities(4, seed=0, ir_correlation=-0.1)


def test_other_ir_correlation_gets_its_own_cache_folder(tmp_path):
    a = synthetic.synthetic_root("regdb", identities=4, seed=1, cache_dir=tmp_path)
    b = synthetic.synthetic_root("regdb", identities=4, seed=1, cache_dir=tmp_path, ir_correlation=0.0)
    assert a != b and b.name.endswith("-irc0.0") and a.name.endswith(f"-irc{synthetic.SYNTHETIC_IR_CORRELATION!r}")
    assert synthetic.read_stats(b)["ir_correlation"] == 0.0
    assert (synthetic.read_stats(a)["ir_correlation"]
            == synthetic.SYNTHETIC_IR_CORRELATION)


def test_outdoor_daylight_changes_only_the_outdoor_visible_cameras(tmp_path, sysu_tree):
    day = tmp_path / "day"
    stats = synthetic.generate("sysu", day, identities=10, seed=3, workers=1, smoke=True, outdoor_daylight=1.0)
    before, after = tree_hashes(sysu_tree), tree_hashes(day)
    assert set(before) == set(after)
    outdoor = {f for f in before if f.startswith(("cam4/", "cam5/"))}
    assert outdoor and all(before[f] != after[f] for f in outdoor)
    assert all(before[f] == after[f] for f in set(before) - outdoor - {synthetic.STATS_FILE})
    assert stats["outdoor_daylight"] == 1.0 and "outdoor_daylight" not in synthetic.read_stats(sysu_tree)


def test_daylight_casts_a_shadow_and_loses_fine_detail():
    grey = np.full((128, 64, 3), 0.5, np.float32)
    for seed in range(5):
        out = synthetic.daylight(grey, 1.0, np.random.default_rng(seed))[..., 0]
        # the shadowed side keeps 0.35..0.65 of the light (a soft edge between; one grey level of rounding)
        assert 0.33 < out.min() / out.max() < 0.67
    person, pose = synthetic.make_identities(1, 0)[0], synthetic.draw_pose(np.random.default_rng(0))
    with pytest.raises(ValueError, match="needs its own daylight_rng"):   # never a shift of the main stream
        synthetic.render(person, pose, synthetic._camera("sysu", 0, 4), np.random.default_rng(0), 1.0)
    stripes = np.zeros((128, 64, 3), np.float32)
    stripes[:, ::2] = 1.0                       # one-pixel stripes: the finest detail an image holds
    out = synthetic.daylight(stripes, 1.0, np.random.default_rng(0))
    assert np.abs(np.diff(out, axis=1)).mean() < 0.5 * np.abs(np.diff(stripes, axis=1)).mean()


def test_outdoor_daylight_is_refused_outside_unit_interval_and_for_regdb(tmp_path):
    with pytest.raises(ValueError, match=r"outdoor_daylight must be in \[0, 1\]"):
        synthetic.generate("sysu", tmp_path / "x", identities=4, outdoor_daylight=1.5)
    with pytest.raises(ValueError, match="SYSU-MM01-layout setting"):
        synthetic.generate("regdb", tmp_path / "y", identities=4, outdoor_daylight=0.5)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_other_outdoor_daylight_gets_its_own_cache_folder(tmp_path):
    a = synthetic.synthetic_root("sysu", identities=4, seed=1, smoke=True, cache_dir=tmp_path)
    b = synthetic.synthetic_root("sysu", identities=4, seed=1, smoke=True, cache_dir=tmp_path, outdoor_daylight=0.5)
    assert b == a.with_name(a.name + "-day0.5")
    assert synthetic.read_stats(b)["outdoor_daylight"] == 0.5


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown layout"):
        synthetic.generate("market", tmp_path / "x")
    with pytest.raises(ValueError, match="at least 4"):
        synthetic.generate("sysu", tmp_path / "x", identities=2)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        synthetic.generate("sysu", tmp_path / "full", identities=4)
    with pytest.raises(FileNotFoundError, match="not a synthetic dataset"):
        synthetic.read_stats(tmp_path)


def _root_in_process(args):
    cache, layout = args
    return str(synthetic.synthetic_root(layout, identities=5, seed=1, cache_dir=cache))


def test_synthetic_root_is_safe_under_concurrent_first_use(tmp_path):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        roots = pool.map(_root_in_process, [(str(tmp_path), "regdb")] * 2)
    assert roots[0] == roots[1]
    root = Path(roots[0])
    assert [p.name for p in root.parent.iterdir()] == [root.name]   # no temporary folder left behind
    assert synthetic.read_stats(root)["ids"] == 5
    assert synthetic.synthetic_root("regdb", identities=5, seed=1, cache_dir=tmp_path) == root


def test_open_dataset_generates_the_synthetic_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("VIREID_CACHE", str(tmp_path))
    ds = open_dataset(DataConfig(dataset="regdb", trial=2, synthetic_identities=4, synthetic_smoke=True))
    assert isinstance(ds, RegDB) and ds.num_train_ids == 2
    assert str(tmp_path) in str(ds.root)


def test_synthetic_root_discards_its_copy_when_another_process_won(tmp_path, monkeypatch):
    real = synthetic.generate

    def racing(layout, out, **kw):
        stats = real(layout, out, **kw)
        winner = (tmp_path / f"synthetic-v{synthetic.GENERATOR_VERSION}"
                  / f"regdb-4ids-seed2-irc{synthetic.SYNTHETIC_IR_CORRELATION!r}")
        real(layout, winner, **kw)          # another process finished first
        (winner / "marker").write_text("winner")
        return stats

    monkeypatch.setattr(synthetic, "generate", racing)
    root = synthetic.synthetic_root("regdb", identities=4, seed=2, cache_dir=tmp_path)
    assert (root / "marker").read_text() == "winner"
    assert [p.name for p in root.parent.iterdir()] == [root.name]
