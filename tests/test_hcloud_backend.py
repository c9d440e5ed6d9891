"""The hcloud backend at the document level (DESIGN §5) and its platform limits (§7)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from nixk8s.backends.hcloud.checks import MAX_FIREWALL_RULES
from nixk8s.terraform import Expr

from support import OWN_VPN, compile_problems, compile_raw, minimal_spec, problems_of, worker_pool

TOKEN = {"k3s_server_token": "K10token"}


def ha_spec(**fields: Any) -> dict[str, Any]:
    """Three servers, workers (3) and gpu (1), a private network."""
    raw = minimal_spec(
        node_pools=[
            {"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3, "ssh_keys": ["ops"]},
            worker_pool("workers", 2, max_size=6, desired_size=3),
            worker_pool("gpu", 1),
        ],
        network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/24"},
        bootstrap_secrets=TOKEN,
    )
    raw.update(fields)
    return raw


def configs(raw: dict[str, Any]) -> dict[str, Any]:
    """Each server's NodeConfig by resource name (the document's user_data still holds
    Terraform interpolations such as the network id, so it is not JSON yet)."""
    built = compile_raw(raw).built
    out = {f"demo_cp_{n.ordinal}": n.config for n in built.control_plane}
    out.update({f"demo_{p.pool.name}_{n.ordinal}": n.config for p in built.workers for n in p.machine_nodes()})
    return out


def resources(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compile_raw(raw).document["resource"]  # type: ignore[no-any-return]


# --- network -----------------------------------------------------------------------------------------


def test_network_and_subnet_with_a_network() -> None:
    res = resources(ha_spec())
    assert res["hcloud_network"]["demo_network"]["ip_range"] == "10.0.0.0/16"
    subnet = res["hcloud_network_subnet"]["demo_subnet"]
    assert subnet["ip_range"] == "10.0.1.0/24"
    assert subnet["type"] == "cloud"
    assert subnet["network_id"] == "${hcloud_network.demo_network.id}"


@pytest.mark.parametrize(("region", "zone"), [("nbg1", "eu-central"), ("fsn1", "eu-central"), ("hel1", "eu-central"),
                                              ("ash", "us-east"), ("hil", "us-west"), ("sin", "ap-southeast")])
def test_network_zone_is_derived_from_the_location(region: str, zone: str) -> None:
    assert resources(ha_spec(region=region))["hcloud_network_subnet"]["demo_subnet"]["network_zone"] == zone


def test_explicit_network_zone_wins() -> None:
    raw = ha_spec(region="xyz1", hcloud={"image": "img", "network_zone": "eu-central"})
    assert resources(raw)["hcloud_network_subnet"]["demo_subnet"]["network_zone"] == "eu-central"


def test_unknown_location_with_a_network_is_a_problem() -> None:
    (problem,) = problems_of(ha_spec(region="nbg2"))
    assert problem.path == "region"
    assert 'did you mean "nbg1"' in problem.message


def test_no_network_resources_without_a_network() -> None:
    res = resources(minimal_spec())
    assert "hcloud_network" not in res
    assert "hcloud_network_subnet" not in res
    assert "hcloud_server_network" not in res


def test_public_network_range_is_a_problem() -> None:
    (problem,) = problems_of(ha_spec(network={"vpc_cidr": "8.8.0.0/16"}))
    assert problem.path == "network.vpc_cidr"


# --- firewall ----------------------------------------------------------------------------------------


def firewall(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return resources(raw)["hcloud_firewall"]["demo_firewall"]["rule"]  # type: ignore[no-any-return]


def test_firewall_public_rules_use_the_access_sources() -> None:
    raw = ha_spec(access={"ssh_sources": ["203.0.113.0/24"], "api_sources": ["198.51.100.0/24"]})
    by_port = {r.get("port"): r for r in firewall(raw)}
    assert by_port["22"]["source_ips"] == ["203.0.113.0/24"]
    assert by_port["6443"]["source_ips"] == ["198.51.100.0/24"]
    assert by_port["443"]["source_ips"] == ["0.0.0.0/0", "::/0"]
    assert all(r["direction"] == "in" for r in firewall(raw))


def test_firewall_private_rules_allow_only_the_network_cidr() -> None:
    by_port = {r.get("port"): r for r in firewall(ha_spec())}
    for port in ("10250", "2379-2380", "8472"):
        assert by_port[port]["source_ips"] == ["10.0.0.0/16"]


def test_firewall_without_a_network_has_only_public_rules() -> None:
    ports = {r.get("port") for r in firewall(minimal_spec())}
    assert ports == {None, "22", "80", "443", "6443"}  # None: ICMP


def test_firewall_is_attached_to_every_server() -> None:
    for server in resources(ha_spec())["hcloud_server"].values():
        assert server["firewall_ids"] == ["${hcloud_firewall.demo_firewall.id}"]


# --- placement group and servers -----------------------------------------------------------------------


def test_control_plane_is_in_a_spread_placement_group() -> None:
    res = resources(ha_spec())
    assert res["hcloud_placement_group"]["demo_cp"]["type"] == "spread"
    for i in range(3):
        assert res["hcloud_server"][f"demo_cp_{i}"]["placement_group_id"] == "${hcloud_placement_group.demo_cp.id}"


def test_workers_are_in_their_pools_spread_group_not_the_control_planes() -> None:
    res = resources(ha_spec())
    assert res["hcloud_server"]["demo_workers_0"]["placement_group_id"] == "${hcloud_placement_group.demo_workers_pg_0.id}"
    assert res["hcloud_placement_group"]["demo_workers_pg_0"]["type"] == "spread"


def test_one_server_and_attachment_per_node() -> None:
    res = resources(ha_spec())
    expected = {"demo_cp_0", "demo_cp_1", "demo_cp_2", "demo_workers_0", "demo_workers_1", "demo_workers_2", "demo_gpu_0"}
    assert set(res["hcloud_server"]) == expected
    assert set(res["hcloud_server_network"]) == {f"{name}_network" for name in expected}


def test_control_plane_gets_fixed_private_ips() -> None:
    attachments = resources(ha_spec())["hcloud_server_network"]
    assert [attachments[f"demo_cp_{i}_network"]["ip"] for i in range(3)] == ["10.0.1.2", "10.0.1.3", "10.0.1.4"]
    assert attachments["demo_cp_0_network"]["server_id"] == "${hcloud_server.demo_cp_0.id}"
    assert attachments["demo_cp_0_network"]["subnet_id"] == "${hcloud_network_subnet.demo_subnet.id}"


def test_workers_attach_after_the_control_plane_without_a_fixed_ip() -> None:
    attachment = resources(ha_spec(api_load_balancer="none"))["hcloud_server_network"]["demo_workers_0_network"]
    assert "ip" not in attachment
    assert attachment["depends_on"] == [f"hcloud_server_network.demo_cp_{i}_network" for i in range(3)]


def test_workers_attach_after_the_api_load_balancer_too() -> None:
    attachment = resources(ha_spec())["hcloud_server_network"]["demo_workers_0_network"]
    assert attachment["depends_on"][-1] == "hcloud_load_balancer_network.demo_api_network"


def test_worker_count_is_the_desired_size() -> None:
    res = resources(ha_spec())
    assert len([n for n in res["hcloud_server"] if n.startswith("demo_workers_")]) == 3


@pytest.mark.parametrize("image_fields", [{"hcloud": {"image": "hc-img"}}, {"hcloud": None, "nixos": {"image_id": "hc-img"}}])
def test_every_server_gets_the_nixos_image(image_fields: dict[str, Any]) -> None:
    servers = resources(ha_spec(**image_fields))["hcloud_server"]
    assert {s["image"] for s in servers.values()} == {"hc-img"}


def test_servers_have_type_location_and_ssh_keys_from_their_pool() -> None:
    servers = resources(ha_spec())["hcloud_server"]
    assert servers["demo_cp_0"]["server_type"] == "cx32"
    assert servers["demo_cp_0"]["ssh_keys"] == ["ops"]
    assert servers["demo_workers_0"]["server_type"] == "cx42"
    assert {s["location"] for s in servers.values()} == {"nbg1"}
    assert servers["demo_cp_0"]["name"] == "demo-cp-0"


def test_servers_ignore_user_data_image_and_ssh_key_changes_by_default() -> None:
    for server in resources(ha_spec())["hcloud_server"].values():
        assert server["lifecycle"] == {"ignore_changes": ["user_data", "image", "ssh_keys"]}


def test_replace_on_user_data_change_drops_the_lifecycle_block() -> None:
    raw = ha_spec(hcloud={"image": "img", "replace_on_user_data_change": True})
    assert all("lifecycle" not in s for s in resources(raw)["hcloud_server"].values())


def test_each_server_carries_its_own_static_index() -> None:
    nodes = configs(ha_spec())
    assert [nodes[f"demo_cp_{i}"].node_index for i in range(3)] == [0, 1, 2]
    workers = {nodes[f"demo_workers_{i}"].node_index for i in range(3)}
    assert len(workers) == 3
    assert all(isinstance(i, int) for i in workers)


def test_default_user_data_format_is_cloud_config() -> None:
    assert resources(minimal_spec())["hcloud_server"]["demo_cp_0"]["user_data"].startswith("#cloud-config\n")


def test_without_a_load_balancer_nodes_join_server_zeros_private_ip() -> None:
    raw = ha_spec(api_load_balancer="none")
    nodes = configs(raw)
    assert nodes["demo_cp_1"].join_server.literal() == "https://10.0.1.2:6443"
    assert nodes["demo_gpu_0"].join_server.literal() == "https://10.0.1.2:6443"
    user_data = resources(raw)["hcloud_server"]["demo_cp_1"]["user_data"]
    assert '"join_server":"https://10.0.1.2:6443"' in user_data


def test_join_server_has_no_scheme_for_kubernetes() -> None:
    raw = ha_spec(distribution="kubernetes", bootstrap_secrets={"kubeadm_token": "abcdef.0123456789abcdef"})
    assert configs(raw)["demo_cp_1"].join_server.literal() == "10.0.1.254:6443"


def test_join_server_without_a_network_is_server_zeros_public_ipv4() -> None:
    raw = minimal_spec(
        node_pools=[minimal_spec()["node_pools"][0], worker_pool(size=1)], bootstrap_secrets=TOKEN, vpn=OWN_VPN
    )
    user_data = resources(raw)["hcloud_server"]["demo_workers_0"]["user_data"]
    assert '"join_server":${jsonencode("https://${hcloud_server.demo_cp_0.ipv4_address}:6443")}' in user_data


def test_outputs_without_a_load_balancer_point_at_server_0() -> None:
    outputs = compile_raw(ha_spec(api_load_balancer="none")).document["output"]
    assert outputs["api_endpoint"]["value"] == "https://${hcloud_server.demo_cp_0.ipv4_address}:6443"
    assert outputs["join_server"]["value"] == "https://10.0.1.2:6443"
    addresses = outputs["control_plane_addresses"]["value"]
    assert addresses["demo-cp-1"] == {"public_ipv4": "${hcloud_server.demo_cp_1.ipv4_address}", "private_ip": "10.0.1.3"}


# --- labels ---------------------------------------------------------------------------------------


def test_labels_have_lowercase_keys_with_the_base_tags() -> None:
    raw = ha_spec(tags={"Team": "platform", "environment": "production"})
    labels = resources(raw)["hcloud_server"]["demo_cp_0"]["labels"]
    assert labels["kubernetescluster"] == "demo"
    assert labels["backend"] == "hcloud"
    assert labels["managedby"] == "nixk8s"
    assert labels["team"] == "platform"
    assert labels["environment"] == "production"
    assert all(k == k.lower() for k in labels)


def test_labels_on_every_labelled_resource() -> None:
    res = resources(ha_spec(tags={"team": "platform"}))
    for kind, name in [("hcloud_network", "demo_network"), ("hcloud_firewall", "demo_firewall"),
                       ("hcloud_placement_group", "demo_cp"), ("hcloud_server", "demo_gpu_0")]:
        assert res[kind][name]["labels"]["team"] == "platform"


def test_server_labels_carry_role_and_pool() -> None:
    servers = resources(ha_spec())["hcloud_server"]
    assert servers["demo_cp_0"]["labels"]["role"] == "control-plane"
    assert servers["demo_gpu_0"]["labels"]["role"] == "worker"
    assert servers["demo_gpu_0"]["labels"]["pool"] == "gpu"


@pytest.mark.parametrize(("key", "value"), [("bad key", "x"), ("ok", "bad value"), ("ok", "x" * 64), ("-x", "y")])
def test_invalid_hetzner_label_is_a_problem(key: str, value: str) -> None:
    (problem,) = problems_of(minimal_spec(tags={key: value}))
    assert problem.path.startswith("tags")
    assert "Hetzner label rules" in problem.message


def test_a_label_problem_names_the_tag_as_the_spec_spells_it() -> None:
    (problem,) = problems_of(minimal_spec(tags={"Bad Key": "x"}))
    assert problem.path == 'tags["Bad Key"]'


def test_two_tags_that_lowercase_to_one_label_are_a_problem() -> None:
    (problem,) = problems_of(minimal_spec(tags={"Team": "a", "team": "b"}))
    assert problem.path == "tags.team"
    assert "tags.Team" in problem.message


# --- platform limits (DESIGN §7) -------------------------------------------------------------------


def test_missing_image_is_a_problem() -> None:
    (problem,) = problems_of(minimal_spec(hcloud=None))
    assert problem.path == "hcloud.image"
    assert "NixOS image" in problem.message


def test_user_data_over_32768_bytes_is_a_problem() -> None:
    problems = compile_problems(minimal_spec(bootstrap_secrets={"sops_age_key": "k" * 33_000}))
    (problem,) = problems
    assert problem.path == "node_pools[0]"
    assert "32,768" in problem.message


def test_user_data_just_under_the_limit_is_fine() -> None:
    raw = minimal_spec(credentials="external", bootstrap_secrets={"sops_age_key": "k" * 30_000})
    assert compile_problems(raw) == ()


def test_user_data_limit_counts_the_bound_of_secret_variables() -> None:
    # a PEM secret by {var} may hold 6144 JSON characters: six of them cannot fit 32,768 bytes
    keys = ["k3s_tls_server_ca_crt", "k3s_tls_server_ca_key", "k3s_tls_client_ca_crt",
            "k3s_tls_client_ca_key", "k3s_tls_request_header_ca_crt", "k3s_tls_request_header_ca_key"]
    raw = minimal_spec(credentials="external", bootstrap_secrets={k: {"var": k} for k in keys})
    (problem,) = compile_problems(raw)
    assert "32,768" in problem.message


def test_short_secrets_by_reference_fit_however_many_there_are() -> None:
    # tokens and keys are bounded at 512 JSON characters each
    keys = ["sops_age_key", "flux_github_token", "nix_github_token", "vpn_private_key", "vpn_psk",
            "k3s_admin_password"]
    raw = minimal_spec(bootstrap_secrets={k: {"var": k} for k in keys})
    assert compile_problems(raw) == ()


def test_more_than_100_servers_on_a_network_is_a_problem() -> None:
    raw = ha_spec(node_pools=[{"name": "system", "instance_types": ["cx32"]}, worker_pool("workers", 100)])
    (problem,) = problems_of(raw)
    assert problem.path == "node_pools"
    assert "101 servers" in problem.message
    assert "100" in problem.message


def test_100_servers_on_a_network_is_fine() -> None:
    raw = ha_spec(node_pools=[{"name": "system", "instance_types": ["cx32"]}, worker_pool("workers", 99)])
    assert problems_of(raw) == ()


def test_more_than_100_servers_without_a_network_is_fine() -> None:
    raw = minimal_spec(node_pools=[{"name": "system", "instance_types": ["cx32"]}, worker_pool("workers", 150)],
                       bootstrap_secrets=TOKEN, vpn=OWN_VPN)
    assert problems_of(raw) == ()


def test_more_than_10_control_plane_servers_is_a_problem() -> None:
    raw = ha_spec(node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 11, "max_size": 11}])
    (problem,) = problems_of(raw)
    assert problem.path == "node_pools[0].min_size"
    assert "at most 10" in problem.message


def test_10_control_plane_servers_is_fine() -> None:
    raw = ha_spec(node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 10, "max_size": 10}])
    assert problems_of(raw) == ()


def vpn_links(n: int) -> dict[str, Any]:
    return {
        "links": [
            {
                "name": f"wg{i}",
                "private_key_file": f"/run/secrets/wg{i}",
                "address": f"10.{100 + i}.0.1/24",
                "listen_port": 40000 + i,
                "firewall": {"incoming_udp_port": 40000 + i},
                "peers": [{"public_key": "A" * 43 + "=", "allowed_ips": [f"10.{100 + i}.0.0/24"],
                           "preshared_key_file": "/run/secrets/psk"}],
            }
            for i in range(n)
        ]
    }


def test_more_than_50_firewall_rules_is_a_problem() -> None:
    (problem,) = problems_of(minimal_spec(vpn=vpn_links(MAX_FIREWALL_RULES)))
    assert problem.path == "access"
    assert "50 per firewall" in problem.message


def test_firewall_rule_limit_is_exact() -> None:
    base = len(firewall(minimal_spec()))
    assert problems_of(minimal_spec(vpn=vpn_links(MAX_FIREWALL_RULES - base))) == ()
    assert len(problems_of(minimal_spec(vpn=vpn_links(MAX_FIREWALL_RULES - base + 1)))) == 1


def test_several_platform_limits_are_reported_together() -> None:
    raw = ha_spec(
        hcloud=None,
        tags={"bad key": "x"},
        node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 11, "max_size": 11},
                    worker_pool("workers", 95)],
    )
    assert [p.path for p in problems_of(raw)] == ["hcloud.image", "node_pools", "node_pools[0].min_size", 'tags["bad key"]']


def test_long_server_names_are_shortened_to_a_hostname_label() -> None:
    raw = minimal_spec(
        name="a" * 40,
        node_pools=[minimal_spec()["node_pools"][0], worker_pool("b" * 32, size=1)],
        bootstrap_secrets={"k3s_server_token": "t0ken"},
        network={},
    )
    servers = compile_raw(raw).document["resource"]["hcloud_server"]
    names = [body["name"] for body in servers.values()]
    assert all(len(n) <= 63 for n in names)
    assert len(set(names)) == len(names)


def test_shortened_server_names_are_explained() -> None:
    raw = minimal_spec(
        name="a" * 40,
        node_pools=[minimal_spec()["node_pools"][0], worker_pool("b" * 32, size=1)],
        bootstrap_secrets={"k3s_server_token": "t0ken"},
        network={},
    )
    assert any("shortened" in note for note in compile_raw(raw).built.notes)


def test_without_a_network_a_restricted_api_would_lock_out_the_joining_nodes() -> None:
    raw = minimal_spec(
        node_pools=[minimal_spec()["node_pools"][0], worker_pool(size=1)],
        bootstrap_secrets={"k3s_server_token": "t0ken"},
        access={"api_sources": ["203.0.113.0/24"]},
        vpn=OWN_VPN,
    )
    (problem,) = problems_of(raw)
    assert problem.path == "access.api_sources"


def test_with_a_network_the_api_may_be_restricted() -> None:
    raw = minimal_spec(
        node_pools=[minimal_spec()["node_pools"][0], worker_pool(size=1)],
        bootstrap_secrets={"k3s_server_token": "t0ken"},
        access={"api_sources": ["203.0.113.0/24"]},
        network={"vpc_cidr": "10.0.0.0/16"},
    )
    assert problems_of(raw) == ()


def test_a_single_server_without_a_network_may_restrict_the_api() -> None:
    raw = minimal_spec(access={"api_sources": ["203.0.113.0/24"]})
    assert problems_of(raw) == ()


def test_servers_without_a_balancer_name_only_the_address_the_subnet_reserves_for_one() -> None:
    raw = minimal_spec(
        node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3}],
        bootstrap_secrets={"k3s_server_token": "t0ken"},
        network={"vpc_cidr": "10.0.0.0/16"},
        api_load_balancer="none",
    )
    for node in compile_raw(raw).built.control_plane:
        assert node.config.k3s == {"tls_san": ["10.0.0.254"]}


def test_without_a_network_no_address_is_reserved_for_a_balancer() -> None:
    (server,) = compile_raw(minimal_spec()).built.control_plane
    assert "tls_san" not in (server.config.k3s or {})


# --- what Hetzner Cloud cannot do -------------------------------------------------------------


def test_a_parked_control_plane_is_refused_with_the_way_out() -> None:
    raw = minimal_spec(node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 0, "max_size": 3}])
    (problem,) = problems_of(raw)
    assert problem.path == "node_pools[0].min_size"
    assert "park" in problem.message and "Hetzner Cloud cannot" in problem.message
    assert "set min_size to 1" in problem.message


def test_persistent_state_is_refused_with_the_reason() -> None:
    (problem,) = problems_of(minimal_spec(persistent_state={"size_gb": 50}))
    assert problem.path == "persistent_state"
    assert "EBS" in problem.message


def test_a_cluster_of_several_nodes_without_a_network_is_refused_with_both_ways_out() -> None:
    raw = minimal_spec(node_pools=[minimal_spec()["node_pools"][0], worker_pool(size=1)], bootstrap_secrets=TOKEN)
    (problem,) = problems_of(raw)
    assert problem.path == "network"
    assert "Add `network`" in problem.message and "`vpn`" in problem.message


def test_a_single_server_needs_no_network() -> None:
    assert problems_of(minimal_spec()) == ()


def test_three_servers_without_a_network_are_refused() -> None:
    raw = minimal_spec(
        node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3}],
        bootstrap_secrets=TOKEN,
    )
    assert [p.path for p in problems_of(raw)] == ["network"]


def test_an_image_name_longer_than_hetzner_allows_is_a_problem() -> None:
    (problem,) = problems_of(minimal_spec(hcloud={"image": "i" * 256}))
    assert problem.path == "hcloud.image"
    assert "at most 255" in problem.message


# --- the API load balancer (hcloud_load_balancer) --------------------------------------------


def test_two_or_more_servers_get_a_private_api_load_balancer_by_default() -> None:
    res = resources(ha_spec())
    assert res["hcloud_load_balancer"]["demo_api"]["load_balancer_type"] == "lb11"
    network = res["hcloud_load_balancer_network"]["demo_api_network"]
    assert network["ip"] == "10.0.1.254"
    assert network["enable_public_interface"] is False


def test_a_single_server_gets_no_load_balancer_by_default() -> None:
    raw = ha_spec(node_pools=[{"name": "system", "instance_types": ["cx32"]}, worker_pool("workers", 2)])
    assert "hcloud_load_balancer" not in resources(raw)


def test_every_server_is_a_target_over_the_private_network() -> None:
    targets = resources(ha_spec())["hcloud_load_balancer_target"]
    assert sorted(targets) == ["demo_cp_0_api", "demo_cp_1_api", "demo_cp_2_api"]
    target = targets["demo_cp_1_api"]
    assert target["server_id"] == "${hcloud_server.demo_cp_1.id}"
    assert target["use_private_ip"] is True
    assert target["depends_on"] == [
        "hcloud_load_balancer_network.demo_api_network",
        "hcloud_server_network.demo_cp_1_network",
    ]


def test_the_load_balancer_serves_tcp_6443_with_a_health_check() -> None:
    service = resources(ha_spec())["hcloud_load_balancer_service"]["demo_api"]
    assert (service["protocol"], service["listen_port"], service["destination_port"]) == ("tcp", 6443, 6443)
    assert service["health_check"][0]["protocol"] == "tcp"


def test_servers_after_the_first_and_workers_join_through_the_load_balancer() -> None:
    nodes = configs(ha_spec())
    assert "join_server" not in msgspec.to_builtins(nodes["demo_cp_0"])
    assert {nodes[n].join_server.literal() for n in ("demo_cp_1", "demo_cp_2", "demo_workers_0", "demo_gpu_0")} == {
        "https://10.0.1.254:6443"
    }


def test_every_servers_certificate_names_the_load_balancer() -> None:
    nodes = configs(ha_spec())
    for i in range(3):
        assert "10.0.1.254" in nodes[f"demo_cp_{i}"].k3s["tls_san"]


def test_a_public_load_balancer_adds_its_public_address_to_the_certificates_and_the_endpoint() -> None:
    raw = ha_spec(api_load_balancer="public")
    assert resources(raw)["hcloud_load_balancer_network"]["demo_api_network"]["enable_public_interface"] is True
    sans = configs(raw)["demo_cp_0"].k3s["tls_san"]
    assert sans[-2:] == ["10.0.1.254", Expr("hcloud_load_balancer.demo_api.ipv4", max_len=15)]
    assert compile_raw(raw).document["output"]["api_endpoint"]["value"] == "https://${hcloud_load_balancer.demo_api.ipv4}:6443"


def test_a_private_load_balancer_is_the_api_endpoint_inside_the_network() -> None:
    outputs = compile_raw(ha_spec()).document["output"]
    assert outputs["api_endpoint"]["value"] == "https://10.0.1.254:6443"
    assert outputs["join_server"]["value"] == "https://10.0.1.254:6443"


def test_a_public_load_balancer_with_restricted_api_sources_is_refused_with_both_ways_out() -> None:
    raw = ha_spec(api_load_balancer="public", access={"api_sources": ["203.0.113.0/24"]})
    (problem,) = problems_of(raw)
    assert problem.path == "access.api_sources"
    assert "api_load_balancer to private" in problem.message and "0.0.0.0/0 and ::/0" in problem.message


def test_a_private_load_balancer_may_have_restricted_api_sources() -> None:
    assert problems_of(ha_spec(api_load_balancer="private", access={"api_sources": ["203.0.113.0/24"]})) == ()


def test_a_load_balancer_needs_a_network() -> None:
    raw = minimal_spec(
        node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3}],
        bootstrap_secrets=TOKEN,
        vpn=OWN_VPN,
        api_load_balancer="private",
    )
    (problem,) = problems_of(raw)
    assert problem.path == "api_load_balancer"
    assert "add `network`" in problem.message


def test_without_a_network_auto_builds_no_load_balancer() -> None:
    raw = minimal_spec(
        node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3}],
        bootstrap_secrets=TOKEN,
        vpn=OWN_VPN,
    )
    assert "hcloud_load_balancer" not in resources(raw)


def test_a_subnet_too_small_for_the_servers_and_the_balancer_is_refused() -> None:
    raw = ha_spec(network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/29"},
                  node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 5, "max_size": 5}])
    (problem,) = problems_of(raw)
    assert problem.path == "network.subnet_cidr" and "API load balancer" in problem.message


# --- spread placement groups of at most 10 ------------------------------------------------------


def test_a_pool_of_25_servers_is_spread_over_three_groups_in_order() -> None:
    raw = ha_spec(node_pools=[ha_spec()["node_pools"][0], worker_pool("workers", 25)])
    res = resources(raw)
    assert sorted(n for n in res["hcloud_placement_group"] if n != "demo_cp") == [
        "demo_workers_pg_0", "demo_workers_pg_1", "demo_workers_pg_2"
    ]
    group_of = {n: s["placement_group_id"] for n, s in res["hcloud_server"].items() if n.startswith("demo_workers_")}
    assert group_of["demo_workers_9"] == "${hcloud_placement_group.demo_workers_pg_0.id}"
    assert group_of["demo_workers_10"] == "${hcloud_placement_group.demo_workers_pg_1.id}"
    assert group_of["demo_workers_24"] == "${hcloud_placement_group.demo_workers_pg_2.id}"
