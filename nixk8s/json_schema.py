"""The JSON Schema of the ClusterSpec, as ``nixk8s schema`` prints it.

msgspec generates it from the structs in :mod:`nixk8s.spec` (each field's title,
description, examples and default come from there); this module adds what makes it
a document an editor can fetch: ``$schema``, a stable ``$id`` and the pangea backend
aliases that loading accepts. ``schema/cluster-spec.schema.json`` in the repository
is this output, committed, so that the ``$id`` URL serves it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s.backends.catalog import ALIASES
from nixk8s.spec import ClusterSpec

SCHEMA_URL = "https://raw.githubusercontent.com/nixk8s/nixk8s/main/schema/cluster-spec.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
YAML_MODELINE = f"# yaml-language-server: $schema={SCHEMA_URL}"
TOML_MODELINE = f"#:schema {SCHEMA_URL}"


def cluster_spec_schema() -> dict[str, Any]:
    """The ClusterSpec's JSON Schema (2020-12), with its ``$id``.

    >>> schema = cluster_spec_schema()
    >>> schema["$id"] == SCHEMA_URL, schema["$ref"]
    (True, '#/$defs/ClusterSpec')
    """
    generated = msgspec.json.schema(ClusterSpec)
    spec = generated["$defs"]["ClusterSpec"]
    backend = spec["properties"]["backend"]
    # loading rewrites pangea's names before typing (load._normalise); accept them here too
    backend["enum"] = [*backend["enum"], *sorted(ALIASES)]
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_URL,
        "title": "nixk8s ClusterSpec",
        "description": spec["description"] + " Compiled by `nixk8s compile` into Terraform JSON.",
        **generated,
    }


def schema_json() -> bytes:
    """The schema as ``nixk8s schema`` prints it: two-space indent, a final newline."""
    return msgspec.json.format(msgspec.json.encode(cluster_spec_schema()), indent=2) + b"\n"
