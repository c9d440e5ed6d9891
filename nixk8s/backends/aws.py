"""AWS: launch templates and autoscaling groups behind an internal API load balancer.

What this backend builds, in order:

1. the network: with a ``network``, ``aws_vpc.N_vpc``, ``aws_internet_gateway.N_igw``,
   ``aws_route_table.N_rt`` + ``aws_route.N_default_route``, and per availability
   zone a public ``aws_subnet.N_subnet_<zone>`` carved from ``vpc_cidr`` with its
   ``aws_route_table_association.N_rta_<zone>``. With ``aws.vpc_id`` +
   ``aws.subnet_ids`` the existing VPC is read (``data.aws_vpc.N_vpc``, for its CIDR);
   with neither, the region's default VPC and its default subnets are used;
2. ``aws_security_group.N_sg`` from the port table: public rows from the ``access``
   sources, private rows only from the VPC CIDR. The API row is open to the VPC CIDR
   as well, since every node joins through the internal load balancer;
3. IAM: ``aws_iam_role.N_node_role`` (EC2 trust), ``aws_iam_instance_profile.N_node_profile``,
   least-privilege policies (``N_ecr_read``: ECR pulls in the region; ``N_ec2_describe``:
   what kubelet and the AWS cloud provider read; ``N_persistent_state`` when the spec
   has one) and the spec's ``aws.instance_profile_policies``;
4. the control plane: an internal NLB ``aws_lb.N_cp_nlb`` with the TCP 6443
   ``aws_lb_target_group.N_cp_tg`` and ``aws_lb_listener.N_cp_listener``; per
   control-plane index ``aws_launch_template.N_cp_i_lt`` + ``aws_autoscaling_group.N_cp_i_asg``
   of size 1 (0 when the system pool's min_size is 0: a parked cluster), so that the
   index and with it ``cluster_init`` belong to the group, also after it replaces
   its instance;
5. per worker pool ``aws_launch_template.N_P_lt`` + ``aws_autoscaling_group.N_P_asg``
   with the pool's min/max/desired. One template serves every machine of the pool,
   so the embedded config has no node_index: :data:`IMDS_INDEX_PROBE` derives it at
   boot from the instance's private IPv4 address (IMDSv2).

Every launch template requires IMDSv2 (hop limit 1, instance tags in the metadata),
has an encrypted gp3 root volume of the pool's disk size and tags its instances and
volumes. Its ``user_data`` is ``base64encode(local.<node>_user_data)``: the script is a
Terraform local, so the NLB's DNS name in it is a real reference.

Decisions:

- The default user_data format is shell: kindling's EC2 init mode reads the config
  out of the script's ``PANGEA_CONFIG_EOF`` heredoc and rejects ``#cloud-config``.
  ``user_data_format: cloud-config`` is allowed and explained in ``notes``, not an
  error: under kindling's ``legacyBootstrap`` mode cloud-init writes the file and
  kindling waits for it, and worker pools need that mode anyway (see below).
- The worker index is the whole private IPv4 address as a 32-bit integer (it fits
  kindling's u32). It is unique among live instances of the VPC, also across pools
  and across a VPC's secondary CIDR blocks, where its low 16 bits would not be.
- Load balancer and target group names are limited to 32 characters; longer
  derived names are shortened with a stable hash suffix (:func:`aws_lb_name`).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Union

import msgspec

from nixk8s import netaddr
from nixk8s.names import shortened
from nixk8s.backends.base import Backend, Foundation, NodeDescription, RenderedNode, UserDataLimit, WorkerPool, no_fragment
from nixk8s.cloud_init import IndexProbe
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan, base_tags
from nixk8s.ports import PortRule, cluster_ports, sources
from nixk8s.problems import Problem, join_path
from nixk8s.spec import AwsOptions, ClusterSpec, NodePool
from nixk8s.terraform import DataSource, Expr, Fragment, Output, ProviderRequirement, Resource, Template, Text, combine

PROVIDER = ProviderRequirement("aws", "hashicorp/aws", ">= 5.0, < 7.0")

USER_DATA_LIMIT = UserDataLimit(16_384, "AWS allows 16 KB of user_data (before base64)")
LB_NAME_LIMIT = 32
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
# Inbound rules per security group (AWS default quota; IPv4 and IPv6 CIDRs count apart).
MAX_SECURITY_GROUP_RULES = 60
DEFAULT_ZONE_SUFFIXES = ("a", "b", "c")
# NixOS AMIs boot from this device; the mapping resizes and encrypts that volume.
ROOT_DEVICE = "/dev/xvda"
API_PORT = 6443
# An NLB's DNS name: internal-NAME-ID.elb.REGION.amazonaws.com, with room to spare.
NLB_DNS_MAX_LEN = 128

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_AMI = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
_VPC = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$")
# With instance tags in the instance metadata, EC2 allows only these in tag keys.
_METADATA_TAG_KEY = re.compile(r"^[A-Za-z0-9+\-=._:@]+$")

# --- the worker index probe ------------------------------------------------------------

_IMDS = "http://169.254.169.254/latest"
_CURL = "curl -fsS --retry 10 --retry-connrefused --retry-delay 1 --max-time 5"

IMDS_INDEX_PROBE = IndexProbe(
    script=(
        "# NODE_INDEX: this instance's private IPv4 address as a 32-bit integer (IMDSv2),\n"
        "# unique among the VPC's live instances\n"
        f"imds_token=$({_CURL} -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' {_IMDS}/api/token)\n"
        f'local_ipv4=$({_CURL} -H "X-aws-ec2-metadata-token: ${{imds_token}}" {_IMDS}/meta-data/local-ipv4)\n'
        'case "${local_ipv4}" in\n'
        "  *[!0-9.]*|*.*.*.*.*) echo \"nixk8s: unexpected local-ipv4 '${local_ipv4}'\" >&2; exit 1 ;;\n"
        "  *.*.*.*) ;;\n"
        "  *) echo \"nixk8s: unexpected local-ipv4 '${local_ipv4}'\" >&2; exit 1 ;;\n"
        "esac\n"
        "octet1=${local_ipv4%%.*}; rest=${local_ipv4#*.}\n"
        "octet2=${rest%%.*}; rest=${rest#*.}\n"
        "octet3=${rest%%.*}; octet4=${rest#*.}\n"
        'for octet in "${octet1}" "${octet2}" "${octet3}" "${octet4}"; do\n'
        "  # empty, or a leading zero (which shell arithmetic would read as octal)\n"
        '  case "${octet}" in\n'
        "    ''|0[0-9]*) echo \"nixk8s: unexpected local-ipv4 '${local_ipv4}'\" >&2; exit 1 ;;\n"
        "  esac\n"
        "done\n"
        "NODE_INDEX=$((octet1 * 16777216 + octet2 * 65536 + octet3 * 256 + octet4))\n"
    ),
    source="the instance's private IPv4 address (IMDSv2 local-ipv4) as a 32-bit integer",
)


# --- names and tags --------------------------------------------------------------------


def aws_lb_name(name: str, limit: int = LB_NAME_LIMIT) -> str:
    """``name`` as a load balancer or target group name: at most ``limit`` characters.

    >>> aws_lb_name("a-rather-long-production-cluster-name-cp-nlb")
    'a-rather-long-productio-6b3a33c4'
    """
    return shortened(name, limit)


def partition(region: str) -> str:
    """The ARN partition of a region.

    >>> partition("eu-central-1"), partition("cn-north-1"), partition("us-gov-west-1")
    ('aws', 'aws-cn', 'aws-us-gov')
    """
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def tags(plan: ClusterPlan, **extra: str) -> dict[str, str]:
    """The base tags and the spec's tags, then this resource's own (``Name``, ``Role``...)."""
    return {**dict(plan.tags), **extra}


# the keys :func:`tags` adds on top of the spec's, at most, on any one resource
_OWN_TAG_KEYS = ("Name", "Role", "NodePool", "NodeIndex")
_AUTOSCALER_TAG_KEYS = ("k8s.io/cluster-autoscaler/enabled", "k8s.io/cluster-autoscaler/CLUSTER")


# --- network layout ----------------------------------------------------------------------


def availability_zones(spec: ClusterSpec) -> tuple[str, ...]:
    """``aws.availability_zones``, else the region's zones a, b and c.

    >>> from nixk8s.spec import NodePool
    >>> availability_zones(ClusterSpec(name="demo", backend="aws", region="eu-west-1",
    ...     node_pools=(NodePool(name="system", instance_types=("t3.large",)),)))
    ('eu-west-1a', 'eu-west-1b', 'eu-west-1c')
    """
    given = spec.aws.availability_zones if spec.aws else ()
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


def rule_sources(rule: PortRule, spec: ClusterSpec, vpc_cidr: Text) -> tuple[Text, ...]:
    """Who may reach ``rule``: private rows the VPC only; the API also the VPC (the
    internal NLB forwards node traffic, and health checks come from inside it)."""
    if not rule.public:
        return (vpc_cidr,)
    public: tuple[Text, ...] = sources(rule, spec, None)
    if rule.audience == "api" and vpc_cidr not in public:
        return (*public, vpc_cidr)
    return public


def _is_ipv6(source: Text) -> bool:
    return isinstance(source, str) and ":" in source


def _sg_rule(first: int, last: int, protocol: str, cidrs: tuple[Text, ...], description: str) -> dict[str, Any]:
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


def ingress_rules(spec: ClusterSpec, ports: tuple[PortRule, ...], vpc_cidr: Text) -> list[dict[str, Any]]:
    """One rule per port row that someone may reach, plus ICMP "fragmentation needed"
    (path-MTU discovery) from anywhere."""
    rules = [_sg_rule(3, 4, "icmp", ("0.0.0.0/0",), "ICMP fragmentation needed (path MTU)")]
    for rule in ports:
        allowed = rule_sources(rule, spec, vpc_cidr)
        if allowed:
            rules.append(_sg_rule(rule.first, rule.last, rule.protocol, allowed, rule.description))
    return rules


def security_group_rule_count(spec: ClusterSpec) -> int:
    """Inbound rules as AWS counts them: one per CIDR."""
    rules = ingress_rules(spec, cluster_ports(spec), "10.0.0.0/16")
    return sum(len(r["cidr_blocks"]) + len(r["ipv6_cidr_blocks"]) for r in rules)


# --- spec checks (DESIGN §7) -----------------------------------------------------------


def image_id(spec: ClusterSpec) -> str | None:
    """A literal AMI: ``aws.ami_id``, else ``nixos.image_id`` (unless an SSM parameter is set)."""
    aws = spec.aws or AwsOptions()
    if aws.ami_id:
        return aws.ami_id
    return None if aws.ssm_ami_parameter else spec.nixos.image_id


def _image_problems(spec: ClusterSpec, aws: AwsOptions) -> Iterator[Problem]:
    if aws.ami_id and aws.ssm_ami_parameter:
        yield Problem("aws.ssm_ami_parameter", "set aws.ami_id or aws.ssm_ami_parameter, not both")
    elif not (aws.ami_id or aws.ssm_ami_parameter or spec.nixos.image_id):
        yield Problem(
            "aws.ami_id",
            "a NixOS AMI is required: aws.ami_id, aws.ssm_ami_parameter (an SSM parameter holding "
            "the AMI id) or nixos.image_id",
        )
    literal = image_id(spec)
    if literal is not None and not _AMI.match(literal):
        path = "aws.ami_id" if aws.ami_id else "nixos.image_id"
        yield Problem(path, f'"{literal}" is not an AMI id (ami- and 8 or 17 hex digits)')


def _network_problems(spec: ClusterSpec, aws: AwsOptions) -> Iterator[Problem]:
    if aws.vpc_id and spec.network is not None:
        yield Problem("aws.vpc_id", "an existing VPC excludes `network` (which creates one): set one of them")
    if aws.subnet_ids and not aws.vpc_id:
        yield Problem("aws.vpc_id", "required with aws.subnet_ids (the VPC the subnets belong to)")
    if aws.vpc_id and not aws.subnet_ids:
        yield Problem("aws.subnet_ids", "required with aws.vpc_id (the subnets the nodes and the API load balancer use)")
    if aws.vpc_id and not _VPC.match(aws.vpc_id):
        yield Problem("aws.vpc_id", f'"{aws.vpc_id}" is not a VPC id (vpc- and 8 or 17 hex digits)')
    for i, subnet in enumerate(aws.subnet_ids):
        if not _SUBNET.match(subnet):
            yield Problem(join_path("aws.subnet_ids", i), f'"{subnet}" is not a subnet id (subnet- and 8 or 17 hex digits)')
        elif subnet in aws.subnet_ids[:i]:
            yield Problem(join_path("aws.subnet_ids", i), f'"{subnet}" is listed twice')
    if aws.availability_zones and spec.network is None:
        yield Problem("aws.availability_zones", "only used with `network`: existing or default subnets decide the zones")
    for i, zone in enumerate(aws.availability_zones):
        path = join_path("aws.availability_zones", i)
        if not (zone.startswith(spec.region) and len(zone) > len(spec.region)):
            yield Problem(path, f'"{zone}" is not a zone of region {spec.region} (e.g. "{spec.region}a")')
        elif zone in aws.availability_zones[:i]:
            yield Problem(path, f'"{zone}" is listed twice')
    net = spec.network
    if net is None:
        return
    vpc = netaddr.net(net.vpc_cidr)
    if not 16 <= vpc.prefixlen <= 28:
        yield Problem("network.vpc_cidr", f"an AWS VPC is a /16 to a /28, not a /{vpc.prefixlen}")
        return
    zones = availability_zones(spec)
    if public_subnet_cidrs(net.vpc_cidr, net.subnet_cidr, len(zones)) is None:
        yield Problem(
            "network.subnet_cidr" if net.subnet_cidr else "network.vpc_cidr",
            f"{len(zones)} public subnets (one per availability zone, each a /16 to a /28) "
            f"do not fit in vpc_cidr {net.vpc_cidr}",
        )


def _tag_problems(spec: ClusterSpec) -> Iterator[Problem]:
    keys = set(dict(base_tags(spec))) | set(_OWN_TAG_KEYS) | set(_AUTOSCALER_TAG_KEYS)
    if len(keys) > MAX_TAGS:
        yield Problem("tags", f"resources would carry {len(keys)} tags with nixk8s' own; AWS allows {MAX_TAGS}")
    for key, value in spec.tags.items():
        path = join_path("tags", key)
        if key.lower().startswith("aws:"):
            yield Problem(path, 'the "aws:" prefix is reserved for AWS')
        if len(key) > MAX_TAG_KEY:
            yield Problem(path, f"tag keys are at most {MAX_TAG_KEY} characters, this one has {len(key)}")
        if len(value) > MAX_TAG_VALUE:
            yield Problem(path, f"tag values are at most {MAX_TAG_VALUE} characters, this one has {len(value)}")
        if not _METADATA_TAG_KEY.match(key) or key in (".", "..", "_index"):
            yield Problem(
                path,
                "instance tags are in the instance metadata (IMDS), where keys may only use "
                "letters, digits and + - = . _ : @ (no spaces or /)",
            )


def check(spec: ClusterSpec) -> Iterator[Problem]:
    aws = spec.aws or AwsOptions()
    if not _REGION.match(spec.region):
        yield Problem("region", f'"{spec.region}" is not an AWS region name (e.g. "eu-central-1")')
    if spec.name.startswith("internal-"):
        yield Problem("name", 'AWS load balancer names (derived from the cluster name) must not begin with "internal-"')
    yield from _image_problems(spec, aws)
    yield from _network_problems(spec, aws)
    yield from _tag_problems(spec)
    for i, arn in enumerate(aws.instance_profile_policies):
        if not _POLICY_ARN.match(arn):
            yield Problem(join_path("aws.instance_profile_policies", i), f'"{arn}" is not an IAM managed policy ARN')
    for i, pool in enumerate(spec.node_pools):
        if len(pool.ssh_keys) > 1:
            yield Problem(join_path(join_path("node_pools", i), "ssh_keys"), "an EC2 instance takes one key pair")
    count = security_group_rule_count(spec)
    if count > MAX_SECURITY_GROUP_RULES:
        yield Problem(
            "access", f"{count} inbound rules (one per source CIDR); a security group allows {MAX_SECURITY_GROUP_RULES}"
        )


# --- the foundation ----------------------------------------------------------------------

SubnetIds = Union[tuple[Text, ...], Expr]


class AwsNetwork(msgspec.Struct, frozen=True):
    """Where the nodes live: created, existing or the default VPC."""

    fragment: Fragment
    vpc_id: Text
    vpc_cidr: Text
    subnet_ids: SubnetIds  # a list of ids, or an expression that is one
    created_vpc: Resource | None


class AwsInfra(msgspec.Struct, frozen=True):
    """Handles to what the foundation built, for the node hooks."""

    network: AwsNetwork
    security_group: Resource
    instance_profile: Resource
    image_id: Text
    load_balancer: Resource
    target_group: Resource
    control_plane_size: int  # instances per control-plane group: 1, or 0 when parked


def _created_network(plan: ClusterPlan) -> AwsNetwork:
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
            "tags": tags(plan, Name=f"{n}-vpc"),
        },
    )
    igw = Resource("aws_internet_gateway", f"{n}_igw", {"vpc_id": vpc.ref("id"), "tags": tags(plan, Name=f"{n}-igw")})
    table = Resource("aws_route_table", f"{n}_rt", {"vpc_id": vpc.ref("id"), "tags": tags(plan, Name=f"{n}-rt")})
    route = Resource(
        "aws_route",
        f"{n}_default_route",
        {"route_table_id": table.ref("id"), "destination_cidr_block": "0.0.0.0/0", "gateway_id": igw.ref("id")},
    )
    zones = availability_zones(spec)
    cidrs = public_subnet_cidrs(spec.network.vpc_cidr, spec.network.subnet_cidr, len(zones)) or ()
    subnets: list[Resource] = []
    associations: list[Resource] = []
    for i, (zone, cidr) in enumerate(zip(zones, cidrs)):
        suffix = zone_suffix(spec.region, zone, i)
        subnet = Resource(
            "aws_subnet",
            f"{n}_subnet_{suffix}",
            {
                "vpc_id": vpc.ref("id"),
                "cidr_block": cidr,
                "availability_zone": zone,
                "map_public_ip_on_launch": True,
                "tags": tags(plan, Name=f"{n}-subnet-{suffix}"),
            },
        )
        subnets.append(subnet)
        associations.append(
            Resource(
                "aws_route_table_association",
                f"{n}_rta_{suffix}",
                {"subnet_id": subnet.ref("id"), "route_table_id": table.ref("id")},
            )
        )
    return AwsNetwork(
        Fragment(resources=(vpc, igw, table, route, *subnets, *associations)),
        vpc_id=vpc.ref("id", max_len=32),
        vpc_cidr=spec.network.vpc_cidr,
        subnet_ids=tuple(s.ref("id") for s in subnets),
        created_vpc=vpc,
    )


def _found_network(plan: ClusterPlan) -> AwsNetwork:
    """An existing VPC (aws.vpc_id + subnet_ids), else the region's default VPC."""
    aws = plan.spec.aws or AwsOptions()
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


