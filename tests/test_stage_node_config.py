"""Stage node_config: the cluster-config.json every node receives, DESIGN §3 row by row."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nixk8s.load import parse
from nixk8s.node_config import agent_config, config_json, join_server, server_config
from nixk8s.node_index import agent_node_index
from nixk8s.spec import ClusterSpec
from nixk8s.terraform import Expr, render

from support import assert_kindling_accepts, compile_raw, minimal_spec, node_config, spec_from, worker_pool

JOIN_HOST = "10.0.1.2"
WG_KEY = "A" * 43 + "="
VPN = {
    "links": [
        {
            "name": "wg0",
            "private_key_file": "/run/secrets/wg0",
            "address": "10.100.0.1/24",
            "firewall": {"allowed_tcp_ports": [6443]},
            "peers": [{"public_key": WG_KEY, "allowed_ips": ["10.100.0.0/24"], "preshared_key_file": "/run/secrets/psk"}],
        }
    ]
}


def cluster(distribution: str = "k3s", servers: int = 3, *, checked: bool = True, **fields: Any) -> ClusterSpec:
    token = {"k3s": {"k3s_server_token": "K10token"}, "kubernetes": {"kubeadm_token": "abcdef.0123456789abcdef"}}
    raw = minimal_spec(
        distribution=distribution,
        profile="cilium-standard",
        kubernetes_version="1.31",
        node_pools=[
            {"name": "system", "instance_types": ["cx32"], "min_size": servers, "max_size": max(servers, 1)},
            worker_pool("workers", 2),
        ],
        bootstrap_secrets=token[distribution],
    )
    raw.update(fields)
    return spec_from(raw) if checked else parse(json.dumps(raw).encode(), "json").unwrap()


def server(spec: ClusterSpec, index: int, network_id: str | None = None) -> dict[str, Any]:
    return as_json(server_config(spec, index, join=JOIN_HOST, network_id=network_id))


def agent(spec: ClusterSpec, pool: int = 0, index: int = 0) -> dict[str, Any]:
    _, p = spec.worker_pools[pool]
    return as_json(agent_config(spec, p, agent_node_index(p.name, index), join=JOIN_HOST))


def as_json(config: Any) -> dict[str, Any]:
    """The file's content as the node parses it (expressions rendered as Terraform would write them)."""
    text = config_json(config)
    literal = "".join(p if isinstance(p, str) else json.dumps(render(p)) for p in text.parts)
    return json.loads(literal)  # type: ignore[no-any-return]


# --- identity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("distribution", ["k3s", "kubernetes"])
def test_servers_and_agents_share_the_spec_identity(distribution: str) -> None:
    spec = cluster(distribution, distribution_track="1.31-stable")
    expected = {
        "cluster_name": "demo",
        "distribution": distribution,
        "profile": "cilium-standard",
        "distribution_track": "1.31-stable",
    }
    for config in (server(spec, 0), server(spec, 1), agent(spec)):
        assert {k: config[k] for k in expected} == expected


def test_distribution_track_defaults_to_the_kubernetes_version_on_every_node() -> None:
    spec = cluster()
    assert server(spec, 0)["distribution_track"] == "1.31"
    assert agent(spec)["distribution_track"] == "1.31"


@pytest.mark.parametrize("distribution", ["k3s", "kubernetes"])
def test_control_plane_role_is_server(distribution: str) -> None:
    spec = cluster(distribution)
    assert [server(spec, i)["role"] for i in range(3)] == ["server"] * 3


@pytest.mark.parametrize("distribution", ["k3s", "kubernetes"])
def test_worker_role_is_agent(distribution: str) -> None:
    assert agent(cluster(distribution))["role"] == "agent"


# --- indices and cluster_init ---------------------------------------------------------------------


def test_server_indices_are_integers_from_zero() -> None:
    spec = cluster()
    indices = [server(spec, i)["node_index"] for i in range(3)]
    assert indices == [0, 1, 2]
    assert all(type(i) is int for i in indices)


def test_cluster_init_only_at_server_zero() -> None:
    spec = cluster()
    assert [server(spec, i)["cluster_init"] for i in range(3)] == [True, False, False]


def test_agents_never_initialise_the_cluster() -> None:
    assert agent(cluster())["cluster_init"] is False


