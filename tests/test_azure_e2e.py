"""Azure end to end: real terraform over the compiled example, what every machine's
custom_data holds after a (simulated) apply, and the scale sets' user_data run for real
against a stand-in Azure IMDS.

tfcheck runs terraform against an offline stand-in of azurerm 4.x with its real
schema; ``--apply`` fills every computed attribute (public IPs, ids) with a
deterministic value, so the state holds custom_data exactly as Terraform evaluated and
base64-encoded it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from support import (
    SPECS,
    apply_state,
    assert_kindling_accepts,
    boot_in_namespace,
    cloud_init_schema,
    compiled_example,
    compile_text,
    decode_user_data,
    document_user_data,
    embedded_config,
    ipv4_as_index,
    metadata_service,
    shellcheck,
    tfcheck,
    write_module,
)
from test_azure_backend import azure_spec

from nixk8s.backends.azure.balancer import balancer_ip
from nixk8s.backends.azure.nodes import IMDS
from nixk8s.compiler import Compiled
from nixk8s.load import format_of

# the tests share applied clusters (module fixtures): one xdist worker runs them all (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("azure-applied")

EXAMPLE = SPECS / "azure-k3s.yaml"
MACHINES = ("azurerm_linux_virtual_machine.", "azurerm_linux_virtual_machine_scale_set.")


def azure_specs() -> list[Path]:
    def backend(path: Path) -> Any:
        data = path.read_bytes()
        fmt = format_of(path.name)
        raw = yaml.safe_load(data) if fmt == "yaml" else msgspec.toml.decode(data) if fmt == "toml" else msgspec.json.decode(data)
        return raw.get("backend") if isinstance(raw, dict) else None

    return sorted(p for p in SPECS.iterdir() if p.suffix in (".yaml", ".toml", ".json") and backend(p) in ("azure", "azure_nixos"))


def example_raw(**overrides: Any) -> dict[str, Any]:
    return {**yaml.safe_load(EXAMPLE.read_text()), **overrides}


def as_kubernetes(raw: dict[str, Any]) -> dict[str, Any]:
    """The example cluster running vanilla Kubernetes (kubeadm) instead of k3s."""
    secrets = {k: v for k, v in raw["bootstrap_secrets"].items() if k != "k3s_server_token"}
    nixos = {k: v for k, v in raw["nixos"].items() if k != "k3s"}
    return {
        **raw,
        "distribution": "kubernetes",
        "nixos": nixos,
        "bootstrap_secrets": {**secrets, "kubeadm_token": {"var": "kubeadm_token"}},
    }


# --- every example spec plans ----------------------------------------------------------------


# --- the example after apply -----------------------------------------------------------------


class Applied:
    """A spec after a simulated apply: every machine's decoded custom_data, by address."""

    def __init__(self, compiled: Compiled, tmp: Path) -> None:
        self.compiled = compiled
        self.name = compiled.plan.name
        self.state = apply_state(compiled, tmp)
        self.custom_data = {
            address: decode_user_data(values["custom_data"])
            for address, values in self.state.items()
            if address.startswith(MACHINES)
        }
        self.join_host = self.state[f"azurerm_network_interface.{self.name}_cp_0_nic"]["ip_configuration"][0][
            "private_ip_address"
        ]

    def configs(self) -> dict[str, dict[str, Any]]:
        return {address: embedded_config(text) for address, text in self.custom_data.items()}

    def config(self, machine: str) -> dict[str, Any]:
        return self.configs()[machine]

    def public_ip(self, i: int) -> str:
        return str(self.state[f"azurerm_public_ip.{self.name}_cp_{i}_pip"]["ip_address"])

    @property
    def balancer_address(self) -> str | None:
        """The internal API balancer's frontend address, as applied (None without one)."""
        lb = self.state.get(f"azurerm_lb.{self.name}_api_lb")
        return None if lb is None else str(lb["frontend_ip_configuration"][0]["private_ip_address"])

    @property
    def reserved_balancer_address(self) -> str:
        """The subnet's address kept for the internal API balancer, built yet or not."""
        subnet = self.state[f"azurerm_subnet.{self.name}_subnet"]["address_prefixes"][0]
        return balancer_ip(str(subnet))

    @property
    def public_balancer_address(self) -> str | None:
        address = self.state.get(f"azurerm_public_ip.{self.name}_api_pip")
        return None if address is None else str(address["ip_address"])

    def servers(self) -> dict[str, dict[str, Any]]:
        return {a: c for a, c in self.configs().items() if c["role"] == "server"}


