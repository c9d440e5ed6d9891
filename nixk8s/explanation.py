"""What a compiled spec builds, as data: the :class:`Explanation` every ``explain`` format renders.

Built once from the :class:`~nixk8s.compiler.Compiled` result, never from the spec
alone: the nodes are the rendered nodes with their real configs (so "which secret
reaches which node" is read off what each node receives, not re-derived), the ports
are the firewall's rows as :meth:`Built.port_sources` opens them, the balancer and
spread groups are the handles the backend's hooks returned.

Values Terraform computes (an address known after apply) appear as ``${...}``, the way
Terraform writes them. ``nixk8s explain --format json`` is :func:`to_json` of it (keys
sorted, so tools can rely on them); the text and mermaid renderers read the same data.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from nixk8s.backends.catalog import backend_for
from nixk8s.backends.base import Backend, NodeHandle, RenderedNode, WorkerPool
from nixk8s.compiler import Compiled
from nixk8s.secrets import secret_budget, secret_paths
from nixk8s.spec import SecretRef
from nixk8s.stamp import StampedPool, fill, filled
from nixk8s.terraform import Expr, Text
from nixk8s.warnings import SpecWarning


def text(value: Text | None) -> str | None:
    """A value as Terraform writes it: a literal, or ``${expression}`` where computed."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Expr):
        return "${" + value.text + "}"
    return "".join(p if isinstance(p, str) else "${" + p.text + "}" for p in value.parts)


