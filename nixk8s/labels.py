"""Label rules: Kubernetes node labels (a cloud's own rules live in its package).

Kubernetes labels (and Hetzner's) share one syntax: an optional DNS-subdomain
prefix and a name of 1-63 characters ``[a-zA-Z0-9]`` with ``-_.`` inside; values
of at most 63 characters in the same form, or empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# matched with fullmatch: a pattern's "$" alone also matches before a final newline
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def lowercase_clashes(keys: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Each key equal to an earlier one once lowercased, with that earlier key: where
    labels are written in lowercase, one of the two would silently win.

    >>> list(lowercase_clashes(["Team", "app", "team", "TEAM"]))
    [('team', 'Team'), ('TEAM', 'Team')]
    """
    first: dict[str, str] = {}
    for key in keys:
        earlier = first.setdefault(key.lower(), key)
        if earlier != key:
            yield key, earlier


def _dns_subdomain_ok(text: str) -> bool:
    return 0 < len(text) <= 253 and all(_DNS_LABEL.fullmatch(part) for part in text.split("."))


def label_key_error(key: str) -> str | None:
    """Why ``key`` is not a valid Kubernetes/Hetzner label key, or None.

    >>> label_key_error("node.kubernetes.io/pool") is None
    True
    >>> label_key_error("bad key")
    'label key "bad key" must be 1-63 characters of [a-zA-Z0-9] with "-", "_" or "." inside, after an optional DNS prefix and "/"'
    """
    prefix, _, name = key.rpartition("/")
    if "/" in key and not _dns_subdomain_ok(prefix):
        return f'label key "{key}" has an invalid prefix "{prefix}" (a lowercase DNS subdomain of at most 253 characters)'
    if not _NAME.fullmatch(name):
        return (
            f'label key "{key}" must be 1-63 characters of [a-zA-Z0-9] with "-", "_" or "." '
            'inside, after an optional DNS prefix and "/"'
        )
    return None


def label_value_error(value: str) -> str | None:
    """Why ``value`` is not a valid Kubernetes/Hetzner label value, or None.

    >>> label_value_error("") is None, label_value_error("v1.2") is None
    (True, True)
    >>> label_value_error("-x")
    'label value "-x" must be empty or 1-63 characters of [a-zA-Z0-9] with "-", "_" or "." inside'
    """
    if value == "" or _NAME.fullmatch(value):
        return None
    return f'label value "{value}" must be empty or 1-63 characters of [a-zA-Z0-9] with "-", "_" or "." inside'


# What kubelet lets --node-labels set in the kubernetes.io and k8s.io namespaces: its
# own labels, and any under these two (k8s.io/kubelet pkg/apis well_known_labels.go,
# IsKubeletLabel); it refuses to start with any other label there.
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
    }
)
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def _within(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def kubelet_label_error(key: str) -> str | None:
    """Why kubelet would refuse to register a node with label ``key``, or None.

    >>> kubelet_label_error("node.kubernetes.io/pool") is None, kubelet_label_error("example.com/tier") is None
    (True, True)
    >>> kubelet_label_error("node-role.kubernetes.io/worker")[:60]
    'kubelet refuses to start with label "node-role.kubernetes.io'
    """
    namespace = key.rpartition("/")[0]
    restricted = _within(namespace, "kubernetes.io") or _within(namespace, "k8s.io")
    if not restricted or key in KUBELET_LABELS or any(_within(namespace, ns) for ns in KUBELET_LABEL_NAMESPACES):
        return None
    return (
        f'kubelet refuses to start with label "{key}": in the kubernetes.io and k8s.io namespaces it sets '
        "only its own labels and those under node.kubernetes.io/ and kubelet.kubernetes.io/; set it on the "
        "node once it has joined"
    )
