"""Hetzner Cloud end to end: real terraform over the compiled output, and what each
server's user_data holds after a (simulated) apply.

tfcheck runs terraform against an offline stand-in of the hcloud provider with its
real schema; ``--apply`` fills every computed attribute with a deterministic value,
so the state holds the user_data exactly as Terraform evaluated it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from support import (
    OWN_VPN,
    SPECS,
    apply_state,
    assert_kindling_accepts,
    cloud_init_schema,
    compiled_example,
    compile_text,
    decode_user_data,
    document_user_data,
    dummy_tfvars,
    embedded_config,
    minimal_spec,
    shellcheck,
    tfcheck,
    worker_pool,
    write_module,
)

from nixk8s.compiler import Compiled
from nixk8s.load import format_of, load
from nixk8s.ports import cluster_ports
from nixk8s.rules import TERRAFORM_RESERVED_VARIABLE_NAMES

# the tests share applied clusters (module fixtures): one xdist worker runs them all (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("hcloud-applied")

HOSTILE_SECRETS = {
    # the join token may hold anything but ", \ and YAML's line breaks (kindling pastes it into YAML)
    "k3s_server_token": "K10::server:${HOME}%{x}$(id)`id`'é日本- a: b",
    "sops_age_key": 'AGE-SECRET-KEY-1"quoted"\\back\nslash\r\n${x}%{ if 1 }PANGEA_CONFIG_EOF\u2028',
    "nix_github_token": "\nPANGEA_CONFIG_EOF\n#cloud-config\n- a: b\n: {}\u2029\u0085",
    "flux_github_token": "'$(rm -rf /)' \"${jsonencode(1)}\" $${x} %%{y} \\n\t\x00🦀",
}


def hcloud_specs() -> list[Path]:
    return sorted(
        path
        for path in SPECS.iterdir()
        if path.suffix in (".yaml", ".yml", ".toml", ".json")
        and _backend_of(path) in ("hcloud", "hcloud_k3s")
    )


def _backend_of(path: Path) -> str | None:
    data = path.read_bytes()
    fmt = format_of(path.name)
    raw = yaml.safe_load(data) if fmt == "yaml" else msgspec.toml.decode(data) if fmt == "toml" else msgspec.json.decode(data)
    return raw.get("backend") if isinstance(raw, dict) else None


def _yaml(raw: dict[str, Any]) -> str:
    return yaml.safe_dump(raw, sort_keys=False)


def example_raw() -> dict[str, Any]:
    return yaml.safe_load((SPECS / "hcloud-k3s.yaml").read_text())


def as_kubernetes(raw: dict[str, Any]) -> dict[str, Any]:
    """The example cluster running vanilla Kubernetes (kubeadm) instead of k3s."""
    secrets = {k: v for k, v in raw["bootstrap_secrets"].items() if k != "k3s_server_token"}
    nixos = {k: v for k, v in raw["nixos"].items() if k != "k3s"}
    nixos["kubernetes"] = {"disable": raw["nixos"]["k3s"]["disable"]}
    return {
        **raw,
        "distribution": "kubernetes",
        "nixos": nixos,
        "bootstrap_secrets": {**secrets, "kubeadm_token": {"var": "kubeadm_token"}},
    }


def without_network(raw: dict[str, Any]) -> dict[str, Any]:
    """The example without its network (nor the balancer that needs one): its nodes then
    reach each other over VPN links."""
    kept = {k: v for k, v in raw.items() if k not in ("network", "api_load_balancer")}
    return {**kept, "vpn": OWN_VPN}


def servers(state: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {address: values for address, values in state.items() if address.startswith("hcloud_server.")}


def applied_config(values: dict[str, Any]) -> dict[str, Any]:
    return embedded_config(decode_user_data(values["user_data"]))


# --- every example spec plans --------------------------------------------------------------


# --- an HA cluster after apply -------------------------------------------------------------

def without_balancer(raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "api_load_balancer": "none"}


SCENARIOS = {
    # name: (raw spec, where nodes join: server 0's private or public address, or the balancer)
    "k3s-ha-private-balancer": (lambda: {**example_raw(), "api_load_balancer": "private"}, "balancer"),
    "k3s-ha-public-balancer": (example_raw, "balancer"),
    "kubernetes-ha-balancer": (lambda: as_kubernetes(example_raw()), "balancer"),
    "k3s-ha-private-network": (lambda: without_balancer(example_raw()), "private"),
    "kubernetes-ha-private-network": (lambda: without_balancer(as_kubernetes(example_raw())), "private"),
    "k3s-ha-public-ipv4": (lambda: without_network(example_raw()), "public"),
}


class Applied(msgspec.Struct):
    compiled: Compiled
    state: dict[str, dict[str, Any]]
    tfvars: dict[str, str]
    join_via: str


@pytest.fixture(
    scope="module", params=[pytest.param(name, marks=pytest.mark.tfcheck) for name in sorted(SCENARIOS)]
)
def applied(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    make_raw, join_via = SCENARIOS[request.param]
    compiled = compile_text(_yaml(make_raw()))
    tfvars = dummy_tfvars(compiled)
    state = apply_state(compiled, tmp_path_factory.mktemp(request.param), tfvars)
    return Applied(compiled, state, tfvars, join_via)


def join_address(applied: Applied) -> str:
    """Where nodes join, as the applied state has it."""
    name = applied.compiled.plan.name
    if applied.join_via == "balancer":
        return applied.state[f"hcloud_load_balancer_network.{name}_api_network"]["ip"]
    if applied.join_via == "private":
        return applied.state[f"hcloud_server_network.{name}_cp_0_network"]["ip"]
    return applied.state[f"hcloud_server.{name}_cp_0"]["ipv4_address"]


def test_applied_cluster_has_every_control_plane_server_and_worker(applied: Applied) -> None:
    spec = applied.compiled.plan.spec
    expected = spec.control_plane_count + sum(p.desired for _, p in spec.worker_pools)
    assert spec.control_plane_count == 3
    assert len(servers(applied.state)) == expected


def test_applied_server_zero_initialises_the_cluster_without_a_join_server(applied: Applied) -> None:
    config = applied_config(applied.state[f"hcloud_server.{applied.compiled.plan.name}_cp_0"])
    assert config["role"] == "server"
    assert config["node_index"] == 0
    assert config["cluster_init"] is True
    assert "join_server" not in config


def test_applied_nodes_join_where_the_plan_says(applied: Applied) -> None:
    address = join_address(applied)
    expected = f"https://{address}:6443" if applied.compiled.plan.spec.distribution == "k3s" else f"{address}:6443"
    joining = [
        applied_config(values)
        for address_, values in servers(applied.state).items()
        if not address_.endswith("_cp_0")
    ]
    assert len(joining) >= 2
    for config in joining:
        assert config["cluster_init"] is False
        assert config["join_server"] == expected


def test_applied_join_address_is_fixed_at_compile_time_only_on_a_private_network(applied: Applied) -> None:
    fixed = applied.compiled.built.infra.control_plane_ips
    if applied.join_via == "private":
        # the address Hetzner gave server 0 is the one nixk8s chose (and wrote into user_data)
        assert join_address(applied) == fixed[0] == "10.0.1.2"
    elif applied.join_via == "balancer":
        assert join_address(applied) == "10.0.1.254"
    else:
        assert fixed == ()


def test_applied_builds_a_balancer_exactly_where_nodes_join_through_one(applied: Applied) -> None:
    balancers = [address for address in applied.state if address.startswith("hcloud_load_balancer.")]
    assert len(balancers) == (1 if applied.join_via == "balancer" else 0)


def test_applied_every_servers_certificate_names_the_balancer(applied: Applied) -> None:
    if applied.join_via != "balancer":
        # nothing to name: the test above proves no balancer was built
        assert not any(address.startswith("hcloud_load_balancer.") for address in applied.state)
        return
    name = applied.compiled.plan.name
    names_wanted = [join_address(applied)]
    if applied.compiled.plan.api_load_balancer == "public":
        names_wanted.append(applied.state[f"hcloud_load_balancer.{name}_api"]["ipv4"])
    for address, values in servers(applied.state).items():
        if "_cp_" not in address:
            continue
        config = applied_config(values)
        sans = config["k3s"]["tls_san"] if "k3s" in config else config["kubernetes"]["api_server_cert_sans"]
        assert all(wanted in sans for wanted in names_wanted), (address, sans)


def test_applied_configs_are_accepted_by_kindling(applied: Applied) -> None:
    for values in servers(applied.state).values():
        assert_kindling_accepts(applied_config(values))


def test_applied_configs_carry_the_secret_variables_values(applied: Applied) -> None:
    """The join credential by variable where the spec gives one (the kubeadm scenarios),
    else the one Terraform made (k3s)."""
    spec = applied.compiled.plan.spec
    credential = "k3s_server_token" if spec.distribution == "k3s" else "kubeadm_token"
    given = spec.bootstrap_secrets.get(credential)
    if given is not None:
        expected = applied.tfvars[given.var]  # type: ignore[union-attr]
    else:
        expected = applied.state[f"random_password.{spec.name}_join_token"]["result"]
    for values in servers(applied.state).values():
        config = applied_config(values)
        assert config["bootstrap_secrets"][credential] == expected
        if config["role"] == "server":
            assert config["bootstrap_secrets"]["sops_age_key"] == applied.tfvars["sops_age_key"]
        else:
            assert "sops_age_key" not in config["bootstrap_secrets"]


# --- user_data formats pass their own checkers ------------------------------------------------


def hostile_spec(fmt: str) -> str:
    return _yaml(
        minimal_spec(
            credentials="external",
            user_data_format=fmt,
            node_pools=[
                {"name": "system", "instance_types": ["cx32"], "min_size": 2, "max_size": 3},
                worker_pool("workers", 1),
            ],
            network={"vpc_cidr": "10.0.0.0/16"},
            bootstrap_secrets=HOSTILE_SECRETS,
            fluxcd={"source_url": "ssh://git@example.com/fleet.git", "reconcile_path": "./${x}/%{y}/$(z)"},
        )
    )


USER_DATA_CASES = {
    "example": lambda fmt: _yaml({**example_raw(), "user_data_format": fmt}),
    "hostile-secrets": hostile_spec,
}


def all_user_data(compiled: Compiled) -> list[str]:
    found = document_user_data(msgspec.json.decode(compiled.to_json()))
    assert len(found) == len(compiled.built.control_plane) + sum(len(p.machine_nodes()) for p in compiled.built.workers)
    return found


@pytest.mark.parametrize("case", sorted(USER_DATA_CASES))
def test_cloud_config_user_data_passes_cloud_init_schema(case: str) -> None:
    documents = set(all_user_data(compile_text(USER_DATA_CASES[case]("cloud-config"))))
    for document in documents:
        assert document.startswith("#cloud-config\n")
        cloud_init_schema(document)


@pytest.mark.parametrize("case", sorted(USER_DATA_CASES))
def test_shell_user_data_passes_shellcheck_and_bash_syntax_check(case: str) -> None:
    scripts = set(all_user_data(compile_text(USER_DATA_CASES[case]("shell"))))
    for script in scripts:
        assert script.startswith("#!/bin/sh\n")
        shellcheck(script)


@pytest.mark.parametrize("fmt", ["shell", "cloud-config"])
def test_hostile_secrets_survive_terraform_and_the_user_data_format(fmt: str) -> None:
    for user_data in all_user_data(compile_text(hostile_spec(fmt))):
        config = embedded_config(user_data)
        secrets = config["bootstrap_secrets"]
        if config["role"] == "server":
            assert secrets == HOSTILE_SECRETS
            assert config["fluxcd"]["reconcile_path"] == "./${x}/%{y}/$(z)"
        else:
            assert secrets == {k: HOSTILE_SECRETS[k] for k in ("k3s_server_token", "nix_github_token")}


@pytest.mark.tfcheck
@pytest.mark.parametrize("name", ["count", "source", "nix_github_token"])
def test_secret_variable_names_are_ones_terraform_accepts(name: str, tmp_path: Path) -> None:
    """A `{var: NAME}` nixk8s accepts is a variable terraform accepts; names it reserves are spec errors."""
    raw = minimal_spec(bootstrap_secrets={"sops_age_key": {"var": name}})
    result = load(_yaml(raw).encode(), "yaml")
    if name in TERRAFORM_RESERVED_VARIABLE_NAMES:
        assert [p.path for p in result.failure()] == ["bootstrap_secrets.sops_age_key.var"]
    else:
        tfcheck(write_module(compile_text(_yaml(raw)), tmp_path))


@pytest.mark.tfcheck
def test_hostile_secret_spec_passes_terraform_plan(tmp_path: Path) -> None:
    tfcheck(write_module(compile_text(hostile_spec("shell")), tmp_path), "--plan")


# --- server lifecycle -----------------------------------------------------------------------


def _hcloud_servers(compiled: Compiled) -> dict[str, dict[str, Any]]:
    return msgspec.json.decode(compiled.to_json())["resource"]["hcloud_server"]


def test_servers_ignore_user_data_image_and_ssh_key_changes_by_default() -> None:
    found = _hcloud_servers(compiled_example(SPECS / "hcloud-k3s.yaml"))
    assert len(found) == 3 + 3 + 1
    for body in found.values():
        assert body["lifecycle"] == {"ignore_changes": ["user_data", "image", "ssh_keys"]}


def test_servers_are_replaced_on_user_data_change_when_the_spec_asks() -> None:
    raw = example_raw()
    raw["hcloud"] = {**raw["hcloud"], "replace_on_user_data_change": True}
    found = _hcloud_servers(compile_text(_yaml(raw)))
    assert found
    for body in found.values():
        assert "lifecycle" not in body


# --- firewall --------------------------------------------------------------------------------


def _firewall_rules(compiled: Compiled) -> list[dict[str, Any]]:
    document = msgspec.json.decode(compiled.to_json())
    (firewall,) = document["resource"]["hcloud_firewall"].values()
    return firewall["rule"]


def _private_port_ranges(compiled: Compiled) -> set[str]:
    return {r.port_range for r in cluster_ports(compiled.plan.spec) if r.audience == "private"}


@pytest.mark.parametrize("distribution", ["k3s", "kubernetes"])
def test_firewall_opens_private_ports_only_to_the_network_cidr(distribution: str) -> None:
    raw = example_raw() if distribution == "k3s" else as_kubernetes(example_raw())
    compiled = compile_text(_yaml(raw))
    private = _private_port_ranges(compiled)
    rules = _firewall_rules(compiled)
    private_rules = [r for r in rules if r.get("port") in private]
    assert {r["port"] for r in private_rules} == private
    for rule in private_rules:
        assert rule["source_ips"] == [raw["network"]["vpc_cidr"]]
    for rule in rules:
        if rule.get("port") not in private:
            assert raw["network"]["vpc_cidr"] not in rule["source_ips"]


def test_firewall_without_a_network_opens_no_private_port() -> None:
    compiled = compile_text(_yaml(without_network(example_raw())))
    private = _private_port_ranges(compiled)
    assert private
    assert not [r for r in _firewall_rules(compiled) if r.get("port") in private]


def test_firewall_opens_public_ports_to_the_access_sources() -> None:
    raw = example_raw()
    rules = {r.get("port"): r["source_ips"] for r in _firewall_rules(compile_text(_yaml(raw)))}
    assert rules["22"] == raw["access"]["ssh_sources"]
    assert rules["6443"] == raw["access"]["api_sources"]
    assert rules["80"] == rules["443"] == ["0.0.0.0/0", "::/0"]
