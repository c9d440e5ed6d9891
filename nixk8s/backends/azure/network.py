"""The Azure network: resource group, VNet, subnet, NAT gateway and security group.

``azurerm_resource_group.N_rg`` (unless ``azure.resource_group_name`` names an existing
group), ``azurerm_virtual_network.N_vnet`` from ``vpc_cidr``, ``azurerm_subnet.N_subnet``,
a NAT gateway for outbound traffic (``azurerm_nat_gateway.N_nat`` with the static
``azurerm_public_ip.N_nat_pip``, associated with the subnet), and
``azurerm_network_security_group.N_nsg`` with the port table, associated with the subnet.

Decisions:

- Outbound traffic leaves through the NAT gateway. Workers have no public address,
  and Azure is retiring default outbound access, so the subnet turns it off
  (``default_outbound_access_enabled = false``) rather than depend on it. A NAT
  gateway takes precedence over a machine's own public IP, so servers use it too.
- Azure's default rules let the whole VNet (and every peered network and gateway)
  reach every port. The port table's private rows would then be decorative, so the
  last custom priority, 4096, denies traffic from ``VirtualNetwork`` to anything the
  rules above do not allow. Health probes of Azure load balancers come from the
  ``AzureLoadBalancer`` service tag (168.63.129.16); with an API load balancer, an
  explicit rule admits it to 6443 above the deny, so that the probes never depend on
  whether Azure counts the tag inside ``VirtualNetwork`` (its rule 65001 comes after
  the deny).
- Rules are inline (authoritative: Terraform removes rules added out of band) with
  priorities 100, 110, ... in port-table order. A row whose sources mix IPv4 and IPv6
  becomes two rules (``NAME`` and ``NAME-v6``): Azure refuses mixed families in one rule.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s import names, netaddr
from nixk8s.backends.azure.options import spec_block
from nixk8s.plan import ClusterPlan
from nixk8s.ports import PortRule, rule_sources
from nixk8s.spec import ClusterSpec, Network
from nixk8s.terraform import Expr, Fragment, Resource, Text, ref

# Azure reserves the first four addresses of a subnet (and the last): servers start here.
FIRST_CONTROL_PLANE_HOST = 4
FIRST_PRIORITY = 100
PRIORITY_STEP = 10
DENY_PRIORITY = 4096
# allow rules at 100, 110, ... stay below the deny rule
MAX_ALLOW_RULES = (DENY_PRIORITY - FIRST_PRIORITY - 1) // PRIORITY_STEP + 1
MAX_RULE_PREFIXES = 4000
ANY = ("0.0.0.0/0", "::/0")

# the API load balancer's health probes, from Azure's own service tag
PROBE_SOURCE = "AzureLoadBalancer"
PROBE = PortRule("api_lb_probe", 6443, 6443, "tcp", "api", "API load balancer health probes to the Kubernetes API")

_PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp"}


def azure_network(spec: ClusterSpec) -> Network:
    """The spec's ``network``, else the default one: an Azure VM always sits in a VNet."""
    return spec.network or Network()


def _rule(name: str, priority: int, rule: PortRule | None, sources: tuple[str, ...], description: str) -> dict[str, Any]:
    # an inline rule is an object attribute: Terraform JSON wants every one of its fields
    single = sources[0] if len(sources) == 1 else None
    return {
        "name": name,
        "priority": priority,
        "direction": "Inbound",
        "access": "Allow" if rule is not None else "Deny",
        "protocol": _PROTOCOLS[rule.protocol] if rule is not None else "*",
        "source_port_range": "*",
        "source_port_ranges": None,
        "destination_port_range": (rule.port_range or "*") if rule is not None else "*",
        "destination_port_ranges": None,
        "source_address_prefix": single,
        "source_address_prefixes": None if single is not None else list(sources),
        "destination_address_prefix": "*",
        "destination_address_prefixes": None,
        "source_application_security_group_ids": None,
        "destination_application_security_group_ids": None,
        "description": description,
    }


