"""Shared test support: compiling specs, the real checkers, and decoding applied state.

Every external checker (tfcheck, cloud-init, shellcheck, bash) is found here once;
tests that need one call the ``require_*`` helper, which skips with a clear reason
where it is missing (a clone without ``../shared``, a machine without the package).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from nixk8s.compiler import Compiled, compile_spec
from nixk8s.load import load, parse
from nixk8s.spec import ClusterSpec

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
SHARED = ROOT.parent / "shared"
CONSUMER_SCHEMA = SHARED / "consumer" / "cluster-config.schema.json"
CONFIG_PATH = "/etc/pangea/cluster-config.json"


# --- compiling -------------------------------------------------------------------------


def load_spec(text: str | bytes, fmt: str = "yaml") -> ClusterSpec:
    data = text.encode() if isinstance(text, str) else text
    return load(data, fmt).unwrap()  # type: ignore[arg-type]


def compile_text(text: str, fmt: str = "yaml") -> Compiled:
    return parse(text.encode(), fmt).bind(compile_spec).unwrap()  # type: ignore[arg-type]


def compile_file(path: Path) -> Compiled:
    from nixk8s.load import format_of

    return parse(path.read_bytes(), format_of(path.name)).bind(compile_spec).unwrap()


def dummy_tfvars(compiled: Compiled) -> dict[str, str]:
    """A value for every variable, valid for its validation blocks."""
    values = {}
    for v in compiled.plan.variables:
        conditions = " ".join(c for c, _ in v.validations)
        values[v.name] = "abcdef.0123456789abcdef" if "regex(\"^[a-z0-9]{6}" in conditions else f"{v.name}-Value-123"
    return values


def write_module(compiled: Compiled, directory: Path, tfvars: dict[str, str] | None = None) -> Path:
    """Write main.tf.json (and a terraform.tfvars.json for its variables) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf.json").write_bytes(compiled.to_json())
    values = dummy_tfvars(compiled) if tfvars is None else tfvars
    if values:
        (directory / "terraform.tfvars.json").write_text(json.dumps(values))
    return directory


# --- tfcheck ---------------------------------------------------------------------------


@cache
def tfcheck_path() -> Path | None:
    env = os.environ.get("TFCHECK")
    candidates = [Path(env)] if env else []
    candidates.append(SHARED / "tfcheck" / "tfcheck")
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def require_tfcheck() -> Path:
    path = tfcheck_path()
    if path is None:
        pytest.skip("tfcheck not found: set $TFCHECK or put ../shared/tfcheck beside the repo")
    return path


def tfcheck(directory: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run tfcheck; the test fails with terraform's diagnostics when it does."""
    tool = require_tfcheck()
    result = subprocess.run(
        [str(tool), *flags, str(directory)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"tfcheck {' '.join(flags)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def apply_state(compiled: Compiled, tmp: Path, tfvars: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Simulate an apply; return each resource's final values by address."""
    module = write_module(compiled, tmp / "module", tfvars)
    state_file = tmp / "state.json"
    tfcheck(module, "--apply", "--state-out", str(state_file))
    state = json.loads(state_file.read_text())
    return resources_by_address(state)


def resources_by_address(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def walk(module: dict[str, Any]) -> None:
        for r in module.get("resources", []):
            out[r["address"]] = r["values"]
        for child in module.get("child_modules", []):
            walk(child)

    walk(state["values"]["root_module"])
    return out


# --- user_data -------------------------------------------------------------------------

_HEREDOC = re.compile(r"<<'?PANGEA_CONFIG_EOF'?\n(.*?)\nPANGEA_CONFIG_EOF\n", re.S)


def decode_user_data(value: str) -> str:
    """user_data as the machine sees it: base64-decoded where the provider stores it so."""
    if value.startswith(("#!", "#cloud-config")):
        return value
    return base64.b64decode(value).decode()


def embedded_config(user_data: str) -> dict[str, Any]:
    """The cluster-config JSON a user_data writes (before any boot-time index probe)."""
    if user_data.startswith("#cloud-config"):
        import yaml

        doc = yaml.safe_load(user_data)
        (entry,) = [f for f in doc["write_files"] if "cluster-config" in f["path"]]
        return json.loads(entry["content"])
    match = _HEREDOC.search(user_data)
    assert match, "no PANGEA_CONFIG_EOF heredoc in the script"
    return json.loads(match.group(1))


def embedded_json_text(user_data: str) -> str:
    """The exact JSON text (bytes as written to the file) a user_data carries."""
    if user_data.startswith("#cloud-config"):
        import yaml

        doc = yaml.safe_load(user_data)
        (entry,) = [f for f in doc["write_files"] if "cluster-config" in f["path"]]
        return str(entry["content"])
    match = _HEREDOC.search(user_data)
    assert match
    return match.group(1) + "\n"


@cache
def consumer_validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    if not CONSUMER_SCHEMA.is_file():
        pytest.skip(f"consumer schema not found at {CONSUMER_SCHEMA}")
    schema = json.loads(CONSUMER_SCHEMA.read_text())
    return jsonschema.Draft202012Validator(schema)


def assert_kindling_accepts(config: dict[str, Any]) -> None:
    errors = sorted(consumer_validator().iter_errors(config), key=lambda e: list(e.path))
    assert not errors, "kindling would refuse this config:\n" + "\n".join(
        f"  {list(e.path)}: {e.message}" for e in errors
    )


# --- external checkers -------------------------------------------------------------------


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package {package})")
    return path


def shellcheck(script: str) -> None:
    tool = require_tool("shellcheck", "shellcheck")
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(script)
    try:
        result = subprocess.run([tool, "-s", "sh", f.name], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        bash = require_tool("bash", "bash")
        syntax = subprocess.run([bash, "-n", f.name], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
    finally:
        os.unlink(f.name)


def cloud_init_schema(document: str) -> None:
    tool = require_tool("cloud-init", "cloud-init")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(document)
    try:
        result = subprocess.run([tool, "schema", "-c", f.name], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        os.unlink(f.name)
