"""The aligned training dataset and loaders, image loading errors, and the preprocessed image cache."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image
import pytest
import torch

from data_trees import default_sysu, write_image
from vireid_lib.config import DataConfig, TrainConfig
from vireid_lib.data import SYSUMM01, transforms
from vireid_lib.data.cache import ImageCache
from vireid_lib.data.dataset import TrainBatch, build_test_loader, build_train_loader, load_batch, load_image

CFG = DataConfig(dataset="sysu", height=16, width=8, num_workers=0, cache=False)
TRAIN = TrainConfig(ids_per_batch=2, per_modality=3, seed=4)


@pytest.fixture
def sysu(tmp_path, monkeypatch):
    monkeypatch.setenv("VIREID_CACHE", str(tmp_path / "cache"))
    return SYSUMM01(default_sysu(tmp_path / "SYSU-MM01"))


def test_train_loader_yields_aligned_train_batches(sysu):
    loader = build_train_loader(sysu, CFG, TRAIN)
    n_vis = sum(r.modality == "visible" for r in sysu.train)
    assert len(loader) == n_vis // 6
    batch = next(iter(loader))
    assert isinstance(batch, TrainBatch)
    for t in (batch.visible, batch.exchanged, batch.infrared):
        assert t.shape == (6, 3, 16, 8) and t.dtype == torch.float32
    assert batch.labels.tolist()[:3] == [batch.labels[0].item()] * 3
    assert torch.equal(batch.exchanged[:, 0], batch.exchanged[:, 1])   # channel-exchanged copies
    first = next(iter(loader.batch_sampler))
    assert [loader.dataset.visible[p.visible].pid for p in first] == batch.labels.tolist()
    assert [loader.dataset.infrared[p.infrared].pid for p in first] == batch.labels.tolist()


def test_train_loader_is_reproducible_with_the_seed_and_workers(sysu):
    def run(workers, seed):
        cfg = DataConfig(dataset="sysu", height=16, width=8, num_workers=workers, cache=False)
        loader = build_train_loader(sysu, cfg, TrainConfig(ids_per_batch=2, per_modality=3, seed=seed))
        loader.batch_sampler.set_epoch(1)
        return [b.visible for b in loader]

    torch.manual_seed(0)
    a = run(0, 4)
    torch.manual_seed(1)   # the caller's generator does not matter, and is not consumed
    state = torch.random.get_rng_state()
    assert all(torch.equal(x, y) for x, y in zip(a, run(0, 4)))
    assert torch.equal(state, torch.random.get_rng_state())
    assert not all(torch.equal(x, y) for x, y in zip(a, run(0, 5)))
    assert all(torch.equal(x, y) for x, y in zip(a, run(2, 4)))   # worker processes: the same batches


def test_a_training_sample_is_its_pipelines_after_torch_manual_seed_of_the_pair_seed(sysu):
    # The dataset seeds only the CPU generator (cheaper than torch.manual_seed on a CPU-only machine); the
    # sample must be what the three pipelines give after the documented torch.manual_seed(pair seed).
    from vireid_lib import EXCHANGED, INFRARED, VISIBLE
    from vireid_lib.data.sampler import AlignedPair

    dataset = build_train_loader(sysu, CFG, TRAIN).dataset
    vi = 0
    ii = next(i for i, r in enumerate(dataset.infrared) if r.pid == dataset.visible[vi].pid)
    got = dataset[AlignedPair(vi, ii, 1234)]
    vis, ir = load_image(dataset.visible[vi].path), load_image(dataset.infrared[ii].path)
    torch.manual_seed(1234)
    want = (dataset.transforms[VISIBLE](vis), dataset.transforms[EXCHANGED](vis), dataset.transforms[INFRARED](ir))
    assert all(torch.equal(g, w) for g, w in zip(got[:3], want)) and got[3] == dataset.visible[vi].pid
    assert not torch.equal(dataset[AlignedPair(vi, ii, 1235)][0], got[0])


def test_test_loader_keeps_record_order(sysu):
    q = sysu.query()
    images, pids, camids = next(iter(build_test_loader(q, CFG, batch_size=4)))
    assert images.shape == (4, 3, 16, 8)
    assert pids.tolist() == [r.pid for r in q[:4]] and camids.tolist() == [r.camid for r in q[:4]]


def test_load_batch_is_the_test_loaders_images_in_record_order(sysu):
    q = sysu.query()[:4]
    from_loader = next(iter(build_test_loader(q, CFG, batch_size=4)))[0]
    batch = load_batch(q[::-1], transforms.test_transform(CFG.height, CFG.width))
    assert batch.shape == (4, 3, 16, 8)
    assert torch.equal(batch.flip(0), from_loader)  # the same pipeline, in the order given
    with pytest.raises(ValueError, match="no records"):
        load_batch([], transforms.test_transform(CFG.height, CFG.width))


def test_load_image_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg does not exist"):
        load_image(tmp_path / "missing.jpg")
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="cannot read image .*corrupt.jpg"):
        load_image(bad)
    good = write_image(tmp_path / "big.jpg", 100, size=(64, 32))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.jpg"):
        load_image(truncated)
    grey = tmp_path / "grey.png"
    from PIL import Image
    Image.fromarray(np.full((4, 2), 9, np.uint8)).save(grey)
    assert np.asarray(load_image(grey)).shape == (4, 2, 3)


def test_corrupt_training_image_surfaces_with_its_path(sysu):
    path = next(r.path for r in sysu.train if r.modality == "infrared")
    with open(path, "wb") as f:
        f.write(b"garbage")
    # found when the loader is built (a header check of every image), not when the sampler draws it
    with pytest.raises(ValueError, match=f"cannot read image {path}: "):
        build_train_loader(sysu, CFG, TrainConfig(ids_per_batch=3, per_modality=8, seed=0))


def test_cache_matches_decoding_and_rebuilds_on_change(tmp_path):
    paths = [str(write_image(tmp_path / f"{i}.png", 40 * i, size=(20, 10))) for i in range(4)]
    cache = ImageCache.build(paths, 16, 8, tmp_path / "c")
    arr = cache.array()
    assert arr.shape == (4, 16, 8, 3) and arr.dtype == np.uint8
    assert np.all(arr[2] == 80)
    assert np.array_equal(np.asarray(cache[3]), np.asarray(load_image(paths[3]).resize((8, 16))))
    same = ImageCache.build(paths, 16, 8, tmp_path / "c")
    assert same.file == cache.file
    bigger = ImageCache.build(paths, 20, 10, tmp_path / "c")      # new size: rebuilt, stale file removed
    assert bigger.file != cache.file and not cache.file.exists()
    write_image(tmp_path / "1.png", 200, size=(20, 10))
    os.utime(paths[1], ns=(1, 10**18))
    changed = ImageCache.build(paths, 20, 10, tmp_path / "c")     # new source: rebuilt
    assert changed.file != bigger.file and np.all(changed.array()[1] == 200)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [changed.file.name]   # no temporaries left


def test_cache_is_the_same_with_any_number_of_decoding_threads(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        img = Image.fromarray(rng.integers(0, 256, (30, 14, 3), dtype=np.uint8))
        img.save(tmp_path / f"{i}.jpg", quality=90)
        paths.append(str(tmp_path / f"{i}.jpg"))
    one = ImageCache.build(paths, 24, 12, tmp_path / "one", workers=1).array()
    four = ImageCache.build(paths, 24, 12, tmp_path / "four", workers=4).array()
    assert np.array_equal(one, four) and not np.array_equal(one[0], one[1])


def test_cache_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        ImageCache.build([str(tmp_path / "nope.png")], 8, 4, tmp_path / "c")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"xx")
    with pytest.raises(ValueError, match="bad.png"):
        ImageCache.build([str(bad)], 8, 4, tmp_path / "c")
    assert not any((tmp_path / "c").glob("*.npy"))


def test_loaders_with_the_cache_give_the_same_test_images(sysu):
    q = sysu.query()
    plain = next(iter(build_test_loader(q, CFG, batch_size=8)))[0]
    cached = next(iter(build_test_loader(q, DataConfig(dataset="sysu", height=16, width=8, num_workers=0,
                                                       cache=True), batch_size=8)))[0]
    assert torch.equal(plain, cached)
    cfg = DataConfig(dataset="sysu", height=16, width=8, num_workers=0, cache=True)
    batch = next(iter(build_train_loader(sysu, cfg, TRAIN)))
    assert batch.visible.shape == (6, 3, 16, 8)


def test_random_erasing_probability_reaches_the_training_pipelines(sysu):
    """``data.random_erasing`` is the erasing probability of all three pipelines: at 0 a batch equals the
    default config's batch with each erasing step's probability set to 0 by hand; at 1 every image of the
    batch differs from that one."""
    import dataclasses

    def batch(p):
        return next(iter(build_train_loader(sysu, dataclasses.replace(CFG, random_erasing=p), TRAIN)))

    loader = build_train_loader(sysu, CFG, TRAIN)   # the default: CAJ's 0.5
    steps = [t for pipe in loader.dataset.transforms.values() for t in pipe.transforms
             if isinstance(t, transforms.ChannelRandomErasing)]
    assert len(steps) == 3 and {t.probability for t in steps} == {0.5}
    for t in steps:
        t.probability = 0.0
    reference, off, on = next(iter(loader)), batch(0.0), batch(1.0)
    for name in ("visible", "exchanged", "infrared"):
        assert torch.equal(getattr(off, name), getattr(reference, name)), name
        assert (getattr(on, name) != getattr(reference, name)).flatten(1).any(1).all(), name
    with pytest.raises(ValueError, match=r"data.random_erasing must be in \[0, 1\] .*got 1.5"):
        batch(1.5)
