"""Azure: Linux VMs at fixed addresses for the control plane, a scale set per worker pool.

What this backend builds, in order:

1. the network (:mod:`nixk8s.backends.azure.network`): resource group (unless
   ``azure.resource_group_name`` names one), VNet from ``vpc_cidr``, subnet, NAT
   gateway for outbound traffic, and the NSG with the port table, both associated
   with the subnet;
2. per control-plane index: ``azurerm_public_ip.N_cp_i_pip`` (Standard, static),
   ``azurerm_network_interface.N_cp_i_nic`` with a static private IP (hosts 4, 5, ...
   of the subnet: Azure reserves the first four), so that the join address is known
   at compile time, and ``azurerm_linux_virtual_machine.N_cp_i`` spread across the
   zones;
3. per worker pool: ``azurerm_linux_virtual_machine_scale_set.N_P`` (``instances`` =
   desired size, across the zones) and ``azurerm_monitor_autoscale_setting.N_P_autoscale``
   with the pool's min/max/default. One scale-set model serves every machine, so the
   embedded config has no node_index: the shared index probe derives it at boot from
   the machine's private IPv4 address, read from Azure IMDS (:data:`IMDS`);
4. the API load balancer, where the plan has one (:mod:`nixk8s.backends.azure.balancer`):
   a Standard internal ``azurerm_lb`` at a fixed address with the servers' NICs in its
   pool (and a public one for ``api_load_balancer: public``).

Every machine: the NixOS image, the admin user and SSH key from the spec, password
login off, extension operations off, and ``custom_data = base64encode(local.X)``: the
user_data is a Terraform local, so secrets given by reference interpolate at apply
time and the provider receives the base64 it requires.

Decisions:

- Azure replaces a VM whose custom_data, image or admin key changes. NixOS nodes are
  reconfigured through their flake and GitOps instead, so servers ignore those
  changes unless ``azure.replace_on_user_data_change`` is set (as on Hetzner).
- A scale set's model changes in place; the provider block turns off
  ``roll_instances_when_required``, which would otherwise reimage every worker, one by
  one, without draining. New and scaled-out workers get the new model.
- The autoscale setting's rule-less profile keeps each pool between min and max and
  owns its size, so Terraform ignores the scale set's ``instances`` after creation.
- Overprovisioning is off: Azure's extra machines would boot, join the cluster and
  then be deleted, leaving ghost nodes behind.
- Without an API load balancer, nodes join server 0's static private address. With
  one, workers join the balancer and servers ≥ 1 still join server 0 (an internal
  balancer cannot hairpin a server's own flow). kubectl reaches the servers' public
  addresses, which Azure translates onto the machines, so every server's API
  certificate names them, and the balancers' addresses.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s import names
from nixk8s.backends.azure.options import AzureOptions, spec_block
from nixk8s.backends.azure import balancer as azure_balancer
from nixk8s.backends.azure.balancer import AzureBalancer, api_balancer, members
from nixk8s.backends.azure.checks import check, image_id
from nixk8s.backends.azure.network import AzureNetwork, control_plane_ips, network
from nixk8s.backends.base import (
    Backend, Foundation, NodeHandle, Placed, RenderedNode, UserDataLimit, WorkerPool, builds_an_api_load_balancer,
)
from nixk8s.index_probe import MetadataFetch
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan
from nixk8s.spec import NodePool
from nixk8s.terraform import Expr, Fragment, Output, ProviderRequirement, Resource, Template, Text, combine, ref

PROVIDER = ProviderRequirement(
    "azurerm",
    "hashicorp/azurerm",
    ">= 4.0, < 5.0",
    # features {} is required; never reimage a scale set's workers behind the operator's back
    config={"features": {"virtual_machine_scale_set": {"roll_instances_when_required": False}}},
)
USER_DATA_LIMIT = UserDataLimit(65_535, "Azure allows 65,535 bytes of custom_data (before base64)")
API_PORT = 6443
VM_NAME_LIMIT = 64
# a scale set's computer names are the prefix and 6 characters: keep them one DNS label
COMPUTER_NAME_PREFIX_LIMIT = 57
# /subscriptions/<36>/resourceGroups/<90>/providers/Microsoft.Network/virtualNetworks/<64>
VNET_ID_MAX_LEN = 270

# --- how a machine reads its private IPv4 address (the shared index probe) ------------------

IMDS = MetadataFetch(
    service="Azure IMDS",
    url="http://169.254.169.254/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress"
    "?api-version=2021-02-01&format=text",
    header="Metadata: true",
    answer="privateIpAddress",
    network="VNet",
    bypass_proxy=True,
)


# --- names ---------------------------------------------------------------------------------


def vm_name(resource_name: str) -> str:
    """A VM's or scale set's Azure name: at most 64 characters.

    >>> vm_name("demo_cp_0")
    'demo-cp-0'
    """
    return names.dns_name(resource_name, VM_NAME_LIMIT)


def computer_name(resource_name: str) -> str:
    """A VM's host name: one DNS label (Azure forbids ``_`` in it)."""
    return names.dns_name(resource_name)