def _security_group(plan: ClusterPlan, network: AwsNetwork) -> Resource:
    n = plan.name
    return Resource(
        "aws_security_group",
        f"{n}_sg",
        {
            "name": f"{n}-k8s-nodes",
            "description": f"Kubernetes nodes of cluster {n} (managed by nixk8s)",
            "vpc_id": network.vpc_id,
            "ingress": ingress_rules(plan.spec, plan.ports, network.vpc_cidr),
            "egress": [_sg_rule(0, 0, "-1", ("0.0.0.0/0", "::/0"), "all outbound traffic")],
            "tags": tags(plan, Name=f"{n}-sg"),
        },
    )


def _policy_document(*statements: Mapping[str, Any]) -> str:
    return msgspec.json.encode({"Version": "2012-10-17", "Statement": list(statements)}).decode()


def node_policies(spec: ClusterSpec) -> dict[str, tuple[str, str]]:
    """The least-privilege policies every node gets: address suffix → (description, document)."""
    arn = f"arn:{partition(spec.region)}"
    policies = {
        "ecr_read": (
            f"pull container images from ECR in {spec.region} (nodes of {spec.name})",
            _policy_document(
                {
                    "Sid": "ECRPull",
                    "Effect": "Allow",
                    "Action": [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:DescribeRepositories",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:GetRepositoryPolicy",
                        "ecr:ListImages",
                    ],
                    "Resource": f"{arn}:ecr:{spec.region}:*:repository/*",
                },
                # GetAuthorizationToken has no resource-level permissions
                {"Sid": "ECRAuth", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            ),
        ),
        "ec2_describe": (
            f"what kubelet and the AWS cloud provider read (nodes of {spec.name})",
            _policy_document(
                {
                    "Sid": "EC2Describe",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:DescribeAvailabilityZones",
                        "ec2:DescribeInstances",
                        "ec2:DescribeRegions",
                        "ec2:DescribeTags",
                    ],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:RequestedRegion": spec.region}},
                }
            ),
        ),
    }
    if spec.persistent_state is not None:
        policies["persistent_state"] = (
            f"find, create and attach the persistent state volume (nodes of {spec.name})",
            _policy_document(
                {"Sid": "DescribeVolumes", "Effect": "Allow", "Action": ["ec2:DescribeVolumes"], "Resource": "*"},
                {
                    "Sid": "AttachStateVolume",
                    "Effect": "Allow",
                    "Action": ["ec2:AttachVolume", "ec2:CreateTags", "ec2:CreateVolume"],
                    "Resource": [
                        f"{arn}:ec2:{spec.region}:*:volume/*",
                        f"{arn}:ec2:{spec.region}:*:instance/*",
                    ],
                },
            ),
        )
    return policies


