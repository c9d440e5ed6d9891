"""The fast path against a straightforward reference rendering (the oracle).

The compiler renders a pool of one machine per node once and stamps its resources
for each machine (nixk8s/stamp.py). The reference below renders every machine from
scratch (its node index an integer in its config), calls the backend's hooks on all
of them, and encodes the plain document, as nixk8s did before the fast path: the two
must give the same bytes for every spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import cluster_specs
from support import SPECS, compile_file, load_spec

from nixk8s import names
from nixk8s.backends.catalog import BACKENDS
from nixk8s.backends.base import Backend, Placed, plan_for
from nixk8s.render import MachineNode, MachinePool, WorkerPool, control_plane_nodes, render_node
from nixk8s.compiler import compile_spec
from nixk8s.node_config import agent_config
from nixk8s.node_index import agent_node_index
from nixk8s.spec import ClusterSpec, NodePool
from nixk8s.terraform import Fragment, combine, document, to_json


def reference_machine(plan: Any, join: Any, pool: NodePool, k: int, group_size: int | None) -> MachineNode:
    """Machine ``k`` rendered from scratch, its node index in its config as an integer."""
    node = render_node(
        plan,
        names.worker_node(plan.name, pool.name, k),
        k,
        agent_config(plan.spec, pool, agent_node_index(pool.name, k), join=join),
    )
    return MachineNode(
        name=node.name,
        cloud_name=node.cloud_name,
        ordinal=str(k),
        spread_group=str(k // group_size) if group_size else "0",
        config=node.config,
        json=node.json,
        user_data=node.user_data,
    )


def reference_worker_pools(backend: Backend[Any], plan: Any, infra: Any, join: Any) -> list[Placed]:
    """Every pool built by its hook: every machine rendered from scratch (or the one
    template a template-built pool has)."""
    spec, probe, size = plan.spec, backend.worker_index_probe, backend.spread_group_size
    placed = []
    for i, pool in spec.worker_pools:
        if probe is not None and backend.templated_pool(pool):
            config = agent_config(spec, pool, None, join=join)
            nodes = (render_node(plan, names.worker_template(plan.name, pool.name), 0, config, probe),)
            placed.append(backend.worker_pool(plan, infra, WorkerPool(i, pool, nodes)))
        else:
            machines = tuple(reference_machine(plan, join, pool, k, size) for k in range(pool.desired))
            groups = tuple(sorted({k // size if size else 0 for k in range(pool.desired)}))
            placed.append(backend.machine_pool(plan, infra, MachinePool(i, pool, machines, groups)))
    return placed


def reference_json(spec: ClusterSpec) -> bytes:
    """main.tf.json as the straightforward pipeline writes it: no stamping, one plain document."""
    backend = BACKENDS[spec.backend]
    plan = plan_for(backend, spec)
    foundation = backend.foundation(plan)
    infra, join = foundation.infra, foundation.join_host
    server_join = join if foundation.server_join_host is None else foundation.server_join_host
    servers = control_plane_nodes(plan, server_join, foundation.network_id, foundation.api_names)
    placed = [backend.control_plane_node(plan, infra, node) for node in servers]
    fragment = combine(
        [
            Fragment(variables=plan.variables),
            foundation.fragment,
            *(combine([p.fragment, backend.post_instance(plan, infra, n)]) for p, n in zip(placed, servers)),
            *(combine([pool.shared, pool.fragment]) for pool in reference_worker_pools(backend, plan, infra, join)),
            backend.outputs(plan, infra, tuple(h for p in placed for h in p.handles)),
        ]
    )
    return to_json(document([backend.provider_for(plan)], fragment))


@pytest.mark.parametrize("path", sorted(SPECS.iterdir()), ids=lambda p: p.name)
def test_every_example_compiles_to_the_reference_bytes(path: Path) -> None:
    compiled = compile_file(path)
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
