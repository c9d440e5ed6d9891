"""``nixk8s schema``: a JSON Schema that documents every field, that the committed
schema file equals, and that every example spec (and every example in it) satisfies."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ROOT, SPECS, require_module

from nixk8s.cli import EXIT_OK, main
from nixk8s.json_schema import SCHEMA_URL, TOML_MODELINE, YAML_MODELINE

jsonschema = require_module("jsonschema")

COMMITTED = ROOT / "schema" / "cluster-spec.schema.json"
EXAMPLES = sorted(SPECS.glob("*.*"))


@pytest.fixture(scope="module")
def printed() -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["schema"]) == EXIT_OK
    return out.getvalue()


@pytest.fixture(scope="module")
def schema(printed: str) -> dict[str, Any]:
    return json.loads(printed)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Any:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def structs(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    return ((name, d) for name, d in schema["$defs"].items() if d.get("type") == "object")


def spec_data(path: Path) -> Any:
    text = path.read_text()
    return tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)


def test_the_committed_schema_is_the_command_output(printed: str) -> None:
    assert COMMITTED.read_text() == printed, "regenerate it: nixk8s schema > schema/cluster-spec.schema.json"


def test_the_schema_names_its_dialect_and_its_url(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_URL
    assert SCHEMA_URL.endswith("/" + COMMITTED.relative_to(ROOT).as_posix())
    assert schema["title"] and schema["description"]


def test_every_struct_has_a_title_and_a_description(schema: dict[str, Any]) -> None:
    missing = [name for name, d in structs(schema) if not (d.get("title") and d.get("description"))]
    assert missing == []


def test_every_field_has_a_title_and_a_description(schema: dict[str, Any]) -> None:
    missing = [
        f"{name}.{field}"
        for name, d in structs(schema)
        for field, prop in d["properties"].items()
        if not (prop.get("title") and prop.get("description"))
    ]
    assert missing == []


def test_every_example_in_the_schema_satisfies_its_field(schema: dict[str, Any]) -> None:
    wrong = []
    for name, d in structs(schema):
        for field, prop in d["properties"].items():
            field_validator = jsonschema.Draft202012Validator({"$defs": schema["$defs"], **prop})
            wrong += [f"{name}.{field}: {ex!r}" for ex in prop.get("examples", []) if not field_validator.is_valid(ex)]
    assert wrong == []


def test_defaults_are_given_except_for_the_pass_through_options(schema: dict[str, Any]) -> None:
    pool = schema["$defs"]["NodePool"]["properties"]
    assert (pool["min_size"]["default"], pool["max_size"]["default"], pool["disk_size_gb"]["default"]) == (1, 3, 20)
    assert schema["$defs"]["ClusterSpec"]["properties"]["access"]["default"]["ssh_sources"] == ["0.0.0.0/0", "::/0"]
    assert not any("default" in p for p in schema["$defs"]["K3sOptions"]["properties"].values())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_spec_validates(path: Path, validator: Any) -> None:
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(spec_data(path))]
    assert errors == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_spec_names_the_schema_on_its_first_line(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first == (TOML_MODELINE if path.suffix == ".toml" else YAML_MODELINE)


def test_pangea_backend_names_validate_as_loading_accepts_them(validator: Any) -> None:
    data = spec_data(SPECS / "hcloud-k3s.yaml")
    assert validator.is_valid({**data, "backend": "hcloud_k3s"})
    assert not validator.is_valid({**data, "backend": "hetzner"})
