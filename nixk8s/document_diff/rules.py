"""The language of a replacement table: what Terraform does when a resource's arguments change.

Each cloud writes its provider's table in these records (a :class:`ProviderRules` of
:class:`ResourceRule` by resource type) and :mod:`nixk8s.document_diff.replacement` applies them.
This module knows no cloud and imports nothing of nixk8s, so that a cloud's table can be
imported on its own.

Path patterns name arguments as ``nixk8s diff`` reports them, with list indices left out:

- ``a.b`` matches a change of the value at ``a.b`` or anything inside it (a scalar, a
  list of scalars, a map, or every field of a block);
- ``a.#`` matches only a change in the number of ``a`` blocks (or their appearing or
  disappearing): SDKv2's ForceNew on a block replaces the resource when the count
  changes, while a nested field replaces it only when that field is ForceNew itself;
- ``*`` matches any one name (``*`` alone: every argument).

>>> matches("ip_range", ("ip_range",))
True
>>> matches("boot_disk.#", ("boot_disk", "initialize_params", "size"))
False
>>> matches("boot_disk.initialize_params.image", ("boot_disk", "initialize_params", "image"))
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec

Body = Mapping[str, Any]
Path = tuple[str, ...]
# a path as a body holds it: keys, and list indices
IndexedPath = tuple[str | int, ...]
Role = Literal["machine", "owns-machines", "other"]


class Conditional(msgspec.Struct, frozen=True):
    """An argument whose change replaces the resource only sometimes.

    ``replaces(old, new, path)`` gets both bodies and the changed path (indices kept)
    and says why the change replaces the resource, or None when it is applied in place.
    """

    pattern: str
    replaces: Callable[[Body, Body, IndexedPath], str | None]


class Disruption(msgspec.Struct, frozen=True):
    """An in-place change that still disturbs machines (a stop, a reimage, a roll).

    ``when(old, new, provider_config)`` narrows it to the configurations it applies to;
    ``replaces_machines`` counts it as replacing machines (exit code 4).
    """

    pattern: str
    note: str
    replaces_machines: bool = False
    when: Callable[[Body, Body, Body], bool] | None = None


class ResourceRule(msgspec.Struct, frozen=True):
    """What Terraform does when the arguments of one resource type change."""

    source: str
    role: Role = "other"
    replacing: tuple[str, ...] = ()
    # exceptions to ``replacing`` (for a type whose every argument but these replaces it)
    updatable: tuple[str, ...] = ()
    conditional: tuple[Conditional, ...] = ()
    # optional+computed arguments: removing one from the configuration keeps the value
    kept_when_removed: tuple[str, ...] = ()
    disruptive: tuple[Disruption, ...] = ()
    # computed attributes that change on every in-place update (a new template version)
    changes_on_update: tuple[str, ...] = ()
    # what replacing it does beyond the resource itself
    replaced_note: str | None = None


class ProviderRules(msgspec.Struct, frozen=True, kw_only=True):
    """One provider's replacement table, and where it was read.

    ``provider`` is the provider's local name, the prefix of its resource types
    (``hcloud`` for ``hcloud_server``); its entries were read in ``repository`` at
    ``version`` (``source`` is the provider's registry address). ``inherited`` names
    arguments of the provider block that a resource takes unless it sets its own (a
    regional resource lives in its provider's region): a change there is a change of
    that argument of every resource whose rule says it replaces it.
    """

    provider: str
    source: str
    version: str
    repository: str
    rules: Mapping[str, ResourceRule]
    inherited: tuple[str, ...] = ()


def matches(pattern: str, path: Path, whole: bool = False) -> bool:
    """Whether a change at ``path`` (indices removed) is one that ``pattern`` names.

    ``whole`` says the change adds, removes or retypes the value at ``path`` as a whole,
    so every argument inside it changes too.
    """
    wanted = tuple(pattern.split("."))
    counted = wanted[-1] == "#"
    names = wanted[:-1] if counted else wanted
    if path and path[-1] == "#":
        # a block count: named by a.# and by the value a itself
        return _same(names, path[:-1])
    if counted:
        # only the blocks' appearing or going; a change inside one is judged by its field
        return whole and len(path) <= len(names) and _same(names[: len(path)], path)
    if len(path) >= len(names):
        return _same(names, path[: len(names)])
    # a whole block (or value) that holds the named argument appears or goes
    return whole and _same(names[: len(path)], path)


def _same(pattern: tuple[str, ...], path: Path) -> bool:
    return len(pattern) == len(path) and all(p in ("*", q) for p, q in zip(pattern, path))


# --- for the conditions of a table ---------------------------------------------------------


def value_at(body: Any, path: IndexedPath) -> Any:
    """The value at ``path`` in a body; a block written as one object counts as index 0.

    >>> value_at({"network_interface": {"network_ip": "10.0.0.2"}}, ("network_interface", 0, "network_ip"))
    '10.0.0.2'
    """
    for step in path:
        if isinstance(step, int):
            if isinstance(body, list):
                body = body[step] if step < len(body) else None
            elif step != 0:
                return None
        elif isinstance(body, list) and len(body) == 1:
            body = body[0].get(step) if isinstance(body[0], Mapping) else None
        elif isinstance(body, Mapping):
            body = body.get(step)
        else:
            return None
    return body


def block(body: Body, name: str) -> Body:
    """A nested block written as an object or as a list of one (empty when absent).

    >>> block({"features": [{"x": 1}]}, "features")
    {'x': 1}
    """
    value = body.get(name)
    if isinstance(value, list):
        value = value[0] if value else {}
    return value if isinstance(value, Mapping) else {}
