"""Hypothesis strategies for valid ClusterSpecs.

:func:`raw_cluster_specs` draws a spec as raw data (what an operator's YAML decodes
to); :func:`cluster_specs` loads it through :func:`nixk8s.load.load`, so the real
decoder and every validation rule run on each example. A drawn spec that fails to
load is a bug in either this generator or the validator: the strategy raises with
every problem, it never filters such examples away.

What the specs cover: both distributions and user_data formats, 1-5 control-plane
nodes (``min_size`` 0..5), clusters ``initialized`` or not, 0-4 worker pools, with and without a private network,
Flux / Argo CD / no GitOps, server-only and node-level distribution options, pool
labels and taints, secret paths, a WireGuard ``vpn``, tags, generated or external
credentials (the default, generated, too), k3s etcd snapshots (to a store of your own,
or the bucket the cloud makes), and bootstrap secrets
that are hostile literals (quotes, backslashes, newlines, ``${``, ``%{``, ``$(``,
U+2028, YAML-looking text, the heredoc delimiter) or ``{var: NAME}`` references.
Sizes stay small so that one compile takes milliseconds.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import itertools
import string
from collections.abc import Callable
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st
from returns.result import Failure

from nixk8s.backends.registry import BACKENDS, backend_for
from nixk8s.compiler import compile_source
from nixk8s.credentials import generated_keys
from nixk8s.load import load
from nixk8s.node_index import agent_index_block
from nixk8s.problems import join_path
from nixk8s.rules import TERRAFORM_RESERVED_VARIABLE_NAMES
from nixk8s.secrets import JOIN_CREDENTIAL, KINDLING_BOOTSTRAP_KEYS, TOKEN_FORBIDDEN
from nixk8s.spec import ClusterSpec

# --- text ----------------------------------------------------------------------------

HOSTILE_FRAGMENTS: tuple[str, ...] = (
    '"',
    "'",
    "\\",
    "\\n",
    "\n",
    "\r\n",
    "\t",
    "${HOME}",
    "${",
    "$${x}",
    "%{ if true }x%{ endif }",
    "%{",
    "$(reboot)",
    "`id`",
    "\u2028",
    "\u2029",
    "\u0085",
    "\x00",
    "\x1b[31m",
    "é",
    "日本",
    "🦀",
    "- a: b",
    "key: value",
    "#cloud-config",
    "---",
    "|",
    "&anchor *alias",
    "!!python/object",
    "PANGEA_CONFIG_EOF",
    "\nPANGEA_CONFIG_EOF\n",
    "EOF",
    "}}",
    '"}',
    "nixk8sexpr0q",
)

hostile_text = st.one_of(
    st.sampled_from(HOSTILE_FRAGMENTS),
    st.lists(st.sampled_from(HOSTILE_FRAGMENTS) | st.text(max_size=4), min_size=2, max_size=5).map("".join),
    st.text(max_size=12),
)
"""Strings that break naive shell, YAML, JSON or Terraform-template writers."""

_TOKEN_FORBIDDEN = frozenset(TOKEN_FORBIDDEN)

join_token_literal = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=16, max_size=40),
    hostile_text.map(lambda s: "".join(c for c in s if c not in _TOKEN_FORBIDDEN)).filter(bool),
)
"""A k3s token literal: anything but a double quote, backslash or line break."""

kubeadm_token_literal = st.builds(
    lambda a, b: f"{a}.{b}",
    st.text(alphabet=string.ascii_lowercase + string.digits, min_size=6, max_size=6),
    st.text(alphabet=string.ascii_lowercase + string.digits, min_size=16, max_size=16),
)

var_names = st.from_regex(r"\A[a-z][a-z0-9_]{0,14}\Z").filter(
    lambda n: n not in TERRAFORM_RESERVED_VARIABLE_NAMES
)

_NAME_CHARS = string.ascii_letters + string.digits
label_name = st.builds(
    lambda first, middle, last: first + middle + last if middle or last else first,
    st.sampled_from(_NAME_CHARS),
    st.text(alphabet=_NAME_CHARS + "-_.", max_size=8),
    st.sampled_from(_NAME_CHARS) | st.just(""),
).filter(lambda s: s[-1] in _NAME_CHARS)
label_key = st.builds(
    lambda prefix, name: prefix + name,
    st.sampled_from(["", "", "node.kubernetes.io/", "example.com/", "nixk8s.dev/"]),
    label_name,
)
label_value = st.just("") | label_name


# --- parts of a spec -------------------------------------------------------------------

cluster_names = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}[a-z0-9]\Z")
pool_names = st.sampled_from(["workers", "gpu", "batch", "edge", "ingress", "storage"]) | st.from_regex(
    r"\A[a-z][a-z0-9-]{0,8}[a-z0-9]\Z"
)

REGIONS = {
    "hcloud": ["nbg1", "fsn1", "hel1", "ash", "hil", "sin"],
    "aws": ["eu-central-1", "us-east-1", "eu-west-1"],
    # europe-west1 and us-east1 have no zone -a; me-west1 is not in nixk8s' table (gcp.zones given)
    "gcp": ["europe-west1", "europe-west3", "us-central1", "us-east1", "me-west1"],
    "azure": ["westeurope", "eastus", "germanywestcentral"],
}

INSTANCE_TYPES = {
    "hcloud": ["cx22", "cx32", "cx42", "ccx33"],
    "aws": ["t3.medium", "m6i.large"],
    "gcp": ["e2-standard-2", "n2-standard-4"],
    "azure": ["Standard_D2s_v5", "Standard_B2ms"],
}

# SSH keys in GCP's metadata form (USER:TYPE KEY COMMENT)
GCP_SSH_KEYS = [
    "ops:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnixk8stestkeyonly ops@example",
    "alice:ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= alice",
    "nixos:ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7nixk8s",
]

# real public keys: Azure takes only ed25519 keys and RSA keys of 2048 bits or more
AZURE_ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILYovUEMCyzFb77ZxnfJ/ZWvEk3quMVZKweXA5w93bQh ops@example"
AZURE_RSA_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQD8BaysJHo4n43YgMN2qm/eAtgSgZMpTlO1GwbqFf1oQLqZ"
    "z7FTuQfOQJhVNmXVSIH73KmWfW+nvM2Y9gU1XUkn9e4E6ckubQdPr6nr39npbdHZ6Yu3QOgBzJRH9nALTr9i"
    "wdmKRpZf13gck195bdOgkL/jms/+rMak/ZRwwbeXqYu1016F0sMZPpcq101sgjiTxrUeGMJHTrdSvvH3xcxA"
    "J6NHEyRuTH2Awel+BcD/tsSbVbokbqoGsEC2n1qiYL/1M71MHk/PvfbOeQi3QhjjWvEKe1ACOlMfOIwXwDbZ"
    "73W2KPBlRQQLTprK8B3QeChMU7kb5X67EvHNMJeb0mVj alice@example"
)
AZURE_IMAGES = [
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/"
    "Microsoft.Compute/galleries/nixos/images/nixos-k8s/versions/25.11.0",
    "/communityGalleries/nixos-1234/images/nixos-k8s",
]

# (vpc_cidr, subnet_cidr choices): RFC 1918, subnets inside their VPC
VPCS = {
    "10.0.0.0/16": [None, "10.0.1.0/24", "10.0.0.0/20"],
    "10.8.0.0/16": [None, "10.8.4.0/24"],
    "172.16.0.0/16": [None, "172.16.0.0/24", "172.16.3.0/24"],
    "192.168.0.0/16": [None, "192.168.10.0/24"],
}
# pod and service ranges outside every VPC above and apart from each other
POD_CIDRS = [None, "10.42.0.0/16", "10.244.0.0/16"]
SERVICE_CIDRS = [None, "10.43.0.0/16", "10.96.0.0/12"]


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@st.composite
def node_pool(draw: st.DrawFn, name: str, backend: str, *, control_plane: bool) -> dict[str, Any]:
    # a system pool of min_size 0 parks the control plane, where the backend can
    least = 0 if not control_plane or can_park_control_plane(backend) else 1
    min_size = draw(st.integers(least, 5 if control_plane else 3))
    max_size = draw(st.integers(max(min_size, 1), max(min_size, 1) + 3))
    pool: dict[str, Any] = {
        "name": name,
        "instance_types": draw(st.lists(st.sampled_from(INSTANCE_TYPES[backend]), min_size=1, max_size=2)),
        "min_size": min_size,
        "max_size": max_size,
    }
    if draw(st.booleans()):
        pool["desired_size"] = draw(st.integers(min_size, max_size))
    if draw(st.booleans()):
        pool["disk_size_gb"] = draw(st.integers(10, 200))
    if draw(st.booleans()):
        pool["labels"] = draw(st.dictionaries(label_key, label_value, max_size=3))
    if draw(st.booleans()):
        pool["taints"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"key": label_key},
                    optional={
                        "value": label_value,
                        "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
                    },
                ),
                max_size=2,
            )
        )
    if draw(st.booleans()):
        pool["max_pods"] = draw(st.integers(1, 250))
    if not control_plane and draw(st.integers(0, 3)) == 0:
        pool["autoscale"] = True
    if draw(st.booleans()):
        # an EC2 instance takes one key pair
        most = 1 if backend == "aws" else 2
        # Azure takes the keys themselves, GCP user:key lines, the other clouds key names or ids
        keys = {"gcp": GCP_SSH_KEYS, "azure": [AZURE_ADMIN_KEY, AZURE_RSA_KEY]}.get(backend, ["ops", "alice", "12345"])
        pool["ssh_keys"] = draw(st.lists(st.sampled_from(keys), max_size=most, unique=True))
    return pool


@st.composite
def node_pools(draw: st.DrawFn, backend: str) -> list[dict[str, Any]]:
    """A control-plane pool (named "system", or else the first) and 0-4 worker pools."""
    named_system = draw(st.booleans())
    cp_name = "system" if named_system else draw(st.sampled_from(["control", "masters", "cp"]))
    worker_names: list[str] = []
    blocks: set[int] = set()
    for name in draw(st.lists(pool_names, max_size=4, unique=True)):
        # each worker pool owns a node-index block: skip names whose blocks collide
        if name in ("system", "cp", cp_name) or agent_index_block(name) in blocks:
            continue
        blocks.add(agent_index_block(name))
        worker_names.append(name)
    workers = [draw(node_pool(n, backend, control_plane=False)) for n in worker_names]
    cp = draw(node_pool(cp_name, backend, control_plane=True))
    # "system" may sit anywhere; otherwise the control plane is the first pool
    position = draw(st.integers(0, len(workers))) if named_system else 0
    return workers[:position] + [cp] + workers[position:]


@st.composite
def networks(draw: st.DrawFn) -> dict[str, Any]:
    vpc = draw(st.sampled_from(sorted(VPCS)))
    return _drop_none(
        {
            "vpc_cidr": vpc,
            "subnet_cidr": draw(st.sampled_from(VPCS[vpc])),
            "pod_cidr": draw(st.sampled_from(POD_CIDRS)),
            "service_cidr": draw(st.sampled_from(SERVICE_CIDRS)),
        }
    )


cidr_sources = st.lists(
    st.sampled_from(["0.0.0.0/0", "::/0", "203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"]),
    max_size=3,
    unique=True,
)

fluxcd_blocks = st.fixed_dictionaries(
    {"source_url": st.sampled_from(["ssh://git@github.com/example/fleet.git", "https://git.example.com/fleet"])},
    optional={
        "source_auth": st.sampled_from(["ssh", "token"]),
        "source_branch": st.sampled_from(["main", "release/1.x"]) | hostile_text,
        "reconcile_path": st.sampled_from(["./clusters/demo", "./"]) | hostile_text,
        "reconcile_interval": st.just("5m0s"),
        "reconcile_prune": st.booleans(),
        "sops_enabled": st.booleans(),
        "known_hosts": hostile_text,
        "source_ssh_key_file": st.just("/run/secrets/flux-ssh"),
        "source_token_file": st.just("/run/secrets/flux-token"),
        "sops_age_key_file": st.just("/run/secrets/age.key"),
    },
)

argocd_blocks = st.fixed_dictionaries(
    {"repo_url": st.just("https://git.example.com/apps.git")},
    optional={
        "target_revision": st.sampled_from(["HEAD", "v1.2.3"]),
        "path": hostile_text,
        "sync_policy": st.sampled_from(["automated", "manual"]),
        "auth_type": st.sampled_from(["ssh", "token"]),
        "token_file": st.just("/run/secrets/argo-token"),
        "sops_enabled": st.booleans(),
    },
)

_node_level_options = {
    "node_labels": st.dictionaries(label_key, label_value, max_size=2),
    "node_taints": st.lists(st.sampled_from(["dedicated=infra:NoSchedule", "spot:PreferNoSchedule"]), max_size=2),
    "extra_kubelet_config": st.dictionaries(st.sampled_from(["serializeImagePulls", "maxPods"]), st.booleans() | st.integers(1, 200), max_size=2),
    "extra_kube_proxy_config": st.dictionaries(st.just("mode"), st.sampled_from(["ipvs", "iptables"]), max_size=1),
    "kernel": st.fixed_dictionaries(
        {},
        optional={
            "extra_modules": st.lists(st.sampled_from(["br_netfilter", "overlay", "wireguard"]), max_size=2),
            "sysctl": st.dictionaries(st.sampled_from(["net.ipv4.ip_forward", "vm.max_map_count"]), st.integers(0, 262144) | hostile_text, max_size=2),
            "hardening": st.booleans(),
        },
    ),
    "containerd_config_template": hostile_text,
    "data_dir": st.just("/var/lib/k8s-data"),
    "nvidia_enable": st.booleans(),
    "graceful_node_shutdown": st.booleans(),
    "wait_for_dns": st.fixed_dictionaries({"enabled": st.booleans()}, optional={"hostname": st.just("api.example.com")}),
}
_server_only_options = {
    "cluster_dns": st.sampled_from(["10.43.0.10", "10.96.0.10"]),
    "disable": st.lists(st.sampled_from(["traefik", "servicelb", "local-storage", "metrics-server"]), max_size=3, unique=True),
    "manifests": st.dictionaries(st.sampled_from(["ns.yaml", "cm.yaml"]), st.dictionaries(st.just("data"), hostile_text, max_size=1), max_size=2),
    "extra_flags": st.lists(st.sampled_from(["--debug", "--write-kubeconfig-mode=0644"]), max_size=2),
    "node_ip": st.just("10.0.1.50"),
    "firewall": st.fixed_dictionaries({}, optional={"enabled": st.booleans(), "extra_tcp_ports": st.lists(st.integers(1, 65535), max_size=2)}),
}
k3s_options = st.fixed_dictionaries(
    {},
    optional={
        **_node_level_options,
        **_server_only_options,
        "tls_san": st.lists(st.sampled_from(["k8s.example.com", "10.0.0.1"]), max_size=2),
        "disable_agent": st.booleans(),
    },
)
kubernetes_options = st.fixed_dictionaries(
    {},
    optional={
        **_node_level_options,
        **_server_only_options,
        "control_plane": st.fixed_dictionaries(
            {},
            optional={
                "api_server_extra_args": st.dictionaries(st.just("audit-log-path"), st.just("/var/log/audit.log"), max_size=1),
                "api_server_extra_sans": st.lists(st.just("k8s.example.com"), max_size=1),
                "disable_kube_proxy": st.booleans(),
            },
        ),
        "pki": st.fixed_dictionaries({}, optional={"mode": st.sampled_from(["auto", "manual"]), "cert_validity_days": st.integers(1, 3650)}),
        "etcd": st.fixed_dictionaries({}, optional={"data_dir": st.just("/var/lib/etcd"), "snapshot_count": st.integers(1, 100000)}),
        "version": st.sampled_from(["1.33.2", "1.34.0"]),
    },
)

secret_paths_blocks = st.fixed_dictionaries(
    {},
    optional={
        "flux_ssh_key_path": st.just("/run/secrets/flux-ssh-key"),
        "flux_token_path": st.just("/run/secrets/flux-token"),
        "sops_age_key_path": st.just("/run/secrets/sops-age"),
        "join_token_path": st.just("/run/secrets/join-token"),
        "extra_paths": st.dictionaries(
            st.sampled_from(["db_password", "registry_token", "tls_cert"]),
            st.sampled_from(["/run/secrets/x", "/run/secrets/${weird}%{path}"]),
            max_size=2,
        ),
    },
)


def _wg_key(seed: int) -> str:
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(alphabet[(seed * 7 + i * 13) % 64] for i in range(43)) + "="


@st.composite
def vpns(draw: st.DrawFn) -> dict[str, Any]:
    """A VPN block that passes the node's own VPN check (see the consumer schema)."""
    links = []
    for i in range(draw(st.integers(1, 2))):
        profile = draw(st.sampled_from([None, "k8s-control-plane", "k8s-full", "site-to-site", "mesh"]))
        listen_port = draw(st.sampled_from([None, 0, 51820 + i]))
        firewall: dict[str, Any] = {}
        if profile and profile.startswith("k8s-"):
            firewall["allowed_tcp_ports"] = [6443]
        elif draw(st.booleans()):
            firewall["trust_interface"] = True
        if listen_port:
            firewall["incoming_udp_port"] = listen_port
        peers = [
            _drop_none(
                {
                    "public_key": _wg_key(10 * i + j),
                    "endpoint": draw(st.sampled_from([None, "vpn.example.com:51820", "[2001:db8::1]:51820"])),
                    "allowed_ips": [f"10.{100 + i}.{j}.0/24"],
                    "persistent_keepalive": draw(st.sampled_from([None, 25])),
                    "preshared_key_file": f"/run/secrets/wg-psk-{i}-{j}",
                }
            )
            for j in range(draw(st.integers(1, 2)))
        ]
        links.append(
            _drop_none(
                {
                    "name": f"wg{i}",
                    "private_key_file": f"/run/secrets/wg{i}.key",
                    "listen_port": listen_port,
                    "address": f"10.{100 + i}.0.1/24",
                    "profile": profile,
                    "mtu": draw(st.sampled_from([None, 1420])),
                    "peers": peers,
                    "firewall": firewall,
                }
            )
        )
    return {"require_liveness": draw(st.booleans()), "links": links}


