"""The shape of the code that the design promises (docs/architecture.md): small backend
files, a cloud-neutral loader, no import cycles, and a Backend record whose every hook
says what it receives and returns."""

from __future__ import annotations

import ast
import re
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from support import ROOT, is_catalog_module, minimal_spec

from nixk8s import cli, rules
from nixk8s.backends.registry import BACKENDS
from nixk8s.backends import base as base_module

PACKAGE = ROOT / "nixk8s"


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (imports for the type checker only)."""
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for stmt in node.body
        for child in ast.walk(stmt)
    }
    return [n for n in ast.walk(tree) if id(n) not in skipped]


def imports_of(path: Path, *, typing_too: bool = False) -> set[str]:
    """The nixk8s modules a file imports at run time (``from nixk8s.x import y`` → ``nixk8s.x`` and
    ``nixk8s.x.y``; ``from nixk8s import m`` of a submodule ``m`` → ``nixk8s.m`` alone, which is all
    that runs: the package's ``__init__`` imports nothing)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree) if typing_too else _runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nixk8s"):
            named = {f"{node.module}.{alias.name}" for alias in node.names}
            if node.module != "nixk8s" or not named <= MODULES.keys():
                found.add(node.module)
            found.update(named)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("nixk8s"))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in imports_of(path) if m in MODULES and m != name} for name, path in MODULES.items()}
#: with the imports made for the type checker alone: a loop there is a loop of concepts
TYPE_GRAPH = {
    name: {m for m in imports_of(path, typing_too=True) if m in MODULES and m != name} for name, path in MODULES.items()
}


def test_load_knows_clouds_only_through_the_catalog() -> None:
    backends = {m for m in GRAPH["nixk8s.load"] if m.startswith("nixk8s.backends")}
    assert backends <= {"nixk8s.backends.catalog", "nixk8s.backends.catalog.ALIASES"}


def test_rules_do_not_borrow_from_node_config() -> None:
    assert "nixk8s.node_config" not in GRAPH["nixk8s.rules"]


def _assert_acyclic(graph: dict[str, set[str]]) -> None:
    done: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        assert name not in stack, "import cycle: " + " → ".join((*stack[stack.index(name):], name))
        if name in done:
            return
        for dep in graph[name]:
            visit(dep, (*stack, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_the_import_graph_has_no_cycles() -> None:
    _assert_acyclic(GRAPH)


def test_the_import_graph_has_no_cycles_through_the_type_checkers_imports_either() -> None:
    _assert_acyclic(TYPE_GRAPH)


def test_the_cycle_check_finds_a_cycle() -> None:
    with pytest.raises(AssertionError, match="import cycle: a → b → a"):
        _assert_acyclic({"a": {"b"}, "b": {"a"}})


def test_every_backend_hook_has_a_docstring() -> None:
    tree = ast.parse(Path(base_module.__file__).read_text())
    record = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Backend")
    hooks: list[str] = []
    documented: set[str] = set()
    body = record.body
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            annotation = ast.unparse(node.annotation)
            if annotation.startswith("Callable"):
                hooks.append(node.target.id)
                nxt = body[i + 1] if i + 1 < len(body) else None
                if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                    documented.add(node.target.id)
    assert hooks, "the Backend record has no hooks?"
    assert set(hooks) == documented, f"hooks without a docstring: {set(hooks) - documented}"


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_is_registered_under_its_own_name(name: str) -> None:
    assert BACKENDS[name].name == name  # type: ignore[index]


def test_the_command_checks_a_spec_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"rules": 0, "backend": 0}
    real_rules = rules.spec_problems

    def counting_rules(spec):  # type: ignore[no-untyped-def]
        calls["rules"] += 1
        return real_rules(spec)

    hcloud = BACKENDS["hcloud"]
    real_check = hcloud.check

    def counting_check(plan):  # type: ignore[no-untyped-def]
        calls["backend"] += 1
        return real_check(plan)

    import nixk8s.load

    monkeypatch.setattr(nixk8s.load, "spec_problems", counting_rules)
    import nixk8s.backends.hcloud.backend

    monkeypatch.setattr(nixk8s.backends.hcloud.backend, "HCLOUD", msgspec.structs.replace(hcloud, check=counting_check))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(minimal_spec()))
    assert cli.main(["compile", str(spec), "-o", str(tmp_path / "out")]) == 0
    assert calls == {"rules": 1, "backend": 1}


def test_compiling_for_one_cloud_imports_no_other_backend_and_no_yaml_for_json(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(minimal_spec(user_data_format="shell")))
    probe = (
        "import sys\n"
        "from nixk8s.cli import main\n"
        f"assert main(['compile', {str(spec)!r}, '-o', {str(tmp_path / 'out')!r}]) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('nixk8s.backends.') or m == 'yaml'))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    imported = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert "yaml" not in imported
    assert "nixk8s.backends.hcloud" in imported
    others = [m for m in imported if not is_catalog_module(m) and m not in ("nixk8s.backends.base", "nixk8s.backends.pipeline", "nixk8s.backends.registry")]
    assert all(m.startswith("nixk8s.backends.hcloud") for m in others), imported


# --- one home per cloud -------------------------------------------------------------------

# A cloud's name, an alias's stem, or a provider's resource-type prefix, as a word or a
# prefix of an identifier (``aws``, ``hcloud_server``, ``AzureOptions``, ``GCP``).
CLOUD_WORDS = re.compile(r"(?i)(?<![a-z])(aws|gcp|azure|hcloud|hetzner|google|azurerm|amazon|ec2)(?![a-z])")
# the core: every module of nixk8s outside backends/
CORE = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "backends")


def _documentation(tree: ast.AST) -> set[int]:
    """The ids of string constants that document rather than compute: docstrings,
    attribute docstrings and the schema's words (``doc(...)`` arguments)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            ids.add(id(node.value))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "doc":
            ids.update(id(n) for arg in node.args for n in ast.walk(arg))
    return ids


def cloud_names_in_code(path: Path) -> list[str]:
    """Every identifier and computing string in ``path`` that names a cloud."""
    tree = ast.parse(path.read_text())
    documentation = _documentation(tree)
    found = []
    for node in ast.walk(tree):
        words: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in documentation:
            words = [node.value]
        elif isinstance(node, ast.Name):
            words = [node.id]
        elif isinstance(node, ast.Attribute):
            words = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            words = [node.name]
        elif isinstance(node, ast.arg):
            words = [node.arg]
        elif isinstance(node, ast.alias):
            words = [node.name, node.asname or ""]
        found += [f"{path.name}:{getattr(node, 'lineno', '?')}: {w[:60]!r}" for w in words if CLOUD_WORDS.search(w)]
    return found


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_core_module_names_a_cloud_in_code(path: Path) -> None:
    assert cloud_names_in_code(path) == []


def test_the_scan_finds_a_cloud_named_in_code(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""Docs may say AWS."""\nkind = "hcloud_server"\ndef for_gcp(x): return x\n')
    assert sorted(line.split(": ", 1)[1] for line in cloud_names_in_code(sample)) == ["'for_gcp'", "'hcloud_server'"]


def test_every_cloud_package_has_the_same_layout() -> None:
    shared = {"__init__.py", "backend.py", "options.py", "foundation.py", "network.py", "nodes.py",
              "balancer.py", "checks.py", "outputs.py", "replacement_rules.py"}  # fmt: skip
    for name in BACKENDS:
        assert shared <= {p.name for p in (PACKAGE / "backends" / name).glob("*.py")}, name
