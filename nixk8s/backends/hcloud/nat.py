"""Hetzner's private nodes: a NAT machine, the network's default route through it, and
each node's default route through the network's gateway.

With ``network.private_nodes`` no server has a public address
(``public_net { ipv4_enabled = false, ipv6_enabled = false }``). Hetzner has no managed
NAT, so nixk8s builds its own, the way Hetzner documents it:

- ``hcloud_server.N_nat``: a small server (:data:`NAT_SERVER_TYPE`) of a stock image
  (:data:`NAT_IMAGE`: Hetzner maintains it, and it has cloud-init and nftables) with a
  public IPv4, on the network at :func:`nat_ip` (the host just below the API balancer's
  reserved last host, whether or not there is a balancer, so neither ever moves). Its
  own cloud-config turns on IP forwarding and masquerades ``vpc_cidr`` (sysctl.d and
  nftables.conf, both persistent). It is not a node: no cluster config;
- ``hcloud_firewall.N_nat_firewall``: the network, and ``access.ssh_sources`` on 22 (the
  machine is also the operator's bastion);
- ``hcloud_network_route.N_default_route``: 0.0.0.0/0 via the NAT machine.

Hetzner's DHCP no longer hands out a default route on private networks (2025), so every
node's boot data sets one through the network's gateway (the first address of
``vpc_cidr``), which forwards it along the network's routes (:func:`default_route_step`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s import netaddr
from nixk8s.cloud_init import BootStep
from nixk8s.plan import ClusterPlan
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import Fragment, Resource

# the smallest shared x86 type; forwarding a cluster's egress needs little CPU
NAT_SERVER_TYPE = "cx22"
# a stock image Hetzner maintains, with cloud-init and nftables: no NixOS image needed for
# a machine that is not a node (docs/decisions.md)
NAT_IMAGE = "debian-12"
# how long a booting node waits for its private interface before giving up on the route
ROUTE_WAIT_SECONDS = 60


class NatMachine(msgspec.Struct, frozen=True):
    """The NAT machine's resources and its address on the network."""

    server: Resource
    firewall: Resource
    route: Resource
    private_ip: str

    @property
    def address(self) -> str:
        return f"hcloud_server.{self.server.name}"


def private(spec: ClusterSpec) -> bool:
    """Whether the spec asks for nodes without public addresses."""
    return spec.network is not None and spec.network.private_nodes


def nat_ip(spec: ClusterSpec) -> str | None:
    """The NAT machine's fixed address: the host just below the balancer's (the
    subnet's last usable host), None where the spec's network is malformed.

    >>> from nixk8s.spec import Network, NodePool
    >>> nat_ip(ClusterSpec(name="demo", backend="hcloud", region="nbg1", network=Network(private_nodes=True),
    ...     node_pools=(NodePool(name="system", instance_types=("cx32",)),)))
    '10.0.0.253'
    """
    net = spec.network
    if net is None or netaddr.cidr_error(net.vpc_cidr) is not None:
        return None
    if net.subnet_cidr is not None and netaddr.cidr_error(net.subnet_cidr) is not None:
        return None
    return netaddr.host(net.subnet, netaddr.net(net.subnet).num_addresses - 3)


def gateway(vpc_cidr: str) -> str:
    """The network's gateway: Hetzner's first address of the network's range.

    >>> gateway("10.0.0.0/16")
    '10.0.0.1'
    """
    address = netaddr.host(vpc_cidr, 1)
    assert address is not None, "a Hetzner network is at least a /24"
    return address


def default_route_step(vpc_cidr: str) -> BootStep:
    """A node's default route through the network's gateway, once its private interface
    is up (DHCP may still be running when boot data starts): iproute2 and busybox only.
    A node that gets no route still writes its config and joins over the network.

    >>> print(default_route_step("10.0.0.0/16").script)  # doctest: +ELLIPSIS
    n=0
    until ip route replace default via 10.0.0.1 2>/dev/null; do
    ...
    """
    via = gateway(vpc_cidr)
    script = (
        "n=0\n"
        f"until ip route replace default via {via} 2>/dev/null; do\n"
        "  n=$((n + 1))\n"
        f'  if [ "$n" -ge {ROUTE_WAIT_SECONDS} ]; then\n'
        f'    echo "nixk8s: no route to the network gateway {via}: no internet through the NAT machine" >&2\n'
        "    break\n"
        "  fi\n"
        "  sleep 1\n"
        "done\n"
    )
    return BootStep(
        purpose=f"private node: the default route through the network's gateway {via} (Hetzner's DHCP gives none)",
        script=script,
    )


