"""Stage ports: the firewall port table, and who may reach each row."""

from __future__ import annotations

import typing

import pytest

from nixk8s.backends.hcloud.network import firewall_rules
from nixk8s.plan import plan_cluster
from nixk8s.ports import COMMON, PortRule, cluster_ports, cni_family, port_table, rule_sources
from nixk8s.spec import ClusterSpec, Profile

from support import minimal_spec, spec_from

PROFILES = list(typing.get_args(Profile))


def rows(distribution: str = "k3s", profile: str = "cloud-server") -> dict[str, tuple[int, int, str, str]]:
    return {r.name: (r.first, r.last, r.protocol, r.audience) for r in port_table(distribution, profile)}  # type: ignore[arg-type]


@pytest.mark.parametrize("distribution", ["k3s", "kubernetes"])
def test_common_ports_are_in_every_table(distribution: str) -> None:
    table = rows(distribution)
    assert table["ssh"] == (22, 22, "tcp", "ssh")
    assert table["http"] == (80, 80, "tcp", "http")
    assert table["https"] == (443, 443, "tcp", "http")
    assert table["api"] == (6443, 6443, "tcp", "api")
    assert table["kubelet"] == (10250, 10250, "tcp", "private")
    assert table["etcd"] == (2379, 2380, "tcp", "private")
    assert table["vxlan"] == (8472, 8472, "udp", "private")


def test_controller_manager_and_scheduler_are_open_for_kubernetes() -> None:
    table = rows("kubernetes")
    assert table["controller_manager"] == (10257, 10257, "tcp", "private")
    assert table["scheduler"] == (10259, 10259, "tcp", "private")


def test_controller_manager_and_scheduler_are_closed_for_k3s() -> None:
    ports = {r.first for r in port_table("k3s", "cloud-server")}
    assert 10257 not in ports
    assert 10259 not in ports


@pytest.mark.parametrize(
    ("profile", "family"),
    [("cloud-server", "flannel"), ("flannel-production", "flannel"), ("calico-hardened", "calico"),
     ("cilium-mesh", "cilium"), ("istio-mesh", "istio")],
)
def test_profile_selects_its_cni_family(profile: str, family: str) -> None:
    assert cni_family(profile) == family  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("cloud-server", {"flannel_wireguard": (51820, 51821, "udp", "private")}),
        ("flannel-standard", {"flannel_wireguard": (51820, 51821, "udp", "private")}),
        (
            "calico-standard",
            {
                "calico_bgp": (179, 179, "tcp", "private"),
                "calico_vxlan": (4789, 4789, "udp", "private"),
                "calico_typha": (5473, 5473, "tcp", "private"),
            },
        ),
        (
            "cilium-standard",
            {
                "cilium_health": (4240, 4240, "tcp", "private"),
                "cilium_hubble": (4244, 4244, "tcp", "private"),
                "cilium_wireguard": (51871, 51871, "udp", "private"),
            },
        ),
        ("istio-mesh", {"istio_hbone": (15008, 15008, "tcp", "private")}),
    ],
)
def test_cni_rows_per_profile(profile: str, expected: dict[str, tuple[int, int, str, str]]) -> None:
    table = rows("k3s", profile)
    common = {r.name for r in COMMON}
    assert {k: v for k, v in table.items() if k not in common} == expected


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("distribution", ["k3s", "kubernetes"])
def test_only_icmp_ssh_api_and_http_rows_are_public(distribution: str, profile: str) -> None:
    public = {r.name for r in port_table(distribution, profile) if r.public}  # type: ignore[arg-type]
    assert public == {"icmp", "ssh", "http", "https", "api"}


def test_icmp_is_open_to_anywhere_for_path_mtu_discovery() -> None:
    spec = spec_from(minimal_spec(access={"ssh_sources": [], "api_sources": [], "http_sources": []}))
    icmp = next(r for r in cluster_ports(spec) if r.protocol == "icmp")
    assert sources(icmp, spec, None) == ("0.0.0.0/0", "::/0")
    assert icmp.port_range == ""


def test_port_range_is_a_single_port_or_first_dash_last() -> None:
    table = {r.name: r.port_range for r in port_table("k3s", "cloud-server")}
    assert table["ssh"] == "22"
    assert table["etcd"] == "2379-2380"


def sources(rule: PortRule, spec: ClusterSpec, private_cidr: str | None, *, from_network: bool = False) -> tuple[str, ...]:
    return rule_sources(rule, spec.access, private_cidr, api_from_network=from_network)  # type: ignore[return-value]


ACCESS = {
    "ssh_sources": ["203.0.113.0/24"],
    "api_sources": ["198.51.100.0/24", "2001:db8::/32"],
    "http_sources": ["192.0.2.0/24"],
}


