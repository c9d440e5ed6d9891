"""The compiled bytes of every example in ``specs/`` are pinned in a golden file.

Any change to the output, however small (a key, an escape, the order of rules),
shows up here as a diff to review. When the change is intended, regenerate them all:

    .venv/bin/python tests/regen_golden.py

and commit the new ``tests/golden/*.tf.json`` together with the change.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from regen_golden import COMMAND, GOLDEN, compiled_bytes, examples, golden_name

EXAMPLES = examples()


def test_every_golden_file_belongs_to_an_example() -> None:
    names = {golden_name(e) for e in EXAMPLES}
    orphans = sorted(p.name for p in GOLDEN.glob("*.tf.json") if p.name not in names)
    assert orphans == [], f"golden files without an example (regenerate: {COMMAND})"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_compiled_output_matches_the_golden_file(example: Path) -> None:
    path = GOLDEN / golden_name(example)
    assert path.is_file(), f"{path} is missing: create it with {COMMAND}"
    actual, expected = compiled_bytes(example), path.read_bytes()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.decode().splitlines(keepends=True),
                actual.decode().splitlines(keepends=True),
                fromfile=f"golden/{path.name}",
                tofile="compiled",
                n=2,
            )
        )
        pytest.fail(f"the compiled output of {example.name} changed (if intended, regenerate: {COMMAND}):\n{diff[:6000]}")