@st.composite
def bootstrap_secrets(
    draw: st.DrawFn, distribution: str, *, joining: bool, generated: bool = False, most_references: int = 2
) -> dict[str, Any]:
    """Hostile literals, empty literals and ``{var: NAME}`` references.

    At most ``most_references`` references (two): the compiler bounds a referenced PEM
    secret at 6 KiB, and the smallest user_data limit (AWS, 16 KiB) must still hold the
    rest, an etcd snapshot key's reference among it (the caller then allows one). With ``generated``
    credentials, no authority at all: the spec may not give those Terraform makes, and
    the generated ones take the room of the other distribution's (which its servers
    would never read); the join credential only sometimes (Terraform makes a missing one).
    """
    credential = JOIN_CREDENTIAL[distribution]
    other_credential = next(v for v in JOIN_CREDENTIAL.values() if v != credential)
    made = generated_keys("k3s") | generated_keys("kubernetes") if generated else frozenset()
    keys = [k for k in KINDLING_BOOTSTRAP_KEYS if k not in (credential, other_credential) and k not in made]
    secrets: dict[str, Any] = {}
    references = 0

    used: list[str] = []

    def reference() -> dict[str, str]:
        # each secret its own variable: a shared one is refused (rules.one_secret_per_variable)
        nonlocal references
        references += 1
        name = draw(var_names.filter(lambda n: n not in used))
        used.append(name)
        return {"var": name}

    if (joining and not generated) or draw(st.booleans()):
        if draw(st.booleans()):
            secrets[credential] = reference()
        else:
            secrets[credential] = draw(join_token_literal if distribution == "k3s" else kubeadm_token_literal)
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        kind = draw(st.sampled_from(["literal", "empty", "reference"]))
        if kind == "reference" and references < most_references:
            secrets[key] = reference()
        else:
            secrets[key] = "" if kind == "empty" else draw(hostile_text)
    if draw(st.integers(0, 3)) == 0:
        # the other distribution's credential: a server-only secret here
        secrets[other_credential] = draw(kubeadm_token_literal if other_credential == "kubeadm_token" else join_token_literal)
    return secrets


