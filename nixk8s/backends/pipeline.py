"""The shared pipeline every NixOS backend runs, and the checks every backend shares.

:func:`build` is pangea's NixosBase as one function: foundation (network, firewall,
IAM, ...) → control-plane loop (config, user_data, instance, post-instance hook) →
worker pools → outputs. ``docs/architecture.md`` draws it. The hooks it calls are a
:class:`~nixk8s.backends.base.Backend` record's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

import msgspec
from returns.result import Failure, Result, Success

from nixk8s.backends.base import Backend, Foundation, NodeHandle, Placed, UserDataLimit
from nixk8s.cloud_init import BootStep
from nixk8s.credentials import credential_outputs
from nixk8s.etcd_snapshots import made_bucket_wanted
from nixk8s.plan import ClusterPlan, api_balancer, plan_cluster
from nixk8s.ports import PortRule, rule_sources
from nixk8s.problems import Problem, Problems, join_path
from nixk8s.render import (
    MachineNode,
    MachinePool,
    MachineText,
    RenderedNode,
    WorkerPool,
    control_plane_nodes,
    machine_node,
    machines,
    template_pool,
)
from nixk8s.spec import ClusterSpec, NodePool
from nixk8s.stamp import StampedPool, built_with_free_slots, largest_user_data, written_text
from nixk8s.terraform import Fragment, Text, combine

I = TypeVar("I")


# --- checks every backend shares ---------------------------------------------------------


def _kindling_mode_problems(backend: Backend[Any], plan: ClusterPlan) -> Iterator[Problem]:
    """What an image whose kindling reads user_data without running it cannot boot."""
    reader = backend.embedded_config_reader
    if plan.spec.nixos.kindling_mode != "init" or reader is None:
        return
    if plan.user_data_format == "cloud-config":
        yield Problem(
            "nixos.kindling_mode",
            f"{reader} rejects #cloud-config user_data: leave user_data_format to the default (shell), or "
            "use an image whose kindling runs with legacyBootstrap (kindling_mode: legacy-bootstrap)",
        )
    fetch = backend.worker_index_fetch
    templated = [p.name for _, p in plan.spec.worker_pools if fetch is not None and backend.templated_pool(p)]
    if templated:
        yield Problem(
            "nixos.kindling_mode",
            f"pool{'s' if len(templated) > 1 else ''} {', '.join(templated)}: their machines take node_index "
            f"from the {fetch.service if fetch else ''} when their user_data runs, which {reader} never does, so "
            "every machine would boot as index 0 (one hostname): use an image whose kindling runs with "
            "legacyBootstrap (kindling_mode: legacy-bootstrap)",
        )


def capability_problems(backend: Backend[Any], plan: ClusterPlan) -> Iterator[Problem]:
    """What the spec asks of the cloud that this backend cannot do."""
    spec = plan.spec
    if plan.parked and not backend.can_park_control_plane:
        yield Problem(
            join_path(join_path("node_pools", spec.system_pool_index), "min_size"),
            f"min_size 0 would park the control plane (keep the infrastructure, run no server), "
            f"which {backend.title} cannot do: set min_size to 1 or more",
        )
    if spec.api_load_balancer == "none" and backend.api_load_balancer_required:
        yield Problem(
            "api_load_balancer",
            f"{backend.title} always joins nodes through a load balancer in front of the control plane; "
            "set api_load_balancer to auto, private or public",
        )
    refusal = backend.api_load_balancer_refusal(spec)
    if plan.api_load_balancer is not None and refusal is not None:
        yield Problem("api_load_balancer", f"{backend.title} cannot put a load balancer in front of the API here: {refusal}")
    yield from _kindling_mode_problems(backend, plan)
    if spec.persistent_state is not None and not backend.supports_persistent_state:
        yield Problem(
            "persistent_state",
            f"kindling attaches persistent_state as an EBS volume; {backend.title} has none to attach",
        )
    if made_bucket_wanted(spec) and not backend.makes_snapshot_bucket:
        yield Problem(
            "etcd_snapshots.s3",
            f"nixk8s makes no bucket for etcd snapshots on {backend.title}: give the endpoint, bucket, "
            "access_key and secret_key of an S3-compatible store",
        )


def plan_for(backend: Backend[Any], spec: ClusterSpec) -> ClusterPlan:
    """The plan of ``spec`` on ``backend``."""
    balancer = api_balancer(
        spec,
        offered=backend.api_load_balancer_refusal(spec) is None,
        required=backend.api_load_balancer_required,
    )
    return plan_cluster(
        spec,
        backend.default_format,
        api_load_balancer=balancer,
        api_from_network=backend.firewall_filters_network,
    )


def backend_problems(backend: Backend[Any], plan: ClusterPlan) -> list[Problem]:
    """Every problem the backend finds with a well-typed spec."""
    return [*capability_problems(backend, plan), *backend.check(plan)]


# --- the pipeline ------------------------------------------------------------------------


def _size_problems(limit: UserDataLimit, path: str, nodes: Iterable[RenderedNode]) -> list[Problem]:
    worst = max((n.user_data.max_len() for n in nodes), default=0)
    if worst <= limit.max_bytes:
        return []
    return [
        Problem(
            path,
            f"user_data would be up to {worst:,} bytes; {limit.what} "
            "(bootstrap_secrets, nixos.k3s/kubernetes manifests and vpn are what grow it; a secret "
            "given by reference counts at its budget, max_length)",
        )
    ]


def api_endpoint(outputs: Fragment) -> Text:
    """The value of the backend's ``api_endpoint`` output: where the kubeconfig points."""
    found = [o.value for o in outputs.outputs if o.name == "api_endpoint"]
    assert len(found) == 1, "a backend's outputs hold one api_endpoint"
    value: Text = found[0]
    return value


