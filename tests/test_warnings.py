"""Warnings: each rule at its spec path, returned by the library and printed (not fatal) by
the command, unless ``--strict``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import SPECS, compiled_example, minimal_spec, worker_pool

from nixk8s.cli import EXIT_INVALID, EXIT_OK, main
from nixk8s.compiler import Compiled, compile_source
from nixk8s.warnings import SpecWarning

NETWORK = {"vpc_cidr": "10.0.0.0/16"}
TOKEN = {"k3s_server_token": {"var": "k3s_token"}}
SYSTEM3 = {"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3}
CLOSED = {"ssh_sources": ["198.51.100.0/24"], "api_sources": ["198.51.100.0/24"]}


def compiled(**fields: Any) -> Compiled:
    raw = minimal_spec(**{"access": CLOSED, **fields})
    return compile_source(json.dumps(raw).encode(), "json").unwrap()


def found(**fields: Any) -> dict[str, set[str]]:
    """Warning codes by path."""
    result: dict[str, set[str]] = {}
    for w in compiled(**fields).warnings:
        result.setdefault(w.path, set()).add(w.code)
    return result


def test_a_quiet_spec_has_no_warnings() -> None:
    assert compiled().warnings == ()


@pytest.mark.parametrize("source", ["0.0.0.0/0", "::/0"])
def test_ssh_open_to_the_whole_internet(source: str) -> None:
    assert found(access={**CLOSED, "ssh_sources": ["198.51.100.0/24", source]}) == {
        "access.ssh_sources": {"ssh-open-to-world"}
    }


def test_ssh_open_to_the_world_on_private_nodes_names_the_way_in_not_every_node() -> None:
    raw = yaml.safe_load((SPECS / "hcloud-k3s-private.yaml").read_text())
    raw["access"]["ssh_sources"] = ["0.0.0.0/0"]
    (warning,) = (w for w in compile_source(json.dumps(raw).encode(), "json").unwrap().warnings if w.code == "ssh-open-to-world")
    assert "every node" not in warning.message
    assert "the way in to the private nodes" in warning.message


def test_ssh_open_to_the_world_on_public_nodes_names_every_node() -> None:
    (warning,) = (w for w in compiled(access={**CLOSED, "ssh_sources": ["0.0.0.0/0"]}).warnings if w.code == "ssh-open-to-world")
    assert "SSH (port 22) on every node" in warning.message


def test_the_default_access_warns_for_ssh_and_api_and_says_it_is_the_default() -> None:
    warnings = compiled(access=None).warnings
    assert {w.path for w in warnings} == {"access.ssh_sources", "access.api_sources"}
    assert all("the default when the field is left out" in w.message for w in warnings)


def test_api_open_to_the_whole_internet() -> None:
    assert found(access={**CLOSED, "api_sources": ["0.0.0.0/0"]}) == {"access.api_sources": {"api-open-to-world"}}


def test_a_literal_secret() -> None:
    assert found(bootstrap_secrets={"k3s_server_token": "abc"}) == {
        "bootstrap_secrets.k3s_server_token": {"literal-secret"}
    }


def test_a_literal_etcd_snapshot_key() -> None:
    s3 = {"bucket": "snapshots", "access_key": "AKIAEXAMPLE", "secret_key": {"var": "etcd_s3_secret"}}
    assert found(etcd_snapshots={"s3": s3}) == {"etcd_snapshots.s3.access_key": {"literal-secret"}}


def test_k3s_options_that_k3s_reads_from_its_drop_in_or_kindling_applies_are_not_ignored() -> None:
    options = {
        "disable": ["traefik"],
        "tls_san": ["k8s.example.com"],
        "node_ip": "10.0.0.9",
        "cluster_dns": "10.43.0.10",
        "node_labels": {"zone": "a"},
        "node_taints": ["dedicated=infra:NoSchedule"],
        "extra_kubelet_config": {"image-gc-high-threshold": 80},
        "extra_kube_proxy_config": {"proxy-mode": "ipvs"},
        "extra_flags": ["--flannel-backend=wireguard-native"],
        "data_dir": "/var/lib/rancher/k3s",
        "disable_agent": False,
    }
    assert found(nixos={"k3s": options}) == {}


@pytest.mark.parametrize(
    "field, value",
    [
        ("kernel", {"hardening": True}),
        ("firewall", {"enabled": True}),
        ("manifests", {"a": {"kind": "Namespace"}}),
        ("config_path", "/etc/k3s.yaml"),
        ("environment_file", "/etc/k3s.env"),
        ("containerd_config_template", "/etc/containerd.tmpl"),
        ("wait_for_dns", {"enabled": True}),
        ("nvidia_enable", True),
        ("graceful_node_shutdown", True),
    ],
)
def test_a_k3s_option_k3s_cannot_read_from_a_file_is_ignored_and_says_why(field: str, value: Any) -> None:
    (warning,) = compiled(nixos={"k3s": {field: value}}).warnings
    assert (warning.path, warning.code) == (f"nixos.k3s.{field}", "ignored-by-node-agent")
    assert "k3s cannot take it from its config file" in warning.message


def test_kubernetes_options_kindling_ignores_but_not_version_and_cidrs() -> None:
    paths = found(
        distribution="kubernetes",
        bootstrap_secrets=None,
        nixos={"kubernetes": {"version": "1.34.1", "service_cidr": "10.96.0.0/12", "cluster_dns": "10.96.0.10"}},
    )
    assert paths == {"nixos.kubernetes.cluster_dns": {"ignored-by-node-agent"}}


def test_a_networks_cidrs_reach_k3s_through_its_drop_in_and_kubeadm_through_kindling() -> None:
    assert found(network={**NETWORK, "pod_cidr": "10.42.0.0/16", "service_cidr": "10.43.0.0/16"}) == {}
    assert found(distribution="kubernetes", network={**NETWORK, "pod_cidr": "10.244.0.0/16"}) == {}


def test_pool_labels_taints_and_max_pods_reach_k3s_through_its_drop_in() -> None:
    pool = worker_pool(labels={"tier": "web"}, taints=[{"key": "gpu"}], max_pods=50)
    assert found(node_pools=[SYSTEM3, pool], network=NETWORK, bootstrap_secrets=TOKEN) == {}


def test_pool_labels_taints_and_max_pods_kindling_ignores_on_kubeadm() -> None:
    pool = worker_pool(labels={"tier": "web"}, taints=[{"key": "gpu"}], max_pods=50)
    token = {"kubeadm_token": {"var": "kubeadm_token"}}
    paths = found(node_pools=[SYSTEM3, pool], network=NETWORK, bootstrap_secrets=token, distribution="kubernetes")
    assert paths == {
        "node_pools[1].labels": {"ignored-by-node-agent"},
        "node_pools[1].taints": {"ignored-by-node-agent"},
        "node_pools[1].max_pods": {"ignored-by-node-agent"},
    }


def test_argocd_is_parsed_and_never_installed() -> None:
    paths = found(gitops_operator="argocd", argocd={"repo_url": "https://git.example.com/fleet.git"})
    assert paths == {"argocd": {"ignored-by-node-agent"}}


def test_fluxcd_fields_kindling_never_reads_when_changed_from_their_default() -> None:
    flux = {"source_url": "ssh://git@example.com/fleet.git"}
    assert found(fluxcd=flux) == {}
    paths = found(fluxcd={**flux, "enabled": False, "source_interval": "5m", "reconcile_interval": "5m"})
    assert paths == {"fluxcd.enabled": {"ignored-by-node-agent"}, "fluxcd.source_interval": {"ignored-by-node-agent"}}


def test_a_distribution_track_other_than_the_version() -> None:
    assert found(distribution_track="1.33") == {"distribution_track": {"ignored-by-node-agent"}}
    assert found(distribution_track="1.34") == {}


def test_a_join_token_path_without_a_bootstrap_token() -> None:
    pool = worker_pool()
    paths = found(
        node_pools=[SYSTEM3, pool],
        network=NETWORK,
        nixos={"secrets": {"join_token_path": "/run/secrets/k3s-token"}},
    )
    assert paths == {"nixos.secrets.join_token_path": {"join-token-path-unread"}}


def test_fields_nixk8s_passes_nowhere() -> None:
    paths = found(
        nixos={"flake_url": "github:example/fleet", "extra_modules": ["./k3s.nix"]},
        node_pools=[{"name": "system", "instance_types": ["cx32", "cx42"], "min_size": 1, "max_size": 1}],
    )
    assert paths == {
        "nixos.flake_url": {"unused-setting"},
        "nixos.extra_modules": {"unused-setting"},
        "node_pools[0].instance_types[1]": {"unused-setting"},
    }


def test_a_single_server_with_workers_and_an_even_number_of_servers() -> None:
    system = minimal_spec()["node_pools"][0]
    one = found(node_pools=[system, worker_pool()], network=NETWORK, bootstrap_secrets=TOKEN)
    assert one == {"node_pools[0].min_size": {"single-server"}}
    two = found(node_pools=[{**system, "min_size": 2, "max_size": 2}], network=NETWORK, bootstrap_secrets=TOKEN)
    assert two == {"node_pools[0].min_size": {"even-servers"}}
    three = found(node_pools=[{**system, "min_size": 3, "max_size": 3}], network=NETWORK, bootstrap_secrets=TOKEN)
    assert three == {}


def test_servers_without_an_api_load_balancer() -> None:
    system = {**minimal_spec()["node_pools"][0], "min_size": 3, "max_size": 3}
    paths = found(node_pools=[system], network=NETWORK, bootstrap_secrets=TOKEN, api_load_balancer="none")
    assert paths == {"api_load_balancer": {"no-api-load-balancer"}}


def test_desired_size_of_a_pool_an_autoscaler_owns() -> None:
    pool = worker_pool(size=1, max_size=5, desired_size=2, autoscale=True)
    paths = found(node_pools=[minimal_spec()["node_pools"][0], pool], network=NETWORK, bootstrap_secrets=TOKEN)
    assert paths["node_pools[1].desired_size"] == {"size-owned-by-autoscaler"}


AWS_HA = SPECS / "aws-k3s-ha.yaml"


def test_template_workers_that_need_legacy_bootstrap_on_aws() -> None:
    warnings = compiled_example(AWS_HA).warnings
    legacy = [w for w in warnings if w.code == "legacy-bootstrap-needed"]
    assert [w.path for w in legacy] == ["node_pools[1]", "node_pools[2]"]
    assert "legacyBootstrap" in legacy[0].message and "EC2 init" in legacy[0].message


def test_cloud_config_on_aws_needs_legacy_bootstrap_everywhere() -> None:
    text = AWS_HA.read_text() + "\nuser_data_format: cloud-config\n"
    warnings = compile_source(text.encode()).unwrap().warnings
    assert any(w.path == "user_data_format" and w.code == "legacy-bootstrap-needed" for w in warnings)


def test_hetzner_pools_of_servers_need_no_legacy_bootstrap() -> None:
    assert not any(w.code == "legacy-bootstrap-needed" for w in compiled_example(SPECS / "hcloud-k3s.yaml").warnings)


def test_warnings_print_as_file_path_warning_message() -> None:
    w = SpecWarning("ssh-open-to-world", "access.ssh_sources", "open")
    assert str(w) == "access.ssh_sources: warning: open [ssh-open-to-world]"


@pytest.mark.parametrize("path", sorted(SPECS.iterdir()), ids=lambda p: p.name)
def test_warnings_are_sorted_unique_and_documented(path: Path) -> None:
    warnings = compiled_example(path).warnings
    assert list(warnings) == sorted(set(warnings), key=lambda w: (w.path, w.code, w.message))
    documented = (Path(__file__).parent.parent / "docs" / "warnings.md").read_text()
    assert all(f"`{w.code}`" in documented for w in warnings)


def test_every_rule_code_is_documented() -> None:
    import ast

    import nixk8s.warnings as module

    tree = ast.parse(Path(module.__file__).read_text())
    codes = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "SpecWarning"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    } | {"ignored-by-node-agent"}
    documented = (Path(__file__).parent.parent / "docs" / "warnings.md").read_text()
    assert codes and all(f"### `{code}`" in documented for code in codes), codes


# --- through the command ---------------------------------------------------------------------


def spec_file(tmp_path: Path, **fields: Any) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(minimal_spec(**fields)))
    return path


@pytest.mark.parametrize("command", ["validate", "compile", "explain"])
def test_the_command_prints_warnings_and_keeps_exit_0(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path, access={**CLOSED, "ssh_sources": ["0.0.0.0/0"]})
    extra = ["-o", str(tmp_path / "out")] if command == "compile" else []
    assert main([command, str(spec), *extra]) == EXIT_OK
    err = capsys.readouterr().err
    assert f"{spec}: access.ssh_sources: warning: SSH (port 22)" in err
    assert err.rstrip().endswith("[ssh-open-to-world]")


@pytest.mark.parametrize("command", ["validate", "compile", "explain"])
def test_strict_makes_warnings_fatal_and_compile_writes_nothing(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path, access=None)
    out = tmp_path / "out"
    extra = ["-o", str(out)] if command == "compile" else []
    assert main([command, str(spec), "--strict", *extra]) == EXIT_INVALID
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{spec}: 2 warnings, refused by --strict" in captured.err
    assert not out.exists()


def test_strict_passes_a_spec_without_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_file(tmp_path, access=CLOSED)
    assert main(["compile", str(spec), "--strict", "-o", str(tmp_path / "out")]) == EXIT_OK
    assert (tmp_path / "out" / "main.tf.json").is_file()
    assert capsys.readouterr().err == ""


def test_ignored_codes_are_neither_printed_nor_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_file(tmp_path, access=None)
    argv = ["validate", str(spec), "--strict", "--ignore-warning", "ssh-open-to-world"]
    assert main([*argv, "--ignore-warning", "api-open-to-world"]) == EXIT_OK
    assert capsys.readouterr().err == ""
    assert main(argv) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "ssh-open-to-world" not in err and "api-open-to-world" in err


def test_the_library_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert compiled(access=None).warnings
    assert capsys.readouterr() == ("", "")