# A literal etcd snapshot store key starts so: no other string a spec holds does, so a
# node whose user_data holds it received the key. Its variables are named in capitals,
# which var_names never draws (each secret its own variable).
S3_KEY_PREFIX = "nixk8s-s3-"
S3_KEY_VARIABLES = {"access_key": "S3_ACCESS_KEY", "secret_key": "S3_SECRET_KEY"}
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))


def _s3_key(field: str) -> st.SearchStrategy[Any]:
    literal = st.text(alphabet=_PRINTABLE_ASCII, max_size=24).map(lambda s: S3_KEY_PREFIX + s)
    return literal | st.just({"var": S3_KEY_VARIABLES[field]})


@st.composite
def etcd_snapshot_blocks(draw: st.DrawFn, backend: str) -> dict[str, Any]:
    """Schedule and retention, and maybe a store: one of your own (bucket and keys), or,
    where the cloud makes one, none given (no keys)."""
    block = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "schedule": st.sampled_from(["0 */6 * * *", "@daily", "*/30 * * * *", "@every 2h"]),
                "retention": st.integers(1, 50),
            },
        )
    )
    if draw(st.booleans()):
        where = {"region": st.sampled_from(["eu-central-1", "us-east-1"]), "folder": hostile_text}
        chosen = backend_for(backend)
        if chosen is not None and chosen.makes_snapshot_bucket and draw(st.booleans()):
            block["s3"] = draw(st.fixed_dictionaries({}, optional=where))
        else:
            block["s3"] = draw(
                st.fixed_dictionaries(
                    {
                        "bucket": st.sampled_from(["snapshots", "etcd.backups"]),
                        "access_key": _s3_key("access_key"),
                        "secret_key": _s3_key("secret_key"),
                    },
                    optional={**where, "endpoint": st.sampled_from(["minio.example.com:9000", "s3.example.com"])},
                )
            )
    return block