def computer_name_prefix(resource_name: str) -> str:
    """A scale set's host name prefix: at most 57 characters, ending in ``-``.

    >>> computer_name_prefix("demo_workers")
    'demo-workers-'
    """
    return names.dns_name(resource_name, COMPUTER_NAME_PREFIX_LIMIT - 1) + "-"


def user_data_local(name: str) -> str:
    """The Terraform local holding a node's user_data."""
    return f"{name}_user_data"


def public_ip(plan_name: str, i: int) -> Expr:
    """Control-plane server ``i``'s public IPv4 address (known after apply)."""
    return ref("azurerm_public_ip", f"{names.control_plane_node(plan_name, i)}_pip", "ip_address", max_len=15)


# --- the foundation ------------------------------------------------------------------------


class AzureInfra(msgspec.Struct, frozen=True, kw_only=True):
    """Handles to what the foundation built, for the node hooks."""

    network: AzureNetwork
    image_id: str
    control_plane_ips: tuple[str, ...]
    options: AzureOptions
    balancer: AzureBalancer | None = None

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
    infra = AzureInfra(
        network=vnet, image_id=image_id(spec) or "", control_plane_ips=ips, options=azure, balancer=balancer
    )
    return Foundation(
        fragment=combine([vnet.fragment, balancing]),
        infra=infra,
        join_host=ips[0] if balancer is None else balancer.private_ip,
        # servers are behind the internal balancer, which cannot hairpin a server's flow back to it
        server_join_host=None if balancer is None else ips[0],
        private_cidr=vnet.vnet_cidr,
        network_id=vnet.vnet.ref("id", max_len=VNET_ID_MAX_LEN),
        api_names=(
            *(public_ip(plan.name, i) for i in range(spec.control_plane_count)),
            *(balancer.handle.addresses if balancer else ()),
        ),
        balancer=None if balancer is None else balancer.handle,
    )


# --- machines --------------------------------------------------------------------------------


def _admin_keys(infra: AzureInfra, pool: NodePool) -> list[dict[str, str]]:
    keys = dict.fromkeys([infra.options.admin_ssh_public_key.strip(), *(k.strip() for k in pool.ssh_keys)])
    return [{"username": infra.options.admin_username, "public_key": key} for key in keys]


def _machine(infra: AzureInfra, name: str, pool: NodePool) -> dict[str, Any]:
    """What a VM and a scale set share: placement, image, login, custom_data, hardening."""
    return {
        "location": infra.network.location,
        "resource_group_name": infra.network.resource_group_name,
        "admin_username": infra.options.admin_username,
        "disable_password_authentication": True,
        "admin_ssh_key": _admin_keys(infra, pool),
        "source_image_id": infra.image_id,
        "custom_data": Expr(f"base64encode(local.{user_data_local(name)})"),
        "encryption_at_host_enabled": infra.options.encryption_at_host,
        # the serial log shows why an image failed to provision
        "boot_diagnostics": [{}],
    }


def _os_disk(infra: AzureInfra, pool: NodePool) -> dict[str, Any]:
    return {"caching": "ReadWrite", "storage_account_type": infra.options.os_disk_type, "disk_size_gb": pool.disk_size_gb}


def _server_ignores(infra: AzureInfra) -> dict[str, Any]:
    if infra.options.replace_on_user_data_change:
        return {}
    return {"lifecycle": {"ignore_changes": ["custom_data", "source_image_id", "admin_ssh_key"]}}


