"""What an AWS cluster gives back: its outputs (the API endpoint, the servers' groups, the
join server) and the notes explain prints.
"""

from __future__ import annotations

from nixk8s import names
from nixk8s.backends.aws import autoscaler as autoscaling
from nixk8s.backends.aws.balancer import API_PORT, LB_NAME_LIMIT, aws_lb_name
from nixk8s.backends.aws.foundation import AwsInfra, api_dns_name
from nixk8s.backends.aws.nodes import ROOT_DEVICE
from nixk8s.backends.aws.options import AwsOptions, spec_block
from nixk8s.backends.base import NodeHandle
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import Expr, Fragment, Output, Template


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
        + (
            "a replaced server 0 joins the others through the internal balancer (initialized)"
            if spec.initialized
            else "a replaced server 0 boots with cluster_init again until the spec says initialized: true "
            "(a single server: keep its state with persistent_state, or restore etcd)"
        ),
        f"launch templates map the root volume at {ROOT_DEVICE} (the device of NixOS AMIs)",
    ]
    if spec.worker_pools:
        result.append(
            "worker nodes take their node_index from their private IPv4 address (IMDSv2) when the user_data "
            "script runs; kindling's EC2 init mode reads the embedded config without running the script, "
            "so run kindling with legacyBootstrap on worker AMIs, or every worker boots as index 0"
        )
    if spec.distribution == "k3s" and spec.nixos.kindling_mode != "legacy-bootstrap":
        result.append(
            "k3s settings (node labels, taints, max-pods, the CIDRs, disable, etcd snapshots) reach k3s through "
            "the drop-in the user_data script writes; kindling's EC2 init mode starts k3s without running the "
            "script (amazon-init runs it later), so use legacyBootstrap (nixos.kindling_mode: legacy-bootstrap) "
            "for them to hold from k3s's first start"
        )
    if infra.snapshot_bucket is not None:
        result.append(
            f"etcd snapshots go to {infra.snapshot_bucket.resource}, which only the servers' role may use; "
            "it is kept when it holds snapshots (no force_destroy), so terraform destroy stops there until you empty it"
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