# GCP label values: lowercase letters, digits, "_" and "-" (no dots, no capitals)
gcp_label_values = st.from_regex(r"\A[a-z0-9_-]{0,12}\Z")

tag_keys = st.from_regex(r"\A[a-z][a-z0-9_-]{0,10}[a-z0-9]\Z").filter(
    lambda k: k not in ("kubernetescluster", "backend", "managedby")
)


def provider_block(backend: str, draw: st.DrawFn) -> dict[str, Any]:
    if backend == "hcloud":
        return draw(
            st.fixed_dictionaries(
                {"image": st.sampled_from(["214263510", "nixos-k3s-snapshot"])},
                optional={"replace_on_user_data_change": st.booleans()},
            )
        )
    if backend == "aws":
        return {"ami_id": "ami-0123456789abcdef0"}
    if backend == "gcp":
        return draw(
            st.fixed_dictionaries(
                {
                    "project": st.just("nixk8s-test"),
                    "image": st.sampled_from(["projects/nixk8s-test/global/images/nixos", "family/nixos-k3s"]),
                },
                optional={
                    "ssh_keys": st.lists(st.sampled_from(GCP_SSH_KEYS), max_size=2, unique=True),
                    "service_account_roles": st.lists(
                        st.sampled_from(["roles/artifactregistry.reader", "projects/nixk8s-test/roles/nodeReader"]),
                        max_size=2,
                        unique=True,
                    ),
                    "shielded_vm": st.booleans(),
                    "disk_type": st.sampled_from(["pd-balanced", "pd-ssd", "hyperdisk-balanced"]),
                    "flow_logs": st.booleans(),
                },
            )
        )
    if backend == "azure":
        return draw(
            st.fixed_dictionaries(
                {
                    "admin_ssh_public_key": st.just(AZURE_ADMIN_KEY),
                    "image_id": st.sampled_from(AZURE_IMAGES),
                },
                optional={
                    "admin_username": st.sampled_from(["nixos", "ops", "k8s_admin"]),
                    "resource_group_name": st.sampled_from(["platform-rg", "k8s.prod_(eu)"]),
                    "zones": st.lists(st.sampled_from(["1", "2", "3"]), max_size=3, unique=True),
                    "os_disk_type": st.sampled_from(["StandardSSD_LRS", "Premium_LRS"]),
                    "encryption_at_host": st.booleans(),
                    "replace_on_user_data_change": st.booleans(),
                },
            )
        )
    raise ValueError(f"no provider block for backend {backend}")


