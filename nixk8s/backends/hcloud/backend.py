"""Hetzner Cloud: one ``hcloud_server`` per node, on a private network.

What this backend builds, in order:

1. ``hcloud_network.N_network`` + ``hcloud_network_subnet.N_subnet`` (when the spec
   has a ``network``), the subnet's zone derived from the location;
2. ``hcloud_firewall.N_firewall`` from the port table: public rows from the
   ``access`` sources, private rows only from the network's CIDR;
3. ``hcloud_placement_group.N_cp`` (spread) for the control plane;
4. per control-plane index: ``hcloud_server.N_cp_i`` and
   ``hcloud_server_network.N_cp_i_network`` with a fixed private IP, so that the
   join address is known at compile time;
5. per worker pool, per i < desired size: ``hcloud_server.N_P_i`` and
   ``hcloud_server_network.N_P_i_network`` (address chosen by Hetzner, after the
   control plane has taken its fixed ones).

Hetzner replaces a server whose user_data, image or SSH keys change; NixOS nodes are
reconfigured through their flake and GitOps instead, so servers ignore changes to
all three unless ``hcloud.replace_on_user_data_change`` is set.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s import names, netaddr
from nixk8s.backends.hcloud.options import spec_block
from nixk8s.backends.base import Backend, Foundation, NodeHandle, Placed, RenderedNode, UserDataLimit, WorkerPool
from nixk8s.backends.hcloud import autoscaler as autoscaler
from nixk8s.backends.hcloud.balancer import Balancer, api_balancer, refusal, target
from nixk8s.backends.hcloud.checks import (
    FIRST_CONTROL_PLANE_HOST,
    MAX_SERVERS_PER_PLACEMENT_GROUP,
    check,
    firewall_rules,
    image,
    labels,
    network_zone,
    private_cidr,
)
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan
from nixk8s.spec import NodePool
from nixk8s.terraform import Fragment, Output, ProviderRequirement, Resource, Template, Text, combine, ref

PROVIDER = ProviderRequirement("hcloud", "hetznercloud/hcloud", ">= 1.45, < 2.0")
USER_DATA_LIMIT = UserDataLimit(32_768, "Hetzner allows 32,768 bytes of user_data")

class HcloudInfra(msgspec.Struct, frozen=True):
    """Handles to what the foundation built, for the node hooks."""

    firewall: Resource
    placement_group: Resource
    network: Resource | None
    subnet: Resource | None
    control_plane_ips: tuple[str, ...]
    image: str
    labels: dict[str, str]
    balancer: Balancer | None


# --- the foundation: network, firewall, placement group --------------------------------


def _network(plan: ClusterPlan, label_map: dict[str, str]) -> tuple[Resource, Resource] | tuple[None, None]:
    spec = plan.spec
    if spec.network is None:
        return None, None
    network = Resource(
        "hcloud_network",
        f"{plan.name}_network",
        {"name": f"{plan.name}-network", "ip_range": spec.network.vpc_cidr, "labels": label_map},
    )
    subnet = Resource(
        "hcloud_network_subnet",
        f"{plan.name}_subnet",
        {
            "network_id": network.ref("id"),
            "type": "cloud",
            "network_zone": network_zone(spec),
            "ip_range": spec.network.subnet,
        },
    )
    return network, subnet


def foundation(plan: ClusterPlan) -> Foundation[HcloudInfra]:
    spec = plan.spec
    label_map = labels(spec)
    network, subnet = _network(plan, label_map)
    firewall = Resource(
        "hcloud_firewall",
        f"{plan.name}_firewall",
        {"name": f"{plan.name}-firewall", "labels": label_map, "rule": firewall_rules(plan)},
    )
    placement = Resource(
        "hcloud_placement_group",
        f"{plan.name}_cp",
        {"name": f"{plan.name}-cp", "type": "spread", "labels": label_map},
    )
    cp_ips = (
        tuple(
            str(netaddr.host(spec.network.subnet, FIRST_CONTROL_PLANE_HOST + i))
            for i in range(spec.control_plane_count)
        )
        if spec.network
        else ()
    )
    resources = tuple(r for r in (network, subnet, firewall, placement) if r is not None)
    balancing, balancer = (
        api_balancer(plan, subnet, label_map) if plan.api_load_balancer and subnet else (Fragment(), None)
    )
    infra = HcloudInfra(firewall, placement, network, subnet, cp_ips, image(spec) or "", label_map, balancer)
    server_0 = cp_ips[0] if cp_ips else public_ipv4(names.control_plane_node(plan.name, 0))
    return Foundation(
        fragment=combine([Fragment(resources=resources), balancing]),
        infra=infra,
        # Hetzner's balancer proxies: servers join through it as workers do
        join_host=server_0 if balancer is None else balancer.private_ip,
        private_cidr=private_cidr(spec),
        network_id=network.ref("id", max_len=20) if network else None,
        api_names=() if balancer is None else balancer.handle.addresses,
        balancer=None if balancer is None else balancer.handle,
    )


def public_ipv4(server: str) -> Text:
    """A server's public IPv4 address (known after apply)."""
    return ref("hcloud_server", server, "ipv4_address", max_len=15)


