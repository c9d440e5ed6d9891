"""Rendering each node: its config, the config's JSON text, and its user_data.

The control plane is rendered node by node (servers are few, and each has its own
index). A worker pool is rendered once: as the template its machines share where
the cloud builds pools from templates (they read their index at boot), or as one
machine with slot tokens, stamped for every machine (:mod:`nixk8s.stamp`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import msgspec

from nixk8s import names
from nixk8s.cloud_init import user_data
from nixk8s.index_probe import IndexProbe
from nixk8s.node_config import NodeConfig, agent_config, config_json, server_config
from nixk8s.node_index import agent_node_index
from nixk8s.plan import ClusterPlan
from nixk8s.problems import join_path
from nixk8s.spec import NodePool
from nixk8s.stamp import MachineSlots, Slot, fill, filled
from nixk8s.terraform import Template, Text


class RenderedNode(msgspec.Struct, frozen=True):
    """One node's (or one template's) config, its JSON text, and its user_data.

    ``name`` is its resource name (:mod:`nixk8s.names`), ``cloud_name`` the name the
    cloud shows (one DNS label), ``ordinal`` its position in its pool ("0", "1", ...),
    ``spread_group`` which of its pool's spread groups it is in ("0" where the cloud
    has none),
    ``config.node_index`` the index kindling sees. In a stamped pool the one rendered
    node holds slot tokens in these places (:mod:`nixk8s.stamp`).
    """

    role: Literal["server", "agent"]
    name: str
    cloud_name: str
    ordinal: str
    spread_group: str
    config: NodeConfig
    json: Template
    user_data: Template


def concrete_node(node: RenderedNode, tokens: MachineSlots, machine: MachineSlots) -> RenderedNode:
    """A stamped pool's rendered node as one machine receives it."""
    return RenderedNode(
        role=node.role,
        name=fill(node.name, tokens, machine),
        cloud_name=machine.cloud_name,
        ordinal=machine.ordinal,
        spread_group=machine.spread_group,
        config=msgspec.structs.replace(node.config, node_index=int(machine.node_index)),
        json=Template.of(filled(node.json, tokens, machine)),
        user_data=Template.of(filled(node.user_data, tokens, machine)),
    )


class WorkerPool(msgspec.Struct, frozen=True):
    """A worker pool and its rendered nodes.

    Template-built pools (ASG, MIG, VMSS) have one node, the template, and no
    machines. Pools of one machine per node are rendered once, for the slot
    ``tokens``, and stamped for each of ``machines`` (:mod:`nixk8s.stamp`).
    """

    spec_index: int
    pool: NodePool
    nodes: tuple[RenderedNode, ...]
    tokens: MachineSlots | None = None
    machines: tuple[MachineSlots, ...] = ()

    @property
    def path(self) -> str:
        return join_path("node_pools", self.spec_index)

    @property
    def stamped(self) -> bool:
        return self.tokens is not None

    def machine_nodes(self) -> tuple[RenderedNode, ...]:
        """Every machine's rendered node (the template's one for a template-built pool)."""
        if self.tokens is None:
            return self.nodes
        (node,) = self.nodes
        return tuple(concrete_node(node, self.tokens, m) for m in self.machines)


def render_node(
    plan: ClusterPlan, name: str, ordinal: str, config: NodeConfig, probe: IndexProbe | None = None
) -> RenderedNode:
    """One node's config, rendered as JSON and wrapped as user_data in the plan's format."""
    text = config_json(config, plan.expression_prefix)
    return RenderedNode(
        role=config.role,
        name=name,
        cloud_name=names.dns_name(name),
        ordinal=ordinal,
        spread_group="0",
        config=config,
        json=text,
        user_data=user_data(plan.user_data_format, text, probe),
    )


def control_plane_nodes(
    plan: ClusterPlan, join: Text, network_id: Text | None, api_sans: tuple[Text, ...]
) -> tuple[RenderedNode, ...]:
    spec = plan.spec
    return tuple(
        render_node(
            plan,
            names.control_plane_node(plan.name, i),
            str(i),
            server_config(spec, i, join=join, network_id=network_id, api_sans=api_sans),
        )
        for i in range(spec.control_plane_count)
    )


def machine_slots(cluster: str, pool: str, count: int, group_size: int | None) -> tuple[MachineSlots, ...]:
    """The values each machine of a pool fills in: its ordinal, node index, cloud name
    and spread group (consecutive machines, ``group_size`` to a group: a growing pool
    never moves a machine to another group).

    >>> [m.spread_group for m in machine_slots("demo", "workers", 12, 10)][-3:]
    ['0', '1', '1']
    """
    block = agent_node_index(pool, 0)
    prefix = names.dns_name(names.worker_node(cluster, pool, 0))[:-1]
    short = len(prefix) + len(str(count)) <= names.DNS_LABEL_LIMIT  # then no name needs a hash
    return tuple(
        MachineSlots(
            str(i),
            str(block + i),
            f"{prefix}{i}" if short else names.dns_name(names.worker_node(cluster, pool, i)),
            str(i // group_size) if group_size else "0",
        )
        for i in range(count)
    )


class PoolRendering(msgspec.Struct, frozen=True):
    """How the cloud builds worker pools: which from one template whose machines read
    their index at boot through ``probe``, and how many machines go to a spread group."""

    probe: IndexProbe | None
    templated: Callable[[NodePool], bool]
    spread_group_size: int | None


def worker_pools(plan: ClusterPlan, join: Text, rendering: PoolRendering) -> tuple[WorkerPool, ...]:
    """Each worker pool rendered once: as the template its machines share, or as one
    machine with slot tokens, to be stamped for each machine."""
    spec = plan.spec
    tokens = plan.slot_tokens

    def template(pool: NodePool) -> RenderedNode:
        config = agent_config(spec, pool, None, join=join)
        return render_node(plan, names.worker_template(plan.name, pool.name), "0", config, rendering.probe)

    def symbolic(pool: NodePool) -> RenderedNode:
        config = agent_config(spec, pool, Slot(tokens.node_index), join=join)
        node = render_node(plan, names.worker_node(plan.name, pool.name, tokens.ordinal), tokens.ordinal, config)  # type: ignore[arg-type]
        return msgspec.structs.replace(node, cloud_name=tokens.cloud_name, spread_group=tokens.spread_group)

    def rendered(i: int, pool: NodePool) -> WorkerPool:
        if rendering.probe is not None and rendering.templated(pool):
            return WorkerPool(i, pool, (template(pool),))
        machines = machine_slots(plan.name, pool.name, pool.desired, rendering.spread_group_size)
        return WorkerPool(i, pool, (symbolic(pool),), tokens, machines)

    return tuple(rendered(i, pool) for i, pool in spec.worker_pools)


def largest_user_data(pool: WorkerPool) -> Iterable[RenderedNode]:
    """The nodes whose user_data is the pool's largest: for a stamped pool, the machine
    with the longest node index."""
    if pool.tokens is None:
        return pool.nodes
    return [concrete_node(pool.nodes[0], pool.tokens, pool.machines[-1])] if pool.machines else []
