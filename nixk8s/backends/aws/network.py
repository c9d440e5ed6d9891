"""The AWS network: the VPC the nodes live in, its subnets, and the security group.

With a ``network``: ``aws_vpc.N_vpc``, ``aws_internet_gateway.N_igw``,
``aws_route_table.N_rt`` + ``aws_route.N_default_route``, the VPC's default security
group emptied (``aws_default_security_group.N_default_sg``), and per availability zone a
public ``aws_subnet.N_subnet_<zone>`` carved from ``vpc_cidr`` with its
``aws_route_table_association.N_rta_<zone>``. With ``aws.vpc_id`` + ``aws.subnet_ids``
the existing VPC is read (``data.aws_vpc.N_vpc``, for its CIDR); with neither, the
region's default VPC and its default subnets. ``aws_security_group.N_sg`` opens the
port table: public rows to the ``access`` sources, private rows only to the VPC CIDR.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any, Union

import msgspec

from nixk8s.backends.aws.options import AwsOptions, spec_block
from nixk8s.plan import ClusterPlan
from nixk8s.ports import PortRule, rule_sources
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import DataSource, Expr, Fragment, Resource, Text, ref

DEFAULT_ZONE_SUFFIXES = ("a", "b", "c")


# --- network layout ----------------------------------------------------------------------


def availability_zones(spec: ClusterSpec) -> tuple[str, ...]:
    """``aws.availability_zones``, else the region's zones a, b and c.

    >>> from nixk8s.spec import NodePool
    >>> availability_zones(ClusterSpec(name="demo", backend="aws", region="eu-west-1",
    ...     node_pools=(NodePool(name="system", instance_types=("t3.large",)),)))
    ('eu-west-1a', 'eu-west-1b', 'eu-west-1c')
    """
    given = (spec_block(spec) or AwsOptions()).availability_zones
    return given or tuple(spec.region + s for s in DEFAULT_ZONE_SUFFIXES)


def zone_suffix(region: str, zone: str, i: int) -> str:
    """The part of a zone name after its region (``a``, ``lax-1a``), for resource names."""
    rest = zone[len(region) :].lstrip("-") if zone.startswith(region) else ""
    return rest if re.match(r"^[a-z0-9-]+$", rest) else str(i)


def public_subnet_cidrs(vpc_cidr: str, subnet_cidr: str | None, count: int) -> tuple[str, ...] | None:
    """One block per zone inside ``vpc_cidr``, or None when they do not fit.

    With ``subnet_cidr`` the blocks are consecutive blocks of its size starting at it;
    otherwise /24s (smaller when the VPC is small) from the VPC's start.

    >>> public_subnet_cidrs("10.0.0.0/16", None, 3)
    ('10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24')
    >>> public_subnet_cidrs("10.0.0.0/16", "10.0.8.0/22", 2)
    ('10.0.8.0/22', '10.0.12.0/22')
    >>> public_subnet_cidrs("10.0.0.0/26", None, 3)
    ('10.0.0.0/28', '10.0.0.16/28', '10.0.0.32/28')
    >>> public_subnet_cidrs("10.0.0.0/27", None, 3) is None
    True
    """
    vpc = ipaddress.ip_network(vpc_cidr)
    if subnet_cidr is not None:
        first = ipaddress.ip_network(subnet_cidr)
    else:
        prefix = max(24, vpc.prefixlen + math.ceil(math.log2(max(count, 1))))
        if prefix > vpc.max_prefixlen:
            return None
        first = ipaddress.ip_network(f"{vpc.network_address}/{prefix}")
    if first.prefixlen > 28:  # AWS subnets are /16 to /28
        return None
    blocks = []
    for i in range(count):
        start = int(first.network_address) + i * first.num_addresses
        if start + first.num_addresses > int(vpc.broadcast_address) + 1:
            return None
        blocks.append(str(ipaddress.ip_network(f"{ipaddress.ip_address(start)}/{first.prefixlen}")))
    return tuple(blocks)


# --- the security group ----------------------------------------------------------------


def _is_ipv6(source: Text) -> bool:
    return isinstance(source, str) and ":" in source


def sg_rule(first: int, last: int, protocol: str, cidrs: tuple[Text, ...], description: str) -> dict[str, Any]:
    # inline rules are objects, not blocks: Terraform JSON wants every field
    return {
        "description": description,
        "from_port": first,
        "to_port": last,
        "protocol": protocol,
        "cidr_blocks": [c for c in cidrs if not _is_ipv6(c)],
        "ipv6_cidr_blocks": [c for c in cidrs if _is_ipv6(c)],
        "prefix_list_ids": [],
        "security_groups": [],
        "self": False,
    }


def _ingress_rule(rule: PortRule, allowed: tuple[Text, ...]) -> dict[str, Any]:
    if rule.protocol == "icmp":
        # "fragmentation needed" (type 3, code 4) is all path-MTU discovery needs;
        # ICMPv6 is a protocol of its own in a security group
        ipv4 = tuple(c for c in allowed if not _is_ipv6(c))
        return sg_rule(3, 4, "icmp", ipv4, f"{rule.description} fragmentation needed (path MTU)")
    return sg_rule(rule.first, rule.last, rule.protocol, allowed, rule.description)


def ingress_rules(plan: ClusterPlan, vpc_cidr: Text) -> list[dict[str, Any]]:
    """One rule per port row that someone may reach."""
    rules = []
    for rule in plan.ports:
        allowed = rule_sources(rule, plan.spec.access, vpc_cidr, api_from_network=plan.api_from_network)
        if allowed:
            rules.append(_ingress_rule(rule, allowed))
    return rules


def security_group_rule_count(plan: ClusterPlan) -> int:
    """Inbound rules as AWS counts them: one per CIDR."""
    rules = ingress_rules(plan, "10.0.0.0/16")
    return sum(len(r["cidr_blocks"]) + len(r["ipv6_cidr_blocks"]) for r in rules)


# --- the VPC -------------------------------------------------------------------------------

SubnetIds = Union[tuple[Text, ...], Expr]


class AwsNetwork(msgspec.Struct, frozen=True):
    """Where the nodes live: created, existing or the default VPC."""

    fragment: Fragment
    vpc_id: Text
    vpc_cidr: Text
    subnet_ids: SubnetIds  # a list of ids, or an expression that is one
    created_vpc: Resource | None
    # private nodes: the public subnets (NAT gateways, an internet-facing balancer) apart
    # from the nodes' own, and the NAT gateways; None: the nodes' subnets are public
    public_subnet_ids: tuple[Text, ...] | None = None
    nat_gateways: tuple[str, ...] = ()

    @property
    def balancer_subnet_ids(self) -> SubnetIds:
        """Where an internet-facing balancer goes: the public subnets."""
        return self.subnet_ids if self.public_subnet_ids is None else self.public_subnet_ids


def private_nodes(spec: ClusterSpec) -> bool:
    return spec.network is not None and spec.network.private_nodes


def subnet_count(spec: ClusterSpec) -> int:
    """The subnets nixk8s carves from ``vpc_cidr``: one per zone, and with private nodes
    one public one per zone more (for the NAT gateways), after the nodes' own."""
    return len(availability_zones(spec)) * (2 if private_nodes(spec) else 1)