_EC2_TRUST = _policy_document(
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
)


def _iam(plan: ClusterPlan) -> tuple[Fragment, Resource]:
    spec = plan.spec
    n = plan.name
    role = Resource(
        "aws_iam_role",
        f"{n}_node_role",
        {
            "name": f"{n}-node-role",
            "description": f"Kubernetes nodes of cluster {n} (managed by nixk8s)",
            "assume_role_policy": _EC2_TRUST,
            "max_session_duration": 3600,
            "tags": tags(plan, Name=f"{n}-node-role"),
        },
    )
    profile = Resource(
        "aws_iam_instance_profile",
        f"{n}_node_profile",
        {"name": f"{n}-node-profile", "role": role.ref("name"), "tags": tags(plan, Name=f"{n}-node-profile")},
    )
    resources = [role, profile]
    for suffix, (description, document) in node_policies(spec).items():
        policy = Resource(
            "aws_iam_policy",
            f"{n}_{suffix}",
            {
                "name": f"{n}-{suffix.replace('_', '-')}",
                "description": description,
                "policy": document,
                "tags": tags(plan, Name=f"{n}-{suffix.replace('_', '-')}"),
            },
        )
        attachment = Resource(
            "aws_iam_role_policy_attachment",
            f"{n}_{suffix}",
            {"role": role.ref("name"), "policy_arn": policy.ref("arn")},
        )
        resources += [policy, attachment]
    for i, arn in enumerate(spec.aws.instance_profile_policies if spec.aws else ()):
        resources.append(
            Resource(
                "aws_iam_role_policy_attachment",
                f"{n}_extra_policy_{i}",
                {"role": role.ref("name"), "policy_arn": arn},
            )
        )
    return Fragment(resources=tuple(resources)), profile


