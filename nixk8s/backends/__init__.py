"""The backends, by name. Each module reads top to bottom as what its cloud builds."""

from __future__ import annotations

from typing import Any

from nixk8s.backends.aws import AWS
from nixk8s.backends.base import Backend
from nixk8s.backends.hcloud import HCLOUD
from nixk8s.spec import BackendName

BACKENDS: dict[BackendName, Backend[Any]] = {
    "aws": AWS,
    "hcloud": HCLOUD,
}


def backend_for(name: BackendName) -> Backend[Any] | None:
    """The backend called ``name``, or None where nixk8s has none yet."""
    return BACKENDS.get(name)
