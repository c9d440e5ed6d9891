"""Which argument changes make Terraform replace a resource, per resource type: data.

The table covers every resource type the backends emit (and the Azure types its backend
is being built with). Each entry says where it was read: the provider
version and the source file in the provider's repository (``ForceNew: true`` in SDKv2
schemas, ``RequiresReplace()`` in plugin-framework ones, CustomizeDiff functions for the
conditional rules); ``docs/diff.md`` says how the table was made and how to redo it.

Path patterns name arguments as ``nixk8s diff`` reports them, with list indices left out:

- ``a.b`` matches a change of the value at ``a.b`` or anything inside it (a scalar, a
  list of scalars, a map, or every field of a block);
- ``a.#`` matches only a change in the number of ``a`` blocks (or their appearing or
  disappearing): SDKv2's ForceNew on a block replaces the resource when the count
  changes, while a nested field replaces it only when that field is ForceNew itself;
- ``*`` matches any one name (``*`` alone: every argument).

>>> matches("ip_range", ("ip_range",))
True
>>> matches("boot_disk.#", ("boot_disk", "initialize_params", "size"))
False
>>> matches("boot_disk.initialize_params.image", ("boot_disk", "initialize_params", "image"))
True
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec

Body = Mapping[str, Any]
Path = tuple[str, ...]
Role = Literal["machine", "owns-machines", "other"]


class Provider(msgspec.Struct, frozen=True):
    """Where a provider's entries were read: ``repository`` at ``version``."""

    source: str
    version: str
    repository: str


PROVIDERS: dict[str, Provider] = {
    "hcloud": Provider("hetznercloud/hcloud", "1.68.0", "hetznercloud/terraform-provider-hcloud"),
    # the schema tfcheck validates against; the sources are the newest stored ones (about 6.x)
    "aws": Provider("hashicorp/aws", "6.25.0", "hashicorp/terraform-provider-aws"),
    "google": Provider("hashicorp/google", "6.50.0", "hashicorp/terraform-provider-google"),
    "azurerm": Provider("hashicorp/azurerm", "4.55.0", "hashicorp/terraform-provider-azurerm"),
}


class Conditional(msgspec.Struct, frozen=True):
    """An argument whose change replaces the resource only sometimes.

    ``replaces(old, new, path)`` gets both bodies and the changed path (indices kept)
    and says why the change replaces the resource, or None when it is applied in place.
    """

    pattern: str
    replaces: Callable[[Body, Body, tuple[str | int, ...]], str | None]


class Disruption(msgspec.Struct, frozen=True):
    """An in-place change that still disturbs machines (a stop, a reimage, a roll).

    ``when(old, new, provider_config)`` narrows it to the configurations it applies to;
    ``replaces_machines`` counts it as replacing machines (exit code 4).
    """

    pattern: str
    note: str
    replaces_machines: bool = False
    when: Callable[[Body, Body, Body], bool] | None = None


class ResourceRule(msgspec.Struct, frozen=True):
    """What Terraform does when the arguments of one resource type change."""

    source: str
    role: Role = "other"
    replacing: tuple[str, ...] = ()
    # exceptions to ``replacing`` (for a type whose every argument but these replaces it)
    updatable: tuple[str, ...] = ()
    conditional: tuple[Conditional, ...] = ()
    # optional+computed arguments: removing one from the configuration keeps the value
    kept_when_removed: tuple[str, ...] = ()
    disruptive: tuple[Disruption, ...] = ()
    # computed attributes that change on every in-place update (a new template version)
    changes_on_update: tuple[str, ...] = ()
    # what replacing it does beyond the resource itself
    replaced_note: str | None = None


def provider_of(resource_type: str) -> str:
    """The provider's local name: the type's prefix (``hcloud_server`` → ``hcloud``)."""
    return resource_type.split("_", 1)[0]


