"""The fast path against a straightforward reference rendering (the oracle).

The compiler renders a pool of one machine per node once and stamps its resources
for each machine (nixk8s/stamp.py). The reference (``support.reference_json``)
renders every machine from scratch (its node index an integer in its config), calls
the backend's hooks on all of them, and encodes the plain document, as nixk8s did
before the fast path: the two must give the same bytes for every spec.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import cluster_specs
from support import SPECS, compiled_example, load_spec, reference_json

from nixk8s.backends.registry import BACKENDS
from nixk8s.compiler import compile_spec


@pytest.mark.parametrize("path", sorted(SPECS.iterdir()), ids=lambda p: p.name)
def test_every_example_compiles_to_the_reference_bytes(path: Path) -> None:
    compiled = compiled_example(path)
    assert compiled.to_json() == reference_json(compiled.plan.spec)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@given(data=st.data())
def test_the_fast_path_writes_the_reference_bytes(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    assert compile_spec(spec).unwrap().to_json() == reference_json(spec)


def test_a_pool_whose_names_are_shortened_writes_the_reference_bytes() -> None:
    # a 40-character cluster name and a 32-character pool name: server names over 63 characters
    # end in a hash of the whole name, which no stamp token could stand for
    spec = load_spec(
        """
name: a-very-long-cluster-name-for-producti
backend: hcloud
region: nbg1
node_pools:
  - {name: system, instance_types: [cx32], min_size: 1, max_size: 1}
  - {name: a-pool-name-of-thirty-two-chars1, instance_types: [cx32], min_size: 12, max_size: 12}
bootstrap_secrets: {k3s_server_token: a-token}
network: {vpc_cidr: 10.0.0.0/16}
hcloud: {image: nixos}
"""
    )
    fast = compile_spec(spec).unwrap()
    servers = fast.document["resource"]["hcloud_server"]
    assert any(len(body["name"]) == 63 for body in servers.values())
    assert fast.to_json() == reference_json(spec)
