"""What Azure would refuse at apply time is a problem at compile time, with its spec path
(DESIGN §7), and the checks never trip over a spec whose other rules failed."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from strategies import AZURE_ADMIN_KEY, AZURE_RSA_KEY
from support import problem_paths, problems_of
from test_azure_backend import azure_spec, with_azure

from nixk8s.backends.azure.checks import RESERVED_ADMIN_USERNAMES
from nixk8s.problems import join_path


def messages(raw: dict[str, Any], path: str) -> list[str]:
    return [p.message for p in problems_of(raw) if p.path == path]


def rsa_key(bits: int) -> str:
    def field(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    blob = field(b"ssh-rsa") + field(b"\x01\x00\x01") + field(b"\x00" + b"\xff" * (bits // 8))
    return "ssh-rsa " + base64.b64encode(blob).decode() + " short@example"


def test_the_small_example_compiles() -> None:
    assert problems_of(azure_spec()) == ()


# --- admin login ------------------------------------------------------------------------------------


def test_an_azure_block_without_the_admin_key_is_a_problem() -> None:
    assert "azure.admin_ssh_public_key" in problem_paths(azure_spec(azure={"image_id": "x"}))


def test_a_key_path_instead_of_the_key_is_a_problem() -> None:
    (message,) = messages(with_azure(admin_ssh_public_key="~/.ssh/id_ed25519.pub"), "azure.admin_ssh_public_key")
    assert "not an OpenSSH public key line" in message


def test_an_rsa_key_shorter_than_2048_bits_is_a_problem() -> None:
    (message,) = messages(with_azure(admin_ssh_public_key=rsa_key(1024)), "azure.admin_ssh_public_key")
    assert "1024 bits; Azure requires at least 2048" in message


def test_an_rsa_key_of_2048_bits_is_fine() -> None:
    assert problems_of(with_azure(admin_ssh_public_key=AZURE_RSA_KEY)) == ()


def test_an_ecdsa_key_is_a_problem() -> None:
    def field(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    blob = field(b"ecdsa-sha2-nistp256") + field(b"nistp256") + field(b"\x04" + bytes(64))
    line = "ecdsa-sha2-nistp256 " + base64.b64encode(blob).decode()
    (message,) = messages(with_azure(admin_ssh_public_key=line), "azure.admin_ssh_public_key")
    assert "accepts only ssh-rsa (2048 bits or more) and ssh-ed25519" in message


def test_a_pool_key_that_is_not_a_key_is_a_problem_at_its_path() -> None:
    raw = azure_spec()
    raw["node_pools"][1]["ssh_keys"] = [AZURE_ADMIN_KEY, "ops"]
    assert problem_paths(raw) == ["node_pools[1].ssh_keys[1]"]


@pytest.mark.parametrize("name", ["root", "admin", "Administrator", "test1"])
def test_a_user_name_azure_reserves_is_a_problem(name: str) -> None:
    assert name.lower() in RESERVED_ADMIN_USERNAMES
    (message,) = messages(with_azure(admin_username=name), "azure.admin_username")
    assert "Azure reserves" in message


@pytest.mark.parametrize("name", ["", "9lives", "Ops", "ops user", "a" * 33])
def test_an_admin_name_that_is_no_linux_user_name_is_a_problem(name: str) -> None:
    assert problem_paths(with_azure(admin_username=name)) == ["azure.admin_username"]


# --- image, location, resource group, zones ----------------------------------------------------------


def test_a_missing_image_is_a_problem() -> None:
    raw = azure_spec(azure={"admin_ssh_public_key": AZURE_ADMIN_KEY})
    (message,) = messages(raw, "azure.image_id")
    assert "Azure has no NixOS marketplace image" in message


@pytest.mark.parametrize(
    "image",
    [
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/nixos",
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/gal/images/nixos",
        "/subscriptions/s/resourcegroups/g/providers/Microsoft.Compute/galleries/gal/images/nixos/versions/1.0.0",
        "/communityGalleries/gal-1/images/nixos/versions/1.0.0",
        "/sharedGalleries/gal/images/nixos",
    ],
)
def test_every_image_id_form_azurerm_takes_is_fine(image: str) -> None:
    assert problems_of(with_azure(image_id=image)) == ()


@pytest.mark.parametrize("image", ["nixos-25.11", "Canonical:ubuntu:22_04:latest", "/subscriptions/s/images/x"])
def test_an_image_id_of_another_shape_is_a_problem(image: str) -> None:
    assert problem_paths(with_azure(image_id=image)) == ["azure.image_id"]


def test_a_malformed_fallback_image_is_reported_where_it_was_written() -> None:
    raw = azure_spec(azure={"admin_ssh_public_key": AZURE_ADMIN_KEY}, nixos={"image_id": "nixos"})
    assert problem_paths(raw) == ["nixos.image_id"]


def test_a_location_display_name_is_a_problem_with_the_name_to_write() -> None:
    (message,) = messages(azure_spec(region="West Europe"), "region")
    assert '"westeurope"?' in message


@pytest.mark.parametrize("group", ["bad/name", "ends-with.", "a" * 91])
def test_a_resource_group_name_azure_refuses_is_a_problem(group: str) -> None:
    assert problem_paths(with_azure(resource_group_name=group)) == ["azure.resource_group_name"]


def test_a_zone_listed_twice_is_a_problem() -> None:
    assert problem_paths(with_azure(zones=["1", "2", "1"])) == ["azure.zones[2]"]


def test_a_zone_written_as_a_number_is_a_problem_with_a_hint() -> None:
    (problem,) = problems_of(with_azure(zones=[1]))
    assert problem.path == "azure.zones[0]"
    assert "quotes" in problem.message


def test_an_unknown_os_disk_type_is_a_problem() -> None:
    assert problem_paths(with_azure(os_disk_type="UltraSSD_LRS")) == ["azure.os_disk_type"]


# --- network and pools ----------------------------------------------------------------------------


def test_a_subnet_smaller_than_a_29_is_a_problem() -> None:
    raw = azure_spec(network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/30"})
    (message,) = messages(raw, "network.subnet_cidr")
    assert "/29 or larger" in message


def test_a_subnet_without_room_for_the_control_planes_fixed_addresses_is_a_problem() -> None:
    raw = azure_spec(network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/29"})
    raw["node_pools"][0] = {**raw["node_pools"][0], "min_size": 4, "max_size": 4}
    (message,) = messages(raw, "network.subnet_cidr")
    assert "too few addresses for 4 control-plane nodes" in message


def test_a_29_holds_three_servers_after_azures_reserved_addresses() -> None:
    raw = azure_spec(network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/29"}, api_load_balancer="none")
    raw["node_pools"][0] = {**raw["node_pools"][0], "min_size": 3, "max_size": 3}
    assert problems_of(raw) == ()


def test_a_29_holds_two_servers_and_the_api_load_balancer() -> None:
    raw = azure_spec(network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/29"})
    raw["node_pools"][0] = {**raw["node_pools"][0], "min_size": 2, "max_size": 2}
    assert problems_of(raw) == ()
    raw["node_pools"][0] = {**raw["node_pools"][0], "min_size": 3, "max_size": 3}
    (problem,) = problems_of(raw)
    assert problem.path == "network.subnet_cidr" and "and the API load balancer" in problem.message


def test_a_broken_vpc_cidr_is_reported_once_by_the_rules() -> None:
    paths = problem_paths(azure_spec(network={"vpc_cidr": "10.0.0.5/16"}))
    assert paths == ["network.vpc_cidr"]


def test_an_ipv6_vnet_is_reported_without_the_checks_tripping() -> None:
    paths = problem_paths(azure_spec(network={"vpc_cidr": "fd00::/48"}))
    assert paths and set(paths) <= {"network.vpc_cidr", "network.subnet_cidr"}


def test_a_vm_size_of_another_cloud_is_a_problem() -> None:
    raw = azure_spec()
    raw["node_pools"][1]["instance_types"] = ["m6i.large"]
    assert problem_paths(raw) == ["node_pools[1].instance_types[0]"]


def test_an_os_disk_over_4095_gb_is_a_problem() -> None:
    raw = azure_spec()
    raw["node_pools"][0]["disk_size_gb"] = 4096
    assert problem_paths(raw) == ["node_pools[0].disk_size_gb"]


def test_a_pool_larger_than_a_scale_set_is_a_problem() -> None:
    raw = azure_spec()
    raw["node_pools"][1]["max_size"] = 1001
    assert problem_paths(raw) == ["node_pools[1].max_size"]


def test_persistent_state_is_refused_on_azure() -> None:
    assert problem_paths(azure_spec(persistent_state={"size_gb": 20})) == ["persistent_state"]


def test_a_parked_control_plane_is_refused_on_azure() -> None:
    raw = azure_spec()
    raw["node_pools"][0]["min_size"] = 0
    assert problem_paths(raw) == ["node_pools[0].min_size"]


# --- the security group ---------------------------------------------------------------------------


def test_more_rules_than_priorities_below_the_deny_is_a_problem() -> None:
    links = [
        {"name": f"wg{i}", "listen_port": 20000 + i, "firewall": {"incoming_udp_port": 20000 + i}}
        for i in range(400)
    ]
    (message,) = messages(azure_spec(vpn={"links": links}), "access")
    assert "priorities (100, 110, ...) must stay unique below 4096" in message


def test_more_than_4000_sources_in_one_rule_is_a_problem() -> None:
    sources = [f"10.{i // 256}.{i % 256}.0/24" for i in range(4001)]
    (message,) = messages(azure_spec(access={"ssh_sources": sources}), "access")
    assert "4001 source addresses; Azure allows 4000" in message


# --- tags and custom_data -------------------------------------------------------------------------


def test_more_than_50_tags_with_nixk8s_own_is_a_problem() -> None:
    tags = {f"t{i}": "v" for i in range(45)}
    (message,) = messages(azure_spec(tags=tags), "tags")
    assert "51 tags" in message


@pytest.mark.parametrize("key", ["a/b", "50%", "x<y", "q?"])
def test_a_tag_key_with_a_character_azure_forbids_is_a_problem(key: str) -> None:
    assert problem_paths(azure_spec(tags={key: "v"})) == [join_path("tags", key)]


def test_a_tag_key_over_512_characters_is_a_problem() -> None:
    key = "k" * 513
    assert problem_paths(azure_spec(tags={key: "v"})) == [f"tags.{key}"]


def test_a_tag_value_over_256_characters_is_a_problem() -> None:
    assert problem_paths(azure_spec(tags={"team": "v" * 257})) == ["tags.team"]


def test_a_tag_that_differs_from_nixk8s_own_only_in_case_is_a_problem() -> None:
    (message,) = messages(azure_spec(tags={"managedby": "me"}), "tags.managedby")
    assert 'collides with "ManagedBy"' in message


def test_two_tags_that_differ_only_in_case_are_a_problem() -> None:
    assert problem_paths(azure_spec(tags={"Team": "a", "team": "b"})) == ["tags.team"]


def test_custom_data_over_65535_bytes_is_a_problem() -> None:
    manifests = {"big.yaml": {"data": "x" * 70_000}}
    raw = azure_spec(nixos={"k3s": {"manifests": manifests}})
    (problem,) = problems_of(raw)
    assert problem.path == "node_pools[0]"
    assert "65,535 bytes of custom_data" in problem.message


def test_several_azure_problems_are_reported_together() -> None:
    raw = with_azure(admin_username="root", zones=["1", "1"], image_id="nixos")
    assert problem_paths(raw) == ["azure.admin_username", "azure.image_id", "azure.zones[1]"]