def control_plane_node(plan: ClusterPlan, infra: AzureInfra, node: RenderedNode) -> Placed:
    """Server ``i``: a public IP, a NIC at its fixed address, and the VM in zone ``i mod n``."""
    i = int(node.ordinal)  # servers are never stamped: their ordinal is a number
    pool = plan.spec.system_pool
    zone = infra.zones[i % len(infra.zones)] if infra.zones else None
    placed = {"location": infra.network.location, "resource_group_name": infra.network.resource_group_name}
    address = Resource(
        "azurerm_public_ip",
        f"{node.name}_pip",
        {
            "name": f"{vm_name(node.name)}-pip",
            **placed,
            "allocation_method": "Static",
            "sku": "Standard",
            **({"zones": [zone]} if zone else {}),
            "tags": plan.tag_map(),
        },
    )
    nic = Resource(
        "azurerm_network_interface",
        f"{node.name}_nic",
        {
            "name": f"{vm_name(node.name)}-nic",
            **placed,
            "ip_configuration": [
                {
                    "name": "primary",
                    "primary": True,
                    "subnet_id": infra.network.subnet.ref("id"),
                    "private_ip_address_allocation": "Static",
                    "private_ip_address": infra.control_plane_ips[i],
                    "private_ip_address_version": "IPv4",
                    "public_ip_address_id": address.ref("id"),
                }
            ],
            "tags": plan.tag_map(),
        },
    )
    vm = Resource(
        "azurerm_linux_virtual_machine",
        node.name,
        {
            "name": vm_name(node.name),
            "computer_name": computer_name(node.name),
            **_machine(infra, node.name, pool),
            "size": pool.instance_type,
            **({"zone": zone} if zone else {}),
            "network_interface_ids": [nic.ref("id")],
            "os_disk": [{"name": f"{vm_name(node.name)}-osdisk", **_os_disk(infra, pool)}],
            "allow_extension_operations": False,
            "tags": plan.tag_map(Role="control-plane", NodePool=pool.name, NodeIndex=str(i)),
            **_server_ignores(infra),
            "depends_on": list(infra.network.ready),
        },
    )
    fragment = Fragment(resources=(address, nic, vm), locals=((user_data_local(node.name), node.user_data),))
    handle = NodeHandle(
        resource=f"azurerm_linux_virtual_machine.{node.name}",
        private_ip=infra.control_plane_ips[i],
        public_ip=address.ref("ip_address", max_len=15),
    )
    return Placed(fragment, (handle,))


def post_instance(plan: ClusterPlan, infra: AzureInfra, node: RenderedNode) -> Fragment:
    """A server's NIC in the API balancers' pools."""
    return Fragment() if infra.balancer is None else members(infra.balancer, node.name)


def worker_pool(plan: ClusterPlan, infra: AzureInfra, pool: WorkerPool) -> Placed:
    """One scale set and its autoscale setting; machines read their index at boot."""
    (node,) = pool.nodes
    spec_pool = pool.pool
    # the servers' NICs claim their fixed addresses before any worker takes one from the
    # subnet, and workers join through a balancer with servers behind it
    count = plan.spec.control_plane_count
    server_nics = [f"azurerm_network_interface.{names.control_plane_node(plan.name, i)}_nic" for i in range(count)]
    if infra.balancer is not None:
        server_nics += azure_balancer.ready(infra.balancer, plan.name, count)
    scale_set = Resource(
        "azurerm_linux_virtual_machine_scale_set",
        node.name,
        {
            "name": vm_name(node.name),
            "computer_name_prefix": computer_name_prefix(node.name),
            **_machine(infra, node.name, spec_pool),
            "sku": spec_pool.instance_type,
            "instances": spec_pool.desired,
            **({"zones": list(infra.zones)} if infra.zones else {}),
            "upgrade_mode": "Manual",
            "overprovision": False,
            # more than 100 instances, and no reason to cap a pool below that
            "single_placement_group": False,
            "os_disk": [_os_disk(infra, spec_pool)],
            "network_interface": [
                {
                    "name": "primary",
                    "primary": True,
                    "ip_configuration": [
                        {"name": "primary", "primary": True, "subnet_id": infra.network.subnet.ref("id"), "version": "IPv4"}
                    ],
                }
            ],
            "extension_operations_enabled": False,
            "tags": plan.tag_map(Role="worker", NodePool=spec_pool.name),
            # the autoscale setting owns the pool's size after creation
            "lifecycle": {"ignore_changes": ["instances"]},
            "depends_on": [*infra.network.ready, *server_nics],
        },
    )
    autoscale = Resource(
        "azurerm_monitor_autoscale_setting",
        f"{node.name}_autoscale",
        {
            "name": f"{vm_name(node.name)}-autoscale",
            "location": infra.network.location,
            "resource_group_name": infra.network.resource_group_name,
            "target_resource_id": scale_set.ref("id"),
            "enabled": True,
            "profile": [
                {
                    "name": "default",
                    "capacity": [
                        {"minimum": spec_pool.min_size, "maximum": spec_pool.max_size, "default": spec_pool.desired}
                    ],
                }
            ],
            "tags": plan.tag_map(NodePool=spec_pool.name),
        },
    )
    fragment = Fragment(resources=(scale_set, autoscale), locals=((user_data_local(node.name), node.user_data),))
    return Placed(fragment, (NodeHandle(resource=f"azurerm_linux_virtual_machine_scale_set.{node.name}"),))


# --- outputs and notes -------------------------------------------------------------------------


