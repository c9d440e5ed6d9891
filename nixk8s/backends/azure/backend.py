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

from nixk8s.backends.azure.checks import check
from nixk8s.backends.azure.foundation import AzureInfra, foundation
from nixk8s.backends.azure.nodes import (
    IMDS,
    autoscale_setting_owns_size,
    control_plane_node,
    post_instance,
    worker_pool,
)
from nixk8s.backends.azure.outputs import notes, outputs
from nixk8s.backends.base import Backend, UserDataLimit, builds_an_api_load_balancer
from nixk8s.terraform import ProviderRequirement

PROVIDER = ProviderRequirement(
    "azurerm",
    "hashicorp/azurerm",
    ">= 4.0, < 5.0",
    # features {} is required; never reimage a scale set's workers behind the operator's back
    config={"features": {"virtual_machine_scale_set": {"roll_instances_when_required": False}}},
)
USER_DATA_LIMIT = UserDataLimit(65_535, "Azure allows 65,535 bytes of custom_data (before base64)")


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
    image_requirements=(
        "cloud-init with its Azure datasource, which reads custom_data and reports the machine ready "
        "(or the Azure guest agent with cloud-init as its provisioning agent)",
        "kindling in its default mode: it waits for the file the custom_data writes",
    ),
)
