"""Rendering each node: its config, the config's JSON text, and its user_data.

The control plane is rendered node by node (servers are few, and each has its own
index). A worker pool is built either from one template its machines share (they
read their index at boot) or machine by machine. The compiler renders a pool of the
second kind once, with slots where its machines differ, and stamps it for each
machine (:mod:`nixk8s.stamp`); a backend's hook sees a :class:`MachineNode` either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from nixk8s import names
from nixk8s.cloud_init import BootStep, user_data
from nixk8s.etcd_snapshots import SnapshotBucket, server_settings
from nixk8s.index_probe import IndexProbe
from nixk8s.k3s_dropin import node_settings
from nixk8s.node_config import NodeConfig, agent_config, config_json, json_template, server_config
from nixk8s.node_index import agent_node_index
from nixk8s.plan import ClusterPlan
from nixk8s.problems import join_path
from nixk8s.spec import NodePool
from nixk8s.terraform import Template, Text


class RenderedNode(msgspec.Struct, frozen=True):
    """One node's (or one template's) config, its JSON text, and its user_data.

    ``name`` is its resource name (:mod:`nixk8s.names`), ``cloud_name`` the name the
    cloud shows (one DNS label), ``ordinal`` its position in its pool (0 for a
    template), ``config.node_index`` the index kindling sees (None for a template).
    """

    role: Literal["server", "agent"]
    name: str
    cloud_name: str
    ordinal: int
    config: NodeConfig
    json: Template
    user_data: Template


class Machine(msgspec.Struct, frozen=True):
    """What sets one machine of a pool built machine by machine apart from the others:
    its position in the pool (which names its resources), its node index, the name the
    cloud shows (a DNS label, hash-shortened when long) and its spread group (where a
    cloud spreads machines in groups of limited size; 0 elsewhere)."""

    ordinal: int
    node_index: int
    cloud_name: str
    spread_group: int

    def text(self) -> MachineText:
        """The values as they are written into names, labels and config."""
        return MachineText(str(self.ordinal), str(self.node_index), self.cloud_name, str(self.spread_group))


class MachineText(msgspec.Struct, frozen=True, array_like=True):
    """A machine's values as text: digits and a DNS label (:meth:`Machine.text`), or
    the slots that stand for them in a pool rendered once (:mod:`nixk8s.stamp`).
    Either way letters and digits only, which no escaping layer changes."""

    ordinal: str
    node_index: str
    cloud_name: str
    spread_group: str

    def values(self) -> tuple[str, str, str, str]:
        """The four texts, in this order (the order slots are filled in)."""
        return (self.ordinal, self.node_index, self.cloud_name, self.spread_group)


class MachineNode(msgspec.Struct, frozen=True):
    """One machine of a pool built machine by machine, as a backend's hook builds it.

    ``ordinal`` and ``spread_group`` are text to write into names and labels: in the
    compiler, the slots a pool rendered once holds in their place (and ``name``,
    ``cloud_name``, ``json`` and ``user_data`` hold slots where the machine's values
    go). ``config`` is what every machine of the pool shares; its ``node_index`` is
    None, each machine's own being written into ``json`` at the node index's place.
    """

    name: str
    cloud_name: str
    ordinal: str
    spread_group: str
    config: NodeConfig
    json: Template
    user_data: Template
    role: Literal["agent"] = "agent"


class WorkerPool(msgspec.Struct, frozen=True):
    """A worker pool built from one template, its one rendered node: its machines read
    their index at boot."""

    spec_index: int
    pool: NodePool
    nodes: tuple[RenderedNode, ...]

    @property
    def path(self) -> str:
        return join_path("node_pools", self.spec_index)

    def machine_nodes(self) -> tuple[RenderedNode, ...]:
        """What its machines receive: the template."""
        return self.nodes


class MachinePool(msgspec.Struct, frozen=True):
    """A worker pool built machine by machine, as a backend's hook receives it: the
    machines to build (in the compiler, one with slots, stamped for each machine) and
    every spread group its machines are in, each to build once."""

    spec_index: int
    pool: NodePool
    nodes: tuple[MachineNode, ...]
    spread_groups: tuple[int, ...]

    @property
    def path(self) -> str:
        return join_path("node_pools", self.spec_index)


def k3s_dropin(plan: ClusterPlan, config: NodeConfig, server_only: Mapping[str, Any] | None = None) -> Template | None:
    """A node's k3s drop-in (:mod:`nixk8s.k3s_dropin`): what its ``k3s`` block holds that
    k3s reads from a file, and for a server ``server_only`` (the etcd snapshot
    settings); None where there is nothing to write."""
    settings = {**node_settings(config.k3s), **(server_only or {})}
    return json_template(settings, plan.expression_prefix) if settings else None


def render_node(
    plan: ClusterPlan,
    name: str,
    ordinal: int,
    config: NodeConfig,
    probe: IndexProbe | None = None,
    boot: tuple[BootStep, ...] = (),
    server_only: Mapping[str, Any] | None = None,
) -> RenderedNode:
    """One node's config, rendered as JSON and wrapped as user_data in the plan's format,
    with its k3s drop-in."""
    text = config_json(config, plan.expression_prefix)
    return RenderedNode(
        role=config.role,
        name=name,
        cloud_name=names.dns_name(name),
        ordinal=ordinal,
        config=config,
        json=text,
        user_data=user_data(plan.user_data_format, text, probe, boot, k3s_dropin(plan, config, server_only)),
    )


def control_plane_nodes(
    plan: ClusterPlan,
    joins: tuple[Text | None, ...],
    network_id: Text | None,
    api_sans: tuple[Text, ...],
    boot: tuple[BootStep, ...] = (),
    snapshot_bucket: SnapshotBucket | None = None,
) -> tuple[RenderedNode, ...]:
    """Every server, rendered: server ``i`` joins ``joins[i]`` (None: it joins no one).
    Only servers get the etcd snapshot settings (into the bucket the cloud made, where
    the spec asks for one)."""
    spec = plan.spec
    snapshots = server_settings(spec, snapshot_bucket)
    return tuple(
        render_node(
            plan,
            names.control_plane_node(plan.name, i),
            i,
            server_config(
                plan.spec, i, join=join, network_id=network_id, api_sans=api_sans,
                generated=plan.server_generated_secrets,
            ),
            boot=boot,
            server_only=snapshots,
        )
        for i, join in enumerate(joins)
    )


def machines(cluster: str, pool: str, count: int, group_size: int | None) -> tuple[Machine, ...]:
    """The values of each machine of a pool: consecutive machines share a spread group,
    ``group_size`` to a group, so that a growing pool never moves a machine to another.

    >>> [m.spread_group for m in machines("demo", "workers", 12, 10)][-3:]
    [0, 1, 1]
    """
    block = agent_node_index(pool, 0)
    prefix = names.dns_name(names.worker_node(cluster, pool, 0))[:-1]
    short = len(prefix) + len(str(count)) <= names.DNS_LABEL_LIMIT  # then no name needs a hash
    return tuple(
        Machine(
            i,
            block + i,
            f"{prefix}{i}" if short else names.dns_name(names.worker_node(cluster, pool, i)),
            i // group_size if group_size else 0,
        )
        for i in range(count)
    )


def machine_node(
    plan: ClusterPlan, join: Text, pool: NodePool, text: MachineText, boot: tuple[BootStep, ...] = ()
) -> MachineNode:
    """One machine of ``pool``, rendered with ``text`` where its values go.

    >>> from nixk8s.spec import ClusterSpec
    >>> from nixk8s.plan import plan_cluster
    >>> workers = NodePool(name="workers", instance_types=("cx32",))
    >>> plan = plan_cluster(ClusterSpec(name="demo", backend="hcloud", region="nbg1",
    ...     node_pools=(NodePool(name="system", instance_types=("cx32",)), workers)), "shell")
    >>> node = machine_node(plan, "10.0.0.2", workers, MachineText("SLOTo", "SLOTi", "SLOTc", "SLOTg"))
    >>> node.name, '"node_index":SLOTi,' in node.json.parts[0]
    ('demo_workers_SLOTo', True)
    """
    config = agent_config(plan.spec, pool, None, join=join, generated=plan.agent_generated_secrets)
    json = config_json(config, plan.expression_prefix, index=text.node_index)
    return MachineNode(
        name=names.worker_node(plan.name, pool.name, text.ordinal),
        cloud_name=text.cloud_name,
        ordinal=text.ordinal,
        spread_group=text.spread_group,
        config=config,
        json=json,
        user_data=user_data(plan.user_data_format, json, boot=boot, dropin=k3s_dropin(plan, config)),
    )


def template_pool(
    plan: ClusterPlan,
    join: Text,
    spec_index: int,
    pool: NodePool,
    probe: IndexProbe,
    boot: tuple[BootStep, ...] = (),
) -> WorkerPool:
    """A pool built from one template whose machines read their index at boot."""
    config = agent_config(plan.spec, pool, None, join=join, generated=plan.agent_generated_secrets)
    node = render_node(plan, names.worker_template(plan.name, pool.name), 0, config, probe, boot)
    return WorkerPool(spec_index, pool, (node,))
