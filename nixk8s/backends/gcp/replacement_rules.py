"""Google Cloud: which argument changes make Terraform replace its resources (data).

Read from ``hashicorp/terraform-provider-google`` at 6.50.0: each entry names its source file
(``docs/diff.md`` says how the table was made and how to redo it).
"""

from __future__ import annotations

import ipaddress

from nixk8s.document_diff.rules import Body, Conditional, Disruption, IndexedPath, ProviderRules, ResourceRule, block, value_at


def _network_ip(old: Body, new: Body, path: IndexedPath) -> str | None:
    interface = path[:-1]
    if not value_at(new, path):
        return None
    moves = any(value_at(old, (*interface, k)) != value_at(new, (*interface, k)) for k in ("network", "subnetwork", "subnetwork_project"))
    if moves:
        return None
    return "network_ip changes while the interface stays on its subnetwork: GCP cannot change it in place"


def _subnet_shrinks(old: Body, new: Body, path: IndexedPath) -> str | None:
    try:
        before = ipaddress.ip_network(str(old.get("ip_cidr_range")), strict=False)
        after = ipaddress.ip_network(str(new.get("ip_cidr_range")), strict=False)
    except ValueError:
        return "ip_cidr_range changes and nixk8s cannot tell whether it only grows"
    if before.version == after.version and after.supernet_of(before):  # type: ignore[arg-type]
        return None
    return "ip_cidr_range shrinks or moves: GCP can only expand a subnetwork in place"


def _proactive(old: Body, new: Body, provider: Body) -> bool:
    return block(new, "update_policy").get("type") == "PROACTIVE"


def _opportunistic(old: Body, new: Body, provider: Body) -> bool:
    return not _proactive(old, new, provider)


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
_STOPS_GCE = "⚠ GCP stops and starts the VM for it (allow_stopping_for_update)"

RULES: dict[str, ResourceRule] = {
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
        conditional=(Conditional("network_interface.network_ip", _network_ip),),
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
    "google_compute_router": ResourceRule(
        source=_GOOGLE + "resource_compute_router.go", replacing=("name", "network", "region", "project")
    ),
    "google_compute_router_nat": ResourceRule(
        source=_GOOGLE + "resource_compute_router_nat.go",
        replacing=("name", "router", "region", "project"),
        replaced_note="private nodes lose their way out until the new NAT exists",
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
        conditional=(Conditional("ip_cidr_range", _subnet_shrinks),),
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
}

TABLE = ProviderRules(
    provider="google",
    source="hashicorp/google",
    version="6.50.0",
    repository="hashicorp/terraform-provider-google",
    rules=RULES,
)
