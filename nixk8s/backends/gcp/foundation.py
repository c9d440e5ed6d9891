"""GCP's foundation: what every node stands on (network, firewall, the nodes' service
account, the API balancer), and the handles the node hooks receive.
"""

from __future__ import annotations

import msgspec

from nixk8s import names, netaddr
from nixk8s.backends.base import Egress, Foundation
from nixk8s.backends.gcp.balancer import Balancer, api_balancer, reserved_ip
from nixk8s.backends.gcp.checks import (
    BASE_ROLES,
    FIRST_CONTROL_PLANE_HOST,
    image,
    network,
    options,
    role_suffix,
    zones,
)
from nixk8s.backends.gcp.network import IAP_RANGE, NETWORK_ID_MAX_LEN, GcpNetwork, gcp_network
from nixk8s.plan import ClusterPlan, lowercased_tags
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import Fragment, Resource, Template

# a service account id is at most 30 characters
ACCOUNT_ID_LIMIT = 30


def account_id(cluster: str) -> str:
    """The service account's id: 6-30 characters (the cluster name has at least 2).

    >>> account_id("demo"), account_id("a-rather-long-production-cluster")
    ('demo-nodes', 'a-rather-long-product-4f84c95a')
    """
    return names.shortened(f"{cluster}-nodes", ACCOUNT_ID_LIMIT)


def node_identity(plan: ClusterPlan) -> tuple[Fragment, Resource]:
    """``google_service_account.N_nodes`` with logging and monitoring write roles, and the spec's."""
    n = plan.name
    gcp = options(plan.spec)
    account = Resource(
        "google_service_account",
        f"{n}_nodes",
        {
            "account_id": account_id(n),
            "display_name": f"Kubernetes nodes of cluster {n}",
            "description": "managed by nixk8s",
        },
    )
    # the email is ACCOUNT_ID@PROJECT.iam.gserviceaccount.com
    member = Template.of("serviceAccount:", account.ref("email", max_len=ACCOUNT_ID_LIMIT + 60))
    grants = tuple(
        Resource(
            "google_project_iam_member",
            f"{n}_nodes_{role_suffix(role)}",
            {"project": gcp.project, "role": role, "member": member},
        )
        for role in (*BASE_ROLES, *gcp.service_account_roles)
    )
    return Fragment(resources=(account, *grants)), account


class GcpInfra(msgspec.Struct, frozen=True):
    """Handles to what the foundation built, for the node hooks."""

    network: GcpNetwork
    service_account: Resource
    grants: tuple[str, ...]  # IAM member addresses: machines boot once their roles exist
    image: str
    zones: tuple[str, ...]
    control_plane_ips: tuple[str, ...]
    labels: dict[str, str]
    control_plane_tag: str
    balancer: Balancer | None = None


def control_plane_ips(spec: ClusterSpec) -> tuple[str, ...]:
    """Each server's static internal address: hosts 10, 11, ... of the subnet."""
    subnet = network(spec).subnet
    found = tuple(netaddr.host(subnet, FIRST_CONTROL_PLANE_HOST + i) for i in range(spec.control_plane_count))
    assert all(found), "the subnet was checked to have room (gcp_checks._subnet_problems)"
    return tuple(ip for ip in found if ip is not None)


def foundation(plan: ClusterPlan) -> Foundation[GcpInfra]:
    spec = plan.spec
    net = gcp_network(plan)
    identity, account = node_identity(plan)
    ips = control_plane_ips(spec)
    label_map = lowercased_tags(spec)
    control_plane_tag = names.dns_name(f"{plan.name}-cp")
    balancer = (
        api_balancer(plan, net.network, net.subnet, label_map, control_plane_tag) if plan.api_load_balancer else None
    )
    infra = GcpInfra(
        network=net,
        service_account=account,
        grants=tuple(f"{r.type}.{r.name}" for r in identity.resources if r.type == "google_project_iam_member"),
        image=image(spec) or "",
        zones=zones(spec),
        control_plane_ips=ips,
        labels=label_map,
        control_plane_tag=control_plane_tag,
        balancer=balancer,
    )
    return Foundation(
        fragment=Fragment(
            resources=(*net.fragment.resources, *identity.resources, *(balancer.fragment.resources if balancer else ()))
        ),
        infra=infra,
        # workers join through the balancer; servers never do: a passthrough balancer
        # answers a backend that connects to it with that backend itself (no hairpin)
        join_host=ips[0] if balancer is None else balancer.internal_ip,
        server_join_host=None if balancer is None else ips[0],
        # once initialized, server 0 joins server 1 directly, for the same reason
        server_0_join_host=ips[1] if len(ips) > 1 else None,
        private_cidr=net.vpc_cidr,
        network_id=net.network.ref("id", max_len=NETWORK_ID_MAX_LEN),
        api_names=() if balancer is None else balancer.handle.addresses,
        reserved_api_address=reserved_ip(spec, ips),
        balancer=None if balancer is None else balancer.handle,
        egress=None
        if net.nat is None
        else Egress(
            via=f"Cloud NAT (google_compute_router_nat.{net.nat.name}) for the subnet, on a Cloud Router",
            resources=(f"google_compute_router_nat.{net.nat.name}",),
        ),
        node_access=None
        if net.nat is None
        else f"IAP TCP forwarding (gcloud compute ssh NODE --tunnel-through-iap): the firewall admits {IAP_RANGE} "
        "on 22, and the operator needs roles/iap.tunnelResourceAccessor",
    )
