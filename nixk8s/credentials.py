"""The cluster's credentials where Terraform makes them (``credentials: generated``, DESIGN §9).

Terraform's ``hashicorp/tls`` provider makes the certificate authorities and the
service-account key the distribution reads at first start, and an admin client
certificate; ``hashicorp/random`` makes the join credential the spec leaves out. All of
it lives in the Terraform state and nowhere in the compiled output: the document holds
references (``base64encode(tls_self_signed_cert.demo_server_ca.cert_pem)``), which
Terraform evaluates into each server's user_data.

Who receives what: every server gets the authorities (certificates and keys) under
kindling's bootstrap keys, base64 PEM, which kindling writes where k3s or kubeadm look
for them before their first start; agents get only the join credential (a CA
certificate on a kubeadm worker would fail its join's preflight). The admin certificate
reaches no node: it is signed by the CA that signs client certificates and given out
as the sensitive output ``kubeconfig``, which trusts the CA of the API's serving
certificates and points at ``api_endpoint``.

The authorities are made as the distributions' own tooling makes them: k3s's are
self-signed ECDSA P-256 CAs valid for a decade and an RSA-2048 service-account key
(k3s's ``contrib/util/generate-custom-ca-certs.sh``); kubeadm's are ECDSA P-256 too
(kubeadm's ``encryptionAlgorithm: ECDSA-P256``), which keeps them within AWS's 16 KB of
user_data (docs/decisions.md measures both).

>>> from nixk8s.spec import ClusterSpec, NodePool
>>> spec = ClusterSpec(name="demo", backend="hcloud", region="nbg1",
...     node_pools=(NodePool(name="system", instance_types=("cx32",)),))
>>> made = generated_credentials(spec)
>>> [a.title for a in made.authorities]
['server CA', 'client CA', 'request-header CA', 'service-account key']
>>> dict(made.agent_secrets)["k3s_server_token"].text
'random_password.demo_join_token.result'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

from nixk8s.secrets import JOIN_CREDENTIAL
from nixk8s.spec import ClusterSpec, Distribution
from nixk8s.terraform import Expr, Fragment, Output, ProviderRequirement, Resource, Template, Text, call, hcl_string

TLS_PROVIDER = ProviderRequirement("tls", "hashicorp/tls", ">= 4.0, < 5.0")
RANDOM_PROVIDER = ProviderRequirement("random", "hashicorp/random", ">= 3.5, < 4.0")

# As k3s and kubeadm make their own: CAs for a decade, client certificates for a year.
CA_VALIDITY_HOURS = 87_600
CLIENT_VALIDITY_HOURS = 8_760
# An apply in the admin certificate's last 30 days makes a new one (and a new kubeconfig).
CLIENT_EARLY_RENEWAL_HOURS = 720
CA_USES = ("cert_signing", "digital_signature", "key_encipherment")
CLIENT_USES = ("client_auth", "digital_signature", "key_encipherment")
ADMIN_ORGANIZATION = "system:masters"

# Upper bounds, in bytes, of each value's base64 PEM: the size budget of every server's
# user_data counts these (tests/test_credentials_e2e.py holds them against a simulated
# apply). A P-256 key is 121 bytes of DER (227 of PEM) and its public key 91 (178); an
# RSA-2048 PKCS#1 key at most 1,219 (1,679 of PEM). A self-signed P-256 CA certificate
# with these common names (at most 21 characters, in subject and issuer) and its key
# identifier is 558-583 bytes of PEM (744-780 of base64); its ECDSA signature and
# serial number vary by a few bytes, hence the margin.
B64_EC_KEY = 304
B64_EC_PUBLIC_KEY = 240
B64_RSA_2048_KEY = 2_240
B64_EC_CA_CERT = 800
# the join credentials' lengths: k3s takes any token; kubeadm's is [a-z0-9]{6}.[a-z0-9]{16}
K3S_TOKEN_LENGTH = 48
KUBEADM_TOKEN_ID_LENGTH, KUBEADM_TOKEN_SECRET_LENGTH = 6, 16

Algorithm = Literal["ECDSA P-256", "RSA 2048"]


class Authority(msgspec.Struct, frozen=True, kw_only=True):
    """One certificate authority (or the service-account key pair) every server receives.

    ``name`` ends its resources' names (``tls_private_key.N_server_ca``). A key pair has
    no ``common_name`` and no certificate; kubeadm's service-account pair also hands out
    its public key. ``files`` are where kindling writes each bootstrap key.
    """

    name: str
    title: str
    common_name: str | None
    algorithm: Algorithm
    certificate_key: str | None
    private_key_key: str
    public_key_key: str | None
    files: tuple[str, ...]
    purpose: str

    @property
    def bootstrap_keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.certificate_key, self.private_key_key, self.public_key_key) if k is not None)


_K3S_TLS = "/var/lib/rancher/k3s/server/tls/"
_KUBEADM_PKI = "/etc/kubernetes/pki/"

def _ca(name: str, title: str, common_name: str, key: str, file: str, purpose: str) -> Authority:
    """A self-signed P-256 CA whose certificate and key kindling writes to ``file``.crt
    and ``file``.key, from the bootstrap keys ``key``_crt and ``key``_key."""
    return Authority(
        name=name,
        title=title,
        common_name=common_name,
        algorithm="ECDSA P-256",
        certificate_key=f"{key}_crt",
        private_key_key=f"{key}_key",
        public_key_key=None,
        files=(f"{file}.crt", f"{file}.key"),
        purpose=purpose,
    )


AUTHORITIES: Mapping[Distribution, tuple[Authority, ...]] = {
    "k3s": (
        _ca(
            "server_ca",
            "server CA",
            "k3s-server-ca",
            "k3s_tls_server_ca",
            _K3S_TLS + "server-ca",
            "signs the API servers' serving certificates; the kubeconfig trusts it",
        ),
        _ca(
            "client_ca",
            "client CA",
            "k3s-client-ca",
            "k3s_tls_client_ca",
            _K3S_TLS + "client-ca",
            "signs client certificates: the components', the nodes' and the kubeconfig's admin",
        ),
        _ca(
            "request_header_ca",
            "request-header CA",
            "k3s-request-header-ca",
            "k3s_tls_request_header_ca",
            _K3S_TLS + "request-header-ca",
            "signs the API server's front-proxy client certificate (aggregated APIs)",
        ),
        Authority(
            name="service_account",
            title="service-account key",
            common_name=None,
            algorithm="RSA 2048",
            certificate_key=None,
            private_key_key="k3s_tls_service_key",
            public_key_key=None,
            files=(_K3S_TLS + "service.key",),
            purpose="signs and verifies service-account tokens",
        ),
    ),
    "kubernetes": (
        _ca(
            "ca",
            "cluster CA",
            "kubernetes",
            "kubeadm_ca",
            _KUBEADM_PKI + "ca",
            "signs the API servers' serving certificates and every client certificate, the "
            "kubeconfig's admin too; the kubeconfig trusts it",
        ),
        _ca(
            "front_proxy_ca",
            "front-proxy CA",
            "front-proxy-ca",
            "kubeadm_front_proxy_ca",
            _KUBEADM_PKI + "front-proxy-ca",
            "signs the API server's front-proxy client certificate (aggregated APIs)",
        ),
        _ca(
            "etcd_ca",
            "etcd CA",
            "etcd-ca",
            "kubeadm_etcd_ca",
            _KUBEADM_PKI + "etcd/ca",
            "signs etcd's serving, peer and client certificates",
        ),
        Authority(
            name="service_account",
            title="service-account key pair",
            common_name=None,
            algorithm="ECDSA P-256",
            certificate_key=None,
            private_key_key="kubeadm_sa_key",
            public_key_key="kubeadm_sa_pub",
            files=(_KUBEADM_PKI + "sa.key", _KUBEADM_PKI + "sa.pub"),
            purpose="signs and verifies service-account tokens",
        ),
    ),
}

# which authority signs the API's serving certificates (the kubeconfig trusts it), and
# which signs client certificates (the kubeconfig's admin certificate)
SERVING_CA: Mapping[Distribution, str] = {"k3s": "server_ca", "kubernetes": "ca"}
CLIENT_CA: Mapping[Distribution, str] = {"k3s": "client_ca", "kubernetes": "ca"}
ADMIN_COMMON_NAME: Mapping[Distribution, str] = {"k3s": "system:admin", "kubernetes": "kubernetes-admin"}


def generated_keys(distribution: Distribution) -> frozenset[str]:
    """The bootstrap keys ``credentials: generated`` fills for a distribution's servers
    (its authorities; the join credential only where the spec gives none).

    >>> sorted(generated_keys("kubernetes"))[:3]
    ['kubeadm_ca_crt', 'kubeadm_ca_key', 'kubeadm_etcd_ca_crt']
    """
    return frozenset(k for a in AUTHORITIES[distribution] for k in a.bootstrap_keys)


def spec_gives_join_credential(spec: ClusterSpec) -> bool:
    """Whether the spec provides the join credential: a non-empty bootstrap secret, or a
    path on the node (``nixos.secrets.join_token_path``), which the operator's image reads."""
    given = spec.bootstrap_secrets.get(JOIN_CREDENTIAL[spec.distribution])
    path = spec.nixos.secrets.join_token_path if spec.nixos.secrets is not None else None
    return bool(given) or bool(path)