def _image(plan: ClusterPlan) -> tuple[Fragment, Text]:
    """The AMI: a literal id, or the value of the SSM parameter that holds it."""
    aws = plan.spec.aws or AwsOptions()
    literal = image_id(plan.spec)
    if literal is not None or not aws.ssm_ami_parameter:
        return Fragment(), literal or ""
    # an AMI id is no secret: insecure_value keeps it readable in plans
    parameter = DataSource("aws_ssm_parameter", f"{plan.name}_ami", {"name": aws.ssm_ami_parameter})
    return Fragment(data=(parameter,)), parameter.ref("insecure_value", max_len=21)


def _api_load_balancer(plan: ClusterPlan, network: AwsNetwork) -> tuple[Fragment, Resource, Resource]:
    n = plan.name
    lb_name = aws_lb_name(f"{n}-cp-nlb")
    tg_name = aws_lb_name(f"{n}-cp-tg")
    nlb = Resource(
        "aws_lb",
        f"{n}_cp_nlb",
        {
            "name": lb_name,
            "internal": True,
            "load_balancer_type": "network",
            "subnets": network.subnet_ids,
            # a zone without a healthy server must still reach the others
            "enable_cross_zone_load_balancing": True,
            "tags": tags(plan, Name=lb_name),
        },
    )
    target_group = Resource(
        "aws_lb_target_group",
        f"{n}_cp_tg",
        {
            "name": tg_name,
            "port": API_PORT,
            "protocol": "TCP",
            "vpc_id": network.vpc_id,
            "target_type": "instance",
            # with the client's address kept, a server that reaches the API through the
            # NLB and lands on itself drops the connection (NLB hairpinning)
            "preserve_client_ip": "false",
            "health_check": {
                "protocol": "TCP",
                "port": str(API_PORT),
                "healthy_threshold": 3,
                "unhealthy_threshold": 3,
                "interval": 10,
            },
            "tags": tags(plan, Name=tg_name),
        },
    )
    listener = Resource(
        "aws_lb_listener",
        f"{n}_cp_listener",
        {
            "load_balancer_arn": nlb.ref("arn"),
            "port": API_PORT,
            "protocol": "TCP",
            "default_action": [{"type": "forward", "target_group_arn": target_group.ref("arn")}],
            "tags": tags(plan, Name=f"{n}-cp-listener"),
        },
    )
    return Fragment(resources=(nlb, target_group, listener)), nlb, target_group


