"""GCP end to end: real terraform over the compiled examples, what every instance and
template holds in its ``user-data`` after a (simulated) apply, and that user-data run
as the machine would run it at first boot.

The HA examples (three servers) run behind the API load balancer: gcp-k3s.yaml a private
one as written and a public one in a variant, gcp-kubernetes-ha.yaml a public one; the
kubernetes example (one server) has none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    dummy_tfvars,
    embedded_config,
    ipv4_as_index,
    metadata_route,
    metadata_service,
    shellcheck,
    tfcheck,
    write_module,
)

from nixk8s.backends.gcp.nodes import METADATA_SERVER
from nixk8s.compiler import Compiled

# the tests share applied clusters (module fixtures): one xdist worker runs them all (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("gcp-applied")

GCP_SPECS = sorted(SPECS.glob("gcp-*.yaml"))
MACHINES = ("google_compute_instance.", "google_compute_instance_template.")


# --- the apply simulation ---------------------------------------------------------------------


class Applied:
    """An example after a simulated apply: the state, and every machine's user-data."""

    def __init__(self, compiled: Compiled, tmp: Path) -> None:
        self.compiled = compiled
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

    @property
    def balancer_address(self) -> str | None:
        """The internal balancer's address as applied (None without a balancer)."""
        rule = self.state.get(f"google_compute_forwarding_rule.{self.name}_api")
        return None if rule is None else str(rule["ip_address"])

    @property
    def public_balancer_address(self) -> str | None:
        address = self.state.get(f"google_compute_address.{self.name}_api_public_ip")
        return None if address is None else str(address["address"])


def k3s_public_spec() -> str:
    """The HA example with a public balancer in front of the servers as well."""
    raw = yaml.safe_load((SPECS / "gcp-k3s.yaml").read_text())
    return yaml.safe_dump({**raw, "api_load_balancer": "public"}, sort_keys=False)


