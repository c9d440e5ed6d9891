"""pytest configuration: hypothesis profiles, the shared support module on the path, the
session's cache of tfcheck runs (shared by the xdist workers), and the xdist scheduler
that keeps a module marked ``xdist_group`` on one worker."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import TFCHECK_CACHE

settings.register_profile(
    "default",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "default"))

_made_cache: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    # the controller (or a run without xdist) makes the directory before any worker
    # starts; the workers inherit it through the environment
    if TFCHECK_CACHE not in os.environ:
        path = tempfile.mkdtemp(prefix="nixk8s-tfcheck-")
        _made_cache.append(path)
        os.environ[TFCHECK_CACHE] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _made_cache:
        shutil.rmtree(path, ignore_errors=True)
        os.environ.pop(TFCHECK_CACHE, None)
    _made_cache.clear()


# --- one worker for the tests of a module that shares applied clusters ---------------------
#
# `--dist loadgroup` would do this for `pytestmark = pytest.mark.xdist_group(NAME)`, but
# pytest-xdist 3.8 marks a group by rewriting the test's node id, which pytest 9 no
# longer reads (pytest-dev/pytest-xdist#1386): the mark is lost and a module's applied
# clusters are built on both workers. Until that is fixed, the scheduler below groups
# such modules itself, reading the module-level mark from the source (the controller
# collects no tests, so it cannot see marks).

_GROUP_MARK = re.compile(r'^pytestmark = pytest\.mark\.xdist_group\("([^"]+)"\)', re.M)


@cache
def module_group(module: Path) -> str | None:
    """The xdist group a test module declares for all its tests, or None."""
    match = _GROUP_MARK.search(module.read_text()) if module.suffix == ".py" and module.is_file() else None
    return match.group(1) if match else None


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroupScheduling(LoadScopeScheduling):
        """A test is its own unit of work, except that a module's group is one."""

        def _split_scope(self, nodeid: str) -> str:
            group = module_group(config.rootpath / nodeid.split("::", 1)[0])
            return nodeid if group is None else f"group:{group}"

    return ModuleGroupScheduling(config, log)
