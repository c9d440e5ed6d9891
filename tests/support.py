"""Shared test support: compiling specs, the real checkers, and decoding applied state.

Every external checker (tfcheck, cloud-init, shellcheck, bash, unshare, the consumer
schema, the jsonschema and mypy packages) is found here once; tests that need one call
the ``require_*`` helper, which skips with a clear reason where it is missing (a clone
without ``../shared``, a machine without the package). With ``NIXK8S_REQUIRE_TOOLS=1``
(set by ``.ci/run``) a missing tool fails the test instead: CI checks everything or fails.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import importlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import msgspec
import pytest

from nixk8s import names
from nixk8s.backends.registry import BACKENDS
from nixk8s.backends.base import Backend, Placed
from nixk8s.backends.pipeline import api_endpoint, plan_for
from nixk8s.backends.hcloud.autoscaler import HETZNER_METADATA
from nixk8s.compiler import Compiled, compile_source, compile_spec
from nixk8s.credentials import credential_outputs
from nixk8s.index_probe import MetadataFetch
from nixk8s.load import load, parse
from nixk8s.node_config import agent_config
from nixk8s.node_index import agent_node_index
from nixk8s.render import MachineNode, MachinePool, WorkerPool, control_plane_nodes, render_node
from nixk8s.spec import ClusterSpec, NodePool
from nixk8s.terraform import Fragment, combine, document, to_json

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
SHARED = ROOT.parent / "shared"
CONSUMER_SCHEMA = SHARED / "consumer" / "cluster-config.schema.json"
CONFIG_PATH = "/etc/pangea/cluster-config.json"


# --- a missing tool: a skip here, a failure in CI -------------------------------------------

REQUIRE_TOOLS = "NIXK8S_REQUIRE_TOOLS"


def tools_required() -> bool:
    """Whether a missing external tool must fail the test ($NIXK8S_REQUIRE_TOOLS=1, as in CI)."""
    return os.environ.get(REQUIRE_TOOLS) == "1"


def missing_tool(reason: str) -> NoReturn:
    """Skip (or, where tools are required, fail) because an external tool is missing.

    Every skip for a missing tool goes through here, so that CI, which sets the switch,
    never passes with a check that did not run. (Also usable at module level.)
    """
    if tools_required():
        pytest.fail(f"{reason} [{REQUIRE_TOOLS}=1: every external tool must be present]", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_module(name: str) -> ModuleType:
    """The Python package ``name`` of the test extra, imported (else :func:`missing_tool`)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing_tool(f"Python package {name} not installed: it is in the test extra (pip install -e '.[test]')")


# --- compiling -------------------------------------------------------------------------


def load_spec(text: str | bytes, fmt: str = "yaml") -> ClusterSpec:
    data = text.encode() if isinstance(text, str) else text
    return load(data, fmt).unwrap()  # type: ignore[arg-type]


def compile_text(text: str, fmt: str = "yaml") -> Compiled:
    return parse(text.encode(), fmt).bind(compile_spec).unwrap()  # type: ignore[arg-type]


def compile_file(path: Path) -> Compiled:
    from nixk8s.load import format_of

    return parse(path.read_bytes(), format_of(path.name)).bind(compile_spec).unwrap()


@cache
def compiled_example(path: Path) -> Compiled:
    """The compiled example spec at ``path``, compiled once per test session (a worker's):
    a Compiled is frozen, so the tests share it. (A test of determinism compiles twice
    with :func:`compile_file`.)"""
    return compile_file(path)


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


# --- the reference rendering: every machine from scratch, no stamping -------------------


