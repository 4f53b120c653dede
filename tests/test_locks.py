"""One writer per folder: a second `vireid synth` or training into a folder in use is refused, naming the
holder (pid, host, since when); a lock record left by a dead process is taken over with a warning."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from vireid_lib.cli import main

HOLDER_FILE, LOCK_FILE = ".vireid.lock.json", ".vireid.lock"   # vireid_lib.locks' names

ROOT = Path(__file__).resolve().parents[1]
HOLD = ("import sys\nfrom vireid_lib.locks import folder_lock\n"
        "with folder_lock(sys.argv[1], 'a test holder'):\n    print('held', flush=True)\n    sys.stdin.read()\n")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@contextmanager
def held_by_another_process(folder: Path):
    """A second process holding ``folder``'s lock until the block ends; yields its pid."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, cwd=ROOT, env=_env())
    try:
        assert p.stdout.readline().strip() == "held"
        yield p.pid
    finally:
        p.stdin.close()
        p.wait(timeout=60)


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    from vireid_lib.locks import FolderInUseError, folder_lock

    with held_by_another_process(tmp_path / "run") as pid:
        record = json.loads((tmp_path / "run" / HOLDER_FILE).read_text())
        assert record["pid"] == pid and record["host"] == socket.gethostname() and record["since"]
        with pytest.raises(FolderInUseError) as e:
            with folder_lock(tmp_path / "run", "training"):
                pass
        message = str(e.value)
        assert f"in use by pid {pid} on {socket.gethostname()} since {record['since']}" in message
        assert "a test holder" in message and "\n" not in message
    # released with its holder: the folder is free again, and the record is gone
    assert not (tmp_path / "run" / HOLDER_FILE).exists()
    with folder_lock(tmp_path / "run", "training"):
        assert json.loads((tmp_path / "run" / HOLDER_FILE).read_text())["pid"] == os.getpid()


def test_a_stale_record_of_a_dead_process_is_taken_over_with_a_warning(tmp_path):
    from vireid_lib.locks import folder_lock

    folder = tmp_path / "run"
    folder.mkdir()
    pid = dead_pid()
    (folder / HOLDER_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                                  "since": "2020-01-01T00:00:00+00:00", "purpose": "training"}))
    with pytest.warns(UserWarning, match=f"stale lock record of pid {pid} .* no longer running"):
        with folder_lock(folder, "training"):
            assert json.loads((folder / HOLDER_FILE).read_text())["pid"] == os.getpid()
    assert not (folder / HOLDER_FILE).exists() and (folder / LOCK_FILE).exists()


def test_a_dead_holder_whose_child_keeps_the_lock_is_named(tmp_path):
    from vireid_lib.locks import FolderInUseError, folder_lock

    folder = tmp_path / "run"
    with held_by_another_process(folder):
        pid = dead_pid()
        (folder / HOLDER_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "T"}))
        with pytest.raises(FolderInUseError, match=f"pid {pid} .*no longer running.*still holds"):
            with folder_lock(folder, "training"):
                pass


def test_the_lock_is_reentrant_within_one_process(tmp_path):
    from vireid_lib.locks import folder_lock

    with folder_lock(tmp_path, "outer"):
        with folder_lock(tmp_path, "inner"):
            pass
        assert json.loads((tmp_path / HOLDER_FILE).read_text())["purpose"] == "outer"
    assert not (tmp_path / HOLDER_FILE).exists()


def test_two_synth_of_different_seeds_into_one_folder_one_wins(tmp_path):
    out = tmp_path / "data"
    procs = [subprocess.Popen([sys.executable, "-m", "vireid_lib.cli", "synth", "--layout", "regdb", "--identities",
                               "30", "--workers", "1", "--seed", str(seed), "--out", str(out)], cwd=ROOT, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    done = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = [rc for rc, _, _ in done]
    assert sorted(codes) == [0, 2], done
    winner, loser = (1, 2) if codes[0] == 0 else (2, 1)
    refusal = done[loser - 1][2]
    assert "is in use by" in refusal or "is not empty" in refusal, refusal
    assert "Traceback" not in refusal
    stats = json.loads((out / "synthetic_stats.json").read_text())
    assert stats["seed"] == winner and f"seed {winner}" in done[winner - 1][1]


def test_synth_into_a_folder_being_generated_is_refused(tmp_path, capsys):
    out = tmp_path / "data"
    with held_by_another_process(out) as pid:
        assert main(["synth", "--layout", "sysu", "--identities", "6", "--workers", "1", "--out", str(out)]) == 2
        assert f"in use by pid {pid}" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, HOLDER_FILE]   # nothing written


def test_training_into_a_run_folder_in_use_is_refused(tmp_path, capsys):
    from test_cli import TINY

    run = tmp_path / "run"
    with held_by_another_process(run) as pid:
        assert main(["train", "--smoke", "--quiet", "--out", str(run), *TINY]) == 2
        err = capsys.readouterr().err
        assert f"in use by pid {pid} on {socket.gethostname()} since" in err and len(err.strip().splitlines()) == 1
        assert not (run / "last.pt").exists() and not (run / "config.json").exists()
