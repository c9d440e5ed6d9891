"""Names the clouds limit in length: shortened deterministically, never rejected.

A cloud's limit is often on a name nixk8s derives (cluster + pool + index), not on
anything the operator wrote, so a long derived name keeps its head and ends in a
stable hash of the whole: the same input always gives the same name, and different
inputs stay apart.
"""

from __future__ import annotations

import hashlib


def shortened(name: str, limit: int) -> str:
    """``name`` if it fits ``limit`` characters, else its head and 8 hex digits of its SHA-256.

    >>> shortened("demo-cp-nlb", 32)
    'demo-cp-nlb'
    >>> shortened("a-rather-long-production-cluster-name-cp-nlb", 32)
    'a-rather-long-productio-6b3a33c4'
    """
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    head = name[: limit - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}"
