"""``import nixk8s``: five functions over four kinds of source; spec problems returned, never raised."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from returns.result import Failure, Success

import nixk8s
from nixk8s import api
from nixk8s.compiler import Compiled
from nixk8s.diff_report import DiffReport, InputProblem
from nixk8s.explanation import Explanation
from nixk8s.load import load
from nixk8s.problems import Problem
from nixk8s.warnings import SpecWarning
from support import ROOT, SPECS

EXAMPLE = SPECS / "hcloud-k3s.yaml"
EXAMPLE_BYTES = EXAMPLE.read_bytes()
BROKEN = {"name": "Demo", "backend": "hcloud", "region": 5, "node_pools": [], "hcloud": {"image": "nixos"}}


def example_data() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(EXAMPLE_BYTES)
    return data


# --- what the package exports ------------------------------------------------------------------


def test_the_package_exports_the_five_functions() -> None:
    assert nixk8s.__all__ == ["compile", "validate", "explain", "schema", "diff"]
    assert all(getattr(nixk8s, name) is getattr(api, name) for name in nixk8s.__all__)


def test_no_module_of_the_package_shadows_an_exported_function() -> None:
    # importing nixk8s.X binds X on the package: a module named like a function would replace it
    assert not [name for name in nixk8s.__all__ if (ROOT / "nixk8s" / f"{name}.py").exists()]
    assert not [name for name in nixk8s.__all__ if (ROOT / "nixk8s" / name).is_dir()]


def test_an_unknown_attribute_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'frobnicate'"):
        getattr(nixk8s, "frobnicate")


def test_importing_nixk8s_imports_none_of_the_compiler() -> None:
    probe = "import sys, nixk8s; print(sorted(m for m in sys.modules if m.split('.')[0] in ('msgspec', 'returns', 'yaml', 'toolz') or m.startswith('nixk8s.')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_the_package_is_marked_typed() -> None:
    assert (ROOT / "nixk8s" / "py.typed").is_file()
    assert 'nixk8s = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()


# --- sources ---------------------------------------------------------------------------------------


def test_bytes_text_a_mapping_and_a_cluster_spec_compile_to_the_same_document() -> None:
    expected = nixk8s.compile(EXAMPLE_BYTES).unwrap().to_json()
    sources: list[nixk8s.api.Source] = [
        EXAMPLE_BYTES.decode(),
        example_data(),
        types.MappingProxyType(example_data()),
        load(EXAMPLE_BYTES).unwrap(),
    ]
    assert [nixk8s.compile(source).unwrap().to_json() for source in sources] == [expected] * len(sources)


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_format_names_how_bytes_and_text_are_read(fmt: str) -> None:
    path = next(SPECS.glob(f"*.{fmt}"), None)
    data = path.read_bytes() if path else json.dumps(example_data()).encode()
    assert isinstance(nixk8s.compile(data, fmt), Success)  # type: ignore[arg-type]
    assert isinstance(nixk8s.compile(data.decode(), fmt), Success)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["xml", "yml", "YAML", ""])
def test_an_unknown_format_is_a_value_error_naming_the_formats(fmt: str) -> None:
    with pytest.raises(ValueError, match="the formats are 'yaml', 'toml' and 'json'"):
        nixk8s.compile(EXAMPLE_BYTES, fmt)  # type: ignore[arg-type]


def test_an_unknown_format_is_refused_whatever_the_source() -> None:
    with pytest.raises(ValueError):
        nixk8s.validate(example_data(), "xml")  # type: ignore[arg-type]


@pytest.mark.parametrize("source", [42, None, ["name: demo"], Path("spec.yaml")])
def test_a_source_of_another_type_is_a_type_error(source: object) -> None:
    with pytest.raises(TypeError, match="bytes, str, a mapping or a ClusterSpec"):
        nixk8s.compile(source)  # type: ignore[arg-type]


# --- problems are returned -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", [BROKEN, yaml.safe_dump(BROKEN), yaml.safe_dump(BROKEN).encode(), b"", "\ud800: x", b"\xff", {"a": [[[[]]]] * 3}]
)
def test_a_broken_spec_is_a_failure_never_an_exception(source: nixk8s.api.Source) -> None:
    result = nixk8s.compile(source)
    assert isinstance(result, Failure)
    assert result.failure() and all(isinstance(p, Problem) for p in result.failure())


def test_a_failure_holds_every_problem_with_its_path() -> None:
    paths = {p.path for p in nixk8s.validate(BROKEN).failure()}
    assert {"name", "region"} <= paths


def test_a_nested_mapping_past_the_bounds_is_a_problem() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(200):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    (problem,) = nixk8s.compile(deep).failure()
    assert "nested more than" in problem.message


# --- each function's value -------------------------------------------------------------------------


def test_compile_gives_the_document_and_the_warnings() -> None:
    compiled = nixk8s.compile(EXAMPLE_BYTES).unwrap()
    assert isinstance(compiled, Compiled)
    assert "hcloud_server" in compiled.document["resource"]
    assert compiled.warnings and all(isinstance(w, SpecWarning) for w in compiled.warnings)


def test_validate_gives_the_warnings() -> None:
    assert nixk8s.validate(EXAMPLE_BYTES).unwrap() == nixk8s.compile(EXAMPLE_BYTES).unwrap().warnings


def test_explain_gives_the_explanation() -> None:
    explained = nixk8s.explain(EXAMPLE_BYTES).unwrap()
    assert isinstance(explained, Explanation) and explained.cluster.name == "demo"


def test_schema_gives_the_committed_json_schema() -> None:
    committed = json.loads((ROOT / "schema" / "cluster-spec.schema.json").read_text())
    assert json.loads(json.dumps(nixk8s.schema())) == committed


def test_diff_reports_the_changes_and_both_compiled_sides() -> None:
    grown = example_data()
    pools = [dict(p) for p in grown["node_pools"]]  # type: ignore[attr-defined]
    pools[2]["min_size"] = pools[2]["min_size"] + 1
    grown["node_pools"] = pools
    report = nixk8s.diff(EXAMPLE_BYTES, grown).unwrap()
    assert isinstance(report, DiffReport)
    assert (report.exit_code, report.replaces_machines) == (3, False)
    assert report.new.to_json() == nixk8s.compile(grown).unwrap().to_json()
    assert "a new machine" in report.to_text()


def test_diff_of_a_spec_with_itself_changes_nothing() -> None:
    assert nixk8s.diff(EXAMPLE_BYTES, example_data()).unwrap().exit_code == 0


def test_diff_problems_name_their_side() -> None:
    problems = nixk8s.diff(BROKEN, b"name: demo\n").failure()
    assert {p.side for p in problems} == {"old", "new"}
    assert all(isinstance(p, InputProblem) and isinstance(p, Problem) for p in problems)
    assert str(next(p for p in problems if p.side == "new")).startswith("new: ")
