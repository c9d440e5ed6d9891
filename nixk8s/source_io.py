"""Reading the command's inputs: never more than the bound allows, whatever the source.

A spec may come from a file, a device (``/dev/zero``), a FIFO or stdin (``yes |``):
sources whose size is unknown until they end, and some never end. So the size is
checked while reading, not after: at most ``limit + 1`` bytes are read, enough to
tell "within the bound" from "past it", and the caller refuses the latter before any
parse (:func:`nixk8s.limits.size_problem`). Memory and time stay bounded by the
limit, also for a source that never ends. The limits are the caller's
(:data:`nixk8s.limits.MAX_SPEC_BYTES` for a spec): reading imports nothing of the compiler.

A source that stays silent (a FIFO or a pipe whose writer neither writes nor closes)
is waited on in slices (:func:`wait_readable`), never in one blocking read: Python runs
a signal's handler between bytecodes, so a SIGTERM that lands after its last check and
before a blocking ``read`` starts would wait for that read to return, which a silent
source never does. Waiting in slices, the handler runs within one slice.
"""

from __future__ import annotations

import io
import select
import sys
from typing import BinaryIO

STDIN = "-"
#: how long one wait for input lasts before Python may run a pending signal's handler
WAIT_SLICE_MS = 200


def read_bounded(stream: BinaryIO, limit: int) -> bytes:
    """The bytes of ``stream`` up to its end, but never more than ``limit + 1`` of them.

    A result longer than ``limit`` means the source is past the bound; how far past
    is never read. A sized ``read`` asks for what is still wanted, no more: a
    buffered stream's ``read()`` without a size would first read the whole source.

    >>> import io
    >>> read_bounded(io.BytesIO(b"abcdef"), limit=3), read_bounded(io.BytesIO(b"abc"), limit=3)
    (b'abcd', b'abc')
    """
    chunks: list[bytes] = []
    wanted = limit + 1
    while wanted > 0:
        wait_readable(stream)
        chunk = stream.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def wait_readable(stream: BinaryIO) -> None:
    """Return once ``stream`` has input, an end or an error to read, waiting in slices
    of :data:`WAIT_SLICE_MS` (a stream without a file descriptor returns at once).

    >>> import os
    >>> r, w = os.pipe(); _ = os.write(w, b"x")
    >>> with os.fdopen(r, "rb", buffering=0) as stream:
    ...     wait_readable(stream); stream.read(1)
    b'x'
    >>> os.close(w)
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):  # in memory: never blocks
        return
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll(WAIT_SLICE_MS):  # each return to Python runs a pending handler
        pass


def read_source(path: str, limit: int) -> bytes:
    """The bytes of the file at ``path`` (``-``: stdin), at most ``limit + 1`` of them.

    Raises OSError as ``open`` and ``read`` do (a missing file, a directory, no permission).
    """
    if path == STDIN:
        return read_bounded(sys.stdin.buffer, limit)
    with open(path, "rb", buffering=0) as stream:  # unbuffered: each read asks for what is wanted
        return read_bounded(stream, limit)
