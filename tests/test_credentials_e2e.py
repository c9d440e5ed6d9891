"""Generated credentials end to end: every example that leaves its credentials to Terraform,
applied by tfcheck (whose tls provider makes real keys and certificates, from 2025-01-01),
read back from the state as the operator and the machines see it, and checked with openssl.

The kubeconfig comes from the state's outputs; the authorities from each server's
user_data, decoded as the machine reads it. Nothing here is taken from the compiler's
tables: the bootstrap keys and what each must hold are the consumer's (kindling's keys)
and the issue's contract.
"""

from __future__ import annotations

import base64
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from nixk8s.backends.registry import BACKENDS
from nixk8s.compiler import Compiled
from nixk8s.credentials import B64_EC_CA_CERT, B64_EC_KEY, B64_EC_PUBLIC_KEY, B64_RSA_2048_KEY
from support import (
    SPECS,
    applied_state,
    assert_kindling_accepts,
    compile_file,
    embedded_config,
    is_node_user_data,
    require_tool,
    resources_by_address,
    state_outputs,
    state_user_data,
)

# what every server must hold: kindling's bootstrap keys (../shared/consumer), in pairs of
# certificate and key where there is a certificate
AUTHORITY_KEYS = {
    "k3s": ("k3s_tls_server_ca_crt", "k3s_tls_server_ca_key", "k3s_tls_client_ca_crt", "k3s_tls_client_ca_key",
            "k3s_tls_request_header_ca_crt", "k3s_tls_request_header_ca_key", "k3s_tls_service_key"),
    "kubernetes": ("kubeadm_ca_crt", "kubeadm_ca_key", "kubeadm_front_proxy_ca_crt", "kubeadm_front_proxy_ca_key",
                   "kubeadm_etcd_ca_crt", "kubeadm_etcd_ca_key", "kubeadm_sa_key", "kubeadm_sa_pub"),
}  # fmt: skip
CA_PAIRS = {
    "k3s": [("k3s_tls_server_ca_crt", "k3s_tls_server_ca_key"), ("k3s_tls_client_ca_crt", "k3s_tls_client_ca_key"),
            ("k3s_tls_request_header_ca_crt", "k3s_tls_request_header_ca_key")],
    "kubernetes": [("kubeadm_ca_crt", "kubeadm_ca_key"), ("kubeadm_front_proxy_ca_crt", "kubeadm_front_proxy_ca_key"),
                   ("kubeadm_etcd_ca_crt", "kubeadm_etcd_ca_key")],
}  # fmt: skip
# the CA that signs client certificates, and the one the API's serving certificates chain to
CLIENT_CA = {"k3s": "k3s_tls_client_ca_crt", "kubernetes": "kubeadm_ca_crt"}
SERVING_CA = {"k3s": "k3s_tls_server_ca_crt", "kubernetes": "kubeadm_ca_crt"}
JOIN_KEY = {"k3s": "k3s_server_token", "kubernetes": "kubeadm_token"}
# tfcheck's certificates start at 2025-01-01: verify within the admin certificate's year
DURING_THE_FIRST_YEAR = str(int(datetime(2025, 6, 1, tzinfo=timezone.utc).timestamp()))
# the largest base64 PEM each kind of value may take in a server's user_data (its size budget)
BUDGETS = {
    "k3s_tls_service_key": B64_RSA_2048_KEY,
    "kubeadm_sa_pub": B64_EC_PUBLIC_KEY,
    **{crt: B64_EC_CA_CERT for pairs in CA_PAIRS.values() for crt, _ in pairs},
    **{key: B64_EC_KEY for pairs in CA_PAIRS.values() for _, key in pairs},
    "kubeadm_sa_key": B64_EC_KEY,
}


def _generated_examples() -> list[Path]:
    return sorted(
        p for p in SPECS.iterdir() if p.suffix in (".yaml", ".toml", ".json") and compile_file(p).plan.credentials
    )


GENERATED = _generated_examples()


def test_every_cloud_has_an_example_of_each_distribution_with_no_join_credential_in_the_spec() -> None:
    found = set()
    for path in GENERATED:
        spec = compile_file(path).plan.spec
        if JOIN_KEY[spec.distribution] not in spec.bootstrap_secrets:
            found.add((spec.backend, spec.distribution))
    assert found == {(b, d) for b in BACKENDS for d in ("k3s", "kubernetes")}


