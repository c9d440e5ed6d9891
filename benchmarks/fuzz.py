"""Fuzz nixk8s in-process: many hostile inputs, counting escapes, slow inputs and memory.

    .venv/bin/python benchmarks/fuzz.py                    # 100,000 inputs + the fixed ones
    .venv/bin/python benchmarks/fuzz.py --inputs 2000      # a quick run
    .venv/bin/python benchmarks/fuzz.py --seed 7           # another sequence

The generators are tests/fuzz_inputs.py's, the ones tests/test_fuzz.py runs under
hypothesis: example specs mutated as data and as text, junk trees, random bytes,
ClusterSpecs built in code with hostile fields, placeholder forgeries (text that
escaping would complete into one of nixk8s' placeholders, each node's config read
back from main.tf.json), and pairs of Terraform documents for ``nixk8s diff``
(compiled examples mutated, hand-made ones hostile to its reader), drawn from one
seeded Random; then every fixed input past a bound (``fuzz_inputs.NASTY``,
``fuzz_inputs.NASTY_DOCUMENTS``). Each spec goes through
``load`` and, when it loads, ``compile_spec`` and ``to_json`` (a ClusterSpec through
``compile_spec`` alone); each pair of documents through the diff command's path
(``fuzz_inputs.run_diff``: decode, read, compare, both reports). The families of issue
21 go through their own checks, whose findings count as escapes: streams read through a
pipe as stdin and FIFOs are (some past the bound, some endless: read past the bound),
specs with control characters in their strings and keys (one raw in human output, or a
forged line), and compiles in a process sent SIGINT, SIGTERM or SIGKILL at random
moments (``--signal-trials``; a partial file, a wrong exit or a traceback).

Reported: escapes (any exception out of the public API, by type, with the first
input of each kind written to ``--escapes``), inputs over 1 s and over 2 s, the
slowest input, the process' peak RSS (ru_maxrss, generators included), and the
peak of Python allocations (tracemalloc) of each fixed input, measured in a second
pass so that tracemalloc does not slow the timed one.
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from returns.result import Success

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import fuzz_inputs  # noqa: E402 (found through the path above)
import msgspec  # noqa: E402
import yaml  # noqa: E402

from nixk8s.compiler import compile_spec  # noqa: E402
from nixk8s.load import load  # noqa: E402
from nixk8s.problems import Problem  # noqa: E402

Input = tuple[str, Any]  # the generator's name, and (bytes, format) or a ClusterSpec
GENERATORS: tuple[tuple[str, float, Callable[[random.Random], Any]], ...] = (
    ("mutated example spec", 0.36, fuzz_inputs.mutated_document),
    ("junk tree", 0.22, fuzz_inputs.junk_document),
    ("random bytes", 0.22, fuzz_inputs.random_bytes),
    ("ClusterSpec built in code", 0.08, fuzz_inputs.hostile_spec),
    ("placeholder forgery", 0.02, fuzz_inputs.forged_placeholder),
    ("diff documents", 0.10, fuzz_inputs.diff_input),
    ("stream (stdin, FIFO)", 0.03, fuzz_inputs.stream_input),
    ("control characters", 0.07, fuzz_inputs.control_document),
)


def checked(check: Callable[..., tuple[str, list[str]]]) -> Callable[[Any], str]:
    """A family's check (issue 21) as a runner: its outcome, or what it broke raised."""

    def run(item: Any) -> str:
        outcome, broken = check(*item) if isinstance(item, tuple) else check(item)
        if broken:
            raise AssertionError("; ".join(broken))
        return outcome

    return run


SUBPROCESSES = {"signals (a compile in a process)"}
# how each family's input is run; the others go through run_one
RUNNERS: dict[str, Callable[[Any], str]] = {
    "stream (stdin, FIFO)": checked(fuzz_inputs.stream_violations),
    "control characters": checked(fuzz_inputs.human_output_violations),
    "signals (a compile in a process)": checked(fuzz_inputs.signal_violations),
}


