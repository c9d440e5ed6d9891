"""GCP's API load balancer: a regional passthrough Network Load Balancer in front of the servers.

What it builds, when the plan has an API load balancer:

- ``google_compute_address.N_api_ip``: a static internal address, the subnet's last
  usable host (:func:`~nixk8s.backends.gcp.checks.api_balancer_host`), so that the
  join address is known at compile time and is not one an existing worker holds;
- per zone that holds a server, ``google_compute_instance_group.N_cp_<zone>``: an
  unmanaged group of that zone's servers (a backend service takes groups, not VMs);
- ``google_compute_region_health_check.N_api``: TCP 6443;
- ``google_compute_region_backend_service.N_api`` (INTERNAL, TCP, a CONNECTION
  backend per group) and ``google_compute_forwarding_rule.N_api`` (INTERNAL, TCP 6443
  at the static address): where workers join;
- ``google_compute_firewall.N_api_health``: Google's health-check ranges to TCP 6443
  on the servers' tag;
- for ``api_load_balancer: public``, also ``google_compute_address.N_api_public_ip``
  (EXTERNAL), ``google_compute_region_backend_service.N_api_public`` (EXTERNAL) and
  ``google_compute_forwarding_rule.N_api_public``, open to the IPv4 ``access.api_sources``.

A passthrough balancer keeps the client's address, so the VPC firewall's API rule
(``access.api_sources`` and the VPC) still decides who reaches the API; a public rule
with restricted sources also filters on the balancer itself (``source_ip_ranges``).

A passthrough balancer does not hairpin: a backend VM that connects to the balancer's
address is always answered by itself. A server joining through it would reach its own
API, which is not running yet, so servers ≥ 1 join server 0's static address and only
workers join through the balancer (``Foundation.server_join_host``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s import names, netaddr
from nixk8s.backends.base import BalancerHandle
from nixk8s.backends.gcp.checks import api_balancer_host, ipv4_api_sources, network, server_zones
from nixk8s.plan import ClusterPlan
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import Expr, Fragment, Resource, ref

API_PORT = 6443
# Where Google's health checks come from (cloud.google.com/load-balancing/docs/firewall-rules):
# internal passthrough balancers probe from the first two, external passthrough ones
# (backend service based) from 35.191.0.0/16 and the two 209.85 blocks.
INTERNAL_PROBE_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
EXTERNAL_PROBE_RANGES = ("35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22")


class Balancer(msgspec.Struct, frozen=True):
    """The API load balancer: its resources, and the addresses the API is reached at."""

    fragment: Fragment
    address: Resource
    forwarding_rule: Resource
    internal_ip: str
    public_address: Expr | None

    @property
    def public(self) -> bool:
        return self.public_address is not None

    @property
    def handle(self) -> BalancerHandle:
        return BalancerHandle(
            resource=f"google_compute_forwarding_rule.{self.forwarding_rule.name}",
            private_address=self.internal_ip,
            public_address=self.public_address,
        )


def balancer_ip(spec: ClusterSpec) -> str:
    """The balancer's static internal address: the subnet's last usable host.

    >>> from nixk8s.backends.gcp.options import GcpOptions
    >>> from nixk8s.spec import Network, NodePool
    >>> balancer_ip(ClusterSpec(name="demo", backend="gcp", region="europe-west1",
    ...     network=Network(vpc_cidr="10.8.0.0/16", subnet_cidr="10.8.1.0/24"), gcp=GcpOptions(project="p"),
    ...     node_pools=(NodePool(name="system", instance_types=("e2-standard-2",)),)))
    '10.8.1.253'
    """
    subnet = network(spec).subnet
    ip = netaddr.host(subnet, api_balancer_host(subnet))
    assert ip is not None, "a host inside the subnet"
    return ip


def reserved_ip(spec: ClusterSpec, server_ips: tuple[str, ...]) -> str | None:
    """The address the subnet keeps for the API balancer, built yet or not (its last
    usable host), where no server holds it (a subnet filled to the top has none).

    Every server's certificate names it from the first compile, so a cluster that
    grows from one server to a balanced control plane keeps valid certificates.
    """
    ip = balancer_ip(spec)
    return None if ip in server_ips else ip


def _zone_groups(plan: ClusterPlan, vpc: Resource) -> tuple[Resource, ...]:
    """One unmanaged instance group per zone that holds a server, holding that zone's servers."""
    n = plan.name
    by_zone: dict[str, list[Expr]] = {}
    for i, zone in enumerate(server_zones(plan.spec)):
        by_zone.setdefault(zone, []).append(
            ref("google_compute_instance", names.control_plane_node(n, i), "self_link", max_len=256)
        )
    return tuple(
        Resource(
            "google_compute_instance_group",
            f"{n}_cp_{zone.replace('-', '_')}",
            {
                "name": names.dns_name(f"{n}-cp-{zone}"),
                "description": f"control-plane servers of cluster {n} in {zone}, behind the API load balancer",
                "zone": zone,
                "network": vpc.ref("id"),
                "instances": servers,
            },
        )
        for zone, servers in by_zone.items()
    )


