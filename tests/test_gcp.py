"""The GCP backend: what it builds, what it refuses, and what each node receives."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from strategies import cluster_specs
from support import compile_raw, document_user_data, embedded_config, problems_of, render_template

from nixk8s.backends.gcp import METADATA_SERVER, NAME_PREFIX_LIMIT, template_name_prefix
from nixk8s.backends.gcp_checks import REGION_ZONES
from nixk8s.compiler import Compiled, compile_spec
from nixk8s.explain import explain
from nixk8s.index_probe import metadata_index_probe
from nixk8s.labels import gcp_label_key_error, gcp_label_value_error

IMAGE = "projects/my-project/global/images/nixos-k3s"
KEY = "ops:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOnly ops@example"
GCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def gcp_spec(**overrides: Any) -> dict[str, Any]:
    """A small valid gcp spec as raw data: three servers, one worker pool; None removes a field."""
    spec: dict[str, Any] = {
        "name": "demo",
        "backend": "gcp",
        "region": "europe-west1",
        "node_pools": [
            {"name": "system", "instance_types": ["e2-standard-2"], "min_size": 3, "max_size": 3},
            {"name": "workers", "instance_types": ["e2-standard-4"], "min_size": 2, "max_size": 5},
        ],
        "network": {"vpc_cidr": "10.8.0.0/16", "subnet_cidr": "10.8.1.0/24"},
        "bootstrap_secrets": {"k3s_server_token": "a-token"},
        "gcp": {"project": "my-project", "image": IMAGE},
    }
    spec.update(overrides)
    return {k: v for k, v in spec.items() if v is not None}


def with_gcp(**fields: Any) -> dict[str, Any]:
    return gcp_spec(gcp={"project": "my-project", "image": IMAGE, **fields})


def resources(c: Compiled, resource_type: str) -> dict[str, Any]:
    return c.document["resource"].get(resource_type, {})


def instance(c: Compiled, i: int = 0) -> dict[str, Any]:
    return resources(c, "google_compute_instance")[f"demo_cp_{i}"]


def template(c: Compiled, pool: str = "workers") -> dict[str, Any]:
    return resources(c, "google_compute_instance_template")[f"demo_{pool}"]


def firewalls(c: Compiled) -> dict[str, Any]:
    return resources(c, "google_compute_firewall")


# --- the network and the firewall ----------------------------------------------------------------


def test_the_network_has_no_auto_subnetworks_and_one_subnet_from_subnet_cidr() -> None:
    c = compile_raw(gcp_spec())
    network = resources(c, "google_compute_network")["demo_network"]
    assert network["auto_create_subnetworks"] is False
    subnet = resources(c, "google_compute_subnetwork")["demo_subnet"]
    assert subnet["ip_cidr_range"] == "10.8.1.0/24"
    assert subnet["network"] == "${google_compute_network.demo_network.id}"
    assert subnet["region"] == "europe-west1"
    assert subnet["private_ip_google_access"] is True


def test_a_spec_without_network_gets_the_default_network_and_a_note() -> None:
    c = compile_raw(gcp_spec(network=None))
    assert resources(c, "google_compute_subnetwork")["demo_subnet"]["ip_cidr_range"] == "10.0.0.0/24"
    assert firewalls(c)["demo_internal"]["source_ranges"] == ["10.0.0.0/16"]
    assert any("no network in the spec" in note for note in c.built.notes)


def test_flow_logs_are_on_by_default_and_can_be_turned_off() -> None:
    assert "log_config" in resources(compile_raw(gcp_spec()), "google_compute_subnetwork")["demo_subnet"]
    off = compile_raw(with_gcp(flow_logs=False))
    assert "log_config" not in resources(off, "google_compute_subnetwork")["demo_subnet"]


def test_private_ports_are_open_to_the_vpc_cidr_only() -> None:
    internal = firewalls(compile_raw(gcp_spec()))["demo_internal"]
    assert internal["source_ranges"] == ["10.8.0.0/16"]
    tcp = next(a for a in internal["allow"] if a["protocol"] == "tcp")
    assert {"10250", "2379-2380"} <= set(tcp["ports"])
    assert "22" not in tcp["ports"] and "6443" not in tcp["ports"]


def test_public_ports_get_one_rule_per_source_list_and_address_family() -> None:
    access = {"ssh_sources": ["203.0.113.0/24", "2001:db8::/32"], "http_sources": ["0.0.0.0/0"]}
    rules = firewalls(compile_raw(gcp_spec(access=access)))
    assert rules["demo_public_ssh_v4"]["source_ranges"] == ["203.0.113.0/24"]
    assert rules["demo_public_ssh_v6"]["source_ranges"] == ["2001:db8::/32"]
    assert rules["demo_public_http_v4"]["allow"] == [{"protocol": "tcp", "ports": ["80", "443"]}]
    assert "demo_public_http_v6" not in rules


def test_no_firewall_rule_mixes_ipv4_and_ipv6_sources() -> None:
    for rule in firewalls(compile_raw(gcp_spec())).values():
        families = {":" in source for source in rule["source_ranges"]}
        assert len(families) == 1, rule["name"]


def test_icmp_for_ipv6_is_ip_protocol_58() -> None:
    rules = firewalls(compile_raw(gcp_spec()))
    assert {"protocol": "icmp"} in rules["demo_public_any_ssh_http_v4"]["allow"]
    assert {"protocol": "58"} in rules["demo_public_any_ssh_http_v6"]["allow"]


def test_the_api_is_open_to_the_vpc_from_which_nodes_join_server_0() -> None:
    rules = firewalls(compile_raw(gcp_spec(access={"api_sources": ["203.0.113.0/24"]})))
    assert rules["demo_public_api_v4"]["source_ranges"] == ["203.0.113.0/24", "10.8.0.0/16"]


def test_every_firewall_rule_targets_the_node_tag_that_every_machine_carries() -> None:
    c = compile_raw(gcp_spec())
    for rule in firewalls(c).values():
        assert rule["target_tags"] == ["demo-node"]
        assert rule["network"] == "${google_compute_network.demo_network.id}"
    assert "demo-node" in instance(c)["tags"] and "demo-node" in template(c)["tags"]


# --- identity ---------------------------------------------------------------------------------


def test_nodes_have_their_own_service_account_with_log_and_metric_writer_roles() -> None:
    c = compile_raw(with_gcp(service_account_roles=["roles/artifactregistry.reader"]))
    assert resources(c, "google_service_account")["demo_nodes"]["account_id"] == "demo-nodes"
    grants = resources(c, "google_project_iam_member")
    assert {g["role"] for g in grants.values()} == {
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/artifactregistry.reader",
    }
    for grant in grants.values():
        assert grant["project"] == "my-project"
        assert grant["member"] == "serviceAccount:${google_service_account.demo_nodes.email}"


@pytest.mark.parametrize("machine", [instance, template])
def test_machines_run_as_the_node_service_account_with_the_nixos_image(machine: Any) -> None:
    body = machine(compile_raw(gcp_spec()))
    assert body["service_account"] == {
        "email": "${google_service_account.demo_nodes.email}",
        "scopes": ["cloud-platform"],
    }
    image = body["boot_disk"]["initialize_params"]["image"] if "boot_disk" in body else body["disk"][0]["source_image"]
    assert image == IMAGE


def test_servers_boot_once_their_service_account_holds_its_roles() -> None:
    assert set(instance(compile_raw(gcp_spec()))["depends_on"]) == {
        "google_project_iam_member.demo_nodes_logging_logwriter",
        "google_project_iam_member.demo_nodes_monitoring_metricwriter",
    }


# --- the control plane ------------------------------------------------------------------------


def test_servers_are_spread_over_the_regions_zones() -> None:
    c = compile_raw(gcp_spec())
    assert [instance(c, i)["zone"] for i in range(3)] == ["europe-west1-b", "europe-west1-c", "europe-west1-d"]


def test_servers_wrap_around_the_zones_given() -> None:
    c = compile_raw(with_gcp(zones=["europe-west1-c", "europe-west1-d"]))
    assert [instance(c, i)["zone"] for i in range(3)] == ["europe-west1-c", "europe-west1-d", "europe-west1-c"]


def test_each_server_has_a_static_internal_address_from_host_10_of_the_subnet() -> None:
    c = compile_raw(gcp_spec())
    addresses = resources(c, "google_compute_address")
    for i in range(3):
        address = addresses[f"demo_cp_{i}_ip"]
        assert (address["address_type"], address["address"]) == ("INTERNAL", f"10.8.1.{10 + i}")
        assert address["subnetwork"] == "${google_compute_subnetwork.demo_subnet.id}"
        (nic,) = instance(c, i)["network_interface"]
        assert nic["network_ip"] == f"${{google_compute_address.demo_cp_{i}_ip.address}}"
        assert nic["subnetwork"] == "${google_compute_subnetwork.demo_subnet.id}"


def test_servers_boot_disk_has_the_pools_size_and_the_disk_type() -> None:
    raw = with_gcp(disk_type="pd-ssd")
    raw["node_pools"][0]["disk_size_gb"] = 80
    params = instance(compile_raw(raw))["boot_disk"]["initialize_params"]
    assert (params["size"], params["type"]) == (80, "pd-ssd")


def test_servers_ignore_image_changes_which_would_replace_them() -> None:
    assert instance(compile_raw(gcp_spec()))["lifecycle"] == {
        "ignore_changes": ["boot_disk[0].initialize_params[0].image"]
    }


def test_servers_carry_their_own_config_with_a_static_index_in_raw_user_data() -> None:
    c = compile_raw(gcp_spec())
    for i in range(3):
        user_data = instance(c, i)["metadata"]["user-data"]
        assert user_data.startswith("#cloud-config\n")  # GCP takes the document as it is: no base64
        config = embedded_config(render_template(user_data))
        assert (config["role"], config["node_index"], config["cluster_init"]) == ("server", i, i == 0)


def test_joiners_use_server_0s_static_address() -> None:
    c = compile_raw(gcp_spec())
    joiners = [embedded_config(u) for u in document_user_data(c.document)]
    assert [j.get("join_server") for j in joiners].count(None) == 1
    assert {j["join_server"] for j in joiners if "join_server" in j} == {"https://10.8.1.10:6443"}


def test_kubernetes_joins_server_0_without_a_scheme() -> None:
    c = compile_raw(gcp_spec(distribution="kubernetes", bootstrap_secrets={"kubeadm_token": "abcdef.0123456789abcdef"}))
    assert c.document["output"]["join_server"]["value"] == "10.8.1.10:6443"


def test_servers_receive_the_network_id_and_workers_do_not() -> None:
    c = compile_raw(gcp_spec())
    assert "jsonencode(google_compute_network.demo_network.id)" in instance(c)["metadata"]["user-data"]
    assert "network_id" not in template(c)["metadata"]["user-data"]


# --- metadata: SSH and Shielded VM ----------------------------------------------------------------


@pytest.mark.parametrize("machine", [instance, template])
def test_project_wide_ssh_keys_are_blocked(machine: Any) -> None:
    assert machine(compile_raw(gcp_spec()))["metadata"]["block-project-ssh-keys"] == "true"


def test_ssh_keys_are_the_specs_and_the_pools_and_turn_os_login_off() -> None:
    pool_key = "alice:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAlice alice@example"
    raw = with_gcp(ssh_keys=[KEY])
    raw["node_pools"][1]["ssh_keys"] = [pool_key]
    c = compile_raw(raw)
    assert instance(c)["metadata"]["ssh-keys"] == KEY
    assert template(c)["metadata"]["ssh-keys"] == f"{KEY}\n{pool_key}"
    assert template(c)["metadata"]["enable-oslogin"] == "FALSE"


def test_without_ssh_keys_os_login_is_left_to_the_project() -> None:
    metadata = instance(compile_raw(gcp_spec()))["metadata"]
    assert "ssh-keys" not in metadata and "enable-oslogin" not in metadata


@pytest.mark.parametrize("machine", [instance, template])
def test_shielded_vm_is_opt_in_with_secure_boot_off(machine: Any) -> None:
    assert "shielded_instance_config" not in machine(compile_raw(gcp_spec()))
    shielded = machine(compile_raw(with_gcp(shielded_vm=True)))["shielded_instance_config"]
    assert shielded == {"enable_secure_boot": False, "enable_vtpm": True, "enable_integrity_monitoring": True}


# --- worker pools -----------------------------------------------------------------------------


def test_a_template_is_immutable_and_replaced_before_it_is_destroyed() -> None:
    body = template(compile_raw(gcp_spec()))
    assert body["name_prefix"] == "demo-workers-"
    assert "name" not in body
    assert body["lifecycle"] == {"create_before_destroy": True}
    assert body["network_interface"] == [
        {"subnetwork": "${google_compute_subnetwork.demo_subnet.id}", "access_config": [{}]}
    ]


def test_a_pools_group_spans_the_zones_and_runs_the_newest_template() -> None:
    c = compile_raw(gcp_spec())
    group = resources(c, "google_compute_region_instance_group_manager")["demo_workers"]
    assert group["distribution_policy_zones"] == ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
    assert group["version"] == [
        {"name": "default", "instance_template": "${google_compute_instance_template.demo_workers.self_link_unique}"}
    ]
    assert group["update_policy"]["type"] == "OPPORTUNISTIC"


def test_the_autoscaler_owns_the_groups_size_between_the_pools_min_and_max() -> None:
    raw = gcp_spec()
    raw["node_pools"][1].update(min_size=1, max_size=9, desired_size=4)
    c = compile_raw(raw)
    group = resources(c, "google_compute_region_instance_group_manager")["demo_workers"]
    assert "target_size" not in group
    autoscaler = resources(c, "google_compute_region_autoscaler")["demo_workers"]
    assert autoscaler["target"] == "${google_compute_region_instance_group_manager.demo_workers.id}"
    policy = autoscaler["autoscaling_policy"]
    assert (policy["min_replicas"], policy["max_replicas"]) == (1, 9)


def test_workers_take_addresses_only_after_the_servers_claimed_theirs() -> None:
    group = resources(compile_raw(gcp_spec()), "google_compute_region_instance_group_manager")["demo_workers"]
    assert group["depends_on"] == [f"google_compute_address.demo_cp_{i}_ip" for i in range(3)]


def test_a_templates_config_has_no_node_index_and_its_user_data_reads_one_at_boot() -> None:
    user_data = template(compile_raw(gcp_spec()))["metadata"]["user-data"]
    assert "node_index" not in embedded_config(user_data)
    assert METADATA_SERVER.url in user_data and "Metadata-Flavor: Google" in user_data
    # shell variables survive Terraform: ${local_ipv4} is written $${local_ipv4}
    assert "$${local_ipv4}" in user_data


def test_the_shell_format_carries_the_same_probe() -> None:
    user_data = template(compile_raw(gcp_spec(user_data_format="shell")))["metadata"]["user-data"]
    assert user_data.startswith("#!/bin/sh\n")
    assert metadata_index_probe(METADATA_SERVER).script.replace("${", "$${") in user_data


def test_spot_pools_run_on_spot_vms_and_other_pools_do_not() -> None:
    raw = with_gcp(spot_pools=["batch"])
    raw["node_pools"].append({"name": "batch", "instance_types": ["e2-standard-4"], "min_size": 0, "max_size": 3})
    c = compile_raw(raw)
    assert template(c, "batch")["scheduling"]["provisioning_model"] == "SPOT"
    assert template(c, "batch")["scheduling"]["instance_termination_action"] == "STOP"
    assert "scheduling" not in template(c)


# --- labels, outputs, names ---------------------------------------------------------------------


def test_labels_are_lowercase_base_tags_and_the_specs_tags() -> None:
    c = compile_raw(gcp_spec(tags={"team": "platform"}))
    assert instance(c)["labels"] == {
        "kubernetescluster": "demo",
        "backend": "gcp",
        "managedby": "nixk8s",
        "team": "platform",
        "role": "control-plane",
        "pool": "system",
        "node-index": "0",
    }
    assert template(c)["labels"]["role"] == "worker"


def test_the_provider_block_has_the_project_and_region_and_no_attribution_label() -> None:
    assert compile_raw(gcp_spec()).document["provider"]["google"] == {
        "project": "my-project",
        "region": "europe-west1",
        "add_terraform_attribution_label": False,
    }


def test_outputs_are_the_api_endpoint_join_server_and_control_plane_addresses() -> None:
    out = compile_raw(gcp_spec()).document["output"]
    nat_ip = "${google_compute_instance.demo_cp_0.network_interface[0].access_config[0].nat_ip}"
    assert out["api_endpoint"]["value"] == f"https://{nat_ip}:6443"
    assert out["join_server"]["value"] == "https://10.8.1.10:6443"
    assert out["control_plane_addresses"]["value"]["demo-cp-0"] == {
        "private_ip": "10.8.1.10",
        "public_ip": nat_ip,
        "zone": "europe-west1-b",
    }


def test_long_derived_names_are_shortened_within_gcps_limits_and_explained() -> None:
    name = "a-very-long-cluster-name-for-production"
    raw = gcp_spec(name=name)
    raw["node_pools"][1]["name"] = "general-purpose-workers-pool-a1"
    c = compile_raw(raw)
    resource = f"{name}_general-purpose-workers-pool-a1"
    group = resources(c, "google_compute_region_instance_group_manager")[resource]
    assert len(group["name"]) <= 63 and len(group["base_instance_name"]) <= 58
    assert len(resources(c, "google_compute_instance_template")[resource]["name_prefix"]) <= NAME_PREFIX_LIMIT
    assert len(resources(c, "google_service_account")[f"{name}_nodes"]["account_id"]) <= 30
    assert any("GCP limits the length of names" in note for note in c.built.notes)


def test_a_template_name_prefix_keeps_the_providers_long_unique_suffix() -> None:
    assert template_name_prefix("x" * 40 + "_" + "y" * 32).endswith("-")
    assert len(template_name_prefix("x" * 40 + "_" + "y" * 32)) == NAME_PREFIX_LIMIT


def _gcp_names(document: dict[str, Any]) -> list[str]:
    found = []
    for body in (b for by_name in document["resource"].values() for b in by_name.values()):
        found += [body[k] for k in ("name", "base_instance_name", "account_id") if k in body]
        if "name_prefix" in body:
            found.append(body["name_prefix"].rstrip("-"))
    return found


@settings(max_examples=40)
@given(spec=cluster_specs("gcp"))
def test_every_generated_name_and_label_fits_gcps_rules(spec: Any) -> None:
    document = compile_spec(spec).unwrap().document
    for name in _gcp_names(document):
        assert GCE_NAME.match(name), name
    for by_name in document["resource"].values():
        for body in by_name.values():
            labels = body.get("labels", {})
            assert len(labels) <= 64
            for key, value in labels.items():
                assert gcp_label_key_error(key) is None and gcp_label_value_error(value) is None


# --- explain -------------------------------------------------------------------------------------


def test_explain_says_what_the_image_needs_and_how_workers_get_their_index() -> None:
    text = explain(compile_raw(gcp_spec()))
    assert "GCP in europe-west1" in text
    assert "cloud-init with its GCE datasource" in text
    assert "kindling waits for the file the user-data writes" in text
    assert "legacyBootstrap" not in text  # kindling's mode that skips the script is EC2's only
    assert "kubelet                  from 10.8.0.0/16" in text


def test_compilation_is_deterministic() -> None:
    assert compile_raw(gcp_spec()).to_json() == compile_raw(gcp_spec()).to_json()


# --- the spec checks (DESIGN §7) ---------------------------------------------------------------


def _pools(*sizes: int) -> list[dict[str, Any]]:
    return [{"name": "system", "instance_types": ["e2-standard-2"], "min_size": sizes[0], "max_size": max(sizes[0], 1)}]


CHECKS: dict[str, tuple[dict[str, Any], str]] = {
    "no image": (gcp_spec(gcp={"project": "my-project"}), "gcp.image"),
    "malformed image": (gcp_spec(gcp={"project": "my-project"}, nixos={"image_id": "NixOS 24.11"}), "nixos.image_id"),
    "not a gcp region": (gcp_spec(region="eu-central-1"), "region"),
    "unknown region without zones": (gcp_spec(region="me-west1"), "gcp.zones"),
    "zone of another region": (with_gcp(zones=["europe-west1-b", "us-east1-b"]), "gcp.zones[1]"),
    "zone the region lacks": (with_gcp(zones=["europe-west1-a"]), "gcp.zones[0]"),
    "zone listed twice": (with_gcp(zones=["europe-west1-b", "europe-west1-b"]), "gcp.zones[1]"),
    "malformed project id": (gcp_spec(gcp={"project": "My Project", "image": IMAGE}), "gcp.project"),
    "malformed role": (with_gcp(service_account_roles=["artifactregistry.reader"]), "gcp.service_account_roles[0]"),
    "basic role": (with_gcp(service_account_roles=["roles/editor"]), "gcp.service_account_roles[0]"),
    "a role granted already": (
        with_gcp(service_account_roles=["roles/logging.logWriter"]),
        "gcp.service_account_roles[0]",
    ),
    "role listed twice": (
        with_gcp(service_account_roles=["roles/artifactregistry.reader", "roles/artifactregistry.reader"]),
        "gcp.service_account_roles[1]",
    ),
    "ssh key without a user": (with_gcp(ssh_keys=["ssh-ed25519 AAAAC3Nza ops"]), "gcp.ssh_keys[0]"),
    "pool key by name": (
        gcp_spec(node_pools=[{"name": "system", "instance_types": ["e2-standard-2"], "ssh_keys": ["ops"]}]),
        "node_pools[0].ssh_keys[0]",
    ),
    "unknown spot pool": (with_gcp(spot_pools=["wrokers"]), "gcp.spot_pools[0]"),
    "spot control plane": (with_gcp(spot_pools=["system"]), "gcp.spot_pools[0]"),
    "uppercase label value": (gcp_spec(tags={"team": "Platform"}), "tags.team"),
    "label keys equal once lowercased": (gcp_spec(tags={"team": "a", "Team": "b"}), "tags.Team"),
    "label key nixk8s sets": (gcp_spec(tags={"role": "x"}), "tags.role"),
    "too many labels": (gcp_spec(tags={f"t{i}": "v" for i in range(60)}), "tags"),
    "subnet smaller than a /29": (
        gcp_spec(network={"vpc_cidr": "10.8.0.0/16", "subnet_cidr": "10.8.1.0/30"}),
        "network.subnet_cidr",
    ),
    "no room for the servers' addresses": (
        gcp_spec(network={"vpc_cidr": "10.8.0.0/16", "subnet_cidr": "10.8.1.0/28"}, node_pools=_pools(5)),
        "network.subnet_cidr",
    ),
    "parked control plane": (gcp_spec(node_pools=_pools(0)), "node_pools[0].min_size"),
    "persistent_state": (gcp_spec(persistent_state={"size_gb": 50}), "persistent_state"),
    "user-data over 262,144 bytes": (
        gcp_spec(bootstrap_secrets={"k3s_server_token": "a-token", "nix_github_token": "x" * 263_000}),
        "node_pools[0]",
    ),
    "no gcp block": (gcp_spec(gcp=None), "gcp"),
}


@pytest.mark.parametrize("raw,path", CHECKS.values(), ids=CHECKS.keys())
def test_check_refuses_with_the_spec_path(raw: dict[str, Any], path: str) -> None:
    assert path in [p.path for p in problems_of(raw)]


def test_the_user_data_limit_names_gcps_limit() -> None:
    raw = gcp_spec(bootstrap_secrets={"k3s_server_token": "a-token", "nix_github_token": "x" * 263_000})
    (problem,) = [p for p in problems_of(raw) if p.path == "node_pools[0]"]
    assert "262,144" in problem.message


def test_an_unknown_region_with_zones_is_accepted() -> None:
    c = compile_raw(gcp_spec(region="me-west1", gcp={"project": "my-project", "image": IMAGE, "zones": ["me-west1-a"]}))
    assert instance(c)["zone"] == "me-west1-a"


def test_the_unknown_region_message_asks_for_zones() -> None:
    (problem,) = [p for p in problems_of(gcp_spec(region="me-west1")) if p.path == "gcp.zones"]
    assert "not every region has -a, -b and -c" in problem.message


@pytest.mark.parametrize(
    "network", [{"vpc_cidr": "10.8.0.0/33"}, {"vpc_cidr": "10.8.0.0/16", "subnet_cidr": "10.9.0.0/24"}]
)
def test_a_broken_network_is_the_rules_problem_and_the_checks_still_run(network: dict[str, str]) -> None:
    paths = [p.path for p in problems_of(gcp_spec(network=network, tags={"team": "Platform"}))]
    assert "tags.team" in paths
    assert any(p.startswith("network.") for p in paths)


def test_every_known_region_has_zones_that_are_letters() -> None:
    assert all(zones and all(re.fullmatch(r"[a-z]", z) for z in zones) for zones in REGION_ZONES.values())


def test_two_roles_whose_grants_would_share_a_resource_name_are_refused() -> None:
    raw = with_gcp(service_account_roles=["roles/a.b", "roles/a_b"])
    (problem,) = [p for p in problems_of(raw) if p.path == "gcp.service_account_roles[1]"]
    assert "roles/a.b" in problem.message


def test_a_pool_named_node_carries_the_node_tag_once() -> None:
    raw = gcp_spec()
    raw["node_pools"][1]["name"] = "node"
    assert template(compile_raw(raw), "node")["tags"] == ["demo-node"]


def test_explain_warns_that_bootstrap_secrets_stay_readable_in_the_metadata() -> None:
    assert "readable in the instance metadata" in explain(compile_raw(gcp_spec()))
    alone = gcp_spec(node_pools=_pools(1), bootstrap_secrets={})
    assert "readable in the instance metadata" not in explain(compile_raw(alone))
