"""checkov's public policy set over every compiled example and every `init` starter: each finding is fixed in the
compiler or waived, with its reason, in docs/checkov-waivers.toml.

checkov lives in its own venv (its pins would hold back the test tools); .ci/run
creates it and sets $CHECKOV. Elsewhere the test skips with the reason, unless
NIXK8S_REQUIRE_TOOLS=1 (as in CI), where a missing checkov fails.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, SPECS, compile_text, compiled_example, missing_tool

from nixk8s.starter import BACKENDS, DISTRIBUTIONS, starter

# the tests share one checkov scan of every example (a module fixture): one xdist worker
# runs them all (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("checkov")

WAIVERS = ROOT / "docs" / "checkov-waivers.toml"
EXAMPLES = sorted(p for p in SPECS.iterdir() if p.suffix in (".yaml", ".toml", ".json"))
STARTERS = [f"starter-{b}-{d}" for b in BACKENDS for d in DISTRIBUTIONS]


def checkov_path() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(ROOT / ".venv-checkov" / "bin" / "checkov"), shutil.which("checkov")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def require_checkov() -> str:
    path = checkov_path()
    if path is None:
        missing_tool("checkov not installed: run .ci/run, or set $CHECKOV to its executable")
    return path


def waivers() -> list[dict[str, str]]:
    return list(tomllib.loads(WAIVERS.read_text())["waiver"])


def resource_type(lines: list[str], first_line: int) -> str:
    """The resource type of the block starting at ``first_line`` (1-based) in a main.tf.json
    that nixk8s wrote: the nearest key above it at the type level (four spaces in)."""
    for line in reversed(lines[: first_line - 1]):
        if line.startswith('    "') and not line.startswith("     "):
            return line.strip().split('"')[1]
    raise AssertionError(f"no resource type above line {first_line}")


class Finding(dict[str, str]):
    """A failed check: ``check``, ``resource`` (TYPE.NAME) and ``example``."""


@cache
def scan(directory: str) -> tuple[dict[str, Any], ...]:
    tool = require_checkov()
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "WARNING", "HOME": directory}
    result = subprocess.run(
        [tool, "-d", directory, "--framework", "terraform_json", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        cwd=directory,
        env=env,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return tuple(report if isinstance(report, list) else [report])


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run over every example: its findings and the number of checks run per example."""
    root = tmp_path_factory.mktemp("checkov")
    for spec in EXAMPLES:
        (root / spec.stem).mkdir()
        (root / spec.stem / "main.tf.json").write_bytes(compiled_example(spec).to_json())
    for name in STARTERS:
        _, backend, distribution = name.split("-")
        (root / name).mkdir()
        (root / name / "main.tf.json").write_bytes(compile_text(starter(backend, distribution)).to_json())  # type: ignore[arg-type]
    findings: list[Finding] = []
    checked: dict[str, int] = {}
    for framework in scan(str(root)):
        results = framework.get("results", {})
        for outcome in ("passed_checks", "failed_checks"):
            for record in results.get(outcome, []):
                example = Path(record["file_abs_path"]).parent.name
                checked[example] = checked.get(example, 0) + 1
                if outcome == "failed_checks":
                    lines = Path(record["file_abs_path"]).read_text().splitlines()
                    name = record["resource"].split(".", 1)[1]
                    kind = resource_type(lines, record["file_line_range"][0])
                    findings.append(Finding(check=record["check_id"], resource=f"{kind}.{name}", example=example))
    return {"findings": findings, "checked": checked}


def waiver_for(finding: Finding) -> dict[str, str] | None:
    return next(
        (w for w in waivers() if w["check"] == finding["check"] and fnmatch.fnmatch(finding["resource"], w["resource"])),
        None,
    )


def test_every_waiver_has_a_reason() -> None:
    for waiver in waivers():
        assert len(waiver["reason"].split()) >= 8, waiver


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_every_finding_on_the_example_is_waived_with_a_reason(report: dict[str, Any], spec: Path) -> None:
    unwaived = [f for f in report["findings"] if f["example"] == spec.stem and waiver_for(f) is None]
    assert not unwaived, "fix these in the compiler or waive them in docs/checkov-waivers.toml:\n" + "\n".join(
        f"  {f['check']} {f['resource']}" for f in unwaived
    )


@pytest.mark.parametrize("name", STARTERS)
def test_every_finding_on_a_starter_is_waived_with_a_reason(report: dict[str, Any], name: str) -> None:
    unwaived = [f for f in report["findings"] if f["example"] == name and waiver_for(f) is None]
    assert not unwaived, "give the starter a secure default, or waive in docs/checkov-waivers.toml:\n" + "\n".join(
        f"  {f['check']} {f['resource']}" for f in unwaived
    )


@pytest.mark.parametrize("spec", [s for s in EXAMPLES if not s.name.startswith("hcloud")], ids=lambda p: p.name)
def test_checkov_really_checked_the_example(report: dict[str, Any], spec: Path) -> None:
    # checkov has no Hetzner checks; on every other cloud a run that checks nothing is a broken run
    assert report["checked"].get(spec.stem, 0) >= 20


def test_no_waiver_outlives_its_finding(report: dict[str, Any]) -> None:
    used = {(w["check"], w["resource"]) for f in report["findings"] if (w := waiver_for(f)) is not None}
    stale = [w for w in waivers() if (w["check"], w["resource"]) not in used]
    assert not stale, f"waivers that match no finding any more: {stale}"


# checkov's findings of a node holding a public address (or a subnet handing them out)
PUBLIC_ADDRESS_CHECKS = {"CKV_AWS_88", "CKV_AWS_130", "CKV_GCP_40", "CKV_AZURE_119"}
PRIVATE_EXAMPLES = [s for s in EXAMPLES if s.stem.endswith("-private") and not s.name.startswith("hcloud")]


@pytest.mark.parametrize("spec", PRIVATE_EXAMPLES, ids=lambda p: p.name)
def test_private_nodes_leave_no_public_address_finding(report: dict[str, Any], spec: Path) -> None:
    found = [f for f in report["findings"] if f["example"] == spec.stem and f["check"] in PUBLIC_ADDRESS_CHECKS]
    assert not found, found


def test_the_public_examples_have_the_public_address_findings_private_nodes_remove(report: dict[str, Any]) -> None:
    # the check above can fail: the same checks find the public examples' addresses
    public = {f["check"] for f in report["findings"] if not f["example"].endswith("-private")}
    assert PUBLIC_ADDRESS_CHECKS - {"CKV_AWS_88"} <= public