def _nat(plan: ClusterPlan, suffix: str, subnet: Resource, igw: Resource) -> tuple[Resource, Resource]:
    """A NAT gateway with its Elastic IP in a public subnet."""
    n = plan.name
    eip = Resource(
        "aws_eip",
        f"{n}_nat_{suffix}",
        {"domain": "vpc", "tags": plan.tag_map(Name=f"{n}-nat-{suffix}"), "depends_on": [f"aws_internet_gateway.{igw.name}"]},
    )
    gateway = Resource(
        "aws_nat_gateway",
        f"{n}_nat_{suffix}",
        {
            "allocation_id": eip.ref("id"),
            "subnet_id": subnet.ref("id"),
            "connectivity_type": "public",
            "tags": plan.tag_map(Name=f"{n}-nat-{suffix}"),
            "depends_on": [f"aws_internet_gateway.{igw.name}"],
        },
    )
    return eip, gateway


def _private_routing(
    plan: ClusterPlan, vpc: Resource, igw: Resource, table: Resource, zones: list[tuple[str, str, str]]
) -> tuple[list[Resource], list[Text], list[str]]:
    """Private nodes: per zone a public subnet (the public route table's), a NAT gateway
    (per zone, or the first zone's for all: ``aws.nat``) and the nodes' route table
    through it. ``zones``: (zone, suffix, public CIDR) in order."""
    n = plan.name
    single = (spec_block(plan.spec) or AwsOptions()).nat == "single"
    resources: list[Resource] = []
    public_ids: list[Text] = []
    gateways: list[Resource] = []
    for zone, suffix, cidr in zones:
        subnet = Resource(
            "aws_subnet",
            f"{n}_public_subnet_{suffix}",
            {
                "vpc_id": vpc.ref("id"),
                "cidr_block": cidr,
                "availability_zone": zone,
                # only the NAT gateways (Elastic IPs) and an internet-facing balancer live here
                "map_public_ip_on_launch": False,
                "tags": plan.tag_map(Name=f"{n}-public-subnet-{suffix}"),
            },
        )
        association = Resource(
            "aws_route_table_association",
            f"{n}_public_rta_{suffix}",
            {"subnet_id": subnet.ref("id"), "route_table_id": table.ref("id")},
        )
        resources += [subnet, association]
        public_ids.append(subnet.ref("id"))
        if not (single and gateways):
            eip, gateway = _nat(plan, suffix, subnet, igw)
            resources += [eip, gateway]
            gateways.append(gateway)
    for i, (_, suffix, _) in enumerate(zones):
        gateway = gateways[0 if single else i]
        private_table = Resource(
            "aws_route_table",
            f"{n}_private_rt_{suffix}",
            {"vpc_id": vpc.ref("id"), "tags": plan.tag_map(Name=f"{n}-private-rt-{suffix}")},
        )
        route = Resource(
            "aws_route",
            f"{n}_private_route_{suffix}",
            {
                "route_table_id": private_table.ref("id"),
                "destination_cidr_block": "0.0.0.0/0",
                "nat_gateway_id": gateway.ref("id"),
            },
        )
        resources += [private_table, route]
    return resources, public_ids, [f"aws_nat_gateway.{g.name}" for g in gateways]


