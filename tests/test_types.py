"""The package's types are checked, not only written: mypy --strict passes on it."""

from __future__ import annotations

import subprocess
import sys

from support import ROOT, require_module


def test_the_package_type_checks_under_mypy_strict() -> None:
    require_module("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