class Applied(msgspec.Struct):
    compiled: Compiled
    resources: dict[str, dict[str, Any]]
    outputs: dict[str, Any]
    configs: list[dict[str, Any]]  # every node's (or template's) cluster-config, from the state

    @property
    def distribution(self) -> str:
        return self.compiled.plan.spec.distribution

    def of(self, role: str) -> list[dict[str, Any]]:
        return [c for c in self.configs if c["role"] == role]


@pytest.fixture(scope="module", params=[pytest.param(p, marks=pytest.mark.tfcheck) for p in GENERATED], ids=lambda p: p.name)
def applied(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    compiled = compile_file(request.param)
    state = applied_state(compiled, tmp_path_factory.mktemp(request.param.stem))
    resources = resources_by_address(state)
    configs = [
        embedded_config(u) for found in state_user_data(resources).values() for u in found if is_node_user_data(u)
    ]
    return Applied(compiled, resources, state_outputs(state), configs)


def pem(value: str) -> str:
    """A bootstrap secret as kindling writes it to its file: base64 decoded."""
    return base64.b64decode(value, validate=True).decode()


def openssl(*args: str, stdin: str = "") -> str:
    tool = require_tool("openssl", "openssl")
    result = subprocess.run([tool, *args], input=stdin, capture_output=True, text=True)
    assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stderr}"
    return result.stdout


def kubeconfig(applied: Applied) -> dict[str, Any]:
    return yaml.safe_load(applied.outputs["kubeconfig"])  # type: ignore[no-any-return]


def server_secrets(applied: Applied) -> dict[str, str]:
    """The servers' bootstrap secrets (the same on every server, which a test below checks)."""
    return dict(applied.of("server")[0]["bootstrap_secrets"])


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- the kubeconfig -------------------------------------------------------------------------------


def test_applied_kubeconfigs_client_certificate_verifies_against_the_client_ca_the_servers_hold(
    applied: Applied, tmp_path: Path
) -> None:
    user = kubeconfig(applied)["users"][0]["user"]
    ca = write(tmp_path, "client-ca.crt", pem(server_secrets(applied)[CLIENT_CA[applied.distribution]]))
    cert = write(tmp_path, "admin.crt", pem(user["client-certificate-data"]))
    out = openssl("verify", "-attime", DURING_THE_FIRST_YEAR, "-purpose", "sslclient", "-CAfile", ca, cert)
    assert out.strip() == f"{cert}: OK"
    assert "O = system:masters" in openssl("x509", "-noout", "-subject", "-in", cert)


def test_applied_kubeconfigs_client_key_is_its_certificates_key(applied: Applied) -> None:
    user = kubeconfig(applied)["users"][0]["user"]
    from_cert = openssl("x509", "-noout", "-pubkey", stdin=pem(user["client-certificate-data"]))
    from_key = openssl("pkey", "-pubout", stdin=pem(user["client-key-data"]))
    assert from_cert == from_key


def test_applied_kubeconfig_trusts_the_serving_ca_at_api_endpoint(applied: Applied) -> None:
    config = kubeconfig(applied)
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == applied.outputs["api_endpoint"]
    trusted = pem(cluster["cluster"]["certificate-authority-data"])
    assert trusted == pem(server_secrets(applied)[SERVING_CA[applied.distribution]])
    assert trusted == applied.outputs["cluster_ca_certificate"]
    assert config["current-context"] == config["contexts"][0]["name"]


def _decoded(run: str) -> bytes:
    """A run of base64 characters decoded (as far as it is whole base64)."""
    run = run.rstrip("=")
    run = run[: len(run) - len(run) % 4] if len(run) % 4 == 1 else run
    return base64.b64decode(run + "=" * (-len(run) % 4))


def _holds_a_private_key(value: Any) -> bool:
    """Whether an output's value holds a private key, as PEM or as base64 of PEM."""
    text = str(value)
    decoded = [_decoded(run) for run in re.findall(r"[A-Za-z0-9+/]{40,}={0,2}", text)]
    return "PRIVATE KEY" in text or any(b"PRIVATE KEY" in d for d in decoded)


def test_applied_outputs_show_a_private_key_only_sensitive_and_never_the_join_credential(applied: Applied) -> None:
    document = applied.compiled.document["output"]
    assert document["kubeconfig"]["sensitive"] is True and _holds_a_private_key(applied.outputs["kubeconfig"])
    keyed = {name for name, value in applied.outputs.items() if _holds_a_private_key(value)}
    assert {name for name in keyed if document[name].get("sensitive") is not True} == set()
    token = server_secrets(applied)[JOIN_KEY[applied.distribution]]
    assert not [name for name, value in applied.outputs.items() if token in str(value)]