def test_worker_indices_are_distinct_across_pools() -> None:
    raw = minimal_spec(
        node_pools=[
            {"name": "system", "instance_types": ["cx32"]},
            worker_pool("workers", 3),
            worker_pool("gpu", 3),
            worker_pool("batch", 3),
        ],
        bootstrap_secrets={"k3s_server_token": "t"},
        network={},
    )
    compiled = compile_raw(raw)
    indices = [n.config.node_index for pool in compiled.built.workers for n in pool.machine_nodes()]
    server_indices = [n.config.node_index for n in compiled.built.control_plane]
    assert len(indices) == 9
    assert len(set(indices + server_indices)) == 10
    assert all(isinstance(i, int) and 0 <= i < 2**32 for i in indices)


def test_worker_indices_do_not_depend_on_pool_order() -> None:
    pools = [worker_pool("workers", 2), worker_pool("gpu", 2)]
    base = {"bootstrap_secrets": {"k3s_server_token": "t"}, "network": {}}
    a = compile_raw(minimal_spec(node_pools=[minimal_spec()["node_pools"][0], *pools], **base))
    b = compile_raw(minimal_spec(node_pools=[minimal_spec()["node_pools"][0], *reversed(pools)], **base))

    def by_pool(c: Any) -> dict[str, list[int]]:
        return {p.pool.name: [n.config.node_index for n in p.machine_nodes()] for p in c.built.workers}

    assert by_pool(a) == by_pool(b)


# --- join_server ----------------------------------------------------------------------------------


def test_server_zero_has_no_join_server() -> None:
    assert "join_server" not in server(cluster(), 0)


def test_k3s_join_server_is_an_https_url() -> None:
    spec = cluster("k3s")
    assert server(spec, 1)["join_server"] == "https://10.0.1.2:6443"
    assert server(spec, 2)["join_server"] == "https://10.0.1.2:6443"
    assert agent(spec)["join_server"] == "https://10.0.1.2:6443"


def test_kubernetes_join_server_is_host_and_port_without_scheme() -> None:
    spec = cluster("kubernetes")
    assert server(spec, 1)["join_server"] == "10.0.1.2:6443"
    assert agent(spec)["join_server"] == "10.0.1.2:6443"


def test_join_server_from_an_expression_is_a_terraform_interpolation() -> None:
    template = join_server("k3s", Expr("hcloud_server.demo_cp_0.ipv4_address"))
    assert render(template) == "https://${hcloud_server.demo_cp_0.ipv4_address}:6443"


# --- network_id ------------------------------------------------------------------------------------


def test_network_id_is_on_servers_when_a_network_is_made() -> None:
    assert server(cluster(), 0, network_id="12345")["network_id"] == "12345"


def test_network_id_is_absent_without_a_network() -> None:
    compiled = compile_raw(minimal_spec())
    assert "network_id" not in node_config(compiled.built.control_plane[0])


def test_network_id_is_never_on_agents() -> None:
    raw = minimal_spec(network={}, node_pools=[minimal_spec()["node_pools"][0], worker_pool(size=1)],
                       bootstrap_secrets={"k3s_server_token": "t"})
    compiled = compile_raw(raw)
    assert compiled.built.control_plane[0].config.network_id is not None
    assert compiled.built.workers[0].machine_nodes()[0].config.network_id is None


# --- GitOps ---------------------------------------------------------------------------------------------


FLUX = {"source_url": "ssh://git@github.com/example/fleet.git", "source_branch": "release", "reconcile_path": "./c"}
ARGO = {"repo_url": "https://github.com/example/apps.git", "target_revision": "v1"}


def test_fluxcd_block_carries_branch() -> None:
    flux = server(cluster(fluxcd=FLUX), 0)["fluxcd"]
    assert flux["branch"] == "release"
    assert flux["source_branch"] == "release"
    assert flux["source_url"] == FLUX["source_url"]
    assert flux["reconcile_path"] == "./c"


def test_fluxcd_block_leaves_unset_optional_fields_out() -> None:
    flux = server(cluster(fluxcd=FLUX), 0)["fluxcd"]
    assert None not in flux.values()
    assert "known_hosts" not in flux


def test_no_gitops_block_without_one_in_the_spec() -> None:
    config = server(cluster(), 0)
    assert "fluxcd" not in config
    assert "argocd" not in config


def test_argocd_block_only_when_argocd_is_selected() -> None:
    config = server(cluster(gitops_operator="argocd", argocd=ARGO), 0)
    assert config["argocd"]["repo_url"] == ARGO["repo_url"]
    assert config["argocd"]["target_revision"] == "v1"
    assert "fluxcd" not in config


