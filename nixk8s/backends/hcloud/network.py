"""Hetzner's network: the private network and subnet (its zone from the location), the
firewall's rules from the port table, and a server's public address.
"""

from __future__ import annotations

from typing import Any

from nixk8s.backends.hcloud import autoscaler as autoscaler
from nixk8s.backends.hcloud.options import spec_block
from nixk8s.plan import ClusterPlan
from nixk8s.ports import rule_sources
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import Resource, Text, ref


def network_resources(plan: ClusterPlan, label_map: dict[str, str]) -> tuple[Resource, Resource] | tuple[None, None]:
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


def public_ipv4(server: str) -> Text:
    """A server's public IPv4 address (known after apply)."""
    return ref("hcloud_server", server, "ipv4_address", max_len=15)


def firewall_rules(plan: ClusterPlan) -> list[dict[str, Any]]:
    """One rule per port row that someone may reach (ICMP has no port on Hetzner)."""
    rules = []
    for rule in plan.ports:
        allowed = rule_sources(
            rule,
            plan.spec.access,
            private_cidr(plan.spec),
            api_from_network=plan.api_from_network,
        )
        if allowed:
            port = {} if rule.protocol == "icmp" else {"port": rule.port_range}
            rules.append(
                {
                    "direction": "in",
                    "protocol": rule.protocol,
                    **port,
                    "source_ips": list(allowed),
                    "description": rule.description,
                }
            )
    return rules


def network_zone(spec: ClusterSpec) -> str | None:
    explicit = block.network_zone if (block := spec_block(spec)) else None
    return explicit or NETWORK_ZONES.get(spec.region)


def private_cidr(spec: ClusterSpec) -> str | None:
    """The cluster's private network: ``network.vpc_cidr``, or None without a network."""
    return spec.network.vpc_cidr if spec.network else None


NETWORK_ZONES: dict[str, str] = {
    "fsn1": "eu-central",
    "nbg1": "eu-central",
    "hel1": "eu-central",
    "ash": "us-east",
    "hil": "us-west",
    "sin": "ap-southeast",
}