# --- servers ---------------------------------------------------------------------------


def _server(
    plan: ClusterPlan,
    infra: HcloudInfra,
    node: RenderedNode,
    pool: NodePool,
    role_labels: dict[str, str],
    *,
    placement_group: Text,
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
    if not replace:
        # Hetzner replaces a server whose user_data, image or ssh_keys change; NixOS
        # nodes take those through their flake and GitOps instead
        body["lifecycle"] = {"ignore_changes": ["user_data", "image", "ssh_keys"]}
    return Resource("hcloud_server", node.name, body)


def _attachment(infra: HcloudInfra, server: str, ip: str | None, after: list[str]) -> Resource | None:
    """``hcloud_server_network.<server>_network``: the server on the subnet (None without one)."""
    if infra.subnet is None:
        return None
    body: dict[str, Any] = {"server_id": ref("hcloud_server", server, "id"), "subnet_id": infra.subnet.ref("id")}
    if ip is not None:
        body["ip"] = ip
    if after:
        body["depends_on"] = after
    return Resource("hcloud_server_network", f"{server}_network", body)


def _handle(name: str, ip: str | None, group: str) -> NodeHandle:
    return NodeHandle(
        resource=f"hcloud_server.{name}", private_ip=ip, public_ip=public_ipv4(name), spread_group=group
    )


def _control_plane_ip(infra: HcloudInfra, node: RenderedNode) -> str | None:
    """A server's fixed private address (servers are never stamped: their ordinal is a number)."""
    return infra.control_plane_ips[int(node.ordinal)] if infra.control_plane_ips else None


def control_plane_node(plan: ClusterPlan, infra: HcloudInfra, node: RenderedNode) -> Placed:
    server = _server(
        plan,
        infra,
        node,
        plan.spec.system_pool,
        {"role": "control-plane", "pool": plan.spec.system_pool.name, "node-index": node.ordinal},
        placement_group=infra.placement_group.ref("id"),
    )
    ip = _control_plane_ip(infra, node)
    group = f"hcloud_placement_group.{infra.placement_group.name}"
    return Placed(Fragment(resources=(server,)), (_handle(node.name, ip, group),))


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
    """A server per machine, spread across placement groups of at most 10; for an
    autoscaled pool, its entry of the cluster-autoscaler's config instead."""
    if autoscaler.autoscaled(pool.pool):
        return Placed(autoscaler.node_config(plan, pool), (NodeHandle(resource="output.hcloud_cluster_config"),))
    # workers attach after the control plane and the balancer, so that Hetzner never
    # hands a worker an address one of them is about to claim
    after = [
        f"hcloud_server_network.{names.control_plane_node(plan.name, i)}_network"
        for i in range(plan.spec.control_plane_count)
    ] + ([f"hcloud_load_balancer_network.{infra.balancer.attachment.name}"] if infra.balancer else [])
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
        )
        attachment = _attachment(infra, server.name, None, after)
        resources += [server] + ([attachment] if attachment else [])
    groups = sorted({int(m.spread_group) for m in pool.machines}) if pool.stamped else sorted({int(n.spread_group) for n in pool.nodes})
    shared = tuple(
        Resource(
            "hcloud_placement_group",
            spread_group(plan, pool.pool.name, str(k)),
            {"name": names.dns_name(spread_group(plan, pool.pool.name, str(k))), "type": "spread", "labels": infra.labels},
        )
        for k in groups
    )
    handles = tuple(
        _handle(n.name, None, f"hcloud_placement_group.{spread_group(plan, pool.pool.name, n.spread_group)}")
        for n in pool.nodes
    )
    return Placed(Fragment(resources=tuple(resources)), handles, shared=Fragment(resources=shared))


# --- outputs and notes -------------------------------------------------------------------


