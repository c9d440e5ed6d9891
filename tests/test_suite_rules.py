"""Rules for the test suite itself, so that a green CI run means every check ran.

A test skips for a missing external tool only through ``support.missing_tool`` (the
``require_*`` helpers), which fails instead under ``NIXK8S_REQUIRE_TOOLS=1`` (.ci/run).
Any other skip is a decision about the machine, not a tool, and is listed here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from support import ROOT

TESTS = ROOT / "tests"

# (file, reason) of every skip that is not about a missing tool
SKIPS_NOT_ABOUT_A_TOOL = {
    ("test_cli.py", "root reads any file"),
    ("test_private_nodes.py", "needs root for private mount and network namespaces"),
    ("test_private_nodes.py", "unshare --mount --net is not allowed here"),
    # what the kernel offers, not a tool a package installs
    ("test_cli_io.py", "no /dev/full"),
    ("test_cli_io.py", "no O_TMPFILE here"),
}


def skip_calls(path: Path) -> list[tuple[int, str, str]]:
    """Every ``pytest.skip``/``importorskip``/``mark.skip``/``mark.skipif`` in a file:
    (line, what, its reason or "")."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name in ("skip", "importorskip", "skipif"):
                reason = next((k.value for k in node.keywords if k.arg == "reason"), None)
                if reason is None and name == "skip" and node.args:
                    reason = node.args[0]
                text = reason.value if isinstance(reason, ast.Constant) and isinstance(reason.value, str) else ""
                found.append((node.lineno, name, text))
    return found


def test_every_skip_for_a_missing_tool_goes_through_support() -> None:
    unexpected = [
        f"{path.relative_to(TESTS)}:{line}: {what}({reason!r})"
        for path in sorted(TESTS.rglob("*.py"))
        if path != TESTS / "support.py"
        for line, what, reason in skip_calls(path)
        if (str(path.relative_to(TESTS)), reason) not in SKIPS_NOT_ABOUT_A_TOOL
    ]
    assert unexpected == [], (
        "skip for a missing tool with support.missing_tool / require_tool / require_module "
        "(CI fails them), or list a skip that is not about a tool in SKIPS_NOT_ABOUT_A_TOOL"
    )


def test_support_skips_only_for_a_missing_tool_or_a_namespace_not_allowed() -> None:
    tree = ast.parse((TESTS / "support.py").read_text())
    skipping = sorted(
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("skip", "importorskip", "skipif")
    )
    assert skipping == ["boot_in_namespace", "missing_tool"]
