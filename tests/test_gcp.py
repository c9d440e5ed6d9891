"""The GCP backend: what it builds, what it refuses, and what each node receives."""

from __future__ import annotations

import re
from typing import Any

import pytest
from clouds import GCP_IMAGE as IMAGE
from clouds import gcp_spec
from hypothesis import given, settings
from strategies import cluster_specs
from support import compile_raw, document_user_data, embedded_config, problems_of, render_template

from nixk8s.backends.gcp.checks import REGION_ZONES
from nixk8s.backends.gcp.labels import gcp_label_key_error, gcp_label_value_error
from nixk8s.backends.gcp.nodes import METADATA_SERVER, NAME_PREFIX_LIMIT, template_name_prefix
from nixk8s.compiler import Compiled, compile_spec
from nixk8s.explain_text import explain
from nixk8s.index_probe import metadata_index_probe

KEY = "ops:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOnly ops@example"
GCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


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
    for name, rule in firewalls(c).items():
        # the balancer's health checks reach the servers only
        assert rule["target_tags"] == (["demo-cp"] if name == "demo_api_health" else ["demo-node"])
        assert rule["network"] == "${google_compute_network.demo_network.id}"
    assert "demo-node" in instance(c)["tags"] and "demo-node" in template(c)["tags"]
    assert "demo-cp" in instance(c)["tags"] and "demo-cp" not in template(c)["tags"]


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


def test_without_a_balancer_joiners_use_server_0s_static_address() -> None:
    c = compile_raw(gcp_spec(api_load_balancer="none"))
    joiners = [embedded_config(u) for u in document_user_data(c.document)]
    assert [j.get("join_server") for j in joiners].count(None) == 1
    assert {j["join_server"] for j in joiners if "join_server" in j} == {"https://10.8.1.10:6443"}


def test_kubernetes_joins_without_a_scheme() -> None:
    kubeadm = {"distribution": "kubernetes", "bootstrap_secrets": {"kubeadm_token": "abcdef.0123456789abcdef"}}
    assert compile_raw(gcp_spec(**kubeadm)).document["output"]["join_server"]["value"] == "10.8.1.253:6443"
    alone = compile_raw(gcp_spec(api_load_balancer="none", **kubeadm))
    assert alone.document["output"]["join_server"]["value"] == "10.8.1.10:6443"


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


def test_workers_take_addresses_only_after_the_servers_and_the_balancer_claimed_theirs() -> None:
    group = resources(compile_raw(gcp_spec()), "google_compute_region_instance_group_manager")["demo_workers"]
    servers = [f"google_compute_address.demo_cp_{i}_ip" for i in range(3)]
    assert group["depends_on"] == [*servers, "google_compute_address.demo_api_ip"]
    alone = compile_raw(gcp_spec(api_load_balancer="none"))
    assert resources(alone, "google_compute_region_instance_group_manager")["demo_workers"]["depends_on"] == servers


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


