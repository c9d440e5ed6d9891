"""Hetzner's machines: one hcloud_server per node, attached to the network (servers at
fixed addresses), in placement groups of at most ten.
"""

from __future__ import annotations

from typing import Any

from nixk8s import names
from nixk8s.backends.base import MachineNode, MachinePool, NodeHandle, Placed, RenderedNode, WorkerPool
from nixk8s.backends.hcloud import autoscaler as autoscaler
from nixk8s.backends.hcloud.balancer import target
from nixk8s.backends.hcloud.foundation import HcloudInfra
from nixk8s.backends.hcloud.network import public_ipv4
from nixk8s.backends.hcloud.options import spec_block
from nixk8s.plan import ClusterPlan
from nixk8s.spec import NodePool
from nixk8s.terraform import Fragment, Resource, Text, ref


def _server(
    plan: ClusterPlan,
    infra: HcloudInfra,
    node: RenderedNode | MachineNode,
    pool: NodePool,
    role_labels: dict[str, str],
    *,
    placement_group: Text,
    ip: str | None = None,
    after: list[str] | None = None,
) -> Resource:
    spec = plan.spec
    replace = (block := spec_block(spec)) is not None and block.replace_on_user_data_change
    body: dict[str, Any] = {
        "name": node.cloud_name,
        "server_type": pool.instance_type,
        "image": infra.image,
        "location": spec.region,
        "user_data": node.user_data,
        "ssh_keys": list(pool.ssh_keys),
        "firewall_ids": [infra.firewall.ref("id")],
        "labels": {**infra.labels, **role_labels},
        "placement_group_id": placement_group,
    }
    if infra.nat is not None and infra.network is not None and infra.subnet is not None:
        # no public address; such a server must join the network at creation, so it
        # is attached inline (hcloud_server_network cannot follow a server with none)
        body["public_net"] = [{"ipv4_enabled": False, "ipv6_enabled": False}]
        body["network"] = [{"network_id": infra.network.ref("id"), **({"ip": ip} if ip else {}), "alias_ips": []}]
        # and boots once the way out exists: its boot data may need the internet at once
        route = f"hcloud_network_route.{infra.nat.route.name}"
        body["depends_on"] = [f"hcloud_network_subnet.{infra.subnet.name}", route, *(after or [])]
    if not replace:
        # Hetzner replaces a server whose user_data, image or ssh_keys change; NixOS
        # nodes take those through their flake and GitOps instead
        body["lifecycle"] = {"ignore_changes": ["user_data", "image", "ssh_keys"]}
    return Resource("hcloud_server", node.name, body)


def _attachment(infra: HcloudInfra, server: str, ip: str | None, after: list[str]) -> Resource | None:
    """``hcloud_server_network.<server>_network``: the server on the subnet (None without
    one, or where the server is attached inline: a private node)."""
    if infra.subnet is None or infra.private:
        return None
    body: dict[str, Any] = {"server_id": ref("hcloud_server", server, "id"), "subnet_id": infra.subnet.ref("id")}
    if ip is not None:
        body["ip"] = ip
    if after:
        body["depends_on"] = after
    return Resource("hcloud_server_network", f"{server}_network", body)


def _handle(infra: HcloudInfra, name: str, ip: str | None, group: str) -> NodeHandle:
    return NodeHandle(
        resource=f"hcloud_server.{name}",
        private_ip=ip,
        public_ip=None if infra.private else public_ipv4(name),
        spread_group=group,
    )


def _control_plane_ip(infra: HcloudInfra, node: RenderedNode) -> str | None:
    """A server's fixed private address."""
    return infra.control_plane_ips[node.ordinal] if infra.control_plane_ips else None


def control_plane_node(plan: ClusterPlan, infra: HcloudInfra, node: RenderedNode) -> Placed:
    ip = _control_plane_ip(infra, node)
    server = _server(
        plan,
        infra,
        node,
        plan.spec.system_pool,
        {"role": "control-plane", "pool": plan.spec.system_pool.name, "node-index": str(node.ordinal)},
        placement_group=infra.placement_group.ref("id"),
        ip=ip,
    )
    group = f"hcloud_placement_group.{infra.placement_group.name}"
    return Placed(Fragment(resources=(server,)), (_handle(infra, node.name, ip, group),))


def post_instance(plan: ClusterPlan, infra: HcloudInfra, node: RenderedNode) -> Fragment:
    """Attach a control-plane server to the network at its fixed address, and put it
    behind the API load balancer."""
    attachment = _attachment(infra, node.name, _control_plane_ip(infra, node), [])
    behind = target(infra.balancer, node.name, attachment.name if attachment else None) if infra.balancer else None
    return Fragment(resources=tuple(r for r in (attachment, behind) if r is not None))


def spread_group(plan: ClusterPlan, pool: str, group: str) -> str:
    """The resource name of a worker pool's spread placement group ``group``."""
    return f"{plan.name}_{pool}_pg_{group}"


def worker_pool(plan: ClusterPlan, infra: HcloudInfra, pool: WorkerPool) -> Placed:
    """An autoscaled pool: its entry of the cluster-autoscaler's config."""
    return Placed(autoscaler.node_config(plan, pool), (NodeHandle(resource="output.hcloud_cluster_config"),))


def machine_pool(plan: ClusterPlan, infra: HcloudInfra, pool: MachinePool) -> Placed:
    """A server per machine, spread across placement groups of at most 10."""
    # workers attach after the control plane and the balancer, so that Hetzner never
    # hands a worker an address one of them is about to claim
    # (private nodes: after the servers and the NAT machine, which join it at creation)
    attached = "hcloud_server.{}" if infra.private else "hcloud_server_network.{}_network"
    after = (
        [attached.format(names.control_plane_node(plan.name, i)) for i in range(plan.spec.control_plane_count)]
        + ([f"hcloud_load_balancer_network.{infra.balancer.attachment.name}"] if infra.balancer else [])
        + ([infra.nat.address] if infra.nat else [])
    )
    resources: list[Resource] = []
    for node in pool.nodes:
        group = ref("hcloud_placement_group", spread_group(plan, pool.pool.name, node.spread_group), "id")
        server = _server(
            plan,
            infra,
            node,
            pool.pool,
            {"role": "worker", "pool": pool.pool.name, "node-index": node.ordinal},
            placement_group=group,
            after=after,
        )
        attachment = _attachment(infra, server.name, None, after)
        resources += [server] + ([attachment] if attachment else [])
    shared = tuple(
        Resource(
            "hcloud_placement_group",
            spread_group(plan, pool.pool.name, str(k)),
            {"name": names.dns_name(spread_group(plan, pool.pool.name, str(k))), "type": "spread", "labels": infra.labels},
        )
        for k in pool.spread_groups
    )
    handles = tuple(
        _handle(infra, n.name, None, f"hcloud_placement_group.{spread_group(plan, pool.pool.name, n.spread_group)}")
        for n in pool.nodes
    )
    return Placed(Fragment(resources=tuple(resources)), handles, shared=Fragment(resources=shared))