@pytest.fixture(scope="module")
def k3s_ha(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return Applied(compiled_example(SPECS / "gcp-k3s.yaml"), tmp_path_factory.mktemp("gcp-k3s"))


@pytest.fixture(scope="module")
def k3s_public(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return Applied(compile_text(k3s_public_spec()), tmp_path_factory.mktemp("gcp-k3s-public"))


@pytest.fixture(scope="module")
def kubernetes(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return Applied(compiled_example(SPECS / "gcp-kubernetes.yaml"), tmp_path_factory.mktemp("gcp-kubernetes"))


@pytest.fixture(scope="module")
def kubernetes_ha(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return Applied(compiled_example(SPECS / "gcp-kubernetes-ha.yaml"), tmp_path_factory.mktemp("gcp-kubernetes-ha"))


EXAMPLES = ["k3s_ha", "k3s_public", "kubernetes", "kubernetes_ha"]
BALANCED = ["k3s_ha", "k3s_public", "kubernetes_ha"]


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


def join_url(applied: Applied, host: str) -> str:
    return f"https://{host}:6443" if applied.compiled.plan.spec.distribution == "k3s" else f"{host}:6443"


@pytest.mark.tfcheck
@pytest.mark.parametrize("name", EXAMPLES)
def test_applied_servers_join_server_0s_real_address(name: str, request: pytest.FixtureRequest) -> None:
    # also behind a balancer: a passthrough balancer answers a server that connects to it with itself
    applied = example(request, name)
    host = applied.server_0_address
    instance = applied.state[f"google_compute_instance.{applied.name}_cp_0"]
    assert instance["network_interface"][0]["network_ip"] == host
    joiners = [c for c in applied.configs().values() if c["role"] == "server" and not c["cluster_init"]]
    assert len(joiners) == applied.compiled.plan.spec.control_plane_count - 1
    assert all(c["join_server"] == join_url(applied, host) for c in joiners)


@pytest.mark.tfcheck
@pytest.mark.parametrize("name", EXAMPLES)
def test_applied_workers_join_the_balancer_where_there_is_one(name: str, request: pytest.FixtureRequest) -> None:
    applied = example(request, name)
    balancer = applied.balancer_address
    if name in BALANCED:
        # the address fixed at compile time (the subnet's last usable host) is the one the rule serves
        fixed = applied.compiled.built.infra.balancer.internal_ip
        assert balancer == applied.state[f"google_compute_address.{applied.name}_api_ip"]["address"] == fixed
        assert fixed.endswith(".253")
    else:
        assert balancer is None
    host = applied.server_0_address if balancer is None else balancer
    workers = [c for c in applied.configs().values() if c["role"] == "agent"]
    assert workers and all(c["join_server"] == join_url(applied, host) for c in workers)


@pytest.mark.tfcheck
@pytest.mark.parametrize("name", BALANCED)
def test_applied_every_servers_certificate_names_the_balancers_addresses(
    name: str, request: pytest.FixtureRequest
) -> None:
    applied = example(request, name)
    wanted = [applied.balancer_address]
    if applied.compiled.plan.api_load_balancer == "public":
        assert applied.public_balancer_address is not None
        wanted.append(applied.public_balancer_address)
    else:
        assert applied.public_balancer_address is None
    for i in range(3):
        config = embedded_config(applied.server(i))
        if "k3s" in config:
            assert config["k3s"]["tls_san"] == ["k8s.example.com", *wanted], i
        else:
            assert config["kubernetes"]["api_server_cert_sans"] == wanted, i


@pytest.mark.tfcheck
@pytest.mark.parametrize("name", BALANCED)
def test_applied_balancer_holds_every_server_in_its_zones_group(name: str, request: pytest.FixtureRequest) -> None:
    applied = example(request, name)
    groups = {a: v for a, v in applied.state.items() if a.startswith("google_compute_instance_group.")}
    held = {}
    for values in groups.values():
        for link in values["instances"]:
            held[link] = values["zone"]
    servers = [applied.state[f"google_compute_instance.{applied.name}_cp_{i}"] for i in range(3)]
    assert {s["self_link"]: s["zone"] for s in servers} == held
    backends = {
        b["group"] for b in applied.state[f"google_compute_region_backend_service.{applied.name}_api"]["backend"]
    }
    assert backends == {v["id"] for v in groups.values()}


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
def test_applied_configs_carry_the_secret_variables_and_the_generated_join_token(k3s_ha: Applied) -> None:
    token = k3s_ha.state["random_password.demo_join_token"]["result"]
    for config in k3s_ha.configs().values():
        assert config["bootstrap_secrets"]["k3s_server_token"] == token
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
@pytest.mark.parametrize("name", EXAMPLES)
def test_applied_outputs_point_at_the_balancer_or_server_0(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    applied = example(request, name)
    summary = tfcheck(write_module(applied.compiled, tmp_path / "module"), "--apply").stdout
    server_0 = applied.state[f"google_compute_instance.{applied.name}_cp_0"]
    endpoint = {
        "k3s_ha": applied.balancer_address,
        "k3s_public": applied.public_balancer_address,
        "kubernetes_ha": applied.public_balancer_address,
        "kubernetes": server_0["network_interface"][0]["access_config"][0]["nat_ip"],
    }[name]
    assert f'api_endpoint = "https://{endpoint}:6443"' in summary
    joined = applied.balancer_address or applied.server_0_address
    assert f'join_server = "{join_url(applied, joined)}"' in summary


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


@pytest.mark.tfcheck
@pytest.mark.parametrize("name,pool", [("kubernetes", "workers"), ("k3s_ha", "workers"), ("k3s_ha", "gpu")])
def test_applied_template_writes_its_config_with_the_index_from_the_metadata_server(
    name: str, pool: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    applied = example(request, name)
    boot = boot_in_namespace(applied.template(pool), metadata_service(METADATA_SERVER, "10.30.0.23"), tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert boot.mode == 0o640
    assert boot.config is not None
    config = json.loads(boot.config)
    assert type(config["node_index"]) is int and config["node_index"] == ipv4_as_index("10.30.0.23")
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


@pytest.mark.tfcheck
def test_applied_public_balancer_admits_the_api_sources_as_the_firewall_does(kubernetes_ha: Applied) -> None:
    rule = kubernetes_ha.state["google_compute_forwarding_rule.kube-ha_api_public"]
    assert rule["load_balancing_scheme"] == "EXTERNAL"
    assert rule["ip_address"] == kubernetes_ha.public_balancer_address
    assert rule["source_ip_ranges"] == ["192.0.2.0/24", "198.51.100.0/24"]
    v4 = kubernetes_ha.state["google_compute_firewall.kube-ha_public_api_v4"]["source_ranges"]
    assert set(v4) == {"192.0.2.0/24", "198.51.100.0/24", "10.40.0.0/16"}
    health = kubernetes_ha.state["google_compute_firewall.kube-ha_api_health"]
    assert health["target_tags"] == ["kube-ha-cp"] and "35.191.0.0/16" in health["source_ranges"]
