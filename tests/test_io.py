"""Atomic writes leave either the old file or the complete new one, and no temporary debris."""

import json

import pytest

from vireid_lib.io import atomic_write, atomic_write_json, atomic_write_text


def test_write_replaces_content(tmp_path):
    p = tmp_path / "sub" / "r.json"
    atomic_write_json(p, {"mAP": 0.5})
    atomic_write_json(p, {"mAP": 0.7})
    assert json.loads(p.read_text()) == {"mAP": 0.7}
    assert [q.name for q in p.parent.iterdir()] == ["r.json"]


def test_interrupted_write_keeps_previous_file(tmp_path):
    p = tmp_path / "ckpt.bin"
    atomic_write(p, lambda f: f.write(b"old complete content"))

    def torn(f):
        f.write(b"half of the new")
        raise KeyboardInterrupt  # a kill in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(p, torn)
    assert p.read_bytes() == b"old complete content"
    assert [q.name for q in tmp_path.iterdir()] == ["ckpt.bin"]


def test_text(tmp_path):
    p = atomic_write_text(tmp_path / "a.txt", "héllo\n")
    assert p.read_text() == "héllo\n"