def test_gitops_never_reaches_agents() -> None:
    assert "fluxcd" not in agent(cluster(fluxcd=FLUX))
    assert "argocd" not in agent(cluster(gitops_operator="argocd", argocd=ARGO))


# --- distribution options -------------------------------------------------------------------------------


K3S_OPTIONS = {
    "disable": ["traefik"],
    "tls_san": ["k8s.example.com"],
    "cluster_dns": "10.43.0.10",
    "manifests": {"a.yaml": "kind: Namespace"},
    "node_labels": {"tier": "base"},
    "extra_kubelet_config": {"eviction-hard": "memory.available<5%"},
    "data_dir": "/var/lib/k3s",
    "nvidia_enable": True,
    "kernel": {"hardening": False},
}
NETWORK = {"vpc_cidr": "10.0.0.0/16", "pod_cidr": "10.42.0.0/16", "service_cidr": "10.43.0.0/16"}


def test_k3s_servers_get_the_options_verbatim_plus_cidrs() -> None:
    spec = cluster(nixos={"k3s": K3S_OPTIONS}, network=NETWORK)
    assert server(spec, 0)["k3s"] == {**K3S_OPTIONS, "cluster_cidr": "10.42.0.0/16", "service_cidr": "10.43.0.0/16"}


def test_kubernetes_servers_get_pod_cidr_service_cidr_and_version() -> None:
    options = {"cluster_dns": "10.96.0.10", "pki": {"cert_validity_days": 90}}
    spec = cluster("kubernetes", nixos={"kubernetes": options}, network=NETWORK)
    kube = server(spec, 0)["kubernetes"]
    assert kube == {**options, "pod_cidr": "10.42.0.0/16", "service_cidr": "10.43.0.0/16", "version": "1.31.0"}
    assert "k3s" not in server(spec, 0)


def test_kubernetes_cluster_cidr_option_is_also_sent_as_pod_cidr() -> None:
    spec = cluster("kubernetes", nixos={"kubernetes": {"cluster_cidr": "10.50.0.0/16"}})
    assert server(spec, 0)["kubernetes"]["pod_cidr"] == "10.50.0.0/16"


def test_an_option_written_with_its_default_value_reaches_the_node_as_written() -> None:
    options = {"pki": {"mode": "auto", "cert_validity_days": 365}, "etcd": {"initial_cluster_state": "new"},
               "graceful_node_shutdown": True, "nvidia_enable": False, "disable": []}
    spec = cluster("kubernetes", nixos={"kubernetes": options})
    kube = server(spec, 0)["kubernetes"]
    assert {k: kube[k] for k in options} == options


def test_an_option_written_with_its_default_value_reaches_agents_as_written() -> None:
    spec = cluster(nixos={"k3s": {"kernel": {"hardening": True}, "graceful_node_shutdown": True}})
    assert agent(spec)["k3s"] == {"kernel": {"hardening": True}, "graceful_node_shutdown": True}


def test_an_option_left_out_stays_out_so_the_node_module_default_applies() -> None:
    spec = cluster("kubernetes", nixos={"kubernetes": {"pki": {"cert_dir": "/pki"}}})
    assert server(spec, 0)["kubernetes"]["pki"] == {"cert_dir": "/pki"}


def test_an_option_written_as_null_is_left_out() -> None:
    spec = cluster(nixos={"k3s": {"cluster_dns": None, "wait_for_dns": {"hostname": None, "enabled": True}}})
    assert server(spec, 0)["k3s"] == {"wait_for_dns": {"enabled": True}}


def test_k3s_block_is_absent_without_options_or_cidrs() -> None:
    assert "k3s" not in server(cluster(), 0)


def test_agents_get_only_node_level_options() -> None:
    spec = cluster(nixos={"k3s": K3S_OPTIONS}, network=NETWORK)
    assert agent(spec)["k3s"] == {
        "node_labels": {"tier": "base"},
        "extra_kubelet_config": {"eviction-hard": "memory.available<5%"},
        "data_dir": "/var/lib/k3s",
        "nvidia_enable": True,
        "kernel": {"hardening": False},
    }


def test_agents_never_get_server_only_kubernetes_options() -> None:
    options = {"control_plane": {"disable_kube_proxy": True}, "pki": {"mode": "manual"}, "etcd": {"data_dir": "/e"},
               "cluster_dns": "10.96.0.10", "graceful_node_shutdown": False}
    spec = cluster("kubernetes", nixos={"kubernetes": options}, network=NETWORK)
    assert agent(spec)["kubernetes"] == {"graceful_node_shutdown": False}


