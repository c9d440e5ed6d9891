"""AWS's API load balancers: an internal NLB every node joins through, and for
``api_load_balancer: public`` an internet-facing one in front of the same servers.

- ``aws_lb.N_cp_nlb`` (internal) with the TCP 6443 ``aws_lb_target_group.N_cp_tg``
  and ``aws_lb_listener.N_cp_listener``: each control-plane index is a group whose
  replaced instance gets a new address, so nodes always join through it;
- public: ``aws_lb.N_api_nlb`` (internet-facing) with its own target group and
  listener (the control-plane groups register with both), and
  ``aws_security_group.N_api_sg`` on the balancer: AWS enforces
  ``access.api_sources`` at the balancer itself. It forwards to the servers from
  inside the VPC (client addresses are not kept), where the nodes' security group
  already opens the API.

Target groups do not keep the client's address: a server that reaches the API through
a balancer and lands on itself would otherwise drop the connection (NLB hairpinning).
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s import names
from nixk8s.backends.aws.network import AwsNetwork, sg_rule
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import Expr, Fragment, Resource

API_PORT = 6443
LB_NAME_LIMIT = 32
# An NLB's DNS name: internal-NAME-ID.elb.REGION.amazonaws.com, with room to spare.
NLB_DNS_MAX_LEN = 128


class Balancers(msgspec.Struct, frozen=True):
    """The API load balancers and the target groups the control-plane groups join."""

    internal: Resource
    public: Resource | None
    target_groups: tuple[Resource, ...]

    @property
    def internal_dns(self) -> Expr:
        return self.internal.ref("dns_name", max_len=NLB_DNS_MAX_LEN)

    @property
    def public_dns(self) -> Expr | None:
        return None if self.public is None else self.public.ref("dns_name", max_len=NLB_DNS_MAX_LEN)


def aws_lb_name(name: str, limit: int = LB_NAME_LIMIT) -> str:
    """``name`` as a load balancer or target group name: at most ``limit`` characters.

    >>> aws_lb_name("a-rather-long-production-cluster-name-cp-nlb")
    'a-rather-long-productio-6b3a33c4'
    """
    return names.shortened(name, limit)


def _balancer(
    plan: ClusterPlan, network: AwsNetwork, address: str, name: str, *, internal: bool, security_group: Resource | None
) -> tuple[Resource, Resource, Resource]:
    """One NLB with its TCP 6443 target group and listener."""
    lb_name, tg_name = aws_lb_name(f"{name}-nlb"), aws_lb_name(f"{name}-tg")
    body: dict[str, Any] = {
        "name": lb_name,
        "internal": internal,
        "load_balancer_type": "network",
        # an internet-facing balancer in public subnets (private nodes have their own)
        "subnets": network.subnet_ids if internal else network.balancer_subnet_ids,
        # a zone without a healthy server must still reach the others
        "enable_cross_zone_load_balancing": True,
        "tags": plan.tag_map(Name=lb_name),
    }
    if security_group is not None:
        body["security_groups"] = [security_group.ref("id")]
    nlb = Resource("aws_lb", f"{address}_nlb", body)
    target_group = Resource(
        "aws_lb_target_group",
        f"{address}_tg",
        {
            "name": tg_name,
            "port": API_PORT,
            "protocol": "TCP",
            "vpc_id": network.vpc_id,
            "target_type": "instance",
            "preserve_client_ip": "false",
            "health_check": {
                "protocol": "TCP",
                "port": str(API_PORT),
                "healthy_threshold": 3,
                "unhealthy_threshold": 3,
                "interval": 10,
            },
            "tags": plan.tag_map(Name=tg_name),
        },
    )
    listener = Resource(
        "aws_lb_listener",
        f"{address}_listener",
        {
            "load_balancer_arn": nlb.ref("arn"),
            "port": API_PORT,
            "protocol": "TCP",
            "default_action": [{"type": "forward", "target_group_arn": target_group.ref("arn")}],
            "tags": plan.tag_map(Name=f"{name}-listener"),
        },
    )
    return nlb, target_group, listener


def _public_security_group(plan: ClusterPlan, network: AwsNetwork) -> Resource:
    """Who may reach the public balancer: the spec's API sources, and out to the servers."""
    n = plan.name
    sources = tuple(plan.spec.access.api_sources)
    return Resource(
        "aws_security_group",
        f"{n}_api_sg",
        {
            "name": f"{n}-api-nlb",
            "description": f"the Kubernetes API's public load balancer of cluster {n} (managed by nixk8s)",
            "vpc_id": network.vpc_id,
            "ingress": [sg_rule(API_PORT, API_PORT, "tcp", sources, "Kubernetes API from access.api_sources")],
            "egress": [sg_rule(API_PORT, API_PORT, "tcp", (network.vpc_cidr,), "Kubernetes API on the servers")],
            "tags": plan.tag_map(Name=f"{n}-api-sg"),
        },
    )


def api_balancers(plan: ClusterPlan, network: AwsNetwork) -> tuple[Fragment, Balancers]:
    """The internal balancer every node joins through, and a public one where the plan asks."""
    n = plan.name
    internal = _balancer(plan, network, f"{n}_cp", f"{n}-cp", internal=True, security_group=None)
    if plan.api_load_balancer != "public":
        return Fragment(resources=internal), Balancers(internal[0], None, (internal[1],))
    guard = _public_security_group(plan, network)
    public = _balancer(plan, network, f"{n}_api", f"{n}-api", internal=False, security_group=guard)
    return (
        Fragment(resources=(*internal, guard, *public)),
        Balancers(internal[0], public[0], (internal[1], public[1])),
    )
