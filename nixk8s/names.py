"""Names, decided once: each node's resource name, and names the clouds limit in length.

Terraform resource names are ``N_cp_i`` for control-plane node ``i``, ``N_P_i`` for
machine ``i`` of worker pool ``P`` and ``N_P`` for a pool built from one template,
as pangea-kubernetes names them, so that an existing state can be adopted.

A cloud's length limit is often on a name nixk8s derives (cluster + pool + index),
not on anything the operator wrote, so a long derived name keeps its head and ends
in a stable hash of the whole: the same input always gives the same name, and
different inputs stay apart.
"""

from __future__ import annotations

# The longest a name may be where the cloud wants one DNS label (a hostname).
DNS_LABEL_LIMIT = 63


def control_plane_node(cluster: str, i: int) -> str:
    """The resource name of control-plane node ``i``.

    >>> control_plane_node("demo", 0)
    'demo_cp_0'
    """
    return f"{cluster}_cp_{i}"


def worker_node(cluster: str, pool: str, i: int | str) -> str:
    """The resource name of machine ``i`` of a worker pool (``i`` as a number, or as the
    text that stands for it in a pool rendered once: :mod:`nixk8s.stamp`).

    >>> worker_node("demo", "workers", 3)
    'demo_workers_3'
    """
    return f"{cluster}_{pool}_{i}"


def worker_template(cluster: str, pool: str) -> str:
    """The resource name of a worker pool built from one template (ASG, MIG, VMSS).

    >>> worker_template("demo", "workers")
    'demo_workers'
    """
    return f"{cluster}_{pool}"


def shortened(name: str, limit: int) -> str:
    """``name`` if it fits ``limit`` characters, else its head and 8 hex digits of its SHA-256.

    >>> shortened("demo-cp-nlb", 32)
    'demo-cp-nlb'
    >>> shortened("a-rather-long-production-cluster-name-cp-nlb", 32)
    'a-rather-long-productio-6b3a33c4'
    """
    if len(name) <= limit:
        return name
    import hashlib  # only long names need it, and importing it is slow

    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    head = name[: limit - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}"


def dns_name(resource_name: str, limit: int = DNS_LABEL_LIMIT) -> str:
    """A resource name as the cloud's own name: ``_`` → ``-``, at most ``limit`` characters.

    Cluster and pool names are lowercase letters, digits and ``-``, so the result is
    one DNS label (a valid hostname) whenever ``limit`` ≤ 63.

    >>> dns_name("demo_workers_0")
    'demo-workers-0'
    >>> len(dns_name("a" * 40 + "_" + "b" * 32 + "_12"))
    63
    """
    return shortened(resource_name.replace("_", "-"), limit)
