"""One writer per folder: an exclusive lock on a run folder while it trains and on a dataset folder while
``vireid synth`` writes it.

The lock is ``filelock.FileLock`` on ``<folder>/.vireid.lock``: an operating-system lock (``flock``) that the
kernel releases when its holder exits, however it exits (``kill -9`` included), so a crash never leaves a
folder locked. Beside it, ``<folder>/.vireid.lock.json`` says who holds it (pid, host, start time, command),
for the refusal message. That record is written after the lock is taken and removed when it is released; a
record left behind by a crashed holder is stale, and the next writer takes over with a warning naming it.

A second writer is refused at once with :class:`FolderInUseError`: "<folder> is in use by pid N on HOST since
T (...)". Locks are re-entrant within one process (``vireid train`` holds its run folder's lock around
``fit``, which takes it too).
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from vireid_lib.io import atomic_write_json

LOCK_FILE = ".vireid.lock"
"""The operating-system lock inside a locked folder (an empty file, kept between runs)."""

HOLDER_FILE = ".vireid.lock.json"
"""Who holds the lock: ``{"pid", "host", "since", "purpose", "command"}``; present only while it is held (or
left by a holder that crashed)."""

RECORD_WAIT_S = 2.0
"""How long a refused writer waits for the holder's record (written just after it locks) to name it."""


def is_lock_file(name: str) -> bool:
    """Whether a file name in a folder belongs to its lock (the lock, its record, the record's temporary)."""
    return name.startswith(LOCK_FILE)


class FolderInUseError(RuntimeError):
    """Another process writes the folder (the message names it: pid, host, since when, what it does)."""


_held: dict[str, list[Any]] = {}  # lock path -> [FileLock, depth]; re-entrancy within this process
_guard = threading.Lock()
if hasattr(os, "register_at_fork"):  # a forked child holds no lock of its parent's
    os.register_at_fork(after_in_child=_held.clear)


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # it exists, under another user
        return True
    except OSError:
        return False
    return True


def read_holder(folder: str | Path) -> dict[str, Any] | None:
    """The holder record of a folder's lock, or ``None`` when there is none (or it is unreadable)."""
    try:
        record = json.loads((Path(folder) / HOLDER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def _describe(record: dict[str, Any]) -> str:
    what = record.get("purpose") or "a vireid command"
    command = record.get("command")
    return (f"pid {record['pid']} on {record.get('host', '?')} since {record.get('since', '?')} "
            f"({what}{f': {command}' if command else ''})")


def _stale(record: dict[str, Any]) -> bool:
    return record.get("host") == socket.gethostname() and not pid_alive(record["pid"])


def busy_message(folder: str | Path) -> str:
    """The one-line refusal for a folder whose lock another process holds."""
    folder = Path(folder)
    record = read_holder(folder)
    deadline = time.monotonic() + RECORD_WAIT_S
    while record is None and time.monotonic() < deadline:   # a holder writes its record just after locking
        time.sleep(0.05)
        record = read_holder(folder)
    if record is None:
        return (f"{folder} is in use by another process (it holds {folder / LOCK_FILE}); wait for it to finish, "
                f"or choose another folder")
    if _stale(record):
        return (f"{folder} is in use: its lock was taken by {_describe(record)}, which is no longer running, but "
                f"a process it started still holds {folder / LOCK_FILE} (`fuser {folder / LOCK_FILE}` names it); "
                f"stop that process, or choose another folder")
    return f"{folder} is in use by {_describe(record)}; wait for it to finish, or choose another folder"


@contextmanager
def folder_lock(folder: str | Path, purpose: str, enabled: bool = True) -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created if missing) for the ``with`` block.

    Args:
        folder: the folder one process writes.
        purpose: what the holder does, for the refusal message (``"training cpu-demo"``).
        enabled: ``False`` takes no lock (distributed ranks other than 0, which write nothing).

    Yields:
        The folder.

    Raises:
        FolderInUseError: another process holds the lock (the message names its pid, host and start time).
    """
    folder = Path(folder)
    if not enabled:
        yield folder
        return
    folder.mkdir(parents=True, exist_ok=True)
    key = str((folder / LOCK_FILE).resolve())
    with _guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield folder
        finally:
            with _guard:
                entry[1] -= 1
        return
    lock = FileLock(key, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderInUseError(busy_message(folder)) from None
    try:
        previous = read_holder(folder)
        if previous is not None and previous.get("pid") != os.getpid():
            warnings.warn(f"{folder}: taking over a stale lock record of {_describe(previous)}, which "
                          f"{'is no longer running' if _stale(previous) else 'no longer holds the lock'}",
                          stacklevel=3)
        atomic_write_json(folder / HOLDER_FILE, {
            "pid": os.getpid(), "host": socket.gethostname(), "since": _now(), "purpose": purpose,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else ""})
        with _guard:
            _held[key] = [lock, 1]
    except BaseException:
        lock.release()
        raise
    try:
        yield folder
    finally:
        with _guard:
            entry = _held[key]
            entry[1] -= 1
            last = entry[1] == 0
            if last:
                del _held[key]
        if last:
            try:
                record = read_holder(folder)
                if record is not None and record.get("pid") == os.getpid():
                    (folder / HOLDER_FILE).unlink(missing_ok=True)
            finally:
                lock.release()
