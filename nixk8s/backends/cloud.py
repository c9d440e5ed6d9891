"""A cloud's entry in the catalog: what the cloud-neutral core may know of it.

Each cloud's ``options`` module makes one (``CLOUD``); :mod:`nixk8s.backends.catalog`
collects them. This module imports nothing of nixk8s, so an options module can be
imported first, on its own.

>>> Starter(place="backend: x\\n", server_type="s", worker_type="w", provider="").credentials
''
"""

from __future__ import annotations

import msgspec

# Frozen msgspec structs rather than dataclasses: the catalog is imported on every start
# of the command, and a dataclass costs the import of dataclasses and the generation of
# its methods from source text (a thirtieth of a `validate` run, start-up included).


class Starter(msgspec.Struct, frozen=True, kw_only=True):
    """What a cloud's ``nixk8s init`` starter says that no other cloud's does."""

    place: str
    """the ``backend:`` and ``region:`` lines, with a comment on the region"""
    server_type: str
    worker_type: str
    provider: str
    """the provider block, commented, with every placeholder marked CHANGE"""
    credentials: str = ""
    """how Terraform finds the cloud's own credentials (for the starter's header)"""


class Cloud(msgspec.Struct, frozen=True, kw_only=True):
    """One cloud as the core sees it: vocabulary, provider block, starter, backend, and
    the replacement table ``nixk8s diff`` reads."""

    name: str
    """the ``backend:`` value in a spec, and the name of its provider block"""
    title: str
    """the cloud's name in messages and in the schema (``Hetzner Cloud``)"""
    options: type[msgspec.Struct]
    """the provider block's struct (its fields are the schema's for that block)"""
    options_description: str
    """the provider block's description in the schema"""
    backend: str
    """``module:NAME`` of the cloud's Backend record, imported on first use"""
    starter: Starter
    aliases: tuple[str, ...] = ()
    """other spellings of ``name`` accepted in a spec (pangea's backend names)"""
    resource_prefixes: tuple[str, ...] = ()
    """the prefixes of the cloud's Terraform resource types (``hcloud_``)"""
    replacement_rules: str = ""
    """``module:NAME`` of its provider's replacement table for ``nixk8s diff`` (a
    ``nixk8s.document_diff.rules.ProviderRules``), imported on first use; empty: the cloud has
    none, and diff says of its resources' changes that whether they replace is not known"""
