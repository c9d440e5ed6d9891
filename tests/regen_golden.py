"""Regenerate the golden files: the compiled bytes of every example in ``specs/``.

    .venv/bin/python tests/regen_golden.py

writes ``tests/golden/<example>.tf.json`` for each example (``hcloud-k3s.yaml`` gives
``hcloud-k3s.tf.json``), removes the golden file of an example that is gone, and prints
what changed. Run it when a change to the output is intended, review ``git diff
tests/golden``, and commit the files together with the change; tests/test_golden.py
compares the compiled output with them.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = ROOT / "tests" / "golden"
COMMAND = ".venv/bin/python tests/regen_golden.py"
SPEC_SUFFIXES = (".yaml", ".yml", ".toml", ".json")


def examples() -> list[Path]:
    """Every example spec in ``specs/``, by name."""
    return sorted(p for p in SPECS.iterdir() if p.suffix in SPEC_SUFFIXES)


def golden_name(example: Path) -> str:
    """The golden file's name for an example.

    >>> golden_name(Path("specs/hcloud-kubernetes.toml"))
    'hcloud-kubernetes.tf.json'
    """
    return f"{example.stem}.tf.json"


def compiled_bytes(example: Path) -> bytes:
    """The bytes ``nixk8s compile`` writes for ``example`` (its main.tf.json)."""
    from nixk8s.compiler import compile_to_json
    from nixk8s.load import format_of, load

    return load(example.read_bytes(), format_of(example.name)).bind(compile_to_json).unwrap()


def regenerate() -> list[str]:
    """Write every golden file and remove orphans; one line per file that changed."""
    GOLDEN.mkdir(exist_ok=True)
    report = []
    wanted = {golden_name(e): e for e in examples()}
    for name, example in wanted.items():
        path = GOLDEN / name
        actual = compiled_bytes(example)
        if not path.is_file() or path.read_bytes() != actual:
            report.append(f"{'updated' if path.is_file() else 'created'} tests/golden/{name} ({example.name})")
            path.write_bytes(actual)
    for orphan in sorted({p.name for p in GOLDEN.glob("*.tf.json")} - set(wanted)):
        (GOLDEN / orphan).unlink()
        report.append(f"removed tests/golden/{orphan} (no example {Path(orphan).stem}.* in specs/)")
    return report


def main() -> int:
    # this checkout's nixk8s, whatever the environment has installed
    sys.path.insert(0, str(ROOT))
    report = regenerate()
    print("\n".join(report) if report else f"all {len(examples())} golden files are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