class JoinCredential(msgspec.Struct, frozen=True, kw_only=True):
    """The join credential Terraform makes: its bootstrap key, value and resources."""

    key: str
    value: Expr
    resources: tuple[Resource, ...]

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(f"{r.type}.{r.name}" for r in self.resources)


class Generated(msgspec.Struct, frozen=True, kw_only=True):
    """What Terraform makes for a cluster with ``credentials: generated``.

    ``server_secrets`` are what every server receives beyond the spec's bootstrap
    secrets (the authorities, and the join credential where made); ``agent_secrets``
    what every agent receives (only a made join credential).
    """

    cluster: str
    distribution: Distribution
    authorities: tuple[Authority, ...]
    join: JoinCredential | None
    resources: tuple[Resource, ...]
    server_secrets: tuple[tuple[str, Expr], ...]
    serving_ca_certificate: Expr
    admin_certificate: Expr
    admin_key: Expr
    admin_signed_by: str  # the title of the authority that signs the admin certificate
    providers: tuple[ProviderRequirement, ...]

    @property
    def agent_secrets(self) -> tuple[tuple[str, Expr], ...]:
        return () if self.join is None else ((self.join.key, self.join.value),)

    @property
    def fragment(self) -> Fragment:
        return Fragment(resources=self.resources)

    @property
    def admin_address(self) -> str:
        """The admin client certificate's resource."""
        return f"tls_locally_signed_cert.{self.cluster}_admin"

    def resource_address(self, authority: Authority) -> str:
        """Where an authority lives in the state: its certificate, or its key."""
        kind = "tls_private_key" if authority.common_name is None else "tls_self_signed_cert"
        return f"{kind}.{self.cluster}_{authority.name}"


