"""The catalog of clouds: what the cloud-neutral core may know of each cloud.

Each cloud is a package ``nixk8s/backends/<cloud>/`` whose ``options`` module holds a
:class:`Cloud` entry named ``CLOUD``: its name and aliases, its provider block's
struct, the starter text ``nixk8s init`` writes, and where its Backend record lives.
The spec (its ``backend`` vocabulary and provider blocks), the schema, the starters,
``diff`` and the warnings read clouds from here and never name one in code.

Only the ``options`` modules are imported here, so that knowing every cloud costs a
few small structs; a cloud's Backend record, and everything it builds with, is
imported the first time a spec for that cloud is compiled (``registry.backend_for``:
the catalog stands below the Backend record, which the spec's module and so the
catalog must not import).

A cloud package outside nixk8s registers itself by naming its options module in the
environment variable ``NIXK8S_CLOUDS`` (comma-separated module names), read once when
nixk8s is first imported: that is how ``tests/test_fifth_cloud.py`` proves that a new
cloud needs one folder and nothing outside it.

>>> [c.name for c in CLOUDS][:4]
['aws', 'gcp', 'azure', 'hcloud']
>>> cloud_named("hcloud_k3s").name
'hcloud'
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

from nixk8s.backends.cloud import Cloud

#: the clouds nixk8s ships, in the order the spec's vocabulary lists them
BUILTIN = (
    "nixk8s.backends.aws.options",
    "nixk8s.backends.gcp.options",
    "nixk8s.backends.azure.options",
    "nixk8s.backends.hcloud.options",
)
#: names more options modules to load (a cloud package that lives outside nixk8s)
ENVIRONMENT_VARIABLE = "NIXK8S_CLOUDS"


def _module_names() -> tuple[str, ...]:
    extra = tuple(m.strip() for m in os.environ.get(ENVIRONMENT_VARIABLE, "").split(",") if m.strip())
    return BUILTIN + tuple(m for m in extra if m not in BUILTIN)


def _load(modules: tuple[str, ...]) -> tuple[Cloud, ...]:
    clouds: tuple[Cloud, ...] = tuple(importlib.import_module(m).CLOUD for m in modules)
    names = [c.name for c in clouds] + [a for c in clouds for a in c.aliases]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"two clouds in the catalog answer to {', '.join(duplicated)}")
    return clouds


CLOUDS: tuple[Cloud, ...] = _load(_module_names())
NAMES: tuple[str, ...] = tuple(c.name for c in CLOUDS)
#: every alias → the cloud's name (``hcloud_k3s`` → ``hcloud``)
ALIASES: Mapping[str, str] = {a: c.name for c in CLOUDS for a in c.aliases}
_BY_NAME: Mapping[str, Cloud] = {c.name: c for c in CLOUDS} | {a: c for c in CLOUDS for a in c.aliases}


def cloud_named(name: str) -> Cloud:
    """The cloud called ``name`` or one of its aliases (KeyError where none is)."""
    return _BY_NAME[name]


def cloud_of_resource_type(resource_type: str) -> Cloud | None:
    """The cloud whose provider makes ``resource_type``, or None (tls, random, ...).

    >>> cloud_of_resource_type("google_compute_instance").name, cloud_of_resource_type("random_password")
    ('gcp', None)
    """
    return next((c for c in CLOUDS if resource_type.startswith(c.resource_prefixes)), None)
