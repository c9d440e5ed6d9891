"""Day two on every cloud: a formed cluster never re-initialises, and certificates are ready for growth.

``initialized: true`` says the cluster exists: no node boots with ``cluster_init``, and
server 0 joins the others, through the API balancer where a server's own connection
through it reaches another server (Hetzner's proxy, AWS's NLB without client-IP
preservation), else at server 1's fixed address (GCP's and Azure's passthrough
balancers answer a backend with itself). And every server's certificate names the
address the subnet reserves for the API balancer from the first compile, so growing
from one server to a balanced control plane keeps the certificates valid.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import msgspec
import pytest
from clouds import CLOUDS
from support import (
    OWN_VPN,
    apply_state,
    assert_kindling_accepts,
    compile_raw,
    concrete,
    decode_user_data,
    embedded_config,
    minimal_spec,
    node_config,
    problems_of,
    rendered_nodes,
)

from nixk8s.compiler import Compiled
from nixk8s.explain_text import explain
from nixk8s.explanation import explanation, to_json

clouds = pytest.mark.parametrize("cloud", sorted(CLOUDS))


def spec(cloud: str, servers: int, **overrides: Any) -> dict[str, Any]:
    """A small spec of ``cloud`` (tests/clouds.py) with ``servers`` servers."""
    return CLOUDS[cloud].spec(servers=servers, **overrides)


def with_servers(raw: dict[str, Any], servers: int) -> dict[str, Any]:
    """``raw`` with a control plane of ``servers`` servers."""
    raw = copy.deepcopy(raw)
    system = next(p for p in raw["node_pools"] if p["name"] == "system")
    system.update(min_size=servers, max_size=servers)
    return raw


def server_configs(c: Compiled) -> list[dict[str, Any]]:
    return [node_config(n) for n in c.built.control_plane]


def host_of(join_server: str) -> str:
    """The host of a join address (``https://HOST:6443`` or ``HOST:6443``)."""
    return join_server.removeprefix("https://").rsplit(":", 1)[0]


def certificate_names(config: dict[str, Any]) -> list[str]:
    options = config.get("k3s") or config.get("kubernetes") or {}
    return list(options.get("tls_san") or options.get("api_server_cert_sans") or [])


# --- initialized: true ------------------------------------------------------------------------


@clouds
def test_an_initialized_cluster_has_no_node_with_cluster_init(cloud: str) -> None:
    c = compile_raw(spec(cloud, 3, initialized=True))
    configs = [node_config(n) for n in rendered_nodes(c)]
    assert configs and not any(config["cluster_init"] for config in configs)


@clouds
def test_every_node_of_an_initialized_cluster_is_accepted_by_kindling(cloud: str) -> None:
    for node in rendered_nodes(compile_raw(spec(cloud, 3, initialized=True))):
        assert_kindling_accepts(node_config(node))


@pytest.mark.parametrize(
    ("cloud", "overrides", "server_0_joins"),
    [
        # Hetzner's balancer proxies to a healthy server: server 0 joins it as everyone does
        ("hcloud", {}, "https://10.0.0.254:6443"),
        # without a balancer, server 1's fixed address (hosts 2, 3, ...)
        ("hcloud", {"api_load_balancer": "none"}, "https://10.0.0.3:6443"),
        # GCP's and Azure's passthrough balancers answer a backend with itself: server 1
        ("gcp", {}, "https://10.8.1.11:6443"),
        ("gcp", {"api_load_balancer": "none"}, "https://10.8.1.11:6443"),
        ("azure", {}, "https://10.0.1.5:6443"),
        ("azure", {"api_load_balancer": "none"}, "https://10.0.1.5:6443"),
    ],
)
def test_once_initialized_server_0_joins_the_balancer_where_it_hairpins_else_server_1(
    cloud: str, overrides: dict[str, Any], server_0_joins: str
) -> None:
    c = compile_raw(spec(cloud, 3, initialized=True, **overrides))
    first = server_configs(c)[0]
    assert first["join_server"] == server_0_joins
    assert host_of(first["join_server"]) != c.built.server_handles[0].private_ip


def test_once_initialized_server_0_on_aws_joins_the_internal_balancer_as_every_node_does() -> None:
    c = compile_raw(spec("aws", 3, initialized=True))
    joins = {config["join_server"] for config in map(node_config, rendered_nodes(c))}
    assert len(joins) == 1
    assert "aws_lb.demo_cp_nlb.dns_name" in joins.pop()


@clouds
def test_initialized_leaves_every_other_node_joining_where_it_did(cloud: str) -> None:
    before = [node_config(n) for n in rendered_nodes(compile_raw(spec(cloud, 3)))]
    after = [node_config(n) for n in rendered_nodes(compile_raw(spec(cloud, 3, initialized=True)))]
    assert [c.get("join_server") for c in before[1:]] == [c.get("join_server") for c in after[1:]]
    assert before[0]["cluster_init"] and "join_server" not in before[0]


@clouds
def test_kubeadm_servers_join_without_a_scheme_once_initialized(cloud: str) -> None:
    raw = spec(cloud, 3, initialized=True, distribution="kubernetes", bootstrap_secrets={"kubeadm_token": "abcdef.0123456789abcdef"})
    first = server_configs(compile_raw(raw))[0]
    assert first["cluster_init"] is False
    assert first["join_server"].endswith(":6443") and "://" not in first["join_server"]


@clouds
def test_a_single_server_cannot_be_initialized(cloud: str) -> None:
    (problem,) = problems_of(spec(cloud, 1, initialized=True))
    assert problem.path == "initialized"
    assert "no other server to join" in problem.message


def test_hetzner_without_a_network_refuses_initialized_and_says_to_add_one() -> None:
    raw = with_servers(minimal_spec(vpn=OWN_VPN, bootstrap_secrets={"k3s_server_token": "t0ken"}, initialized=True), 3)
    (problem,) = problems_of(raw)
    assert problem.path == "initialized"
    assert "Add `network`" in problem.message


# --- certificates ready for growth ----------------------------------------------------------


@clouds
def test_a_single_servers_certificate_names_the_address_the_three_server_balancer_gets(cloud: str) -> None:
    grown = compile_raw(spec(cloud, 3)).built.foundation.balancer
    assert grown is not None
    (alone,) = server_configs(compile_raw(spec(cloud, 1)))
    # AWS's is a DNS name Terraform knows after apply (its NLB is always built); the
    # others are the subnet's last usable host, fixed at compile time
    assert concrete(grown.private_address) in certificate_names(alone)


@pytest.mark.parametrize(("cloud", "address"), [("hcloud", "10.0.0.254"), ("gcp", "10.8.1.253"), ("azure", "10.0.1.254")])
def test_the_reserved_address_is_the_subnets_last_usable_host_before_any_balancer(cloud: str, address: str) -> None:
    c = compile_raw(spec(cloud, 1, api_load_balancer="none"))
    assert c.built.foundation.balancer is None
    for config in server_configs(c):
        assert address in certificate_names(config)


@pytest.mark.parametrize("cloud", ["hcloud", "gcp", "azure"])
def test_every_server_names_the_reserved_address_once(cloud: str) -> None:
    for config in server_configs(compile_raw(spec(cloud, 3))):
        names = certificate_names(config)
        assert len(names) == len(set(names))


# --- explain ----------------------------------------------------------------------------------


@clouds
def test_explain_says_to_set_initialized_after_the_first_apply(cloud: str) -> None:
    c = compile_raw(spec(cloud, 3))
    data = msgspec.json.decode(to_json(explanation(c)))
    assert data["cluster"]["initialized"] is False
    assert "after the first apply, set initialized: true" in data["cluster"]["day_two"]
    assert f"day two: {data['cluster']['day_two']}\n" in explain(c)


def test_explain_of_a_single_server_says_initialized_needs_more_servers() -> None:
    day_two = explanation(compile_raw(spec("gcp", 1))).cluster.day_two
    assert "needs two or more servers" in day_two and "forms a new, empty cluster" in day_two


@clouds
def test_explain_of_an_initialized_cluster_says_where_server_0_joins(cloud: str) -> None:
    c = compile_raw(spec(cloud, 3, initialized=True))
    e = explanation(c)
    assert e.cluster.initialized is True
    assert e.cluster.day_two.startswith(f"initialized: no node initialises a cluster; server 0 joins {e.nodes[0].join}")
    assert "initialises the cluster" not in explain(c)


# --- after apply ----------------------------------------------------------------------------------

# where each cloud's server 0 keeps its user_data, in the applied state
SERVER_0_USER_DATA = {
    "hcloud": ("hcloud_server.demo_cp_0", ("user_data",)),
    "aws": ("aws_launch_template.demo_cp_0_lt", ("user_data",)),
    "gcp": ("google_compute_instance.demo_cp_0", ("metadata", "user-data")),
    "azure": ("azurerm_linux_virtual_machine.demo_cp_0", ("custom_data",)),
}


@pytest.mark.tfcheck
@clouds
def test_after_apply_server_0_of_an_initialized_cluster_joins_a_real_address_not_its_own(
    cloud: str, tmp_path: Path
) -> None:
    c = compile_raw(spec(cloud, 3, initialized=True))
    state = apply_state(c, tmp_path)
    address, path = SERVER_0_USER_DATA[cloud]
    value: Any = state[address]
    for key in path:
        value = value[key]
    config = embedded_config(decode_user_data(value))
    assert config["cluster_init"] is False
    # Hetzner's balancer; AWS's internal NLB, known after apply; GCP's and Azure's server 1
    literal = {"hcloud": "10.0.0.254", "gcp": "10.8.1.11", "azure": "10.0.1.5"}
    expected = state["aws_lb.demo_cp_nlb"]["dns_name"] if cloud == "aws" else literal[cloud]
    assert host_of(config["join_server"]) == expected != c.built.server_handles[0].private_ip
