"""The GCP backend's foundation: the VPC and its subnet, the firewall, the nodes' identity,
the control plane's static addresses and the API load balancer (:mod:`.gcp_balancer`).

Firewall rules come from the shared port table and :func:`nixk8s.ports.rule_sources`:
the private rows in one rule open to the VPC CIDR only, the public rows in one rule
per distinct source list and address family (a GCP rule cannot mix IPv4 and IPv6
ranges). Every rule targets the nodes' network tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from nixk8s import names, netaddr
from nixk8s.backends.base import Foundation
from nixk8s.backends.gcp.balancer import Balancer, api_balancer
from nixk8s.backends.gcp.checks import (
    BASE_ROLES,
    FIRST_CONTROL_PLANE_HOST,
    image,
    labels,
    network,
    options,
    role_suffix,
    zones,
)
from nixk8s.plan import ClusterPlan
from nixk8s.ports import PortRule, rule_sources
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import Fragment, Resource, Template, Text

# A network id: projects/PROJECT/global/networks/NAME
NETWORK_ID_MAX_LEN = 128
# Labels-free resources (network, subnet, firewall, service account) carry this instead.
DESCRIPTION = "Kubernetes cluster {name} (managed by nixk8s)"
ACCOUNT_ID_LIMIT = 30
# ICMP for IPv6 is a protocol of its own in a GCP rule: IP protocol 58
ICMP = {"v4": "icmp", "v6": "58"}
# The short word for each audience in a public rule's name.
_AUDIENCE_WORD = {"anywhere": "any", "ssh": "ssh", "http": "http", "api": "api"}


class GcpNetwork(msgspec.Struct, frozen=True):
    """Handles to the network, for the node hooks."""

    fragment: Fragment
    network: Resource
    subnet: Resource
    vpc_cidr: str
    subnet_cidr: str
    node_tag: str


def node_tag(cluster: str) -> str:
    """The network tag every node carries and every firewall rule targets."""
    return names.dns_name(f"{cluster}-node")


def created_network(plan: ClusterPlan) -> tuple[Fragment, Resource, Resource]:
    """A custom-mode VPC and its one regional subnet (with Private Google Access)."""
    spec = plan.spec
    n = plan.name
    net = network(spec)
    vpc = Resource(
        "google_compute_network",
        f"{n}_network",
        {
            "name": names.dns_name(f"{n}-network"),
            "description": DESCRIPTION.format(name=n),
            "auto_create_subnetworks": False,
            "routing_mode": "REGIONAL",
        },
    )
    body: dict[str, Any] = {
        "name": names.dns_name(f"{n}-subnet"),
        "description": DESCRIPTION.format(name=n),
        "network": vpc.ref("id"),
        "region": spec.region,
        "ip_cidr_range": net.subnet,
        # nodes reach Google APIs (logging, monitoring, image pulls) privately
        "private_ip_google_access": True,
    }
    if options(spec).flow_logs:
        body["log_config"] = {
            "aggregation_interval": "INTERVAL_5_SEC",
            "flow_sampling": 0.5,
            "metadata": "INCLUDE_ALL_METADATA",
        }
    subnet = Resource("google_compute_subnetwork", f"{n}_subnet", body)
    return Fragment(resources=(vpc, subnet)), vpc, subnet


# --- the firewall ---------------------------------------------------------------------------


def family(source: Text) -> str:
    """``v6`` for an IPv6 block, else ``v4``."""
    return "v6" if isinstance(source, str) and ":" in source else "v4"


def _allow_blocks(rows: Iterable[PortRule], ip_family: str) -> list[dict[str, Any]]:
    """One ``allow`` block per protocol, its ports in table order."""
    ports: dict[str, list[str]] = {}
    for row in rows:
        protocol = ICMP[ip_family] if row.protocol == "icmp" else row.protocol
        ports.setdefault(protocol, [])
        if row.port_range:
            ports[protocol].append(row.port_range)
    return [{"protocol": p, **({"ports": listed} if listed else {})} for p, listed in ports.items()]


class RuleGroup(msgspec.Struct, frozen=True):
    """Port rows that share their sources: one firewall rule per address family."""

    private: bool
    sources: tuple[Text, ...]
    rows: tuple[PortRule, ...]

    def label(self) -> str:
        """``internal``, or ``public-`` and the audiences it serves (``public-any-http``)."""
        if self.private:
            return "internal"
        words = dict.fromkeys(_AUDIENCE_WORD[r.audience] for r in self.rows)
        return "-".join(["public", *words])


def rule_groups(plan: ClusterPlan) -> tuple[RuleGroup, ...]:
    """The port rows someone may reach, grouped by who may reach them (in table order)."""
    groups: dict[tuple[bool, tuple[Text, ...]], list[PortRule]] = {}
    vpc_cidr = network(plan.spec).vpc_cidr
    for row in plan.ports:
        sources = rule_sources(
            row,
            plan.spec.access,
            vpc_cidr,
            api_from_network=plan.api_from_network,
        )
        if sources:
            groups.setdefault((not row.public, sources), []).append(row)
    return tuple(RuleGroup(private, sources, tuple(rows)) for (private, sources), rows in groups.items())


def firewall_rules(plan: ClusterPlan, vpc: Resource, tag: str) -> tuple[Resource, ...]:
    """``google_compute_firewall.N_<label>[_v4|_v6]``: each group, split by address family."""
    n = plan.name
    rules = []
    for group in rule_groups(plan):
        families = dict.fromkeys(family(s) for s in group.sources)
        for ip_family in families:
            label = group.label() if group.private else f"{group.label()}-{ip_family}"
            described = ", ".join(dict.fromkeys(r.description for r in group.rows))
            rules.append(
                Resource(
                    "google_compute_firewall",
                    f"{n}_{label.replace('-', '_')}",
                    {
                        "name": names.dns_name(f"{n}-{label}"),
                        "description": f"{described} (cluster {n}, managed by nixk8s)",
                        "network": vpc.ref("id"),
                        "direction": "INGRESS",
                        "priority": 1000,
                        "source_ranges": [s for s in group.sources if family(s) == ip_family],
                        "target_tags": [tag],
                        "allow": _allow_blocks(group.rows, ip_family),
                    },
                )
            )
    return tuple(rules)


def gcp_network(plan: ClusterPlan) -> GcpNetwork:
    """The VPC, its subnet and the firewall: always created (GCP has no usable default)."""
    fragment, vpc, subnet = created_network(plan)
    tag = node_tag(plan.name)
    net = network(plan.spec)
    return GcpNetwork(
        fragment=Fragment(resources=(*fragment.resources, *firewall_rules(plan, vpc, tag))),
        network=vpc,
        subnet=subnet,
        vpc_cidr=net.vpc_cidr,
        subnet_cidr=net.subnet,
        node_tag=tag,
    )


# --- the nodes' identity ------------------------------------------------------------------------


def account_id(cluster: str) -> str:
    """The service account's id: 6-30 characters (the cluster name has at least 2).

    >>> account_id("demo"), account_id("a-rather-long-production-cluster")
    ('demo-nodes', 'a-rather-long-product-4f84c95a')
    """
    return names.shortened(f"{cluster}-nodes", ACCOUNT_ID_LIMIT)


def node_identity(plan: ClusterPlan) -> tuple[Fragment, Resource]:
    """``google_service_account.N_nodes`` with logging and monitoring write roles, and the spec's."""
    n = plan.name
    gcp = options(plan.spec)
    account = Resource(
        "google_service_account",
        f"{n}_nodes",
        {
            "account_id": account_id(n),
            "display_name": f"Kubernetes nodes of cluster {n}",
            "description": "managed by nixk8s",
        },
    )
    # the email is ACCOUNT_ID@PROJECT.iam.gserviceaccount.com
    member = Template.of("serviceAccount:", account.ref("email", max_len=ACCOUNT_ID_LIMIT + 60))
    grants = tuple(
        Resource(
            "google_project_iam_member",
            f"{n}_nodes_{role_suffix(role)}",
            {"project": gcp.project, "role": role, "member": member},
        )
        for role in (*BASE_ROLES, *gcp.service_account_roles)
    )
    return Fragment(resources=(account, *grants)), account