def test_public_rows_use_their_access_sources() -> None:
    spec = spec_from(minimal_spec(access=ACCESS, network={"vpc_cidr": "10.0.0.0/16"}))
    by_name = {r.name: sources(r, spec, "10.0.0.0/16") for r in cluster_ports(spec)}
    assert by_name["ssh"] == ("203.0.113.0/24",)
    assert by_name["api"] == ("198.51.100.0/24", "2001:db8::/32")
    assert by_name["http"] == ("192.0.2.0/24",)
    assert by_name["https"] == ("192.0.2.0/24",)


def test_public_rows_default_to_anywhere() -> None:
    spec = spec_from(minimal_spec())
    api = next(r for r in cluster_ports(spec) if r.name == "api")
    assert sources(api, spec, None) == ("0.0.0.0/0", "::/0")


def test_private_rows_are_open_only_to_the_network_cidr() -> None:
    spec = spec_from(minimal_spec(access=ACCESS, network={"vpc_cidr": "10.8.0.0/16"}, distribution="kubernetes"))
    private = [r for r in cluster_ports(spec) if not r.public]
    assert private
    assert {sources(r, spec, "10.8.0.0/16") for r in private} == {("10.8.0.0/16",)}


def test_private_rows_are_closed_without_a_network() -> None:
    spec = spec_from(minimal_spec())
    assert all(sources(r, spec, None) == () for r in cluster_ports(spec) if not r.public)


def test_empty_access_list_closes_the_port() -> None:
    spec = spec_from(minimal_spec(access={"ssh_sources": []}))
    ssh = next(r for r in cluster_ports(spec) if r.name == "ssh")
    assert sources(ssh, spec, "10.0.0.0/16") == ()


def test_a_firewall_inside_the_network_opens_the_api_to_the_network_too() -> None:
    spec = spec_from(minimal_spec(access=ACCESS))
    api = next(r for r in cluster_ports(spec) if r.name == "api")
    assert sources(api, spec, "10.0.0.0/16", from_network=True) == ("198.51.100.0/24", "2001:db8::/32", "10.0.0.0/16")


def test_the_api_row_does_not_repeat_a_listed_network() -> None:
    spec = spec_from(minimal_spec(access={"api_sources": ["10.0.0.0/16"]}))
    api = next(r for r in cluster_ports(spec) if r.name == "api")
    assert sources(api, spec, "10.0.0.0/16", from_network=True) == ("10.0.0.0/16",)


def test_opening_the_api_to_the_network_leaves_the_other_rows_alone() -> None:
    spec = spec_from(minimal_spec(access=ACCESS))
    ssh = next(r for r in cluster_ports(spec) if r.name == "ssh")
    assert sources(ssh, spec, "10.0.0.0/16", from_network=True) == ("203.0.113.0/24",)


def test_joining_server_zero_inside_a_filtered_network_opens_the_api_to_the_network_too() -> None:
    spec = spec_from(minimal_spec(access=ACCESS))
    api = next(r for r in cluster_ports(spec) if r.name == "api")
    opened = rule_sources(api, spec.access, "10.0.0.0/16", api_from_network=True)
    assert opened == ("198.51.100.0/24", "2001:db8::/32", "10.0.0.0/16")


def test_joining_server_zero_inside_a_filtered_network_leaves_the_other_public_rows_alone() -> None:
    spec = spec_from(minimal_spec(access=ACCESS))
    ssh = next(r for r in cluster_ports(spec) if r.name == "ssh")
    opened = rule_sources(ssh, spec.access, "10.0.0.0/16", api_from_network=True)
    assert opened == ("203.0.113.0/24",)


def test_empty_access_list_leaves_no_firewall_rule() -> None:
    spec = spec_from(minimal_spec(access={"ssh_sources": [], "http_sources": []}, network={}))
    ports = {rule.get("port") for rule in firewall_rules(plan_cluster(spec, "cloud-config"))}
    assert "22" not in ports
    assert "80" not in ports
    assert "443" not in ports
    assert "6443" in ports


def test_vpn_listen_port_is_a_public_udp_row() -> None:
    link = {
        "name": "wg0",
        "private_key_file": "/k",
        "address": "10.100.0.1/24",
        "listen_port": 51830,
        "firewall": {"incoming_udp_port": 51830},
        "peers": [{"public_key": "A" * 43 + "=", "allowed_ips": ["10.100.0.0/24"], "preshared_key_file": "/p"}],
    }
    spec = spec_from(minimal_spec(vpn={"links": [link]}))
    (row,) = [r for r in cluster_ports(spec) if r.name.startswith("wireguard")]
    assert row.audience == "anywhere"
    assert (row.first, row.protocol, row.public) == (51830, "udp", True)
