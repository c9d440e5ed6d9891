"""The clouds' Backend records, each imported the first time a spec for its cloud is
compiled (the catalog knows every cloud by its options alone).

>>> backend_for("hcloud_k3s").name, backend_for("nowhere")
('hcloud', None)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from nixk8s.backends.base import Backend
from nixk8s.backends.catalog import NAMES, cloud_named
from nixk8s.backends.cloud import Cloud


def _import_backend(cloud: Cloud) -> Backend[Any]:
    module, _, record = cloud.backend.partition(":")
    backend: Backend[Any] = getattr(importlib.import_module(module), record)
    return backend


class _Registry(Mapping[str, Backend[Any]]):
    """The available backends, each imported on first use."""

    def __getitem__(self, name: str) -> Backend[Any]:
        return _import_backend(cloud_named(name))

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)


BACKENDS: Mapping[str, Backend[Any]] = _Registry()


def backend_for(name: str) -> Backend[Any] | None:
    """The backend called ``name``, or None where the catalog has no such cloud."""
    try:
        cloud = cloud_named(name)
    except KeyError:
        return None
    return _import_backend(cloud)