# --- the spec ----------------------------------------------------------------------------


@st.composite
def raw_cluster_specs(draw: st.DrawFn, backend: str) -> dict[str, Any]:
    """A valid ClusterSpec for ``backend`` as raw data (mappings, lists, strings)."""
    distribution = draw(st.sampled_from(["k3s", "kubernetes"]))
    pools = draw(node_pools(backend))
    spec: dict[str, Any] = {
        "name": draw(cluster_names),
        "backend": backend,
        "region": draw(st.sampled_from(REGIONS[backend])),
        "distribution": distribution,
        "node_pools": pools,
        backend: provider_block(backend, draw),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "kubernetes_version": st.sampled_from(["1.31", "1.33", "1.34"]),
        "distribution_track": st.sampled_from(["1.33", "1.34"]),
        "profile": st.sampled_from(["cloud-server", "flannel-standard", "calico-hardened", "cilium-standard", "istio-mesh"]),
        "user_data_format": st.sampled_from(["shell", "cloud-config"]),
        "network": networks(),
        "access": st.fixed_dictionaries(
            {}, optional={"ssh_sources": cidr_sources, "api_sources": cidr_sources, "http_sources": cidr_sources}
        ),
        "vpn": vpns(),
        "tags": st.dictionaries(tag_keys, gcp_label_values if backend == "gcp" else label_value, max_size=3),
    }
    if backend == "azure":
        # every choice holds on Azure: its balancers are passthrough, so restricted
        # api_sources stay enforceable behind a public one
        optional["api_load_balancer"] = st.sampled_from(["auto", "public", "private", "none"])
    for field, strategy in optional.items():
        if draw(st.booleans()):
            spec[field] = draw(strategy)

    operator = draw(st.sampled_from(["fluxcd", "argocd", "none", None]))
    if operator is not None:
        spec["gitops_operator"] = operator
    if operator in ("fluxcd", None) and draw(st.booleans()):
        spec["fluxcd"] = draw(fluxcd_blocks)
    if operator == "argocd":
        spec["argocd"] = draw(argocd_blocks)

    nixos: dict[str, Any] = {}
    if draw(st.booleans()):
        options = draw(k3s_options if distribution == "k3s" else kubernetes_options)
        # the network's pod/service CIDRs win; equal values only where both are set
        network = spec.get("network", {})
        for option, network_field, choices in (
            ("cluster_cidr", "pod_cidr", POD_CIDRS),
            ("service_cidr", "service_cidr", SERVICE_CIDRS),
        ):
            if draw(st.booleans()):
                options[option] = network.get(network_field) or draw(st.sampled_from(choices[1:]))
        nixos[distribution] = options
    if draw(st.booleans()):
        nixos["secrets"] = draw(secret_paths_blocks)
    if draw(st.booleans()):
        nixos["flake_url"] = "github:example/fleet#nodes"
    if nixos:
        spec["nixos"] = nixos

    control_plane = next((p for p in pools if p["name"] == "system"), pools[0])
    if distribution == "k3s" and max(control_plane["min_size"], 1) > 1:
        # k3s would give every server this one address (rules.one_name_per_server)
        nixos.get("k3s", {}).pop("node_ip", None)
    if distribution == "k3s" and draw(st.booleans()):
        spec["etcd_snapshots"] = draw(etcd_snapshot_blocks(backend))
    joining = max(control_plane["min_size"], 1) > 1 or len(pools) > 1
    has_token_path = bool(nixos.get("secrets", {}).get("join_token_path"))
    credentials = draw(st.sampled_from([None, "generated", "external"]))
    if credentials is not None:
        spec["credentials"] = credentials
    snapshot_keys = spec.get("etcd_snapshots", {}).get("s3", {})
    referenced_snapshot_key = any(isinstance(snapshot_keys.get(f), dict) for f in S3_KEY_VARIABLES)
    spec["bootstrap_secrets"] = draw(
        bootstrap_secrets(
            distribution,
            joining=joining and not has_token_path,
            generated=credentials in (None, "generated"),
            most_references=1 if referenced_snapshot_key else 2,
        )
    )
    if persistent_state_allowed(backend) and draw(st.booleans()):
        spec["persistent_state"] = {"size_gb": draw(st.integers(8, 100))}
    if backend == "gcp":
        spec["gcp"] = {**spec["gcp"], **draw(gcp_placement(spec))}
        if draw(st.booleans()):
            # GCP builds every kind: auto (a private balancer for two or more servers),
            # a private or public one for any control plane, or none
            spec["api_load_balancer"] = draw(st.sampled_from(["auto", "private", "public", "none"]))
    if backend == "hcloud":
        _hcloud_autoscaled_pools_fit(spec)
    if draw(st.booleans()) and can_be_initialized(backend, spec):
        spec["initialized"] = True
    if backend == "hcloud" and "network" not in spec and joining:
        # Hetzner opens the private ports only to a network: without one, the nodes
        # reach each other over VPN links of the operator's own
        spec.setdefault("vpn", draw(vpns()))
        api = spec.get("access", {}).get("api_sources")
        if api is not None and "0.0.0.0/0" not in api:
            # without a network, nodes join over public IPv4: the firewall must admit them
            spec["access"]["api_sources"] = [*api, "0.0.0.0/0"]
    return spec


