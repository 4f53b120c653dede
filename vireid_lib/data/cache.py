"""An optional preprocessed image cache: every image resized once to (height, width) and stored as one
memory-mapped ``(N, H, W, 3)`` uint8 ``.npy`` array, as the reference code's ``train_*_resized_img.npy``.

Decoding a JPEG and resizing it dominates a CPU data loader; with the cache a sample is a memory-mapped
slice. The file name holds a hash of the image list and a hash of each file's size and modification time
plus the target size, so a changed source or size gives a different name and the cache is rebuilt (the
stale file of the same image list is removed). Building writes a temporary file renamed into place, so a
crash or a concurrent build never leaves a torn cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from vireid_lib.data.images import load_image, resize_image

CACHE_VERSION = 1


def _list_key(paths: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(paths).encode()).hexdigest()[:16]


def _content_key(paths: Sequence[str], height: int, width: int) -> str:
    h = hashlib.sha1(f"v{CACHE_VERSION} {height}x{width}\n".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


class ImageCache:
    """Resized uint8 images of a fixed list of files, memory-mapped.

    Use :meth:`build` (which reuses a valid cache). Indexing returns a PIL image of size (height, width).
    The array is opened lazily in each process, so DataLoader workers share the page cache instead of
    receiving a pickled copy.
    """

    def __init__(self, file: Path, height: int, width: int, length: int) -> None:
        self.file, self.height, self.width, self._length = Path(file), height, width, length
        self._array: np.ndarray | None = None

    @classmethod
    def build(cls, paths: Sequence[str], height: int, width: int, cache_dir: str | Path,
              workers: int = 2) -> ImageCache:
        """Open the cache of ``paths`` at (height, width) under ``cache_dir``, building it if needed.

        Raises:
            FileNotFoundError: when an image is missing.
            ValueError: when an image is corrupt (the message names it).
        """
        paths = [str(p) for p in paths]
        for p in paths:
            if not os.path.isfile(p):
                raise FileNotFoundError(f"image {p} does not exist; cannot build the image cache")
        folder = Path(cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        prefix = _list_key(paths)
        file = folder / f"{prefix}-{_content_key(paths, height, width)}.npy"
        if not file.is_file():
            fd, tmp = tempfile.mkstemp(prefix=f".{file.stem}.", suffix=".npy", dir=folder)
            os.close(fd)
            try:
                arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                                shape=(len(paths), height, width, 3))

                def fill(i: int) -> None:
                    arr[i] = np.asarray(resize_image(load_image(paths[i]), height, width))

                with ThreadPoolExecutor(max(1, workers)) as pool:   # PIL releases the GIL while decoding
                    list(pool.map(fill, range(len(paths))))
                arr.flush()
                del arr
                os.replace(tmp, file)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            for stale in folder.glob(f"{prefix}-*.npy"):
                if stale != file:
                    stale.unlink(missing_ok=True)
        return cls(file, height, width, len(paths))

    def __len__(self) -> int:
        return self._length

    def array(self) -> np.ndarray:
        """The memory-mapped ``(N, H, W, 3)`` uint8 array."""
        if self._array is None:
            self._array = np.load(self.file, mmap_mode="r")
        return self._array

    def __getitem__(self, i: int) -> Image.Image:
        return Image.fromarray(np.array(self.array()[i]), "RGB")

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}   # workers reopen the map instead of copying it
