"""Label rules: Kubernetes node labels (a cloud's own rules live in its package).

Kubernetes labels (and Hetzner's) share one syntax: an optional DNS-subdomain
prefix and a name of 1-63 characters ``[a-zA-Z0-9]`` with ``-_.`` inside; values
of at most 63 characters in the same form, or empty.
"""

from __future__ import annotations

import re

# matched with fullmatch: a pattern's "$" alone also matches before a final newline
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


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