# the zones of the regions drawn above (me-west1 is not in nixk8s' table)
GCP_ZONES = {
    "europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
    "europe-west3": ["europe-west3-a", "europe-west3-b", "europe-west3-c"],
    "us-central1": ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"],
    "us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"],
    "me-west1": ["me-west1-a", "me-west1-b", "me-west1-c"],
}


@st.composite
def gcp_placement(draw: st.DrawFn, spec: dict[str, Any]) -> dict[str, Any]:
    """``gcp.zones`` (required for a region nixk8s does not know) and ``gcp.spot_pools``."""
    extra: dict[str, Any] = {}
    region = spec["region"]
    if region == "me-west1" or draw(st.booleans()):
        extra["zones"] = draw(st.lists(st.sampled_from(GCP_ZONES[region]), min_size=1, max_size=3, unique=True))
    pools = [p["name"] for p in spec["node_pools"]]
    system = "system" if "system" in pools else pools[0]
    workers = [p for p in pools if p != system]
    if workers and draw(st.booleans()):
        extra["spot_pools"] = draw(st.lists(st.sampled_from(workers), max_size=2, unique=True))
    return extra


def _hcloud_autoscaled_pools_fit(spec: dict[str, Any]) -> None:
    """Autoscaled Hetzner pools need a network, and static pools numbered outside its
    addresses (which autoscaled servers use as their index): drop the flag otherwise."""
    network = spec.get("network")
    autoscaled = [p for p in spec["node_pools"] if p.get("autoscale")]
    if not autoscaled:
        return
    clash = False
    if network is not None:
        vpc = ipaddress.ip_network(network["vpc_cidr"])
        low, high = int(vpc.network_address), int(vpc.broadcast_address)
        clash = any(
            not p.get("autoscale") and agent_index_block(p["name"]) <= high and agent_index_block(p["name"]) + 100_000 > low
            for p in spec["node_pools"]
        )
    if network is None or clash:
        for pool in autoscaled:
            pool.pop("autoscale")


