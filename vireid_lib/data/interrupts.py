"""Ctrl-C and DataLoader workers: an interrupt ends a training or an extraction with the command's one line,
never with a worker's traceback after it.

Two ways a Ctrl-C went wrong with loader workers:

* A worker hands a batch's tensors to the main process as file descriptors, each fetched over a short-lived
  ``multiprocessing`` connection to the worker's resource-sharer thread (torch's default ``file_descriptor``
  sharing strategy). A ``KeyboardInterrupt`` raised in the middle of that exchange leaves the connection half
  open; when it closes, the worker's thread prints an ``EOFError`` (or ``BrokenPipeError``) traceback after
  the "stopped at ..." message. :func:`whole_batches` holds SIGINT for the moment of a fetch and raises the
  interrupt once the batch has arrived.
* A terminal's Ctrl-C reaches the whole process group, workers included; a worker that dies of it makes the
  main process's fetch fail with "DataLoader worker exited unexpectedly" instead of an interrupt. Workers
  started with :func:`worker_ignores_sigint` leave the interrupt to the main process, which stops them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
_END = object()


def worker_ignores_sigint(worker_id: int) -> None:
    """A DataLoader ``worker_init_fn``: the worker ignores SIGINT (the main process takes the interrupt and shuts
    its workers down). Before it runs, a worker started inside :func:`whole_batches` has the held handler of its
    parent, which a first Ctrl-C does not kill; a loader started elsewhere has a few milliseconds unprotected."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def whole_batches(batches: Iterable[T], hold: bool = True) -> Iterator[T]:
    """``batches``, each fetched with SIGINT held when ``hold`` (a loader with workers; with none there is no
    exchange to protect); a Ctrl-C during a fetch raises ``KeyboardInterrupt`` once the fetch has ended, whether
    it ended with a batch or with an error.

    A second Ctrl-C during the same fetch is not held: it raises at once, so a fetch that never ends (a stuck
    worker) can still be stopped. Only the main thread's default SIGINT handler is swapped: where SIGINT is
    ignored (pytest-xdist workers), or a program installed its own handler, or the loop runs off the main
    thread, the batches pass through untouched.
    """
    # A loader starts its workers in iter() (or, behind a progress bar, in the first next()): held there too,
    # so a worker forked then inherits the held handler until its worker_init_fn ignores SIGINT.
    it = _held(lambda: iter(batches), hold)
    while (batch := _held(lambda: next(it, _END), hold)) is not _END:
        yield batch


def _held(call: Callable[[], R], hold: bool) -> R:
    """``call()``, with SIGINT held where the main thread's default handler is set (see :func:`whole_batches`)."""
    if not hold or threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return call()
    caught: list[int] = []

    def held(signum: int, frame: object) -> None:
        caught.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)   # a second Ctrl-C raises at once

    signal.signal(signal.SIGINT, held)
    try:
        result = call()
    except BaseException:
        if caught:   # the fetch failed because of the interrupt (a worker that took it too): the interrupt wins
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt
    return result