def foundation(plan: ClusterPlan) -> Foundation[AwsInfra]:
    network = _created_network(plan) if plan.spec.network is not None else _found_network(plan)
    security_group = _security_group(plan, network)
    iam, profile = _iam(plan)
    image, ami = _image(plan)
    api, nlb, target_group = _api_load_balancer(plan, network)
    infra = AwsInfra(
        network=network,
        security_group=security_group,
        instance_profile=profile,
        image_id=ami,
        load_balancer=nlb,
        target_group=target_group,
        control_plane_size=1 if plan.spec.system_pool.min_size > 0 else 0,
    )
    fragment = Fragment(resources=(security_group,))
    return Foundation(combine([network.fragment, fragment, iam, image, api]), infra)


def join_host(plan: ClusterPlan, infra: AwsInfra) -> Text:
    """The API load balancer's DNS name: every node but server 0 joins through it."""
    return infra.load_balancer.ref("dns_name", max_len=NLB_DNS_MAX_LEN)


def network_id(infra: AwsInfra) -> Text | None:
    """The VPC's id when nixk8s creates it."""
    return infra.network.vpc_id if infra.network.created_vpc is not None else None


def port_sources(plan: ClusterPlan, infra: AwsInfra, rule: PortRule) -> tuple[Text, ...]:
    return rule_sources(rule, plan.spec, infra.network.vpc_cidr)