def outputs(plan: ClusterPlan, infra: HcloudInfra, servers: tuple[NodeHandle, ...]) -> Fragment:
    addresses = {
        names.dns_name(names.control_plane_node(plan.name, i)): {
            "public_ipv4": server.public_ip,
            **({"private_ip": server.private_ip} if server.private_ip is not None else {}),
        }
        for i, server in enumerate(servers)
    }
    balancer = infra.balancer
    join = balancer.private_ip if balancer else servers[0].private_ip or servers[0].public_ip
    assert join is not None
    if balancer is None:
        endpoint: Text = servers[0].public_ip or ""
        reached = "Kubernetes API of server 0 (public IPv4)"
    elif balancer.public_ipv4 is not None:
        endpoint, reached = balancer.public_ipv4, "Kubernetes API through the public load balancer"
    else:
        endpoint = balancer.private_ip
        reached = "Kubernetes API through the private load balancer (from inside the network, or a VPN)"
    scaling = autoscaler.outputs(plan, infra.image, infra.network, infra.firewall)
    return combine([scaling, Fragment(
        outputs=(
            Output("api_endpoint", Template.of("https://", endpoint, ":6443"), reached),
            Output("control_plane_addresses", addresses, "public and private addresses of each control-plane server"),
            Output("join_server", join_server(plan.spec.distribution, join), "the address nodes join the cluster through"),
        )
    )])


def notes(plan: ClusterPlan, infra: HcloudInfra) -> tuple[str, ...]:
    spec = plan.spec
    result = []
    if spec.network is None:
        result.append(
            "no private network: nodes join over server 0's public IPv4, and the private "
            "ports (kubelet, etcd, overlay) are closed on the Hetzner firewall; connect the "
            "nodes with `vpn` or add a `network`"
        )
    else:
        result.append("Hetzner firewalls filter public traffic only; the private network is not filtered")
    longest = max((f"{plan.name}-{p.name}-{p.desired - 1}" for _, p in spec.worker_pools), key=len, default="")
    if len(longest) > names.DNS_LABEL_LIMIT:
        result.append(
            f"server names longer than {names.DNS_LABEL_LIMIT} characters are shortened with a stable hash "
            f'suffix (e.g. "{longest}" is named "{names.dns_name(longest)}")'
        )
    if any(pool.autoscale for _, pool in spec.worker_pools):
        result.append(
            "autoscaled pools get no servers from Terraform: run the cluster-autoscaler's Hetzner provider "
            "with HCLOUD_CLUSTER_CONFIG=$(terraform output -raw hcloud_cluster_config), the network, firewall "
            "and --nodes flags of the cluster_autoscaler output, and --enforce-node-group-min-size; its "
            "servers read their node_index from their private IPv4 address (Hetzner's metadata service)"
        )
    if infra.balancer is not None:
        kind = "public" if infra.balancer.public else "private"
        result.append(
            f"the API is behind a {kind} Hetzner load balancer at {infra.balancer.private_ip} on the network: "
            "servers after the first and every worker join through it, and every server's certificate names it"
        )
    for _, pool in spec.worker_pools:
        groups = -(-pool.desired // MAX_SERVERS_PER_PLACEMENT_GROUP)
        if groups > 1:
            result.append(
                f"pool {pool.name}: {pool.desired} servers in {groups} spread placement groups of at most "
                f"{MAX_SERVERS_PER_PLACEMENT_GROUP} (servers 0-9 in the first, and so on: a growing pool never moves a server)"
            )
    if not ((block := spec_block(spec)) and block.replace_on_user_data_change):
        result.append(
            "servers ignore changes to user_data, image and ssh_keys, each of which would replace them "
            "(reconfigure through the flake and GitOps); "
            "set hcloud.replace_on_user_data_change to replace them instead"
        )
    return tuple(result)


HCLOUD: Backend[HcloudInfra] = Backend(
    name="hcloud",
    title="Hetzner Cloud",
    provider=PROVIDER,
    default_format="cloud-config",
    user_data_limit=USER_DATA_LIMIT,
    check=check,
    foundation=foundation,
    control_plane_node=control_plane_node,
    post_instance=post_instance,
    worker_pool=worker_pool,
    outputs=outputs,
    notes=notes,
    api_load_balancer_refusal=refusal,
    spread_group_size=MAX_SERVERS_PER_PLACEMENT_GROUP,
    worker_index_fetch=autoscaler.HETZNER_METADATA,
    templated_pool=autoscaler.autoscaled,
    pool_size_owner=autoscaler.size_owner,
)
