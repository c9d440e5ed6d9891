"""The backends, by name. Each module reads top to bottom as what its cloud builds.

A backend's module is imported the first time it is asked for, so that compiling a
spec for one cloud never pays for importing the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from nixk8s.backends.base import Backend
from nixk8s.spec import BackendName

# backend name → (module, the Backend record's name in it)
_MODULES: dict[BackendName, tuple[str, str]] = {
    "aws": ("nixk8s.backends.aws.backend", "AWS"),
    "azure": ("nixk8s.backends.azure.backend", "AZURE"),
    "gcp": ("nixk8s.backends.gcp.backend", "GCP"),
    "hcloud": ("nixk8s.backends.hcloud.backend", "HCLOUD"),
}


class _Registry(Mapping[BackendName, Backend[Any]]):
    """The available backends, each imported on first use."""

    def __getitem__(self, name: BackendName) -> Backend[Any]:
        module, record = _MODULES[name]
        backend: Backend[Any] = getattr(importlib.import_module(module), record)
        return backend

    def __iter__(self) -> Iterator[BackendName]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


BACKENDS: Mapping[BackendName, Backend[Any]] = _Registry()


def backend_for(name: BackendName) -> Backend[Any] | None:
    """The backend called ``name``, or None where nixk8s has none yet."""
    return BACKENDS[name] if name in _MODULES else None
