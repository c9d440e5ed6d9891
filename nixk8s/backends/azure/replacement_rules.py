"""Azure: which argument changes make Terraform replace its resources (data).

Read from ``hashicorp/terraform-provider-azurerm`` at 4.55.0: each entry names its source file
(``docs/diff.md`` says how the table was made and how to redo it).
"""

from __future__ import annotations

from nixk8s.document_diff.rules import Body, Disruption, ProviderRules, ResourceRule, block


def _scale_set_rolls(old: Body, new: Body, provider: Body) -> bool:
    """Whether the provider (or Azure) brings a scale set's instances to a changed model."""
    if new.get("upgrade_mode") in ("Automatic", "Rolling"):
        return True
    features = block(block(provider, "features"), "virtual_machine_scale_set")
    return features.get("roll_instances_when_required", True) is not False and (
        features.get("reimage_on_manual_upgrade", True) is not False
    )


def _scale_set_keeps(old: Body, new: Body, provider: Body) -> bool:
    return not _scale_set_rolls(old, new, provider)


_AZURE = "internal/services/"
_AZURE_DOCS = "website/docs/r/"
_REIMAGES = "⚠ the provider reimages every instance of the scale set, one at a time (roll_instances_when_required)"
_VMSS_MODEL = "reaches new and scaled-out instances only (roll_instances_when_required = false)"
_VMSS_MODEL_PATHS = ("custom_data", "user_data", "os_disk", "data_disk", "source_image_id", "source_image_reference", "sku", "boot_diagnostics", "extension")
_VMSS_OWNER = ("name", "resource_group_name", "location")

