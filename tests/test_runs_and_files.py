"""What a run leaves behind and where: resume notices, torn logs, temporary files of killed writers, file
permissions, the runs folder; and the checks made when a reader or a training loader opens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from test_bad_inputs import sets
from data_trees import default_sysu, regdb_tree, sysu_tree
from vireid_lib.cli import main
from vireid_lib.config import DataConfig
from vireid_lib.data import RegDB, SYSUMM01, build_train_loader
from vireid_lib.io import atomic_write_json, atomic_write_text
from vireid_lib.runs import read_log, runs_dir


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _temp(folder: Path, pid: int, host: str | None = None) -> Path:
    """A temporary file named as :func:`atomic_write` names them."""
    p = folder / f".last.pt.{pid}@{host or socket.gethostname()}.k2x9qa_1.tmp"
    p.write_bytes(b"half a checkpoint")
    return p


def test_a_resumed_run_says_so_drops_a_torn_log_line_and_cleans_dead_writers_temps(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--smoke", "--quiet", "--no-eval", "--out", str(out), *sets()]) == 0
    whole = (out / "log.jsonl").read_text()
    with open(out / "log.jsonl", "a") as f:
        f.write('{"event": "step", "epo')       # a crash mid-line
    dead, alive = _temp(out, _dead_pid()), _temp(out, os.getpid())
    other_host = _temp(out, _dead_pid(), host="another-host.example")
    capsys.readouterr()
    with pytest.warns(UserWarning) as seen:
        assert main(["train", "--smoke", "--quiet", "--no-eval", "--out", str(out), *sets()]) == 0
    err = capsys.readouterr().err
    assert f"resuming from epoch 1 of 1 (run folder {out})" in err     # with --quiet
    messages = [str(w.message) for w in seen]
    assert any(f"{out / 'log.jsonl'}:" in m and "torn last line" in m for m in messages), messages
    assert any("killed write" in m and dead.name in m for m in messages), messages
    assert (out / "log.jsonl").read_text() == whole
    assert not dead.exists() and alive.exists() and other_host.exists()


def test_a_damaged_log_line_before_the_last_is_an_error_naming_it(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"event": "step", "step": 1}\n{"event": "st\n{"event": "step", "step": 2}\n')
    with pytest.raises(ValueError, match=rf"{log}:2: not a JSON log record"):
        read_log(log)
    log.write_text('{"event": "step", "step": 1}\n{"event": "st')
    with pytest.warns(UserWarning, match=rf"{log}:2: dropped a torn last line"):
        assert read_log(log) == [{"event": "step", "step": 1}]


def test_remove_stale_temps_only_takes_dead_local_writers(tmp_path):
    from vireid_lib.io import remove_stale_temps

    dead, alive = _temp(tmp_path, _dead_pid()), _temp(tmp_path, os.getpid())
    unrelated = tmp_path / ".notes.tmp"
    unrelated.write_text("mine")
    with pytest.warns(UserWarning, match="removed 1 temporary"):
        assert remove_stale_temps(tmp_path) == [dead]
    assert alive.exists() and unrelated.exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask_as_open_does(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
        atomic_write_json(tmp_path / "r.json", {"a": 1})
        atomic_write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "t.txt").stat().st_mode & 0o777 == mode


def test_runs_go_to_vireid_runs_else_runs_of_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("VIREID_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runs_dir() == tmp_path / "runs"
    monkeypatch.setenv("VIREID_RUNS", str(tmp_path / "lab"))
    assert runs_dir() == tmp_path / "lab"


def test_ablate_writes_its_results_under_the_runs_folder_and_says_where(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VIREID_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    main(["ablate", "--grid", "parts", "--smoke", "--summary-only", "--quiet", "--seeds", "0"])
    out = capsys.readouterr().out
    assert f"results folder: {tmp_path / 'runs' / 'ablations-smoke'}" in out
    assert (tmp_path / "runs" / "ablations-smoke" / "parts" / "summary.md").is_file()
    assert not (tmp_path / "results").exists()


def test_train_prints_its_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIREID_RUNS", str(tmp_path))
    assert main(["train", "--smoke", "--set", "model.mca_stages=x"]) == 2
    assert f"run folder: {tmp_path / 'cpu-demo'}" not in capsys.readouterr().out  # bad config: nothing yet
    assert main(["train", "--quiet", "--root", str(tmp_path / "nowhere"), *sets()]) == 2
    assert f"run folder: {tmp_path / 'cpu-demo'}" in capsys.readouterr().out


def test_a_test_id_missing_one_modality_is_named_when_the_reader_opens(tmp_path):
    root = sysu_tree(tmp_path / "S", {1: {1: 1, 3: 1}, 2: {1: 1, 3: 1}, 4: {1: 1, 3: 1}, 5: {1: 2}, 6: {3: 1}},
                     train=(1,), val=(2,), test=(4, 5, 6))
    with pytest.warns(UserWarning) as seen:
        SYSUMM01(root)
    messages = " | ".join(str(w.message) for w in seen)
    assert "test ids [5] of exp/test_id.txt have no infrared images" in messages
    assert "test ids [6] of exp/test_id.txt have no visible images" in messages


def test_an_empty_indoor_gallery_is_an_error_when_the_reader_opens(tmp_path):
    root = sysu_tree(tmp_path / "S", {1: {1: 1, 3: 1}, 2: {1: 1, 3: 1}, 4: {4: 1, 3: 1}},
                     train=(1,), val=(2,), test=(4,))
    with pytest.raises(ValueError, match="the indoor-search gallery .* would be empty"):
        SYSUMM01(root)


def test_every_image_is_checked_once_when_the_training_loader_is_built(tmp_path, monkeypatch):
    from vireid_lib.config import TrainConfig
    from vireid_lib.data.validate import check_images

    monkeypatch.setenv("VIREID_CACHE", str(tmp_path / "cache"))
    reader = SYSUMM01(default_sysu(tmp_path / "S"))
    paths = [r.path for r in reader.train + reader.test_images()]
    assert len(reader.test_images()) == 23     # id 4: 3+2+1+4 visible, 2+3 infrared; id 5: 2+3+1 visible, 2 infrared
    assert check_images(paths, tmp_path / "c") == len(set(paths))
    assert check_images(paths, tmp_path / "c") == 0                    # remembered by size and mtime
    bad = Path(reader.test_images()[-1].path)                          # a test image, never drawn by training
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match=rf"cannot read image {bad}: "):
        check_images(paths, tmp_path / "c")
    cfg = DataConfig(height=32, width=16, num_workers=0, cache=False)
    with pytest.raises(ValueError, match=rf"cannot read image {bad}: "):
        build_train_loader(reader, cfg, TrainConfig(ids_per_batch=2, per_modality=2))


def test_regdb_test_images_are_both_directions(tmp_path):
    reader = RegDB(regdb_tree(tmp_path / "R"), trial=1)
    assert sorted(r.path for r in reader.test_images()) == sorted(
        r.path for r in reader.query("v2t") + reader.gallery("v2t"))
    assert len(reader.test_images()) == 12


def test_ctrl_c_on_a_real_training_process_prints_one_line(tmp_path):
    """A real SIGINT, not a simulated one (DataLoader workers, progress bars and all)."""
    import signal
    import time

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    # A terminal's Ctrl-C reaches a process whose SIGINT is at its default; pytest-xdist workers ignore SIGINT,
    # and an ignored signal is inherited, so restore the default in the child (else it never sees the signal).
    proc = subprocess.Popen([sys.executable, "-m", "vireid_lib.cli", "train", "--smoke", "--quiet", "--out", str(out),
                             *sets("train.epochs=1000", "data.num_workers=1")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Interrupt once the first checkpoint exists (a busy machine can take minutes to get there).
        deadline = time.monotonic() + 900
        while not (out / "last.pt").is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None and (out / "last.pt").is_file(), "training wrote no checkpoint in 900 s"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:   # never leave a 1000-epoch training behind
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("vireid train: stopped at epoch ") and "rerun the same command to resume" in last
    assert "Traceback" not in err

