"""Worker processes that end when the process that started them ends.

A pool started by a command must not outlive it: killed with SIGTERM or SIGKILL, the
command takes its workers along. Each worker asks the Linux kernel (``prctl`` with
``PR_SET_PDEATHSIG``) for a SIGTERM when its parent dies; the pool itself is terminated,
not drained, when the command stops on an error or an interrupt.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Pool initializer: ask for SIGTERM when the parent ``parent`` dies (Linux), and end at
    once if it already has."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: workers end when the pool is terminated
        pass
    if os.getppid() != parent:
        os._exit(1)


@contextmanager
def worker_pool(workers: int, start_method: str = "spawn") -> Iterator[multiprocessing.pool.Pool]:
    """A ``multiprocessing`` pool whose workers die with this process; terminated (running
    tasks abandoned) when the block ends, normally or not."""
    context = multiprocessing.get_context(start_method)
    pool = context.Pool(workers, initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


def unordered(pool: multiprocessing.pool.Pool, function: Callable[..., Any],
              arguments: Iterable[tuple]) -> Iterator[tuple[tuple, Any]]:
    """``(arguments, function(*arguments))`` pairs as the workers finish them."""
    yield from pool.imap_unordered(_Star(function), arguments)


class _Star:
    """Picklable ``lambda args: (args, function(*args))``."""

    def __init__(self, function: Callable[..., Any]):
        self.function = function

    def __call__(self, args: tuple) -> tuple[tuple, Any]:
        return args, self.function(*args)
