"""AWS IAM for the nodes: a role with EC2 trust, its instance profile, and
least-privilege policies.

``aws_iam_role.N_node_role``, ``aws_iam_instance_profile.N_node_profile``, the
policies ``N_ecr_read`` (ECR pulls in the region), ``N_ec2_describe`` (what kubelet
and the AWS cloud provider read) and ``N_persistent_state`` (when the spec has one),
and the spec's ``aws.instance_profile_policies``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from nixk8s.backends.aws.options import AwsOptions, spec_block
from nixk8s.plan import ClusterPlan
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import Fragment, Resource


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


def node_identity(plan: ClusterPlan) -> tuple[Fragment, Resource]:
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
            "tags": plan.tag_map(Name=f"{n}-node-role"),
        },
    )
    profile = Resource(
        "aws_iam_instance_profile",
        f"{n}_node_profile",
        {"name": f"{n}-node-profile", "role": role.ref("name"), "tags": plan.tag_map(Name=f"{n}-node-profile")},
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
                "tags": plan.tag_map(Name=f"{n}-{suffix.replace('_', '-')}"),
            },
        )
        attachment = Resource(
            "aws_iam_role_policy_attachment",
            f"{n}_{suffix}",
            {"role": role.ref("name"), "policy_arn": policy.ref("arn")},
        )
        resources += [policy, attachment]
    if spec.network is not None and spec.network.private_nodes:
        # nodes without a public address are reached through SSM Session Manager
        resources.append(
            Resource(
                "aws_iam_role_policy_attachment",
                f"{n}_ssm_core",
                {"role": role.ref("name"), "policy_arn": ssm_core_policy(spec.region)},
            )
        )
    for i, arn in enumerate((spec_block(spec) or AwsOptions()).instance_profile_policies):
        resources.append(
            Resource(
                "aws_iam_role_policy_attachment",
                f"{n}_extra_policy_{i}",
                {"role": role.ref("name"), "policy_arn": arn},
            )
        )
    return Fragment(resources=tuple(resources)), profile
