"""Stage rules: each cross-field rule of rules.py, on well-typed specs.

Each rule is called directly on a parsed (typed, unchecked) spec so that a test sees
that rule alone; a few tests go through ``load`` to check the rule is wired in.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nixk8s import rules
from nixk8s.load import parse
from nixk8s.problems import Problem
from nixk8s.spec import ClusterSpec

from support import OWN_VPN, minimal_spec, problem_paths, problems_of, worker_pool

WG_KEY = "A" * 43 + "="
# as long as the public key line of a 4096-bit RSA key (737 characters with its comment)
RSA_4096_LINE = "ssh-rsa AAAAB3NzaC1yc2E" + "A" * 701 + " ops@example"
KUBEADM_TOKEN = "abcdef.0123456789abcdef"


def typed(raw: dict[str, Any]) -> ClusterSpec:
    """A spec that passed the type checks but not the rules."""
    return parse(json.dumps(raw).encode(), "json").unwrap()


def run(rule: rules.Rule, raw: dict[str, Any]) -> list[Problem]:
    return list(rule(typed(raw)))


def with_pool(**fields: Any) -> dict[str, Any]:
    raw = minimal_spec()
    raw["node_pools"][0].update(fields)
    return raw


def test_every_rule_is_run_by_spec_problems() -> None:
    names = {r.__name__ for r in rules.RULES}
    assert {
        "cluster_size",
        "repeated_on_every_machine",
        "node_pool_sizes",
        "node_labels_and_taints",
        "network_cidrs",
        "provider_blocks",
        "distribution_options",
        "gitops",
        "bootstrap_secrets",
        "join_credential",
        "vpn",
    } <= names


def test_no_rule_names_a_cloud() -> None:
    source = open(rules.__file__).read()
    for cloud in ("hcloud", "Hetzner", "AWS", "Azure", "GCP"):
        assert cloud not in source


def test_minimal_spec_breaks_no_rule() -> None:
    assert rules.spec_problems(typed(minimal_spec())) == []


# --- bounds past any plausible cluster ----------------------------------------------------------


def test_a_control_plane_of_more_than_fifteen_servers_is_a_problem() -> None:
    (problem,) = run(rules.cluster_size, with_pool(min_size=1_000_000, max_size=1_000_000))
    assert problem.path == "node_pools[0].min_size"
    assert problem.message.startswith(f"a control plane of 1,000,000 servers; at most {rules.MAX_CONTROL_PLANE}")


def test_a_control_plane_of_fifteen_servers_is_fine() -> None:
    assert run(rules.cluster_size, with_pool(min_size=15, max_size=15)) == []


def test_more_worker_nodes_than_the_bound_in_all_pools_together_is_a_problem() -> None:
    raw = minimal_spec(node_pools=[minimal_spec()["node_pools"][0], worker_pool("a", 6_000), worker_pool("b", 4_001)])
    (problem,) = run(rules.cluster_size, raw)
    assert problem.path == "node_pools"
    assert problem.message.startswith(f"10,001 worker nodes (desired sizes of all worker pools); at most {rules.MAX_WORKERS:,}")


def test_ten_thousand_workers_in_twenty_pools_are_fine() -> None:
    pools = [worker_pool(f"pool{i}", 500) for i in range(20)]
    assert run(rules.cluster_size, minimal_spec(node_pools=[minimal_spec()["node_pools"][0], *pools])) == []


def test_more_node_pools_than_the_bound_is_a_problem() -> None:
    pools = [worker_pool(f"pool{i}", 0) for i in range(rules.MAX_NODE_POOLS)]
    (problem,) = run(rules.cluster_size, minimal_spec(node_pools=[minimal_spec()["node_pools"][0], *pools]))
    assert problem == Problem("node_pools", f"{rules.MAX_NODE_POOLS + 1} node pools; at most {rules.MAX_NODE_POOLS}, as many as AKS allows (EKS: 30 managed node groups)")


def test_more_tags_than_the_bound_is_a_problem() -> None:
    (problem,) = run(rules.repeated_on_every_machine, minimal_spec(tags={f"t{i}": "x" for i in range(65)}))
    assert problem.path == "tags"
    assert problem.message.startswith(f"65 tags; at most {rules.MAX_TAGS}")


def test_more_ssh_keys_in_a_pool_than_the_bound_is_a_problem() -> None:
    (problem,) = run(rules.repeated_on_every_machine, with_pool(ssh_keys=[f"k{i}" for i in range(33)]))
    assert problem == Problem("node_pools[0].ssh_keys", f"33 SSH keys; at most {rules.MAX_SSH_KEYS}")


def test_ssh_keys_longer_together_than_the_bound_are_a_problem() -> None:
    keys = ["k" * 1_000] * 9
    (problem,) = run(rules.repeated_on_every_machine, with_pool(ssh_keys=keys))
    assert problem == Problem(
        "node_pools[0].ssh_keys", f"9,000 characters of SSH keys; at most {rules.MAX_SSH_KEY_CHARACTERS:,} per pool"
    )


def test_public_key_lines_fit_the_ssh_key_bound() -> None:
    # Azure and GCP take public keys themselves: an RSA key's line is longer than a name
    assert run(rules.repeated_on_every_machine, with_pool(ssh_keys=[RSA_4096_LINE] * 4)) == []


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (minimal_spec(region="r" * 256), "region"),
        (with_pool(instance_types=["cx32", "x" * 256]), "node_pools[0].instance_types[1]"),
        (minimal_spec(nixos={"image_id": "i" * 256}), "nixos.image_id"),
    ],
)
def test_a_name_every_machine_repeats_longer_than_a_cloud_allows_is_a_problem(raw: dict[str, Any], path: str) -> None:
    (problem,) = run(rules.repeated_on_every_machine, raw)
    assert problem.path == path
    assert problem.message.endswith(f"characters; a cloud's names and ids are at most {rules.MAX_IDENTIFIER}")


# --- node pool sizes ---------------------------------------------------------------------


def test_max_size_below_min_size_is_a_problem() -> None:
    (problem,) = run(rules.node_pool_sizes, with_pool(min_size=3, max_size=2))
    assert problem.path == "node_pools[0].max_size"
    assert "below min_size 3" in problem.message


def test_max_size_equal_to_min_size_is_fine() -> None:
    assert run(rules.node_pool_sizes, with_pool(min_size=3, max_size=3)) == []


@pytest.mark.parametrize("desired", [0, 4])
def test_desired_size_outside_min_max_is_a_problem(desired: int) -> None:
    (problem,) = run(rules.node_pool_sizes, with_pool(min_size=1, max_size=3, desired_size=desired))
    assert problem.path == "node_pools[0].desired_size"
    assert "outside min_size..max_size (1..3)" in problem.message


@pytest.mark.parametrize("desired", [1, 2, 3])
def test_desired_size_within_min_max_is_fine(desired: int) -> None:
    assert run(rules.node_pool_sizes, with_pool(min_size=1, max_size=3, desired_size=desired)) == []


def test_pool_size_problem_has_the_index_of_its_pool() -> None:
    raw = minimal_spec(node_pools=[minimal_spec()["node_pools"][0], worker_pool("a"), worker_pool("b", min_size=4, max_size=2)])
    (problem,) = run(rules.node_pool_sizes, raw)
    assert problem.path == "node_pools[2].max_size"


def test_duplicate_pool_names_are_a_problem() -> None:
    raw = minimal_spec(node_pools=[minimal_spec()["node_pools"][0], worker_pool("a"), worker_pool("a")])
    (problem,) = run(rules.node_pool_names, raw)
    assert problem.path == "node_pools[2].name"


# --- labels and taints ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels", [{"bad key": "x"}, {"-lead": "x"}, {"Example.COM/x": "y"}, {"a" * 64: "x"}, {"ok": "bad value"}, {"ok": "x" * 64}]
)
def test_malformed_node_label_is_a_problem(labels: dict[str, str]) -> None:
    problems = run(rules.node_labels_and_taints, with_pool(labels=labels))
    assert len(problems) == 1
    assert problems[0].path.startswith("node_pools[0].labels")
    assert "label" in problems[0].message


@pytest.mark.parametrize(
    "labels", [{"node.kubernetes.io/pool": "workers"}, {"a": ""}, {"A_b.c-d": "v1.2_3-x"}, {"a" * 63: "b" * 63}]
)
def test_well_formed_node_label_is_fine(labels: dict[str, str]) -> None:
    assert run(rules.node_labels_and_taints, with_pool(labels=labels)) == []


def test_malformed_taint_key_is_a_problem() -> None:
    (problem,) = run(rules.node_labels_and_taints, with_pool(taints=[{"key": "gpu only", "value": "true"}]))
    assert problem.path == "node_pools[0].taints[0]"
    assert "taint key" in problem.message


def test_malformed_taint_value_is_a_problem() -> None:
    (problem,) = run(rules.node_labels_and_taints, with_pool(taints=[{"key": "gpu", "value": "yes please"}]))
    assert problem.path == "node_pools[0].taints[0]"
    assert "taint value" in problem.message


def test_well_formed_taint_is_fine() -> None:
    taints = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoExecute"}, {"key": "dedicated"}]
    assert run(rules.node_labels_and_taints, with_pool(taints=taints)) == []


# --- network CIDRs ----------------------------------------------------------------------------


def test_subnet_outside_vpc_is_a_problem() -> None:
    (problem,) = run(rules.network_cidrs, minimal_spec(network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.1.0.0/24"}))
    assert problem.path == "network.subnet_cidr"
    assert "does not lie inside vpc_cidr 10.0.0.0/16" in problem.message


def test_subnet_inside_vpc_is_fine() -> None:
    assert run(rules.network_cidrs, minimal_spec(network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.200.0/24"})) == []


def test_subnet_larger_than_vpc_is_a_problem() -> None:
    (problem,) = run(rules.network_cidrs, minimal_spec(network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.0.0/8"}))
    assert problem.path == "network.subnet_cidr"


@pytest.mark.parametrize(
    ("field", "value"),
    [("vpc_cidr", "10.0.0.1/16"), ("subnet_cidr", "10.0.1.5/24"), ("pod_cidr", "10.42.0.7/16"), ("service_cidr", "10.43.0.9/16")],
)
def test_cidr_with_host_bits_is_a_problem_with_the_fix(field: str, value: str) -> None:
    network = {"vpc_cidr": "10.0.0.0/16", field: value}
    (problem,) = run(rules.network_cidrs, minimal_spec(network=network))
    assert problem.path == f"network.{field}"
    assert "host bits set (did you mean" in problem.message


@pytest.mark.parametrize("text", ["10.0.0.0", "not-a-cidr/8", "10.0.0.0/33"])
def test_malformed_cidr_is_a_problem(text: str) -> None:
    (problem,) = run(rules.network_cidrs, minimal_spec(network={"vpc_cidr": text}))
    assert problem.path == "network.vpc_cidr"
    assert "CIDR" in problem.message


def test_ipv6_vpc_is_a_problem() -> None:
    (problem,) = run(rules.network_cidrs, minimal_spec(network={"vpc_cidr": "fd00::/48"}))
    assert problem.message == '"fd00::/48" must be an IPv4 block'


def test_pod_and_service_cidr_overlap_is_a_problem() -> None:
    network = {"pod_cidr": "10.42.0.0/16", "service_cidr": "10.42.128.0/17"}
    (problem,) = run(rules.network_cidrs, minimal_spec(network=network))
    assert problem.path == "network.service_cidr"
    assert "overlaps pod_cidr 10.42.0.0/16" in problem.message


@pytest.mark.parametrize("field", ["pod_cidr", "service_cidr"])
def test_pod_or_service_cidr_overlapping_the_vpc_is_a_problem(field: str) -> None:
    (problem,) = run(rules.network_cidrs, minimal_spec(network={"vpc_cidr": "10.0.0.0/8", field: "10.42.0.0/16"}))
    assert problem.path == f"network.{field}"
    assert "overlaps vpc_cidr" in problem.message


def test_disjoint_pod_service_and_vpc_cidrs_are_fine() -> None:
    network = {"vpc_cidr": "10.0.0.0/16", "pod_cidr": "10.42.0.0/16", "service_cidr": "10.43.0.0/16"}
    assert run(rules.network_cidrs, minimal_spec(network=network)) == []


def test_malformed_access_source_is_a_problem() -> None:
    (problem,) = run(rules.access_sources, minimal_spec(access={"api_sources": ["0.0.0.0/0", "203.0.113.7/24"]}))
    assert problem.path == "access.api_sources[1]"
    assert "host bits" in problem.message


# --- provider block vs backend -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "value"),
    [("aws", {}), ("gcp", {"project": "p"}), ("azure", {"admin_ssh_public_key": "ssh-ed25519 AAAA"})],
)
def test_provider_block_of_another_backend_is_a_problem(block: str, value: dict[str, Any]) -> None:
    (problem,) = run(rules.provider_blocks, minimal_spec(**{block: value}))
    assert problem.path == block
    assert f"for backend {block}, but backend is hcloud" in problem.message


def test_provider_block_of_its_own_backend_is_fine() -> None:
    assert run(rules.provider_blocks, minimal_spec(hcloud={"image": "x"})) == []


@pytest.mark.parametrize("backend", ["gcp", "azure"])
def test_backend_that_needs_a_block_without_one_is_a_problem(backend: str) -> None:
    (problem,) = run(rules.provider_blocks, minimal_spec(backend=backend, hcloud=None))
    assert problem.path == backend


# --- distribution-specific options ------------------------------------------------------------------


def test_k3s_options_on_kubernetes_are_a_problem() -> None:
    raw = minimal_spec(distribution="kubernetes", nixos={"k3s": {"disable": ["traefik"]}})
    (problem,) = run(rules.distribution_options, raw)
    assert problem.path == "nixos.k3s"


def test_kubernetes_options_on_k3s_are_a_problem() -> None:
    (problem,) = run(rules.distribution_options, minimal_spec(nixos={"kubernetes": {"version": "1.34.1"}}))
    assert problem.path == "nixos.kubernetes"


def test_matching_distribution_options_are_fine() -> None:
    assert run(rules.distribution_options, minimal_spec(nixos={"k3s": {"disable": ["traefik"]}})) == []
    raw = minimal_spec(distribution="kubernetes", nixos={"kubernetes": {"version": "1.34.1"}})
    assert run(rules.distribution_options, raw) == []


def test_option_cidr_contradicting_the_network_is_a_problem() -> None:
    raw = minimal_spec(network={"pod_cidr": "10.42.0.0/16"}, nixos={"k3s": {"cluster_cidr": "10.52.0.0/16"}})
    (problem,) = run(rules.distribution_options, raw)
    assert problem.path == "nixos.k3s.cluster_cidr"
    assert "network.pod_cidr" in problem.message


# --- GitOps ------------------------------------------------------------------------------------------


def test_argocd_operator_without_a_block_is_a_problem() -> None:
    (problem,) = run(rules.gitops, minimal_spec(gitops_operator="argocd"))
    assert problem.path == "argocd"


@pytest.mark.parametrize(
    ("operator", "block", "value"),
    [
        ("argocd", "fluxcd", {"source_url": "ssh://git@x/y.git"}),
        ("none", "fluxcd", {"source_url": "ssh://git@x/y.git"}),
        ("fluxcd", "argocd", {"repo_url": "https://x/y.git"}),
    ],
)
def test_block_of_an_unselected_operator_is_a_problem(operator: str, block: str, value: dict[str, Any]) -> None:
    raw = minimal_spec(gitops_operator=operator, **{block: value})
    if operator == "argocd":
        raw["argocd"] = {"repo_url": "https://x/y.git"}
    (problem,) = run(rules.gitops, raw)
    assert problem.path == block
    assert f"gitops_operator is {operator}" in problem.message


def test_selected_operator_with_its_block_is_fine() -> None:
    assert run(rules.gitops, minimal_spec(fluxcd={"source_url": "ssh://git@x/y.git"})) == []
    assert run(rules.gitops, minimal_spec(gitops_operator="argocd", argocd={"repo_url": "https://x"})) == []


# --- bootstrap secrets ---------------------------------------------------------------------------------


def test_misspelt_bootstrap_secret_key_suggests_the_right_one() -> None:
    (problem,) = run(rules.bootstrap_secrets, minimal_spec(bootstrap_secrets={"k3s_server_tokn": "t"}))
    assert problem.path == "bootstrap_secrets.k3s_server_tokn"
    assert problem.message == 'not a bootstrap secret the node writes (did you mean "k3s_server_token"?)'


def test_unknown_bootstrap_secret_key_is_a_problem_even_as_a_reference() -> None:
    (problem,) = run(rules.bootstrap_secrets, minimal_spec(bootstrap_secrets={"my_secret": {"var": "x"}}))
    assert problem.path == "bootstrap_secrets.my_secret"


@pytest.mark.parametrize(
    "token", ['abc"def', "abc\\def", "abc\ndef", "abc\rdef", "abc\u0085def", "abc\u2028def", "abc\u2029def"]
)
def test_k3s_token_with_a_quote_backslash_or_line_break_is_a_problem(token: str) -> None:
    (problem,) = run(rules.bootstrap_secrets, minimal_spec(bootstrap_secrets={"k3s_server_token": token}))
    assert problem.path == "bootstrap_secrets.k3s_server_token"
    assert "pastes it into YAML unescaped" in problem.message


def test_k3s_token_with_other_punctuation_is_fine() -> None:
    token = "K10abc::server:'$%{}${x} &<>"
    assert run(rules.bootstrap_secrets, minimal_spec(bootstrap_secrets={"k3s_server_token": token})) == []


@pytest.mark.parametrize("token", ["abcdef0123456789abcdef", "ABCDEF.0123456789ABCDEF", "abcde.0123456789abcdef", "abcdef.0123456789abcde"])
def test_malformed_kubeadm_token_is_a_problem(token: str) -> None:
    raw = minimal_spec(distribution="kubernetes", bootstrap_secrets={"kubeadm_token": token})
    (problem,) = run(rules.bootstrap_secrets, raw)
    assert problem.path == "bootstrap_secrets.kubeadm_token"
    assert "kubeadm token" in problem.message


def test_well_formed_kubeadm_token_is_fine() -> None:
    raw = minimal_spec(distribution="kubernetes", bootstrap_secrets={"kubeadm_token": KUBEADM_TOKEN})
    assert run(rules.bootstrap_secrets, raw) == []


def test_token_given_by_reference_is_not_checked_at_compile_time() -> None:
    raw = minimal_spec(distribution="kubernetes", bootstrap_secrets={"kubeadm_token": {"var": "kubeadm_token"}})
    assert run(rules.bootstrap_secrets, raw) == []


# --- join credential ------------------------------------------------------------------------------------


def test_a_variable_backing_the_join_token_and_a_server_only_secret_is_a_problem() -> None:
    raw = minimal_spec(bootstrap_secrets={"k3s_server_token": {"var": "t"}, "sops_age_key": {"var": "t"}})
    (problem,) = run(rules.one_secret_per_variable, raw)
    assert problem.path == "bootstrap_secrets.sops_age_key.var"
    assert problem.message.startswith('variable "t" already backs bootstrap_secrets.k3s_server_token; give each secret its own')


def test_a_variable_backing_two_agent_visible_secrets_is_a_problem_too() -> None:
    raw = minimal_spec(bootstrap_secrets={"k3s_server_token": {"var": "t"}, "nix_github_token": {"var": "t"}})
    assert [p.path for p in run(rules.one_secret_per_variable, raw)] == ["bootstrap_secrets.nix_github_token.var"]


def test_secrets_with_their_own_variables_are_fine() -> None:
    raw = minimal_spec(bootstrap_secrets={"k3s_server_token": {"var": "t"}, "sops_age_key": {"var": "age"}})
    assert run(rules.one_secret_per_variable, raw) == []


def test_single_server_without_workers_needs_no_join_credential() -> None:
    assert run(rules.join_credential, minimal_spec()) == []


@pytest.mark.parametrize(("distribution", "key"), [("k3s", "k3s_server_token"), ("kubernetes", "kubeadm_token")])
def test_second_server_needs_the_join_credential_with_external_credentials(distribution: str, key: str) -> None:
    raw = with_pool(min_size=3, max_size=3) | {"distribution": distribution, "credentials": "external"}
    (problem,) = run(rules.join_credential, raw)
    assert problem.path == f"bootstrap_secrets.{key}"


def test_worker_pool_needs_the_join_credential_with_external_credentials() -> None:
    raw = minimal_spec(node_pools=[minimal_spec()["node_pools"][0], worker_pool()], credentials="external")
    (problem,) = run(rules.join_credential, raw)
    assert problem.path == "bootstrap_secrets.k3s_server_token"


def test_empty_literal_join_credential_does_not_count() -> None:
    raw = with_pool(min_size=2, max_size=2) | {"bootstrap_secrets": {"k3s_server_token": ""}, "credentials": "external"}
    assert [p.path for p in run(rules.join_credential, raw)] == ["bootstrap_secrets.k3s_server_token"]


@pytest.mark.parametrize("distribution", ["k3s", "kubernetes"])
def test_generated_credentials_need_no_join_credential_in_the_spec(distribution: str) -> None:
    raw = minimal_spec(node_pools=[minimal_spec()["node_pools"][0], worker_pool()], distribution=distribution)
    assert run(rules.join_credential, raw) == []


@pytest.mark.parametrize(
    ("distribution", "key"), [("k3s", "k3s_tls_client_ca_key"), ("kubernetes", "kubeadm_front_proxy_ca_crt")]
)
def test_generated_credentials_refuse_an_authority_given_in_the_spec(distribution: str, key: str) -> None:
    raw = minimal_spec(distribution=distribution, bootstrap_secrets={key: "LS0tLS1CRUdJTg=="})
    (problem,) = run(rules.generated_authorities, raw)
    assert problem.path == f"bootstrap_secrets.{key}"
    assert "credentials: external" in problem.message


def test_external_credentials_take_the_authorities_from_the_spec() -> None:
    raw = minimal_spec(credentials="external", bootstrap_secrets={"k3s_tls_server_ca_crt": {"var": "server_ca"}})
    assert run(rules.generated_authorities, raw) == []


def test_the_other_distributions_authorities_are_not_made_so_not_refused() -> None:
    raw = minimal_spec(bootstrap_secrets={"kubeadm_ca_crt": "LS0tLS1CRUdJTg=="})
    assert run(rules.generated_authorities, raw) == []


@pytest.mark.parametrize(
    "extra",
    [
        {"bootstrap_secrets": {"k3s_server_token": "secret"}},
        {"bootstrap_secrets": {"k3s_server_token": {"var": "k3s_token"}}},
        {"nixos": {"secrets": {"join_token_path": "/run/secrets/k3s-token"}}},
    ],
)
def test_join_credential_as_literal_reference_or_path_is_enough(extra: dict[str, Any]) -> None:
    assert run(rules.join_credential, with_pool(min_size=2, max_size=2) | extra) == []


# --- VPN gate ---------------------------------------------------------------------------------------------


def vpn_link(**fields: Any) -> dict[str, Any]:
    link = {
        "name": "wg0",
        "private_key_file": "/run/secrets/wg0",
        "address": "10.100.0.1/24",
        "listen_port": 51820,
        "profile": "k8s-control-plane",
        "firewall": {"incoming_udp_port": 51820, "allowed_tcp_ports": [6443]},
        "peers": [{"public_key": WG_KEY, "allowed_ips": ["10.100.0.0/24"], "preshared_key_file": "/run/secrets/psk",
                   "endpoint": "vpn.example.com:51820"}],
    }
    link.update(fields)
    return {k: v for k, v in link.items() if v is not None}


def vpn_problems(*links: dict[str, Any]) -> list[Problem]:
    return run(rules.vpn, minimal_spec(vpn={"links": list(links)}))


def test_complete_vpn_link_passes_the_gate() -> None:
    assert vpn_problems(vpn_link()) == []


@pytest.mark.parametrize("field", ["private_key_file", "address", "firewall"])
def test_vpn_link_missing_a_field_the_node_requires_is_a_problem(field: str) -> None:
    problems = vpn_problems(vpn_link(**{field: None}))
    assert f"vpn.links[0].{field}" in [p.path for p in problems]


@pytest.mark.parametrize("name", ["wg_0", "a" * 16, ""])
def test_vpn_link_name_must_be_an_interface_name(name: str) -> None:
    (problem,) = vpn_problems(vpn_link(name=name))
    assert problem.path == "vpn.links[0].name"


def test_vpn_link_address_needs_a_prefix() -> None:
    (problem,) = vpn_problems(vpn_link(address="10.100.0.1"))
    assert problem.path == "vpn.links[0].address"


def test_vpn_link_privileged_listen_port_is_a_problem() -> None:
    (problem,) = vpn_problems(vpn_link(listen_port=500, firewall={"incoming_udp_port": 500, "allowed_tcp_ports": [6443]}))
    assert problem.path == "vpn.links[0].listen_port"


def test_vpn_link_with_two_peers_sharing_a_public_key_is_a_problem() -> None:
    peer = vpn_link()["peers"][0]
    (problem,) = vpn_problems(vpn_link(peers=[peer, {**peer, "endpoint": "other.example.com:51820"}]))
    assert problem.path == "vpn.links[0].peers"
    assert "duplicates" in problem.message


def test_vpn_link_without_peers_is_a_problem() -> None:
    (problem,) = vpn_problems(vpn_link(peers=[]))
    assert problem.path == "vpn.links[0].peers"


def test_vpn_listen_port_without_incoming_firewall_port_is_a_problem() -> None:
    (problem,) = vpn_problems(vpn_link(firewall={"allowed_tcp_ports": [6443]}))
    assert problem.path == "vpn.links[0].firewall.incoming_udp_port"


def test_k8s_vpn_profile_refuses_a_trusted_interface() -> None:
    firewall = {"incoming_udp_port": 51820, "allowed_tcp_ports": [6443], "trust_interface": True}
    (problem,) = vpn_problems(vpn_link(firewall=firewall))
    assert problem.path == "vpn.links[0].firewall.trust_interface"


def test_k8s_vpn_profile_needs_allowed_ports() -> None:
    (problem,) = vpn_problems(vpn_link(firewall={"incoming_udp_port": 51820}))
    assert problem.path == "vpn.links[0].firewall"


@pytest.mark.parametrize(
    ("peer_fields", "path"),
    [
        ({"public_key": "short"}, "public_key"),
        ({"preshared_key_file": None}, "preshared_key_file"),
        ({"allowed_ips": []}, "allowed_ips"),
        ({"allowed_ips": ["0.0.0.0/0"]}, "allowed_ips[0]"),
        ({"allowed_ips": ["10.100.0.1/24"]}, "allowed_ips[0]"),
        ({"endpoint": "vpn.example.com"}, "endpoint"),
        ({"endpoint": "vpn.example.com:70000"}, "endpoint"),
    ],
)
def test_vpn_peer_problems_have_their_paths(peer_fields: dict[str, Any], path: str) -> None:
    peer = {**vpn_link()["peers"][0], **peer_fields}
    peer = {k: v for k, v in peer.items() if v is not None}
    (problem,) = vpn_problems(vpn_link(peers=[peer]))
    assert problem.path == f"vpn.links[0].peers[0].{path}"


def test_vpn_links_sharing_a_name_or_port_are_a_problem() -> None:
    problems = vpn_problems(vpn_link(), vpn_link(address="10.101.0.1/24"))
    messages = [p.message for p in problems]
    assert all(p.path == "vpn.links" for p in problems)
    assert any(m.startswith("name 'wg0' is used by 2 links") for m in messages)
    assert any(m.startswith("listen_port 51820 is used by 2 links") for m in messages)


# --- persistent state -----------------------------------------------------------------------------------------


# --- wired into load ----------------------------------------------------------------------------------------------


def test_load_reports_rule_problems_from_several_rules_at_once() -> None:
    raw = minimal_spec(
        network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.9.0.0/24"},
        bootstrap_secrets={"k3s_sever_token": "x"},
        persistent_state={},
        argocd={"repo_url": "https://x"},
    )
    raw["node_pools"][0]["labels"] = {"bad key": "x"}
    assert problem_paths(raw) == [
        "argocd",
        "bootstrap_secrets.k3s_sever_token",
        "network.subnet_cidr",
        'node_pools[0].labels["bad key"]',
        "persistent_state",
    ]


def test_platform_limits_are_reported_beside_the_rules() -> None:
    raw = minimal_spec(hcloud=None, argocd={"repo_url": "https://x"})
    assert problem_paths(raw) == ["argocd", "hcloud.image"]


def test_load_applies_only_the_cloud_neutral_rules() -> None:
    from nixk8s.load import load

    assert load(json.dumps(minimal_spec(hcloud=None)).encode(), "json").value_or(None) is not None


def test_a_huge_aws_control_plane_is_refused_before_anything_is_built() -> None:
    raw = minimal_spec(backend="aws", region="eu-west-1", hcloud=None, aws={"ami_id": "ami-0123456789abcdef0"},
                       bootstrap_secrets={"k3s_server_token": "t"})
    raw["node_pools"][0].update(min_size=1_000_000, max_size=1_000_000)
    assert problem_paths(raw) == ["node_pools[0].min_size"]


def test_a_hundred_thousand_server_hcloud_pool_is_refused() -> None:
    raw = minimal_spec(node_pools=[minimal_spec()["node_pools"][0], worker_pool("workers", 100_000)],
                       bootstrap_secrets={"k3s_server_token": "t"}, vpn=OWN_VPN)
    assert "node_pools" in problem_paths(raw)


@pytest.mark.parametrize("backend", ["hcloud", "aws"])
def test_the_benchmarks_largest_clusters_are_within_the_bounds(backend: str) -> None:
    # benchmarks/bench.py: hcloud 3 servers + 10,000 workers without a network;
    # aws 10,000 workers in 20 pools
    system = {"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3}
    pools = [worker_pool("workers", 10_000)] if backend == "hcloud" else [worker_pool(f"pool{i}", 500) for i in range(20)]
    provider = (
        {"hcloud": {"image": "123456"}, "vpn": OWN_VPN}  # past 100 servers: no network, VPN links
        if backend == "hcloud"
        else {"hcloud": None, "aws": {"ami_id": "ami-0123456789abcdef0"}}
    )
    raw = minimal_spec(backend=backend, region="nbg1" if backend == "hcloud" else "eu-west-1",
                       node_pools=[system, *pools], bootstrap_secrets={"k3s_server_token": {"var": "t"}}, **provider)
    assert problems_of(raw) == ()


# --- control characters in what a cloud names ------------------------------------------------------------

CONTROL_CHARACTERS = ["\n", "\x1b", "\x07", "\r", "\x00", "\x7f", "\x85", "\u202e", "\u2066", "\u2028", "\ufeff"]


@pytest.mark.parametrize("character", CONTROL_CHARACTERS, ids=repr)
@pytest.mark.parametrize(
    ("place", "path"),
    [
        (lambda c: minimal_spec(region="nbg1" + c + "fake.yaml: valid"), "region"),
        (lambda c: with_pool(instance_types=["cx32" + c]), "node_pools[0].instance_types[0]"),
        (lambda c: with_pool(ssh_keys=["ops" + c]), "node_pools[0].ssh_keys[0]"),
        (lambda c: with_pool(labels={"team": "a" + c}), "node_pools[0].labels.team"),
        (lambda c: with_pool(taints=[{"key": "gpu" + c}]), "node_pools[0].taints[0].key"),
        (lambda c: minimal_spec(tags={"team": c}), "tags.team"),
        (lambda c: minimal_spec(hcloud={"image": "nixos" + c}), "hcloud.image"),
        (lambda c: minimal_spec(nixos={"image_id": c + "nixos"}), "nixos.image_id"),
        (lambda c: minimal_spec(backend="aws", hcloud=None, aws={"availability_zones": ["eu-central-1a" + c]}),
         "aws.availability_zones[0]"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_control_character_in_what_a_cloud_names_is_a_problem_at_its_path(place: Any, path: str, character: str) -> None:
    (problem,) = run(rules.control_characters, place(character))
    assert problem.path == path
    assert f"U+{ord(character):04X}" in problem.message


def test_a_control_character_in_a_tag_key_is_a_problem_of_its_key() -> None:
    (problem,) = run(rules.control_characters, minimal_spec(tags={"team\x1b": "a"}))
    assert problem.message.startswith("its key holds U+001B, a control character, at character 5")


def test_names_in_any_script_and_spaces_in_tags_are_fine() -> None:
    raw = minimal_spec(region="zürich-東京", tags={"owner": "Ana María", "note": "a\u00a0b"})
    assert run(rules.control_characters, raw) == []


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (minimal_spec(name="demo\n"), "name"),
        (with_pool(name="system\n"), "node_pools[0].name"),
        (minimal_spec(bootstrap_secrets={"k3s_server_token": {"var": "token\n"}}), "bootstrap_secrets.k3s_server_token.var"),
    ],
    ids=["name", "pool name", "variable"],
)
def test_a_name_ending_in_a_newline_is_a_problem(raw: dict[str, Any], path: str) -> None:
    # their patterns end in "$", which Python matches before a final newline too
    (problem,) = run(rules.control_characters, raw)
    assert problem.path == path
    assert path in problem_paths(raw)


def test_a_label_key_ending_in_a_newline_is_not_well_formed() -> None:
    problems = run(rules.node_labels_and_taints, with_pool(labels={"team\n": "a"}))
    assert [p.message.split(" must")[0] for p in problems] == ['label key "team\n"']
