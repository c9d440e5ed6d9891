"""Label and tag rules: Kubernetes node labels and each cloud's own (Hetzner, GCP).

Kubernetes labels and Hetzner labels share one syntax: an optional DNS-subdomain
prefix and a name of 1-63 characters ``[a-zA-Z0-9]`` with ``-_.`` inside; values
of at most 63 characters in the same form, or empty.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _dns_subdomain_ok(text: str) -> bool:
    return 0 < len(text) <= 253 and all(_DNS_LABEL.match(part) for part in text.split("."))


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
    if not _NAME.match(name):
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
    if value == "" or _NAME.match(value):
        return None
    return f'label value "{value}" must be empty or 1-63 characters of [a-zA-Z0-9] with "-", "_" or "." inside'


# --- GCP labels ----------------------------------------------------------------------
#
# GCP's rules allow international characters where they are lowercase (or have no
# case): Python's ``re`` has no \p{Ll}, so each character is judged by ``str`` methods.

GCP_LABEL_LIMIT = 63


def _gcp_label_char_ok(c: str) -> bool:
    return c.islower() or c.isdigit() or c in "_-" or (c.isalpha() and not c.isupper())


def gcp_label_key_error(key: str) -> str | None:
    """Why ``key`` is not a valid GCP label key, or None.

    >>> gcp_label_key_error("kubernetescluster") is None, gcp_label_key_error("équipe") is None
    (True, True)
    >>> gcp_label_key_error("Team")
    'GCP label key "Team" must be 1-63 lowercase letters, digits, "_" or "-", starting with a lowercase letter'
    """
    first_ok = bool(key) and (key[0].islower() or (key[0].isalpha() and not key[0].isupper()))
    if first_ok and len(key) <= GCP_LABEL_LIMIT and all(_gcp_label_char_ok(c) for c in key):
        return None
    return (
        f'GCP label key "{key}" must be 1-{GCP_LABEL_LIMIT} lowercase letters, digits, "_" or "-", '
        "starting with a lowercase letter"
    )


def gcp_label_value_error(value: str) -> str | None:
    """Why ``value`` is not a valid GCP label value, or None.

    >>> gcp_label_value_error("") is None, gcp_label_value_error("team_a-1") is None
    (True, True)
    >>> gcp_label_value_error("v1.2")
    'GCP label value "v1.2" must be at most 63 lowercase letters, digits, "_" or "-"'
    """
    if len(value) <= GCP_LABEL_LIMIT and all(_gcp_label_char_ok(c) for c in value):
        return None
    return f'GCP label value "{value}" must be at most {GCP_LABEL_LIMIT} lowercase letters, digits, "_" or "-"'
