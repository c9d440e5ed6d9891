"""Replacing a file so that a reader sees the old one or the new one, never half of one.

The new content is written to a temporary file in the target's directory, flushed to
disk, then renamed over the target (``os.replace``, atomic on POSIX). What differs is
what a process killed on the way (SIGKILL, the OOM killer, a power cut) leaves behind:

- on Linux the temporary file is unnamed (``O_TMPFILE``): until it is complete it has
  no name in the directory, and a kill leaves nothing there. Once written it is given
  a name (``linkat`` through ``/proc/self/fd``) and renamed over the target at once;
- elsewhere (another system, a filesystem without ``O_TMPFILE``, no ``/proc``) it is a
  named ``.NAME.XXXXXXXX`` file, removed on any exception, but left by a kill.

Either way the target itself is whole: the old file until the rename, the new after.
The steps that create or remove a name in the directory (the link and the rename; a
named file's creation and its rename) hold SIGINT and SIGTERM back until they are done,
so that :mod:`nixk8s.interrupts` stops the command before or after them, never between
a name's creation and the code that removes it.
The file is created 0600, as ``tempfile.mkstemp`` creates it: a compiled spec may hold
literal secrets.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

_MODE = 0o600
# what opening with O_TMPFILE fails with where it is not supported: EISDIR from a
# kernel that predates it, EOPNOTSUPP from a filesystem without it
_UNSUPPORTED = frozenset({errno.EISDIR, errno.EOPNOTSUPP, errno.EINVAL})
_DESCRIPTORS = "/proc/self/fd"

Target = str | os.PathLike[str]


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back while the block runs, delivered when it ends."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover (not POSIX)
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _unnamed_file(directory: str) -> int | None:
    """A file descriptor of a new unnamed file in ``directory``, or None where there is none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir(_DESCRIPTORS):
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY | os.O_CLOEXEC, _MODE)
    except OSError as err:
        if err.errno in _UNSUPPORTED:
            return None
        raise


def _temporary_name(target: str) -> str:
    directory, name = os.path.split(target)
    return os.path.join(directory, f".{name}.{os.urandom(4).hex()}")


def _link_into_place(fd: int, target: str) -> None:
    """Give the unnamed file a temporary name, then rename it over ``target``.

    ``linkat`` cannot replace a file, hence the name in between; it exists only for
    the two system calls, and is removed on any exception. The link is made through
    ``/proc/self/fd`` as a directory: ``os.link`` calls ``linkat`` (which follows the
    magic link to the open file) only when given a directory descriptor; plain
    ``link`` would try to link the magic link itself.
    """
    descriptors = os.open(_DESCRIPTORS, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        while True:
            named = _temporary_name(target)
            try:
                os.link(str(fd), named, src_dir_fd=descriptors, follow_symlinks=True)
                break
            except FileExistsError:
                continue
    finally:
        os.close(descriptors)
    try:
        os.replace(named, target)
    except BaseException:
        _remove(named)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _sync_directory(directory: str) -> None:
    """Flush the rename to disk (best effort: not every system opens a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _replacing_unnamed(fd: int, target: str) -> Iterator[BinaryIO]:
    with os.fdopen(fd, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        with _signals_held():  # linked and renamed, or no name left: never a name alone
            _link_into_place(handle.fileno(), target)


@contextmanager
def _replacing_named(target: str) -> Iterator[BinaryIO]:
    import tempfile  # only where there is no unnamed file

    directory, name = os.path.split(target)
    temporary = None
    try:
        with _signals_held():  # the name exists only once this try can remove it
            fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory or ".")
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        with _signals_held():
            os.replace(temporary, target)
    except BaseException:
        if temporary is not None:
            with _signals_held():
                _remove(temporary)  # gone already where the rename happened
        raise


@contextmanager
def replacing(target: Target) -> Iterator[BinaryIO]:
    """A file to write that replaces ``target`` when the block ends, and nothing if it
    raises (an exception, or SIGINT and SIGTERM through :mod:`nixk8s.interrupts`).

    The directory is created if it is missing.
    """
    path = os.fspath(target)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd = _unnamed_file(directory)
    with _replacing_named(path) if fd is None else _replacing_unnamed(fd, path) as handle:
        yield handle
    _sync_directory(directory)


def write_atomically(target: Target, data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old file or the new one, never half.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_atomically(os.path.join(d, "f"), b"new")
    ...     sorted(os.listdir(d)), open(os.path.join(d, "f"), "rb").read()
    (['f'], b'new')
    """
    with replacing(target) as handle:
        handle.write(data)
