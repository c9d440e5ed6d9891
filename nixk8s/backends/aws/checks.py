"""The AWS backend's checks: what AWS would refuse at apply time (DESIGN §7), and beyond.

Tag keys must fit the instance-metadata character set (instance tags are exposed in
IMDS), at most 60 inbound rules per security group, a VPC of /16 to /28,
AMI/VPC/subnet/ARN formats, availability zones of the spec's region.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from nixk8s import netaddr
from nixk8s.backends.aws.autoscaler import cluster_autoscaler_tags
from nixk8s.backends.aws.network import (
    availability_zones,
    private_nodes,
    public_subnet_cidrs,
    security_group_rule_count,
    subnet_count,
)
from nixk8s.backends.aws.options import AwsOptions, spec_block
from nixk8s.plan import ClusterPlan, base_tags
from nixk8s.problems import Problem, join_path
from nixk8s.spec import ClusterSpec

MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
# Inbound rules per security group (AWS default quota; IPv4 and IPv6 CIDRs count apart).
MAX_SECURITY_GROUP_RULES = 60

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_AMI = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
_VPC = re.compile(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$")
# With instance tags in the instance metadata, EC2 allows only these in tag keys.
_METADATA_TAG_KEY = re.compile(r"^[A-Za-z0-9+\-=._:@]+$")

# the keys nixk8s adds on top of the spec's tags, at most, on any one resource
_OWN_TAG_KEYS = ("Name", "Role", "NodePool", "NodeIndex")


def image_id(spec: ClusterSpec) -> str | None:
    """A literal AMI: ``aws.ami_id``, else ``nixos.image_id`` (unless an SSM parameter is set)."""
    aws = spec_block(spec) or AwsOptions()
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
    if net is None or netaddr.cidr_error(net.vpc_cidr, ipv4_only=True):
        return  # a broken CIDR is the cross-field rules' problem
    if net.subnet_cidr is not None and netaddr.cidr_error(net.subnet_cidr):
        return
    vpc = netaddr.net(net.vpc_cidr)
    if not 16 <= vpc.prefixlen <= 28:
        yield Problem("network.vpc_cidr", f"an AWS VPC is a /16 to a /28, not a /{vpc.prefixlen}")
        return
    zones = availability_zones(spec)
    if public_subnet_cidrs(net.vpc_cidr, net.subnet_cidr, subnet_count(spec)) is None:
        kinds = (
            f"{len(zones)} private subnets for the nodes and {len(zones)} public ones for the NAT gateways"
            if private_nodes(spec)
            else f"{len(zones)} public subnets"
        )
        yield Problem(
            "network.subnet_cidr" if net.subnet_cidr else "network.vpc_cidr",
            f"{kinds} (one per availability zone, each a /16 to a /28) do not fit in vpc_cidr {net.vpc_cidr}",
        )


def _tag_problems(spec: ClusterSpec) -> Iterator[Problem]:
    keys = set(dict(base_tags(spec))) | set(_OWN_TAG_KEYS)
    if len(keys) > MAX_TAGS:
        yield Problem("tags", f"resources would carry {len(keys)} tags with nixk8s' own; AWS allows {MAX_TAGS}")
    for i, pool in spec.worker_pools:
        if not pool.autoscale:
            continue
        group = cluster_autoscaler_tags(spec.name, pool)
        if len(keys | set(group)) > MAX_TAGS:
            yield Problem(
                join_path(join_path("node_pools", i), "labels"),
                f"the pool's autoscaling group would carry {len(keys | set(group))} tags (one per label and "
                f"taint, for the cluster-autoscaler); AWS allows {MAX_TAGS}",
            )
        for key in group:
            if len(key) > MAX_TAG_KEY:
                yield Problem(
                    join_path(join_path("node_pools", i), "labels"),
                    f'the cluster-autoscaler\'s tag "{key[:40]}..." would be {len(key)} characters; AWS allows {MAX_TAG_KEY}',
                )
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


def check(plan: ClusterPlan) -> Iterator[Problem]:
    spec = plan.spec
    aws = spec_block(spec) or AwsOptions()
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
    count = security_group_rule_count(plan)
    if count > MAX_SECURITY_GROUP_RULES:
        yield Problem(
            "access", f"{count} inbound rules (one per source CIDR); a security group allows {MAX_SECURITY_GROUP_RULES}"
        )