def created_network(plan: ClusterPlan) -> AwsNetwork:
    """A new VPC with an internet gateway and one subnet per zone: public, or with
    private nodes private behind NAT gateways in public subnets of their own."""
    spec = plan.spec
    assert spec.network is not None
    n = plan.name
    vpc = Resource(
        "aws_vpc",
        f"{n}_vpc",
        {
            "cidr_block": spec.network.vpc_cidr,
            "enable_dns_hostnames": True,
            "enable_dns_support": True,
            "tags": plan.tag_map(Name=f"{n}-vpc"),
        },
    )
    igw = Resource("aws_internet_gateway", f"{n}_igw", {"vpc_id": vpc.ref("id"), "tags": plan.tag_map(Name=f"{n}-igw")})
    table = Resource("aws_route_table", f"{n}_rt", {"vpc_id": vpc.ref("id"), "tags": plan.tag_map(Name=f"{n}-rt")})
    route = Resource(
        "aws_route",
        f"{n}_default_route",
        {"route_table_id": table.ref("id"), "destination_cidr_block": "0.0.0.0/0", "gateway_id": igw.ref("id")},
    )
    zones = availability_zones(spec)
    private = private_nodes(spec)
    cidrs = public_subnet_cidrs(spec.network.vpc_cidr, spec.network.subnet_cidr, subnet_count(spec)) or ()
    suffixes = [zone_suffix(spec.region, zone, i) for i, zone in enumerate(zones)]
    routing: list[Resource] = []
    public_ids: list[Text] | None = None
    nat_gateways: list[str] = []
    if private and len(cidrs) == 2 * len(zones):
        routing, public_ids, nat_gateways = _private_routing(
            plan, vpc, igw, table, list(zip(zones, suffixes, cidrs[len(zones) :]))
        )
    subnets: list[Resource] = []
    associations: list[Resource] = []
    for zone, suffix, cidr in zip(zones, suffixes, cidrs):
        subnet = Resource(
            "aws_subnet",
            f"{n}_subnet_{suffix}",
            {
                "vpc_id": vpc.ref("id"),
                "cidr_block": cidr,
                "availability_zone": zone,
                # private nodes: no instance here asks for a public address
                "map_public_ip_on_launch": not private,
                "tags": plan.tag_map(Name=f"{n}-subnet-{suffix}"),
            },
        )
        subnets.append(subnet)
        node_table = ref("aws_route_table", f"{n}_private_rt_{suffix}", "id") if private else table.ref("id")
        associations.append(
            Resource(
                "aws_route_table_association",
                f"{n}_rta_{suffix}",
                {"subnet_id": subnet.ref("id"), "route_table_id": node_table},
            )
        )
    # every VPC comes with a default security group that lets its members reach each
    # other; nothing of the cluster's uses it, so it is taken over with no rules
    default_sg = Resource(
        "aws_default_security_group",
        f"{n}_default_sg",
        {"vpc_id": vpc.ref("id"), "ingress": [], "egress": [], "tags": plan.tag_map(Name=f"{n}-default-sg")},
    )
    return AwsNetwork(
        Fragment(resources=(vpc, igw, table, route, default_sg, *subnets, *associations, *routing)),
        vpc_id=vpc.ref("id", max_len=32),
        vpc_cidr=spec.network.vpc_cidr,
        subnet_ids=tuple(s.ref("id") for s in subnets),
        created_vpc=vpc,
        public_subnet_ids=None if public_ids is None else tuple(public_ids),
        nat_gateways=tuple(nat_gateways),
    )