def provider_config(plan: ClusterPlan) -> dict[str, Any]:
    return {"region": plan.spec.region}


# --- launch templates and autoscaling groups --------------------------------------------


def user_data_local(name: str) -> str:
    """The Terraform local holding a node's user_data script."""
    return f"{name}_user_data"


def _key_name(spec: ClusterSpec, pool: NodePool) -> str | None:
    if pool.ssh_keys:
        return pool.ssh_keys[0]
    return spec.aws.key_pair if spec.aws else None


def _launch_template(
    plan: ClusterPlan, infra: AwsInfra, name: str, pool: NodePool, instance_tags: dict[str, str]
) -> Resource:
    body: dict[str, Any] = {
        "name": f"{name.replace('_', '-')}-lt",
        "description": f"{instance_tags['Name']} (managed by nixk8s)",
        "image_id": infra.image_id,
        "instance_type": pool.instance_type,
        "user_data": Expr(f"base64encode(local.{user_data_local(name)})"),
        "update_default_version": True,
        "iam_instance_profile": {"arn": infra.instance_profile.ref("arn")},
        "vpc_security_group_ids": [infra.security_group.ref("id")],
        "metadata_options": {
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 1,
            "instance_metadata_tags": "enabled",
        },
        "block_device_mappings": [
            {
                "device_name": ROOT_DEVICE,
                "ebs": {
                    "volume_size": pool.disk_size_gb,
                    "volume_type": "gp3",
                    "encrypted": "true",
                    "delete_on_termination": "true",
                },
            }
        ],
        "tag_specifications": [
            {"resource_type": "instance", "tags": instance_tags},
            {"resource_type": "volume", "tags": instance_tags},
        ],
        "tags": tags(plan, Name=f"{name.replace('_', '-')}-lt"),
    }
    key = _key_name(plan.spec, pool)
    if key:
        body["key_name"] = key
    return Resource("aws_launch_template", f"{name}_lt", body)


