"""Invariants of the cross-modality P x K identity sampler."""

from __future__ import annotations

from collections import Counter

import pytest

from vireid_lib.data.sampler import CrossModalityIdentitySampler


def labels(counts):
    """A label list with ``counts[i]`` images of identity i."""
    return [i for i, n in enumerate(counts) for _ in range(n)]


VIS = labels([6, 5, 9, 4, 2, 7, 8, 5, 3, 6, 5, 4])   # 64 visible images, 12 identities
IR = labels([3, 6, 4, 5, 1, 2, 6, 4, 5, 2, 3, 7])


def make(**kw):
    args = dict(ids_per_batch=4, per_modality=4, seed=0)
    args.update(kw)
    return CrossModalityIdentitySampler(VIS, IR, **args)


def test_batches_are_aligned_identity_contiguous_and_sized():
    s = make()
    batches = list(s)
    assert len(batches) == len(s) == 64 // 16
    for batch in batches:
        assert len(batch) == 16
        v = [VIS[p.visible] for p in batch]
        t = [IR[p.infrared] for p in batch]
        assert v == t                                            # aligned across modalities
        blocks = [v[k:k + 4] for k in range(0, 16, 4)]
        assert all(len(set(b)) == 1 for b in blocks)             # identity-contiguous
        assert len({b[0] for b in blocks}) == 4                  # P distinct identities


def test_replacement_only_when_an_identity_has_fewer_than_k():
    s = make(per_modality=4)
    for epoch in range(10):
        s.set_epoch(epoch)
        for batch in s:
            for k in range(0, 16, 4):
                vis, ir = [p[0] for p in batch[k:k + 4]], [p[1] for p in batch[k:k + 4]]
                pid = VIS[vis[0]]
                assert (len(set(vis)) == 4) or VIS.count(pid) < 4
                assert (len(set(ir)) == 4) or IR.count(pid) < 4
                assert len(set(ir)) <= IR.count(pid)


def test_every_identity_is_used_before_any_repeats():
    s = make(ids_per_batch=3, per_modality=2)   # 64 // 6 = 10 batches, 30 identity slots over 12 ids
    counts = Counter(VIS[b[k][0]] for b in s for k in range(0, 6, 2))
    assert set(counts) == set(range(12)) and max(counts.values()) - min(counts.values()) <= 1


def test_seeded_per_epoch():
    a, b = make(seed=1), make(seed=1)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(make(seed=2)) != list(make(seed=1))


def test_ranks_shard_whole_identities():
    world = 3
    samplers = [make(ids_per_batch=2, rank=r, world_size=world) for r in range(world)]
    for epoch in (0, 4):
        seen = []
        for s in samplers:
            s.set_epoch(epoch)
            seen.append({VIS[p.visible] for batch in s for p in batch})
            assert len(s) == 64 // 8 // world
        for r in range(world):
            for q in range(r + 1, world):
                assert not seen[r] & seen[q]                     # no identity on two ranks in one epoch
    epoch0 = [make(ids_per_batch=2, rank=0, world_size=world)]
    epoch0[0].set_epoch(0)
    later = make(ids_per_batch=2, rank=0, world_size=world)
    later.set_epoch(7)
    assert {VIS[p.visible] for b in epoch0[0] for p in b} != {VIS[p.visible] for b in later for p in b}


def test_augmentation_seeds_differ_within_and_across_epochs():
    s = make()
    first = [p.seed for b in s for p in b]
    s.set_epoch(1)
    second = [p.seed for b in s for p in b]
    assert len(set(first)) == len(first) and not set(first) & set(second)


def test_max_batches_caps_the_epoch():
    assert len(make(max_batches=2)) == 2 and len(list(make(max_batches=2))) == 2
    assert len(make(max_batches=100)) == 4


def test_bad_inputs():
    with pytest.raises(ValueError, match="only one modality"):
        CrossModalityIdentitySampler([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="fewer than ids_per_batch"):
        make(ids_per_batch=5, world_size=3)
    with pytest.raises(ValueError, match="rank"):
        make(rank=2, world_size=2)
    with pytest.raises(ValueError, match="positive"):
        make(per_modality=0)