def _backend_service(
    plan: ClusterPlan, name: str, scheme: str, health: Resource, groups: tuple[Resource, ...], vpc: Resource
) -> Resource:
    body: dict[str, Any] = {
        "name": names.dns_name(name),
        "description": f"Kubernetes API of cluster {plan.name} (managed by nixk8s)",
        "region": plan.spec.region,
        "protocol": "TCP",
        "load_balancing_scheme": scheme,
        "health_checks": [health.ref("id", max_len=256)],
        # passthrough balancers take CONNECTION only (the default, UTILIZATION, is refused)
        "backend": [{"group": g.ref("id", max_len=256), "balancing_mode": "CONNECTION"} for g in groups],
    }
    if scheme == "INTERNAL":
        body["network"] = vpc.ref("id")  # GCP takes a network for internal backend services only
    return Resource("google_compute_region_backend_service", name, body)


def _health_rule(plan: ClusterPlan, vpc: Resource, control_plane_tag: str) -> Resource:
    n = plan.name
    ranges = dict.fromkeys(
        (*INTERNAL_PROBE_RANGES, *(EXTERNAL_PROBE_RANGES if plan.api_load_balancer == "public" else ()))
    )
    return Resource(
        "google_compute_firewall",
        f"{n}_api_health",
        {
            "name": names.dns_name(f"{n}-api-health"),
            "description": f"Google's load balancer health checks to the Kubernetes API (cluster {n}, managed by nixk8s)",
            "network": vpc.ref("id"),
            "direction": "INGRESS",
            "priority": 1000,
            "source_ranges": list(ranges),
            "target_tags": [control_plane_tag],
            "allow": [{"protocol": "tcp", "ports": [str(API_PORT)]}],
        },
    )


def _public(
    plan: ClusterPlan, labels: dict[str, str], health: Resource, groups: tuple[Resource, ...], vpc: Resource
) -> tuple[tuple[Resource, ...], Expr]:
    """The external address, backend service and forwarding rule of a public balancer."""
    n = plan.name
    address = Resource(
        "google_compute_address",
        f"{n}_api_public_ip",
        {
            "name": names.dns_name(f"{n}-api-public-ip"),
            "description": f"public Kubernetes API address of cluster {n} (managed by nixk8s)",
            "address_type": "EXTERNAL",
            "region": plan.spec.region,
            "labels": labels,
        },
    )
    service = _backend_service(plan, f"{n}_api_public", "EXTERNAL", health, groups, vpc)
    body = {
        "name": names.dns_name(f"{n}-api-public"),
        "description": f"public Kubernetes API of cluster {n} (managed by nixk8s)",
        "region": plan.spec.region,
        "load_balancing_scheme": "EXTERNAL",
        "ip_protocol": "TCP",
        "ports": [str(API_PORT)],
        "ip_address": address.ref("address", max_len=15),
        "backend_service": service.ref("id", max_len=256),
        "labels": labels,
    }
    sources = ipv4_api_sources(plan.spec)
    if sources:
        # the balancer filters as well as the firewall (a change replaces the rule; the address stays)
        body["source_ip_ranges"] = list(sources)
    rule = Resource("google_compute_forwarding_rule", f"{n}_api_public", body)
    return (address, service, rule), address.ref("address", max_len=15)


def api_balancer(
    plan: ClusterPlan, vpc: Resource, subnet: Resource, labels: dict[str, str], control_plane_tag: str
) -> Balancer:
    """The internal balancer where workers join, and the public one where the plan asks."""
    n = plan.name
    ip = balancer_ip(plan.spec)
    address = Resource(
        "google_compute_address",
        f"{n}_api_ip",
        {
            "name": names.dns_name(f"{n}-api-ip"),
            "description": f"Kubernetes API load balancer of cluster {n} (managed by nixk8s)",
            "address_type": "INTERNAL",
            "purpose": "GCE_ENDPOINT",
            "region": plan.spec.region,
            "subnetwork": subnet.ref("id"),
            "address": ip,
            "labels": labels,
        },
    )
    groups = _zone_groups(plan, vpc)
    health = Resource(
        "google_compute_region_health_check",
        f"{n}_api",
        {
            "name": names.dns_name(f"{n}-api"),
            "description": f"Kubernetes API of cluster {n} (managed by nixk8s)",
            "region": plan.spec.region,
            "check_interval_sec": 5,
            "timeout_sec": 5,
            "healthy_threshold": 2,
            "unhealthy_threshold": 3,
            "tcp_health_check": [{"port": API_PORT}],
        },
    )
    service = _backend_service(plan, f"{n}_api", "INTERNAL", health, groups, vpc)
    rule = Resource(
        "google_compute_forwarding_rule",
        f"{n}_api",
        {
            "name": names.dns_name(f"{n}-api"),
            "description": f"Kubernetes API of cluster {n}, inside the VPC (managed by nixk8s)",
            "region": plan.spec.region,
            "load_balancing_scheme": "INTERNAL",
            "ip_protocol": "TCP",
            "ports": [str(API_PORT)],
            "ip_address": address.ref("address", max_len=15),
            "network": vpc.ref("id"),
            "subnetwork": subnet.ref("id"),
            "backend_service": service.ref("id", max_len=256),
            "allow_global_access": False,
            "labels": labels,
        },
    )
    public, public_address = (
        _public(plan, labels, health, groups, vpc) if plan.api_load_balancer == "public" else ((), None)
    )
    resources = (address, *groups, health, service, rule, _health_rule(plan, vpc, control_plane_tag), *public)
    return Balancer(Fragment(resources=resources), address, rule, ip, public_address)
