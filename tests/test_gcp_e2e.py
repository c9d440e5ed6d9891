"""GCP end to end: real terraform over the compiled examples, what every instance and
template holds in its ``user-data`` after a (simulated) apply, and that user-data run
as the machine would run it at first boot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import (
    SPECS,
    apply_state,
    assert_kindling_accepts,
    boot_in_namespace,
    cloud_init_schema,
    compile_file,
    dummy_tfvars,
    embedded_config,
    metadata_route,
    shellcheck,
    tfcheck,
    write_module,
)

from nixk8s.backends.gcp import METADATA_SERVER
from nixk8s.compiler import Compiled

GCP_SPECS = sorted(SPECS.glob("gcp-*.yaml"))
MACHINES = ("google_compute_instance.", "google_compute_instance_template.")


def test_there_are_gcp_example_specs() -> None:
    assert {"gcp-k3s.yaml", "gcp-kubernetes.yaml"} <= {p.name for p in GCP_SPECS}


@pytest.mark.tfcheck
@pytest.mark.parametrize("path", GCP_SPECS, ids=lambda p: p.name)
def test_example_gcp_spec_passes_terraform_plan(path: Path, tmp_path: Path) -> None:
    tfcheck(write_module(compile_file(path), tmp_path), "--plan")


# --- the apply simulation ---------------------------------------------------------------------


class Applied:
    """An example after a simulated apply: the state, and every machine's user-data."""

    def __init__(self, spec_file: str, tmp: Path) -> None:
        self.compiled: Compiled = compile_file(SPECS / spec_file)
        self.name = self.compiled.plan.name
        self.tfvars = dummy_tfvars(self.compiled)
        self.state = apply_state(self.compiled, tmp, self.tfvars)
        self.user_data = {
            address: values["metadata"]["user-data"]
            for address, values in self.state.items()
            if address.startswith(MACHINES)
        }
        self.server_0_address = self.state[f"google_compute_address.{self.name}_cp_0_ip"]["address"]

    def configs(self) -> dict[str, dict[str, Any]]:
        return {address: embedded_config(text) for address, text in self.user_data.items()}

    def template(self, pool: str) -> str:
        return self.user_data[f"google_compute_instance_template.{self.name}_{pool}"]

    def server(self, i: int) -> str:
        return self.user_data[f"google_compute_instance.{self.name}_cp_{i}"]