def test_without_a_balancer_outputs_are_server_0s_addresses() -> None:
    out = compile_raw(gcp_spec(api_load_balancer="none")).document["output"]
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
    "no room for the servers' and the balancer's addresses": (
        gcp_spec(network={"vpc_cidr": "10.8.0.0/16", "subnet_cidr": "10.8.1.0/28"}, node_pools=_pools(4)),
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


# --- the API load balancer ------------------------------------------------------------------------

PUBLIC_IP = "google_compute_address.demo_api_public_ip.address"


def configs(c: Compiled) -> list[dict[str, Any]]:
    return [embedded_config(u) for u in document_user_data(c.document)]


def server_sans(config: dict[str, Any]) -> list[str]:
    return config["k3s"]["tls_san"] if "k3s" in config else config["kubernetes"]["api_server_cert_sans"]


@pytest.mark.parametrize(
    "servers,asked,built",
    [(3, "auto", "private"), (2, "auto", "private"), (1, "auto", None), (1, "private", "private"), (3, "none", None)],
)
def test_auto_puts_a_private_balancer_in_front_of_two_or_more_servers(servers: int, asked: str, built: str) -> None:
    system = {"name": "system", "instance_types": ["e2-standard-2"], "min_size": servers, "max_size": servers}
    workers = {"name": "workers", "instance_types": ["e2-standard-4"]}
    c = compile_raw(gcp_spec(node_pools=[system, workers], api_load_balancer=asked))
    assert c.plan.api_load_balancer == built
    assert ("demo_api" in resources(c, "google_compute_forwarding_rule")) == (built is not None)


def test_the_balancer_has_a_static_internal_address_at_the_subnets_last_usable_host() -> None:
    address = resources(compile_raw(gcp_spec()), "google_compute_address")["demo_api_ip"]
    assert (address["address"], address["address_type"], address["purpose"]) == (
        "10.8.1.253",
        "INTERNAL",
        "GCE_ENDPOINT",
    )
    assert address["subnetwork"] == "${google_compute_subnetwork.demo_subnet.id}"
    assert address["region"] == "europe-west1" and address["name"] == "demo-api-ip"


def test_each_zone_with_servers_has_an_instance_group_of_its_servers() -> None:
    system = {"name": "system", "instance_types": ["e2-standard-2"], "min_size": 4, "max_size": 4}
    c = compile_raw(gcp_spec(node_pools=[system]))
    groups = resources(c, "google_compute_instance_group")
    link = "${{google_compute_instance.demo_cp_{}.self_link}}".format
    assert {name: (g["zone"], g["instances"]) for name, g in groups.items()} == {
        "demo_cp_europe_west1_b": ("europe-west1-b", [link(0), link(3)]),
        "demo_cp_europe_west1_c": ("europe-west1-c", [link(1)]),
        "demo_cp_europe_west1_d": ("europe-west1-d", [link(2)]),
    }
    for name, group in groups.items():
        assert group["network"] == "${google_compute_network.demo_network.id}"
        assert GCE_NAME.match(group["name"]), name


def test_the_internal_balancer_is_a_tcp_passthrough_rule_backend_service_and_health_check() -> None:
    c = compile_raw(gcp_spec())
    check = resources(c, "google_compute_region_health_check")["demo_api"]
    assert check["tcp_health_check"] == [{"port": 6443}] and check["region"] == "europe-west1"
    service = resources(c, "google_compute_region_backend_service")["demo_api"]
    assert (service["load_balancing_scheme"], service["protocol"]) == ("INTERNAL", "TCP")
    assert service["network"] == "${google_compute_network.demo_network.id}"
    assert service["health_checks"] == ["${google_compute_region_health_check.demo_api.id}"]
    assert service["backend"] == [
        {"group": f"${{google_compute_instance_group.demo_cp_europe_west1_{z}.id}}", "balancing_mode": "CONNECTION"}
        for z in "bcd"
    ]
    rule = resources(c, "google_compute_forwarding_rule")["demo_api"]
    assert (rule["load_balancing_scheme"], rule["ip_protocol"], rule["ports"]) == ("INTERNAL", "TCP", ["6443"])
    assert rule["ip_address"] == "${google_compute_address.demo_api_ip.address}"
    assert rule["backend_service"] == "${google_compute_region_backend_service.demo_api.id}"
    assert rule["subnetwork"] == "${google_compute_subnetwork.demo_subnet.id}"
    assert "source_ip_ranges" not in rule


def test_googles_health_checks_reach_the_servers_api_port() -> None:
    rule = firewalls(compile_raw(gcp_spec()))["demo_api_health"]
    assert rule["source_ranges"] == ["35.191.0.0/16", "130.211.0.0/22"]
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["6443"]}]
    assert rule["target_tags"] == ["demo-cp"]
    public = firewalls(compile_raw(gcp_spec(api_load_balancer="public")))["demo_api_health"]
    assert public["source_ranges"] == ["35.191.0.0/16", "130.211.0.0/22", "209.85.152.0/22", "209.85.204.0/22"]
    assert "demo_api_health" not in firewalls(compile_raw(gcp_spec(api_load_balancer="none")))


@pytest.mark.parametrize("distribution", ["k3s", "kubernetes"])
def test_workers_join_the_balancer_and_servers_join_server_0(distribution: str) -> None:
    secrets = {"kubeadm_token": "abcdef.0123456789abcdef"} if distribution == "kubernetes" else None
    c = compile_raw(gcp_spec(distribution=distribution, **({"bootstrap_secrets": secrets} if secrets else {})))
    scheme = "https://" if distribution == "k3s" else ""
    by_role: dict[str, set[str]] = {}
    for config in configs(c):
        if config["cluster_init"]:
            continue
        by_role.setdefault(config["role"], set()).add(config["join_server"])
    assert by_role == {"server": {f"{scheme}10.8.1.10:6443"}, "agent": {f"{scheme}10.8.1.253:6443"}}


