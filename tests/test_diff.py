"""The replacement table (``nixk8s/replacement.py``): its path patterns, and every path
in it checked against the providers' schemas."""

from __future__ import annotations

import gzip
import json
from functools import cache
from typing import Any

import pytest

from nixk8s.replacement import PROVIDERS, RULES, matches, provider_of
from support import SHARED


# --- the pattern language --------------------------------------------------------------------


def test_a_block_pattern_names_the_number_of_blocks_not_their_fields() -> None:
    assert matches("boot_disk.#", ("boot_disk", "#"))
    assert not matches("boot_disk.#", ("boot_disk", "auto_delete"))


def test_a_block_that_appears_whole_carries_its_forcing_fields() -> None:
    assert matches("boot_disk.#", ("boot_disk",), whole=True)
    assert matches("boot_disk.initialize_params.image", ("boot_disk",), whole=True)
    assert not matches("boot_disk.initialize_params.image", ("boot_disk",), whole=False)


def test_a_value_pattern_covers_everything_inside_it() -> None:
    assert matches("labels", ("labels", "team"))
    assert matches("*", ("anything", "at", "all"))


# --- the table against the providers' schemas --------------------------------------------------

SCHEMAS = SHARED / "tfcheck" / "schemas"


@cache
def _schema_document(provider: str) -> dict[str, Any] | None:
    path = SCHEMAS / f"{provider}.json.gz"
    return json.loads(gzip.decompress(path.read_bytes())) if path.is_file() else None


def _resource_schemas(provider: str) -> dict[str, Any]:
    document = _schema_document(provider)
    if document is None:
        pytest.skip(f"{SCHEMAS}/{provider}.json.gz is missing: the table cannot be checked against the provider's schema")
    (schema,) = document["provider_schemas"].values()
    return schema["resource_schemas"]  # type: ignore[no-any-return]


def _path_problem(block: dict[str, Any], steps: list[str]) -> str | None:
    """Why a pattern names no argument of a schema block (None when it does)."""
    head, rest = steps[0], steps[1:]
    if head == "*":
        return None
    if head in block.get("attributes", {}):
        kind = block["attributes"][head]["type"]
        if not rest:
            return None
        if rest == ["#"]:
            return f"{head} is an attribute, not a block"
        if isinstance(kind, list) and kind[0] == "map":
            return None  # map keys: metadata.user-data
        if isinstance(kind, list) and isinstance(kind[1], list) and kind[1][0] == "object":
            return None if rest[0] in kind[1][1] else f"{head} has no field {rest[0]}"
        return f"{head} is a {kind}, it has no {rest[0]}"
    if head in block.get("block_types", {}):
        if not rest or rest == ["#"]:
            return None
        return _path_problem(block["block_types"][head]["block"], rest)
    return f"{head} is not an argument"


@pytest.mark.parametrize("resource_type", sorted(RULES))
def test_every_path_in_the_table_names_an_argument_of_the_providers_schema(resource_type: str) -> None:
    schemas = _resource_schemas(provider_of(resource_type))
    assert resource_type in schemas, f"{resource_type} is not a resource of {PROVIDERS[provider_of(resource_type)].source}"
    rule = RULES[resource_type]
    block = schemas[resource_type]["block"]
    patterns = [
        *rule.replacing,
        *rule.updatable,
        *rule.kept_when_removed,
        *(c.pattern for c in rule.conditional),
        *(d.pattern for d in rule.disruptive),
    ]
    problems = {p: _path_problem(block, p.split(".")) for p in patterns}
    assert {p: why for p, why in problems.items() if why} == {}
    assert all(a in block["attributes"] for a in rule.changes_on_update)


def test_every_provider_in_the_table_names_where_it_was_read() -> None:
    assert sorted(PROVIDERS) == sorted({provider_of(t) for t in RULES})
    assert all(rule.source for rule in RULES.values())
