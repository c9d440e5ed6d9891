"""The command's start-up, as an operator's regular install runs it.

    .venv/bin/python benchmarks/startup.py              # 30 interleaved runs of each
    .venv/bin/python benchmarks/startup.py --runs 60

Builds a wheel of this tree, installs it (with its dependencies, from the index pip
is configured with, or from ``--find-links DIR``) into a fresh virtual environment, and
times, in that environment, each command against ``python -c pass`` in turn (A B A B
...), so that a machine whose speed drifts during the runs moves both alike. For each
command it prints the median wall and CPU (user + system, the kernel's accounting of
the finished child) of A and of B, and the median of the ratios A/B taken pair by pair.
An editable install (``pip install -e .``) adds its import hook to every start, so it is
not what is measured here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = "hcloud-k3s.yaml"


def install(tmp: Path, find_links: str | None) -> Path:
    """A fresh venv holding a wheel of this tree; its python."""
    source = tmp / "source"
    shutil.copytree(ROOT / "nixk8s", source / "nixk8s", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
    python = tmp / "venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q"] + (["--find-links", find_links] if find_links else [])
    subprocess.run([*pip, str(source)], check=True)  # a regular install: pip builds the wheel and installs it
    return python


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run (its output thrown away; it must exit 0)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0, command
    return wall, usage.ru_utime + usage.ru_stime


def compare(a: list[str], b: list[str], runs: int, cwd: Path) -> dict[str, float]:
    timed(a, cwd), timed(b, cwd)  # warm the page cache and the bytecode
    pairs = [(timed(a, cwd), timed(b, cwd)) for _ in range(runs)]
    return {
        "a_wall": statistics.median(p[0][0] for p in pairs),
        "a_cpu": statistics.median(p[0][1] for p in pairs),
        "b_wall": statistics.median(p[1][0] for p in pairs),
        "b_cpu": statistics.median(p[1][1] for p in pairs),
        "wall_ratio": statistics.median(p[0][0] / p[1][0] for p in pairs),
        "cpu_ratio": statistics.median(p[0][1] / p[1][1] for p in pairs if p[1][1] > 0),
    }


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_argument("--runs", type=int, default=30, help="timed pairs per command (default 30)")
    options.add_argument("--find-links", help="a directory of wheels for the dependencies")
    args = options.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        python = install(tmp, args.find_links)
        shutil.copy(ROOT / "specs" / SPEC, tmp / SPEC)
        nixk8s = str(python.with_name("nixk8s"))
        baseline = [str(python), "-c", "pass"]
        print("| command (A) | A wall, ms | A CPU, ms | `python -c pass` (B) wall, ms | B CPU, ms | A/B wall | A/B CPU |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, command in (
            ("`nixk8s --version`", [nixk8s, "--version"]),
            (f"`nixk8s validate {SPEC}`", [nixk8s, "validate", SPEC]),
        ):
            r = compare(command, baseline, args.runs, tmp)
            print(
                f"| {label} | {r['a_wall'] * 1e3:.1f} | {r['a_cpu'] * 1e3:.1f} | {r['b_wall'] * 1e3:.1f} "
                f"| {r['b_cpu'] * 1e3:.1f} | {r['wall_ratio']:.1f}× | {r['cpu_ratio']:.1f}× |"
            )


if __name__ == "__main__":
    main()
