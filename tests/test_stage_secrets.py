"""Stage secrets: path references, bootstrap secrets, the agent allowlist, variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nixk8s.secrets import (
    agent_allowlist,
    agent_bootstrap_secrets,
    secret_paths,
    secret_value,
    secret_variables,
    server_bootstrap_secrets,
)
from nixk8s.spec import SecretRef
from nixk8s.terraform import Expr

from support import compile_problems, compile_raw, minimal_spec, spec_from, tfcheck, worker_pool, write_module

FLUX = {
    "source_url": "ssh://git@github.com/example/fleet.git",
    "source_ssh_key_file": "/run/secrets/flux-from-fluxcd",
    "source_token_file": "/run/secrets/token-from-fluxcd",
    "sops_age_key_file": "/run/secrets/age-from-fluxcd",
}
NIX_SECRETS = {
    "flux_ssh_key_path": "/run/secrets/flux-from-nixos",
    "flux_token_path": "/run/secrets/token-from-nixos",
    "sops_age_key_path": "/run/secrets/age-from-nixos",
    "join_token_path": "/run/secrets/join-from-nixos",
}
KUBEADM_TOKEN = "abcdef.0123456789abcdef"


def paths(**fields: Any) -> dict[str, str]:
    return secret_paths(spec_from(minimal_spec(**fields)))


# --- secret path references -------------------------------------------------------------------


def test_no_paths_without_fluxcd_or_nixos_secrets() -> None:
    assert paths() == {}


def test_fluxcd_paths_win_over_nixos_secrets() -> None:
    got = paths(fluxcd=FLUX, nixos={"secrets": NIX_SECRETS})
    assert got["flux_ssh_key_path"] == "/run/secrets/flux-from-fluxcd"
    assert got["flux_token_path"] == "/run/secrets/token-from-fluxcd"
    assert got["sops_age_key_path"] == "/run/secrets/age-from-fluxcd"


def test_nixos_secrets_fill_what_fluxcd_leaves_unset() -> None:
    got = paths(fluxcd={"source_url": FLUX["source_url"]}, nixos={"secrets": NIX_SECRETS})
    assert got == NIX_SECRETS


def test_join_token_path_comes_from_nixos_secrets() -> None:
    assert paths(fluxcd=FLUX, nixos={"secrets": NIX_SECRETS})["join_token_path"] == "/run/secrets/join-from-nixos"


def test_extra_paths_are_merged() -> None:
    secrets = {"flux_ssh_key_path": "/a", "extra_paths": {"registry_token_path": "/run/secrets/registry"}}
    assert paths(nixos={"secrets": secrets}) == {"flux_ssh_key_path": "/a", "registry_token_path": "/run/secrets/registry"}


def test_extra_paths_are_merged_last() -> None:
    secrets = {"extra_paths": {"flux_ssh_key_path": "/from-extra"}}
    assert paths(fluxcd=FLUX, nixos={"secrets": secrets})["flux_ssh_key_path"] == "/from-extra"


# --- bootstrap secrets --------------------------------------------------------------------------


def test_empty_bootstrap_secrets_are_dropped() -> None:
    spec = spec_from(minimal_spec(bootstrap_secrets={"nix_github_token": "", "sops_age_key": "AGE-KEY"}))
    assert server_bootstrap_secrets(spec) == {"sops_age_key": "AGE-KEY"}


def test_bootstrap_block_is_absent_when_all_secrets_are_empty() -> None:
    raw = minimal_spec(credentials="external", bootstrap_secrets={"nix_github_token": "", "sops_age_key": ""})
    (server,) = compile_raw(raw).built.control_plane
    assert server.config.bootstrap_secrets is None
    assert "bootstrap_secrets" not in server.json.literal()


def test_server_receives_every_non_empty_bootstrap_secret() -> None:
    secrets = {"sops_age_key": "AGE", "vpn_psk": "PSK", "k3s_server_token": "TOK", "nix_github_token": "GH"}
    spec = spec_from(minimal_spec(bootstrap_secrets=secrets))
    assert server_bootstrap_secrets(spec) == secrets


@pytest.mark.parametrize(
    ("distribution", "expected"),
    [("k3s", {"k3s_server_token", "nix_github_token"}), ("kubernetes", {"kubeadm_token", "nix_github_token"})],
)
def test_agent_allowlist_per_distribution(distribution: str, expected: set[str]) -> None:
    assert agent_allowlist(distribution) == expected  # type: ignore[arg-type]


def test_agents_receive_only_allowlisted_secrets_for_k3s() -> None:
    secrets = {
        "k3s_server_token": "TOK",
        "nix_github_token": "GH",
        "sops_age_key": "AGE",
        "flux_github_token": "FLUX",
        "vpn_private_key": "WG",
        "k3s_admin_password": "PW",
    }
    spec = spec_from(minimal_spec(bootstrap_secrets=secrets))
    assert agent_bootstrap_secrets(spec) == {"k3s_server_token": "TOK", "nix_github_token": "GH"}


def test_agents_receive_only_allowlisted_secrets_for_kubernetes() -> None:
    secrets = {"kubeadm_token": KUBEADM_TOKEN, "kubeadm_ca_key": "CA", "nix_github_token": "GH", "k3s_server_token": "T"}
    spec = spec_from(minimal_spec(distribution="kubernetes", credentials="external", bootstrap_secrets=secrets))
    assert agent_bootstrap_secrets(spec) == {"kubeadm_token": KUBEADM_TOKEN, "nix_github_token": "GH"}


def test_agent_bootstrap_block_is_absent_when_nothing_is_allowlisted() -> None:
    raw = minimal_spec(
        node_pools=[minimal_spec()["node_pools"][0], worker_pool(size=1)],
        network={},
        bootstrap_secrets={"sops_age_key": "AGE"},
        nixos={"secrets": {"join_token_path": "/run/secrets/join"}},
    )
    agent = compile_raw(raw).built.workers[0].machine_nodes()[0]
    assert agent.config.bootstrap_secrets is None


# --- secret references ------------------------------------------------------------------------------


def test_literal_secret_stays_a_literal() -> None:
    assert secret_value("plain") == "plain"


def test_reference_becomes_a_variable_expression() -> None:
    value = secret_value(SecretRef(var="k3s_token"))
    assert isinstance(value, Expr)
    assert value.text == "var.k3s_token"


def ref_spec(**secrets: Any) -> dict[str, Any]:
    return minimal_spec(
        node_pools=[minimal_spec()["node_pools"][0], worker_pool(size=1)],
        network={},
        bootstrap_secrets={k: {"var": v} for k, v in secrets.items()},
    )


def test_reference_becomes_a_sensitive_string_variable() -> None:
    doc = compile_raw(ref_spec(k3s_server_token="k3s_token")).document
    variable = doc["variable"]["k3s_token"]
    assert variable["type"] == "string"
    assert variable["sensitive"] is True
    assert "default" not in variable


def test_every_variable_has_a_size_validation() -> None:
    (variable,) = secret_variables(spec_from(minimal_spec(bootstrap_secrets={"sops_age_key": {"var": "age"}})))
    (condition, message) = variable.validations[0]
    assert "ascii" in condition
    assert "length(jsonencode(var.age))" in condition
    assert "age" in message


def test_k3s_token_variable_validates_forbidden_characters() -> None:
    (variable,) = secret_variables(spec_from(ref_spec(k3s_server_token="tok")))
    assert len(variable.validations) == 2
    assert "regexall" in variable.validations[1][0]
    assert "double quote" in variable.validations[1][1]


def test_kubeadm_token_variable_validates_the_token_format() -> None:
    raw = ref_spec(kubeadm_token="kt") | {"distribution": "kubernetes"}
    (variable,) = secret_variables(spec_from(raw))
    assert len(variable.validations) == 3
    assert "[a-z0-9]{6}" in variable.validations[2][0]


def test_validation_conditions_are_interpolations_in_the_document() -> None:
    doc = compile_raw(ref_spec(k3s_server_token="k3s_token")).document
    for block in doc["variable"]["k3s_token"]["validation"]:
        assert block["condition"].startswith("${") and block["condition"].endswith("}")
        assert block["error_message"]


def test_each_referenced_secret_gets_its_own_variable_with_its_own_checks() -> None:
    raw = ref_spec(k3s_server_token="k3s_token", sops_age_key="age")
    variables = compile_raw(raw).document["variable"]
    assert sorted(variables) == ["age", "k3s_token"]
    assert any("double quote" in v["error_message"] for v in variables["k3s_token"]["validation"])
    assert not any("double quote" in v["error_message"] for v in variables["age"]["validation"])


def test_referenced_value_is_interpolated_into_user_data_by_terraform() -> None:
    text = compile_raw(ref_spec(k3s_server_token="k3s_token")).to_json().decode()
    assert "${jsonencode(var.k3s_token)}" in text


def test_compiled_output_holds_no_secret_value_given_by_reference() -> None:
    doc = compile_raw(ref_spec(k3s_server_token="k3s_token", nix_github_token="gh")).document
    # no default value, and no output that would carry the value out of the state
    assert all("default" not in v for v in doc["variable"].values())
    assert "var." not in json.dumps(doc["output"])
    assert "var." not in json.dumps(doc["provider"])


def test_literal_secret_is_json_escaped_in_the_config() -> None:
    secret = 'line1\nline2 "q" ${HOME}'
    compiled = compile_raw(minimal_spec(credentials="external", bootstrap_secrets={"sops_age_key": secret}))
    text = compiled.built.control_plane[0].json.literal()
    assert json.loads(text)["bootstrap_secrets"]["sops_age_key"] == secret


@pytest.mark.tfcheck
@pytest.mark.parametrize("bad", ['has"quote', "has\\backslash", "has\nnewline", "has\u2028separator"])
def test_terraform_refuses_a_k3s_token_the_node_cannot_use(tmp_path: Path, bad: str) -> None:
    compiled = compile_raw(ref_spec(k3s_server_token="k3s_token"))
    module = write_module(compiled, tmp_path, {"k3s_token": bad})
    with pytest.raises(AssertionError, match="must not contain a double quote"):
        tfcheck(module, "--plan")


@pytest.mark.tfcheck
def test_terraform_refuses_a_malformed_kubeadm_token(tmp_path: Path) -> None:
    compiled = compile_raw(ref_spec(kubeadm_token="kt") | {"distribution": "kubernetes"})
    module = write_module(compiled, tmp_path, {"kt": "not-a-token"})
    with pytest.raises(AssertionError, match="must be a kubeadm bootstrap token"):
        tfcheck(module, "--plan")


@pytest.mark.tfcheck
def test_terraform_accepts_well_formed_token_variables(tmp_path: Path) -> None:
    compiled = compile_raw(ref_spec(kubeadm_token="kt") | {"distribution": "kubernetes"})
    tfcheck(write_module(compiled, tmp_path, {"kt": KUBEADM_TOKEN}), "--plan")


def test_a_reference_with_max_length_is_sized_and_validated_at_that_budget() -> None:
    raw = minimal_spec(bootstrap_secrets={"sops_age_key": {"var": "age", "max_length": 2048}})
    (variable,) = compile_raw(raw).plan.variables
    condition, message = variable.validations[0]
    assert "length(jsonencode(var.age)) <= 2048" in condition
    assert "at most 2048 characters" in message


def test_a_budget_past_the_clouds_user_data_limit_is_refused_with_the_way_to_lower_it() -> None:
    raw = minimal_spec(bootstrap_secrets={"sops_age_key": {"var": "age", "max_length": 40_000}})
    (problem,) = compile_problems(raw)
    assert problem.path == "node_pools[0]"
    assert "32,768" in problem.message and "max_length" in problem.message