def can_be_initialized(backend: str, spec: dict[str, Any]) -> bool:
    """Whether ``initialized: true`` holds: two or more servers, for server 0 to join one
    (on Hetzner over a network: without one, servers know each other's addresses only
    after apply)."""
    control_plane = next((p for p in spec["node_pools"] if p["name"] == "system"), spec["node_pools"][0])
    return control_plane["min_size"] >= 2 and (backend != "hcloud" or "network" in spec)


def persistent_state_allowed(backend: str) -> bool:
    chosen = backend_for(backend)
    return chosen is not None and chosen.supports_persistent_state


def can_park_control_plane(backend: str) -> bool:
    chosen = backend_for(backend)
    return chosen is not None and chosen.can_park_control_plane


def load_raw(raw: dict[str, Any]) -> ClusterSpec:
    """Load raw spec data through the real decoder and validator (as JSON)."""
    result = load(msgspec.json.encode(raw), "json")
    if isinstance(result, Failure):
        raise AssertionError(
            "the generator drew a spec nixk8s rejects:\n"
            + "\n".join(f"  {p.path}: {p.message}" for p in result.failure())
            + f"\n{raw!r}"
        )
    return result.unwrap()


def cluster_specs(backend: str) -> st.SearchStrategy[ClusterSpec]:
    """A valid ClusterSpec for ``backend``, loaded by :func:`nixk8s.load.load`."""
    return raw_cluster_specs(backend).map(load_raw)


# --- arbitrary text in every string field -------------------------------------------------


def _near_slot(newline: str, n: str, salt: int, letter: str) -> str:
    return f"{newline}{n}ixk8sslot{salt}q{letter}"


near_tokens = st.builds(
    lambda before, word, after: before + word + after,
    st.sampled_from(["", "\n", "\\", "\\n", '"', "\t", "\r\n", "$", "%", "\\\\"]),
    st.one_of(
        # a stamped pool's slots (nixk8s.stamp), whole or as escapes would complete them
        st.builds(_near_slot, st.just(""), st.sampled_from(["n", ""]), st.integers(0, 3), st.sampled_from("oicgn")),
        st.builds(lambda n, letter: f"{n}ixk8sprobeq{letter}", st.sampled_from(["n", ""]), st.sampled_from("oicg")),
        # the expression tokens of a node's JSON (nixk8s.tokens) and the document's markers
        st.builds(lambda salt, i: f'"nixk8sexpr{salt}q{i}q"', st.integers(0, 2), st.integers(0, 3)),
        st.builds(lambda salt, i: f'"nixk8swritten{salt}q{i}"', st.integers(0, 2), st.integers(0, 2)),
        st.just("NIXK8SCONFIGLINE"),
    ),
    st.sampled_from(["", "\n", "\\", '"', "{", "}", "q"]),
)
"""Text at or next to the words nixk8s marks places with, as escaping would complete them:
JSON writes a newline as ``\\n``, so "\\nixk8sslot0qi" escapes to a slot."""

