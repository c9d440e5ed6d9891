"""Start-up: what the command imports before it does anything (issue "a library to embed
and a command for CI", item 6; the figures are in benchmarks/README.md).

Each probe runs in a fresh interpreter, so that what this test process has imported
does not hide what the command imports."""

from __future__ import annotations

import ast
import subprocess
import sys

from support import ROOT, SPECS

HEAVY = ("msgspec", "returns", "yaml", "toolz", "typing_extensions", "nixk8s.compiler", "nixk8s.spec", "nixk8s.backends")
# the standard library the command must not load on the way to a verdict on a valid spec
ONLY_WHEN_NEEDED = ("shutil", "json", "difflib", "traceback", "tempfile")


def imported_after(argv: list[str], packages: tuple[str, ...]) -> list[str]:
    """The modules of ``packages`` loaded once the command has run with ``argv`` (exit 0)."""
    probe = (
        "import contextlib, io, sys\n"
        "from nixk8s.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    code = main({argv!r})\n"
        f"print(code, sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') for p in {packages!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    code, modules = result.stdout.strip().split(" ", 1)
    assert code == "0", result.stdout
    loaded: list[str] = ast.literal_eval(modules)
    return loaded


def test_version_imports_nothing_of_the_compiler() -> None:
    assert imported_after(["--version"], HEAVY) == []


def test_a_usage_error_imports_nothing_of_the_compiler() -> None:
    probe = "import sys\nfrom nixk8s.cli import main\nmain(['validate'])\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('msgspec', 'returns', 'yaml')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_validating_a_valid_spec_loads_no_module_it_does_not_need() -> None:
    assert imported_after(["validate", str(SPECS / "hcloud-k3s.yaml")], ONLY_WHEN_NEEDED) == []
