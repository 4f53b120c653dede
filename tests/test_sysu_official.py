"""The official SYSU-MM01 gallery splits (exp/rand_perm_cam.mat) on a small tree with a .mat written here."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from test_eval_extract import HalvesNet, to_tensor
from test_eval_protocols import _direct

from vireid_lib.config import EvalConfig
from vireid_lib.data import SYSUMM01, synthetic
from vireid_lib.data.sysu_official import load_rand_perm, official_gallery_names, resolve_protocol
from vireid_lib.evaluation.protocols import evaluate_sysu


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("sysu") / "SYSU-MM01"
    synthetic.generate("sysu", root, identities=10, seed=3, workers=1, smoke=True)
    return root


def _numbers(root, cam, pid):
    folder = Path(root) / f"cam{cam}" / f"{pid:04d}"
    return sorted(int(p.stem) for p in folder.iterdir()) if folder.is_dir() else []


def write_perm(root, path=None, max_pid=None):
    """A rand_perm_cam.mat in the dataset's layout: per camera a cell of per-identity (10, n) 1-based image
    numbers, row t a permutation drawn here; an empty matrix where the identity has no image."""
    reader = SYSUMM01(root)
    max_pid = max_pid or max(reader.test_ids + reader.train_ids)
    perm = np.empty((6, 1), dtype=object)
    truth = {}
    for cam in range(1, 7):
        cell = np.empty((max_pid, 1), dtype=object)
        for pid in range(1, max_pid + 1):
            nums = _numbers(root, cam, pid)
            if not nums:
                cell[pid - 1, 0] = np.zeros((0, 0))
                continue
            rng = np.random.RandomState(1000 * cam + pid)
            rows = np.stack([rng.permutation(nums) for _ in range(10)]).astype(float)  # MATLAB stores doubles
            cell[pid - 1, 0] = rows
            truth[cam, pid] = rows.astype(int)
        perm[cam - 1, 0] = cell
    path = path or Path(root) / "exp" / "rand_perm_cam.mat"
    scipy.io.savemat(str(path), {"rand_perm_cam": perm})
    return truth


def test_official_gallery_is_the_first_shots_of_each_permutation_row(tree):
    truth = write_perm(tree)
    reader = SYSUMM01(tree)
    for mode, cams in (("all", (1, 2, 4, 5)), ("indoor", (1, 2))):
        for trial in (0, 7):
            for shots in (1, 10):
                expected = [str(tree / f"cam{cam}" / f"{pid:04d}" / f"{n:04d}")
                            for cam in cams for pid in reader.test_ids if (cam, pid) in truth
                            for n in truth[cam, pid][trial][:shots]]
                got = [str(Path(r.path).with_suffix("")) for r in
                       reader.gallery(mode, trial=trial, shots=shots, protocol="official")]
                assert got == expected
                assert all(Path(r.path).parent.parent.name == f"cam{r.camid}" for r in
                           reader.gallery(mode, trial=trial, shots=shots, protocol="official"))
    # it is not the reference draw
    assert [r.path for r in reader.gallery("all", 0, protocol="official")] != \
        [r.path for r in reader.gallery("all", 0)]


def test_evaluate_sysu_names_the_protocol_and_uses_the_official_draw(tree):
    write_perm(tree)
    reader = SYSUMM01(tree)
    cfg = EvalConfig(batch_size=8, flip=True)
    auto = evaluate_sysu(HalvesNet(), reader, cfg, modes=("all",), trials=2, transform=to_tensor, progress=False)
    assert auto["gallery"] == "official"
    for t in range(2):
        direct = _direct(HalvesNet(), reader.query(), reader.gallery("all", t, protocol="official"), "sysu")
        assert auto["all"]["per_trial"][t]["mAP"] == pytest.approx(direct["mAP"], abs=1e-6)
    ref = evaluate_sysu(HalvesNet(), reader, EvalConfig(batch_size=8, flip=True, sysu_gallery="reference"),
                        modes=("all",), trials=1, transform=to_tensor, progress=False)
    assert ref["gallery"] == "reference"
    direct = _direct(HalvesNet(), reader.query(), reader.gallery("all", 0), "sysu")
    assert ref["all"]["per_trial"][0]["mAP"] == pytest.approx(direct["mAP"], abs=1e-6)
    multi = evaluate_sysu(HalvesNet(), reader, EvalConfig(batch_size=8, flip=True, sysu_gallery="official"),
                          modes=("indoor",), trials=1, shots=10, transform=to_tensor, progress=False)
    direct = _direct(HalvesNet(), reader.query(), reader.gallery("indoor", 0, 10, protocol="official"), "sysu")
    assert multi["gallery"] == "official" and multi["shots"] == 10
    assert multi["indoor"]["per_trial"][0]["mAP"] == pytest.approx(direct["mAP"], abs=1e-6)


def test_protocol_resolution_and_errors(tmp_path, tree):
    assert resolve_protocol("auto", tmp_path) == "reference"
    assert resolve_protocol("auto", None) == "reference"
    assert resolve_protocol("reference", tree) == "reference"
    with pytest.raises(FileNotFoundError, match="sysu_gallery=reference"):
        resolve_protocol("official", tmp_path)
    with pytest.raises(ValueError, match="sysu_gallery must be"):
        resolve_protocol("random", tree)
    with pytest.raises(FileNotFoundError, match="rand_perm_cam"):
        load_rand_perm(tmp_path / "missing.mat")
    junk = tmp_path / "junk.mat"
    junk.write_text("not a mat file")
    with pytest.raises(ValueError, match="not a MATLAB file"):
        load_rand_perm(junk)
    scipy.io.savemat(str(tmp_path / "other.mat"), {"something": np.zeros(3)})
    with pytest.raises(ValueError, match="rand_perm_cam"):
        load_rand_perm(tmp_path / "other.mat")


def test_official_errors_name_the_problem(tree):
    write_perm(tree)
    perm = load_rand_perm(tree / "exp" / "rand_perm_cam.mat")
    reader = SYSUMM01(tree)
    pid = next(p for p in reader.test_ids if perm[0][p - 1].size)
    with pytest.raises(ValueError, match="trial 10 is outside"):
        official_gallery_names(perm, (1,), [pid], 10, 1)
    with pytest.raises(ValueError, match="beyond them"):
        official_gallery_names(perm, (1,), [10_000], 0, 1)
    # a permutation naming an image the identity's folder lacks
    perm[0][pid - 1][:] = 9999
    reader.__dict__["_rand_perm"] = perm  # the reader's cached permutations
    with pytest.raises(ValueError, match="does not hold"):
        reader.gallery("all", 0, protocol="official")
    with pytest.raises(ValueError, match="unknown SYSU-MM01 gallery protocol"):
        reader.gallery("all", 0, protocol="mpanet")
