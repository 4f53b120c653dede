"""Batches fetched whole: a Ctrl-C that arrives while a batch is coming from DataLoader workers is taken once
the batch has arrived.

Why: a worker hands a batch's tensors to the main process as file descriptors, each fetched over a short-lived
``multiprocessing`` connection to the worker's resource-sharer thread (torch's default ``file_descriptor``
sharing strategy). A ``KeyboardInterrupt`` raised in the middle of that exchange leaves the connection half
open; when it closes, the worker's thread prints an ``EOFError`` traceback after the command's one-line
"stopped at ..." message. Holding SIGINT for the few milliseconds of a fetch closes that window; the
interrupt is then raised in the main process exactly as Python would have raised it.

Only the main thread's default SIGINT handler is swapped: where SIGINT is ignored (pytest-xdist workers), or a
program installed its own handler, or the loop runs off the main thread, the batches pass through untouched.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def whole_batches(batches: Iterable[T]) -> Iterator[T]:
    """``batches``, each fetched with SIGINT held; a Ctrl-C during a fetch raises ``KeyboardInterrupt`` after it.

    A second Ctrl-C during the same fetch changes nothing (one interrupt is raised); a fetch that raises
    its own error raises that error.
    """
    it = iter(batches)
    while (batch := _fetch(it)) is not _END:
        yield batch


def _fetch(it: Iterator[T]) -> T | object:
    """``next(it)`` (``_END`` when exhausted), with SIGINT held where the main thread's default handler is set."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return next(it, _END)
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        batch = next(it, _END)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt
    return batch
