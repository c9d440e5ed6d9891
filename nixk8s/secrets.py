"""Secrets: path references, bootstrap secrets, the agent allowlist, variables.

Two kinds of secret material reach a node. *Secret paths* name files that sops-nix
decrypts on the node (no values); *bootstrap secrets* are values written at first
boot. Servers get all of both; agents get only the bootstrap secrets on the
allowlist, the distribution's join credential and ``nix_github_token``, so that a
compromised worker never holds the GitOps, SOPS or VPN keys.
"""

from __future__ import annotations

from collections.abc import Mapping

from nixk8s.problems import join_path
from nixk8s.spec import ClusterSpec, Distribution, Secret, SecretRef
from nixk8s.terraform import Expr, Variable

# Keys kindling writes at first boot (../shared/consumer); any other key is a typo.
KINDLING_BOOTSTRAP_KEYS: tuple[str, ...] = (
    "sops_age_key",
    "flux_github_token",
    "nix_github_token",
    "vpn_private_key",
    "vpn_psk",
    "k3s_server_token",
    "k3s_admin_password",
    "k3s_tls_server_ca_crt",
    "k3s_tls_server_ca_key",
    "k3s_tls_client_ca_crt",
    "k3s_tls_client_ca_key",
    "k3s_tls_request_header_ca_crt",
    "k3s_tls_request_header_ca_key",
    "k3s_tls_service_key",
    "kubeadm_ca_crt",
    "kubeadm_ca_key",
    "kubeadm_sa_key",
    "kubeadm_sa_pub",
    "kubeadm_front_proxy_ca_crt",
    "kubeadm_front_proxy_ca_key",
    "kubeadm_etcd_ca_crt",
    "kubeadm_etcd_ca_key",
    "kubeadm_token",
)

JOIN_CREDENTIAL: Mapping[Distribution, str] = {
    "k3s": "k3s_server_token",
    "kubernetes": "kubeadm_token",
}

# Largest JSON encoding of a secret variable's value, in characters, by what the
# secret is. A validation block enforces it (with ASCII-only values, characters are
# bytes), so the compiler can check each cloud's user_data limit without seeing the
# value. Tokens, passwords and WireGuard/age keys are short; base64 PEM material
# (an RSA-4096 key is about 4.4 KB in base64) gets room to spare.
TOKEN_JSON_MAX_LEN = 512
PEM_JSON_MAX_LEN = 6144
# kindling pastes the k3s token into YAML between double quotes, unescaped.
# YAML also breaks lines at U+0085, U+2028 and U+2029, inside quotes too.
TOKEN_FORBIDDEN = ('"', "\\", "\n", "\r", "\u0085", "\u2028", "\u2029")
KUBEADM_TOKEN_PATTERN = r"^[a-z0-9]{6}\.[a-z0-9]{16}$"


def agent_allowlist(distribution: Distribution) -> frozenset[str]:
    """The bootstrap secrets an agent may receive.

    >>> sorted(agent_allowlist("k3s"))
    ['k3s_server_token', 'nix_github_token']
    """
    return frozenset({JOIN_CREDENTIAL[distribution], "nix_github_token"})


def secret_paths(spec: ClusterSpec) -> dict[str, str]:
    """Path references for servers: fluxcd's paths win over ``nixos.secrets``.

    ``extra_paths`` are merged last, as pangea does.
    """
    paths: dict[str, str] = {}
    flux = spec.fluxcd
    if flux is not None:
        for key, value in (
            ("flux_ssh_key_path", flux.source_ssh_key_file),
            ("flux_token_path", flux.source_token_file),
            ("sops_age_key_path", flux.sops_age_key_file),
        ):
            if value:
                paths[key] = value
    nix = spec.nixos.secrets
    if nix is not None:
        for key, value in (
            ("flux_ssh_key_path", nix.flux_ssh_key_path),
            ("flux_token_path", nix.flux_token_path),
            ("sops_age_key_path", nix.sops_age_key_path),
            ("join_token_path", nix.join_token_path),
        ):
            if value:
                paths.setdefault(key, value)
        paths.update(nix.extra_paths)
    return paths


# the etcd snapshot store's keys, by spec path: servers only, like a server-only bootstrap secret
ACCESS_KEY = "etcd_snapshots.s3.access_key"
SECRET_KEY = "etcd_snapshots.s3.secret_key"


