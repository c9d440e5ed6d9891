"""GCP's label rules, for the spec's tags and pool labels that become GCP labels.

GCP's rules allow international characters where they are lowercase (or have no
case): Python's ``re`` has no ``\\p{Ll}``, so each character is judged by ``str`` methods.
"""

from __future__ import annotations

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