def run_one(item: Any) -> str:
    """Run one input through the public API; the outcome's name. Raises what escapes
    (for a placeholder forgery, a node whose config lost its text counts as one)."""
    if isinstance(item, fuzz_inputs.Forgery):
        return fuzz_inputs.forgery_outcome(item)
    if isinstance(item, fuzz_inputs.DiffInput):
        return f"diff: {fuzz_inputs.run_diff(item)}"
    if isinstance(item, tuple):
        result = load(*item)
        if isinstance(result, Success):
            result = compile_spec(result.unwrap())
    else:
        result = compile_spec(item)
    if isinstance(result, Success):
        result.unwrap().to_json()
        return "compiled"
    problems = result.failure()
    if not problems or not all(isinstance(p, Problem) and isinstance(p.path, str) and isinstance(p.message, str) for p in problems):
        raise AssertionError(f"a Failure that is not Problems: {problems!r}")
    return "problems"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def traced_peak_mib(item: Any) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        run_one(item)
    except BaseException:  # counted in the timed pass
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def describe(item: Any) -> str:
    if isinstance(item, fuzz_inputs.Forgery):
        return f"forgery {item.text!r}: " + describe(item.document)
    if isinstance(item, fuzz_inputs.DiffInput):
        return f"diff, {len(item.old):,} and {len(item.new):,} bytes: {item.old[:120]!r}"
    if isinstance(item, fuzz_inputs.Stream):
        size = sum(map(len, item.chunks))
        return f"{item.fmt} stream, {size:,} bytes{' repeated forever' if item.endless else ''}: {item.chunks[0][:80]!r}"
    if isinstance(item, tuple):
        data, fmt = item
        return f"{fmt}, {len(data):,} bytes: {data[:120]!r}"
    return repr(item)[:200]


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--inputs", type=int, default=100_000, help="generated inputs (default 100,000)")
    args.add_argument("--signal-trials", type=int, default=200, help="compiles signalled at random moments (default 200)")
    args.add_argument("--seed", type=int, default=20261124)
    args.add_argument("--escapes", type=Path, default=Path("fuzz-escapes.txt"), help="where escapes are written")
    opts = args.parse_args(argv)

    rng = random.Random(opts.seed)
    names = [g[0] for g in GENERATORS]
    weights = [g[1] for g in GENERATORS]
    makers = {g[0]: g[2] for g in GENERATORS}
    outcomes: Counter[tuple[str, str]] = Counter()
    escapes: Counter[str] = Counter()
    first_escape: dict[str, str] = {}
    over_1s: list[tuple[float, str, str]] = []
    slowest = (0.0, "", "")
    started = time.perf_counter()

    def timed(source: str, item: Any) -> None:
        nonlocal slowest
        begin = time.perf_counter()
        try:
            outcome = RUNNERS.get(source, run_one)(item)
        except BaseException as err:  # noqa: BLE001 (counting them is the point)
            if isinstance(err, KeyboardInterrupt):
                raise
            kind = f"{type(err).__name__}: {str(err)[:80]}"
            escapes[kind] += 1
            first_escape.setdefault(kind, f"{source}\n{describe(item)}\n{err!r}\n")
            outcome = "ESCAPE"
        elapsed = time.perf_counter() - begin
        outcomes[(source, outcome)] += 1
        if source in SUBPROCESSES:  # a process' start and the signal's delay: not the input's time
            return
        if elapsed > 1:
            over_1s.append((elapsed, source, describe(item)[:100]))
        if elapsed > slowest[0]:
            slowest = (elapsed, source, describe(item)[:100])

    for i in range(opts.inputs):
        source = rng.choices(names, weights)[0]
        timed(source, makers[source](rng))
        if (i + 1) % 10_000 == 0:
            print(f"  {i + 1:,} inputs, {time.perf_counter() - started:,.0f} s", file=sys.stderr)
    signals = "signals (a compile in a process)"
    for i in range(opts.signal_trials):  # subprocesses: their own count, after the rest
        timed(signals, fuzz_inputs.signal_trial(rng))
        if (i + 1) % 50 == 0:
            print(f"  {i + 1:,} signal trials, {time.perf_counter() - started:,.0f} s", file=sys.stderr)
    fixed: dict[str, Callable[[], Any]] = {**fuzz_inputs.NASTY, **fuzz_inputs.NASTY_DOCUMENTS}
    nasty = {name: make() for name, make in fixed.items()}
    for name, item in nasty.items():
        timed(f"fixed: {name}", item)
    generated_seconds = time.perf_counter() - started
    rss = peak_rss_mib()
    traced = sorted(((traced_peak_mib(item), name) for name, item in nasty.items()), reverse=True)

    total = sum(outcomes.values())
    print(f"nixk8s fuzz, {time.strftime('%Y-%m-%d')}, {platform.machine()} {platform.python_implementation()} "
          f"{platform.python_version()}, msgspec {msgspec.__version__}, PyYAML {yaml.__version__} "
          f"(libyaml: {yaml.__with_libyaml__}), seed {opts.seed}")
    print(f"inputs: {total:,} ({opts.inputs:,} generated + {opts.signal_trials:,} signal trials + {len(nasty)} fixed) "
          f"in {generated_seconds:,.0f} s")
    for name in [*names, signals, "fixed"]:
        row: Counter[str] = Counter()
        for (source, outcome), n in outcomes.items():
            if source == name or (name == "fixed" and source.startswith("fixed: ")):
                row[outcome] += n
        print(f"  {name:<28} " + ", ".join(f"{o} {n:,}" for o, n in sorted(row.items())))
    print(f"escapes: {sum(escapes.values()):,}")
    for kind, n in escapes.most_common():
        print(f"  {n:,} x {kind}")
    print(f"inputs over 1 s: {len(over_1s)}; over 2 s: {sum(1 for t, _, _ in over_1s if t > 2)}")
    for elapsed, source, what in sorted(over_1s, reverse=True)[:10]:
        print(f"  {elapsed:.2f} s  {source}: {what}")
    print(f"slowest: {slowest[0]:.2f} s  {slowest[1]}")
    print(f"peak RSS of the whole run (ru_maxrss): {rss:,.0f} MiB")
    print("peak Python allocations (tracemalloc) of the fixed inputs, largest first:")
    for mib, name in traced[:8]:
        print(f"  {mib:7.1f} MiB  {name}")
    if first_escape:
        opts.escapes.write_text("\n".join(first_escape.values()))
        print(f"first input of each escape: {opts.escapes}")
    return 1 if escapes else 0


if __name__ == "__main__":
    raise SystemExit(main())