# --- what the servers hold ---------------------------------------------------------------------------


def test_applied_every_server_holds_the_same_authorities(applied: Applied) -> None:
    held = [{k: s["bootstrap_secrets"].get(k) for k in AUTHORITY_KEYS[applied.distribution]} for s in applied.of("server")]
    assert len(held) == applied.compiled.plan.spec.control_plane_count
    assert all(None not in h.values() for h in held)
    assert all(h == held[0] for h in held)


def test_applied_authorities_are_ten_year_cas_whose_keys_match(applied: Applied, tmp_path: Path) -> None:
    secrets = server_secrets(applied)
    for crt, key in CA_PAIRS[applied.distribution]:
        certificate = pem(secrets[crt])
        text = openssl("x509", "-noout", "-text", stdin=certificate)
        assert "CA:TRUE" in text and "Certificate Sign" in text, crt
        dates = dict(line.split("=", 1) for line in openssl("x509", "-noout", "-dates", stdin=certificate).splitlines())
        start, end = (datetime.strptime(dates[k], "%b %d %H:%M:%S %Y %Z") for k in ("notBefore", "notAfter"))
        assert (end - start).days == 3650, crt
        path = write(tmp_path, "ca.crt", certificate)
        assert openssl("verify", "-attime", DURING_THE_FIRST_YEAR, "-CAfile", path, path).strip() == f"{path}: OK"
        assert openssl("x509", "-noout", "-pubkey", stdin=certificate) == openssl("pkey", "-pubout", stdin=pem(secrets[key]))


def test_applied_service_account_key_is_what_the_distribution_reads(applied: Applied) -> None:
    secrets = server_secrets(applied)
    if applied.distribution == "k3s":
        # k3s's own tooling: an RSA-2048 key, PKCS#1 (genrsa -traditional)
        key = pem(secrets["k3s_tls_service_key"])
        assert key.startswith("-----BEGIN RSA PRIVATE KEY-----")
        assert "2048 bit" in openssl("pkey", "-noout", "-text", stdin=key).splitlines()[0]
    else:
        key, public = pem(secrets["kubeadm_sa_key"]), pem(secrets["kubeadm_sa_pub"])
        assert public.startswith("-----BEGIN PUBLIC KEY-----")
        assert openssl("pkey", "-pubout", stdin=key) == openssl("pkey", "-pubin", "-pubout", stdin=public)


def test_applied_authorities_fit_the_size_budgets_the_compiler_counts(applied: Applied) -> None:
    secrets = server_secrets(applied)
    sizes = {k: len(secrets[k]) for k in AUTHORITY_KEYS[applied.distribution]}
    assert {k: n for k, n in sizes.items() if n > BUDGETS[k]} == {}


def test_applied_user_data_stays_within_the_compilers_bound_and_the_clouds_limit(applied: Applied) -> None:
    built = applied.compiled.built
    bound = max(n.user_data.max_len() for n in built.control_plane)
    actual = max(len(u.encode()) for found in state_user_data(applied.resources).values() for u in found)
    limit = BACKENDS[applied.compiled.plan.spec.backend].user_data_limit.max_bytes  # type: ignore[index]
    assert actual <= bound <= limit


# --- what the agents hold, and the join credential ------------------------------------------------------


def test_applied_agents_hold_no_authority_and_no_ca_certificate(applied: Applied) -> None:
    agents = applied.of("agent")
    assert agents
    every_authority = {k for keys in AUTHORITY_KEYS.values() for k in keys}
    for agent in agents:
        secrets = agent.get("bootstrap_secrets", {})
        assert not set(secrets) & every_authority
        assert not [v for v in secrets.values() if "BEGIN" in v or v.startswith("LS0t")]  # no PEM, plain or base64


def test_applied_nodes_share_one_join_credential_terraform_made(applied: Applied) -> None:
    key = JOIN_KEY[applied.distribution]
    tokens = {c["bootstrap_secrets"][key] for c in applied.configs}
    (token,) = tokens
    made = [v["result"] for a, v in sorted(applied.resources.items()) if a.startswith(("random_password.", "random_string."))]
    if applied.distribution == "k3s":
        assert made == [token]
        assert re.fullmatch(r"[A-Za-z0-9]{48}", token)
    else:
        assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token)
        secret, token_id = made  # random_password sorts before random_string
        assert token == f"{token_id}.{secret}"


def test_applied_configs_validate_against_the_consumer_schema(applied: Applied) -> None:
    for config in applied.configs:
        assert_kindling_accepts(config)
