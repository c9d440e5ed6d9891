"""AWS's foundation: what every node stands on (network, security group, IAM, the image,
the API load balancers), and the handles the node hooks receive.
"""

from __future__ import annotations

import msgspec

from nixk8s.backends.aws.balancer import Balancers, api_balancers
from nixk8s.backends.aws.checks import image_id
from nixk8s.backends.aws.iam import node_identity
from nixk8s.backends.aws.snapshots import snapshot_store
from nixk8s.backends.aws.network import AwsNetwork, network, security_group
from nixk8s.backends.aws.options import AwsOptions, spec_block
from nixk8s.backends.base import BalancerHandle, Egress, Foundation
from nixk8s.etcd_snapshots import SnapshotBucket, made_bucket_wanted
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import DataSource, Expr, Fragment, Resource, Text, combine


class AwsInfra(msgspec.Struct, frozen=True):
    """Handles to what the foundation built, for the node hooks."""

    network: AwsNetwork
    security_group: Resource
    instance_profile: Resource  # the workers'
    server_profile: Resource  # the servers': their own where they may use the snapshot bucket
    image_id: Text
    balancers: Balancers
    control_plane_size: int  # instances per control-plane group: 1, or 0 when parked
    snapshot_bucket: SnapshotBucket | None = None  # where the spec's etcd snapshots go, when nixk8s made it


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
    store = snapshot_store(plan) if made_bucket_wanted(plan.spec) else None
    identities = node_identity(plan, store.server_policies if store is not None else {})
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
        instance_profile=identities.worker_profile,
        server_profile=identities.server_profile,
        image_id=ami,
        balancers=balancers,
        control_plane_size=0 if plan.parked else 1,
        snapshot_bucket=store.bucket if store is not None else None,
    )
    return Foundation(
        fragment=combine(
            [
                vpc.fragment,
                Fragment(resources=(firewall,)),
                identities.fragment,
                image,
                api,
                *([store.fragment] if store is not None else []),
            ]
        ),
        infra=infra,
        # every node but server 0 joins through the load balancer
        join_host=api_dns_name(infra),
        # and server 0 too once the cluster is initialized: with client-IP preservation off
        # the balancer hairpins, and it routes to healthy servers, never to a booting one
        server_0_join_host=api_dns_name(infra),
        # joining nodes (and, for a public balancer, kubectl) verify the servers'
        # certificates against the balancers' names
        api_names=handle.addresses,
        balancer=handle,
        private_cidr=vpc.vpc_cidr,
        # the VPC's id when nixk8s creates it
        network_id=vpc.vpc_id if vpc.created_vpc is not None else None,
        egress=None
        if not vpc.nat_gateways
        else Egress(
            via=f"NAT gateway{'s' if len(vpc.nat_gateways) > 1 else ''} in the public subnets "
            f"({'one per zone' if len(vpc.nat_gateways) > 1 else 'one for every zone: aws.nat single'}), "
            "by each zone's private route table",
            resources=vpc.nat_gateways,
        ),
        node_access=None
        if not vpc.nat_gateways
        else "SSM Session Manager (aws ssm start-session --target INSTANCE_ID): the nodes' role has "
        "AmazonSSMManagedInstanceCore, and the SSM agent must run on the AMI",
        snapshot_bucket=infra.snapshot_bucket,
    )


def api_dns_name(infra: AwsInfra) -> Expr:
    """The internal API load balancer's DNS name, where every node joins."""
    return infra.balancers.internal_dns
