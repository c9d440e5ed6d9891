"""The lab cloud's Backend record: one ``lab_machine`` per node, a public address each."""

from __future__ import annotations

from typing import Any

from fifth_cloud.options import LabOptions, spec_block

from nixk8s import names
from nixk8s.backends.base import Backend, Foundation, MachineNode, MachinePool, NodeHandle, Placed, RenderedNode, UserDataLimit
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan
from nixk8s.problems import Problem
from nixk8s.terraform import Fragment, Output, ProviderRequirement, Resource, Template, Text, ref


class LabInfra:
    """Nothing to hand the node hooks: the lab has no network to build."""


def _address(resource_name: str) -> Text:
    return ref("lab_machine", resource_name, "address", max_len=15)


def check(plan: ClusterPlan) -> list[Problem]:
    rack = (spec_block(plan.spec) or LabOptions()).rack
    return [] if rack.isalnum() else [Problem("lab.rack", f'"{rack}" is not a rack name: letters and digits only')]


def foundation(plan: ClusterPlan) -> Foundation[LabInfra]:
    return Foundation(fragment=Fragment(), infra=LabInfra(), join_host=_address(names.control_plane_node(plan.name, 0)))


def _machine(plan: ClusterPlan, node: RenderedNode | MachineNode, size: str) -> Resource:
    body: dict[str, Any] = {"name": node.cloud_name, "size": size, "user_data": node.user_data}
    return Resource("lab_machine", node.name, body)


def control_plane_node(plan: ClusterPlan, infra: LabInfra, node: RenderedNode) -> Placed:
    machine = _machine(plan, node, plan.spec.system_pool.instance_type)
    return Placed(Fragment(resources=(machine,)), (NodeHandle(resource=f"lab_machine.{machine.name}", public_ip=_address(node.name)),))


def machine_pool(plan: ClusterPlan, infra: LabInfra, pool: MachinePool) -> Placed:
    placed = [(_machine(plan, node, pool.pool.instance_type), node) for node in pool.nodes]
    return Placed(
        Fragment(resources=tuple(m for m, _ in placed)),
        tuple(NodeHandle(resource=f"lab_machine.{m.name}", public_ip=_address(node.name)) for m, node in placed),
    )


def outputs(plan: ClusterPlan, infra: LabInfra, servers: tuple[NodeHandle, ...]) -> Fragment:
    server_0 = servers[0].public_ip or ""
    return Fragment(
        outputs=(
            Output("api_endpoint", Template.of("https://", server_0, ":6443"), "Kubernetes API of server 0"),
            Output("join_server", join_server(plan.spec.distribution, server_0), "where nodes join"),
        )
    )


LAB: Backend[LabInfra] = Backend(
    name="lab",
    title="Lab",
    provider=ProviderRequirement("lab", "example/lab", ">= 1.0"),
    default_format="cloud-config",
    user_data_limit=UserDataLimit(65_536, "the lab allows 64 KiB of user_data"),
    check=check,
    foundation=foundation,
    control_plane_node=control_plane_node,
    machine_pool=machine_pool,
    outputs=outputs,
)
