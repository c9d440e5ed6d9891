"""Azure's foundation: what every node stands on (resource group, VNet, NSG, NAT gateway,
the API balancers), and the handles the node hooks receive.
"""

from __future__ import annotations

import msgspec

from nixk8s.backends.azure.balancer import AzureBalancer, api_balancer, reserved_ip
from nixk8s.backends.azure.checks import image_id
from nixk8s.backends.azure.network import AzureNetwork, control_plane_ips, network, public_ip
from nixk8s.backends.azure.options import AzureOptions, spec_block
from nixk8s.backends.base import Egress, Foundation
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import Fragment, combine

# /subscriptions/<36>/resourceGroups/<90>/providers/Microsoft.Network/virtualNetworks/<64>
VNET_ID_MAX_LEN = 270


class AzureInfra(msgspec.Struct, frozen=True, kw_only=True):
    """Handles to what the foundation built, for the node hooks."""

    network: AzureNetwork
    image_id: str
    control_plane_ips: tuple[str, ...]
    options: AzureOptions
    balancer: AzureBalancer | None = None
    # network.private_nodes: no NIC has a public IP, servers included
    private: bool = False

    @property
    def zones(self) -> tuple[str, ...]:
        return self.options.zones


def foundation(plan: ClusterPlan) -> Foundation[AzureInfra]:
    spec = plan.spec
    azure = spec_block(spec)
    assert azure is not None, "the rules require an azure block"
    vnet = network(plan)
    ips = control_plane_ips(vnet.subnet_cidr, spec.control_plane_count)
    balancing, balancer = api_balancer(plan, vnet, azure.zones) if plan.api_load_balancer else (Fragment(), None)
    private = spec.network is not None and spec.network.private_nodes
    infra = AzureInfra(
        network=vnet,
        image_id=image_id(spec) or "",
        control_plane_ips=ips,
        options=azure,
        balancer=balancer,
        private=private,
    )
    return Foundation(
        fragment=combine([vnet.fragment, balancing]),
        infra=infra,
        join_host=ips[0] if balancer is None else balancer.private_ip,
        # servers are behind the internal balancer, which cannot hairpin a server's flow back to it
        server_join_host=None if balancer is None else ips[0],
        # once initialized, server 0 joins server 1 directly, for the same reason
        server_0_join_host=ips[1] if len(ips) > 1 else None,
        private_cidr=vnet.vnet_cidr,
        network_id=vnet.vnet.ref("id", max_len=VNET_ID_MAX_LEN),
        api_names=(
            *(() if private else (public_ip(plan.name, i) for i in range(spec.control_plane_count))),
            *(balancer.handle.addresses if balancer else ()),
        ),
        reserved_api_address=reserved_ip(vnet.subnet_cidr, ips),
        balancer=None if balancer is None else balancer.handle,
        # the NAT gateway takes precedence over a server's own public IP: every node leaves through it
        egress=Egress(
            via=f"the subnet's NAT gateway (azurerm_nat_gateway.{plan.name}_nat, a static public IP)",
            resources=(f"azurerm_nat_gateway.{plan.name}_nat",),
        ),
        node_access="a bastion of your own (Azure Bastion, or a jump host in the VNet or a peered one): "
        "nixk8s builds none, and the NSG admits access.ssh_sources on 22"
        if private
        else None,
    )
