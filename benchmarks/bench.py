"""Compile time and memory of nixk8s at scale, beside msgspec's encoding floor.

    .venv/bin/python benchmarks/bench.py            # every case, one table on stdout
    .venv/bin/python benchmarks/bench.py --quick    # the small cases only

For each case: spec bytes in, ``main.tf.json`` bytes out, through
``compile_source`` (decoding, every check, the build and the encoding included).
Each case runs several times, interleaved with the floor: the time msgspec alone
needs to encode the same finished document with the same formatting, which no
compiler can beat since every compiler must at least write its output. The table
gives the median, min and max of each, the ratio of the medians, the peak of
Python allocations during one compile (tracemalloc, in a separate run so that it
does not slow the timed ones) and the per-node cost between sizes.

The cycle collector is off while a case is timed, as the command runs
(nixk8s/cli.py); the library itself never touches it.

The last section times the command as a whole process, ``nixk8s compile`` of an
example, against ``python -c pass`` in the same interleaved runs.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from nixk8s.compiler import compile_source
from nixk8s.terraform import to_json

ROOT = Path(__file__).resolve().parent.parent


def hcloud_spec(workers: int, *, network: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "bench",
        "backend": "hcloud",
        "region": "nbg1",
        "node_pools": [
            {"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3},
            {"name": "workers", "instance_types": ["cx42"], "min_size": workers, "max_size": workers},
        ],
        "bootstrap_secrets": {"k3s_server_token": {"var": "k3s_token"}, "nix_github_token": "ghp_bench"},
        "fluxcd": {"source_url": "ssh://git@example.com/fleet.git"},
        "hcloud": {"image": "123456"},
    }
    if network:
        spec["network"] = {"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.0.0/22"}
    else:
        # a Hetzner network holds 100 servers: past that, the nodes reach each other over
        # WireGuard links of the operator's own
        spec["vpn"] = {
            "links": [
                {
                    "name": "wg0",
                    "private_key_file": "/run/secrets/wg0.key",
                    "address": "10.100.0.1/16",
                    "profile": "k8s-full",
                    "firewall": {"allowed_tcp_ports": [6443, 10250], "allowed_udp_ports": [8472]},
                    "peers": [{"public_key": "A" * 43 + "=", "allowed_ips": ["10.100.0.0/16"],
                               "preshared_key_file": "/run/secrets/wg0.psk"}],
                }
            ]
        }
    return spec


def aws_spec(workers: int, pools: int) -> dict[str, Any]:
    per_pool, extra = divmod(workers, pools)
    worker_pools = [
        {
            "name": f"pool{p}",
            "instance_types": ["m6i.large"],
            "min_size": 0,
            "max_size": per_pool + (1 if p < extra else 0),
            "desired_size": per_pool + (1 if p < extra else 0),
        }
        for p in range(pools)
    ]
    return {
        "name": "bench",
        "backend": "aws",
        "region": "eu-west-1",
        "network": {"vpc_cidr": "10.0.0.0/16"},
        "node_pools": [{"name": "system", "instance_types": ["m6i.large"], "min_size": 3, "max_size": 3}, *worker_pools],
        "bootstrap_secrets": {"k3s_server_token": {"var": "k3s_token"}},
        "aws": {"ami_id": "ami-0123456789abcdef0"},
    }


CASES: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("hcloud, 1 worker, network", lambda: hcloud_spec(1, network=True)),
    ("hcloud, 97 workers, network (100 servers)", lambda: hcloud_spec(97, network=True)),
    ("hcloud, 100 workers, no network", lambda: hcloud_spec(100, network=False)),
    ("hcloud, 1000 workers, no network", lambda: hcloud_spec(1000, network=False)),
    ("hcloud, 10000 workers, no network", lambda: hcloud_spec(10000, network=False)),
    ("aws, 1 worker, 1 pool", lambda: aws_spec(1, 1)),
    ("aws, 1000 workers, 10 pools", lambda: aws_spec(1000, 10)),
    ("aws, 10000 workers, 20 pools", lambda: aws_spec(10000, 20)),
]
QUICK = {"hcloud, 1 worker, network", "hcloud, 100 workers, no network", "aws, 1 worker, 1 pool"}


def _seconds(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _spread(samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return f"{statistics.median(ms):,.2f} ({min(ms):,.2f}–{max(ms):,.2f})"


def measure(raw: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Compile and floor timings, interleaved, then the peak of one compile's allocations."""
    data = msgspec.json.encode(raw)

    def compile_once() -> bytes:
        return compile_source(data, "json").unwrap().to_json()

    output = compile_once()
    document = msgspec.json.decode(output)
    floor = functools.partial(to_json, document)
    compiles: list[float] = []
    floors: list[float] = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            compiles.append(_seconds(compile_once))
            floors.append(_seconds(floor))
    finally:
        gc.enable()
    del document, floor
    gc.collect()
    tracemalloc.start()
    compile_once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"compiles": compiles, "floors": floors, "peak": peak, "bytes": len(output)}


