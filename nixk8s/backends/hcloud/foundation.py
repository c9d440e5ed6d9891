"""Hetzner's foundation: what every node stands on (network, firewall, placement group, API balancer), and the handles the node hooks receive."""

from __future__ import annotations

import msgspec

from nixk8s import names, netaddr
from nixk8s.backends.base import Egress, Foundation
from nixk8s.backends.hcloud import nat as nat_machine
from nixk8s.backends.hcloud import autoscaler as autoscaler
from nixk8s.backends.hcloud.balancer import Balancer, api_balancer, reserved_ip
from nixk8s.backends.hcloud.checks import FIRST_CONTROL_PLANE_HOST, image
from nixk8s.backends.hcloud.network import firewall_rules, network_resources, private_cidr, public_ipv4
from nixk8s.plan import ClusterPlan, lowercased_tags
from nixk8s.terraform import Fragment, Resource, combine


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
    # the NAT machine, where nodes have no public address (network.private_nodes)
    nat: nat_machine.NatMachine | None = None

    @property
    def private(self) -> bool:
        return self.nat is not None


def foundation(plan: ClusterPlan) -> Foundation[HcloudInfra]:
    spec = plan.spec
    label_map = lowercased_tags(spec)
    network, subnet = network_resources(plan, label_map)
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
    nat = (
        nat_machine.nat_machine(plan, network, subnet, label_map)
        if nat_machine.private(spec) and network is not None and subnet is not None
        else None
    )
    infra = HcloudInfra(firewall, placement, network, subnet, cp_ips, image(spec) or "", label_map, balancer, nat)
    server_0 = cp_ips[0] if cp_ips else public_ipv4(names.control_plane_node(plan.name, 0))
    return Foundation(
        fragment=combine([Fragment(resources=resources), balancing, nat_machine.fragment(nat) if nat else Fragment()]),
        infra=infra,
        # Hetzner's balancer proxies: servers join through it as workers do
        join_host=server_0 if balancer is None else balancer.private_ip,
        # once initialized, server 0 too: the balancer routes it to a healthy server, never to
        # itself while its API is down; without one, server 1's fixed address (no network:
        # none, and the check refuses the spec)
        server_0_join_host=balancer.private_ip if balancer else cp_ips[1] if len(cp_ips) > 1 else None,
        private_cidr=private_cidr(spec),
        network_id=network.ref("id", max_len=20) if network else None,
        api_names=() if balancer is None else balancer.handle.addresses,
        reserved_api_address=reserved_ip(spec, cp_ips),
        balancer=None if balancer is None else balancer.handle,
        egress=None
        if nat is None
        else Egress(
            via=f"the NAT machine {nat.address} at {nat.private_ip} (debian-12, masquerading the network), "
            f"by the network's route 0.0.0.0/0 (hcloud_network_route.{nat.route.name}); each node routes "
            "through the network's gateway from its boot data",
            resources=(nat.address, f"hcloud_network_route.{nat.route.name}"),
        ),
        node_access=None
        if nat is None
        else f"through the NAT machine as a bastion: ssh -J root@<{nat.address} public IPv4> <node's private "
        "address>; it admits access.ssh_sources on 22 (terraform output nat_machine)",
    )