def by_family(sources: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Sources as (name suffix, prefixes) per rule: ``*`` for anyone, else IPv4 and IPv6 apart.

    >>> by_family(("0.0.0.0/0", "::/0"))
    (('', ('*',)),)
    >>> by_family(("203.0.113.0/24", "2001:db8::/32"))
    (('', ('203.0.113.0/24',)), ('-v6', ('2001:db8::/32',)))
    """
    if all(a in sources for a in ANY):
        return (("", ("*",)),)
    ipv4 = tuple(s for s in sources if ":" not in s)
    ipv6 = tuple(s for s in sources if ":" in s)
    return tuple((suffix, group) for suffix, group in (("", ipv4), ("-v6", ipv6)) if group)


def _literal(sources: tuple[Text, ...]) -> tuple[str, ...]:
    assert all(isinstance(s, str) for s in sources), "Azure rule sources are literal CIDRs"
    return tuple(str(s) for s in sources)


def security_rules(plan: ClusterPlan, vnet_cidr: str) -> list[dict[str, Any]]:
    """The port table as NSG rules (100, 110, ...), the API balancer's probes, then the VNet deny at 4096."""
    rules: list[dict[str, Any]] = []
    for row in plan.ports:
        allowed = rule_sources(
            row,
            plan.spec.access,
            vnet_cidr,
            api_from_network=plan.api_from_network,
        )
        for suffix, group in by_family(_literal(allowed)):
            priority = FIRST_PRIORITY + PRIORITY_STEP * len(rules)
            description = row.description + (" (IPv6 sources)" if suffix else "")
            rules.append(_rule(row.name.replace("_", "-") + suffix, priority, row, group, description))
    if plan.api_load_balancer is not None:
        priority = FIRST_PRIORITY + PRIORITY_STEP * len(rules)
        rules.append(_rule("api-lb-probe", priority, PROBE, (PROBE_SOURCE,), PROBE.description))
    deny = "traffic inside the VNet to any port not allowed above (overrides Azure's AllowVnetInBound)"
    rules.append(_rule("deny-vnet-inbound", DENY_PRIORITY, None, ("VirtualNetwork",), deny))
    return rules


class AzureNetwork(msgspec.Struct, frozen=True, kw_only=True):
    """Where the nodes live, and what must exist before any of them boots."""

    fragment: Fragment
    resource_group_name: Text
    location: Text
    vnet: Resource
    subnet: Resource
    vnet_cidr: str
    subnet_cidr: str
    # the security group and outbound path: nodes depend on them, so none boots
    # unprotected or without a way out
    ready: tuple[str, ...]


def _resource_group(plan: ClusterPlan) -> tuple[tuple[Resource, ...], Text, Text]:
    """The group the resources go in (created unless the spec names one), its name and location."""
    given = block.resource_group_name if (block := spec_block(plan.spec)) else None
    if given is not None:
        return (), given, plan.spec.region
    n = plan.name
    group = Resource(
        "azurerm_resource_group", f"{n}_rg", {"name": f"{n}-rg", "location": plan.spec.region, "tags": plan.tag_map()}
    )
    return (group,), group.ref("name", max_len=90), group.ref("location")


def network(plan: ClusterPlan) -> AzureNetwork:
    n = plan.name
    net = azure_network(plan.spec)
    groups, group_name, location = _resource_group(plan)
    placed = {"location": location, "resource_group_name": group_name}
    tags = plan.tag_map()
    vnet = Resource(
        "azurerm_virtual_network",
        f"{n}_vnet",
        {"name": f"{n}-vnet", **placed, "address_space": [net.vpc_cidr], "tags": tags},
    )
    subnet = Resource(
        "azurerm_subnet",
        f"{n}_subnet",
        {
            "name": f"{n}-subnet",
            "resource_group_name": group_name,
            "virtual_network_name": vnet.ref("name"),
            "address_prefixes": [net.subnet],
            "default_outbound_access_enabled": False,
        },
    )
    nsg = Resource(
        "azurerm_network_security_group",
        f"{n}_nsg",
        {"name": f"{n}-nsg", **placed, "security_rule": security_rules(plan, net.vpc_cidr), "tags": tags},
    )
    nsg_association = Resource(
        "azurerm_subnet_network_security_group_association",
        f"{n}_nsg_assoc",
        {"subnet_id": subnet.ref("id"), "network_security_group_id": nsg.ref("id")},
    )
    nat_ip = Resource(
        "azurerm_public_ip",
        f"{n}_nat_pip",
        {"name": f"{n}-nat-pip", **placed, "allocation_method": "Static", "sku": "Standard", "tags": tags},
    )
    nat = Resource(
        "azurerm_nat_gateway",
        f"{n}_nat",
        {"name": f"{n}-nat", **placed, "sku_name": "Standard", "idle_timeout_in_minutes": 4, "tags": tags},
    )
    nat_ip_association = Resource(
        "azurerm_nat_gateway_public_ip_association",
        f"{n}_nat_pip_assoc",
        {"nat_gateway_id": nat.ref("id"), "public_ip_address_id": nat_ip.ref("id")},
    )
    nat_association = Resource(
        "azurerm_subnet_nat_gateway_association",
        f"{n}_subnet_nat",
        {"subnet_id": subnet.ref("id"), "nat_gateway_id": nat.ref("id")},
    )
    resources = (*groups, vnet, subnet, nsg, nsg_association, nat_ip, nat, nat_ip_association, nat_association)
    return AzureNetwork(
        fragment=Fragment(resources=resources),
        resource_group_name=group_name,
        location=location,
        vnet=vnet,
        subnet=subnet,
        vnet_cidr=net.vpc_cidr,
        subnet_cidr=net.subnet,
        ready=tuple(f"{r.type}.{r.name}" for r in (nsg_association, nat_ip_association, nat_association)),
    )


def control_plane_ips(subnet: str, count: int) -> tuple[str, ...]:
    """The servers' fixed private addresses: hosts 4, 5, ... of the subnet.

    >>> control_plane_ips("10.0.1.0/24", 3)
    ('10.0.1.4', '10.0.1.5', '10.0.1.6')
    """
    return tuple(str(netaddr.host(subnet, FIRST_CONTROL_PLANE_HOST + i)) for i in range(count))


def public_ip(plan_name: str, i: int) -> Expr:
    """Control-plane server ``i``'s public IPv4 address (known after apply)."""
    return ref("azurerm_public_ip", f"{names.control_plane_node(plan_name, i)}_pip", "ip_address", max_len=15)
