"""``nixk8s init``: a commented starter spec per backend, as plain text.

The starters are text, not structs dumped to YAML: the comments are the point, and
``init`` must stay as cheap as ``--help`` (no YAML library, no backend module). Each
starter compiles as written; every value marked ``CHANGE`` is a placeholder to
replace before applying. The tests compile and ``terraform validate`` each one.
"""

from __future__ import annotations

from typing import get_args

from nixk8s.backends.catalog import NAMES, cloud_named
from nixk8s.json_schema import YAML_MODELINE
from nixk8s.spec import BackendName, Distribution

#: the starters, one per cloud in the catalog
BACKENDS: tuple[BackendName, ...] = NAMES
DISTRIBUTIONS: tuple[Distribution, ...] = get_args(Distribution)


def _cloud_credentials(backend: BackendName) -> str:
    """The header's lines on the cloud's own credentials (its catalog entry's words)."""
    text = cloud_named(backend).starter.credentials
    if not text:
        return ""
    lines = "".join(f"#   {line}\n" for line in text.splitlines())
    return "# Terraform needs no variable, only the cloud's own credentials:\n" + lines


def _header(backend: BackendName, distribution: Distribution) -> str:
    return f"""\
{YAML_MODELINE}
# A starter ClusterSpec: {distribution} on {backend}, written by `nixk8s init`.
# It compiles as written; replace every value marked CHANGE, then:
#   nixk8s validate cluster.yaml       # every problem, with its path
#   nixk8s explain cluster.yaml        # nodes, ports, which secret goes where
#   nixk8s compile cluster.yaml -o out # out/main.tf.json, for terraform apply
#   cd out && terraform init && terraform apply
#   terraform output -raw kubeconfig > kubeconfig && kubectl --kubeconfig kubeconfig get nodes
# (the kubeconfig's server is api_endpoint; `nixk8s explain` says from where it
# is reachable).
{_cloud_credentials(backend)}\
# Every field, its default and its meaning: `nixk8s schema` (editors read it
# through the modeline above).

name: demo                   # CHANGE: 2-40 characters of a-z, 0-9 and -; in every resource name
"""


def _distribution(distribution: Distribution) -> str:
    return f"""\
distribution: {distribution:<15}# k3s or kubernetes (kubeadm): the one your image carries
kubernetes_version: "1.34"   # quoted: YAML reads 1.30 as the number 1.3
"""


def _pools(backend: BackendName) -> str:
    starter = cloud_named(backend).starter
    server_type, worker_type = starter.server_type, starter.worker_type
    return f"""\
# The pool named system is the control plane: three servers keep etcd's quorum
# when one is lost, behind a private API load balancer (api_load_balancer: auto).
# Every other pool is a worker pool of min..max machines.
node_pools:
  - name: system
    instance_types: [{server_type}]
    min_size: 3
    max_size: 3
  - name: workers
    instance_types: [{worker_type}]
    min_size: 2
    max_size: 4
    # labels: {{node.kubernetes.io/pool: workers}}
    # taints: [{{key: dedicated, value: batch, effect: NoSchedule}}]

# Server 0 forms the cluster at its first boot. After the first apply (with 2 or
# more servers), set initialized: true: no node forms a cluster any more, and a
# replaced server 0 joins the others instead of forming a new, empty one.
# initialized: true
"""


_NETWORK_AND_ACCESS = """\
# A private network nixk8s creates; nodes talk to each other over it, and the
# private ports (kubelet, etcd, the CNI) are open to vpc_cidr only.
network:
  vpc_cidr: 10.0.0.0/16

# Who may reach the public ports. The default is the whole internet; narrow it.
access:
  ssh_sources: [203.0.113.0/24]   # CHANGE: your office or VPN range (port 22)
  api_sources: [203.0.113.0/24]   # CHANGE: who runs kubectl (port 6443)
  # http_sources: ["0.0.0.0/0", "::/0"]   # ports 80 and 443 (default: anywhere)

# No GitOps in the starter. For Flux: gitops_operator: fluxcd, and a fluxcd
# block with at least source_url (see `nixk8s schema`).
gitops_operator: none
"""


def _secrets(distribution: Distribution) -> str:
    key = "k3s_server_token" if distribution == "k3s" else "kubeadm_token"
    return f"""\
# Terraform makes the cluster's certificate authorities, the join credential
# ({key}) and an admin kubeconfig (the output kubeconfig). They live in the
# Terraform state: keep it in an encrypted remote backend. `external` instead:
# give every secret yourself below, and get no kubeconfig output.
credentials: generated

# Secrets the servers write at first boot. {{var: NAME}} makes each one a sensitive
# Terraform variable, so its value never appears in the compiled output (set
# TF_VAR_NAME before terraform apply).
# bootstrap_secrets:
#   sops_age_key:
#     var: sops_age_key        # servers only: decrypts SOPS secrets
"""


def starter(backend: BackendName, distribution: Distribution = "k3s") -> str:
    """The commented starter spec for one backend and distribution.

    >>> text = starter("hcloud")
    >>> text.splitlines()[0].startswith("# yaml-language-server: $schema=https://")
    True
    >>> "backend: hcloud" in text and "credentials: generated" in text and "HCLOUD_TOKEN" in text
    True
    """
    cloud = cloud_named(backend).starter
    return "\n".join(
        (
            _header(backend, distribution) + cloud.place + _distribution(distribution),
            _pools(backend),
            _NETWORK_AND_ACCESS,
            _secrets(distribution),
            cloud.provider,
        )
    )
