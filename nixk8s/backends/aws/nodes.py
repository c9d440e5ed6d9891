"""AWS's machines: a launch template and an autoscaling group per server (a group of one,
so a lost server comes back) and per worker pool; workers read their index from IMDSv2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nixk8s import names
from nixk8s.backends.aws import autoscaler as autoscaling
from nixk8s.backends.aws.checks import MAX_TAG_VALUE
from nixk8s.backends.aws.foundation import AwsInfra
from nixk8s.backends.aws.options import AwsOptions, spec_block
from nixk8s.backends.base import NodeHandle, Placed, RenderedNode, WorkerPool
from nixk8s.index_probe import MetadataFetch, SessionToken
from nixk8s.plan import ClusterPlan
from nixk8s.spec import ClusterSpec, NodePool
from nixk8s.terraform import Expr, Fragment, Resource

# NixOS AMIs boot from this device; the mapping resizes and encrypts that volume.
ROOT_DEVICE = "/dev/xvda"


_IMDS = "http://169.254.169.254/latest"


IMDS = MetadataFetch(
    service="IMDSv2",
    url=f"{_IMDS}/meta-data/local-ipv4",
    answer="local-ipv4",
    token=SessionToken(
        url=f"{_IMDS}/api/token",
        request_header="X-aws-ec2-metadata-token-ttl-seconds: 300",
        header="X-aws-ec2-metadata-token",
    ),
)


def user_data_local(name: str) -> str:
    """The Terraform local holding a node's user_data script."""
    return f"{name}_user_data"


def _key_name(spec: ClusterSpec, pool: NodePool) -> str | None:
    if pool.ssh_keys:
        return pool.ssh_keys[0]
    return (spec_block(spec) or AwsOptions()).key_pair


def _launch_template(
    plan: ClusterPlan, infra: AwsInfra, name: str, pool: NodePool, instance_tags: dict[str, str], profile: Resource
) -> Resource:
    body: dict[str, Any] = {
        "name": f"{name.replace('_', '-')}-lt",
        "description": f"{instance_tags['Name']} (managed by nixk8s)",
        "image_id": infra.image_id,
        "instance_type": pool.instance_type,
        "user_data": Expr(f"base64encode(local.{user_data_local(name)})"),
        "update_default_version": True,
        "iam_instance_profile": {"arn": profile.ref("arn")},
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
        "tags": plan.tag_map(Name=f"{name.replace('_', '-')}-lt"),
    }
    if infra.network.public_subnet_ids is not None:
        # private nodes: the interface says outright that it takes no public address
        del body["vpc_security_group_ids"]
        body["network_interfaces"] = [
            {
                "device_index": 0,
                "associate_public_ip_address": "false",
                "delete_on_termination": "true",
                "security_groups": [infra.security_group.ref("id")],
            }
        ]
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


def control_plane_node(plan: ClusterPlan, infra: AwsInfra, node: RenderedNode) -> Placed:
    """Server ``i``: its own template and a group of one, behind the API target group."""
    pool = plan.spec.system_pool
    instance_tags = plan.tag_map(
        Name=names.dns_name(node.name, MAX_TAG_VALUE), Role="control-plane", NodePool=pool.name, NodeIndex=str(node.ordinal)
    )
    template = _launch_template(plan, infra, node.name, pool, instance_tags, infra.server_profile)
    size = infra.control_plane_size
    body = _autoscaling_group(node.name, template, infra, (size, 1, size), instance_tags)
    body["target_group_arns"] = [group.ref("arn") for group in infra.balancers.target_groups]
    group = Resource("aws_autoscaling_group", f"{node.name}_asg", body)
    fragment = Fragment(resources=(template, group), locals=((user_data_local(node.name), node.user_data),))
    return Placed(fragment, (NodeHandle(resource=f"aws_autoscaling_group.{group.name}"),))


def worker_pool(plan: ClusterPlan, infra: AwsInfra, pool: WorkerPool) -> Placed:
    """One template and one group for the whole pool; nodes read their index at boot."""
    (node,) = pool.nodes
    spec_pool = pool.pool
    instance_tags = plan.tag_map(Name=names.dns_name(node.name, MAX_TAG_VALUE), Role="worker", NodePool=spec_pool.name)
    template = _launch_template(plan, infra, node.name, spec_pool, instance_tags, infra.instance_profile)
    autoscaler = autoscaling.cluster_autoscaler_tags(plan.name, spec_pool) if spec_pool.autoscale else {}
    body = _autoscaling_group(
        node.name,
        template,
        infra,
        (spec_pool.min_size, spec_pool.max_size, spec_pool.desired),
        {**instance_tags, **autoscaler},
    )
    if spec_pool.autoscale:
        # the cluster autoscaler owns the pool's size between min and max
        body["lifecycle"] = {"ignore_changes": ["desired_capacity"]}
    group = Resource("aws_autoscaling_group", f"{node.name}_asg", body)
    fragment = Fragment(resources=(template, group), locals=((user_data_local(node.name), node.user_data),))
    return Placed(fragment, (NodeHandle(resource=f"aws_autoscaling_group.{group.name}"),))