@pytest.mark.parametrize("asked,names", [("private", ["10.8.1.253"]), ("public", ["10.8.1.253", PUBLIC_IP])])
def test_every_servers_certificate_names_the_balancer(asked: str, names: list[str]) -> None:
    servers = [cfg for cfg in configs(compile_raw(gcp_spec(api_load_balancer=asked))) if cfg["role"] == "server"]
    assert len(servers) == 3
    for config in servers:
        assert server_sans(config) == names


def test_a_public_balancer_adds_an_external_address_service_and_rule_open_to_the_api_sources() -> None:
    access = {"api_sources": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]}
    c = compile_raw(gcp_spec(api_load_balancer="public", access=access))
    address = resources(c, "google_compute_address")["demo_api_public_ip"]
    assert address["address_type"] == "EXTERNAL" and "address" not in address
    service = resources(c, "google_compute_region_backend_service")["demo_api_public"]
    assert (service["load_balancing_scheme"], service["protocol"]) == ("EXTERNAL", "TCP")
    assert "network" not in service  # GCP takes a network for internal services only
    assert service["backend"] == resources(c, "google_compute_region_backend_service")["demo_api"]["backend"]
    rule = resources(c, "google_compute_forwarding_rule")["demo_api_public"]
    assert (rule["load_balancing_scheme"], rule["ip_protocol"], rule["ports"]) == ("EXTERNAL", "TCP", ["6443"])
    assert rule["ip_address"] == "${" + PUBLIC_IP + "}"
    assert rule["backend_service"] == "${google_compute_region_backend_service.demo_api_public.id}"
    # an IPv4 rule filters on the IPv4 sources; the firewall, which sees client addresses, on all of them
    assert rule["source_ip_ranges"] == ["203.0.113.0/24", "198.51.100.7/32"]
    assert firewalls(c)["demo_public_api_v4"]["source_ranges"] == ["203.0.113.0/24", "198.51.100.7/32", "10.8.0.0/16"]
    assert firewalls(c)["demo_public_api_v6"]["source_ranges"] == ["2001:db8::/32"]


def test_a_public_balancer_open_to_anywhere_does_not_filter_on_sources() -> None:
    rule = resources(compile_raw(gcp_spec(api_load_balancer="public")), "google_compute_forwarding_rule")
    assert "source_ip_ranges" not in rule["demo_api_public"]


def test_a_private_balancer_builds_nothing_public() -> None:
    c = compile_raw(gcp_spec(api_load_balancer="private"))
    assert "demo_api_public" not in resources(c, "google_compute_forwarding_rule")
    assert "demo_api_public_ip" not in resources(c, "google_compute_address")


@pytest.mark.parametrize(
    "asked,endpoint",
    [("private", "https://10.8.1.253:6443"), ("public", "https://${" + PUBLIC_IP + "}:6443")],
)
def test_the_api_endpoint_is_the_balancer_and_join_server_its_internal_address(asked: str, endpoint: str) -> None:
    c = compile_raw(gcp_spec(api_load_balancer=asked))
    out = c.document["output"]
    assert out["api_endpoint"]["value"] == endpoint
    assert out["join_server"]["value"] == "https://10.8.1.253:6443"
    handle = c.built.foundation.balancer
    assert handle is not None and handle.resource == "google_compute_forwarding_rule.demo_api"
    assert handle.private_address == "10.8.1.253"
    assert (handle.public_address is not None) == (asked == "public")


def test_a_public_balancer_filters_on_at_most_64_ipv4_ranges() -> None:
    many = [f"203.0.{i}.0/24" for i in range(65)]
    problems = problems_of(gcp_spec(api_load_balancer="public", access={"api_sources": many}))
    assert [p.path for p in problems] == ["access.api_sources"]
    assert "at most 64" in problems[0].message
    assert problems_of(gcp_spec(api_load_balancer="private", access={"api_sources": many})) == ()


def test_explain_says_servers_join_server_0_and_workers_the_balancer() -> None:
    text = explain(compile_raw(gcp_spec()))
    assert "internal passthrough load balancer at 10.8.1.253" in text
    assert "servers join server 0 directly" in text
    assert "google-guest-agent" in text
    assert "no API load balancer" in explain(compile_raw(gcp_spec(api_load_balancer="none")))


def test_four_servers_fit_a_28_without_a_balancer_and_three_with_one() -> None:
    small = {"vpc_cidr": "10.8.0.0/16", "subnet_cidr": "10.8.1.0/28"}
    assert problems_of(gcp_spec(network=small, node_pools=_pools(4), api_load_balancer="none")) == ()
    c = compile_raw(gcp_spec(network=small, node_pools=_pools(3)))
    assert resources(c, "google_compute_address")["demo_api_ip"]["address"] == "10.8.1.13"
