"""group_by_identity against hand-made record lists."""

from vireid_lib.data.records import Record, group_by_identity


def _r(pid, camid, modality, i):
    return Record(path=f"/x/{pid}/{i}.jpg", pid=pid, camid=camid, modality=modality)


def test_groups_keep_input_order_and_sort_identities():
    records = [_r(7, 1, "visible", 0), _r(2, 3, "infrared", 1), _r(7, 3, "infrared", 2), _r(2, 1, "visible", 3),
               _r(7, 4, "visible", 4)]
    groups = group_by_identity(records)
    assert list(groups) == [2, 7]
    assert [r.path for r in groups[2]] == ["/x/2/1.jpg", "/x/2/3.jpg"]
    assert [r.path for r in groups[7]] == ["/x/7/0.jpg", "/x/7/2.jpg", "/x/7/4.jpg"]
    assert sum(map(len, groups.values())) == len(records)


def test_empty_and_generator_input():
    assert group_by_identity([]) == {}
    assert list(group_by_identity(_r(p, 1, "visible", p) for p in (3, 1, 2))) == [1, 2, 3]
