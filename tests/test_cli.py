"""The ``nixk8s`` command: compile, validate, schema, explain, and their exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from nixk8s import cli, compiler
from nixk8s import __version__
from nixk8s.cli import EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, EXIT_USAGE, main

from support import SPECS, minimal_spec, require_module, worker_pool

EXAMPLE = SPECS / "hcloud-k3s.yaml"

FIVE_SHAPE_MISTAKES = """\
name: Demo
backend: hcloud
region: 5
profile: cilium
node_pools:
  - name: system
    instance_types: [cx32]
    max_sise: 3
tags: [team]
hcloud: {image: nixos}
"""
FIVE_SHAPE_PATHS = ["name", "node_pools[0].max_sise", "profile", "region", "tags"]

FIVE_RULE_MISTAKES = """\
name: demo
backend: hcloud
region: nbg1
node_pools:
  - {name: system, instance_types: [cx32], min_size: 3, max_size: 2}
network: {vpc_cidr: 10.0.0.0/16, subnet_cidr: 10.1.0.0/24}
credentials: external
bootstrap_secrets: {k3s_server_tokn: abc}
persistent_state: {size_gb: 50}
gcp: {project: p}
hcloud: {image: nixos}
"""
FIVE_RULE_PATHS = [
    "bootstrap_secrets.k3s_server_token",
    "bootstrap_secrets.k3s_server_tokn",
    "gcp",
    "network.subnet_cidr",
    "node_pools[0].max_size",
    "persistent_state",
]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def spec_yaml(**fields: Any) -> str:
    return yaml.safe_dump(minimal_spec(**fields))


def problem_lines(stderr: str, source: Path) -> list[str]:
    """The ``FILE: PATH: MESSAGE`` lines (not the closing count)."""
    return [line for line in stderr.splitlines() if line.startswith(f"{source}: ") and not line.endswith(("problem", "problems"))]


# --- compile ------------------------------------------------------------------------------------------


def test_compile_writes_main_tf_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["compile", str(EXAMPLE), "-o", str(out)]) == EXIT_OK
    doc = json.loads((out / "main.tf.json").read_text())
    assert "hcloud_server" in doc["resource"]
    assert f"wrote {out / 'main.tf.json'}" in capsys.readouterr().out


def test_compile_leaves_no_temporary_files(tmp_path: Path) -> None:
    assert main(["compile", str(EXAMPLE), "-o", str(tmp_path)]) == EXIT_OK
    assert main(["compile", str(EXAMPLE), "-o", str(tmp_path)]) == EXIT_OK
    assert [p.name for p in tmp_path.iterdir()] == ["main.tf.json"]


def test_compile_defaults_to_out_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["compile", str(EXAMPLE)]) == EXIT_OK
    assert (tmp_path / "out" / "main.tf.json").is_file()


def test_compile_output_is_the_same_bytes_each_run(tmp_path: Path) -> None:
    main(["compile", str(EXAMPLE), "-o", str(tmp_path / "a")])
    main(["compile", str(EXAMPLE), "-o", str(tmp_path / "b")])
    assert (tmp_path / "a" / "main.tf.json").read_bytes() == (tmp_path / "b" / "main.tf.json").read_bytes()


def test_compile_of_an_invalid_spec_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "bad.yaml", FIVE_SHAPE_MISTAKES)
    out = tmp_path / "out"
    assert main(["compile", str(spec), "-o", str(out)]) == EXIT_INVALID
    assert not out.exists()
    assert problem_lines(capsys.readouterr().err, spec)


def test_compile_of_an_invalid_spec_leaves_the_existing_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "main.tf.json").write_text('{"previous": true}\n')
    spec = write(tmp_path, "bad.yaml", FIVE_RULE_MISTAKES)
    assert main(["compile", str(spec), "-o", str(out)]) == EXIT_INVALID
    assert (out / "main.tf.json").read_text() == '{"previous": true}\n'
    assert [p.name for p in out.iterdir()] == ["main.tf.json"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "main.tf.json"
    target.write_text("old")

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli.os, "replace", fail)
    with pytest.raises(OSError):
        cli.write_atomically(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["main.tf.json"]


def test_unwritable_output_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = write(tmp_path, "file", "not a directory")
    assert main(["compile", str(EXAMPLE), "-o", str(blocker / "out")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("nixk8s: cannot write")  # after the example's warnings
    assert "Traceback" not in err


def test_compile_reads_the_spec_format_from_the_extension(tmp_path: Path) -> None:
    spec = write(tmp_path, "c.json", json.dumps(minimal_spec()))
    assert main(["compile", str(spec), "-o", str(tmp_path / "out")]) == EXIT_OK


# --- validate -------------------------------------------------------------------------------------------


def test_validate_of_a_valid_spec_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE)]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == f"{EXAMPLE}: valid\n"
    # the example's warnings (tests/test_warnings.py), and nothing else
    assert all(": warning: " in line for line in captured.err.splitlines())


def test_validate_prints_five_independent_mistakes_with_their_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write(tmp_path, "five.yaml", FIVE_SHAPE_MISTAKES)
    assert main(["validate", str(spec)]) == EXIT_INVALID
    err = capsys.readouterr().err
    lines = problem_lines(err, spec)
    assert len(lines) == 5
    assert [line.split(": ", 2)[1] for line in lines] == FIVE_SHAPE_PATHS
    assert all(len(line.split(": ", 2)) == 3 and line.split(": ", 2)[2] for line in lines)
    assert err.splitlines()[-1] == f"{spec}: 5 problems"


def test_validate_prints_every_rule_problem_in_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "rules.yaml", FIVE_RULE_MISTAKES)
    assert main(["validate", str(spec)]) == EXIT_INVALID
    lines = problem_lines(capsys.readouterr().err, spec)
    assert [line.split(": ", 2)[1] for line in lines] == FIVE_RULE_PATHS


def test_validate_prints_problems_to_stderr_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "bad.yaml", FIVE_SHAPE_MISTAKES)
    main(["validate", str(spec)])
    assert capsys.readouterr().out == ""


def test_validate_reports_platform_limits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "big.yaml", spec_yaml(bootstrap_secrets={"sops_age_key": "k" * 40_000}))
    assert main(["validate", str(spec)]) == EXIT_INVALID
    (line,) = problem_lines(capsys.readouterr().err, spec)
    assert line.startswith(f"{spec}: node_pools[0]: user_data would be up to")


# --- bad input: a problem, never a traceback --------------------------------------------------------------

BAD_INPUTS = {
    "empty.yaml": b"",
    "binary.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
    "list.yaml": b"- name: demo\n- backend: hcloud\n",
    "types.yaml": b"name: [1, 2]\nbackend: {a: b}\nregion: 3\nnode_pools: yes\n",
    "scalar.yaml": b"42\n",
    "broken.json": b'{"name": ',
    "broken.toml": b"name = = \n",
    "tabs.yaml": b"name: demo\n\tbackend: hcloud\n",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_reported_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    spec = write(tmp_path, name, BAD_INPUTS[name])
    assert main(["validate", str(spec)]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert problem_lines(err, spec)
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["empty.yaml", "binary.yaml", "list.yaml", "types.yaml"])
def test_bad_input_through_the_installed_command_has_no_traceback(tmp_path: Path, name: str) -> None:
    spec = write(tmp_path, name, BAD_INPUTS[name])
    result = subprocess.run(
        [sys.executable, "-m", "nixk8s.cli", "compile", str(spec), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_INVALID, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{spec}: ")
    assert not (tmp_path / "out").exists()


# --- hostile input: a problem at its path, never a traceback, a hang or exit 1 for a crash ---------------

SMALL = "name: demo\nbackend: hcloud\nregion: nbg1\nnode_pools: [{name: system, instance_types: [cx32]}]\nhcloud: {image: x}\n"


def alias_bomb(levels: int = 9) -> str:
    lines = ["        l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"        l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return SMALL + "nixos:\n  k3s:\n    manifests:\n      m:\n" + "\n".join(lines) + "\n"


def huge_pool(backend: str, system_size: int, workers: int) -> str:
    provider = {"hcloud": {"image": "x"}} if backend == "hcloud" else {"hcloud": None, "aws": {"ami_id": "ami-0123456789abcdef0"}}
    pools = [{"name": "system", "instance_types": ["m6i.large"], "min_size": system_size, "max_size": system_size}]
    pools += [worker_pool("workers", workers)] if workers else []
    return spec_yaml(backend=backend, region="eu-west-1" if backend == "aws" else "nbg1", node_pools=pools,
                     bootstrap_secrets={"k3s_server_token": "t"}, **provider)


HOSTILE = {  # file name: (content, the path of its problem, what the message says)
    "deep.yaml": ("[" * 5000, "", "exceeded maximum nesting depth"),
    "deep.json": ("[" * 100_000, "", "nested more than 64 levels deep"),
    "deep.toml": ("a = " + "[" * 5000, "", "nested more than 64 levels deep"),
    "deep-manifest.yaml": (SMALL + "nixos: {k3s: {manifests: {m: " + "{a: " * 500 + "1" + "}" * 500 + "}}}\n", "",
                           "nested more than 64 levels deep"),
    "surrogate.yaml": (SMALL + 'tags: {"\\ud800": v}\n', "", "invalid Unicode character escape code"),
    "bool-tag.yaml": ("a: !!bool x\n", "", "'x' is not a valid !!bool"),
    "int-tag.yaml": ("a: !!int ''\n", "", "'' is not a valid !!int"),
    "timestamp-tag.yaml": ("a: !!timestamp x\n", "", "'x' is not a valid !!timestamp"),
    "map-tag.yaml": ("a: !!map [1]\n", "", "!!map on a list: expected a mapping"),
    "hex-name.yaml": (SMALL.replace("name: demo", "name: 0x" + "f" * 4000), "name", "a 16000-bit number is too large"),
    "int-key.yaml": (SMALL + "nixos: {k3s: {manifests: {m: {1: a, b: c}}}}\n", 'nixos.k3s.manifests.m["1"]',
                     "keys must be strings"),
    "null-key.yaml": (SMALL + "nixos: {k3s: {manifests: {m: {null: 1}}}}\n", "nixos.k3s.manifests.m.null",
                      "keys must be strings"),
    "alias-bomb.yaml": (alias_bomb(), "", "once its aliases are expanded"),
    "aws-million-servers.yaml": (huge_pool("aws", 1_000_000, 0), "node_pools[0].min_size", "at most 15"),
    "hcloud-100k-workers.yaml": (huge_pool("hcloud", 1, 100_000), "node_pools", "at most 10,000"),
    "shared-variable.yaml": (spec_yaml(bootstrap_secrets={"k3s_server_token": {"var": "t"}, "sops_age_key": {"var": "t"}}),
                             "bootstrap_secrets.sops_age_key.var", 'variable "t" already backs'),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_a_problem_at_its_path_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    content, path, says = HOSTILE[name]
    spec = write(tmp_path, name, content)
    assert main(["validate", str(spec)]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = next(line for line in problem_lines(err, spec) if says in line)
    assert line.startswith(f"{spec}: {path}: " if path else f"{spec}: ")


def test_pass_through_options_reach_the_node_as_written_through_the_command(tmp_path: Path) -> None:
    options = {"pki": {"mode": "auto", "cert_validity_days": 365}}
    spec = write(tmp_path, "k.yaml", spec_yaml(distribution="kubernetes", nixos={"kubernetes": options}))
    assert main(["compile", str(spec), "-o", str(tmp_path / "out")]) == EXIT_OK
    text = (tmp_path / "out" / "main.tf.json").read_text()
    assert '\\"pki\\":{\\"cert_validity_days\\":365,\\"mode\\":\\"auto\\"}' in text


# --- internal errors: their own exit code, one line ---------------------------------------------------------


def explode(*args: Any) -> Any:
    raise RuntimeError("unexpected\nsecond line")


def test_an_internal_error_exits_70_with_one_line_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NIXK8S_DEBUG", raising=False)
    monkeypatch.setattr(compiler, "compile_source", explode)  # the command imports it when it runs
    assert main(["validate", str(EXAMPLE)]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("nixk8s: internal error (RuntimeError: unexpected); this is a bug in nixk8s")
    assert "Traceback" not in err


def test_an_internal_error_shows_its_traceback_when_nixk8s_debug_is_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NIXK8S_DEBUG", "1")
    monkeypatch.setattr(compiler, "compile_source", explode)  # the command imports it when it runs
    assert main(["validate", str(EXAMPLE)]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.splitlines()[-1].startswith("nixk8s: internal error (RuntimeError: unexpected)")


def test_an_internal_error_through_the_installed_command_exits_70(tmp_path: Path) -> None:
    # a bug stand-in, planted before the command starts
    hook = tmp_path / "sitecustomize.py"
    hook.write_text("import nixk8s.explanation\nnixk8s.explanation.explanation = lambda compiled: 1 / 0\n")
    # before any PYTHONPATH of the caller's (which may name the tree under test)
    path = os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])
    result = subprocess.run([sys.executable, "-m", "nixk8s", "explain", str(EXAMPLE)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": path, "NIXK8S_DEBUG": ""})
    assert result.returncode == EXIT_INTERNAL
    # the spec's warnings come first; the error is the last line
    assert result.stderr.splitlines()[-1].startswith("nixk8s: internal error (ZeroDivisionError: division by zero)")
    assert "Traceback" not in result.stderr


# --- the spec's format ------------------------------------------------------------------------------------------


def stdin_of(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


TOML_EXAMPLE = SPECS / "hcloud-kubernetes.toml"


@pytest.mark.parametrize(("flag", "fmt", "data"), [
    ("--format", "toml", TOML_EXAMPLE.read_bytes()),
    ("--format", "json", json.dumps(minimal_spec()).encode()),
    ("--spec-format", "toml", TOML_EXAMPLE.read_bytes()),
])
def test_stdin_takes_its_format_from_the_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flag: str, fmt: str, data: bytes
) -> None:
    stdin_of(monkeypatch, data)
    assert main(["validate", "-", flag, fmt]) == EXIT_OK
    assert capsys.readouterr().out == "-: valid\n"


def test_the_format_flag_overrides_the_file_name(tmp_path: Path) -> None:
    spec = write(tmp_path, "spec.txt", TOML_EXAMPLE.read_bytes())
    assert main(["compile", str(spec), "--format", "toml", "-o", str(tmp_path / "out")]) == EXIT_OK


def test_explain_takes_the_spec_format_too(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin_of(monkeypatch, TOML_EXAMPLE.read_bytes())
    assert main(["explain", "-", "--spec-format", "toml"]) == EXIT_OK
    assert "cluster kube-prod" in capsys.readouterr().out


def test_toml_on_stdin_without_a_format_gets_a_hint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin_of(monkeypatch, TOML_EXAMPLE.read_bytes())
    assert main(["validate", "-"]) == EXIT_INVALID
    (line,) = problem_lines(capsys.readouterr().err, Path("-"))
    assert line.endswith("(this looks like TOML: name the file .toml, or pass --spec-format toml)")


def test_a_toml_file_named_yaml_gets_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "cluster.yaml", TOML_EXAMPLE.read_bytes())
    assert main(["validate", str(spec)]) == EXIT_INVALID
    (line,) = problem_lines(capsys.readouterr().err, spec)
    assert "this looks like TOML" in line


def test_a_broken_yaml_file_gets_no_toml_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "broken.yaml", "name: [unclosed\n")
    assert main(["validate", str(spec)]) == EXIT_INVALID
    assert "TOML" not in capsys.readouterr().err


def test_an_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-", "--format", "xml"]) == EXIT_USAGE
    assert "invalid choice" in capsys.readouterr().err


# --- usage and I/O errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [[], ["frobnicate"], ["compile"], ["validate", "a", "b"], ["compile", "x.yaml", "--bogus"]]
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "usage:" in err
    assert "Traceback" not in err


def test_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out == f"nixk8s {__version__}\n"


def test_python_dash_m_nixk8s_is_the_command() -> None:
    result = subprocess.run([sys.executable, "-m", "nixk8s", "--version"], capture_output=True, text=True)
    assert result.returncode == EXIT_OK
    assert result.stdout == f"nixk8s {__version__}\n"


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == EXIT_OK
    assert "compile" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["compile", "validate", "explain"])
def test_missing_file_exits_2(tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    assert main([command, str(missing)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == f"nixk8s: cannot read {missing}: No such file or directory\n"


def test_directory_as_spec_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith(f"nixk8s: cannot read {tmp_path}")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "secret.yaml", spec_yaml())
    spec.chmod(0)
    assert main(["validate", str(spec)]) == EXIT_USAGE
    assert "Permission denied" in capsys.readouterr().err


def test_spec_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    stdin = io.TextIOWrapper(io.BytesIO(spec_yaml().encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["validate", "-"]) == EXIT_OK
    assert capsys.readouterr().out == "-: valid\n"


# --- schema -----------------------------------------------------------------------------------------------------


def schema_validator(capsys: pytest.CaptureFixture[str]) -> Any:
    jsonschema = require_module("jsonschema")
    assert main(["schema"]) == EXIT_OK
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.*")), ids=lambda p: p.name)
def test_schema_validates_the_example_specs(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    validator = schema_validator(capsys)
    data = tomllib.loads(path.read_text()) if path.suffix == ".toml" else yaml.safe_load(path.read_text())
    errors = list(validator.iter_errors(data))
    assert errors == []


def test_schema_rejects_what_load_rejects(capsys: pytest.CaptureFixture[str]) -> None:
    validator = schema_validator(capsys)
    assert not validator.is_valid(yaml.safe_load(FIVE_SHAPE_MISTAKES))
    assert not validator.is_valid({"name": "demo"})


def test_schema_describes_every_top_level_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == EXIT_OK
    schema = json.loads(capsys.readouterr().out)
    spec = schema["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    assert {"name", "backend", "region", "node_pools", "bootstrap_secrets", "hcloud"} <= set(spec["properties"])
    assert set(spec["required"]) == {"name", "backend", "region", "node_pools"}


def test_schema_types_the_pass_through_options_but_gives_them_no_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    validator = schema_validator(capsys)
    options = {"pki": {"mode": "auto", "cert_validity_days": 365}, "graceful_node_shutdown": True}
    assert validator.is_valid(minimal_spec(distribution="kubernetes", nixos={"kubernetes": options}))
    assert not validator.is_valid(minimal_spec(distribution="kubernetes", nixos={"kubernetes": {"pki": {"mode": 1}}}))
    assert main(["schema"]) == EXIT_OK
    pki = json.loads(capsys.readouterr().out)["$defs"]["PKI"]
    assert not any("default" in field for field in pki["properties"].values())


# --- explain -------------------------------------------------------------------------------------------------------


def explain_output(capsys: pytest.CaptureFixture[str], spec: Path = EXAMPLE) -> str:
    assert main(["explain", str(spec)]) == EXIT_OK
    return capsys.readouterr().out


def test_explain_lists_nodes_with_roles_and_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    out = explain_output(capsys)
    assert "server   index 0" in out
    assert "hcloud_server.demo_cp_0 at 10.0.1.2; initialises the cluster" in out
    assert "hcloud_server.demo_cp_1 at 10.0.1.3; joins https://10.0.1.254:6443" in out
    assert out.count("  agent ") == 4
    assert "pool workers: cx42, min 2 / desired 3 / max 6" in out


def test_explain_lists_open_ports_and_who_may_reach_them(capsys: pytest.CaptureFixture[str]) -> None:
    out = explain_output(capsys)
    assert "22/tcp" in out and "from 203.0.113.0/24" in out
    assert "10250/tcp" in out and "from 10.0.0.0/16" in out


def test_explain_says_which_secrets_go_where(capsys: pytest.CaptureFixture[str]) -> None:
    out = explain_output(capsys)
    servers = next(line for line in out.splitlines() if line.strip().startswith("servers:"))
    agents = next(line for line in out.splitlines() if line.strip().startswith("agents:"))
    assert "sops_age_key" in servers and "k3s_tls_server_ca_key (generated)" in servers
    assert "sops_age_key" not in agents and "k3s_tls_" not in agents
    assert "k3s_server_token (generated)" in agents
    assert "terraform variables (sensitive; set each with TF_VAR_NAME or a -var-file):\n  nix_github_token " in out


def test_explain_marks_closed_ports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "c.yaml", spec_yaml(access={"ssh_sources": []}))
    out = explain_output(capsys, spec)
    ssh = next(line for line in out.splitlines() if line.strip().startswith("22/tcp"))
    assert "nobody (closed)" in ssh


def test_explain_of_an_invalid_spec_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "bad.yaml", FIVE_SHAPE_MISTAKES)
    assert main(["explain", str(spec)]) == EXIT_INVALID
    assert capsys.readouterr().out == ""


# --- the installed command ----------------------------------------------------------------------------------------


def nixk8s_command() -> list[str]:
    script = Path(sys.executable).parent / "nixk8s"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "nixk8s.cli"]


def test_installed_command_compiles_and_validates(tmp_path: Path) -> None:
    compiled = subprocess.run(
        [*nixk8s_command(), "compile", str(EXAMPLE), "-o", str(tmp_path)], capture_output=True, text=True
    )
    assert compiled.returncode == EXIT_OK, compiled.stderr
    assert (tmp_path / "main.tf.json").is_file()
    bad = write(tmp_path, "five.yaml", FIVE_SHAPE_MISTAKES)
    validated = subprocess.run([*nixk8s_command(), "validate", str(bad)], capture_output=True, text=True)
    assert validated.returncode == EXIT_INVALID
    assert len(problem_lines(validated.stderr, bad)) == 5
    usage = subprocess.run([*nixk8s_command(), "compile"], capture_output=True, text=True)
    assert usage.returncode == EXIT_USAGE


def test_cli_output_matches_the_library(tmp_path: Path) -> None:
    from support import compiled_example

    assert main(["compile", str(EXAMPLE), "-o", str(tmp_path)]) == EXIT_OK
    assert (tmp_path / "main.tf.json").read_bytes() == compiled_example(EXAMPLE).to_json()


def test_spec_with_workers_compiles_through_the_command(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "w.yaml",
        spec_yaml(node_pools=[{"name": "system", "instance_types": ["cx32"]}, worker_pool()],
                  bootstrap_secrets={"k3s_server_token": "tok"}, network={}),
    )
    assert main(["compile", str(spec), "-o", str(tmp_path / "out")]) == EXIT_OK
    doc = json.loads((tmp_path / "out" / "main.tf.json").read_text())
    assert {"demo_workers_0", "demo_workers_1"} <= set(doc["resource"]["hcloud_server"])


SIX_INDEPENDENT_MISTAKES = """\
name: Demo_Cluster
backend: hcloud
region: nbg1
node_pools:
  - {name: system, instance_types: [cx32], min_size: 3, max_size: 2, disk_size_gb: 5}
  - {name: workers, instance_types: []}