@pytest.fixture(scope="module")
def k3s_ha(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return Applied("gcp-k3s.yaml", tmp_path_factory.mktemp("gcp-k3s"))


@pytest.fixture(scope="module")
def kubernetes(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return Applied("gcp-kubernetes.yaml", tmp_path_factory.mktemp("gcp-kubernetes"))


EXAMPLES = ["k3s_ha", "kubernetes"]


def example(request: pytest.FixtureRequest, name: str) -> Applied:
    applied: Applied = request.getfixturevalue(name)
    return applied


@pytest.mark.tfcheck
def test_applied_machines_are_one_instance_per_server_and_one_template_per_pool(k3s_ha: Applied) -> None:
    assert sorted(k3s_ha.user_data) == [
        "google_compute_instance.demo_cp_0",
        "google_compute_instance.demo_cp_1",
        "google_compute_instance.demo_cp_2",
        "google_compute_instance_template.demo_gpu",
        "google_compute_instance_template.demo_workers",
    ]


@pytest.mark.tfcheck
@pytest.mark.parametrize("name", EXAMPLES)
def test_applied_exactly_one_node_initialises_the_cluster_and_it_is_server_0(
    name: str, request: pytest.FixtureRequest
) -> None:
    applied = example(request, name)
    initialising = [a for a, config in applied.configs().items() if config["cluster_init"] is True]
    assert initialising == [f"google_compute_instance.{applied.name}_cp_0"]
    assert "join_server" not in applied.configs()[initialising[0]]


@pytest.mark.tfcheck
@pytest.mark.parametrize("name", EXAMPLES)
def test_applied_joiners_hold_server_0s_real_address(name: str, request: pytest.FixtureRequest) -> None:
    applied = example(request, name)
    host = applied.server_0_address
    instance = applied.state[f"google_compute_instance.{applied.name}_cp_0"]
    assert instance["network_interface"][0]["network_ip"] == host
    expected = f"https://{host}:6443" if applied.compiled.plan.spec.distribution == "k3s" else f"{host}:6443"
    joiners = [c for c in applied.configs().values() if not c["cluster_init"]]
    assert joiners and all(c["join_server"] == expected for c in joiners)


@pytest.mark.tfcheck
@pytest.mark.parametrize("name", EXAMPLES)
def test_applied_configs_validate_against_the_consumer_schema(name: str, request: pytest.FixtureRequest) -> None:
    for config in example(request, name).configs().values():
        assert_kindling_accepts(config)


@pytest.mark.tfcheck
def test_applied_templates_leave_node_index_to_the_boot_time_probe(k3s_ha: Applied) -> None:
    for pool in ("workers", "gpu"):
        config = embedded_config(k3s_ha.template(pool))
        assert config["role"] == "agent" and "node_index" not in config
        assert METADATA_SERVER.url in k3s_ha.template(pool)


@pytest.mark.tfcheck
def test_applied_configs_carry_the_secret_variables_values(k3s_ha: Applied) -> None:
    for config in k3s_ha.configs().values():
        assert config["bootstrap_secrets"]["k3s_server_token"] == k3s_ha.tfvars["k3s_token"]
        if config["role"] == "server":
            assert config["bootstrap_secrets"]["sops_age_key"] == k3s_ha.tfvars["sops_age_key"]
        else:
            assert "sops_age_key" not in config["bootstrap_secrets"]


@pytest.mark.tfcheck
def test_applied_servers_hold_the_created_networks_id(k3s_ha: Applied) -> None:
    network_id = k3s_ha.state["google_compute_network.demo_network"]["id"]
    for i in range(3):
        assert embedded_config(k3s_ha.server(i))["network_id"] == network_id


@pytest.mark.tfcheck
def test_applied_outputs_are_server_0s_addresses(k3s_ha: Applied, tmp_path: Path) -> None:
    summary = tfcheck(write_module(k3s_ha.compiled, tmp_path / "module"), "--apply").stdout
    public = k3s_ha.state["google_compute_instance.demo_cp_0"]["network_interface"][0]["access_config"][0]["nat_ip"]
    assert f'api_endpoint = "https://{public}:6443"' in summary
    assert f'join_server = "https://{k3s_ha.server_0_address}:6443"' in summary


@pytest.mark.tfcheck
def test_applied_cloud_config_passes_the_cloud_init_schema(k3s_ha: Applied) -> None:
    for text in k3s_ha.user_data.values():
        assert text.startswith("#cloud-config\n")
        cloud_init_schema(text)


@pytest.mark.tfcheck
def test_applied_shell_user_data_passes_shellcheck(kubernetes: Applied) -> None:
    for text in kubernetes.user_data.values():
        assert text.startswith("#!/bin/sh\n")
        shellcheck(text)


# --- booting the user-data, as the machine would ---------------------------------------------------


def metadata_server_answering(ipv4: str) -> list[dict[str, Any]]:
    """The GCE metadata server: the address, only to a request with Metadata-Flavor: Google."""
    assert METADATA_SERVER.header is not None
    return [metadata_route(METADATA_SERVER.url, ipv4, METADATA_SERVER.header)]


def index_of(ipv4: str) -> int:
    a, b, c, d = (int(octet) for octet in ipv4.split("."))
    return (a << 24) + (b << 16) + (c << 8) + d


@pytest.mark.tfcheck
@pytest.mark.parametrize("name,pool", [("kubernetes", "workers"), ("k3s_ha", "workers"), ("k3s_ha", "gpu")])
def test_applied_template_writes_its_config_with_the_index_from_the_metadata_server(
    name: str, pool: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    applied = example(request, name)
    boot = boot_in_namespace(applied.template(pool), metadata_server_answering("10.30.0.23"), tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert boot.mode == 0o640
    assert boot.config is not None
    config = json.loads(boot.config)
    assert type(config["node_index"]) is int and config["node_index"] == index_of("10.30.0.23")
    assert_kindling_accepts(config)
    assert {k: v for k, v in config.items() if k != "node_index"} == embedded_config(applied.template(pool))


@pytest.mark.tfcheck
def test_applied_server_writes_its_config_without_asking_the_metadata_server(
    kubernetes: Applied, tmp_path: Path
) -> None:
    boot = boot_in_namespace(kubernetes.server(0), [], tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert boot.mode == 0o640
    assert boot.config is not None and json.loads(boot.config) == embedded_config(kubernetes.server(0))


@pytest.mark.tfcheck
def test_applied_template_writes_no_config_when_the_metadata_server_does_not_answer(
    kubernetes: Applied, tmp_path: Path
) -> None:
    # a request without the Metadata-Flavor header is refused, as GCE refuses it
    wrong_header = [metadata_route(METADATA_SERVER.url, "10.0.0.5", "Metadata-Flavor: Nope")]
    boot = boot_in_namespace(kubernetes.template("workers"), wrong_header, tmp_path)
    assert boot.returncode != 0
    assert boot.config is None
