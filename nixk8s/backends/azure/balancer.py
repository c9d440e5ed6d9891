"""Azure's API load balancer: a Standard ``azurerm_lb`` in front of the servers' NICs.

What it builds, when the plan has an API load balancer:

- ``azurerm_lb.N_api_lb``: Standard, internal, one frontend on the subnet at a static
  private address fixed at compile time (the subnet's last usable host, see
  :func:`balancer_ip`), across the servers' zones;
- ``azurerm_lb_backend_address_pool.N_api_pool``, ``azurerm_lb_probe.N_api_probe``
  (TCP 6443) and ``azurerm_lb_rule.N_api_rule`` (TCP 6443 to 6443);
- per server ``azurerm_network_interface_backend_address_pool_association.N_cp_i_api_pool``
  (the server's NIC in the pool);
- with ``api_load_balancer: public``, also ``azurerm_public_ip.N_api_pip`` (Standard,
  static) and ``azurerm_lb.N_api_public_lb`` with its own pool, probe and rule
  (``..._api_public_pool``, ``..._api_public_probe``, ``..._api_public_rule``), and a
  second association per server (``N_cp_i_api_public_pool``).

Decisions:

- One load balancer is either internal or public: Azure refuses a frontend with both a
  subnet and a public IP, and a balancer mixing internal and public frontends. A NIC's
  ip configuration may sit in the pools of one internal and one public balancer, so a
  public API is a second balancer, and joins keep going through the internal one.
- Azure's balancer is a passthrough: it rewrites no source address, so the subnet's NSG
  sees every client as it is and enforces ``access.api_sources`` on the API row (unlike
  Hetzner, whose balancer a firewall cannot filter: no source list is refused here).
  Health probes come from the ``AzureLoadBalancer`` service tag; the NSG admits it to
  6443 above its VNet deny (:mod:`nixk8s.backends.azure.network`).
- An internal balancer does not hairpin: a flow from a backend VM to the frontend that
  the balancer maps back to the same VM fails. Servers are backends, so servers ≥ 1 join
  server 0's static address directly; workers are never backends and join the
  balancer. (k3s servers then talk to their own local API; kubeadm's kube-proxy on a
  server reaching the balancer may see one in n connections time out.)
- The address is the subnet's last usable host (as on Hetzner), not a low one: the
  servers take hosts 4, 5, ... upwards, and the top cannot collide with a growing
  control plane (the subnet check keeps them apart).
- The rules keep idle connections for 30 minutes and reset them after (API watches and
  k3s' agent tunnels are long-lived; Azure's default of 4 drops them silently). The public
  rule takes no outbound SNAT: traffic leaves through the NAT gateway.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s import names, netaddr
from nixk8s.backends.azure.network import AzureNetwork
from nixk8s.backends.base import BalancerHandle
from nixk8s.plan import ClusterPlan
from nixk8s.spec import Distribution
from nixk8s.terraform import Expr, Fragment, Resource, ref

API_PORT = 6443
# the NIC's ip configuration that joins the pools (azure.py names it so)
NIC_IP_CONFIGURATION = "primary"
IDLE_TIMEOUT_MINUTES = 30


class LoadBalancer(msgspec.Struct, frozen=True):
    """One ``azurerm_lb`` and what forwards the API through it."""

    load_balancer: Resource
    pool: Resource
    probe: Resource
    rule: Resource

    @property
    def resources(self) -> tuple[Resource, ...]:
        return (self.load_balancer, self.pool, self.probe, self.rule)


class AzureBalancer(msgspec.Struct, frozen=True, kw_only=True):
    """The API balancers: the internal one nodes join, and the public one if asked for."""

    internal: LoadBalancer
    private_ip: str
    public: LoadBalancer | None = None
    public_ip: Resource | None = None

    @property
    def public_address(self) -> Expr | None:
        return None if self.public_ip is None else self.public_ip.ref("ip_address", max_len=15)

    @property
    def handle(self) -> BalancerHandle:
        return BalancerHandle(
            resource=f"azurerm_lb.{self.internal.load_balancer.name}",
            private_address=self.private_ip,
            public_address=self.public_address,
        )


def balancer_ip(subnet: str) -> str:
    """The internal frontend's static address: the subnet's last usable host (Azure
    reserves the last address, and the first four).

    >>> balancer_ip("10.0.1.0/24"), balancer_ip("10.20.0.0/20")
    ('10.0.1.254', '10.20.15.254')
    """
    ip = netaddr.host(subnet, netaddr.net(subnet).num_addresses - 2)
    assert ip is not None, "an Azure subnet is a /29 or larger (checked)"
    return ip


def reserved_ip(subnet: str, server_ips: tuple[str, ...]) -> str | None:
    """The address the subnet keeps for the internal API balancer, built yet or not
    (its last usable host), where no server holds it (a subnet filled to the top has none).

    Every server's certificate names it from the first compile, so a cluster that
    grows from one server to a balanced control plane keeps valid certificates.

    >>> reserved_ip("10.0.1.0/24", ("10.0.1.4",)), reserved_ip("10.0.1.0/29", ("10.0.1.4", "10.0.1.5", "10.0.1.6"))
    ('10.0.1.254', None)
    """
    ip = balancer_ip(subnet)
    return None if ip in server_ips else ip


def _forwarding(plan: ClusterPlan, key: str, lb: Resource, frontend: str, *, public: bool) -> LoadBalancer:
    """A balancer's pool, TCP probe and TCP rule for the API."""
    n = plan.name
    pool = Resource(
        "azurerm_lb_backend_address_pool",
        f"{n}_{key}_pool",
        {"name": f"{n}-{key}-pool", "loadbalancer_id": lb.ref("id")},
    )
    probe = Resource(
        "azurerm_lb_probe",
        f"{n}_{key}_probe",
        {
            "name": f"{n}-{key}-probe",
            "loadbalancer_id": lb.ref("id"),
            "protocol": "Tcp",
            "port": API_PORT,
            "interval_in_seconds": 5,
            "number_of_probes": 2,
        },
    )
    body: dict[str, Any] = {
        "name": f"{n}-{key}-rule",
        "loadbalancer_id": lb.ref("id"),
        "frontend_ip_configuration_name": frontend,
        "protocol": "Tcp",
        "frontend_port": API_PORT,
        "backend_port": API_PORT,
        "backend_address_pool_ids": [pool.ref("id")],
        "probe_id": probe.ref("id"),
        "idle_timeout_in_minutes": IDLE_TIMEOUT_MINUTES,
        "tcp_reset_enabled": True,
        "floating_ip_enabled": False,
    }
    if public:
        body["disable_outbound_snat"] = True  # outbound leaves through the NAT gateway
    rule = Resource("azurerm_lb_rule", f"{n}_{key}_rule", body)
    return LoadBalancer(lb, pool, probe, rule)


