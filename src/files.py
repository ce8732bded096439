"""Safe outputs: atomic writers, one writer per output, and checks made before the work.

Every output of the project (jet samples and their shards, model folders, score tables,
benchmark reports) is written through :func:`atomic_file` or :func:`atomic_folder`, so it
appears complete or not at all. A command checks its outputs with :func:`check_output`
before it starts working, and a long run holds :func:`exclusive_lock` on its output so that
a second run on the same output stops with one clear line instead of mixing data.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputError(ValueError):
    """An output that cannot or must not be written; the message names the path."""


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _refuse_special(path: Path) -> None:
    """Refuse an existing output that is not a regular file (a link, FIFO, device, folder)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there (yet)
        return
    if not stat.S_ISREG(mode):
        kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode)
                else "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
                or stat.S_ISBLK(mode) else "not a regular file")
        raise OutputError(f"{path}: exists and is {kind}; refusing to replace it")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files :func:`atomic_file` left for ``path`` in runs that died
    (their process no longer exists); returns what was removed."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.tmp$")
    removed = []
    if path.parent.is_dir():
        for candidate in path.parent.iterdir():
            match = pattern.match(candidate.name)
            if match and not _alive(int(match.group(1))) and candidate.is_file():
                candidate.unlink(missing_ok=True)
                removed.append(candidate)
    return removed


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check an output before the work that makes it, and clear the debris of dead runs.

    Refuses (with :class:`OutputError`) an output that exists and is not a regular file, that
    is one of ``inputs``, or whose folder cannot be created or written (probed by creating a
    file there, which also catches read-only file systems). Removes stale temporaries.
    """
    path = Path(path)
    _refuse_special(path)
    for source in map(Path, inputs):
        if source.resolve() == path.resolve() or (
                source.exists() and path.exists() and os.path.samefile(source, path)):
            raise OutputError(f"{path}: is also an input of this command; choose another output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.probe"):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    remove_stale_temporaries(path)
    return path


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` and move it into place only on success.

    An existing ``path`` that is not a regular file (a link, a FIFO, a device) is refused,
    never replaced.
    """
    path = Path(path)
    _refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        yield tmp
        _refuse_special(path)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder, renamed to ``path`` (replacing what was there) if the block succeeds.

    ``path`` is always either the old complete folder or the new one; on an error the
    temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def exclusive_lock(path: str | os.PathLike, what: str = "another run") -> Iterator[Path]:
    """Hold ``<path>.lock`` (an ``fcntl.flock`` lock) for the block, or stop at once.

    A second process asking for the same lock gets :class:`OutputError` naming ``path`` and
    the holder's pid. The kernel releases the lock when its holder dies, even by SIGKILL, so
    a killed run never blocks the next one. The lock file is removed on release.
    """
    path = Path(path)
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = lock.read_text().strip() if lock.exists() else "?"
            raise OutputError(f"{path}: {what} is writing it (pid {holder or '?'} holds "
                              f"{lock.name}); wait for it to finish") from None
        # the file may have been removed and re-created by a run that just ended: lock the
        # file that is at the path now
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield lock
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)