@pytest.fixture(scope="module")
def k3s(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return Applied(compiled_example(EXAMPLE), tmp_path_factory.mktemp("azure-k3s"))


@pytest.fixture(scope="module")
def kubernetes(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    compiled = compile_text(yaml.safe_dump(as_kubernetes(example_raw())))
    return Applied(compiled, tmp_path_factory.mktemp("azure-kubernetes"))


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    compiled = compile_text(yaml.safe_dump(example_raw(api_load_balancer="public")))
    return Applied(compiled, tmp_path_factory.mktemp("azure-public"))


@pytest.fixture(scope="module")
def unbalanced(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    compiled = compile_text(yaml.safe_dump(example_raw(api_load_balancer="none")))
    return Applied(compiled, tmp_path_factory.mktemp("azure-unbalanced"))


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    compiled = compile_text(yaml.safe_dump(example_raw(user_data_format="shell")))
    return Applied(compiled, tmp_path_factory.mktemp("azure-shell"))


@pytest.mark.tfcheck
def test_applied_cluster_has_three_servers_and_a_scale_set_per_worker_pool(k3s: Applied) -> None:
    assert sorted(k3s.custom_data) == [
        "azurerm_linux_virtual_machine.demo_cp_0",
        "azurerm_linux_virtual_machine.demo_cp_1",
        "azurerm_linux_virtual_machine.demo_cp_2",
        "azurerm_linux_virtual_machine_scale_set.demo_gpu",
        "azurerm_linux_virtual_machine_scale_set.demo_workers",
    ]


@pytest.mark.tfcheck
def test_applied_custom_data_is_base64_of_a_cloud_config(k3s: Applied) -> None:
    assert all(text.startswith("#cloud-config\n") for text in k3s.custom_data.values())


@pytest.mark.tfcheck
def test_applied_exactly_one_node_initialises_the_cluster_and_it_is_server_zero(k3s: Applied) -> None:
    initialising = [a for a, c in k3s.configs().items() if c["cluster_init"] is True]
    assert initialising == ["azurerm_linux_virtual_machine.demo_cp_0"]
    assert k3s.config(initialising[0])["node_index"] == 0
    assert "join_server" not in k3s.config(initialising[0])


@pytest.mark.tfcheck
@pytest.mark.parametrize("example", ["k3s", "public", "unbalanced"])
def test_applied_later_servers_hold_server_zeros_real_private_address(example: str, request: pytest.FixtureRequest) -> None:
    applied: Applied = request.getfixturevalue(example)
    joiners = {a: c for a, c in applied.servers().items() if not c["cluster_init"]}
    assert len(joiners) == 2
    assert applied.join_host == "10.20.0.4"
    assert all(c["join_server"] == "https://10.20.0.4:6443" for c in joiners.values())


@pytest.mark.tfcheck
@pytest.mark.parametrize("example", ["k3s", "public"])
def test_applied_workers_hold_the_balancers_real_address(example: str, request: pytest.FixtureRequest) -> None:
    applied: Applied = request.getfixturevalue(example)
    workers = {a: c for a, c in applied.configs().items() if c["role"] == "agent"}
    assert len(workers) == 2
    assert applied.balancer_address == "10.20.15.254"
    assert all(c["join_server"] == "https://10.20.15.254:6443" for c in workers.values())


@pytest.mark.tfcheck
def test_applied_workers_without_a_balancer_join_server_zero(unbalanced: Applied) -> None:
    workers = [c for c in unbalanced.configs().values() if c["role"] == "agent"]
    assert workers and all(c["join_server"] == "https://10.20.0.4:6443" for c in workers)
    assert unbalanced.balancer_address is None


@pytest.mark.tfcheck
@pytest.mark.parametrize("example", ["k3s", "public"])
def test_applied_balancer_has_every_servers_nic_in_its_pools(example: str, request: pytest.FixtureRequest) -> None:
    applied: Applied = request.getfixturevalue(example)
    pools = ["api_pool", "api_public_pool"] if example == "public" else ["api_pool"]
    for pool in pools:
        pool_id = applied.state[f"azurerm_lb_backend_address_pool.demo_{pool}"]["id"]
        for i in range(3):
            member = applied.state[f"azurerm_network_interface_backend_address_pool_association.demo_cp_{i}_{pool}"]
            assert member["network_interface_id"] == applied.state[f"azurerm_network_interface.demo_cp_{i}_nic"]["id"]
            assert member["backend_address_pool_id"] == pool_id


@pytest.mark.tfcheck
def test_applied_servers_carry_their_static_indices(k3s: Applied) -> None:
    indices = [k3s.config(f"azurerm_linux_virtual_machine.demo_cp_{i}")["node_index"] for i in range(3)]
    assert indices == [0, 1, 2]


@pytest.mark.tfcheck
def test_applied_scale_sets_leave_the_index_to_the_boot_time_probe(k3s: Applied) -> None:
    for pool in ("workers", "gpu"):
        config = k3s.config(f"azurerm_linux_virtual_machine_scale_set.demo_{pool}")
        assert config["role"] == "agent" and "node_index" not in config


@pytest.mark.tfcheck
@pytest.mark.parametrize("example", ["k3s", "public", "unbalanced"])
def test_applied_server_certificates_name_the_applied_public_addresses_and_the_balancers(
    example: str, request: pytest.FixtureRequest
) -> None:
    applied: Applied = request.getfixturevalue(example)
    balancers = [a for a in (applied.balancer_address, applied.public_balancer_address) if a is not None]
    assert len(balancers) == {"k3s": 1, "public": 2, "unbalanced": 0}[example]
    servers = applied.servers()
    assert len(servers) == 3
    # the internal balancer's address is named even where none is built yet (issue 18)
    internal = applied.reserved_balancer_address
    assert applied.balancer_address in (None, internal)
    public = [] if applied.public_balancer_address is None else [applied.public_balancer_address]
    for config in servers.values():
        assert config["k3s"]["tls_san"] == ["k8s.example.com", *(applied.public_ip(i) for i in range(3)), internal, *public]


@pytest.mark.tfcheck
def test_applied_kubeadm_server_certificates_name_the_balancer(kubernetes: Applied) -> None:
    for config in kubernetes.servers().values():
        assert kubernetes.balancer_address in config["kubernetes"]["api_server_cert_sans"]


@pytest.mark.tfcheck
def test_applied_secrets_by_reference_hold_the_variables_values(k3s: Applied) -> None:
    server = k3s.config("azurerm_linux_virtual_machine.demo_cp_0")
    assert server["bootstrap_secrets"]["sops_age_key"] == "sops_age_key-Value-123"
    assert server["bootstrap_secrets"]["k3s_server_token"] == k3s.state["random_password.demo_join_token"]["result"]
    assert server["network_id"] == k3s.state["azurerm_virtual_network.demo_vnet"]["id"]


@pytest.mark.tfcheck
@pytest.mark.parametrize("example", ["k3s", "kubernetes", "shell", "public", "unbalanced"])
def test_applied_configs_validate_against_the_consumer_schema(example: str, request: pytest.FixtureRequest) -> None:
    applied: Applied = request.getfixturevalue(example)
    for config in applied.configs().values():
        assert_kindling_accepts(config)


@pytest.mark.tfcheck
def test_applied_kubeadm_joiners_hold_the_address_without_a_scheme(kubernetes: Applied) -> None:
    config = kubernetes.config("azurerm_linux_virtual_machine_scale_set.demo_workers")
    assert config["join_server"] == "10.20.15.254:6443"
    assert kubernetes.config("azurerm_linux_virtual_machine.demo_cp_2")["join_server"] == "10.20.0.4:6443"


@pytest.mark.tfcheck
@pytest.mark.parametrize("example", ["k3s", "public", "unbalanced"])
def test_applied_outputs_point_at_the_balancer_or_server_zero(
    example: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    applied: Applied = request.getfixturevalue(example)
    summary = tfcheck(write_module(applied.compiled, tmp_path / "module"), "--apply").stdout
    endpoint = {"k3s": "10.20.15.254", "public": applied.public_balancer_address, "unbalanced": applied.public_ip(0)}
    join = "10.20.0.4" if example == "unbalanced" else "10.20.15.254"
    assert f'api_endpoint = "https://{endpoint[example]}:6443"' in summary
    assert f'join_server = "https://{join}:6443"' in summary


@pytest.mark.tfcheck
def test_applied_custom_data_never_holds_an_interpolation(k3s: Applied) -> None:
    for text in k3s.custom_data.values():
        assert "${azurerm" not in text and "jsonencode" not in text and "${var." not in text


@pytest.mark.tfcheck
def test_applied_shell_scripts_pass_shellcheck(shell: Applied) -> None:
    for script in shell.custom_data.values():
        shellcheck(script)


@pytest.mark.tfcheck
def test_applied_cloud_configs_pass_cloud_inits_schema(k3s: Applied) -> None:
    for document in k3s.custom_data.values():
        cloud_init_schema(document)


# --- booting the scale sets' user_data, as a machine would ----------------------------------------


@pytest.mark.tfcheck
@pytest.mark.parametrize("example", ["k3s", "shell"])
@pytest.mark.parametrize("pool", ["workers", "gpu"])
def test_applied_scale_set_user_data_writes_its_config_with_the_index_from_imds(
    example: str, pool: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    applied: Applied = request.getfixturevalue(example)
    machine = f"azurerm_linux_virtual_machine_scale_set.demo_{pool}"
    boot = boot_in_namespace(applied.custom_data[machine], metadata_service(IMDS, "10.20.0.37"), tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert boot.mode == 0o640
    assert boot.config is not None
    config = json.loads(boot.config)
    assert config["node_index"] == ipv4_as_index("10.20.0.37")
    assert_kindling_accepts(config)
    assert {k: v for k, v in config.items() if k != "node_index"} == applied.config(machine)


@pytest.mark.tfcheck
def test_the_probe_asks_imds_with_its_metadata_header(k3s: Applied, tmp_path: Path) -> None:
    boot_in_namespace(k3s.custom_data["azurerm_linux_virtual_machine_scale_set.demo_workers"], metadata_service(IMDS, "10.20.0.9"), tmp_path)
    (request,) = [json.loads(line) for line in (tmp_path / "requests.log").read_text().splitlines()]
    assert request["url"] == IMDS.url
    assert request["headers"] == ["Metadata: true"]


@pytest.mark.tfcheck
def test_applied_server_user_data_writes_its_config_without_asking_imds(k3s: Applied, tmp_path: Path) -> None:
    machine = "azurerm_linux_virtual_machine.demo_cp_1"
    boot = boot_in_namespace(k3s.custom_data[machine], [], tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert boot.mode == 0o640
    assert boot.config is not None and json.loads(boot.config) == k3s.config(machine)


@pytest.mark.parametrize("fmt", ["shell", "cloud-config"])
def test_a_worker_without_an_answer_from_imds_fails_and_writes_no_config(fmt: str, tmp_path: Path) -> None:
    c = compile_text(yaml.safe_dump(azure_spec(user_data_format=fmt)))
    (worker,) = [u for u in document_user_data(c.document) if '"role":"agent"' in u]
    boot = boot_in_namespace(worker, [], tmp_path)
    assert boot.returncode != 0
    assert boot.config is None