def matches(pattern: str, path: Path, whole: bool = False) -> bool:
    """Whether a change at ``path`` (indices removed) is one that ``pattern`` names.

    ``whole`` says the change adds, removes or retypes the value at ``path`` as a whole,
    so every argument inside it changes too.
    """
    wanted = tuple(pattern.split("."))
    counted = wanted[-1] == "#"
    names = wanted[:-1] if counted else wanted
    if path and path[-1] == "#":
        # a block count: named by a.# and by the value a itself
        return _same(names, path[:-1])
    if counted:
        # only the blocks' appearing or going; a change inside one is judged by its field
        return whole and len(path) <= len(names) and _same(names[: len(path)], path)
    if len(path) >= len(names):
        return _same(names, path[: len(names)])
    # a whole block (or value) that holds the named argument appears or goes
    return whole and _same(names[: len(path)], path)


def _same(pattern: tuple[str, ...], path: Path) -> bool:
    return len(pattern) == len(path) and all(p in ("*", q) for p, q in zip(pattern, path))


# --- conditional rules ---------------------------------------------------------------------


def _at(body: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in a body; a block written as one object counts as index 0."""
    for step in path:
        if isinstance(step, int):
            if isinstance(body, list):
                body = body[step] if step < len(body) else None
            elif step != 0:
                return None
        elif isinstance(body, list) and len(body) == 1:
            body = body[0].get(step) if isinstance(body[0], Mapping) else None
        elif isinstance(body, Mapping):
            body = body.get(step)
        else:
            return None
    return body


def _gcp_network_ip(old: Body, new: Body, path: tuple[str | int, ...]) -> str | None:
    interface = path[:-1]
    if not _at(new, path):
        return None
    moves = any(_at(old, (*interface, k)) != _at(new, (*interface, k)) for k in ("network", "subnetwork", "subnetwork_project"))
    if moves:
        return None
    return "network_ip changes while the interface stays on its subnetwork: GCP cannot change it in place"


def _gcp_subnet_shrinks(old: Body, new: Body, path: tuple[str | int, ...]) -> str | None:
    try:
        before = ipaddress.ip_network(str(old.get("ip_cidr_range")), strict=False)
        after = ipaddress.ip_network(str(new.get("ip_cidr_range")), strict=False)
    except ValueError:
        return "ip_cidr_range changes and nixk8s cannot tell whether it only grows"
    if before.version == after.version and after.supernet_of(before):  # type: ignore[arg-type]
        return None
    return "ip_cidr_range shrinks or moves: GCP can only expand a subnetwork in place"


def _aws_nlb_subnets(old: Body, new: Body, path: tuple[str | int, ...]) -> str | None:
    if new.get("load_balancer_type") != "network":
        return None
    gone = set(map(str, old.get("subnets") or [])) - set(map(str, new.get("subnets") or []))
    return "subnets removed from a network load balancer" if gone else None


def _aws_nlb_security_groups(old: Body, new: Body, path: tuple[str | int, ...]) -> str | None:
    if new.get("load_balancer_type") != "network":
        return None
    if bool(old.get("security_groups")) != bool(new.get("security_groups")):
        return "a network load balancer gains its first security groups or loses all of them"
    return None


def _hcloud_attachment_ip(old: Body, new: Body, path: tuple[str | int, ...]) -> str | None:
    if old.get("ip") is None:
        return "ip set where Hetzner chose the address: replaced unless it already has that address"
    return "ip changes"


# --- disruptions narrowed to a configuration ------------------------------------------------


def _block(body: Body, name: str) -> Body:
    value = body.get(name)
    if isinstance(value, list):
        value = value[0] if value else {}
    return value if isinstance(value, Mapping) else {}


def _in_placement_group(old: Body, new: Body, provider: Body) -> bool:
    return bool(old.get("placement_group_id"))


def _proactive(old: Body, new: Body, provider: Body) -> bool:
    return _block(new, "update_policy").get("type") == "PROACTIVE"


def _opportunistic(old: Body, new: Body, provider: Body) -> bool:
    return not _proactive(old, new, provider)


def _scale_set_rolls(old: Body, new: Body, provider: Body) -> bool:
    """Whether the provider (or Azure) brings a scale set's instances to a changed model."""
    if new.get("upgrade_mode") in ("Automatic", "Rolling"):
        return True
    features = _block(_block(provider, "features"), "virtual_machine_scale_set")
    return features.get("roll_instances_when_required", True) is not False and (
        features.get("reimage_on_manual_upgrade", True) is not False
    )


def _scale_set_keeps(old: Body, new: Body, provider: Body) -> bool:
    return not _scale_set_rolls(old, new, provider)


def _refreshes(old: Body, new: Body, provider: Body) -> bool:
    return bool(new.get("instance_refresh"))


def _no_refresh(old: Body, new: Body, provider: Body) -> bool:
    return not new.get("instance_refresh")


def _lowers_max(old: Body, new: Body, provider: Body) -> bool:
    before, after = old.get("max_size"), new.get("max_size")
    return isinstance(before, int) and isinstance(after, int) and after < before


# --- the table -------------------------------------------------------------------------------

_HCLOUD = "internal/"
_AWS = "internal/service/"
_GOOGLE = "google/services/compute/"
# a managed instance group, regional or zonal, and a new template
_GROUP_TEMPLATE_ROLLOUT = (
    Disruption(
        "version.instance_template",
        "⚠ update_policy PROACTIVE: GCP rolls the new template out to the running machines",
        replaces_machines=True,
        when=_proactive,
    ),
    Disruption(
        "version.instance_template",
        "the new template reaches new machines only (scale-out, repair): running nodes keep the old one",
        when=_opportunistic,
    ),
)
# A regional AWS resource lives in one region (the provider's, or its own ``region``
# argument since 6.0, "enhanced region support"): another region is another resource.
_REGION = "region"
_AZURE = "internal/services/"
_AZURE_DOCS = "website/docs/r/"

_STOPS_GCE = "⚠ GCP stops and starts the VM for it (allow_stopping_for_update)"
_NEW_INSTANCES_ONLY = (
    "a new launch template version: it reaches newly launched instances only (no instance_refresh); "
    "running nodes keep the old one"
)
_REIMAGES = "⚠ the provider reimages every instance of the scale set, one at a time (roll_instances_when_required)"
_VMSS_MODEL = "reaches new and scaled-out instances only (roll_instances_when_required = false)"
_VMSS_MODEL_PATHS = ("custom_data", "user_data", "os_disk", "data_disk", "source_image_id", "source_image_reference", "sku", "boot_diagnostics", "extension")
_VMSS_OWNER = ("name", "resource_group_name", "location")

RULES: dict[str, ResourceRule] = {
    # --- Hetzner Cloud ----------------------------------------------------------------------
    "hcloud_server": ResourceRule(
        source=_HCLOUD + "server/resource.go",
        role="machine",
        replacing=("image", "location", "user_data", "ssh_keys"),
        disruptive=(
            Disruption("server_type", "⚠ Hetzner powers the server off to change its type"),
            Disruption("public_net", "⚠ Hetzner powers the server off to change its public network"),
            Disruption(
                "placement_group_id",
                "⚠ Hetzner cannot move a running server out of a placement group: the apply fails",
                when=_in_placement_group,
            ),
        ),
    ),
    "hcloud_server_network": ResourceRule(
        source=_HCLOUD + "server/resource_network.go",
        replacing=("server_id", "network_id", "subnet_id"),
        conditional=(Conditional("ip", _hcloud_attachment_ip),),
        kept_when_removed=("ip", "network_id"),
        replaced_note="the server is detached from the network and attached again: its private IP may change",
    ),
    "hcloud_network": ResourceRule(source=_HCLOUD + "network/resource.go", replacing=("ip_range",)),
    "hcloud_network_subnet": ResourceRule(
        source=_HCLOUD + "network/resource_subnet.go",
        replacing=("network_id", "type", "network_zone", "ip_range", "vswitch_id"),
    ),
    "hcloud_firewall": ResourceRule(source=_HCLOUD + "firewall/resource.go"),
    "hcloud_placement_group": ResourceRule(
        source=_HCLOUD + "placementgroup/resource.go",
        disruptive=(Disruption("type", "⚠ the provider neither replaces nor updates it: the change is not applied"),),
    ),
    "hcloud_load_balancer": ResourceRule(
        source=_HCLOUD + "loadbalancer/resource.go", replacing=("location", "network_zone")
    ),
    "hcloud_load_balancer_network": ResourceRule(
        source=_HCLOUD + "loadbalancer/resource_network.go",
        replacing=("load_balancer_id", "network_id", "subnet_id"),
        conditional=(Conditional("ip", _hcloud_attachment_ip),),
        kept_when_removed=("ip", "network_id"),
    ),
    "hcloud_load_balancer_target": ResourceRule(
        source=_HCLOUD + "loadbalancer/resource_target.go",
        replacing=("load_balancer_id", "server_id", "label_selector", "ip"),
    ),
    "hcloud_load_balancer_service": ResourceRule(
        source=_HCLOUD + "loadbalancer/resource_service.go",
        replacing=("load_balancer_id", "protocol", "listen_port"),
    ),
    # --- AWS ---------------------------------------------------------------------------------
    "aws_launch_template": ResourceRule(
        source=_AWS + "ec2/ec2_launch_template.go",
        replacing=(_REGION, "name", "name_prefix"),
        changes_on_update=("latest_version", "default_version"),
        disruptive=tuple(
            Disruption(path, _NEW_INSTANCES_ONLY)
            for path in (
                "user_data", "image_id", "instance_type", "block_device_mappings", "metadata_options",
                "iam_instance_profile", "vpc_security_group_ids", "key_name", "tag_specifications",
                "network_interfaces",
            )
        ),
    ),
    "aws_autoscaling_group": ResourceRule(
        source=_AWS + "autoscaling/group.go",
        role="owns-machines",
        replacing=(_REGION, "name", "name_prefix", "initial_lifecycle_hook"),
        disruptive=(
            Disruption(
                "launch_template",
                "running instances keep their launch template version; instances launched from now on use the new one",
                when=_no_refresh,
            ),
            Disruption(
                "launch_template",
                "⚠ the instance_refresh block makes AWS replace the running instances",
                replaces_machines=True,
                when=_refreshes,
            ),
            Disruption(
                "max_size",
                "⚠ AWS terminates any running instances above the new max_size",
                replaces_machines=True,
                when=_lowers_max,
            ),
        ),
        replaced_note="AWS terminates the group's instances and launches new ones",
    ),
    "aws_lb": ResourceRule(
        source=_AWS + "elbv2/load_balancer.go",
        replacing=(_REGION, "name", "name_prefix", "internal", "load_balancer_type", "customer_owned_ipv4_pool"),
        conditional=(
            Conditional("subnets", _aws_nlb_subnets),
            Conditional("security_groups", _aws_nlb_security_groups),
        ),
        replaced_note="its DNS name changes: nodes that join through it must learn the new one",
    ),
    "aws_lb_target_group": ResourceRule(
        source=_AWS + "elbv2/target_group.go",
        replacing=(_REGION, "name", "name_prefix", "port", "protocol", "protocol_version", "vpc_id", "target_type", "ip_address_type"),
    ),
    "aws_lb_listener": ResourceRule(source=_AWS + "elbv2/listener.go", replacing=(_REGION, "load_balancer_arn",)),
    "aws_security_group": ResourceRule(
        source=_AWS + "ec2/vpc_security_group.go", replacing=(_REGION, "name", "name_prefix", "description", "vpc_id")
    ),
    "aws_default_security_group": ResourceRule(
        source=_AWS + "ec2/vpc_default_security_group.go", replacing=(_REGION, "vpc_id",)
    ),
    "aws_vpc": ResourceRule(
        source=_AWS + "ec2/vpc_.go", replacing=(_REGION, "cidr_block", "ipv4_ipam_pool_id", "ipv4_netmask_length")
    ),
    "aws_subnet": ResourceRule(
        source=_AWS + "ec2/vpc_subnet.go",
        # the newest source also forces new on its IPAM arguments, which 6.25 does not have yet
        replacing=(
            _REGION, "vpc_id", "cidr_block", "availability_zone", "availability_zone_id", "ipv6_native", "outpost_arn",
        ),
    ),
    "aws_internet_gateway": ResourceRule(source=_AWS + "ec2/vpc_internet_gateway.go", replacing=(_REGION,)),
    "aws_route_table": ResourceRule(source=_AWS + "ec2/vpc_route_table.go", replacing=(_REGION, "vpc_id",)),
    "aws_route": ResourceRule(
        source=_AWS + "ec2/vpc_route.go",
        replacing=(_REGION, "route_table_id", "destination_cidr_block", "destination_ipv6_cidr_block", "destination_prefix_list_id"),
    ),
    "aws_route_table_association": ResourceRule(
        source=_AWS + "ec2/vpc_route_table_association.go", replacing=(_REGION, "subnet_id", "gateway_id")
    ),
    "aws_iam_role": ResourceRule(source=_AWS + "iam/role.go", replacing=("name", "name_prefix", "path")),
    "aws_iam_instance_profile": ResourceRule(
        source=_AWS + "iam/instance_profile.go", replacing=("name", "name_prefix", "path")
    ),
    "aws_iam_policy": ResourceRule(
        source=_AWS + "iam/policy.go", replacing=("name", "name_prefix", "path", "description")
    ),
    "aws_iam_role_policy_attachment": ResourceRule(
        source=_AWS + "iam/role_policy_attachment.go", replacing=("role", "policy_arn")
    ),
    # --- Google Cloud ------------------------------------------------------------------------
    "google_compute_instance": ResourceRule(
        source=_GOOGLE + "resource_compute_instance.go",
        role="machine",
        replacing=(
            "name", "zone", "project", "hostname", "params", "key_revocation_action_type",
            "boot_disk.#", "boot_disk.device_name", "boot_disk.mode", "boot_disk.source", "boot_disk.force_attach",
            "boot_disk.disk_encryption_key_raw", "boot_disk.disk_encryption_key_rsa",
            "boot_disk.disk_encryption_service_account", "boot_disk.kms_key_self_link", "boot_disk.guest_os_features",
            "boot_disk.initialize_params.#", "boot_disk.initialize_params.image", "boot_disk.initialize_params.size",
            "boot_disk.initialize_params.type", "boot_disk.initialize_params.labels",
            "boot_disk.initialize_params.resource_manager_tags", "boot_disk.initialize_params.resource_policies",
            "boot_disk.initialize_params.provisioned_iops", "boot_disk.initialize_params.provisioned_throughput",
            "boot_disk.initialize_params.enable_confidential_compute", "boot_disk.initialize_params.storage_pool",
            "boot_disk.initialize_params.architecture", "boot_disk.initialize_params.snapshot",
            "boot_disk.initialize_params.source_image_encryption_key",
            "boot_disk.initialize_params.source_snapshot_encryption_key",
            "network_interface.#", "network_interface.nic_type", "network_interface.queue_count",
            "network_interface.network_attachment", "network_interface.ipv6_access_config.name",
            "network_interface.ipv6_access_config.external_ipv6",
            "network_interface.ipv6_access_config.external_ipv6_prefix_length",
            # ForceNewIf, except for a value-preserving move to metadata["startup-script"]
            "metadata_startup_script",
            "guest_accelerator", "scratch_disk.#", "scratch_disk.size",
            "scheduling.preemptible", "scheduling.provisioning_model", "scheduling.termination_time",
            "scheduling.max_run_duration", "scheduling.on_instance_stop_action", "scheduling.local_ssd_recovery_timeout",
            "confidential_instance_config.#", "advanced_machine_features.enable_uefi_networking",
            "network_performance_config", "reservation_affinity", "instance_encryption_key", "attached_disk.force_attach",
        ),
        conditional=(Conditional("network_interface.network_ip", _gcp_network_ip),),
        kept_when_removed=("network_interface.network_ip",),
        disruptive=(
            *(
                Disruption(path, _STOPS_GCE)
                for path in (
                    "machine_type", "min_cpu_platform", "enable_display", "shielded_instance_config",
                    "service_account", "advanced_machine_features", "scheduling.node_affinities",
                    "network_interface.network", "network_interface.subnetwork", "network_interface.subnetwork_project",
                )
            ),
            Disruption(
                "metadata.user-data",
                "cloud-init does not run again on a running VM: the new user-data reaches a rebuilt VM only",
            ),
        ),
    ),
    "google_compute_instance_template": ResourceRule(
        source=_GOOGLE + "resource_compute_instance_template.go",
        replacing=("*",),
        updatable=("labels", "terraform_labels"),
        replaced_note="templates are immutable: a changed one is a new template, which its group uses from then on",
    ),
    "google_compute_region_instance_group_manager": ResourceRule(
        source=_GOOGLE + "resource_compute_region_instance_group_manager.go",
        role="owns-machines",
        replacing=("name", "base_instance_name", "region", "distribution_policy_zones", "description", "project"),
        disruptive=_GROUP_TEMPLATE_ROLLOUT,
        replaced_note="GCP deletes the group's machines and creates new ones",
    ),
    "google_compute_instance_group_manager": ResourceRule(
        source=_GOOGLE + "resource_compute_instance_group_manager.go",
        role="owns-machines",
        replacing=("name", "base_instance_name", "zone", "description", "project"),
        disruptive=_GROUP_TEMPLATE_ROLLOUT,
        replaced_note="GCP deletes the group's machines and creates new ones",
    ),
    "google_compute_region_autoscaler": ResourceRule(
        source=_GOOGLE + "resource_compute_region_autoscaler.go", replacing=("name", "region", "project")
    ),
    "google_compute_autoscaler": ResourceRule(
        source=_GOOGLE + "resource_compute_autoscaler.go", replacing=("name", "zone", "project")
    ),
    "google_compute_address": ResourceRule(
        source=_GOOGLE + "resource_compute_address.go",
        replacing=(
            "name", "address", "address_type", "purpose", "network", "subnetwork", "network_tier", "prefix_length",
            "ip_version", "ipv6_endpoint_type", "region", "description", "project",
        ),
        kept_when_removed=("address", "subnetwork"),
    ),
    "google_compute_network": ResourceRule(
        source=_GOOGLE + "resource_compute_network.go",
        replacing=(
            "name", "auto_create_subnetworks", "description", "enable_ula_internal_ipv6", "internal_ipv6_range",
            "network_profile", "params", "project",
        ),
    ),
    "google_compute_subnetwork": ResourceRule(
        source=_GOOGLE + "resource_compute_subnetwork.go",
        replacing=(
            "name", "network", "region", "description", "external_ipv6_prefix", "ip_collection",
            "reserved_internal_range", "params", "project", "enable_flow_logs",
        ),
        conditional=(Conditional("ip_cidr_range", _gcp_subnet_shrinks),),
    ),
    "google_compute_firewall": ResourceRule(
        source=_GOOGLE + "resource_compute_firewall.go", replacing=("name", "direction", "project", "params")
    ),
    "google_compute_forwarding_rule": ResourceRule(
        source=_GOOGLE + "resource_compute_forwarding_rule.go",
        replacing=(
            "all_ports", "backend_service", "description", "ip_address", "ip_collection", "ip_protocol", "ip_version",
            "is_mirroring_collector", "load_balancing_scheme", "name", "network", "network_tier",
            "no_automate_dns_zone", "port_range", "ports", "project", "region", "service_directory_registrations",
            "service_label", "source_ip_ranges", "subnetwork",
        ),
    ),
    "google_compute_region_backend_service": ResourceRule(
        source=_GOOGLE + "resource_compute_region_backend_service.go",
        replacing=("name", "project", "load_balancing_scheme", "ha_policy.fast_ip_move"),
    ),
    "google_compute_region_health_check": ResourceRule(
        source=_GOOGLE + "resource_compute_region_health_check.go", replacing=("name", "project", "region")
    ),
    "google_compute_instance_group": ResourceRule(
        source=_GOOGLE + "resource_compute_instance_group.go",
        replacing=("name", "zone", "network", "description", "project"),
    ),
    "google_service_account": ResourceRule(
        source="google/services/resourcemanager/resource_google_service_account.go",
        replacing=("account_id", "project"),
        replaced_note="its email changes: instances that run as it stop and start, templates are replaced",
    ),
    "google_project_iam_member": ResourceRule(
        source="google/tpgiamresource/resource_iam_member.go (+ google/services/resourcemanager/iam_project.go)",
        replacing=("project", "role", "member", "condition"),
    ),
    # --- Azure ---------------------------------------------------------------------------------
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


def rule_for(resource_type: str) -> ResourceRule | None:
    """The table's entry for a resource type, or None for a type it does not know."""
    return RULES.get(resource_type)