# the reported forgery (issue 21): on Hetzner it turned every worker's config into invalid JSON
FORGED_SLOT = "\nixk8sslot0qi"

arbitrary_text = st.one_of(
    st.just(FORGED_SLOT),
    near_tokens,
    hostile_text,
    st.lists(near_tokens | st.sampled_from(HOSTILE_FRAGMENTS) | st.text(max_size=3), min_size=2, max_size=4).map(
        "".join
    ),
)
"""Any text, weighted towards what escaping layers and placeholders get wrong."""

Path = tuple[str | int, ...]


def _unwrapped(kind: Any) -> Any:
    while isinstance(kind, mi.Metadata):
        kind = kind.type
    return kind


def _string_edits(text: Callable[[], str], kind: Any, value: Any, path: Path, skip: frozenset[str]) -> list[tuple[Path, Any]]:
    """(path, text) for every string field under ``path``: each field of type str
    (or a union holding str), an item added to each list of str, an entry added to
    each mapping and every entry's value replaced; nested structs are filled in too
    where the spec has none, lists of structs item by item where it has some."""
    kind = _unwrapped(kind)
    if isinstance(kind, mi.UnionType):
        members = [_unwrapped(m) for m in kind.types]
        if any(isinstance(m, mi.StrType) for m in members):
            return [(path, text())]
        inner = [m for m in members if isinstance(m, (mi.StructType, mi.DictType, mi.VarTupleType, mi.ListType))]
        return _string_edits(text, inner[0], value, path, skip) if inner else []
    if isinstance(kind, mi.StrType):
        return [(path, text())]
    if isinstance(kind, mi.StructType):
        fields = value if isinstance(value, dict) else {}
        edits: list[tuple[Path, Any]] = []
        for field in kind.fields:
            if field.encode_name not in skip:
                edits += _string_edits(text, field.type, fields.get(field.encode_name), (*path, field.encode_name), skip)
        return edits
    if isinstance(kind, (mi.VarTupleType, mi.ListType)):
        item = _unwrapped(kind.item_type)
        items = value if isinstance(value, list) else []
        if isinstance(item, mi.StrType):
            return [(path, [*items, text()])]
        return [e for i, v in enumerate(items) for e in _string_edits(text, item, v, (*path, i), skip)]
    if isinstance(kind, mi.DictType):
        entries = value if isinstance(value, dict) else {}
        edits = [(p, v) for k, old in entries.items() for p, v in _string_edits(text, kind.value_type, old, (*path, k), skip)]
        return [*edits, ((*path, text()), text())]
    return []


def _edited(raw: dict[str, Any], edits: list[tuple[Path, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    for path, value in edits:
        target: Any = out
        for key in path[:-1]:
            if isinstance(key, int):
                target = target[key]
            else:
                if not isinstance(target.get(key), (dict, list)):
                    target[key] = {}  # a block the spec leaves out
                target = target[key]
        target[path[-1]] = value
    return out


def _spec_path(path: Path) -> str:
    text = ""
    for key in path:
        text = join_path(text, key)
    return text


def _related(edit: str, problem: str) -> bool:
    """Whether a problem at ``problem`` may be the edit's: at it, inside it, or around it
    (both lowercased: Hetzner's checks name a tag by its label key, lowercased)."""
    return any(
        a == b or a.startswith(b + ".") or a.startswith(b + "[") for a, b in ((edit, problem), (problem, edit))
    )


@functools.cache
def _spec_type() -> Any:
    return mi.type_info(ClusterSpec)


@st.composite
def arbitrary_text_specs(draw: st.DrawFn, backend: str) -> dict[str, Any]:
    """A spec for ``backend`` that compiles, with arbitrary text in every string field
    that takes it, as raw data.

    A valid spec is drawn, then every string field of ClusterSpec (by its type, not
    by a list that could fall behind it) gets drawn text; the fields whose text the
    compiler refuses, by the problems' paths, get their valid value back, until the
    spec compiles.
    """
    raw = draw(raw_cluster_specs(backend))
    skip = frozenset(BACKENDS) - {backend}
    # a few texts, dealt out to the fields in turn from a drawn start: drawing one per
    # field (some hundred) would cost more than everything else the test does
    texts = draw(st.lists(arbitrary_text, min_size=1, max_size=6))
    dealt = itertools.count(draw(st.integers(0, 5)))
    found = _string_edits(lambda: texts[next(dealt) % len(texts)], _spec_type(), raw, (), skip)
    edits = [(_spec_path(path).lower(), path, text) for path, text in found]
    for _ in range(12):
        candidate = _edited(raw, [(path, text) for _, path, text in edits])
        result = compile_source(msgspec.json.encode(candidate), "json")
        if not isinstance(result, Failure):
            return candidate
        problems = {p.path.lower() for p in result.failure()}
        kept = [e for e in edits if not any(_related(e[0], p) for p in problems)]
        edits = kept if len(kept) < len(edits) else []
    return raw
