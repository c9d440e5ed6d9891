"""The Backend record and the shared pipeline every NixOS backend runs.

A backend is a :class:`Backend`: a frozen record of pure hook functions, generic
over ``I``, the backend's own typed record of what its foundation built (network,
firewall, load balancer ids...). Hooks receive that record as an argument, so
nothing travels through tags or globals.

:func:`build` is pangea's NixosBase as one function: foundation (network, firewall,
IAM, ...) → control-plane loop (config, user_data, instance, post-instance hook) →
worker pools → outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Literal, TypeVar

import msgspec
from returns.result import Failure, Result, Success

from nixk8s.cloud_init import IndexProbe, user_data
from nixk8s.node_config import NodeConfig, agent_config, agent_node_index, config_json, server_config
from nixk8s.plan import ClusterPlan
from nixk8s.ports import PortRule, sources
from nixk8s.problems import Problem, Problems, join_path
from nixk8s.spec import BackendName, ClusterSpec, NodePool, UserDataFormat
from nixk8s.terraform import Fragment, ProviderRequirement, Template, Text, combine

I = TypeVar("I")


class Foundation(msgspec.Struct, Generic[I], frozen=True):
    """What a backend builds before any node, and its typed handles to it."""

    fragment: Fragment
    infra: I


class RenderedNode(msgspec.Struct, frozen=True):
    """One node's (or one template's) config, its JSON text, and its user_data.

    ``ordinal`` is the node's position in its pool (0, 1, ...), which names its
    resources; ``config.node_index`` is the index kindling sees.
    """

    role: Literal["server", "agent"]
    ordinal: int
    config: NodeConfig
    json: Template
    user_data: Template


class WorkerPool(msgspec.Struct, frozen=True):
    """A worker pool and its rendered nodes: one per machine, or one shared template."""

    spec_index: int
    pool: NodePool
    nodes: tuple[RenderedNode, ...]

    @property
    def path(self) -> str:
        return join_path("node_pools", self.spec_index)


class NodeDescription(msgspec.Struct, frozen=True):
    resource: str
    address: Text | None = None


class UserDataLimit(msgspec.Struct, frozen=True):
    max_bytes: int
    what: str  # e.g. "Hetzner allows 32,768 bytes of user_data"


def network_port_sources(plan: ClusterPlan, infra: object, rule: PortRule) -> tuple[Text, ...]:
    """Who may reach a port row: the access sources, or for private rows the spec's network."""
    spec = plan.spec
    return sources(rule, spec, spec.network.vpc_cidr if spec.network else None)


def no_provider_config(plan: ClusterPlan) -> Mapping[str, Any]:
    """A provider block that needs nothing from the spec."""
    return {}


class Backend(msgspec.Struct, Generic[I], frozen=True):
    """What one cloud builds, as hook functions over typed data."""

    name: BackendName
    title: str
    provider: ProviderRequirement
    default_format: UserDataFormat
    user_data_limit: UserDataLimit
    # None: one machine per node, each with its own static index. Otherwise worker
    # pools are templates (ASG, MIG, VMSS) whose nodes read their index at boot.
    worker_index_probe: IndexProbe | None
    # True where nodes join through an endpoint in front of the servers (a load
    # balancer) rather than server 0's own address: the servers' API certificates
    # then name that endpoint too, or joining nodes fail TLS verification.
    joins_through_load_balancer: bool
    check: Callable[[ClusterSpec], Iterable[Problem]]
    foundation: Callable[[ClusterPlan], Foundation[I]]
    join_host: Callable[[ClusterPlan, I], Text]
    network_id: Callable[[I], Text | None]
    control_plane_node: Callable[[ClusterPlan, I, RenderedNode], Fragment]
    post_instance: Callable[[ClusterPlan, I, RenderedNode], Fragment]
    worker_pool: Callable[[ClusterPlan, I, WorkerPool], Fragment]
    outputs: Callable[[ClusterPlan, I], Fragment]
    # for explain: each node's resource address and, where known, its IP or DNS name
    describe_node: Callable[[ClusterPlan, I, RenderedNode, NodePool], NodeDescription]
    notes: Callable[[ClusterPlan, I], tuple[str, ...]]
    # the spec's part of the provider block (e.g. the AWS region), merged over
    # ``provider.config``
    provider_config: Callable[[ClusterPlan], Mapping[str, Any]] = no_provider_config
    # for explain: who may reach each port row, as this cloud's firewall opens it
    port_sources: Callable[[ClusterPlan, I, PortRule], tuple[Text, ...]] = network_port_sources

    def provider_for(self, plan: ClusterPlan) -> ProviderRequirement:
        """The provider requirement with its block completed from the spec."""
        return msgspec.structs.replace(self.provider, config={**self.provider.config, **self.provider_config(plan)})


