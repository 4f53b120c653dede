"""Atomic writes: a file is either its old content or its complete new content, never a torn mix.

The temporary file of a write is named ``.<name>.<pid>@<host>.<random>.tmp`` beside its destination, so the
next start can tell the debris of a killed writer (its process is gone) from a write in progress
(:func:`remove_stale_temps`). The finished file gets the permissions a plain ``open()`` would give it
(``0o666`` less the umask), not the temporary file's private ``0o600``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

_TEMP = re.compile(r"^\..+\.(?P<pid>\d+)@(?P<host>[^/]+)\.[^.]+\.tmp$")


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back (a thread creating a file in between
    # would get mode 0o666; this library writes no files from other threads)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Write ``path`` atomically: ``write(f)`` fills a temporary file in the same folder, which is flushed,
    fsynced and renamed over ``path``. A crash at any moment leaves the previous file intact. The file's
    permissions follow the umask, as with ``open(path, "w")``.

    Args:
        path: destination file; its folder is created if missing.
        write: called with the open temporary file object.
        mode: ``"wb"`` or ``"w"``.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}@{socket.gethostname()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write an object as indented JSON atomically (see :func:`atomic_write`)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's live process
        return True
    return True


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temporary files that killed writers of :func:`atomic_write` left in ``folder``.

    A temporary file is stale when it names this host and a process that no longer exists. Files of another
    host (a shared file system) and of live processes are left alone, as is anything not named like one.

    Returns:
        The files removed (a warning names them too).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    host, removed = socket.gethostname(), []
    for p in folder.glob(".*.tmp"):
        m = _TEMP.match(p.name)
        if m and m["host"] == host and not _alive(int(m["pid"])):
            p.unlink(missing_ok=True)
            removed.append(p)
    if removed:
        warnings.warn(f"removed {len(removed)} temporary file(s) left by a killed write in {folder}: "
                      f"{', '.join(p.name for p in removed[:5])}", stacklevel=2)
    return removed
