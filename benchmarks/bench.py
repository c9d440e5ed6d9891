"""Compile time and peak memory of nixk8s at scale, beside msgspec's encode floor.

    .venv/bin/python benchmarks/bench.py            # every case, table on stdout
    .venv/bin/python benchmarks/bench.py --quick    # small cases only

For each case: the median wall time of ``compile_spec(spec)`` + ``to_json`` over a
few runs, the peak of Python allocations during one compile (tracemalloc, measured
in a separate run so that it does not slow the timed ones), the output size, and
the time msgspec alone needs to encode the same finished document: the floor no
compiler can beat, since every compiler must at least write its output.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgspec

from nixk8s.backends import BACKENDS
from nixk8s.compiler import compile_spec
from nixk8s.load import load
from nixk8s.terraform import to_json


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
    ("hcloud, 10 workers, network", lambda: hcloud_spec(10, network=True)),
    ("hcloud, 97 workers, network (100 servers)", lambda: hcloud_spec(97, network=True)),
    ("hcloud, 1000 workers, no network", lambda: hcloud_spec(1000, network=False)),
    ("hcloud, 10000 workers, no network", lambda: hcloud_spec(10000, network=False)),
    ("aws, 1 worker, 1 pool", lambda: aws_spec(1, 1)),
    ("aws, 100 workers, 5 pools", lambda: aws_spec(100, 5)),
    ("aws, 1000 workers, 10 pools", lambda: aws_spec(1000, 10)),
    ("aws, 10000 workers, 20 pools", lambda: aws_spec(10000, 20)),
]
QUICK = {"hcloud, 1 worker, network", "hcloud, 10 workers, network", "aws, 1 worker, 1 pool"}


def _median_seconds(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(raw: dict[str, Any], repeat: int) -> dict[str, Any]:
    data = msgspec.json.encode(raw)
    spec = load(data, "json").unwrap()

    def compile_once() -> bytes:
        return compile_spec(spec).unwrap().to_json()

    output = compile_once()
    seconds = _median_seconds(compile_once, repeat)
    document = compile_spec(spec).unwrap().document
    floor = _median_seconds(lambda: to_json(document), repeat)
    gc.collect()
    tracemalloc.start()
    compile_once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": seconds, "floor": floor, "peak": peak, "bytes": len(output)}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--quick", action="store_true", help="small cases only")
    args.add_argument("--repeat", type=int, default=3)
    opts = args.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or platform.system()}")
    print()
    print("| case | nodes | compile (median) | msgspec encode floor | peak memory | main.tf.json |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, make in CASES:
        if opts.quick and name not in QUICK:
            continue
        raw = make()
        if raw["backend"] not in BACKENDS:
            print(f"| {name} | - | backend not available | | | |")
            continue
        nodes = sum(p.get("desired_size", p["min_size"]) for p in raw["node_pools"])
        repeat = 1 if nodes > 2000 else opts.repeat
        m = measure(raw, repeat)
        print(
            f"| {name} | {nodes} | {m['seconds'] * 1000:,.1f} ms | {m['floor'] * 1000:,.1f} ms "
            f"| {m['peak'] / 2**20:,.1f} MiB | {m['bytes'] / 2**20:,.2f} MiB |"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
