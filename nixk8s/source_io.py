"""Reading the command's inputs: never more than the bound allows, whatever the source.

A spec may come from a file, a device (``/dev/zero``), a FIFO or stdin (``yes |``):
sources whose size is unknown until they end, and some never end. So the size is
checked while reading, not after: at most ``limit + 1`` bytes are read, enough to
tell "within the bound" from "past it", and the caller refuses the latter before any
parse (:func:`nixk8s.limits.size_problem`). Memory and time stay bounded by the
limit, also for a source that never ends. The limits are the caller's
(:data:`nixk8s.limits.MAX_SPEC_BYTES` for a spec): reading imports nothing of the compiler.
"""

from __future__ import annotations

import sys
from typing import BinaryIO

STDIN = "-"


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
        chunk = stream.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def read_source(path: str, limit: int) -> bytes:
    """The bytes of the file at ``path`` (``-``: stdin), at most ``limit + 1`` of them.

    Raises OSError as ``open`` and ``read`` do (a missing file, a directory, no permission).
    """
    if path == STDIN:
        return read_bounded(sys.stdin.buffer, limit)
    with open(path, "rb", buffering=0) as stream:  # unbuffered: each read asks for what is wanted
        return read_bounded(stream, limit)