def _b64(expression: Expr, bound: int) -> Expr:
    """``base64encode(...)`` of a PEM, as kindling's bootstrap keys hold it: base64 has no
    character JSON escapes, so its JSON encoding is two quotes longer."""
    value = call("base64encode", expression, max_len=bound)
    return msgspec.structs.replace(value, json_max_len=bound + 2)


def _private_key(name: str, algorithm: Algorithm) -> Resource:
    body: dict[str, object] = (
        {"algorithm": "ECDSA", "ecdsa_curve": "P256"} if algorithm == "ECDSA P-256" else {"algorithm": "RSA", "rsa_bits": 2048}
    )
    return Resource("tls_private_key", name, body)


def _self_signed_ca(name: str, key: Resource, common_name: str) -> Resource:
    return Resource(
        "tls_self_signed_cert",
        name,
        {
            "private_key_pem": key.ref("private_key_pem"),
            "is_ca_certificate": True,
            "set_subject_key_id": True,
            "validity_period_hours": CA_VALIDITY_HOURS,
            "allowed_uses": list(CA_USES),
            "subject": [{"common_name": common_name}],
        },
    )


def _authority_resources(cluster: str, authority: Authority) -> tuple[Resource, ...]:
    name = f"{cluster}_{authority.name}"
    key = _private_key(name, authority.algorithm)
    if authority.common_name is None:
        return (key,)
    return (key, _self_signed_ca(name, key, authority.common_name))