def api_balancer(plan: ClusterPlan, network: AzureNetwork, zones: tuple[str, ...]) -> tuple[Fragment, AzureBalancer]:
    """The internal balancer at its fixed address, and the public one where the plan asks."""
    n = plan.name
    placed = {"location": network.location, "resource_group_name": network.resource_group_name}
    spread = {"zones": list(zones)} if zones else {}
    ip = balancer_ip(network.subnet_cidr)
    internal_lb = Resource(
        "azurerm_lb",
        f"{n}_api_lb",
        {
            "name": f"{n}-api-lb",
            **placed,
            "sku": "Standard",
            "frontend_ip_configuration": [
                {
                    "name": "api",
                    "subnet_id": network.subnet.ref("id"),
                    "private_ip_address_allocation": "Static",
                    "private_ip_address": ip,
                    "private_ip_address_version": "IPv4",
                    **spread,
                }
            ],
            "tags": plan.tag_map(),
        },
    )
    internal = _forwarding(plan, "api", internal_lb, "api", public=False)
    if plan.api_load_balancer != "public":
        return Fragment(resources=internal.resources), AzureBalancer(internal=internal, private_ip=ip)
    address = Resource(
        "azurerm_public_ip",
        f"{n}_api_pip",
        {
            "name": f"{n}-api-pip",
            **placed,
            "allocation_method": "Static",
            "sku": "Standard",
            **spread,
            "tags": plan.tag_map(),
        },
    )
    public_lb = Resource(
        "azurerm_lb",
        f"{n}_api_public_lb",
        {
            "name": f"{n}-api-public-lb",
            **placed,
            "sku": "Standard",
            "frontend_ip_configuration": [{"name": "api-public", "public_ip_address_id": address.ref("id")}],
            "tags": plan.tag_map(),
        },
    )
    public = _forwarding(plan, "api_public", public_lb, "api-public", public=True)
    fragment = Fragment(resources=(*internal.resources, address, *public.resources))
    return fragment, AzureBalancer(internal=internal, private_ip=ip, public=public, public_ip=address)


def members(balancer: AzureBalancer, server: str) -> Fragment:
    """Server ``server``'s NIC in the pool of each balancer."""
    balancers = (("api_pool", balancer.internal), ("api_public_pool", balancer.public))
    return Fragment(
        resources=tuple(
            Resource(
                "azurerm_network_interface_backend_address_pool_association",
                f"{server}_{suffix}",
                {
                    "network_interface_id": ref("azurerm_network_interface", f"{server}_nic", "id"),
                    "ip_configuration_name": NIC_IP_CONFIGURATION,
                    "backend_address_pool_id": lb.pool.ref("id"),
                },
            )
            for suffix, lb in balancers
            if lb is not None
        )
    )


def notes(balancer: AzureBalancer, server_0: str, distribution: Distribution) -> tuple[str, ...]:
    """What the operator should know about the balancers, for ``explain``."""
    result = [
        f"the API is behind an internal Standard load balancer at {balancer.private_ip}: workers join through it; "
        f"servers after the first join server 0 at {server_0} (an Azure internal balancer cannot send a server's "
        "own flow back to it), and every server's certificate names the balancer"
    ]
    if distribution == "kubernetes":
        result.append(
            "kubeadm's kube-proxy and other clients on a server that reach the API through the internal "
            "balancer may see one connection in n time out (the balancer cannot hairpin): point them at the "
            "local API server where it matters"
        )
    if balancer.public is not None:
        result.append(
            "a public Standard load balancer also serves the API at its own static address; Azure balancers "
            "keep the client's address, so the NSG's API rule enforces access.api_sources"
        )
    return tuple(result)


def ready(balancer: AzureBalancer, plan_name: str, servers: int) -> tuple[str, ...]:
    """What must exist before a worker joins through the internal balancer: its rule and the
    servers in its pool (a literal join address gives Terraform no dependency of its own)."""
    return (f"azurerm_lb_rule.{balancer.internal.rule.name}",) + tuple(
        f"azurerm_network_interface_backend_address_pool_association.{names.control_plane_node(plan_name, i)}_api_pool"
        for i in range(servers)
    )