def found_network(plan: ClusterPlan) -> AwsNetwork:
    """An existing VPC (aws.vpc_id + subnet_ids), else the region's default VPC."""
    aws = spec_block(plan.spec) or AwsOptions()
    n = plan.name
    vpc = DataSource("aws_vpc", f"{n}_vpc", {"id": aws.vpc_id} if aws.vpc_id else {"default": True})
    data: list[DataSource] = [vpc]
    subnet_ids: SubnetIds
    if aws.subnet_ids:
        subnet_ids = aws.subnet_ids
    else:
        subnets = DataSource(
            "aws_subnets",
            f"{n}_default_subnets",
            {
                "filter": [
                    {"name": "vpc-id", "values": [vpc.ref("id")]},
                    {"name": "default-for-az", "values": ["true"]},
                ]
            },
        )
        data.append(subnets)
        subnet_ids = subnets.ref("ids")
    return AwsNetwork(
        Fragment(data=tuple(data)),
        vpc_id=vpc.ref("id", max_len=32),
        vpc_cidr=vpc.ref("cidr_block", max_len=18),
        subnet_ids=subnet_ids,
        created_vpc=None,
    )


def security_group(plan: ClusterPlan, network: AwsNetwork) -> Resource:
    """The nodes' security group: the port table as inbound rules, all outbound traffic."""
    n = plan.name
    return Resource(
        "aws_security_group",
        f"{n}_sg",
        {
            "name": f"{n}-k8s-nodes",
            "description": f"Kubernetes nodes of cluster {n} (managed by nixk8s)",
            "vpc_id": network.vpc_id,
            "ingress": ingress_rules(plan, network.vpc_cidr),
            "egress": [sg_rule(0, 0, "-1", ("0.0.0.0/0", "::/0"), "all outbound traffic")],
            "tags": plan.tag_map(Name=f"{n}-sg"),
        },
    )


def network(plan: ClusterPlan) -> AwsNetwork:
    """The VPC the nodes live in: created from ``network``, else an existing or the default one."""
    return created_network(plan) if plan.spec.network is not None else found_network(plan)