RULES: dict[str, ResourceRule] = {
    "azurerm_linux_virtual_machine": ResourceRule(
        source=_AZURE + "compute/linux_virtual_machine_resource.go (+ virtual_machine.go; "
        + _AZURE_DOCS + "linux_virtual_machine.html.markdown)",
        role="machine",
        replacing=(
            "name", "resource_group_name", "location", "computer_name", "admin_username", "admin_password",
            "admin_ssh_key", "custom_data", "disable_password_authentication", "source_image_id",
            "source_image_reference", "zone", "availability_set_id", "edge_zone", "eviction_policy", "priority",
            "plan", "platform_fault_domain", "provision_vm_agent", "secure_boot_enabled", "vtpm_enabled",
            "os_managed_disk_id", "os_disk.storage_account_type", "os_disk.name", "os_disk.diff_disk_settings",
            "os_disk.secure_vm_disk_encryption_set_id", "os_disk.security_encryption_type",
        ),
        disruptive=(
            *(Disruption(p, "⚠ Azure shuts the VM down and starts it again") for p in ("size", "os_disk", "max_bid_price")),
            *(
                Disruption(p, "⚠ Azure deallocates the VM for it")
                for p in (
                    "network_interface_ids", "encryption_at_host_enabled", "proximity_placement_group_id",
                    "dedicated_host_id", "dedicated_host_group_id", "capacity_reservation_group_id",
                    "disk_controller_type",
                )
            ),
        ),
    ),
    "azurerm_linux_virtual_machine_scale_set": ResourceRule(
        source=_AZURE + "compute/linux_virtual_machine_scale_set_resource.go (+ virtual_machine_scale_set_update.go)",
        role="owns-machines",
        replacing=(
            *_VMSS_OWNER, "admin_username", "admin_password", "computer_name_prefix", "upgrade_mode",
            "extension_operations_enabled", "edge_zone", "eviction_policy", "priority", "host_group_id",
            "capacity_reservation_group_id", "platform_fault_domain_count", "proximity_placement_group_id",
            "provision_vm_agent", "rolling_upgrade_policy.#", "secure_boot_enabled", "vtpm_enabled", "zone_balance",
            "plan", "additional_capabilities.ultra_ssd_enabled", "network_interface.name",
            "os_disk.storage_account_type", "os_disk.diff_disk_settings", "os_disk.disk_encryption_set_id",
            "os_disk.secure_vm_disk_encryption_set_id", "os_disk.security_encryption_type",
            "data_disk.disk_encryption_set_id", "source_image_reference.publisher", "source_image_reference.offer",
            "network_interface.ip_configuration.public_ip_address.ip_tag",
            "network_interface.ip_configuration.public_ip_address.public_ip_prefix_id",
            "network_interface.ip_configuration.public_ip_address.version", "gallery_application", "spot_restore",
        ),
        disruptive=(
            *(Disruption(p, _REIMAGES, replaces_machines=True, when=_scale_set_rolls) for p in _VMSS_MODEL_PATHS),
            *(Disruption(p, _VMSS_MODEL, when=_scale_set_keeps) for p in _VMSS_MODEL_PATHS),
        ),
        replaced_note="Azure deletes the scale set's instances and creates new ones",
    ),
    "azurerm_network_interface": ResourceRule(
        source=_AZURE + "network/network_interface_resource.go",
        replacing=("name", "resource_group_name", "location", "edge_zone"),
        replaced_note="its VM's network_interface_ids change, which deallocates the VM",
    ),
    "azurerm_public_ip": ResourceRule(
        source=_AZURE_DOCS + "public_ip.html.markdown",
        replacing=(
            "name", "resource_group_name", "location", "zones", "sku", "sku_tier", "ip_version", "ip_tags",
            "public_ip_prefix_id", "edge_zone",
        ),
        replaced_note="the address changes",
    ),
    "azurerm_monitor_autoscale_setting": ResourceRule(
        source=_AZURE_DOCS + "monitor_autoscale_setting.html.markdown",
        replacing=("name", "resource_group_name", "location", "target_resource_id"),
    ),
    "azurerm_lb": ResourceRule(
        # a frontend's zones: the CustomizeDiff of internal/services/loadbalancer/lb_resource.go
        source=_AZURE_DOCS + "lb.html.markdown (+ " + _AZURE + "loadbalancer/lb_resource.go)",
        replacing=(
            "name", "resource_group_name", "location", "sku", "sku_tier", "edge_zone", "frontend_ip_configuration.zones",
        ),
    ),
    "azurerm_lb_backend_address_pool": ResourceRule(
        source=_AZURE_DOCS + "lb_backend_address_pool.html.markdown",
        replacing=("name", "loadbalancer_id", "synchronous_mode"),
    ),
    "azurerm_lb_probe": ResourceRule(
        source=_AZURE_DOCS + "lb_probe.html.markdown", replacing=("name", "loadbalancer_id")
    ),
    "azurerm_lb_rule": ResourceRule(source=_AZURE_DOCS + "lb_rule.html.markdown", replacing=("name", "loadbalancer_id")),
    "azurerm_lb_outbound_rule": ResourceRule(
        source=_AZURE_DOCS + "lb_outbound_rule.html.markdown", replacing=("name", "loadbalancer_id")
    ),
    "azurerm_network_interface_backend_address_pool_association": ResourceRule(
        source=_AZURE_DOCS + "network_interface_backend_address_pool_association.html.markdown",
        replacing=("network_interface_id", "ip_configuration_name", "backend_address_pool_id"),
    ),
    "azurerm_network_security_group": ResourceRule(
        source=_AZURE_DOCS + "network_security_group.html.markdown", replacing=_VMSS_OWNER
    ),
    "azurerm_network_security_rule": ResourceRule(
        source=_AZURE_DOCS + "network_security_rule.html.markdown",
        replacing=("name", "resource_group_name", "network_security_group_name"),
    ),
    "azurerm_virtual_network": ResourceRule(
        source=_AZURE_DOCS + "virtual_network.html.markdown", replacing=(*_VMSS_OWNER, "edge_zone")
    ),
    "azurerm_subnet": ResourceRule(
        source=_AZURE_DOCS + "subnet.html.markdown",
        replacing=("name", "resource_group_name", "virtual_network_name"),
    ),
    "azurerm_subnet_network_security_group_association": ResourceRule(
        source=_AZURE_DOCS + "subnet_network_security_group_association.html.markdown",
        replacing=("subnet_id", "network_security_group_id"),
    ),
    "azurerm_nat_gateway": ResourceRule(
        source=_AZURE_DOCS + "nat_gateway.html.markdown", replacing=(*_VMSS_OWNER, "zones")
    ),
    "azurerm_nat_gateway_public_ip_association": ResourceRule(
        source=_AZURE_DOCS + "nat_gateway_public_ip_association.html.markdown",
        replacing=("nat_gateway_id", "public_ip_address_id"),
    ),
    "azurerm_subnet_nat_gateway_association": ResourceRule(
        source=_AZURE_DOCS + "subnet_nat_gateway_association.html.markdown",
        replacing=("nat_gateway_id", "subnet_id"),
    ),
    "azurerm_resource_group": ResourceRule(
        source=_AZURE_DOCS + "resource_group.html.markdown",
        replacing=("name", "location"),
        replaced_note="everything in the resource group is deleted with it",
    ),
}

TABLE = ProviderRules(
    provider="azurerm",
    source="hashicorp/azurerm",
    version="4.55.0",
    repository="hashicorp/terraform-provider-azurerm",
    rules=RULES,
)