def test_agents_get_their_pools_labels_and_taints() -> None:
    raw = minimal_spec(
        nixos={"k3s": {"node_labels": {"tier": "base"}, "node_taints": ["base:NoSchedule"]}},
        node_pools=[
            {"name": "system", "instance_types": ["cx32"]},
            worker_pool("gpu", 1, labels={"gpu": "true"}, taints=[{"key": "nvidia.com/gpu", "value": "true"}]),
            worker_pool("plain", 1),
        ],
        bootstrap_secrets={"k3s_server_token": "t"},
        network={},
    )
    gpu, plain = (as_json(p.machine_nodes()[0].config)["k3s"] for p in compile_raw(raw).built.workers)
    assert gpu == {
        "node_labels": {"tier": "base", "gpu": "true"},
        "node_taints": ["base:NoSchedule", "nvidia.com/gpu=true:NoSchedule"],
    }
    assert plain == {"node_labels": {"tier": "base"}, "node_taints": ["base:NoSchedule"]}


def test_servers_get_the_system_pools_labels() -> None:
    raw = minimal_spec()
    raw["node_pools"][0]["labels"] = {"role": "cp"}
    assert compile_raw(raw).built.control_plane[0].config.k3s == {"node_labels": {"role": "cp"}}


def test_pool_max_pods_becomes_kubelet_config() -> None:
    spec = cluster(node_pools=[{"name": "system", "instance_types": ["cx32"]}, worker_pool("w", 1, max_pods=50)])
    assert agent(spec)["k3s"] == {"extra_kubelet_config": {"max-pods": 50}}


# --- secrets, vpn, persistent state ------------------------------------------------------------------


def test_servers_get_secret_paths_and_agents_never() -> None:
    spec = cluster(nixos={"secrets": {"flux_ssh_key_path": "/run/secrets/flux"}})
    assert server(spec, 1)["secrets"] == {"flux_ssh_key_path": "/run/secrets/flux"}
    assert "secrets" not in agent(spec)


def test_agents_get_only_allowlisted_bootstrap_secrets() -> None:
    spec = cluster(bootstrap_secrets={"k3s_server_token": "T", "sops_age_key": "AGE", "nix_github_token": "GH"})
    assert server(spec, 0)["bootstrap_secrets"] == {"k3s_server_token": "T", "sops_age_key": "AGE", "nix_github_token": "GH"}
    assert agent(spec)["bootstrap_secrets"] == {"k3s_server_token": "T", "nix_github_token": "GH"}


def test_vpn_goes_to_servers_only() -> None:
    spec = cluster(vpn=VPN)
    assert server(spec, 0)["vpn"]["links"][0]["name"] == "wg0"
    assert "vpn" not in agent(spec)


def test_persistent_state_goes_to_servers_only() -> None:
    # unchecked: persistent_state is AWS-only, but the node config stage is backend-neutral
    spec = cluster(persistent_state={"size_gb": 100}, checked=False)
    assert server(spec, 0)["persistent_state"]["size_gb"] == 100
    assert "persistent_state" not in agent(spec)


# --- absent keys and the consumer schema ---------------------------------------------------------------------


def test_absent_keys_are_left_out_never_null() -> None:
    spec = cluster()

    def no_nulls(value: Any) -> bool:
        if isinstance(value, dict):
            return all(v is not None and no_nulls(v) for v in value.values())
        if isinstance(value, list):
            return all(no_nulls(v) for v in value)
        return True

    for config in (server(spec, 0), server(spec, 1), agent(spec)):
        assert no_nulls(config)
    assert set(agent(spec)) == {
        "cluster_name", "distribution", "profile", "distribution_track", "role", "cluster_init",
        "node_index", "join_server", "bootstrap_secrets",
    }


@pytest.mark.parametrize("distribution", ["k3s", "kubernetes"])
def test_every_node_config_is_accepted_by_kindling(distribution: str) -> None:
    options = {"k3s": {"nixos": {"k3s": K3S_OPTIONS}}, "kubernetes": {"nixos": {"kubernetes": {"pki": {"mode": "auto"}}}}}
    spec = cluster(distribution, network=NETWORK, fluxcd=FLUX, vpn=VPN, **options[distribution])
    for config in (server(spec, 0, network_id="1"), server(spec, 2, network_id="1"), agent(spec)):
        assert_kindling_accepts(config)
