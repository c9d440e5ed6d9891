"""The ClusterSpec: what an operator writes, as frozen msgspec structs.

Field names follow pangea-kubernetes' ``ClusterConfig`` so that its users can move
over. The structs are the documentation: each field's type carries its range
(``Meta``), each default is the one the compiler uses, and ``nixk8s schema`` prints
the JSON Schema generated from exactly these classes.

Rules that span fields (``max_size >= min_size``, CIDR containment, provider block
vs backend, ...) live in :mod:`nixk8s.load`, not here, so that a spec can be built
in code and checked by the same function that checks a file.
"""

# No ``from __future__ import annotations`` here: msgspec would then evaluate every
# annotation from its string on the first decode (typing's evaluator, ~15 ms for these
# documented fields), where Python evaluates them at class creation far more cheaply.
import ipaddress
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from nixk8s.backends import catalog
# re-exported: every spec record builds on them
from nixk8s.record import Frozen as Frozen
from nixk8s.record import doc as doc
from nixk8s.record import fields_of as fields_of


# --- scalar vocabularies ----------------------------------------------------------

ClusterName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$",
        description="2-40 characters: lowercase letters, digits and '-'; starts with a letter",
    ),
]
PoolName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$",
        description="1-32 characters: lowercase letters, digits and '-'; starts with a letter",
    ),
]
TerraformVarName = Annotated[
    str,
    Meta(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$", description="a Terraform variable name"),
]

if TYPE_CHECKING:
    BackendName = str
else:  # the catalog's clouds, in its order: the spec's vocabulary follows the clouds nixk8s has
    BackendName = Literal[catalog.NAMES]
Distribution = Literal["k3s", "kubernetes"]
KubernetesVersion = Literal["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34"]
Profile = Literal[
    "cloud-server",
    "flannel-minimal",
    "flannel-standard",
    "flannel-production",
    "calico-standard",
    "calico-hardened",
    "cilium-standard",
    "cilium-mesh",
    "istio-mesh",
]
UserDataFormat = Literal["shell", "cloud-config"]
GitopsOperator = Literal["fluxcd", "argocd", "none"]
ApiLoadBalancer = Literal["auto", "public", "private", "none"]
KindlingMode = Literal["init", "legacy-bootstrap"]
CredentialsMode = Literal["generated", "external"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
Port = Annotated[int, Meta(ge=0, le=65535)]


# --- node pools --------------------------------------------------------------------


class Taint(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A Kubernetes taint on every node of the pool (kubelet's ``key=value:Effect``)."""

    key: Annotated[
        str,
        doc("Key", "The taint's key, in Kubernetes label-key syntax (kubelet refuses others)", "nvidia.com/gpu"),
    ]
    value: Annotated[str, doc("Value", "The taint's value, in label-value syntax; empty for a key-only taint")] = ""
    effect: Annotated[TaintEffect, doc("Effect", "What happens to pods that do not tolerate the taint")] = "NoSchedule"

    def as_kubelet_flag(self) -> str:
        """The ``key=value:Effect`` form kubelet and k3s take.

        >>> Taint(key="gpu", value="true", effect="NoExecute").as_kubelet_flag()
        'gpu=true:NoExecute'
        >>> Taint(key="dedicated").as_kubelet_flag()
        'dedicated:NoSchedule'
        """
        pair = f"{self.key}={self.value}" if self.value else self.key
        return f"{pair}:{self.effect}"


class NodePool(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A group of identical machines.

    The pool named ``system`` (else the first pool) is the control plane; every other
    pool is a worker pool.
    """

    name: Annotated[
        PoolName,
        doc(
            "Pool name",
            "Used in the pool's resource names. 'system' marks the control plane; "
            "'cp' is reserved for the control plane's resource names",
            "system",
            "workers",
        ),
    ]
    instance_types: Annotated[
        tuple[str, ...],
        Meta(min_length=1),
        doc(
            "Instance types",
            "The cloud's machine types; only the first is used (Hetzner server type, EC2 instance type, "
            "GCP machine type, Azure VM size)",
            ["cx32"],
            ["m6i.large"],
        ),
    ]
    min_size: Annotated[
        int,
        Meta(ge=0),
        doc(
            "Minimum size",
            "The fewest machines. For the control plane, its number of servers: max(min_size, 1); "
            "0 parks the control plane where the backend can (AWS)",
        ),
    ] = 1
    max_size: Annotated[
        int,
        Meta(ge=1),
        doc("Maximum size", "The most machines the pool scales to; at least min_size"),
    ] = 3
    desired_size: Annotated[
        Annotated[int, Meta(ge=0)] | None,
        doc(
            "Desired size",
            "How many machines run now, between min_size and max_size; null means min_size. Where an "
            "autoscaler owns the pool's size (AWS with autoscale, Azure) it is the starting size; GCP's autoscaler "
            "does not use it",
        ),
    ] = None
    disk_size_gb: Annotated[
        int,
        Meta(ge=10),
        doc(
            "Disk size (GB)",
            "Root disk size on AWS, GCP and Azure; Hetzner servers have the disk of their server type",
        ),
    ] = 20
    labels: Annotated[
        dict[str, str],
        doc(
            "Node labels",
            "Kubernetes labels for the pool's nodes (label syntax is checked), merged into the "
            "distribution's node_labels",
            {"node.kubernetes.io/pool": "workers"},
        ),
    ] = {}
    taints: Annotated[tuple[Taint, ...], doc("Taints", "Kubernetes taints for the pool's nodes")] = ()
    max_pods: Annotated[
        Annotated[int, Meta(ge=1, le=2500)] | None,
        doc("Maximum pods", "The kubelet's max-pods on the pool's nodes; null leaves the kubelet's default"),
    ] = None
    ssh_keys: Annotated[
        tuple[str, ...],
        doc(
            "SSH keys",
            "Keys for the pool's machines, in the cloud's form: Hetzner SSH key names or ids; on AWS one "
            "EC2 key pair name (else aws.key_pair); on GCP USER:TYPE KEY [COMMENT] lines (beside "
            "gcp.ssh_keys); on Azure OpenSSH public key lines for the admin user (beside "
            "azure.admin_ssh_public_key)",
            ["ops"],
        ),
    ] = ()
    autoscale: Annotated[
        bool,
        doc(
            "Autoscaled",
            "Hand the worker pool's size to the cluster-autoscaler. Hetzner: it creates and deletes the "
            "pool's servers (Terraform creates none; the hcloud_cluster_config output configures it; needs a "
            "network). AWS: the group carries its discovery and node-template tags, and Terraform ignores "
            "desired_capacity after creation (without it, Terraform sets the size). GCP and Azure: every "
            "pool's size is owned by the cloud's autoscaler already, and this flag changes nothing",
        ),
    ] = False

    @property
    def instance_type(self) -> str:
        return self.instance_types[0]

    @property
    def desired(self) -> int:
        """How many machines the pool runs now: ``desired_size``, else ``min_size``."""
        return self.min_size if self.desired_size is None else self.desired_size


# --- network and access ------------------------------------------------------------

ANYWHERE: tuple[str, ...] = ("0.0.0.0/0", "::/0")


class Network(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The cluster's private network, created by nixk8s.

    Private ports (kubelet, etcd, VXLAN, WireGuard, ...) are open only to ``vpc_cidr``.
    Without a ``network`` block Hetzner servers have no private network, AWS uses the
    region's default VPC (or ``aws.vpc_id``), and GCP and Azure create the default
    10.0.0.0/16.
    """

    vpc_cidr: Annotated[
        str, doc("VPC CIDR", "The network's IPv4 range (Hetzner network, AWS VPC, GCP VPC, Azure VNet)", "10.0.0.0/16")
    ] = "10.0.0.0/16"
    subnet_cidr: Annotated[
        str | None,
        doc(
            "Subnet CIDR",
            "The nodes' subnet; must lie inside vpc_cidr. null: the first /24 of vpc_cidr. AWS makes one "
            "subnet per availability zone: consecutive blocks of this size starting here",
            "10.0.1.0/24",
        ),
    ] = None
    pod_cidr: Annotated[
        str | None,
        doc(
            "Pod CIDR",
            "The pods' range, sent to the servers (k3s cluster_cidr, kubernetes pod_cidr); must not overlap "
            "vpc_cidr or service_cidr. null: the distribution's default",
            "10.42.0.0/16",
        ),
    ] = None
    service_cidr: Annotated[
        str | None,
        doc(
            "Service CIDR",
            "The services' range, sent to the servers; must not overlap vpc_cidr or pod_cidr. null: the "
            "distribution's default",
            "10.43.0.0/16",
        ),
    ] = None

    private_nodes: Annotated[
        bool,
        doc(
            "Private nodes",
            "No node holds a public address; nodes reach the internet through the cloud's NAT (AWS NAT "
            "gateways, GCP Cloud NAT, Azure's NAT gateway, on Hetzner a NAT machine and a network route). "
            "The API is then reached through api_load_balancer: public, or from inside the network (or a VPN): "
            "api_sources must then hold private ranges only. Nodes are reached through AWS SSM Session "
            "Manager, GCP IAP TCP forwarding, a bastion of your own on Azure, or Hetzner's NAT machine",
        ),
    ] = False

    @property
    def subnet(self) -> str:
        """``subnet_cidr``, else the first /24 of ``vpc_cidr`` (the whole VPC if smaller).

        >>> Network(vpc_cidr="10.8.0.0/16").subnet
        '10.8.0.0/24'
        """
        if self.subnet_cidr is not None:
            return self.subnet_cidr
        vpc = ipaddress.ip_network(self.vpc_cidr, strict=False)
        if vpc.prefixlen >= 24:
            return str(vpc)
        return str(next(vpc.subnets(new_prefix=24)))


class Access(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Who may reach the public ports: lists of IPv4/IPv6 CIDRs; an empty list closes the port.

    Only these ports are public; every other port is open to the cluster's own network only.
    """

    ssh_sources: Annotated[
        tuple[str, ...], doc("SSH sources", "CIDRs that may reach SSH (22/tcp)", ["203.0.113.0/24"])
    ] = ANYWHERE
    api_sources: Annotated[
        tuple[str, ...],
        doc("API sources", "CIDRs that may reach the Kubernetes API (6443/tcp)", ["203.0.113.0/24", "10.0.0.0/16"]),
    ] = ANYWHERE
    http_sources: Annotated[
        tuple[str, ...], doc("HTTP sources", "CIDRs that may reach HTTP and HTTPS (80/tcp, 443/tcp)")
    ] = ANYWHERE


# --- GitOps ------------------------------------------------------------------------


class FluxCD(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Flux on the servers (``gitops_operator: fluxcd``), pangea's FluxCDConfig.

    Servers receive every field that is not null, plus ``branch`` (= source_branch, the
    key the node agent reads). kindling 0.3.0 uses source_url, the branch,
    reconcile_path, reconcile_interval and reconcile_prune; it parses the rest unused.
    """

    source_url: Annotated[
        str, doc("Source URL", "The Git repository Flux syncs from", "ssh://git@github.com/example/fleet.git")
    ]
    enabled: Annotated[bool, doc("Enabled", "pangea's switch, passed to the node (kindling does not read it)")] = True
    source_auth: Annotated[
        Literal["ssh", "token"], doc("Source authentication", "How Flux authenticates to the repository")
    ] = "ssh"
    source_branch: Annotated[str, doc("Branch", "The branch Flux follows (sent to the node as branch)")] = "main"
    source_interval: Annotated[
        str, doc("Source interval", "How often Flux fetches the repository (kindling uses reconcile_interval)")
    ] = "1m0s"
    reconcile_path: Annotated[
        str, doc("Reconcile path", "The directory in the repository Flux applies", "./clusters/demo")
    ] = "./"
    reconcile_interval: Annotated[
        str, doc("Reconcile interval", "How often Flux fetches and applies (a Go duration)")
    ] = "2m0s"
    reconcile_prune: Annotated[bool, doc("Prune", "Whether Flux deletes what was removed from the repository")] = True
    sops_enabled: Annotated[bool, doc("SOPS", "Whether Flux decrypts SOPS secrets (kindling does not read it)")] = True
    known_hosts: Annotated[str | None, doc("Known hosts", "SSH known_hosts lines for the Git host")] = None
    source_ssh_key_file: Annotated[
        str | None,
        doc(
            "SSH key file",
            "Path on the node of the Git SSH key (sent as secrets.flux_ssh_key_path; wins over nixos.secrets)",
        ),
    ] = None
    source_token_file: Annotated[
        str | None,
        doc(
            "Token file", "Path on the node of the Git token (sent as secrets.flux_token_path; wins over nixos.secrets)"
        ),
    ] = None
    source_token_username: Annotated[str, doc("Token username", "The user name that goes with the Git token")] = "git"
    sops_age_key_file: Annotated[
        str | None,
        doc("Age key file", "Path on the node of the SOPS age key (sent as secrets.sops_age_key_path)"),
    ] = None


class ArgoCD(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Argo CD (``gitops_operator: argocd``), pangea's ArgocdConfig.

    Servers receive every field that is not null; kindling 0.3.0 parses the block but
    does not act on it, so the image's NixOS configuration must install Argo CD.
    """

    repo_url: Annotated[
        str, doc("Repository URL", "The Git repository Argo CD syncs from", "https://github.com/example/fleet.git")
    ]
    enabled: Annotated[bool, doc("Enabled", "pangea's switch, passed to the node")] = True
    target_revision: Annotated[str, doc("Target revision", "The branch, tag or commit to sync")] = "HEAD"
    path: Annotated[str, doc("Path", "The directory in the repository to apply")] = "./"
    project: Annotated[str, doc("Project", "The Argo CD project")] = "default"
    sync_policy: Annotated[Literal["automated", "manual"], doc("Sync policy", "Whether Argo CD syncs by itself")] = (
        "automated"
    )
    auto_prune: Annotated[bool, doc("Prune", "Whether an automated sync deletes what was removed")] = True
    self_heal: Annotated[bool, doc("Self-heal", "Whether an automated sync reverts changes made in the cluster")] = True
    auth_type: Annotated[
        Literal["ssh", "token"], doc("Authentication", "How Argo CD authenticates to the repository")
    ] = "ssh"
    ssh_key_file: Annotated[str | None, doc("SSH key file", "Path on the node of the Git SSH key")] = None
    token_file: Annotated[str | None, doc("Token file", "Path on the node of the Git token")] = None
    token_username: Annotated[str, doc("Token username", "The user name that goes with the Git token")] = "git"
    sops_enabled: Annotated[bool, doc("SOPS", "Whether secrets are decrypted with SOPS")] = False
    sops_age_key_file: Annotated[str | None, doc("Age key file", "Path on the node of the SOPS age key")] = None


# --- distribution options (passed through to the NixOS modules) -------------------
#
# Every field defaults to UNSET rather than to a value: these options go to the node
# as the operator wrote them, so presence must survive decoding. A field left out is
# left out on the node too, where the NixOS module's own default applies; a field
# written with the module's default value still reaches the node (that default may
# differ from pangea's, or change). null is accepted where pangea allows it and left
# out like an absent field (kindling never receives null).

_PASSED = " Sent to the node as written; left out, the node's own default applies."


class Firewall(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The node's own NixOS firewall (not the cloud firewall nixk8s builds)."""

    enabled: Annotated[bool | UnsetType, doc("Enabled", "Whether the NixOS firewall runs." + _PASSED)] = UNSET
    extra_tcp_ports: Annotated[
        tuple[Port, ...] | UnsetType, doc("Extra TCP ports", "More TCP ports the node opens." + _PASSED)
    ] = UNSET
    extra_udp_ports: Annotated[
        tuple[Port, ...] | UnsetType, doc("Extra UDP ports", "More UDP ports the node opens." + _PASSED)
    ] = UNSET
    trusted_cidrs: Annotated[
        tuple[str, ...] | UnsetType, doc("Trusted CIDRs", "Sources the node's firewall trusts." + _PASSED)
    ] = UNSET
    allow_intra_cluster: Annotated[
        bool | UnsetType, doc("Allow intra-cluster", "Whether the node accepts all traffic from the cluster." + _PASSED)
    ] = UNSET


class Kernel(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Kernel settings of the node's NixOS module."""

    extra_modules: Annotated[
        tuple[str, ...] | UnsetType, doc("Extra modules", "Kernel modules to load." + _PASSED, ["br_netfilter"])
    ] = UNSET
    sysctl: Annotated[
        dict[str, Any] | UnsetType,
        doc("sysctl", "sysctl settings, name to value." + _PASSED, {"net.ipv4.ip_forward": 1}),
    ] = UNSET
    hardening: Annotated[bool | UnsetType, doc("Hardening", "The module's kernel hardening." + _PASSED)] = UNSET


class WaitForDNS(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Wait for a name to resolve before the distribution starts."""

    enabled: Annotated[bool | UnsetType, doc("Enabled", "Whether to wait." + _PASSED)] = UNSET
    hostname: Annotated[str | None | UnsetType, doc("Hostname", "The name to wait for." + _PASSED)] = UNSET
    timeout_seconds: Annotated[
        Annotated[int, Meta(ge=1)] | UnsetType, doc("Timeout (s)", "How long to wait at most." + _PASSED)
    ] = UNSET
    retry_interval: Annotated[
        Annotated[int, Meta(ge=1)] | UnsetType, doc("Retry interval (s)", "Seconds between attempts." + _PASSED)
    ] = UNSET


class ControlPlane(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """kubeadm control-plane settings (servers only), pangea's names."""

    api_server_extra_args: Annotated[
        dict[str, Any] | UnsetType, doc("API server arguments", "More kube-apiserver flags, name to value." + _PASSED)
    ] = UNSET
    api_server_extra_sans: Annotated[
        tuple[str, ...] | UnsetType, doc("API server SANs", "More names in the API server certificate." + _PASSED)
    ] = UNSET
    controller_manager_extra_args: Annotated[
        dict[str, Any] | UnsetType,
        doc("Controller manager arguments", "More kube-controller-manager flags." + _PASSED),
    ] = UNSET
    scheduler_extra_args: Annotated[
        dict[str, Any] | UnsetType, doc("Scheduler arguments", "More kube-scheduler flags." + _PASSED)
    ] = UNSET
    disable_kube_proxy: Annotated[
        bool | UnsetType, doc("Disable kube-proxy", "Run without kube-proxy (a CNI replaces it)." + _PASSED)
    ] = UNSET
    kube_proxy_extra_args: Annotated[
        dict[str, Any] | UnsetType, doc("kube-proxy arguments", "More kube-proxy flags." + _PASSED)
    ] = UNSET
    etcd_external: Annotated[
        bool | UnsetType, doc("External etcd", "Use an etcd outside the control plane." + _PASSED)
    ] = UNSET
    etcd_endpoints: Annotated[
        tuple[str, ...] | UnsetType, doc("etcd endpoints", "The external etcd's endpoints." + _PASSED)
    ] = UNSET
    etcd_ca_file: Annotated[
        str | None | UnsetType, doc("etcd CA file", "Path on the node of the external etcd's CA." + _PASSED)
    ] = UNSET
    etcd_cert_file: Annotated[
        str | None | UnsetType,
        doc("etcd certificate file", "Path on the node of the etcd client certificate." + _PASSED),
    ] = UNSET
    etcd_key_file: Annotated[
        str | None | UnsetType, doc("etcd key file", "Path on the node of the etcd client key." + _PASSED)
    ] = UNSET


class PKI(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """kubeadm certificates (servers only), pangea's names."""

    mode: Annotated[
        Literal["auto", "manual", "external"] | UnsetType,
        doc("Mode", "Who makes the certificates: kubeadm (auto), the operator (manual) or an external CA." + _PASSED),
    ] = UNSET
    cert_validity_days: Annotated[
        Annotated[int, Meta(ge=1)] | UnsetType, doc("Validity (days)", "Certificate lifetime." + _PASSED)
    ] = UNSET
    ca_cert_path: Annotated[str | None | UnsetType, doc("CA certificate path", "Path on the node." + _PASSED)] = UNSET
    ca_key_path: Annotated[str | None | UnsetType, doc("CA key path", "Path on the node." + _PASSED)] = UNSET
    api_server_extra_sans: Annotated[
        tuple[str, ...] | UnsetType, doc("API server SANs", "More names in the API server certificate." + _PASSED)
    ] = UNSET
    cert_dir: Annotated[str | UnsetType, doc("Certificate directory", "Where kubeadm keeps them." + _PASSED)] = UNSET


class Etcd(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The control plane's etcd (servers only), pangea's names."""

    initial_cluster_state: Annotated[
        Literal["new", "existing"] | UnsetType,
        doc("Initial cluster state", "etcd's --initial-cluster-state." + _PASSED),
    ] = UNSET
    data_dir: Annotated[str | UnsetType, doc("Data directory", "etcd's data directory." + _PASSED)] = UNSET
    external_endpoints: Annotated[
        tuple[str, ...] | UnsetType, doc("External endpoints", "Endpoints of an external etcd." + _PASSED)
    ] = UNSET
    snapshot_count: Annotated[int | None | UnsetType, doc("Snapshot count", "etcd's --snapshot-count." + _PASSED)] = (
        UNSET
    )
    heartbeat_interval: Annotated[
        int | None | UnsetType, doc("Heartbeat interval (ms)", "etcd's --heartbeat-interval." + _PASSED)
    ] = UNSET
    election_timeout: Annotated[
        int | None | UnsetType, doc("Election timeout (ms)", "etcd's --election-timeout." + _PASSED)
    ] = UNSET
    ca_file: Annotated[str | None | UnsetType, doc("CA file", "Path on the node." + _PASSED)] = UNSET
    cert_file: Annotated[str | None | UnsetType, doc("Certificate file", "Path on the node." + _PASSED)] = UNSET
    key_file: Annotated[str | None | UnsetType, doc("Key file", "Path on the node." + _PASSED)] = UNSET


_SERVERS = " Servers only."
_NODES = " Servers and workers."


class _DistributionOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Options both distributions share (pangea's K3sConfig fields)."""

    cluster_cidr: Annotated[
        str | None | UnsetType,
        doc(
            "Cluster CIDR",
            "The pods' range; network.pod_cidr sets it too (they may not disagree)." + _PASSED + _SERVERS,
        ),
    ] = UNSET
    service_cidr: Annotated[
        str | None | UnsetType,
        doc("Service CIDR", "The services' range; network.service_cidr sets it too." + _PASSED + _SERVERS),
    ] = UNSET
    cluster_dns: Annotated[
        str | None | UnsetType, doc("Cluster DNS", "The cluster DNS service address." + _PASSED + _SERVERS)
    ] = UNSET
    node_name: Annotated[
        str | None | UnsetType,
        doc("Node name", "pangea's node name (kindling names nodes CLUSTER-ROLE-INDEX)." + _PASSED + _SERVERS),
    ] = UNSET
    node_labels: Annotated[
        dict[str, str] | UnsetType,
        doc("Node labels", "Labels for every node; each pool adds its own labels." + _PASSED + _NODES),
    ] = UNSET
    node_taints: Annotated[
        tuple[str, ...] | UnsetType,
        doc("Node taints", "Taints as key=value:Effect for every node; each pool adds its own." + _PASSED + _NODES),
    ] = UNSET
    node_ip: Annotated[str | None | UnsetType, doc("Node IP", "The node's address." + _PASSED + _SERVERS)] = UNSET
    extra_flags: Annotated[
        tuple[str, ...] | UnsetType, doc("Extra flags", "More command-line flags." + _PASSED + _SERVERS)
    ] = UNSET
    data_dir: Annotated[
        str | None | UnsetType, doc("Data directory", "The distribution's state directory." + _PASSED + _NODES)
    ] = UNSET
    config_path: Annotated[
        str | None | UnsetType, doc("Config path", "The distribution's config file." + _PASSED + _SERVERS)
    ] = UNSET
    environment_file: Annotated[
        str | None | UnsetType, doc("Environment file", "A file of environment variables." + _PASSED + _SERVERS)
    ] = UNSET
    containerd_config_template: Annotated[
        str | None | UnsetType, doc("containerd template", "A containerd config template." + _PASSED + _NODES)
    ] = UNSET
    disable: Annotated[
        tuple[str, ...] | UnsetType,
        doc("Disable", "Packaged components not to deploy." + _PASSED + _SERVERS, ["traefik", "servicelb"]),
    ] = UNSET
    extra_kubelet_config: Annotated[
        dict[str, Any] | UnsetType,
        doc("Kubelet config", "More kubelet settings; a pool's max_pods adds max-pods." + _PASSED + _NODES),
    ] = UNSET
    extra_kube_proxy_config: Annotated[
        dict[str, Any] | UnsetType, doc("kube-proxy config", "More kube-proxy settings." + _PASSED + _NODES)
    ] = UNSET
    manifests: Annotated[
        dict[str, Any] | UnsetType,
        doc("Manifests", "Kubernetes manifests to deploy, by name." + _PASSED + _SERVERS),
    ] = UNSET
    firewall: Annotated[
        Firewall | None | UnsetType, doc("Node firewall", "The node's own firewall." + _PASSED + _SERVERS)
    ] = UNSET
    kernel: Annotated[Kernel | None | UnsetType, doc("Kernel", "Kernel modules and sysctls." + _PASSED + _NODES)] = (
        UNSET
    )
    wait_for_dns: Annotated[
        WaitForDNS | None | UnsetType, doc("Wait for DNS", "Wait for a name before starting." + _PASSED + _NODES)
    ] = UNSET
    nvidia_enable: Annotated[
        bool | UnsetType, doc("NVIDIA", "NVIDIA drivers and container runtime." + _PASSED + _NODES)
    ] = UNSET
    graceful_node_shutdown: Annotated[
        bool | UnsetType, doc("Graceful shutdown", "The kubelet's graceful node shutdown." + _PASSED + _NODES)
    ] = UNSET


class K3sOptions(_DistributionOptions, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``nixos.k3s``: pangea's K3sConfig, plus ``tls_san`` (which kindling applies).

    Passed to servers as written (workers get the node-level options only). The node
    agent kindling 0.3.0 applies only ``tls_san`` itself; the other fields are for the
    image's NixOS k3s module.
    """

    disable_agent: Annotated[
        bool | UnsetType, doc("Disable agent", "Servers run no workloads (k3s --disable-agent)." + _PASSED + _SERVERS)
    ] = UNSET
    tls_san: Annotated[
        tuple[str, ...] | UnsetType,
        doc(
            "TLS SANs",
            "More names in the API server certificate (k3s tls-san; kindling applies it); nixk8s adds the "
            "API load balancer's address where nodes join through one." + _SERVERS,
            ["k8s.example.com"],
        ),
    ] = UNSET


class KubernetesOptions(_DistributionOptions, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``nixos.kubernetes``: pangea's VanillaKubernetesConfig, plus ``version``.

    ``version`` is the kubeadm ``kubernetesVersion``; it defaults to the spec's
    ``kubernetes_version`` as ``MAJOR.MINOR.0`` so that kubeadm never falls back to
    its own default release. ``cluster_cidr`` reaches kubeadm as ``pod_cidr``.
    """

    control_plane: Annotated[
        ControlPlane | None | UnsetType, doc("Control plane", "kubeadm control-plane settings." + _SERVERS)
    ] = UNSET
    pki: Annotated[PKI | None | UnsetType, doc("PKI", "kubeadm certificates." + _SERVERS)] = UNSET
    etcd: Annotated[Etcd | None | UnsetType, doc("etcd", "The control plane's etcd." + _SERVERS)] = UNSET
    version: Annotated[
        str | None | UnsetType,
        doc(
            "Version", "kubeadm's kubernetesVersion; default: kubernetes_version as MAJOR.MINOR.0." + _SERVERS, "1.34.1"
        ),
    ] = UNSET


# Options a worker node may receive: node-level settings only (DESIGN §3).
AGENT_OPTION_FIELDS: frozenset[str] = frozenset(
    {
        "node_labels",
        "node_taints",
        "extra_kubelet_config",
        "extra_kube_proxy_config",
        "kernel",
        "containerd_config_template",
        "data_dir",
        "nvidia_enable",
        "graceful_node_shutdown",
        "wait_for_dns",
    }
)


# --- secrets -----------------------------------------------------------------------


class SecretRef(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A secret given by reference: ``{var: NAME}`` becomes a sensitive Terraform variable.

    The compiler never sees the value, so it sizes every node's user_data with the
    variable's budget: ``max_length`` characters once JSON-escaped (default 512 for
    tokens, passwords and keys; 6,144 for certificates and their keys). A validation
    block on the variable enforces it at plan time.
    """

    var: Annotated[
        TerraformVarName,
        doc(
            "Variable",
            "The Terraform variable that holds the secret (set it with TF_VAR_NAME); one per secret",
            "k3s_token",
        ),
    ]
    max_length: Annotated[
        Annotated[int, Meta(ge=1, le=65_536)] | None,
        doc("Maximum length", "The value's size budget, JSON-escaped; null: 512, or 6,144 for certificates and keys"),
    ] = None


Secret = str | SecretRef


class SecretPaths(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Paths of sops-nix decrypted files on the node. Never secret values.

    Sent to servers only, under ``secrets``; the fluxcd block's file paths win over these.
    """

    flux_ssh_key_path: Annotated[str | None, doc("Flux SSH key path", "The Git SSH key for Flux")] = None
    flux_token_path: Annotated[str | None, doc("Flux token path", "The Git token for Flux")] = None
    sops_age_key_path: Annotated[str | None, doc("Age key path", "The SOPS age key")] = None
    join_token_path: Annotated[
        str | None,
        doc("Join token path", "The join token; counts as the join credential when bootstrap_secrets has none"),
    ] = None
    extra_paths: Annotated[
        dict[str, str], doc("Extra paths", "More name to path entries, merged into the node's secrets")
    ] = {}


class NixOS(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The NixOS side: the image every node boots, and what the node's modules receive."""

    image_id: Annotated[
        str | None,
        doc(
            "Image",
            "The NixOS image for every node; the provider block's own image field wins (hcloud.image, "
            "aws.ami_id or aws.ssm_ami_parameter, gcp.image, azure.image_id). No cloud has a public NixOS image, so one of them is required",
        ),
    ] = None
    flake_url: Annotated[
        str | None, doc("Flake URL", "pangea's field; accepted, and not used by nixk8s (the image carries the system)")
    ] = None
    extra_modules: Annotated[
        tuple[str, ...], doc("Extra modules", "pangea's field; accepted, and not used by nixk8s")
    ] = ()
    k3s: Annotated[K3sOptions | None, doc("k3s options", "k3s settings for the nodes (distribution k3s only)")] = None
    kubernetes: Annotated[
        KubernetesOptions | None,
        doc("Kubernetes options", "kubeadm settings for the nodes (distribution kubernetes only)"),
    ] = None
    secrets: Annotated[SecretPaths | None, doc("Secret paths", "Paths of decrypted secret files on the servers")] = None
    kindling_mode: Annotated[
        KindlingMode | None,
        doc(
            "kindling mode",
            "How the image's kindling reads the node's config where the cloud lets it read user_data without "
            "running it (EC2): init reads the config embedded in user_data and never runs the script, so "
            "machines built from one template (which take their node_index when the script runs) would all "
            "boot as index 0, and #cloud-config is refused; legacy-bootstrap waits for cloud-init to write the "
            "file, so both work. Elsewhere kindling always waits for cloud-init. null: not stated (a warning "
            "says what depends on it)",
            "legacy-bootstrap",
        ),
    ] = None


# --- VPN and persistent state (pangea VpnConfig / PersistentStateConfig) -----------


class VpnPeer(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One WireGuard peer of a link."""

    public_key: Annotated[str, doc("Public key", "The peer's WireGuard public key (44 characters of base64)")]
    endpoint: Annotated[
        str | None,
        doc("Endpoint", "HOST:PORT or [IPv6]:PORT; null for a peer that connects in", "vpn.example.com:51820"),
    ] = None
    allowed_ips: Annotated[
        tuple[str, ...],
        doc("Allowed IPs", "CIDRs routed to the peer; at least one, and no /0 (the node refuses a full tunnel)"),
    ] = ()
    persistent_keepalive: Annotated[
        Annotated[int, Meta(ge=0, le=65535)] | None, doc("Keepalive (s)", "WireGuard persistent keepalive")
    ] = None
    preshared_key_file: Annotated[
        str | None, doc("Preshared key file", "Path on the node of the preshared key; required by the node's VPN check")
    ] = None


class VpnFirewall(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What the node's firewall lets in over the link."""

    trust_interface: Annotated[
        bool, doc("Trust interface", "Accept everything on the link's interface; must be false for k8s-* profiles")
    ] = False
    allowed_tcp_ports: Annotated[tuple[Port, ...], doc("TCP ports", "TCP ports open on the interface")] = ()
    allowed_udp_ports: Annotated[tuple[Port, ...], doc("UDP ports", "UDP ports open on the interface")] = ()
    incoming_udp_port: Annotated[
        Port | None,
        doc("Incoming UDP port", "The WireGuard port opened to the world; required when listen_port is set"),
    ] = None


class VpnLink(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One WireGuard interface; the node refuses a link that lacks a required part."""

    name: Annotated[str, doc("Name", "The interface name: 1-15 characters of [A-Za-z0-9-]", "wg0")]
    private_key_file: Annotated[
        str | None, doc("Private key file", "Path on the node of the private key; required by the node's VPN check")
    ] = None
    listen_port: Annotated[Port | None, doc("Listen port", "0 or 1024-65535")] = None
    address: Annotated[str | None, doc("Address", "The interface's ADDRESS/PREFIX; required", "10.100.0.1/24")] = None
    profile: Annotated[
        Literal["k8s-control-plane", "k8s-full", "site-to-site", "mesh"] | None,
        doc("Profile", "What the link carries; k8s-* profiles need allowed ports and no trusted interface"),
    ] = None
    persistent_keepalive: Annotated[
        Annotated[int, Meta(ge=0, le=65535)] | None, doc("Keepalive (s)", "The default keepalive for its peers")
    ] = None
    mtu: Annotated[Annotated[int, Meta(ge=1280, le=9000)] | None, doc("MTU", "The interface MTU")] = None
    peers: Annotated[tuple[VpnPeer, ...], doc("Peers", "At least one; each public key once")] = ()
    firewall: Annotated[VpnFirewall | None, doc("Firewall", "The link's firewall rules; required")] = None


class Vpn(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """WireGuard links on the servers (pangea's VpnConfig); workers never receive it."""

    require_liveness: Annotated[
        bool, doc("Require liveness", "The node fails its bootstrap when WireGuard is not up within 60 s")
    ] = False
    links: Annotated[
        tuple[VpnLink, ...], doc("Links", "The WireGuard interfaces; each name, port and address once")
    ] = ()


class PersistentState(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An EBS volume the servers keep across replacement (pangea's PersistentStateConfig).

    AWS only: kindling finds the volume by tag through EC2 and attaches it; an error on
    other backends. Sent to servers as written.
    """

    size_gb: Annotated[int, Meta(ge=8), doc("Size (GB)", "The volume's size")] = 50
    volume_type: Annotated[
        Literal["gp3", "gp2", "io1", "io2", "st1", "sc1"], doc("Volume type", "The EBS volume type")
    ] = "gp3"
    mount_path: Annotated[str, doc("Mount path", "Where the node mounts it")] = "/var/lib/rancher/k3s"
    filesystem: Annotated[Literal["ext4", "xfs"], doc("Filesystem", "The filesystem made on it")] = "ext4"
    discovery_tag: Annotated[str, doc("Discovery tag", "The tag key kindling finds the volume by")] = (
        "PersistentStateFor"
    )
    encrypted: Annotated[bool, doc("Encrypted", "EBS encryption")] = True
    kms_key_id: Annotated[str | None, doc("KMS key", "The KMS key for encryption; null: the AWS-managed key")] = None
    iops: Annotated[int | None, doc("IOPS", "Provisioned IOPS (gp3, io1, io2)")] = None
    throughput: Annotated[int | None, doc("Throughput (MiB/s)", "Provisioned throughput (gp3)")] = None
    availability_zone: Annotated[
        str | None, doc("Availability zone", "The volume's zone; a server can attach it only in that zone")
    ] = None


# --- etcd snapshots (k3s) ----------------------------------------------------------------


class EtcdS3(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An S3-compatible store for the servers' etcd snapshots (k3s ``etcd-s3-*``).

    With ``access_key`` and ``secret_key`` it is a store of your own (``bucket``
    required). Without them, the cloud makes a bucket that only the servers may use,
    where the backend can (AWS: a private, encrypted, versioned S3 bucket and a role
    policy for that bucket alone); elsewhere that is an error.
    """

    endpoint: Annotated[
        str | None,
        doc(
            "Endpoint",
            "The store's host[:port] (etcd-s3-endpoint); null: k3s's default (AWS S3) with keys, the "
            "made bucket's regional endpoint without",
            "minio.example.com:9000",
        ),
    ] = None
    bucket: Annotated[
        str | None,
        doc("Bucket", "The bucket (etcd-s3-bucket); required with keys, left out for a bucket the cloud makes"),
    ] = None
    region: Annotated[
        str | None,
        doc("Region", "The bucket's region (etcd-s3-region); null: k3s's default, or the cluster's region for a made bucket"),
    ] = None
    folder: Annotated[
        str | None, doc("Folder", "A folder (key prefix) in the bucket for the snapshots (etcd-s3-folder)", "demo")
    ] = None
    access_key: Annotated[
        Secret | None,
        doc(
            "Access key",
            "The store's access key id (etcd-s3-access-key): a literal or {var: NAME}, a sensitive variable. "
            "Servers only, never an agent or an output",
        ),
    ] = None
    secret_key: Annotated[
        Secret | None,
        doc("Secret key", "The store's secret key (etcd-s3-secret-key), like access_key; given with it"),
    ] = None

    @property
    def has_keys(self) -> bool:
        """Whether the spec gives credentials (else the cloud's own bucket is meant)."""
        return self.access_key is not None or self.secret_key is not None


class EtcdSnapshots(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """etcd snapshots of the k3s servers: how often, how many are kept, and where.

    Written into every server's k3s drop-in (etcd-snapshot-schedule-cron,
    etcd-snapshot-retention, etcd-s3-*), never an agent's. Without ``s3`` they stay on
    each server's disk (under k3s's data-dir). k3s only: kubeadm is refused.
    """

    schedule: Annotated[
        str,
        Meta(min_length=1, max_length=128),
        doc("Schedule", "When to take a snapshot: a cron expression (etcd-snapshot-schedule-cron)", "0 */6 * * *"),
    ] = "0 */12 * * *"
    retention: Annotated[
        int, Meta(ge=1, le=10_000), doc("Retention", "How many snapshots to keep (etcd-snapshot-retention)")
    ] = 5
    s3: Annotated[
        EtcdS3 | None,
        doc("S3", "Also upload each snapshot to an S3-compatible store; null: on the servers' disks only"),
    ] = None


# --- the cluster -------------------------------------------------------------------


class _ClusterSpec(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One Kubernetes cluster of NixOS machines on one cloud."""

    name: Annotated[
        ClusterName, doc("Cluster name", "Used in every resource name and in the nodes' host names", "demo")
    ]
    backend: Annotated[
        BackendName,
        doc(
            "Backend",
            "The cloud: aws, gcp, azure or hcloud (pangea's aws_nixos, gcp_nixos, azure_nixos and hcloud_k3s too)",
        ),
    ]
    region: Annotated[
        str,
        Meta(min_length=1),
        doc("Region", "AWS region, GCP region, Azure location or Hetzner location", "nbg1", "eu-central-1"),
    ]
    node_pools: Annotated[
        tuple[NodePool, ...],
        Meta(min_length=1),
        doc("Node pools", "At least one; the pool named system (else the first) is the control plane"),
    ]
    distribution: Annotated[Distribution, doc("Distribution", "k3s, or kubernetes (kubeadm)")] = "k3s"
    distribution_track: Annotated[
        str | None,
        doc("Distribution track", "Sent to every node (kindling parses it, unused); null: kubernetes_version"),
    ] = None
    kubernetes_version: Annotated[
        KubernetesVersion,
        doc("Kubernetes version", "MAJOR.MINOR, quoted in YAML (1.30 unquoted is the number 1.3)", "1.34"),
    ] = "1.34"
    profile: Annotated[
        Profile, doc("Profile", "The node image's profile: CNI and hardening (decides some private ports)")
    ] = "cloud-server"
    user_data_format: Annotated[
        UserDataFormat | None,
        doc(
            "user_data format",
            "How the config reaches the node: a shell script or cloud-config. null: the backend's default "
            "(shell on AWS, whose kindling init mode rejects #cloud-config; cloud-config elsewhere)",
        ),
    ] = None
    network: Annotated[
        Network | None, doc("Network", "A private network for the cluster; null: see the Network description")
    ] = None
    access: Annotated[Access, doc("Access", "Who may reach SSH, the API and HTTP(S); default: anywhere")] = Access()
    api_load_balancer: Annotated[
        ApiLoadBalancer,
        doc(
            "API load balancer",
            "A load balancer in front of the control plane that nodes join through. auto: a private one "
            "always on AWS, and for 2 or more servers on GCP, Azure and Hetzner (Hetzner: with a network); "
            "private: one even for a single server; public: a private one and one for kubectl (Hetzner: one "
            "with a public interface, which cannot filter access.api_sources); none: nodes join server 0 "
            "(refused on AWS)",
        ),
    ] = "auto"
    initialized: Annotated[
        bool,
        doc(
            "Initialized",
            "Whether the cluster exists: set it to true after the first apply. false: server 0 initialises a "
            "new cluster at its first boot (cluster_init), so a replaced server 0 would form a new, empty "
            "cluster. true: no node initialises one, and server 0 joins the others (through the API load "
            "balancer where a server can reach the others through it, else another server's address). "
            "Needs two or more servers: a single server has no other to join",
        ),
    ] = False
    gitops_operator: Annotated[
        GitopsOperator,
        doc("GitOps operator", "fluxcd (settings in the fluxcd block), argocd (needs the argocd block) or none"),
    ] = "fluxcd"
    fluxcd: Annotated[FluxCD | None, doc("Flux", "Flux settings; only with gitops_operator fluxcd")] = None
    argocd: Annotated[ArgoCD | None, doc("Argo CD", "Argo CD settings; only with gitops_operator argocd")] = None
    nixos: Annotated[NixOS, doc("NixOS", "The image and what the node's NixOS modules receive")] = NixOS()
    bootstrap_secrets: Annotated[
        dict[str, Secret],
        doc(
            "Bootstrap secrets",
            "Secrets the node agent writes at first boot, by kindling's key names. Each is a literal string or "
            "{var: NAME}, a sensitive Terraform variable (never in the output). Servers get all; workers only "
            "the join credential (k3s_server_token or kubeadm_token) and nix_github_token. Nodes that join "
            "need the join credential: with credentials generated, Terraform makes one where it is left out",
            {"k3s_server_token": {"var": "k3s_token"}},
        ),
    ] = {}
    credentials: Annotated[
        CredentialsMode,
        doc(
            "Credentials",
            "generated: Terraform makes the cluster's certificate authorities and service-account key (servers "
            "only), an admin kubeconfig (the sensitive output kubeconfig) and the join credential the spec leaves "
            "out; they live in the Terraform state, so keep it encrypted. external: the node agent gets only the "
            "bootstrap_secrets given here, and there is no kubeconfig output",
        ),
    ] = "generated"
    vpn: Annotated[Vpn | None, doc("VPN", "WireGuard links on the servers")] = None
    persistent_state: Annotated[
        PersistentState | None, doc("Persistent state", "A volume the servers keep (AWS only)")
    ] = None
    etcd_snapshots: Annotated[
        EtcdSnapshots | None,
        doc(
            "etcd snapshots",
            "k3s etcd snapshots on the servers: schedule, retention, an S3-compatible target; null: k3s's "
            "defaults (every 12 hours, 5 kept, on each server's disk)",
        ),
    ] = None
    tags: Annotated[
        dict[str, str],
        doc(
            "Tags",
            "Merged into every resource's tags or labels after nixk8s' own (KubernetesCluster, Backend, "
            "ManagedBy); each cloud's key and value rules are checked",
            {"team": "platform"},
        ),
    ] = {}

    @property
    def system_pool_index(self) -> int:
        """Index of the control-plane pool: the pool named ``system``, else the first."""
        return next((i for i, p in enumerate(self.node_pools) if p.name == "system"), 0)

    @property
    def system_pool(self) -> NodePool:
        return self.node_pools[self.system_pool_index]

    @property
    def worker_pools(self) -> tuple[tuple[int, NodePool], ...]:
        """Every other pool, with its index in ``node_pools`` (for error paths)."""
        cp = self.system_pool_index
        return tuple((i, p) for i, p in enumerate(self.node_pools) if i != cp)

    @property
    def control_plane_count(self) -> int:
        return max(self.system_pool.min_size, 1)

    @property
    def track(self) -> str:
        return self.distribution_track or self.kubernetes_version


def _with_provider_blocks(base: type[_ClusterSpec]) -> type[_ClusterSpec]:
    """The spec with one optional provider block per cloud in the catalog, after the
    cloud-neutral fields: ``aws: {...}``, ``hcloud: {...}``, each the cloud's own struct."""
    blocks = [
        (c.name, Annotated[c.options | None, doc(c.title, c.options_description)], None) for c in catalog.CLOUDS
    ]
    spec: type[_ClusterSpec] = msgspec.defstruct(  # type: ignore[assignment]  # defstruct returns type[Struct]
        "ClusterSpec", blocks, bases=(base,), module=__name__, frozen=True, forbid_unknown_fields=True, kw_only=True
    )
    spec.__doc__ = base.__doc__
    return spec


if TYPE_CHECKING:  # a cloud's code reads its own block through its options module's ``given``
    ClusterSpec = _ClusterSpec
else:
    ClusterSpec = _with_provider_blocks(_ClusterSpec)

#: the spec's provider blocks, one per cloud: the block named for the backend is the only one allowed
PROVIDER_BLOCKS: tuple[str, ...] = catalog.NAMES
