"""The library as a user gets it: a wheel built from this tree, installed into a fresh
virtual environment, used by a typed script that mypy --strict checks against it.

Nothing here reads the source tree's nixk8s: the wheel is built from a copy, the venv
sees neither the tree nor the test environment's site-packages, and the caller runs
in an empty directory. The dependencies come from a wheelhouse where one is given
(``NIXK8S_WHEELHOUSE``, installed with ``pip --no-index``); otherwise the test
environment's own installed copies of them (and of nothing else) are put on the
venv's path, so the test needs no network.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest

from support import ROOT, missing_tool

# the tests share one wheel and one venv (module fixtures): one xdist worker runs them all
# (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("wheel")

DEPENDENCIES = ("msgspec", "returns", "toolz", "PyYAML")

CALLER = '''\
"""A typed caller of the installed nixk8s: it compiles a dict, a str and bytes."""

from typing import assert_type

from returns.result import Failure, Result, Success

import nixk8s
from nixk8s.compiler import Compiled
from nixk8s.problems import Problem

SPEC = {
    "name": "demo",
    "backend": "hcloud",
    "region": "nbg1",
    "node_pools": [{"name": "system", "instance_types": ["cx32"]}],
    "hcloud": {"image": "nixos-k3s"},
}
TEXT = """\\
name: demo
backend: hcloud
region: nbg1
node_pools: [{name: system, instance_types: [cx32]}]
hcloud: {image: nixos-k3s}
"""


def main() -> None:
    from_dict = nixk8s.compile(SPEC)
    assert_type(from_dict, Result[Compiled, tuple[Problem, ...]])
    from_text = nixk8s.compile(TEXT)
    from_bytes = nixk8s.compile(TEXT.encode(), "yaml")
    documents = {r.unwrap().to_json() for r in (from_dict, from_text, from_bytes)}
    assert len(documents) == 1, "a dict, a str and bytes of one spec compile alike"
    print("compiled", len(documents.pop()), "bytes")

    broken = nixk8s.validate({**SPEC, "region": 5})
    assert isinstance(broken, Failure)
    problems: tuple[Problem, ...] = broken.failure()
    print("failure", ",".join(p.path for p in problems))
    assert isinstance(nixk8s.validate(SPEC), Success)

    try:
        nixk8s.compile(TEXT, "xml")  # type: ignore[arg-type]
    except ValueError as err:
        print("value error", err)
    else:
        raise AssertionError("format=xml was accepted")
    print("from", nixk8s.__file__)


if __name__ == "__main__":
    main()
'''


def _run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """A command with a clean environment (no PYTHONPATH), failing the test with its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH", "PYTHONHOME")}
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


def _build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    shutil.copytree(ROOT / "nixk8s", source / "nixk8s", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp / "dist"
    if importlib.util.find_spec("setuptools.command.bdist_wheel") is not None:  # setuptools >= 70.1 (the test extra)
        _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, source)
    else:
        build = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)],
            capture_output=True, text=True,
        )
        if build.returncode != 0:
            missing_tool(
                "cannot build the wheel: this environment's setuptools has no bdist_wheel (install the test "
                f"extra: setuptools>=70.1) and pip could not fetch a build backend:\n{build.stderr[-500:]}"
            )
    (wheel,) = dist.glob("nixk8s-*.whl")
    return wheel


def _requirement_closure(names: tuple[str, ...]) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``names`` need, their own requirements included."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        dist = importlib.metadata.distribution(name)
        found[key] = dist
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                todo.append(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))  # type: ignore[union-attr]
    return list(found.values())


def _link_dependencies(tmp: Path, site_packages: Path) -> None:
    """The test environment's copies of the dependencies (and nothing else) on the venv's path."""
    deps = tmp / "dependencies"
    deps.mkdir()
    for dist in _requirement_closure(DEPENDENCIES):
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            if not (deps / top).exists():
                (deps / top).symlink_to(Path(str(dist.locate_file(top))))
    (site_packages / "nixk8s_test_dependencies.pth").write_text(f"{deps}\n")


class Installed(NamedTuple):
    python: Path  # a fresh venv's, holding the wheel, its dependencies and nothing of this tree
    root: Path  # the venv is root/venv, the typed caller root/caller/caller.py

    @property
    def caller(self) -> Path:
        return self.root / "caller"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "venv", "--without-pip", tmp / "venv")
    python = tmp / "venv" / "bin" / "python"
    site_packages = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp).stdout.strip())
    pip = (sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index")
    wheelhouse = os.environ.get("NIXK8S_WHEELHOUSE")
    if wheelhouse:
        _run(*pip, "--find-links", wheelhouse, *DEPENDENCIES)
    else:
        _link_dependencies(tmp, site_packages)
    _run(*pip, "--no-deps", wheel)
    (tmp / "caller").mkdir()
    (tmp / "caller" / "caller.py").write_text(CALLER)
    return Installed(python, tmp)


def test_the_wheel_ships_the_typed_marker(wheel: Path) -> None:
    assert "nixk8s/py.typed" in zipfile.ZipFile(wheel).namelist()


def test_the_venv_sees_the_wheel_and_not_the_tree(installed: Installed) -> None:
    where = Path(_run(installed.python, "-c", "import nixk8s; print(nixk8s.__file__)", cwd=installed.caller).stdout.strip())
    assert where.is_relative_to(installed.root / "venv")


def test_a_typed_caller_compiles_a_dict_a_str_and_bytes_and_gets_a_failure_and_a_value_error(installed: Installed) -> None:
    out = _run(installed.python, "caller.py", cwd=installed.caller).stdout.splitlines()
    assert out[0].startswith("compiled ")
    assert out[1] == "failure region"
    assert out[2].startswith("value error unknown spec format 'xml': the formats are 'yaml', 'toml' and 'json'")
    assert Path(out[3].removeprefix("from ")).is_relative_to(installed.root / "venv")


def _mypy_strict(installed: Installed, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    command = [sys.executable, "-m", "mypy", "--strict", "--python-executable", str(installed.python), *flags, "caller.py"]
    return subprocess.run(command, capture_output=True, text=True, cwd=installed.caller, env=env)


def test_the_caller_passes_mypy_strict_against_the_installed_wheel(installed: Installed) -> None:
    result = _mypy_strict(installed, "--cache-dir", str(installed.root / "mypy-cache"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout


def test_mypy_would_refuse_the_caller_without_the_typed_marker(installed: Installed) -> None:
    """The check above can fail: without py.typed, mypy does not read the package."""
    package = installed.root / "venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / "nixk8s"
    (package / "py.typed").rename(package / "py.typed.away")
    try:
        result = _mypy_strict(installed, "--no-incremental")
    finally:
        (package / "py.typed.away").rename(package / "py.typed")
    assert result.returncode != 0 and "py.typed" in result.stdout