def outputs(plan: ClusterPlan, infra: AzureInfra, servers: tuple[NodeHandle, ...]) -> Fragment:
    addresses = {
        vm_name(names.control_plane_node(plan.name, i)): {"private_ip": server.private_ip, "public_ipv4": server.public_ip}
        for i, server in enumerate(servers)
    }
    balancer = infra.balancer
    endpoint: Text = servers[0].public_ip or ""
    reached = "Kubernetes API of server 0 (its public IPv4 address)"
    join = infra.control_plane_ips[0]
    joined = "the address nodes join the cluster through (server 0's static private address)"
    if balancer is not None:
        endpoint = balancer.public_address or balancer.private_ip
        where = "public load balancer" if balancer.public else "internal load balancer (from inside the VNet, or a VPN)"
        reached = f"Kubernetes API through the {where}"
        join, joined = balancer.private_ip, "the address workers join through (servers after the first join server 0)"
    return Fragment(
        outputs=(
            Output("api_endpoint", Template.of("https://", endpoint, f":{API_PORT}"), reached),
            Output("control_plane_addresses", addresses, "private and public addresses of each control-plane server"),
            Output("join_server", join_server(plan.spec.distribution, join), joined),
        )
    )


def notes(plan: ClusterPlan, infra: AzureInfra) -> tuple[str, ...]:
    spec = plan.spec
    options = infra.options
    result = [
        "the image must run an Azure provisioning agent that reports the machine ready (NixOS: "
        "virtualisation.azure.agent.enable, waagent) and cloud-init with the Azure datasource, which "
        "runs custom_data",
        "kindling must wait for cloud-init to write the file (its default off EC2, or legacyBootstrap): "
        "its EC2 init mode reads EC2 user-data, which Azure machines do not have",
        "terraform needs the subscription: set ARM_SUBSCRIPTION_ID (or log in with az login)",
        "outbound traffic leaves through the NAT gateway (the subnet's default outbound access is off); "
        "the NSG's last rule (4096) denies traffic inside the VNet to any port the port table does not open",
    ]
    if infra.balancer is None:
        result.append(
            f"nodes join server 0 at {infra.control_plane_ips[0]} (a static private address; "
            "no API load balancer): while server 0 is down, no node can join"
        )
    else:
        result += azure_balancer.notes(infra.balancer, infra.control_plane_ips[0], spec.distribution)
    if spec.worker_pools:
        result.append(
            "worker nodes take their node_index from their private IPv4 address (Azure IMDS) when "
            "custom_data runs, and the config file appears only then"
        )
        result.append(
            "scale-set model changes (custom_data, image, size) reach new and scaled-out workers only: "
            "existing workers are never reimaged by terraform; reimage them deliberately"
        )
    if options.replace_on_user_data_change:
        result.append("servers are replaced when their custom_data, image or admin SSH key change")
    else:
        result.append(
            "servers ignore changes to custom_data, image and admin SSH key (reconfigure through the flake "
            "and GitOps); set azure.replace_on_user_data_change to replace them instead"
        )
    if options.encryption_at_host:
        result.append(
            "encryption at host needs the subscription feature Microsoft.Compute/EncryptionAtHost "
            "(az feature register --namespace Microsoft.Compute --name EncryptionAtHost) and a VM size that supports it"
        )
    if infra.zones:
        result.append(f"servers are spread over zones {', '.join(infra.zones)}; changing azure.zones replaces servers")
    else:
        result.append("no availability zones (azure.zones is empty): machines are placed anywhere in the region")
    for _, pool in spec.worker_pools:
        resource = names.worker_template(plan.name, pool.name)
        long_name = resource.replace("_", "-")
        if vm_name(resource) != long_name or computer_name_prefix(resource) != long_name + "-":
            result.append(
                f'scale set "{long_name}" is named "{vm_name(resource)}" with host names starting '
                f'"{computer_name_prefix(resource)}" (Azure allows {VM_NAME_LIMIT} and {COMPUTER_NAME_PREFIX_LIMIT})'
            )
    return tuple(result)


def autoscale_setting_owns_size(pool: NodePool) -> str:
    """Every scale set has an autoscale setting: it owns the size after creation."""
    return "Azure's autoscale setting (Terraform sets the scale set's instances at creation only)"


AZURE: Backend[AzureInfra] = Backend(
    name="azure",
    title="Azure",
    provider=PROVIDER,
    default_format="cloud-config",
    user_data_limit=USER_DATA_LIMIT,
    check=check,
    foundation=foundation,
    control_plane_node=control_plane_node,
    post_instance=post_instance,
    worker_pool=worker_pool,
    outputs=outputs,
    worker_index_fetch=IMDS,
    pool_size_owner=autoscale_setting_owns_size,
    api_load_balancer_refusal=builds_an_api_load_balancer,
    # nodes join from inside the VNet (server 0 or the balancer), and the NSG filters traffic inside it
    firewall_filters_network=True,
    notes=notes,
)
