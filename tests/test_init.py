"""``nixk8s init``: a commented starter spec per backend that compiles as written,
written atomically and never over an existing file unless asked."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import compile_text, is_catalog_module, require_module, tfcheck, write_module

from nixk8s.cli import EXIT_OK, EXIT_USAGE, main
from nixk8s.json_schema import YAML_MODELINE, cluster_spec_schema
from nixk8s.starter import BACKENDS, DISTRIBUTIONS, starter

COMBINATIONS = [(b, d) for b in BACKENDS for d in DISTRIBUTIONS]


def init(tmp_path: Path, backend: str, distribution: str = "k3s") -> Path:
    target = tmp_path / "cluster.yaml"
    assert main(["init", backend, "--kubernetes", distribution, "-o", str(target)]) == EXIT_OK
    return target


@pytest.mark.tfcheck
@pytest.mark.parametrize(("backend", "distribution"), COMBINATIONS)
def test_a_starter_compiles_and_passes_terraform_validate(tmp_path: Path, backend: str, distribution: str) -> None:
    spec = init(tmp_path, backend, distribution)
    out = tmp_path / "out"
    assert main(["compile", str(spec), "-o", str(out)]) == EXIT_OK
    tfcheck(out)


@pytest.mark.tfcheck
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_starter_plans_with_its_variables_set(tmp_path: Path, backend: str) -> None:
    tfcheck(write_module(compile_text(starter(backend)), tmp_path), "--plan")  # type: ignore[arg-type]


@pytest.mark.parametrize(("backend", "distribution"), COMBINATIONS)
def test_a_starter_validates_against_the_schema(backend: str, distribution: str) -> None:
    jsonschema = require_module("jsonschema")
    data = yaml.safe_load(starter(backend, distribution))  # type: ignore[arg-type]
    errors = [e.message for e in jsonschema.Draft202012Validator(cluster_spec_schema()).iter_errors(data)]
    assert errors == []
    assert (data["backend"], data["distribution"]) == (backend, distribution)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_starter_names_the_schema_and_marks_what_to_change(backend: str) -> None:
    lines = starter(backend).splitlines()  # type: ignore[arg-type]
    assert lines[0] == YAML_MODELINE
    assert sum("CHANGE" in line for line in lines) >= 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_starter_says_to_set_initialized_after_the_first_apply_and_its_line_compiles(backend: str) -> None:
    text = starter(backend)  # type: ignore[arg-type]
    assert "After the first apply" in text and "\n# initialized: true\n" in text
    grown = text.replace("\n# initialized: true\n", "\ninitialized: true\n").replace(
        "    min_size: 1\n    max_size: 1\n", "    min_size: 3\n    max_size: 3\n", 1
    )
    servers = compile_text(grown).built.control_plane
    assert len(servers) == 3 and not any(s.config.cluster_init for s in servers)


def test_without_a_file_the_starter_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "aws"]) == EXIT_OK
    assert capsys.readouterr().out == starter("aws")


def test_init_writes_the_file_whole_and_says_what_next(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = init(tmp_path, "hcloud")
    assert spec.read_text() == starter("hcloud")
    assert [p.name for p in tmp_path.iterdir()] == ["cluster.yaml"]  # no temporary file left behind
    out = capsys.readouterr().out
    assert f"wrote {spec}" in out and "CHANGE" in out


def test_init_refuses_to_overwrite_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text("name: mine\n")
    assert main(["init", "gcp", "-o", str(spec)]) == EXIT_USAGE
    assert spec.read_text() == "name: mine\n"
    assert "exists; pass --force" in capsys.readouterr().err


def test_init_overwrites_with_force(tmp_path: Path) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text("name: mine\n")
    assert main(["init", "gcp", "-o", str(spec), "--force"]) == EXIT_OK
    assert spec.read_text() == starter("gcp")


@pytest.mark.parametrize("argv", [["init"], ["init", "openstack"], ["init", "aws", "--kubernetes", "k0s"]])
def test_init_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE


@pytest.mark.parametrize("argv", [["--help"], ["schema"], ["init", "azure"]], ids=" ".join)
def test_help_schema_and_init_import_no_backend_and_no_yaml(argv: list[str]) -> None:
    probe = (
        "import contextlib, io, sys\n"
        "from nixk8s.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main({argv!r}) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('nixk8s.backends.') or m == 'yaml'))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    imported = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert [m for m in imported if not is_catalog_module(m) and m != "nixk8s.backends.base"] == []


@pytest.mark.parametrize(("backend", "distribution"), COMBINATIONS)
def test_every_starter_passes_validate_strict_as_written(backend: str, distribution: str, tmp_path: Path) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(starter(backend, distribution))  # type: ignore[arg-type]
    assert main(["validate", str(spec), "--strict"]) == 0


@pytest.mark.parametrize(("backend", "distribution"), COMBINATIONS)
def test_a_starter_needs_no_terraform_variable_and_gives_a_kubeconfig(backend: str, distribution: str) -> None:
    document = json.loads(compile_text(starter(backend, distribution)).to_json())  # type: ignore[arg-type]
    assert "variable" not in document
    assert document["output"]["kubeconfig"]["sensitive"] is True


# what Terraform's provider reads for each cloud's own credentials
CLOUD_CREDENTIALS = {
    "hcloud": ["HCLOUD_TOKEN"],
    "aws": ["AWS_PROFILE"],
    "gcp": ["GOOGLE_APPLICATION_CREDENTIALS", "gcloud auth application-default login"],
    "azure": ["az login", "ARM_SUBSCRIPTION_ID", "ARM_CLIENT_ID"],
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_starter_says_which_cloud_credentials_terraform_needs(backend: str) -> None:
    header = starter(backend).split("\nname: ")[0]  # type: ignore[arg-type]
    assert all(words in header for words in CLOUD_CREDENTIALS[backend]), header

