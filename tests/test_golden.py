"""The compiled bytes of ``specs/hcloud-k3s.yaml`` are pinned in a golden file.

Any change to the output, however small (a key, an escape, the order of rules),
shows up here as a diff to review. When the change is intended, regenerate:

    NIXK8S_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden.py

and commit the new ``tests/golden/*.tf.json`` together with the change.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from nixk8s.compiler import compile_to_json
from nixk8s.load import format_of, load
from support import SPECS

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("NIXK8S_UPDATE_GOLDEN") == "1"

CASES = {"hcloud-k3s.tf.json": SPECS / "hcloud-k3s.yaml"}


def compiled_bytes(spec: Path) -> bytes:
    return load(spec.read_bytes(), format_of(spec.name)).bind(compile_to_json).unwrap()


@pytest.mark.parametrize("golden", sorted(CASES))
def test_compiled_output_matches_the_golden_file(golden: str) -> None:
    actual = compiled_bytes(CASES[golden])
    path = GOLDEN / golden
    if UPDATE:
        path.write_bytes(actual)
        pytest.skip(f"regenerated {path.relative_to(GOLDEN.parent.parent)}")
    assert path.is_file(), f"{path} is missing: run with NIXK8S_UPDATE_GOLDEN=1 to create it"
    expected = path.read_bytes()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.decode().splitlines(keepends=True),
                actual.decode().splitlines(keepends=True),
                fromfile=f"golden/{golden}",
                tofile="compiled",
                n=2,
            )
        )
        pytest.fail(
            f"the compiled output of {CASES[golden].name} changed (if intended: "
            f"NIXK8S_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py):\n{diff[:6000]}"
        )