def _asg_tags(values: Mapping[str, str]) -> list[dict[str, Any]]:
    # instances get their tags from the launch template; these stay on the group
    return [{"key": k, "value": v, "propagate_at_launch": False} for k, v in values.items()]


def _autoscaling_group(
    name: str, template: Resource, infra: AwsInfra, sizes: tuple[int, int, int], group_tags: Mapping[str, str]
) -> dict[str, Any]:
    low, high, desired = sizes
    return {
        "name": f"{name.replace('_', '-')}-asg",
        "min_size": low,
        "max_size": high,
        "desired_capacity": desired,
        "vpc_zone_identifier": infra.network.subnet_ids,
        "launch_template": {"id": template.ref("id"), "version": template.ref("latest_version")},
        "health_check_type": "EC2",
        "health_check_grace_period": 300,
        "tag": _asg_tags(group_tags),
    }


def control_plane_name(plan: ClusterPlan, i: int) -> str:
    return f"{plan.name}_cp_{i}"


def control_plane_node(plan: ClusterPlan, infra: AwsInfra, node: RenderedNode) -> Fragment:
    """Server ``i``: its own template and a group of one, behind the API target group."""
    i = node.ordinal
    name = control_plane_name(plan, i)
    pool = plan.spec.system_pool
    instance_tags = tags(plan, Name=name.replace("_", "-"), Role="control-plane", NodePool=pool.name, NodeIndex=str(i))
    template = _launch_template(plan, infra, name, pool, instance_tags)
    size = infra.control_plane_size
    body = _autoscaling_group(name, template, infra, (size, 1, size), instance_tags)
    body["target_group_arns"] = [infra.target_group.ref("arn")]
    group = Resource("aws_autoscaling_group", f"{name}_asg", body)
    return Fragment(resources=(template, group), locals=((user_data_local(name), node.user_data),))


def worker_pool(plan: ClusterPlan, infra: AwsInfra, pool: WorkerPool) -> Fragment:
    """One template and one group for the whole pool; nodes read their index at boot."""
    (node,) = pool.nodes
    spec_pool = pool.pool
    name = f"{plan.name}_{spec_pool.name}"
    instance_tags = tags(plan, Name=name.replace("_", "-"), Role="worker", NodePool=spec_pool.name)
    template = _launch_template(plan, infra, name, spec_pool, instance_tags)
    autoscaler = {
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"k8s.io/cluster-autoscaler/{plan.name}": "owned",
    }
    body = _autoscaling_group(
        name,
        template,
        infra,
        (spec_pool.min_size, spec_pool.max_size, spec_pool.desired),
        {**instance_tags, **autoscaler},
    )
    # the cluster autoscaler owns the pool's size between min and max
    body["lifecycle"] = {"ignore_changes": ["desired_capacity"]}
    group = Resource("aws_autoscaling_group", f"{name}_asg", body)
    return Fragment(resources=(template, group), locals=((user_data_local(name), node.user_data),))


