"""The library's documentation runs as written: docs/library.md's examples are doctests,
and the README's "As a library" example compiles the example spec."""

from __future__ import annotations

import doctest
import re

import pytest
from support import ROOT

import nixk8s


def test_the_library_guide_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = doctest.testfile(str(ROOT / "docs" / "library.md"), module_relative=False, report=True, verbose=False)
    assert result.failed == 0
    assert result.attempted >= 20


def readme_library_example() -> str:
    section = (ROOT / "README.md").read_text().split("## As a library", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return code


def test_the_readme_library_example_compiles_the_example_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(readme_library_example(), namespace)  # noqa: S102 (the README's own example)
    assert namespace["main_tf_json"] == nixk8s.compile((ROOT / "specs" / "hcloud-k3s.yaml").read_bytes()).unwrap().to_json()
    assert namespace["warnings"]


def test_the_readme_library_example_unwraps_nothing() -> None:
    # "never raised" beside an unwrap(), which raises on a Failure, would contradict itself
    assert ".unwrap()" not in readme_library_example()