def _authority_secrets(cluster: str, authority: Authority) -> tuple[tuple[str, Expr], ...]:
    name = f"{cluster}_{authority.name}"
    key_bound = B64_EC_KEY if authority.algorithm == "ECDSA P-256" else B64_RSA_2048_KEY
    secrets = [(authority.private_key_key, _b64(Expr(f"tls_private_key.{name}.private_key_pem"), key_bound))]
    if authority.certificate_key is not None:
        cert = Expr(f"tls_self_signed_cert.{name}.cert_pem")
        secrets.append((authority.certificate_key, _b64(cert, B64_EC_CA_CERT)))
    if authority.public_key_key is not None:
        public = Expr(f"tls_private_key.{name}.public_key_pem")
        secrets.append((authority.public_key_key, _b64(public, B64_EC_PUBLIC_KEY)))
    return tuple(secrets)


def _join_credential(spec: ClusterSpec) -> JoinCredential:
    """A k3s token of letters and digits (kindling pastes it into YAML unquoted-safe), or
    a kubeadm bootstrap token: a public id and a secret of ``[a-z0-9]``, joined by a dot."""
    key = JOIN_CREDENTIAL[spec.distribution]
    name = f"{spec.name}_join_token"
    if spec.distribution == "k3s":
        token = Resource("random_password", name, {"length": K3S_TOKEN_LENGTH, "special": False})
        return JoinCredential(key=key, value=token.ref("result", max_len=K3S_TOKEN_LENGTH), resources=(token,))
    lower_and_digits = {"upper": False, "special": False, "lower": True, "numeric": True}
    # the id names the token's Secret (kubeadm lists it), so only the secret half is a password
    token_id = Resource("random_string", f"{name}_id", {"length": KUBEADM_TOKEN_ID_LENGTH, **lower_and_digits})
    secret = Resource("random_password", f"{name}_secret", {"length": KUBEADM_TOKEN_SECRET_LENGTH, **lower_and_digits})
    joined = Template.of(token_id.ref("result"), ".", secret.ref("result"))
    length = KUBEADM_TOKEN_ID_LENGTH + 1 + KUBEADM_TOKEN_SECRET_LENGTH
    return JoinCredential(key=key, value=Expr(hcl_string(joined), max_len=length), resources=(token_id, secret))


def _admin(cluster: str, distribution: Distribution, signer: str) -> tuple[Resource, ...]:
    name = f"{cluster}_admin"
    key = _private_key(name, "ECDSA P-256")
    request = Resource(
        "tls_cert_request",
        name,
        {
            "private_key_pem": key.ref("private_key_pem"),
            "subject": [{"common_name": ADMIN_COMMON_NAME[distribution], "organization": ADMIN_ORGANIZATION}],
        },
    )
    certificate = Resource(
        "tls_locally_signed_cert",
        name,
        {
            "cert_request_pem": request.ref("cert_request_pem"),
            "ca_private_key_pem": Expr(f"tls_private_key.{cluster}_{signer}.private_key_pem"),
            "ca_cert_pem": Expr(f"tls_self_signed_cert.{cluster}_{signer}.cert_pem"),
            "validity_period_hours": CLIENT_VALIDITY_HOURS,
            "early_renewal_hours": CLIENT_EARLY_RENEWAL_HOURS,
            "allowed_uses": list(CLIENT_USES),
        },
    )
    return (key, request, certificate)