# --- the foundation ----------------------------------------------------------------------------


class GcpInfra(msgspec.Struct, frozen=True):
    """Handles to what the foundation built, for the node hooks."""

    network: GcpNetwork
    service_account: Resource
    grants: tuple[str, ...]  # IAM member addresses: machines boot once their roles exist
    image: str
    zones: tuple[str, ...]
    control_plane_ips: tuple[str, ...]
    labels: dict[str, str]
    control_plane_tag: str
    balancer: Balancer | None = None


def control_plane_ips(spec: ClusterSpec) -> tuple[str, ...]:
    """Each server's static internal address: hosts 10, 11, ... of the subnet."""
    subnet = network(spec).subnet
    found = tuple(netaddr.host(subnet, FIRST_CONTROL_PLANE_HOST + i) for i in range(spec.control_plane_count))
    assert all(found), "the subnet was checked to have room (gcp_checks._subnet_problems)"
    return tuple(ip for ip in found if ip is not None)


def foundation(plan: ClusterPlan) -> Foundation[GcpInfra]:
    spec = plan.spec
    net = gcp_network(plan)
    identity, account = node_identity(plan)
    ips = control_plane_ips(spec)
    label_map = labels(spec)
    control_plane_tag = names.dns_name(f"{plan.name}-cp")
    balancer = (
        api_balancer(plan, net.network, net.subnet, label_map, control_plane_tag) if plan.api_load_balancer else None
    )
    infra = GcpInfra(
        network=net,
        service_account=account,
        grants=tuple(f"{r.type}.{r.name}" for r in identity.resources if r.type == "google_project_iam_member"),
        image=image(spec) or "",
        zones=zones(spec),
        control_plane_ips=ips,
        labels=label_map,
        control_plane_tag=control_plane_tag,
        balancer=balancer,
    )
    return Foundation(
        fragment=Fragment(
            resources=(*net.fragment.resources, *identity.resources, *(balancer.fragment.resources if balancer else ()))
        ),
        infra=infra,
        # workers join through the balancer; servers never do: a passthrough balancer
        # answers a backend that connects to it with that backend itself (no hairpin)
        join_host=ips[0] if balancer is None else balancer.internal_ip,
        server_join_host=None if balancer is None else ips[0],
        private_cidr=net.vpc_cidr,
        network_id=net.network.ref("id", max_len=NETWORK_ID_MAX_LEN),
        api_names=() if balancer is None else balancer.handle.addresses,
        balancer=None if balancer is None else balancer.handle,
    )
