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

from nixk8s import names
from nixk8s.backends.gcp.checks import network, options
from nixk8s.plan import ClusterPlan
from nixk8s.ports import PortRule, rule_sources
from nixk8s.terraform import Fragment, Resource, Text

# A network id: projects/PROJECT/global/networks/NAME
NETWORK_ID_MAX_LEN = 128
# Labels-free resources (network, subnet, firewall, service account) carry this instead.
DESCRIPTION = "Kubernetes cluster {name} (managed by nixk8s)"
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
    # private nodes: the Cloud NAT every node's traffic leaves through (None: each
    # node's own external address)
    nat: Resource | None = None

    @property
    def private(self) -> bool:
        return self.nat is not None


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


# where IAP TCP forwarding connects from (Google's documented range)
IAP_RANGE = "35.235.240.0/20"


def cloud_nat(plan: ClusterPlan, vpc: Resource, subnet: Resource) -> tuple[Resource, Resource]:
    """``google_compute_router.N_router`` and ``google_compute_router_nat.N_nat``: the
    subnet's way out for nodes without external addresses."""
    n = plan.name
    router = Resource(
        "google_compute_router",
        f"{n}_router",
        {
            "name": names.dns_name(f"{n}-router"),
            "description": DESCRIPTION.format(name=n),
            "region": plan.spec.region,
            "network": vpc.ref("id"),
        },
    )
    nat = Resource(
        "google_compute_router_nat",
        f"{n}_nat",
        {
            "name": names.dns_name(f"{n}-nat"),
            "router": router.ref("name"),
            "region": plan.spec.region,
            "nat_ip_allocate_option": "AUTO_ONLY",
            "source_subnetwork_ip_ranges_to_nat": "LIST_OF_SUBNETWORKS",
            "subnetwork": [{"name": subnet.ref("id"), "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]}],
            "log_config": {"enable": True, "filter": "ERRORS_ONLY"},
        },
    )
    return router, nat


def iap_ssh_rule(plan: ClusterPlan, vpc: Resource, tag: str) -> Resource:
    """SSH from IAP TCP forwarding only: how an operator reaches a private node."""
    n = plan.name
    return Resource(
        "google_compute_firewall",
        f"{n}_iap_ssh",
        {
            "name": names.dns_name(f"{n}-iap-ssh"),
            "description": f"SSH through IAP TCP forwarding (cluster {n}, managed by nixk8s)",
            "network": vpc.ref("id"),
            "direction": "INGRESS",
            "priority": 1000,
            "source_ranges": [IAP_RANGE],
            "target_tags": [tag],
            "allow": [{"protocol": "tcp", "ports": ["22"]}],
        },
    )


def gcp_network(plan: ClusterPlan) -> GcpNetwork:
    """The VPC, its subnet and the firewall: always created (GCP has no usable default);
    with private nodes, Cloud NAT and SSH from IAP."""
    fragment, vpc, subnet = created_network(plan)
    tag = node_tag(plan.name)
    net = network(plan.spec)
    private = net.private_nodes
    router, nat = cloud_nat(plan, vpc, subnet) if private else (None, None)
    extra = (router, nat, iap_ssh_rule(plan, vpc, tag)) if router is not None and nat is not None else ()
    return GcpNetwork(
        nat=nat,
        fragment=Fragment(resources=(*fragment.resources, *firewall_rules(plan, vpc, tag), *extra)),
        network=vpc,
        subnet=subnet,
        vpc_cidr=net.vpc_cidr,
        subnet_cidr=net.subnet,
        node_tag=tag,
    )


