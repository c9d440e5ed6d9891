"""Azure's machines: one VM per server at a fixed address with a static public IP, and a
scale set per worker pool; workers read their index from IMDS.
"""

from __future__ import annotations

from typing import Any

from nixk8s import names
from nixk8s.backends.azure import balancer as azure_balancer
from nixk8s.backends.azure.balancer import members
from nixk8s.backends.azure.foundation import AzureInfra
from nixk8s.backends.base import NodeHandle, Placed, RenderedNode, WorkerPool
from nixk8s.index_probe import MetadataFetch
from nixk8s.plan import ClusterPlan
from nixk8s.spec import NodePool
from nixk8s.terraform import Expr, Fragment, Resource

VM_NAME_LIMIT = 64


# a scale set's computer names are the prefix and 6 characters: keep them one DNS label
COMPUTER_NAME_PREFIX_LIMIT = 57


IMDS = MetadataFetch(
    service="Azure IMDS",
    url="http://169.254.169.254/metadata/instance/network/interface/0/ipv4/ipAddress/0/privateIpAddress"
    "?api-version=2021-02-01&format=text",
    header="Metadata: true",
    answer="privateIpAddress",
    network="VNet",
    bypass_proxy=True,
)


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
    i = node.ordinal
    pool = plan.spec.system_pool
    zone = infra.zones[i % len(infra.zones)] if infra.zones else None
    placed = {"location": infra.network.location, "resource_group_name": infra.network.resource_group_name}
    address = None if infra.private else Resource(
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
                    **({} if address is None else {"public_ip_address_id": address.ref("id")}),
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
    machines = (nic, vm) if address is None else (address, nic, vm)
    fragment = Fragment(resources=machines, locals=((user_data_local(node.name), node.user_data),))
    handle = NodeHandle(
        resource=f"azurerm_linux_virtual_machine.{node.name}",
        private_ip=infra.control_plane_ips[i],
        public_ip=None if address is None else address.ref("ip_address", max_len=15),
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


def autoscale_setting_owns_size(pool: NodePool) -> str:
    """Every scale set has an autoscale setting: it owns the size after creation."""
    return "Azure's autoscale setting (Terraform sets the scale set's instances at creation only)"
