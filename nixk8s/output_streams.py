"""The command's standard output and error: a failed write is an I/O error, not a bug.

``nixk8s explain > /dev/full`` fails with ENOSPC, ``nixk8s schema | head -1`` with
EPIPE once head has gone: the operator's redirection failed, nothing in nixk8s did.
While the command runs, ``sys.stdout`` and ``sys.stderr`` are wrapped so that a
failed write or flush raises :class:`OutputError`, naming the stream, which the
command reports as an I/O error (exit 2). Any other ``OSError`` stays what it was.

A buffered stream keeps what it could not write and tries again when the interpreter
exits, which would print "Exception ignored" and change the exit status; so a stream
that failed is pointed at ``/dev/null`` (the remedy Python's documentation gives for
EPIPE) before the command returns.
"""

from __future__ import annotations

import errno
import os
import sys
from types import TracebackType
from typing import Any, TextIO


class OutputError(Exception):
    """A write to the command's standard output or error failed."""

    def __init__(self, stream: str, error: OSError) -> None:
        super().__init__(f"cannot write to {stream}: {error.strerror or error}")
        self.stream = stream
        self.error = error

    @property
    def reader_left(self) -> bool:
        """Whether the reader of a pipe has gone (EPIPE): ``| head`` read all it wanted,
        which by convention is said nothing about."""
        return self.error.errno == errno.EPIPE


class _Guarded:
    """A stream whose failed writes and flushes raise :class:`OutputError`; a text
    stream's ``buffer`` (where JSON and SARIF are written as bytes) is guarded too."""

    def __init__(self, stream: Any, name: str) -> None:
        self._stream = stream
        self._name = name
        self._buffer: _Guarded | None = None
        self.failed = False

    def _failure(self, err: OSError) -> OutputError:
        self.failed = True
        return OutputError(self._name, err)

    def write(self, data: Any) -> int:
        try:
            return int(self._stream.write(data))
        except OSError as err:
            raise self._failure(err) from err

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as err:
            raise self._failure(err) from err

    @property
    def buffer(self) -> _Guarded:
        if self._buffer is None:
            self._buffer = _Guarded(self._stream.buffer, self._name)
        return self._buffer

    @property
    def broken(self) -> bool:
        """Whether a write or flush failed, here or on the buffer beneath."""
        return self.failed or (self._buffer is not None and self._buffer.failed)

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno: the stream's own
        return getattr(self._stream, name)


def _to_devnull(stream: TextIO) -> None:
    """Point a real stream's file descriptor at /dev/null, so that what it still holds
    goes nowhere quietly; a stream without one (a test's capture) is left alone."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


class guarded_output:  # noqa: N801 (used as a function: ``with guarded_output():``)
    """Within the block, failed writes to stdout and stderr raise :class:`OutputError`.

    A class rather than ``contextlib.contextmanager``: every start of the command pays
    for what this module imports.
    """

    def __enter__(self) -> None:
        self.streams = sys.stdout, sys.stderr
        self.guarded = _Guarded(sys.stdout, "standard output"), _Guarded(sys.stderr, "standard error")
        sys.stdout, sys.stderr = self.guarded  # a text stream in all but name: __getattr__ gives the rest

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        sys.stdout, sys.stderr = self.streams
        for wrapper, stream in zip(self.guarded, self.streams):
            if wrapper.broken:
                _to_devnull(stream)


def stderr_line(line: str) -> None:
    """Write one line to stderr, or nothing where stderr itself cannot be written."""
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except (OSError, OutputError):
        pass