network: {vpc_cidr: 10.0.0.0/16}
bootstrap_secrets: {k3s_server_token: a-token}
gcp: {project: p}
hcloud: {image: nixos}
colour: blue
"""


def test_validate_prints_six_independent_mistakes_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "six.yaml", SIX_INDEPENDENT_MISTAKES)
    assert main(["validate", str(spec)]) == EXIT_INVALID
    paths = [line.split(": ", 2)[1] for line in problem_lines(capsys.readouterr().err, spec)]
    assert paths == [
        "colour",
        "gcp",
        "name",
        "node_pools[0].disk_size_gb",
        "node_pools[0].max_size",
        "node_pools[1].instance_types",
    ]


def test_a_broken_required_field_does_not_hide_the_cloud_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "two.yaml", spec_yaml(name="Not A Name", hcloud={}))
    assert main(["validate", str(spec)]) == EXIT_INVALID
    paths = [line.split(": ", 2)[1] for line in problem_lines(capsys.readouterr().err, spec)]
    assert paths == ["hcloud.image", "name"]


def test_compile_says_what_to_run_next_and_which_variables_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = spec_yaml(credentials="external", bootstrap_secrets={"k3s_server_token": {"var": "k3s_token"}})
    spec = write(tmp_path, "s.yaml", raw)
    assert main(["compile", str(spec), "-o", str(tmp_path / "out")]) == EXIT_OK
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"next: cd {tmp_path / 'out'} && terraform init && terraform apply (set TF_VAR_k3s_token first, or pass -var-file)"


def test_with_generated_credentials_compile_names_no_variable_and_says_where_the_kubeconfig_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write(tmp_path, "s.yaml", spec_yaml())
    assert main(["compile", str(spec), "-o", str(tmp_path / "out")]) == EXIT_OK
    last = capsys.readouterr().out.splitlines()[-1]
    out = tmp_path / "out"
    assert last == f"next: cd {out} && terraform init && terraform apply && terraform output -raw kubeconfig > kubeconfig"


def test_compile_names_only_the_variables_the_spec_still_needs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path, "s.yaml", spec_yaml(bootstrap_secrets={"sops_age_key": {"var": "age"}}))
    assert main(["compile", str(spec), "-o", str(tmp_path / "out")]) == EXIT_OK
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.endswith("kubeconfig > kubeconfig (set TF_VAR_age first, or pass -var-file)")


def test_explain_lists_the_outputs_and_how_to_set_each_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(SPECS / "aws-k3s-ha.yaml")]) == EXIT_OK
    text = capsys.readouterr().out
    assert "terraform variables (sensitive; set each with TF_VAR_NAME or a -var-file):" in text
    assert "sops_age_key             sops_age_key; at most 512 characters once JSON-escaped" in text
    outputs = text.split("outputs (terraform output NAME):\n", 1)[1]
    assert [line.split()[0] for line in outputs.splitlines()[:3]] == ["api_endpoint", "control_plane_addresses", "control_plane_asgs"]
