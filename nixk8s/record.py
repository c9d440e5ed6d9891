"""Documented frozen records: the base every spec struct (cloud blocks included) builds on.

It sits below :mod:`nixk8s.spec` and each cloud's ``options`` module, so that a
cloud's provider block can be written in the cloud's own package and the spec can be
assembled from the catalog without an import cycle.

>>> class Example(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
...     size: int = 1
>>> [f.name for f in fields_of(Example)]
['size']
"""

# No ``from __future__ import annotations``: see nixk8s/spec.py.
import functools
from typing import Any

import msgspec
from msgspec import Meta


class Frozen(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every spec record: immutable, and unknown fields are errors."""


@functools.cache
def fields_of(struct: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    """A struct type's fields with their resolved types.

    msgspec resolves the annotations anew on every call (a few hundred microseconds);
    a type's fields never change, so they are resolved once per type.
    """
    return msgspec.structs.fields(struct)


def doc(title: str, description: str, *examples: Any) -> Meta:
    """The schema's words for a field or type: a title, a description, examples.

    A Meta without constraints changes nothing msgspec checks when decoding, so the
    documentation costs the hot path nothing; ``nixk8s schema`` prints it.
    """
    return Meta(title=title, description=description, examples=list(examples) if examples else None)