def no_fragment(plan: ClusterPlan, infra: object, node: RenderedNode) -> Fragment:
    """A post-instance hook that adds nothing."""
    return Fragment()


def render_node(
    plan: ClusterPlan, ordinal: int, config: NodeConfig, probe: IndexProbe | None = None
) -> RenderedNode:
    text = config_json(config)
    return RenderedNode(
        role=config.role,
        ordinal=ordinal,
        config=config,
        json=text,
        user_data=user_data(plan.user_data_format, text, probe),
    )


def control_plane_nodes(
    plan: ClusterPlan, join: Text, network_id: Text | None, api_sans: tuple[Text, ...]
) -> tuple[RenderedNode, ...]:
    spec = plan.spec
    return tuple(
        render_node(plan, i, server_config(spec, i, join=join, network_id=network_id, api_sans=api_sans))
        for i in range(spec.control_plane_count)
    )


def worker_pools(plan: ClusterPlan, join: Text, probe: IndexProbe | None) -> tuple[WorkerPool, ...]:
    spec = plan.spec

    def nodes(pool: NodePool) -> tuple[RenderedNode, ...]:
        if probe is not None:
            return (render_node(plan, 0, agent_config(spec, pool, None, join=join), probe),)
        return tuple(
            render_node(plan, i, agent_config(spec, pool, agent_node_index(pool.name, i), join=join))
            for i in range(pool.desired)
        )

    return tuple(WorkerPool(i, pool, nodes(pool)) for i, pool in spec.worker_pools)


def _size_problems(limit: UserDataLimit, path: str, nodes: Iterable[RenderedNode]) -> list[Problem]:
    worst = max((n.user_data.max_len() for n in nodes), default=0)
    if worst <= limit.max_bytes:
        return []
    return [
        Problem(
            path,
            f"user_data would be up to {worst:,} bytes; {limit.what} "
            "(bootstrap_secrets, nixos.k3s/kubernetes manifests and vpn are what grow it)",
        )
    ]


class Built(msgspec.Struct, Generic[I], frozen=True):
    """The pipeline's result: the document's pieces and what explain needs."""

    fragment: Fragment
    infra: I
    control_plane: tuple[RenderedNode, ...]
    workers: tuple[WorkerPool, ...]
    notes: tuple[str, ...]


def build(backend: Backend[I], plan: ClusterPlan) -> Result[Built[I], Problems]:
    """Run the shared pipeline: foundation → control plane → workers → outputs."""
    foundation = backend.foundation(plan)
    infra = foundation.infra
    join = backend.join_host(plan, infra)
    api_sans = (join,) if backend.joins_through_load_balancer else ()
    servers = control_plane_nodes(plan, join, backend.network_id(infra), api_sans)
    pools = worker_pools(plan, join, backend.worker_index_probe)

    limit = backend.user_data_limit
    problems = _size_problems(limit, join_path("node_pools", plan.spec.system_pool_index), servers)
    for pool in pools:
        problems += _size_problems(limit, pool.path, pool.nodes)
    if problems:
        return Failure(tuple(problems))

    fragment = combine(
        [
            Fragment(variables=plan.variables),
            foundation.fragment,
            *(
                combine([backend.control_plane_node(plan, infra, node), backend.post_instance(plan, infra, node)])
                for node in servers
            ),
            *(backend.worker_pool(plan, infra, pool) for pool in pools),
            backend.outputs(plan, infra),
        ]
    )
    return Success(Built(fragment, infra, servers, pools, backend.notes(plan, infra)))
