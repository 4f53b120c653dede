"""A cheap check of every image a training run will read, once, when the loader is built.

Without it a corrupt file fails only when the sampler first draws it (possibly never, possibly hours in),
deep inside a DataLoader worker. Opening each file's header (PIL reads the format, mode and size, and stops)
costs a small part of a full decode, and a file that passed is remembered by its size and
modification time, so a later run re-checks only new or changed files.

What it cannot see: a file whose header is intact but whose data is truncated (the decoder stops early).
Such a file still fails with one line naming it when it is decoded (``load_image``), during training or
evaluation; ``data.cache=true`` decodes every image once up front and so finds those too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from vireid_lib.io import atomic_write_json

CHECK_VERSION = 1


def _header_ok(path: str) -> str | None:
    """``None`` when the file's image header reads, else the reason it does not."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        return str(e) or type(e).__name__
    return None if width > 0 and height > 0 else f"empty image ({width}x{height})"


def check_images(paths: Iterable[str], cache_dir: str | Path) -> int:
    """Check that every file of ``paths`` exists and has a readable image header.

    Args:
        paths: image files.
        cache_dir: where the record of files that passed is kept (one JSON per list of files).

    Returns:
        How many files were opened (the rest passed before with the same size and modification time).

    Raises:
        FileNotFoundError: an image is missing (named).
        ValueError: an image is not readable (named, with how many others are bad).
    """
    paths = sorted(set(map(str, paths)))
    folder = Path(cache_dir)
    record = folder / f"{hashlib.sha1(chr(10).join(paths).encode()).hexdigest()[:16]}.json"
    try:
        passed = json.loads(record.read_text()) if record.is_file() else {}
        if passed.get("version") != CHECK_VERSION:
            passed = {}
    except (OSError, ValueError):
        passed = {}
    seen = passed.get("files", {})
    stamps, bad = {}, []
    for p in paths:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise FileNotFoundError(f"image {p} does not exist; the dataset changed after it was listed, or "
                                    f"a split file names a file that is not there") from None
        stamps[p] = [st.st_size, st.st_mtime_ns]
        if seen.get(p) != stamps[p] and (reason := _header_ok(p)) is not None:
            bad.append((p, reason))
    opened = sum(seen.get(p) != stamps[p] for p in paths)
    if bad:
        p, reason = bad[0]
        more = f" ({len(bad) - 1} more: {', '.join(b for b, _ in bad[1:4])}{' ...' if len(bad) > 4 else ''})" \
            if len(bad) > 1 else ""
        raise ValueError(f"cannot read image {p}: {reason}{more}. The file is corrupt or not an image; replace "
                         f"it from the original dataset archive")
    if opened:
        atomic_write_json(record, {"version": CHECK_VERSION, "files": stamps})
    return opened
