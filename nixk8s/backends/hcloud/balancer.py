"""Hetzner Cloud's API load balancer: one ``hcloud_load_balancer`` in front of the servers.

What it builds, when the plan has an API load balancer:

- ``hcloud_load_balancer.N_api`` (``lb11``, in the servers' location);
- ``hcloud_load_balancer_network.N_api_network`` on the subnet at a fixed private
  address, the subnet's last usable host, so that the join address is known at
  compile time; its public interface only for ``api_load_balancer: public``;
- ``hcloud_load_balancer_service.N_api``: TCP 6443 to 6443, with a TCP health check;
- per server ``hcloud_load_balancer_target.N_api_cp_i``, over the private network.

Hetzner's balancer is a proxy, not a passthrough: a server that joins through it
reaches another server, never itself, so servers ≥ 1 join through it as workers do.
Hetzner firewalls cannot be attached to load balancers, so a public balancer admits
anyone to the API: a spec that restricts ``access.api_sources`` is refused with both
ways out (see :func:`balancer_problems`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from nixk8s import netaddr
from nixk8s.backends.base import BalancerHandle
from nixk8s.plan import ClusterPlan
from nixk8s.problems import Problem
from nixk8s.spec import ANYWHERE, ClusterSpec
from nixk8s.terraform import Expr, Fragment, Resource, ref

LOAD_BALANCER_TYPE = "lb11"
API_PORT = 6443


class Balancer(msgspec.Struct, frozen=True):
    """The API load balancer: its resources, and the addresses the API is reached at."""

    load_balancer: Resource
    attachment: Resource
    private_ip: str
    public: bool

    @property
    def public_ipv4(self) -> Expr | None:
        return self.load_balancer.ref("ipv4", max_len=15) if self.public else None

    @property
    def handle(self) -> BalancerHandle:
        return BalancerHandle(
            resource=f"hcloud_load_balancer.{self.load_balancer.name}",
            private_address=self.private_ip,
            public_address=self.public_ipv4,
        )


def refusal(spec: ClusterSpec) -> str | None:
    """Why no balancer can stand in front of this spec's servers, or None."""
    if spec.network is None:
        return "a Hetzner load balancer reaches the servers over a private network: add `network`"
    return None


def balancer_ip(spec: ClusterSpec) -> str | None:
    """The balancer's fixed private address: the subnet's last usable host.

    >>> from nixk8s.spec import Network, NodePool
    >>> balancer_ip(ClusterSpec(name="demo", backend="hcloud", region="nbg1", network=Network(subnet_cidr="10.0.1.0/24"),
    ...     node_pools=(NodePool(name="system", instance_types=("cx32",)),)))
    '10.0.1.254'
    """
    if spec.network is None or netaddr.cidr_error(spec.network.vpc_cidr) is not None:
        return None
    if spec.network.subnet_cidr is not None and netaddr.cidr_error(spec.network.subnet_cidr) is not None:
        return None
    subnet = spec.network.subnet
    return netaddr.host(subnet, netaddr.net(subnet).num_addresses - 2)


def reserved_ip(spec: ClusterSpec, server_ips: tuple[str, ...]) -> str | None:
    """The address the subnet keeps for the API balancer, built yet or not (its last
    usable host), where the spec has a network and no server holds the address.

    Every server's certificate names it from the first compile, so a cluster that
    grows from one server to a balanced control plane keeps valid certificates.
    """
    ip = balancer_ip(spec)
    return None if ip is None or ip in server_ips else ip


def balancer_problems(plan: ClusterPlan) -> Iterator[Problem]:
    """A public balancer with restricted API sources, which Hetzner could not enforce."""
    access = plan.spec.access
    if plan.api_load_balancer == "public" and set(access.api_sources) != set(ANYWHERE):
        yield Problem(
            "access.api_sources",
            "a public Hetzner load balancer admits anyone: Hetzner firewalls cannot be attached to "
            "load balancers, so these sources would not be enforced. Either set api_load_balancer "
            "to private (the API stays reachable through the servers' own public addresses, which "
            "their firewall filters, or through a VPN), or open api_sources to 0.0.0.0/0 and ::/0",
        )


def api_balancer(plan: ClusterPlan, subnet: Resource, label_map: dict[str, str]) -> tuple[Fragment, Balancer]:
    """The balancer, its place on the network and its API service (targets follow the servers)."""
    ip = balancer_ip(plan.spec)
    assert ip is not None, "the plan has a balancer only where the spec has a network"
    n = plan.name
    balancer = Resource(
        "hcloud_load_balancer",
        f"{n}_api",
        {
            "name": f"{n}-api",
            "load_balancer_type": LOAD_BALANCER_TYPE,
            "location": plan.spec.region,
            "labels": label_map,
            "algorithm": [{"type": "round_robin"}],
        },
    )
    public = plan.api_load_balancer == "public"
    attachment = Resource(
        "hcloud_load_balancer_network",
        f"{n}_api_network",
        {
            "load_balancer_id": balancer.ref("id"),
            "subnet_id": subnet.ref("id"),
            "ip": ip,
            "enable_public_interface": public,
        },
    )
    service = Resource(
        "hcloud_load_balancer_service",
        f"{n}_api",
        {
            "load_balancer_id": balancer.ref("id"),
            "protocol": "tcp",
            "listen_port": API_PORT,
            "destination_port": API_PORT,
            "health_check": [{"protocol": "tcp", "port": API_PORT, "interval": 10, "timeout": 5, "retries": 3}],
        },
    )
    return Fragment(resources=(balancer, attachment, service)), Balancer(balancer, attachment, ip, public)


def target(balancer: Balancer, server: str, server_attachment: str | None) -> Resource:
    """A server behind the balancer, reached over the private network."""
    body: dict[str, Any] = {
        "type": "server",
        "load_balancer_id": balancer.load_balancer.ref("id"),
        "server_id": ref("hcloud_server", server, "id"),
        "use_private_ip": True,
        # both ends must be on the network before the target can use a private address
        "depends_on": [f"hcloud_load_balancer_network.{balancer.attachment.name}"]
        + ([f"hcloud_server_network.{server_attachment}"] if server_attachment else []),
    }
    return Resource("hcloud_load_balancer_target", f"{server}_api", body)