def reference_machine(
    plan: Any, join: Any, pool: NodePool, k: int, group_size: int | None, boot: tuple[Any, ...] = ()
) -> MachineNode:
    """Machine ``k`` rendered from scratch, its node index in its config as an integer."""
    node = render_node(
        plan,
        names.worker_node(plan.name, pool.name, k),
        k,
        agent_config(plan.spec, pool, agent_node_index(pool.name, k), join=join, generated=plan.agent_generated_secrets),
        boot=boot,
    )
    return MachineNode(
        name=node.name,
        cloud_name=node.cloud_name,
        ordinal=str(k),
        spread_group=str(k // group_size) if group_size else "0",
        config=node.config,
        json=node.json,
        user_data=node.user_data,
    )


def reference_worker_pools(backend: Backend[Any], plan: Any, infra: Any, join: Any) -> list[Placed]:
    """Every pool built by its hook: every machine rendered from scratch (or the one
    template a template-built pool has)."""
    spec, probe, size = plan.spec, backend.worker_index_probe, backend.spread_group_size
    boot = backend.boot_steps(plan)
    placed = []
    for i, pool in spec.worker_pools:
        if probe is not None and backend.templated_pool(pool):
            config = agent_config(spec, pool, None, join=join, generated=plan.agent_generated_secrets)
            nodes = (render_node(plan, names.worker_template(plan.name, pool.name), 0, config, probe, boot),)
            placed.append(backend.worker_pool(plan, infra, WorkerPool(i, pool, nodes)))
        else:
            machines = tuple(reference_machine(plan, join, pool, k, size, boot) for k in range(pool.desired))
            groups = tuple(sorted({k // size if size else 0 for k in range(pool.desired)}))
            placed.append(backend.machine_pool(plan, infra, MachinePool(i, pool, machines, groups)))
    return placed


def reference_json(spec: ClusterSpec) -> bytes:
    """main.tf.json as the straightforward pipeline writes it: no stamping, one plain document."""
    backend = BACKENDS[spec.backend]
    plan = plan_for(backend, spec)
    foundation = backend.foundation(plan)
    infra, join = foundation.infra, foundation.join_host
    servers = control_plane_nodes(
        plan, foundation.server_joins(plan), foundation.network_id, foundation.certificate_names, backend.boot_steps(plan), foundation.snapshot_bucket
    )
    placed = [backend.control_plane_node(plan, infra, node) for node in servers]
    outputs = backend.outputs(plan, infra, tuple(h for p in placed for h in p.handles))
    made = plan.credentials
    fragment = combine(
        [
            Fragment(variables=plan.variables),
            Fragment(resources=made.resources) if made is not None else Fragment(),
            foundation.fragment,
            *(combine([p.fragment, backend.post_instance(plan, infra, n)]) for p, n in zip(placed, servers)),
            *(combine([pool.shared, pool.fragment]) for pool in reference_worker_pools(backend, plan, infra, join)),
            outputs,
            credential_outputs(plan.name, api_endpoint(outputs), made),
        ]
    )
    providers = [backend.provider_for(plan), *(made.providers if made is not None else ())]
    return to_json(document(providers, fragment))


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
        missing_tool("tfcheck not found: set $TFCHECK or put ../shared/tfcheck beside the repo")
    return path


def tfcheck(directory: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run tfcheck; the test fails with terraform's diagnostics when it does.

    Within a test session, a run is made once per module content and flags: tfcheck
    is deterministic, so a second test asking the same (an example applied by two test
    modules, or by two xdist workers) reads the first run's result (see
    :func:`_cached_tfcheck`).
    """
    tool = require_tfcheck()
    result = _cached_tfcheck(tool, directory, flags)
    assert result.returncode == 0, f"tfcheck {' '.join(flags)} failed:\n{result.stdout}\n{result.stderr}"
    return result


# the session's cache of tfcheck runs: a directory shared by the xdist workers, made
# (and removed) by conftest.py; unset, every call runs tfcheck
TFCHECK_CACHE = "NIXK8S_TFCHECK_CACHE"
_STATE_WRITTEN = "tfcheck: state JSON written to {}\n"


def _module_digest(directory: Path) -> str:
    """A digest of every file tfcheck copies from ``directory`` (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(directory)}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _run_tfcheck(tool: Path, directory: Path, flags: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    command = [str(tool), *flags, str(directory)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def _cached_tfcheck(tool: Path, directory: Path, flags: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """tfcheck's result for ``directory`` with ``flags``, run at most once per session.

    The key is the module's content and the flags without ``--state-out``: an apply
    always writes its state into the cache, and a caller asking for ``--state-out FILE``
    gets a copy at FILE and the line tfcheck prints for it, exactly as a run of its own
    would give. A lock file makes a second worker wait for a run in progress.
    """
    cache = os.environ.get(TFCHECK_CACHE)
    state_out = flags[flags.index("--state-out") + 1] if "--state-out" in flags else None
    uncachable = state_out == "-" or (state_out is not None and not Path(state_out).resolve().parent.is_dir())
    if not cache or uncachable or any(f.startswith("--state-out=") or f == "--keep" for f in flags):
        return _run_tfcheck(tool, directory, flags)
    rest = tuple(f for f in flags if f not in ("--state-out", state_out))
    key = hashlib.sha256(json.dumps([str(tool), rest, _module_digest(directory)]).encode()).hexdigest()[:32]
    entry = Path(cache) / key
    state = entry.with_suffix(".state.json")
    with open(entry.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not entry.is_file():
            run_flags = (*rest, "--state-out", str(state)) if "--apply" in rest else rest
            ran = _run_tfcheck(tool, directory, run_flags)
            record = {"returncode": ran.returncode, "stdout": ran.stdout, "stderr": ran.stderr}
            entry.with_suffix(".tmp").write_text(json.dumps(record))
            entry.with_suffix(".tmp").replace(entry)
    record = json.loads(entry.read_text())
    stdout = str(record["stdout"])
    if "--apply" in rest:
        written = _STATE_WRITTEN.format(state)
        if state_out is not None and state.is_file():
            target = Path(state_out) if Path(state_out).is_absolute() else Path.cwd() / state_out
            shutil.copyfile(state, target)
            stdout = stdout.replace(written, _STATE_WRITTEN.format(target))
        else:
            stdout = stdout.replace(written, "")
    return subprocess.CompletedProcess([str(tool), *flags, str(directory)], record["returncode"], stdout, record["stderr"])


def applied_state(compiled: Compiled, tmp: Path, tfvars: dict[str, str] | None = None) -> dict[str, Any]:
    """Simulate an apply; return the whole state (``values.root_module``, ``values.outputs``)."""
    module = write_module(compiled, tmp / "module", tfvars)
    state_file = tmp / "state.json"
    tfcheck(module, "--apply", "--state-out", str(state_file))
    return json.loads(state_file.read_text())  # type: ignore[no-any-return]


def apply_state(compiled: Compiled, tmp: Path, tfvars: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Simulate an apply; return each resource's final values by address."""
    return resources_by_address(applied_state(compiled, tmp, tfvars))


def state_outputs(state: dict[str, Any]) -> dict[str, Any]:
    """Each output's applied value, sensitive ones included."""
    return {name: output["value"] for name, output in state["values"].get("outputs", {}).items()}


def state_user_data(resources: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Every user_data in an applied state, decoded as the machine reads it, by the
    address of the resource that holds it (a machine, a template, a group's template)."""
    found: dict[str, list[str]] = {}

    def walk(address: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in USER_DATA_KEYS and isinstance(item, str) and item:
                    found.setdefault(address, []).append(decode_user_data(item))
                else:
                    walk(address, item)
        elif isinstance(value, list):
            for item in value:
                walk(address, item)

    for address, values in resources.items():
        walk(address, values)
    return found


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


def embedded_json_text(user_data: str) -> str:
    """The exact JSON text (bytes as written to the file) a user_data carries."""
    if user_data.startswith("#cloud-config"):
        import yaml

        # libyaml where it is there: the same document, read several times faster
        doc = yaml.load(user_data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        (entry,) = [f for f in doc["write_files"] if "cluster-config" in f["path"]]
        return str(entry["content"])
    match = _HEREDOC.search(user_data)
    assert match, "no PANGEA_CONFIG_EOF heredoc in the script"
    return match.group(1) + "\n"


def node_user_data(document: dict[str, Any]) -> list[str]:
    """The user_data of every node in a document: what carries a cluster config (a
    machine that is not a node, such as Hetzner's NAT machine, carries none)."""
    return [u for u in document_user_data(document) if is_node_user_data(u)]


def is_node_user_data(user_data: str) -> bool:
    """Whether a decoded user_data carries a cluster config (is a node's)."""
    return "cluster-config" in user_data or "PANGEA_CONFIG_EOF" in user_data


DROPIN_PATH = "/etc/rancher/k3s/config.yaml.d/50-nixk8s.yaml"
_DROPIN_HEREDOC = re.compile(r"<<'NIXK8S_K3S_CONFIG_EOF'\n(.*?)\nNIXK8S_K3S_CONFIG_EOF\n", re.S)


def embedded_dropin_text(user_data: str) -> str | None:
    """The text of the k3s drop-in a user_data writes, or None where it writes none."""
    if user_data.startswith("#cloud-config"):
        import yaml

        doc = yaml.safe_load(user_data)
        entries = [f for f in doc["write_files"] if f["path"] == DROPIN_PATH]
        assert len(entries) <= 1
        return str(entries[0]["content"]) if entries else None
    match = _DROPIN_HEREDOC.search(user_data)
    return match.group(1) + "\n" if match else None


def read_dropin(text: str) -> dict[str, Any]:
    """A drop-in as k3s reads it: YAML (checked to read exactly as the JSON it is written as)."""
    import yaml

    value = yaml.safe_load(text)
    assert value == json.loads(text), "the drop-in reads differently as YAML and as JSON"
    assert isinstance(value, dict)
    return value


def embedded_dropin(user_data: str) -> dict[str, Any] | None:
    """The k3s drop-in a user_data writes, as k3s reads it, or None."""
    text = embedded_dropin_text(user_data)
    return None if text is None else read_dropin(text)


def embedded_config(user_data: str) -> dict[str, Any]:
    """The cluster-config a user_data writes (before any boot-time index probe)."""
    return json.loads(embedded_json_text(user_data))  # type: ignore[no-any-return]


@cache
def consumer_validator() -> Any:
    jsonschema = require_module("jsonschema")
    if not CONSUMER_SCHEMA.is_file():
        missing_tool(f"consumer schema not found at {CONSUMER_SCHEMA}: put ../shared/consumer beside the repo")
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
        missing_tool(f"{name} not installed (Debian package {package})")
    return path


def _check_file(command: list[str], text: str, suffix: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` + a temporary file holding ``text``."""
    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as f:
        f.write(text)
    try:
        return subprocess.run([*command, f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)


def shellcheck(script: str) -> None:
    """The script passes shellcheck (as POSIX sh) and ``bash -n``."""
    result = _check_file([require_tool("shellcheck", "shellcheck"), "-s", "sh"], script, ".sh")
    assert result.returncode == 0, result.stdout + result.stderr
    syntax = _check_file([require_tool("bash", "bash"), "-n"], script, ".sh")
    assert syntax.returncode == 0, syntax.stderr


def cloud_init_schema(document: str) -> None:
    """The document passes ``cloud-init schema``."""
    result = _check_file([require_tool("cloud-init", "cloud-init"), "schema", "-c"], document, ".yaml")
    assert result.returncode == 0, result.stdout + result.stderr


# --- specs as data -------------------------------------------------------------------------


def minimal_spec(**overrides: Any) -> dict[str, Any]:
    """The smallest valid hcloud spec as raw data (one server, no workers), with ``overrides``.

    A value of ``None`` in ``overrides`` removes that field.
    """
    spec: dict[str, Any] = {
        "name": "demo",
        "backend": "hcloud",
        "region": "nbg1",
        "node_pools": [{"name": "system", "instance_types": ["cx32"], "min_size": 1, "max_size": 1}],
        "hcloud": {"image": "nixos-snapshot"},
    }
    spec.update(overrides)
    return {k: v for k, v in spec.items() if v is not None}


# WireGuard links of the operator's own, which kindling's VPN check accepts: what a
# cluster without `network` needs for its nodes to reach each other
OWN_VPN: dict[str, Any] = {
    "links": [
        {
            "name": "wg0",
            "private_key_file": "/run/secrets/wg0.key",
            "address": "10.100.0.1/24",
            "profile": "k8s-full",
            "firewall": {"allowed_tcp_ports": [6443, 10250], "allowed_udp_ports": [8472]},
            "peers": [
                {
                    "public_key": "A" * 43 + "=",
                    "allowed_ips": ["10.100.0.0/24"],
                    "preshared_key_file": "/run/secrets/wg0.psk",
                }
            ],
        }
    ]
}


def worker_pool(name: str = "workers", size: int = 2, **fields: Any) -> dict[str, Any]:
    """A raw worker pool of ``size`` nodes."""
    return {"name": name, "instance_types": ["cx42"], "min_size": size, "max_size": max(size, 1), **fields}


def spec_from(raw: dict[str, Any]) -> ClusterSpec:
    """A checked ClusterSpec from raw data (fails the test with the problems otherwise)."""
    result = load(json.dumps(raw).encode(), "json")
    spec = result.value_or(None)
    assert spec is not None, [str(p) for p in result.failure()]
    return spec


def problems_of(raw: dict[str, Any] | str | bytes, fmt: str = "json") -> tuple[Any, ...]:
    """Every Problem the command reports for ``raw`` (data is encoded as JSON), its
    cloud's checks included; () when it compiles."""
    data = json.dumps(raw).encode() if isinstance(raw, dict) else raw.encode() if isinstance(raw, str) else raw
    result = compile_source(data, fmt)  # type: ignore[arg-type]
    value = result.value_or(None)
    return () if value is not None else tuple(result.failure())


def problem_paths(raw: dict[str, Any] | str | bytes, fmt: str = "json") -> list[str]:
    return [p.path for p in problems_of(raw, fmt)]


def compile_raw(raw: dict[str, Any]) -> Compiled:
    return compile_spec(spec_from(raw)).unwrap()


def compile_problems(raw: dict[str, Any]) -> tuple[Any, ...]:
    """The problems ``compile_spec`` reports for a spec that loads (parse only, so §7 limits show)."""
    spec = parse(json.dumps(raw).encode(), "json").unwrap()
    result = compile_spec(spec)
    return () if result.value_or(None) is not None else tuple(result.failure())


# --- Terraform templates as the machine sees them ------------------------------------------
#
# nixk8s writes strings that Terraform reads as templates: literal text (with ``$${`` and
# ``%%{`` escapes) and ``${EXPR}`` interpolations of expressions nixk8s built. The helpers
# below split such strings, and evaluate the small expression language nixk8s uses
# (references, HCL string templates, jsonencode, base64encode) with a stand-in value for
# every reference, so that a test can read the exact text a node receives. They are
# written apart from nixk8s/readback.py on purpose: the tests read the output with a
# reader of their own, so a bug in the package's reader cannot hide one in its writer.


def placeholder(reference: str) -> str:
    """The stand-in value of a reference: its own text (``var.k3s_token``, ``hcloud_server.x.ipv4_address``)."""
    return reference


class _Interp(str):
    """The source text of one top-level ``${...}`` interpolation."""


def _skip_string(s: str, i: int) -> int:
    """Index after the HCL quoted string that starts at ``s[i] == '"'``."""
    i += 1
    while s[i] != '"':
        if s[i] == "\\":
            i += 2
        elif s.startswith(("$${", "%%{"), i):
            i += 3
        elif s.startswith(("${", "%{"), i):
            i = _interpolation_end(s, i) + 1
        else:
            i += 1
    return i + 1


def _interpolation_end(s: str, start: int) -> int:
    """Index of the ``}`` that closes the interpolation opened at ``s[start:start+2] == '${'``."""
    depth, i = 0, start + 2
    while i < len(s):
        c = s[i]
        if c == '"':
            i = _skip_string(s, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise AssertionError(f"unterminated interpolation at {start} in {s!r}")


_SIGIL = re.compile(r"[$%]")


def split_template(s: str) -> list[str]:
    """A Terraform template string as literal chunks (unescaped) and ``_Interp`` expression texts.

    >>> split_template('a $${b} ${var.c} %%{d}')
    ['a ${b} ', 'var.c', ' %{d}']
    """
    parts: list[str] = []
    literal: list[str] = []
    i = 0
    while i < len(s):
        if s.startswith("$${", i) or s.startswith("%%{", i):
            literal.append(s[i] + "{")
            i += 3
        elif s.startswith("${", i):
            end = _interpolation_end(s, i)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_Interp(s[i + 2 : end].strip()))
            i = end + 1
        elif s.startswith("%{", i):
            raise AssertionError(f"unescaped template directive in {s!r}")
        else:
            # up to the next "$" or "%" at once (a user_data is kilobytes of literal text)
            found = _SIGIL.search(s, i + 1)
            end = found.start() if found else len(s)
            literal.append(s[i:end])
            i = end
    if literal:
        parts.append("".join(literal))
    return parts


def interpolations(s: str) -> list[str]:
    """The source texts of the top-level ``${...}`` interpolations in a template string."""
    return [p for p in split_template(s) if isinstance(p, _Interp)]


_HCL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.\[\]]*")


def _eval(s: str, i: int, ref: Any) -> tuple[str, int]:
    """Evaluate the expression at ``s[i:]``; return its string value and the index after it."""
    while s[i] == " ":
        i += 1
    if s[i] == '"':
        out: list[str] = []
        i += 1
        while s[i] != '"':
            if s[i] == "\\":
                nxt = s[i + 1]
                if nxt == "u":
                    out.append(chr(int(s[i + 2 : i + 6], 16)))
                    i += 6
                else:
                    out.append(_HCL_ESCAPES[nxt])
                    i += 2
            elif s.startswith(("$${", "%%{"), i):
                out.append(s[i] + "{")
                i += 3
            elif s.startswith("${", i):
                value, i = _eval(s, i + 2, ref)
                while s[i] == " ":
                    i += 1
                assert s[i] == "}", f"expected }} at {i} in {s!r}"
                out.append(value)
                i += 1
            else:
                out.append(s[i])
                i += 1
        return "".join(out), i + 1
    match = _IDENT.match(s, i)
    assert match, f"cannot read an expression at {i} in {s!r}"
    name, i = match.group(), match.end()
    if i < len(s) and s[i] == "(":
        args: list[str] = []
        i += 1
        while s[i] != ")":
            value, i = _eval(s, i, ref)
            args.append(value)
            while s[i] in ", ":
                i += 1
        i += 1
        if name == "jsonencode":
            return json.dumps(args[0]), i
        if name == "base64encode":
            return base64.b64encode(args[0].encode()).decode(), i
        raise AssertionError(f"support.terraform_eval does not know {name}(): extend it")
    return ref(name), i


def terraform_eval(expr: str, ref: Any = placeholder) -> str:
    """The string value of an expression nixk8s builds, references replaced by ``ref(text)``.

    >>> terraform_eval('jsonencode("https://${hcloud_server.a.ipv4_address}:6443")')
    '"https://hcloud_server.a.ipv4_address:6443"'
    """
    value, end = _eval(expr, 0, ref)
    assert expr[end:].strip() == "", f"trailing text after expression: {expr!r}"
    return value


def render_template(s: str, ref: Any = placeholder) -> str:
    """A Terraform template string from main.tf.json as Terraform would evaluate it."""
    return "".join(terraform_eval(p, ref) if isinstance(p, _Interp) else p for p in split_template(s))


def concrete(text: Any, ref: Any = placeholder) -> str:
    """A compiler ``Text`` (str, Expr or Template) as the evaluated string, with stand-ins.

    Each ``Expr`` part (e.g. ``jsonencode(var.x)`` in a node's JSON) becomes the value
    Terraform would give it, so the result is concrete JSON / shell / cloud-config.
    """
    from nixk8s.terraform import Expr, Template

    if isinstance(text, str):
        return text
    if isinstance(text, Expr):
        return terraform_eval(text.text, ref)
    assert isinstance(text, Template)
    return "".join(p if isinstance(p, str) else terraform_eval(p.text, ref) for p in text.parts)


def rendered_nodes(compiled: Compiled) -> list[Any]:
    """Every RenderedNode of a compiled cluster, as each machine (or template) receives it:
    servers first, then each pool's machines."""
    built = compiled.built
    return [*built.control_plane, *(n for pool in built.workers for n in pool.machine_nodes())]


def node_config(node: Any, ref: Any = placeholder) -> dict[str, Any]:
    """The cluster-config a rendered node's user_data writes, as concrete JSON."""
    return embedded_config(concrete(node.user_data, ref))


# where a document holds user_data: resources' arguments, and an autoscaled Hetzner
# pool's entry of the cluster-autoscaler's config (a local)
USER_DATA_KEYS = ("user_data", "custom_data", "user-data", "cloudInit")


def document_ref(document: dict[str, Any], ref: Any = placeholder) -> Any:
    """A reference resolver for ``document``: ``local.NAME`` is its local's evaluated value."""
    local_values = document.get("locals", {})

    def resolve(reference: str) -> str:
        if reference.startswith("local."):
            value = local_values[reference.removeprefix("local.")]
            assert isinstance(value, str), f"{reference} is not a string"
            return render_template(value, resolve)
        return ref(reference)

    return resolve


def document_user_data(document: dict[str, Any], ref: Any = placeholder) -> list[str]:
    """Every user_data in a Terraform document, evaluated and decoded as the machine reads it."""
    found: list[str] = []
    ref = document_ref(document, ref)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in USER_DATA_KEYS and isinstance(item, str):
                    found.append(decode_user_data(render_template(item, ref)))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document.get("resource", {}))
    walk({k: v for k, v in document.get("locals", {}).items() if isinstance(v, dict)})
    return found


# --- a stand-in instance metadata service ----------------------------------------------------

_FAKE_CURL = r'''#!PYTHON
"""A stand-in curl that answers like a cloud's instance metadata service.

$FAKE_METADATA is a JSON list of routes {method, url, headers, body}: a request is
answered with the first route whose method and URL match and whose headers it sent
(curl -H), else it fails as curl -f does on HTTP 404 (exit 22).
"""
import json, os, sys

args = sys.argv[1:]
method, url, headers, i = "GET", None, [], 0
while i < len(args):
    a = args[i]
    if a == "-X":
        method = args[i + 1]; i += 2; continue
    if a == "-H":
        headers.append(args[i + 1]); i += 2; continue
    if a in ("--retry", "--retry-delay", "--max-time", "-m", "--connect-timeout", "--noproxy"):
        i += 2; continue
    if a.startswith("-"):
        i += 1; continue
    url = a; i += 1
with open(os.environ["FAKE_METADATA_LOG"], "a") as log:
    log.write(json.dumps({"method": method, "url": url, "headers": headers}) + "\n")
for route in json.loads(os.environ["FAKE_METADATA"]):
    if route["method"] == method and route["url"] == url and all(h in headers for h in route["headers"]):
        sys.stdout.write(route["body"])
        sys.exit(0)
sys.exit(22)
'''


def metadata_route(url: str, body: str, *headers: str, method: str = "GET") -> dict[str, Any]:
    """One answer of the stand-in metadata service."""
    return {"method": method, "url": url, "headers": list(headers), "body": body}


def metadata_service(fetch: MetadataFetch, ipv4: str) -> list[dict[str, Any]]:
    """The routes a real metadata service would answer for ``fetch``: nothing without
    the right header (or, with IMDSv2, without the session token). Hetzner answers a
    YAML list of the machine's private networks."""
    if fetch is HETZNER_METADATA:
        answer = f"- ip: {ipv4}\n  alias_ips: []\n  interface_num: 1\n  network_id: 1234\n"
        return [metadata_route(fetch.url, answer)]
    if fetch.token is None:
        return [metadata_route(fetch.url, ipv4, *([fetch.header] if fetch.header else []))]
    return [
        metadata_route(fetch.token.url, "a-session-token", fetch.token.request_header, method="PUT"),
        metadata_route(fetch.url, ipv4, f"{fetch.token.header}: a-session-token"),
    ]


def ipv4_as_index(ipv4: str) -> int:
    """The node_index a machine at ``ipv4`` must derive: its address as a 32-bit integer,
    written out here rather than taken from the probe under test."""
    a, b, c, d = (int(octet) for octet in ipv4.split("."))
    return (a << 24) + (b << 16) + (c << 8) + d


def write_fake_curl(directory: Path) -> Path:
    """The stand-in ``curl`` in ``directory`` (run by this Python, whatever PATH it gets)."""
    curl = directory / "curl"
    curl.write_text(_FAKE_CURL.replace("PYTHON", sys.executable, 1))
    curl.chmod(0o755)
    return curl


def fake_metadata_env(directory: Path, routes: list[dict[str, Any]]) -> dict[str, str]:
    """What the stand-in curl reads: the routes it answers, and where it logs requests."""
    return {"FAKE_METADATA": json.dumps(routes), "FAKE_METADATA_LOG": str(directory / "requests.log")}


def fake_curl_env(directory: Path, routes: list[dict[str, Any]]) -> dict[str, str]:
    """An environment whose ``curl`` is the stand-in metadata service answering ``routes``."""
    write_fake_curl(directory)
    return {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}", **fake_metadata_env(directory, routes)}


# --- booting a user_data for real, in a private mount namespace --------------------------------


class BootResult(msgspec.Struct, frozen=True):
    """What a user_data did: its exit status and output, and the files it left.

    ``config`` is the text of /etc/pangea/cluster-config.json (None when the script
    wrote none) and ``mode`` its permission bits; ``dropin`` and ``dropin_mode`` the
    same of the k3s drop-in.
    """

    returncode: int
    stdout: str
    stderr: str
    config: str | None
    mode: int | None
    dropin: str | None = None
    dropin_mode: int | None = None


# The namespace: /etc an overlay (writes land in $UPPER), /run a fresh tmpfs holding
# NixOS's system profile (/run/current-system/sw/bin, from $SYSTEM_PROFILE), and the
# command run with exactly $BOOT_PATH, as cloud-init would run it.
_NAMESPACE_SETUP = """set -eu
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$UPPER,workdir=$WORK" /etc
mount -t tmpfs tmpfs /run
if [ -n "${SYSTEM_PROFILE:-}" ]; then
  mkdir -p /run/current-system/sw
  ln -s "$SYSTEM_PROFILE" /run/current-system/sw/bin
fi
PATH="${BOOT_PATH:-$PATH}"
export PATH
exec "$@"
"""

# NixOS's core packages (nixos/modules/config/system-path.nix: coreutils, findutils,
# gawk, gnugrep, gnused, gnutar, gzip, xz, bzip2, diffutils, which, bash, curl, ...),
# as the commands a boot script finds in /run/current-system/sw/bin: in the test,
# the host's own (those it has) and the stand-in curl.
COREUTILS = (
    "[ arch b2sum base32 base64 basename basenc cat chcon chgrp chmod chown chroot cksum comm cp csplit cut date "
    "dd df dir dircolors dirname du echo env expand expr factor false fmt fold groups head hostid id install join "
    "link ln logname ls md5sum mkdir mkfifo mknod mktemp mv nice nl nohup nproc numfmt od paste pathchk pinky pr "
    "printenv printf ptx pwd readlink realpath rm rmdir runcon seq sha1sum sha224sum sha256sum sha384sum sha512sum "
    "shred shuf sleep sort split stat stdbuf stty sum sync tac tail tee test timeout touch tr true truncate tsort "
    "tty uname unexpand uniq unlink users vdir wc who whoami yes"
).split()
NIXOS_CORE_COMMANDS = (
    *COREUTILS,
    *"awk gawk sed grep egrep fgrep find xargs tar gzip gunzip zcat xz unxz bzip2 diff cmp which bash".split(),
)


def nixos_system_profile(directory: Path) -> Path:
    """A stand-in /run/current-system/sw/bin: the stand-in curl and the core commands."""
    directory.mkdir(parents=True, exist_ok=True)
    write_fake_curl(directory)
    for name in NIXOS_CORE_COMMANDS:
        found = shutil.which(name)
        if found is not None and not (directory / name).exists():
            (directory / name).symlink_to(found)
    return directory


def busybox_applets(directory: Path) -> Path:
    """A directory of busybox's applets, each a link to busybox: the PATH NixOS gives
    cloud-init's scripts, without the packages that busybox does not stand in for."""
    busybox = require_tool("busybox", "busybox")
    listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    directory.mkdir(parents=True, exist_ok=True)
    for applet in listed:
        if not (directory / applet).exists():
            (directory / applet).symlink_to(busybox)
    assert not (directory / "curl").exists(), "busybox has no curl applet"
    return directory


@cache
def namespace_problem() -> str | None:
    """Why a private mount namespace with an /etc overlay is not allowed here, or None.

    Not a missing tool (those are required first, see :func:`boot_in_namespace`): the
    machine does not let this process mount, so the test skips even in CI.
    """
    if os.geteuid() != 0:
        return "needs root to mount /etc as an overlay in a private mount namespace"
    with tempfile.TemporaryDirectory() as tmp:
        upper, work = Path(tmp, "upper"), Path(tmp, "work")
        upper.mkdir()
        work.mkdir()
        probe = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", _NAMESPACE_SETUP, "sh", "true"],
            env={**os.environ, "UPPER": str(upper), "WORK": str(work)},
            capture_output=True,
            text=True,
        )
    if probe.returncode != 0:
        return f"unshare --mount with an overlay /etc is not allowed here: {probe.stderr.strip()}"
    return None


def _written(path: Path) -> tuple[str | None, int | None]:
    if not path.is_file():
        return None, None
    return path.read_text(), stat.S_IMODE(path.stat().st_mode)


def boot_in_namespace(user_data: str, routes: list[dict[str, Any]], tmp: Path) -> BootResult:
    """Run ``user_data`` unmodified, as root, as a NixOS machine would at first boot.

    It runs in a private mount namespace where /etc is an overlay (writes land in a
    scratch directory, never on the host) and /run a fresh tmpfs, with exactly the
    PATH NixOS gives cloud-init's scripts, reduced to busybox's applets; curl (a
    stand-in metadata service answering ``routes``) and the core tools are only in
    /run/current-system/sw/bin, as on NixOS. A shell script is run by ``sh``; a
    ``#cloud-config`` document by cloud_config_runner.py (write_files, then runcmd,
    whose ``sh`` is busybox's). A missing ``unshare``, ``mount``, ``sh`` or ``busybox``
    is a missing tool; where such a namespace is not allowed (not root, no permission
    to mount) the test skips with the reason.
    """
    for tool, package in (("unshare", "util-linux"), ("mount", "mount"), ("sh", "dash")):
        require_tool(tool, package)
    problem = namespace_problem()
    if problem is not None:
        pytest.skip(problem)
    upper, work = tmp / "etc-upper", tmp / "etc-work"
    for d in (upper, work):
        d.mkdir(parents=True, exist_ok=True)
    applets = busybox_applets(tmp / "busybox")
    profile = nixos_system_profile(tmp / "system-profile")
    script = tmp / "user-data"
    script.write_text(user_data)
    if user_data.startswith("#cloud-config"):
        runner = Path(__file__).with_name("cloud_config_runner.py")
        command = [sys.executable, str(runner), str(script)]
    else:
        command = [require_tool("sh", "dash"), str(script)]
    env = {
        **os.environ,
        **fake_metadata_env(tmp, routes),
        "UPPER": str(upper),
        "WORK": str(work),
        "SYSTEM_PROFILE": str(profile),
        "BOOT_PATH": str(applets),
    }
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", _NAMESPACE_SETUP, "sh", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    config, mode = _written(upper / "pangea" / "cluster-config.json")
    dropin, dropin_mode = _written(upper / "rancher" / "k3s" / "config.yaml.d" / "50-nixk8s.yaml")
    return BootResult(
        returncode=result.returncode,
        stdout=result.stdout,
        stderr=result.stderr,
        config=config,
        mode=mode,
        dropin=dropin,
        dropin_mode=dropin_mode,
    )


def is_catalog_module(name: str) -> bool:
    """The modules any command may import for a cloud it does not compile for: the
    catalog and each cloud's vocabulary (its package and ``options``), never the
    cloud's pipeline (its Backend record and what it builds with).

    >>> is_catalog_module("nixk8s.backends.gcp.options"), is_catalog_module("nixk8s.backends.gcp.backend")
    (True, False)
    """
    if name in {"nixk8s.backends.catalog", "nixk8s.backends.cloud"}:
        return True
    from nixk8s.backends.catalog import NAMES

    parts = name.split(".")
    cloud = parts[:3] in ([["nixk8s", "backends", c] for c in NAMES])
    return cloud and (len(parts) == 3 or (len(parts) == 4 and parts[3] == "options"))


# --- processes ---------------------------------------------------------------------------


def default_signals() -> None:
    """``preexec_fn`` for a child that is sent signals: SIGINT and SIGTERM at their defaults,
    whatever the test runner ignores (a run under nohup or in the background ignores
    SIGINT, and the command rightly keeps ignoring what it was started ignoring)."""
    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, signal.SIG_DFL)