# Timed from a small launcher process, not from this one: a child's peak RSS on Linux
# starts from the memory of the process that spawned it (the kernel carries the old
# address space's high-water mark across exec), and this process has just held a
# 10,000-node compile.
_LAUNCHER = """
import json, os, subprocess, sys, time
commands, repeat = json.loads(sys.argv[1]), int(sys.argv[2])
for command in commands:  # warm the page cache
    subprocess.run(command, capture_output=True, check=True)
walls = [[] for _ in commands]
rss = [0 for _ in commands]
for _ in range(repeat):
    for i, command in enumerate(commands):
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        walls[i].append(time.perf_counter() - start)
        assert os.waitstatus_to_exitcode(status) == 0, command
        rss[i] = max(rss[i], usage.ru_maxrss)
print(json.dumps({"walls": walls, "rss_kib": rss}))
"""


def whole_process(repeat: int) -> tuple[list[list[float]], list[int]]:
    """``nixk8s compile`` of an example and ``python -c pass``, interleaved: wall seconds and peak RSS."""
    nixk8s = Path(sys.executable).with_name("nixk8s")
    spec = ROOT / "specs" / "hcloud-k3s.yaml"
    with tempfile.TemporaryDirectory() as out:
        commands = [[str(nixk8s), "compile", str(spec), "-o", out], [sys.executable, "-c", "pass"]]
        # bytecode cached as on an operator's machine (some environments switch it off)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, msgspec.json.encode(commands).decode(), str(repeat)],
            capture_output=True,
            check=True,
            env=env,
        )
    result = msgspec.json.decode(launched.stdout)
    return result["walls"], result["rss_kib"]


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--quick", action="store_true", help="small cases only")
    args.add_argument("--repeat", type=int, default=9, help="timed runs per case (3 above 2,000 nodes, at least)")
    opts = args.parse_args()
    print(
        f"Python {platform.python_version()}, msgspec {msgspec.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}"
    )
    print()
    print("| case | nodes | compile, ms: median (min–max) | floor, ms: median (min–max) | ratio | peak | main.tf.json |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    per_node: dict[str, float] = {}
    for name, make in CASES:
        if opts.quick and name not in QUICK:
            continue
        raw = make()
        nodes = sum(p.get("desired_size", p["min_size"]) for p in raw["node_pools"])
        repeat = max(3, opts.repeat // 3) if nodes > 2000 else opts.repeat
        m = measure(raw, repeat)
        median = statistics.median(m["compiles"])
        per_node[name] = median / nodes
        ratio = median / statistics.median(m["floors"])
        print(
            f"| {name} | {nodes:,} | {_spread(m['compiles'])} | {_spread(m['floors'])} | {ratio:.1f}× "
            f"| {m['peak'] / 2**20:,.1f} MiB | {m['bytes'] / 2**20:,.2f} MiB |"
        )
        sys.stdout.flush()
    sizes = [f"hcloud, {n} workers, no network" for n in (100, 1000, 10000)]
    if all(s in per_node for s in sizes):
        step = lambda a, b, n: (per_node[b] * (n[1]) - per_node[a] * (n[0])) / (n[1] - n[0])  # noqa: E731
        low = step(sizes[0], sizes[1], (103, 1003))
        high = step(sizes[1], sizes[2], (1003, 10003))
        print()
        print(
            f"hcloud cost per added node: {low * 1e6:.2f} µs from 100 to 1,000 workers, "
            f"{high * 1e6:.2f} µs from 1,000 to 10,000 ({(high / low - 1) * 100:+.0f}%)"
        )
    if not opts.quick:
        (compiles, baseline), (compile_rss, baseline_rss) = whole_process(max(opts.repeat, 9))
        print()
        print("| whole process | wall, ms: median (min–max) | peak RSS |")
        print("|---|---:|---:|")
        print(f"| `nixk8s compile specs/hcloud-k3s.yaml` | {_spread(compiles)} | {compile_rss / 1024:,.0f} MiB |")
        print(f"| `python -c pass` | {_spread(baseline)} | {baseline_rss / 1024:,.0f} MiB |")

if __name__ == "__main__":
    main()
