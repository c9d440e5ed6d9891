"""AWS IAM for the nodes: a role with EC2 trust, its instance profile, and
least-privilege policies.

``aws_iam_role.N_node_role``, ``aws_iam_instance_profile.N_node_profile``, the
policies ``N_ecr_read`` (ECR pulls in the region), ``N_ec2_describe`` (what kubelet
and the AWS cloud provider read) and ``N_persistent_state`` (when the spec has one),
and the spec's ``aws.instance_profile_policies``. Where the servers may do more than the
workers (use the etcd snapshot bucket), they get ``N_server_role`` and
``N_server_profile``: the same policies, and theirs (``N_server_*`` attachments).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from nixk8s.backends.aws.options import AwsOptions, spec_block
from nixk8s.plan import ClusterPlan
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import Fragment, Resource, Text


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


def ssm_core_policy(region: str) -> str:
    """AWS's managed policy that lets SSM Session Manager reach an instance.

    >>> ssm_core_policy("eu-central-1")
    'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore'
    """
    return f"arn:{partition(region)}:iam::aws:policy/AmazonSSMManagedInstanceCore"


_EC2_TRUST = _policy_document(
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
)


def _role(plan: ClusterPlan, who: str, description: str) -> tuple[Resource, Resource]:
    """A role with EC2 trust and its instance profile: ``N_{who}_role``, ``N_{who}_profile``."""
    n = plan.name
    role = Resource(
        "aws_iam_role",
        f"{n}_{who}_role",
        {
            "name": f"{n}-{who}-role",
            "description": description,
            "assume_role_policy": _EC2_TRUST,
            "max_session_duration": 3600,
            "tags": plan.tag_map(Name=f"{n}-{who}-role"),
        },
    )
    profile = Resource(
        "aws_iam_instance_profile",
        f"{n}_{who}_profile",
        {"name": f"{n}-{who}-profile", "role": role.ref("name"), "tags": plan.tag_map(Name=f"{n}-{who}-profile")},
    )
    return role, profile


def _policy(plan: ClusterPlan, suffix: str, description: str, document: Text) -> Resource:
    n = plan.name
    return Resource(
        "aws_iam_policy",
        f"{n}_{suffix}",
        {
            "name": f"{n}-{suffix.replace('_', '-')}",
            "description": description,
            "policy": document,
            "tags": plan.tag_map(Name=f"{n}-{suffix.replace('_', '-')}"),
        },
    )


def _attachments(plan: ClusterPlan, role: Resource, prefix: str, policies: list[Resource]) -> list[Resource]:
    """``role`` attached to each of ``policies`` (``N_{prefix}SUFFIX``) and to the spec's
    instance_profile_policies (``N_{prefix}extra_policy_I``)."""
    n = plan.name
    arns: list[tuple[str, Text]] = [(f"{prefix}{policy.name.removeprefix(f'{n}_')}", policy.ref("arn")) for policy in policies]
    extra = (spec_block(plan.spec) or AwsOptions()).instance_profile_policies
    network = plan.spec.network
    if network is not None and network.private_nodes:
        # nodes without a public address are reached through SSM Session Manager
        arns.append((f"{prefix}ssm_core", ssm_core_policy(plan.spec.region)))
    arns += [(f"{prefix}extra_policy_{i}", arn) for i, arn in enumerate(extra)]
    return [
        Resource("aws_iam_role_policy_attachment", f"{n}_{name}", {"role": role.ref("name"), "policy_arn": arn})
        for name, arn in arns
    ]


class Identities(msgspec.Struct, frozen=True):
    """The instance profiles the launch templates name: the servers' (its own role where
    the servers may do more than the workers) and the workers'."""

    fragment: Fragment
    server_profile: Resource
    worker_profile: Resource


def node_identity(plan: ClusterPlan, server_policies: Mapping[str, tuple[str, Text]] = {}) -> Identities:
    """The nodes' role, profile and least-privilege policies; with ``server_policies``
    (suffix → description, document), the servers get a role of their own that holds
    those too, which the workers' role never does."""
    n = plan.name
    role, profile = _role(plan, "node", f"Kubernetes nodes of cluster {n} (managed by nixk8s)")
    policies = [_policy(plan, suffix, d, doc) for suffix, (d, doc) in node_policies(plan.spec).items()]
    resources = [role, profile, *policies, *_attachments(plan, role, "", policies)]
    if not server_policies:
        return Identities(Fragment(resources=tuple(resources)), profile, profile)
    server_role, server_profile = _role(
        plan, "server", f"control-plane servers of cluster {n}: the nodes' policies and the servers' own (managed by nixk8s)"
    )
    own = [_policy(plan, suffix, d, doc) for suffix, (d, doc) in server_policies.items()]
    resources += [server_role, server_profile, *own, *_attachments(plan, server_role, "server_", [*policies, *own])]
    return Identities(Fragment(resources=tuple(resources)), server_profile, profile)