def generated_credentials(spec: ClusterSpec) -> Generated | None:
    """What Terraform makes for ``spec``; None with ``credentials: external``."""
    if spec.credentials != "generated":
        return None
    cluster, distribution = spec.name, spec.distribution
    authorities = AUTHORITIES[distribution]
    join = None if spec_gives_join_credential(spec) else _join_credential(spec)
    serving, signer = SERVING_CA[distribution], CLIENT_CA[distribution]
    resources = (
        *(r for a in authorities for r in _authority_resources(cluster, a)),
        *_admin(cluster, distribution, signer),
        *(join.resources if join is not None else ()),
    )
    secrets = [s for a in authorities for s in _authority_secrets(cluster, a)]
    if join is not None:
        secrets.append((join.key, join.value))
    return Generated(
        cluster=cluster,
        distribution=distribution,
        authorities=authorities,
        join=join,
        resources=resources,
        server_secrets=tuple(sorted(secrets)),
        serving_ca_certificate=Expr(f"tls_self_signed_cert.{cluster}_{serving}.cert_pem"),
        admin_certificate=Expr(f"tls_locally_signed_cert.{cluster}_admin.cert_pem"),
        admin_key=Expr(f"tls_private_key.{cluster}_admin.private_key_pem"),
        admin_signed_by=next(a.title for a in authorities if a.name == signer),
        providers=(TLS_PROVIDER,) if join is None else (RANDOM_PROVIDER, TLS_PROVIDER),
    )


def kubeconfig(cluster: str, endpoint: Text, made: Generated) -> Template:
    """An admin kubeconfig (YAML): the cluster at ``endpoint`` trusting the serving CA, and
    the admin certificate and key, each base64 PEM as kubectl reads them."""
    def b64(pem: Expr) -> Expr:
        return call("base64encode", pem)

    return Template.of(
        "apiVersion: v1\nkind: Config\nclusters:\n",
        f"- name: {cluster}\n  cluster:\n    server: ",
        endpoint,
        "\n    certificate-authority-data: ",
        b64(made.serving_ca_certificate),
        f"\nusers:\n- name: {cluster}-admin\n  user:\n    client-certificate-data: ",
        b64(made.admin_certificate),
        "\n    client-key-data: ",
        b64(made.admin_key),
        f"\ncontexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: {cluster}-admin\n",
        f"current-context: {cluster}\n",
    )


def credential_outputs(cluster: str, endpoint: Text, made: Generated | None) -> Fragment:
    """The sensitive ``kubeconfig`` and the serving CA's certificate; nothing when external.

    The join credential is never an output: nodes get it through their user_data, and an
    operator who needs it reads it from the state on purpose."""
    if made is None:
        return Fragment()
    serving = next(a for a in made.authorities if a.name == SERVING_CA[made.distribution])
    return Fragment(
        outputs=(
            Output(
                "kubeconfig",
                kubeconfig(cluster, endpoint, made),
                f"an admin kubeconfig (O={ADMIN_ORGANIZATION}, signed by the {made.admin_signed_by}) for api_endpoint: "
                "terraform output -raw kubeconfig > kubeconfig",
                sensitive=True,
            ),
            Output(
                "cluster_ca_certificate",
                made.serving_ca_certificate,
                f"the {serving.title}'s certificate (PEM), which the API's serving certificates chain to",
            ),
        )
    )
