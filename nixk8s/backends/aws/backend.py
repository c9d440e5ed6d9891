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
   so the embedded config has no node_index: the shared index probe derives it at
   boot from the instance's private IPv4 address, fetched through IMDSv2 (:data:`IMDS`).

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

from collections.abc import Mapping
from typing import Any

import msgspec

from nixk8s import names
from nixk8s.backends.aws.options import AwsOptions, spec_block
from nixk8s.backends.aws import autoscaler as autoscaling
from nixk8s.backends.aws.balancer import API_PORT, LB_NAME_LIMIT, Balancers, api_balancers, aws_lb_name
from nixk8s.backends.aws.checks import MAX_TAG_VALUE, check, image_id
from nixk8s.backends.aws.iam import node_identity
from nixk8s.backends.aws.network import AwsNetwork, network, security_group
from nixk8s.backends.base import (
    Backend,
    BalancerHandle,
    Foundation,
    NodeHandle,
    Placed,
    RenderedNode,
    UserDataLimit,
    WorkerPool,
    builds_an_api_load_balancer,
)
from nixk8s.index_probe import MetadataFetch, SessionToken
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan
from nixk8s.spec import ClusterSpec, NodePool
from nixk8s.terraform import DataSource, Expr, Fragment, Output, ProviderRequirement, Resource, Template, Text, combine

PROVIDER = ProviderRequirement("aws", "hashicorp/aws", ">= 5.0, < 7.0")

USER_DATA_LIMIT = UserDataLimit(16_384, "AWS allows 16 KB of user_data (before base64)")
# NixOS AMIs boot from this device; the mapping resizes and encrypts that volume.
ROOT_DEVICE = "/dev/xvda"

# --- how an instance reads its private IPv4 address (the shared index probe) ---------------

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


# --- names ----------------------------------------------------------------------------


# --- the foundation: network, security group, IAM, image, API load balancer -----------------


class AwsInfra(msgspec.Struct, frozen=True):
    """Handles to what the foundation built, for the node hooks."""

    network: AwsNetwork
    security_group: Resource
    instance_profile: Resource
    image_id: Text
    balancers: Balancers
    control_plane_size: int  # instances per control-plane group: 1, or 0 when parked


def _image(plan: ClusterPlan) -> tuple[Fragment, Text]:
    """The AMI: a literal id, or the value of the SSM parameter that holds it."""
    aws = spec_block(plan.spec) or AwsOptions()
    literal = image_id(plan.spec)
    if literal is not None or not aws.ssm_ami_parameter:
        return Fragment(), literal or ""
    # an AMI id is no secret: insecure_value keeps it readable in plans
    parameter = DataSource("aws_ssm_parameter", f"{plan.name}_ami", {"name": aws.ssm_ami_parameter})
    return Fragment(data=(parameter,)), parameter.ref("insecure_value", max_len=21)


def foundation(plan: ClusterPlan) -> Foundation[AwsInfra]:
    vpc = network(plan)
    firewall = security_group(plan, vpc)
    iam, profile = node_identity(plan)
    image, ami = _image(plan)
    api, balancers = api_balancers(plan, vpc)
    handle = BalancerHandle(
        resource=f"aws_lb.{balancers.internal.name}",
        private_address=balancers.internal_dns,
        public_address=balancers.public_dns,
    )
    infra = AwsInfra(
        network=vpc,
        security_group=firewall,
        instance_profile=profile,
        image_id=ami,
        balancers=balancers,
        control_plane_size=0 if plan.parked else 1,
    )
    return Foundation(
        fragment=combine([vpc.fragment, Fragment(resources=(firewall,)), iam, image, api]),
        infra=infra,
        # every node but server 0 joins through the load balancer
        join_host=api_dns_name(infra),
        # joining nodes (and, for a public balancer, kubectl) verify the servers'
        # certificates against the balancers' names
        api_names=handle.addresses,
        balancer=handle,
        private_cidr=vpc.vpc_cidr,
        # the VPC's id when nixk8s creates it
        network_id=vpc.vpc_id if vpc.created_vpc is not None else None,
    )


def api_dns_name(infra: AwsInfra) -> Expr:
    """The internal API load balancer's DNS name, where every node joins."""
    return infra.balancers.internal_dns


def provider_config(plan: ClusterPlan) -> dict[str, Any]:
    return {"region": plan.spec.region}


# --- launch templates and autoscaling groups --------------------------------------------


def user_data_local(name: str) -> str:
    """The Terraform local holding a node's user_data script."""
    return f"{name}_user_data"