# --- outputs and notes -------------------------------------------------------------------


def outputs(plan: ClusterPlan, infra: AwsInfra) -> Fragment:
    dns = join_host(plan, infra)
    groups = [
        Expr(f"aws_autoscaling_group.{control_plane_name(plan, i)}_asg.name")
        for i in range(plan.spec.control_plane_count)
    ]
    addresses = {
        control_plane_name(plan, i).replace("_", "-"): {"autoscaling_group": groups[i], "load_balancer": dns}
        for i in range(plan.spec.control_plane_count)
    }
    return Fragment(
        outputs=(
            Output(
                "api_endpoint",
                Template.of("https://", dns, f":{API_PORT}"),
                "Kubernetes API through the internal load balancer (reachable from inside the VPC)",
            ),
            Output(
                "control_plane_addresses",
                addresses,
                "each control-plane index: its autoscaling group and the load balancer in front of it",
            ),
            Output("control_plane_asgs", groups, "the autoscaling group of each control-plane index, in order"),
            Output("join_server", join_server(plan.spec.distribution, dns), "the address nodes join the cluster through"),
        )
    )


def describe_node(plan: ClusterPlan, infra: AwsInfra, node: RenderedNode, pool: NodePool) -> NodeDescription:
    if node.role == "server":
        return NodeDescription(f"aws_autoscaling_group.{control_plane_name(plan, node.ordinal)}_asg")
    return NodeDescription(f"aws_autoscaling_group.{plan.name}_{pool.name}_asg")


def notes(plan: ClusterPlan, infra: AwsInfra) -> tuple[str, ...]:
    spec = plan.spec
    result = [
        "the API load balancer is internal: the Kubernetes API is reachable from inside the VPC "
        "(or a peered network or VPN) only; port 6443 is open to the VPC for the nodes that join through it",
        "each control-plane index has its own autoscaling group, so a replaced server keeps its index; "
        "a replaced server 0 boots with cluster_init again, so keep its state (persistent_state) or restore etcd",
        f"launch templates map the root volume at {ROOT_DEVICE} (the device of NixOS AMIs)",
    ]
    if spec.worker_pools:
        result.append(
            "worker nodes take their node_index from their private IPv4 address (IMDSv2) when the user_data "
            "script runs; kindling's EC2 init mode reads the embedded config without running the script, "
            "so run kindling with legacyBootstrap on worker AMIs, or every worker boots as index 0"
        )
    if plan.user_data_format == "cloud-config":
        result.append(
            "user_data_format is cloud-config: kindling's EC2 init mode rejects #cloud-config, "
            "so every node needs kindling's legacyBootstrap mode (cloud-init writes the file)"
        )
    if infra.control_plane_size == 0:
        result.append("the system pool's min_size is 0: the cluster is parked (infrastructure kept, no instances)")
    for long_name in (f"{spec.name}-cp-nlb", f"{spec.name}-cp-tg"):
        if aws_lb_name(long_name) != long_name:
            result.append(
                f'"{long_name}" is longer than AWS allows ({LB_NAME_LIMIT}); it is named "{aws_lb_name(long_name)}"'
            )
    if spec.network is None:
        aws = spec.aws or AwsOptions()
        if aws.vpc_id:
            result.append(f"existing VPC {aws.vpc_id}: private ports are open to its primary CIDR block only")
        else:
            result.append("no network and no aws.vpc_id: the nodes use the region's default VPC and its default subnets")
    return tuple(result)


AWS: Backend[AwsInfra] = Backend(
    name="aws",
    title="AWS",
    provider=PROVIDER,
    default_format="shell",
    user_data_limit=USER_DATA_LIMIT,
    joins_through_load_balancer=True,
    worker_index_probe=IMDS_INDEX_PROBE,
    check=check,
    foundation=foundation,
    join_host=join_host,
    network_id=network_id,
    control_plane_node=control_plane_node,
    post_instance=no_fragment,
    worker_pool=worker_pool,
    outputs=outputs,
    describe_node=describe_node,
    notes=notes,
    provider_config=provider_config,
    port_sources=port_sources,
)