def _no_server_0_join(backend: Backend[Any]) -> Problem:
    """An initialized spec whose server 0 the cloud gives nothing to join (its own
    check should have said why first)."""
    return Problem(
        "initialized",
        f"{backend.title} names no address here where server 0 could join the other servers "
        "(neither an API load balancer a server can reach the others through, nor another server's "
        "address fixed before apply): leave initialized false",
    )


class Built(msgspec.Struct, Generic[I], frozen=True, kw_only=True):
    """The pipeline's result: the document's pieces and what ``explain`` needs.

    ``fragment`` holds everything but the machines of stamped pools, which the
    pools in ``workers`` hold (:mod:`nixk8s.assemble` writes the document).
    """

    fragment: Fragment
    foundation: Foundation[I]
    control_plane: tuple[RenderedNode, ...]
    workers: tuple[WorkerPool | StampedPool, ...]
    server_handles: tuple[NodeHandle, ...]
    worker_handles: tuple[tuple[NodeHandle, ...], ...]  # per pool, per rendered node
    notes: tuple[str, ...]

    @property
    def infra(self) -> I:
        return self.foundation.infra

    def port_sources(self, plan: ClusterPlan, rule: PortRule) -> tuple[Text, ...]:
        """Who may reach ``rule`` in this cluster, as its firewall opens it."""
        return rule_sources(
            rule,
            plan.spec.access,
            self.foundation.private_cidr,
            api_from_network=plan.api_from_network,
        )


def _handle_texts(handles: Iterable[NodeHandle]) -> Iterator[Text]:
    """Every text of ``handles`` that slots are filled into."""
    for handle in handles:
        yield handle.resource
        yield from (t for t in (handle.private_ip, handle.public_ip, handle.spread_group) if t is not None)


def _stamped_pool(
    backend: Backend[I],
    plan: ClusterPlan,
    infra: I,
    join: Text,
    boot: tuple[BootStep, ...],
    spec_index: int,
    pool: NodePool,
) -> tuple[StampedPool, Placed]:
    """A pool built machine by machine: one machine rendered and built with slots that
    its text holds nowhere else (:func:`nixk8s.stamp.built_with_free_slots`)."""
    each = machines(plan.name, pool.name, pool.desired, backend.spread_group_size)
    groups = tuple(sorted({m.spread_group for m in each}))

    def built(slots: MachineText) -> tuple[MachineNode, Placed]:
        node = machine_node(plan, join, pool, slots, boot)
        placed = backend.machine_pool(plan, infra, MachinePool(spec_index, pool, (node,), groups))
        if placed.fragment != Fragment(resources=placed.fragment.resources):
            raise ValueError(f"{backend.name}.machine_pool put more than resources into a machine's fragment")
        return node, placed

    def written(result: tuple[MachineNode, Placed]) -> str:
        node, placed = result
        return written_text(node, placed.fragment.resources, _handle_texts(placed.handles))

    slots, (node, placed) = built_with_free_slots(built, written)
    return StampedPool(spec_index, pool, node, slots, each, placed.fragment.resources), placed


def build(backend: Backend[I], plan: ClusterPlan) -> Result[Built[I], Problems]:
    """Run the shared pipeline: foundation → control plane → workers → outputs."""
    foundation = backend.foundation(plan)
    infra = foundation.infra
    join = foundation.join_host
    if plan.spec.initialized and foundation.server_0_join_host is None:
        return Failure((_no_server_0_join(backend),))
    boot = backend.boot_steps(plan)
    servers = control_plane_nodes(
        plan, foundation.server_joins(plan), foundation.network_id, foundation.certificate_names, boot, foundation.snapshot_bucket
    )
    probe = backend.worker_index_probe
    pools: list[tuple[WorkerPool | StampedPool, Placed]] = []
    for i, pool in plan.spec.worker_pools:
        if probe is not None and backend.templated_pool(pool):
            template = template_pool(plan, join, i, pool, probe, boot)
            pools.append((template, backend.worker_pool(plan, infra, template)))
        else:
            pools.append(_stamped_pool(backend, plan, infra, join, boot, i, pool))

    limit = backend.user_data_limit
    problems = _size_problems(limit, join_path("node_pools", plan.spec.system_pool_index), servers)
    for built, _ in pools:
        problems += _size_problems(limit, built.path, largest_user_data(built))
    if problems:
        return Failure(tuple(problems))

    placed_servers = [backend.control_plane_node(plan, infra, node) for node in servers]
    server_handles = tuple(h for placed in placed_servers for h in placed.handles)
    outputs = backend.outputs(plan, infra, server_handles)
    made = plan.credentials
    fragment = combine(
        [
            Fragment(variables=plan.variables),
            made.fragment if made is not None else Fragment(),
            foundation.fragment,
            *(
                combine([placed.fragment, backend.post_instance(plan, infra, node)])
                for placed, node in zip(placed_servers, servers)
            ),
            *(placed.shared for _, placed in pools),
            *(placed.fragment for pool, placed in pools if isinstance(pool, WorkerPool)),
            outputs,
            credential_outputs(plan.name, api_endpoint(outputs), made),
        ]
    )
    return Success(
        Built(
            fragment=fragment,
            foundation=foundation,
            control_plane=servers,
            workers=tuple(pool for pool, _ in pools),
            server_handles=server_handles,
            worker_handles=tuple(placed.handles for _, placed in pools),
            notes=backend.notes(plan, infra),
        )
    )