def boot_steps(plan: ClusterPlan) -> tuple[BootStep, ...]:
    """What every node runs first: its default route, where nodes are private."""
    net = plan.spec.network
    if net is None or not net.private_nodes:
        return ()
    return (default_route_step(net.vpc_cidr),)


def nat_cloud_config(vpc_cidr: str) -> str:
    """The NAT machine's cloud-config: forwarding and masquerading of ``vpc_cidr``,
    persistent (sysctl.d and /etc/nftables.conf, loaded by nftables.service at boot).

    >>> "ip saddr 10.0.0.0/16 ip daddr != 10.0.0.0/16 masquerade" in nat_cloud_config("10.0.0.0/16")
    True
    """
    nftables = (
        "#!/usr/sbin/nft -f\n"
        "flush ruleset\n"
        "table inet nixk8s_nat {\n"
        "  chain forward {\n"
        "    type filter hook forward priority filter; policy drop;\n"
        "    ct state established,related accept\n"
        f"    ip saddr {vpc_cidr} accept\n"
        "  }\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f"    ip saddr {vpc_cidr} ip daddr != {vpc_cidr} masquerade\n"
        "  }\n"
        "}\n"
    )
    lines = [
        "#cloud-config",
        "write_files:",
        "- path: /etc/sysctl.d/90-nixk8s-nat.conf",
        "  permissions: '0644'",
        "  content: |",
        "    net.ipv4.ip_forward = 1",
        "- path: /etc/nftables.conf",
        "  permissions: '0755'",
        "  content: |",
        *(f"    {line}" for line in nftables.splitlines()),
        "runcmd:",
        "- [sysctl, --system]",
        "- [systemctl, enable, --now, nftables.service]",
        "- [systemctl, restart, nftables.service]",
    ]
    return "\n".join(lines) + "\n"


def _firewall_rules(plan: ClusterPlan, vpc_cidr: str) -> list[dict[str, Any]]:
    """The network (Hetzner does not filter it, but the rule says whom the machine serves),
    and SSH from ``access.ssh_sources``: the machine is the operator's bastion."""
    network = [vpc_cidr]
    rules: list[dict[str, Any]] = [
        {"direction": "in", "protocol": "tcp", "port": "any", "source_ips": network, "description": "the cluster's network"},
        {"direction": "in", "protocol": "udp", "port": "any", "source_ips": network, "description": "the cluster's network"},
        {"direction": "in", "protocol": "icmp", "source_ips": network, "description": "the cluster's network"},
    ]
    ssh = list(plan.spec.access.ssh_sources)
    if ssh:
        rules.append(
            {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ssh, "description": "SSH to the bastion"}
        )
    return rules


def nat_machine(plan: ClusterPlan, network: Resource, subnet: Resource, label_map: dict[str, str]) -> NatMachine:
    """The NAT machine, its firewall and the network's default route through it."""
    net = plan.spec.network
    ip = nat_ip(plan.spec)
    assert net is not None and ip is not None, "private nodes are checked to have a well-formed network"
    n = plan.name
    firewall = Resource(
        "hcloud_firewall",
        f"{n}_nat_firewall",
        {"name": f"{n}-nat-firewall", "labels": label_map, "rule": _firewall_rules(plan, net.vpc_cidr)},
    )
    ssh_keys = sorted({key for pool in plan.spec.node_pools for key in pool.ssh_keys})
    server = Resource(
        "hcloud_server",
        f"{n}_nat",
        {
            "name": f"{n}-nat",
            "server_type": NAT_SERVER_TYPE,
            "image": NAT_IMAGE,
            "location": plan.spec.region,
            "user_data": nat_cloud_config(net.vpc_cidr),
            "ssh_keys": ssh_keys,
            "firewall_ids": [firewall.ref("id")],
            "labels": {**label_map, "role": "nat"},
            "public_net": [{"ipv4_enabled": True, "ipv6_enabled": False}],
            "network": [{"network_id": network.ref("id"), "ip": ip, "alias_ips": []}],
            # a Debian security update is the image's to apply; a new image must not
            # replace the machine every node's traffic leaves through
            "lifecycle": {"ignore_changes": ["image", "user_data", "ssh_keys"]},
            "depends_on": [f"hcloud_network_subnet.{subnet.name}"],
        },
    )
    route = Resource(
        "hcloud_network_route",
        f"{n}_default_route",
        {
            "network_id": network.ref("id"),
            "destination": "0.0.0.0/0",
            "gateway": ip,
            "depends_on": [f"hcloud_server.{server.name}"],
        },
    )
    return NatMachine(server, firewall, route, ip)


def fragment(machine: NatMachine) -> Fragment:
    return Fragment(resources=(machine.firewall, machine.server, machine.route))
