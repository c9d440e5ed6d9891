"""Node indices: what kindling names a host by (``{cluster}-{role}-{node_index}``).

Servers are numbered 0 … n-1; only index 0 initialises the cluster. Each worker pool
owns a block of :data:`AGENT_BLOCK` indices chosen by a stable hash of its name, so that
hostnames never collide across pools, and neither reordering pools nor resizing one
renumbers another (servers keep their user_data when the spec changes, so a
renumbering would hand a new node the index of a live one). Template-built pools
(ASG, MIG, VMSS) read their index at boot instead (:mod:`nixk8s.index_probe`).
"""

from __future__ import annotations

import zlib

AGENT_BLOCK = 100_000
AGENT_BLOCKS = 42_000  # AGENT_BLOCK * AGENT_BLOCKS stays below 2**32 (kindling's u32)


def agent_index_block(pool_name: str) -> int:
    """The first node index of a pool's block.

    >>> agent_index_block("workers")
    705600000
    """
    return (zlib.crc32(pool_name.encode()) % AGENT_BLOCKS) * AGENT_BLOCK


def agent_node_index(pool_name: str, i: int) -> int:
    """The node index of machine ``i`` of a worker pool.

    >>> agent_node_index("workers", 2)
    705600002
    """
    return agent_index_block(pool_name) + i