def etcd_snapshot_secrets(spec: ClusterSpec) -> dict[str, Secret]:
    """The etcd snapshot store's keys the spec gives, by spec path (servers only).

    >>> from nixk8s.spec import EtcdS3, EtcdSnapshots, NodePool, SecretRef
    >>> spec = ClusterSpec(name="demo", backend="hcloud", region="nbg1",
    ...     node_pools=(NodePool(name="system", instance_types=("cx32",)),),
    ...     etcd_snapshots=EtcdSnapshots(s3=EtcdS3(bucket="b", access_key="AK", secret_key=SecretRef(var="sk"))))
    >>> sorted(etcd_snapshot_secrets(spec))
    ['etcd_snapshots.s3.access_key', 'etcd_snapshots.s3.secret_key']
    """
    s3 = spec.etcd_snapshots.s3 if spec.etcd_snapshots is not None else None
    if s3 is None:
        return {}
    given = {ACCESS_KEY: s3.access_key, SECRET_KEY: s3.secret_key}
    return {path: secret for path, secret in given.items() if secret is not None}


def secret_fields(spec: ClusterSpec) -> tuple[tuple[str, Secret], ...]:
    """Every secret of the spec with its spec path: the bootstrap secrets (as written),
    then the etcd snapshot store's keys."""
    bootstrap = ((join_path("bootstrap_secrets", k), v) for k, v in spec.bootstrap_secrets.items())
    return (*bootstrap, *etcd_snapshot_secrets(spec).items())


def server_bootstrap_secrets(spec: ClusterSpec) -> dict[str, Secret]:
    """Every bootstrap secret that is not an empty literal."""
    return {k: v for k, v in sorted(spec.bootstrap_secrets.items()) if v != ""}


def agent_bootstrap_secrets(spec: ClusterSpec) -> dict[str, Secret]:
    """Only the allowlisted bootstrap secrets."""
    allowed = agent_allowlist(spec.distribution)
    return {k: v for k, v in server_bootstrap_secrets(spec).items() if k in allowed}


def secret_json_max_len(key: str) -> int:
    """The bound on a referenced secret's JSON encoding, by bootstrap secret name.

    >>> secret_json_max_len("k3s_server_token"), secret_json_max_len("kubeadm_ca_key")
    (512, 6144)
    """
    pem = key.endswith(("_crt", "_key", "_pub")) and key.startswith(("k3s_tls_", "kubeadm_"))
    return PEM_JSON_MAX_LEN if pem else TOKEN_JSON_MAX_LEN


def secret_budget(key: str, secret: SecretRef) -> int:
    """The most characters a referenced secret's JSON encoding may have: its
    ``max_length``, else the default for what the secret is."""
    return secret.max_length if secret.max_length is not None else secret_json_max_len(key)


def secret_value(secret: Secret, key: str = "") -> str | Expr:
    """A literal stays a literal; a reference becomes ``var.NAME``, sized by its budget."""
    if isinstance(secret, SecretRef):
        bound = secret_budget(key, secret)
        return Expr(f"var.{secret.var}", max_len=bound, json_max_len=bound)
    return secret


def _validations(key: str, secret: SecretRef) -> tuple[tuple[str, str], ...]:
    var, bound = secret.var, secret_budget(key, secret)
    checks = [
        (
            f'can(regex("^[[:ascii:]]*$", var.{var})) && length(jsonencode(var.{var})) <= {bound}',
            f"{var} must be ASCII and at most {bound} characters once JSON-escaped, "
            "so that every node's user_data fits the cloud's limit.",
        )
    ]
    if key in ("k3s_server_token", "kubeadm_token"):
        checks.append(
            (
                f'length(regexall("[\\"\\\\\\\\\\n\\r\\u0085\\u2028\\u2029]", var.{var})) == 0',
                f"{var} must not contain a double quote, a backslash or a line break: the node pastes it into YAML unescaped.",
            )
        )
    if key == "kubeadm_token":
        checks.append(
            (
                f'can(regex("{KUBEADM_TOKEN_PATTERN.replace(chr(92), chr(92) * 2)}", var.{var}))',
                f"{var} must be a kubeadm bootstrap token: 6 and 16 characters of [a-z0-9] joined by a dot.",
            )
        )
    return tuple(checks)


def secret_variables(spec: ClusterSpec) -> tuple[Variable, ...]:
    """One sensitive string variable per ``{var: NAME}`` reference, with its secret's checks.

    Each variable backs one secret (``rules.one_secret_per_variable``): a variable
    shared with the join credential would reach every agent.
    """
    described = [
        *((key, secret, f"bootstrap secret {key} of cluster {spec.name}") for key, secret in sorted(spec.bootstrap_secrets.items())),
        *(
            (path, secret, f"{path} of cluster {spec.name}: the etcd snapshot store's key (servers only)")
            for path, secret in etcd_snapshot_secrets(spec).items()
        ),
    ]
    return tuple(
        Variable(name=secret.var, description=description, sensitive=True, validations=_validations(key, secret))
        for key, secret, description in described
        if isinstance(secret, SecretRef)
    )