class Cluster(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    backend: str
    backend_title: str
    region: str
    distribution: str
    kubernetes_version: str
    track: str
    profile: str
    user_data_format: str
    largest_user_data: int  # bytes, secrets by reference at their budget
    user_data_limit: int
    user_data_limit_text: str
    network: str | None  # the cluster's private CIDR, as the firewall opens it
    initialized: bool  # the spec says the cluster exists: no node initialises one
    day_two: str  # what initialized means for this cluster, and when to set it


class Node(msgspec.Struct, frozen=True, kw_only=True):
    """One node, or one template whose machines share it (``template``: their index is
    read at boot, ``index_source`` says from where)."""

    name: str
    role: Literal["server", "agent"]
    pool: str
    index: int | None
    index_source: str | None
    template: bool
    cluster_init: bool
    join: str | None
    joins_through_balancer: bool
    resource: str
    private_ip: str | None
    public_ip: str | None
    spread_group: str | None
    bootstrap_secrets: tuple[str, ...]
    secret_paths: tuple[str, ...]
    gitops: str | None
    vpn: bool


class Pool(msgspec.Struct, frozen=True, kw_only=True):
    """A pool; ``built`` says how: a machine per node, one template, or by an autoscaler."""

    name: str
    role: Literal["control-plane", "worker"]
    instance_type: str
    min_size: int
    desired_size: int
    max_size: int
    autoscale: bool
    built: Literal["machines", "template", "autoscaler"]
    size_owner: str | None
    nodes: tuple[str, ...]


class Port(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    port: str  # "6443", "2379-2380", "" for ICMP
    protocol: str
    description: str
    audience: str
    sources: tuple[str, ...]  # empty: closed


class Secret(msgspec.Struct, frozen=True, kw_only=True):
    """A bootstrap secret (its value never shown) and the nodes that receive it."""

    key: str
    given: Literal["literal", "variable"]
    variable: str | None
    roles: tuple[str, ...]
    nodes: tuple[str, ...]


class SecretPath(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    path: str
    nodes: tuple[str, ...]


class Variable(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    secret: str
    sensitive: bool
    max_length: int  # characters once JSON-escaped (its validation block says so)


class Balancer(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["public", "private"]
    resource: str
    private_address: str
    public_address: str | None
    joiners: tuple[str, ...]  # the nodes whose join address is the balancer's
    targets: tuple[str, ...]  # the servers behind it


class PlacementGroup(msgspec.Struct, frozen=True, kw_only=True):
    resource: str
    members: tuple[str, ...]


class Output(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    sensitive: bool


class Reach(msgspec.Struct, frozen=True, kw_only=True):
    """How the nodes reach the internet and how an operator reaches them.

    ``private_nodes``: no node holds a public address. ``egress``: what carries the
    nodes' traffic out, in words; ``egress_resources`` its Terraform addresses.
    ``node_access``: how to reach a node's SSH.
    """

    private_nodes: bool
    egress: str
    egress_resources: tuple[str, ...]
    node_access: str


class Explanation(msgspec.Struct, frozen=True, kw_only=True):
    cluster: Cluster
    reach: Reach
    nodes: tuple[Node, ...]
    pools: tuple[Pool, ...]
    ports: tuple[Port, ...]
    secrets: tuple[Secret, ...]
    secret_paths: tuple[SecretPath, ...]
    variables: tuple[Variable, ...]
    balancer: Balancer | None
    placement_groups: tuple[PlacementGroup, ...]
    outputs: tuple[Output, ...]
    notes: tuple[str, ...]
    warnings: tuple[SpecWarning, ...]


# --- building it ----------------------------------------------------------------------------


def _node(node: RenderedNode, handle: NodeHandle, pool: str, backend: Backend[Any], balancer: str | None) -> Node:
    config = node.config
    index = config.node_index
    template = index is None
    join = text(config.join_server)
    fetch = backend.worker_index_fetch
    return Node(
        name=node.name,
        role=node.role,
        pool=pool,
        index=index if isinstance(index, int) else None,
        index_source=(fetch.service if fetch is not None else "instance metadata") if template else None,
        template=template,
        cluster_init=config.cluster_init,
        join=join,
        joins_through_balancer=balancer is not None and join is not None and balancer in join,
        resource=handle.resource,
        private_ip=text(handle.private_ip),
        public_ip=text(handle.public_ip),
        spread_group=handle.spread_group,
        bootstrap_secrets=tuple(sorted(config.bootstrap_secrets or ())),
        secret_paths=tuple(sorted(config.secrets or ())),
        gitops="fluxcd" if config.fluxcd is not None else "argocd" if config.argocd is not None else None,
        vpn=config.vpn is not None,
    )


def _machine_handles(pool: WorkerPool | StampedPool, handles: tuple[NodeHandle, ...]) -> tuple[NodeHandle, ...]:
    """The pool's handles per machine (as the hook returned them for a template-built pool)."""
    if isinstance(pool, WorkerPool):
        return handles
    (handle,) = handles
    slots = pool.slots
    out = []
    for machine in pool.machines:
        values = machine.text()
        out.append(
            NodeHandle(
                resource=fill(handle.resource, slots, values),
                private_ip=None if handle.private_ip is None else filled(handle.private_ip, slots, values),
                public_ip=None if handle.public_ip is None else filled(handle.public_ip, slots, values),
                spread_group=None if handle.spread_group is None else fill(handle.spread_group, slots, values),
            )
        )
    return tuple(out)


def _nodes(compiled: Compiled, backend: Backend[Any], balancer: str | None) -> tuple[Node, ...]:
    built, spec = compiled.built, compiled.plan.spec
    servers = [
        _node(n, h, spec.system_pool.name, backend, balancer) for n, h in zip(built.control_plane, built.server_handles)
    ]
    agents = [
        _node(n, h, pool.pool.name, backend, balancer)
        for pool, handles in zip(built.workers, built.worker_handles)
        for n, h in zip(pool.machine_nodes(), _machine_handles(pool, handles))
    ]
    return (*servers, *agents)


def _pools(compiled: Compiled, backend: Backend[Any], nodes: tuple[Node, ...]) -> tuple[Pool, ...]:
    spec = compiled.plan.spec
    by_pool: dict[str, list[str]] = {}
    for node in nodes:
        by_pool.setdefault(node.pool, []).append(node.name)
    system = spec.system_pool
    result = [
        Pool(
            name=system.name,
            role="control-plane",
            instance_type=system.instance_type,
            min_size=system.min_size,
            desired_size=spec.control_plane_count,
            max_size=system.max_size,
            autoscale=False,
            built="machines",
            size_owner=None,
            nodes=tuple(by_pool.get(system.name, ())),
        )
    ]
    for pool in compiled.built.workers:
        p = pool.pool
        template = isinstance(pool, WorkerPool)
        owner = backend.pool_size_owner(p)
        result.append(
            Pool(
                name=p.name,
                role="worker",
                instance_type=p.instance_type,
                min_size=p.min_size,
                desired_size=p.desired,
                max_size=p.max_size,
                autoscale=p.autoscale,
                built="autoscaler" if template and p.autoscale else "template" if template else "machines",
                size_owner=owner,
                nodes=tuple(by_pool.get(p.name, ())),
            )
        )
    return tuple(result)


def _ports(compiled: Compiled) -> tuple[Port, ...]:
    plan, built = compiled.plan, compiled.built
    return tuple(
        Port(
            name=rule.name,
            port=rule.port_range,
            protocol=rule.protocol,
            description=rule.description,
            audience=rule.audience,
            sources=tuple(text(s) or "" for s in built.port_sources(plan, rule)),
        )
        for rule in plan.ports
    )


def _secrets(compiled: Compiled, nodes: tuple[Node, ...]) -> tuple[Secret, ...]:
    result = []
    for key, secret in sorted(compiled.plan.spec.bootstrap_secrets.items()):
        receivers = [n for n in nodes if key in n.bootstrap_secrets]
        result.append(
            Secret(
                key=key,
                given="variable" if isinstance(secret, SecretRef) else "literal",
                variable=secret.var if isinstance(secret, SecretRef) else None,
                roles=tuple(sorted({n.role for n in receivers})),
                nodes=tuple(n.name for n in receivers),
            )
        )
    return tuple(result)


def _secret_paths(compiled: Compiled, nodes: tuple[Node, ...]) -> tuple[SecretPath, ...]:
    return tuple(
        SecretPath(key=key, path=path, nodes=tuple(n.name for n in nodes if key in n.secret_paths))
        for key, path in secret_paths(compiled.plan.spec).items()  # fluxcd's first, as the node reads them
    )


def _variables(compiled: Compiled) -> tuple[Variable, ...]:
    spec = compiled.plan.spec
    secrets = {s.var: (key, s) for key, s in spec.bootstrap_secrets.items() if isinstance(s, SecretRef)}
    return tuple(
        Variable(
            name=v.name,
            secret=secrets[v.name][0],
            sensitive=v.sensitive,
            max_length=secret_budget(*secrets[v.name]),
        )
        for v in sorted(compiled.plan.variables, key=lambda v: v.name)
        if v.name in secrets
    )


def _balancer(compiled: Compiled, nodes: tuple[Node, ...]) -> Balancer | None:
    handle = compiled.built.foundation.balancer
    kind = compiled.plan.api_load_balancer
    if handle is None or kind is None:
        return None
    return Balancer(
        kind=kind,
        resource=handle.resource,
        private_address=text(handle.private_address) or "",
        public_address=text(handle.public_address),
        joiners=tuple(n.name for n in nodes if n.joins_through_balancer),
        targets=tuple(n.name for n in nodes if n.role == "server"),
    )


def _placement_groups(nodes: tuple[Node, ...]) -> tuple[PlacementGroup, ...]:
    groups: dict[str, list[str]] = {}
    for node in nodes:
        if node.spread_group is not None:
            groups.setdefault(node.spread_group, []).append(node.name)
    return tuple(PlacementGroup(resource=g, members=tuple(m)) for g, m in sorted(groups.items()))


def _largest_user_data(compiled: Compiled) -> int:
    built = compiled.built
    rendered = [*built.control_plane, *(n for pool in built.workers for n in pool.machine_nodes())]
    return max(n.user_data.max_len() for n in rendered)


PUBLIC_EGRESS = "each node's own public address"
PUBLIC_ACCESS = "at each node's public address, from access.ssh_sources"


def _reach(compiled: Compiled) -> Reach:
    foundation = compiled.built.foundation
    network = compiled.plan.spec.network
    egress = foundation.egress
    return Reach(
        private_nodes=network is not None and network.private_nodes,
        egress=PUBLIC_EGRESS if egress is None else egress.via,
        egress_resources=() if egress is None else egress.resources,
        node_access=foundation.node_access or PUBLIC_ACCESS,
    )


def day_two(compiled: Compiled) -> str:
    """What ``initialized`` means for this cluster now, and what to do about it."""
    spec = compiled.plan.spec
    server_0 = compiled.built.control_plane[0].config
    if spec.initialized:
        return (
            f"initialized: no node initialises a cluster; server 0 joins {text(server_0.join_server)}, so a "
            "replaced server 0 rejoins the cluster instead of forming a new one"
        )
    if spec.control_plane_count < 2:
        return (
            "not initialized: server 0 initialises the cluster at its first boot and holds its only etcd member, "
            "so a replaced server 0 forms a new, empty cluster; initialized: true needs two or more servers "
            "(grow the control plane, apply, then set it)"
        )
    return (
        "not initialized: server 0 initialises the cluster at its first boot; after the first apply, set "
        "initialized: true, so that a replaced server 0 joins the others instead of forming a new, empty cluster"
    )


def explanation(compiled: Compiled) -> Explanation:
    """Everything ``explain`` shows, as data."""
    plan, built = compiled.plan, compiled.built
    spec = plan.spec
    backend = backend_for(spec.backend)
    assert backend is not None  # compiled, so its backend exists
    handle = built.foundation.balancer
    balancer_address = text(handle.private_address) if handle is not None else None
    nodes = _nodes(compiled, backend, balancer_address)
    return Explanation(
        cluster=Cluster(
            name=spec.name,
            backend=spec.backend,
            backend_title=backend.title,
            region=spec.region,
            distribution=spec.distribution,
            kubernetes_version=spec.kubernetes_version,
            track=spec.track,
            profile=spec.profile,
            user_data_format=plan.user_data_format,
            largest_user_data=_largest_user_data(compiled),
            user_data_limit=backend.user_data_limit.max_bytes,
            user_data_limit_text=backend.user_data_limit.what,
            network=text(built.foundation.private_cidr),
            initialized=spec.initialized,
            day_two=day_two(compiled),
        ),
        reach=_reach(compiled),
        nodes=nodes,
        pools=_pools(compiled, backend, nodes),
        ports=_ports(compiled),
        secrets=_secrets(compiled, nodes),
        secret_paths=_secret_paths(compiled, nodes),
        variables=_variables(compiled),
        balancer=_balancer(compiled, nodes),
        placement_groups=_placement_groups(nodes),
        outputs=tuple(
            Output(name=o.name, description=o.description, sensitive=o.sensitive) for o in built.fragment.outputs
        ),
        notes=built.notes,
        warnings=compiled.warnings,
    )


def to_json(explanation: Explanation) -> bytes:
    """The explanation as JSON for tools: keys sorted, two-space indent, a trailing newline."""
    encoded = msgspec.json.encode(explanation, order="sorted")
    return msgspec.json.format(encoded, indent=2) + b"\n"