def _key_name(spec: ClusterSpec, pool: NodePool) -> str | None:
    if pool.ssh_keys:
        return pool.ssh_keys[0]
    return (spec_block(spec) or AwsOptions()).key_pair


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
        "tags": plan.tag_map(Name=f"{name.replace('_', '-')}-lt"),
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


def control_plane_node(plan: ClusterPlan, infra: AwsInfra, node: RenderedNode) -> Placed:
    """Server ``i``: its own template and a group of one, behind the API target group."""
    pool = plan.spec.system_pool
    instance_tags = plan.tag_map(
        Name=names.dns_name(node.name, MAX_TAG_VALUE), Role="control-plane", NodePool=pool.name, NodeIndex=node.ordinal
    )
    template = _launch_template(plan, infra, node.name, pool, instance_tags)
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
    template = _launch_template(plan, infra, node.name, spec_pool, instance_tags)
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


# --- outputs and notes -------------------------------------------------------------------


def outputs(plan: ClusterPlan, infra: AwsInfra, servers: tuple[NodeHandle, ...]) -> Fragment:
    dns = api_dns_name(infra)
    public = infra.balancers.public_dns
    groups = [Expr(f"{server.resource}.name") for server in servers]
    addresses = {
        names.dns_name(names.control_plane_node(plan.name, i)): {"autoscaling_group": group, "load_balancer": dns}
        for i, group in enumerate(groups)
    }
    return Fragment(
        outputs=(
            Output(
                "api_endpoint",
                Template.of("https://", dns if public is None else public, f":{API_PORT}"),
                "Kubernetes API through the internal load balancer (reachable from inside the VPC)"
                if public is None
                else "Kubernetes API through the internet-facing load balancer (open to access.api_sources)",
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


def notes(plan: ClusterPlan, infra: AwsInfra) -> tuple[str, ...]:
    spec = plan.spec
    if infra.balancers.public is None:
        exposure = (
            "the API load balancer is internal: the Kubernetes API is reachable from inside the VPC "
            "(or a peered network or VPN) only; port 6443 is open to the VPC for the nodes that join through it"
        )
    else:
        exposure = (
            "nodes join through the internal load balancer; an internet-facing one serves the API, its "
            "security group admitting access.api_sources only (AWS enforces them at the balancer)"
        )
    result = [
        exposure,
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
    autoscaled = [pool.name for _, pool in spec.worker_pools if pool.autoscale]
    if autoscaled:
        result.append(autoscaling.note(spec.name, autoscaled))
    if plan.user_data_format == "cloud-config":
        result.append(
            "user_data_format is cloud-config: kindling's EC2 init mode rejects #cloud-config, "
            "so every node needs kindling's legacyBootstrap mode (cloud-init writes the file)"
        )
    if infra.control_plane_size == 0:
        result.append("the system pool's min_size is 0: the cluster is parked (infrastructure kept, no instances)")
    balancer_names = ("cp", "api") if infra.balancers.public is not None else ("cp",)
    for long_name in (f"{spec.name}-{b}-{kind}" for b in balancer_names for kind in ("nlb", "tg")):
        if aws_lb_name(long_name) != long_name:
            result.append(
                f'"{long_name}" is longer than AWS allows ({LB_NAME_LIMIT}); it is named "{aws_lb_name(long_name)}"'
            )
    if spec.network is None:
        aws = spec_block(spec) or AwsOptions()
        if aws.vpc_id:
            result.append(f"existing VPC {aws.vpc_id}: private ports are open to its primary CIDR block only")
            if infra.balancers.public is not None:
                result.append(
                    "the internet-facing API balancer sits in the nodes' subnets: they must route to an internet gateway"
                )
        else:
            result.append("no network and no aws.vpc_id: the nodes use the region's default VPC and its default subnets")
    return tuple(result)


AWS: Backend[AwsInfra] = Backend(
    name="aws",
    title="AWS",
    provider=PROVIDER,
    default_format="shell",
    user_data_limit=USER_DATA_LIMIT,
    check=check,
    foundation=foundation,
    control_plane_node=control_plane_node,
    worker_pool=worker_pool,
    outputs=outputs,
    worker_index_fetch=IMDS,
    embedded_config_reader="kindling's EC2 init mode",
    api_load_balancer_required=True,
    api_load_balancer_refusal=builds_an_api_load_balancer,
    firewall_filters_network=True,
    can_park_control_plane=True,
    supports_persistent_state=True,
    pool_size_owner=autoscaling.size_owner,
    notes=notes,
    provider_config=provider_config,
)
