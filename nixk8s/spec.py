"""The ClusterSpec: what an operator writes, as frozen msgspec structs.

Field names follow pangea-kubernetes' ``ClusterConfig`` so that its users can move
over. The structs are the documentation: each field's type carries its range
(``Meta``), each default is the one the compiler uses, and ``nixk8s schema`` prints
the JSON Schema generated from exactly these classes.

Rules that span fields (``max_size >= min_size``, CIDR containment, provider block
vs backend, ...) live in :mod:`nixk8s.load`, not here, so that a spec can be built
in code and checked by the same function that checks a file.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType


class Frozen(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every spec record: immutable, and unknown fields are errors."""


@functools.cache
def fields_of(struct: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    """A struct type's fields with their resolved types.

    msgspec resolves the annotations anew on every call (a few hundred microseconds);
    a type's fields never change, so they are resolved once per type.
    """
    return msgspec.structs.fields(struct)


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

BackendName = Literal["aws", "gcp", "azure", "hcloud"]
BACKEND_ALIASES: dict[str, BackendName] = {
    "aws_nixos": "aws",
    "gcp_nixos": "gcp",
    "azure_nixos": "azure",
    "hcloud_k3s": "hcloud",
}
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
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
Port = Annotated[int, Meta(ge=0, le=65535)]


# --- node pools --------------------------------------------------------------------


class Taint(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    key: str
    value: str = ""
    effect: TaintEffect = "NoSchedule"

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
    name: PoolName
    instance_types: Annotated[tuple[str, ...], Meta(min_length=1)]
    min_size: Annotated[int, Meta(ge=0)] = 1
    max_size: Annotated[int, Meta(ge=1)] = 3
    desired_size: Annotated[int, Meta(ge=0)] | None = None
    disk_size_gb: Annotated[int, Meta(ge=10)] = 20
    labels: dict[str, str] = {}
    taints: tuple[Taint, ...] = ()
    max_pods: Annotated[int, Meta(ge=1, le=2500)] | None = None
    ssh_keys: tuple[str, ...] = ()
    autoscale: bool = False

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
    vpc_cidr: str = "10.0.0.0/16"
    subnet_cidr: str | None = None
    pod_cidr: str | None = None
    service_cidr: str | None = None

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
    ssh_sources: tuple[str, ...] = ANYWHERE
    api_sources: tuple[str, ...] = ANYWHERE
    http_sources: tuple[str, ...] = ANYWHERE


# --- GitOps ------------------------------------------------------------------------


class FluxCD(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    source_url: str
    enabled: bool = True
    source_auth: Literal["ssh", "token"] = "ssh"
    source_branch: str = "main"
    source_interval: str = "1m0s"
    reconcile_path: str = "./"
    reconcile_interval: str = "2m0s"
    reconcile_prune: bool = True
    sops_enabled: bool = True
    known_hosts: str | None = None
    source_ssh_key_file: str | None = None
    source_token_file: str | None = None
    source_token_username: str = "git"
    sops_age_key_file: str | None = None


class ArgoCD(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    repo_url: str
    enabled: bool = True
    target_revision: str = "HEAD"
    path: str = "./"
    project: str = "default"
    sync_policy: Literal["automated", "manual"] = "automated"
    auto_prune: bool = True
    self_heal: bool = True
    auth_type: Literal["ssh", "token"] = "ssh"
    ssh_key_file: str | None = None
    token_file: str | None = None
    token_username: str = "git"
    sops_enabled: bool = False
    sops_age_key_file: str | None = None


# --- distribution options (passed through to the NixOS modules) -------------------
#
# Every field defaults to UNSET rather than to a value: these options go to the node
# as the operator wrote them, so presence must survive decoding. A field left out is
# left out on the node too, where the NixOS module's own default applies; a field
# written with the module's default value still reaches the node (that default may
# differ from pangea's, or change). null is accepted where pangea allows it and left
# out like an absent field (kindling never receives null).


class Firewall(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool | UnsetType = UNSET
    extra_tcp_ports: tuple[Port, ...] | UnsetType = UNSET
    extra_udp_ports: tuple[Port, ...] | UnsetType = UNSET
    trusted_cidrs: tuple[str, ...] | UnsetType = UNSET
    allow_intra_cluster: bool | UnsetType = UNSET


class Kernel(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    extra_modules: tuple[str, ...] | UnsetType = UNSET
    sysctl: dict[str, Any] | UnsetType = UNSET
    hardening: bool | UnsetType = UNSET


class WaitForDNS(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool | UnsetType = UNSET
    hostname: str | None | UnsetType = UNSET
    timeout_seconds: Annotated[int, Meta(ge=1)] | UnsetType = UNSET
    retry_interval: Annotated[int, Meta(ge=1)] | UnsetType = UNSET


class ControlPlane(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    api_server_extra_args: dict[str, Any] | UnsetType = UNSET
    api_server_extra_sans: tuple[str, ...] | UnsetType = UNSET
    controller_manager_extra_args: dict[str, Any] | UnsetType = UNSET
    scheduler_extra_args: dict[str, Any] | UnsetType = UNSET
    disable_kube_proxy: bool | UnsetType = UNSET
    kube_proxy_extra_args: dict[str, Any] | UnsetType = UNSET
    etcd_external: bool | UnsetType = UNSET
    etcd_endpoints: tuple[str, ...] | UnsetType = UNSET
    etcd_ca_file: str | None | UnsetType = UNSET
    etcd_cert_file: str | None | UnsetType = UNSET
    etcd_key_file: str | None | UnsetType = UNSET


class PKI(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    mode: Literal["auto", "manual", "external"] | UnsetType = UNSET
    cert_validity_days: Annotated[int, Meta(ge=1)] | UnsetType = UNSET
    ca_cert_path: str | None | UnsetType = UNSET
    ca_key_path: str | None | UnsetType = UNSET
    api_server_extra_sans: tuple[str, ...] | UnsetType = UNSET
    cert_dir: str | UnsetType = UNSET


class Etcd(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    initial_cluster_state: Literal["new", "existing"] | UnsetType = UNSET
    data_dir: str | UnsetType = UNSET
    external_endpoints: tuple[str, ...] | UnsetType = UNSET
    snapshot_count: int | None | UnsetType = UNSET
    heartbeat_interval: int | None | UnsetType = UNSET
    election_timeout: int | None | UnsetType = UNSET
    ca_file: str | None | UnsetType = UNSET
    cert_file: str | None | UnsetType = UNSET
    key_file: str | None | UnsetType = UNSET


class _DistributionOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Options both distributions share (pangea's K3sConfig fields)."""

    cluster_cidr: str | None | UnsetType = UNSET
    service_cidr: str | None | UnsetType = UNSET
    cluster_dns: str | None | UnsetType = UNSET
    node_name: str | None | UnsetType = UNSET
    node_labels: dict[str, str] | UnsetType = UNSET
    node_taints: tuple[str, ...] | UnsetType = UNSET
    node_ip: str | None | UnsetType = UNSET
    extra_flags: tuple[str, ...] | UnsetType = UNSET
    data_dir: str | None | UnsetType = UNSET
    config_path: str | None | UnsetType = UNSET
    environment_file: str | None | UnsetType = UNSET
    containerd_config_template: str | None | UnsetType = UNSET
    disable: tuple[str, ...] | UnsetType = UNSET
    extra_kubelet_config: dict[str, Any] | UnsetType = UNSET
    extra_kube_proxy_config: dict[str, Any] | UnsetType = UNSET
    manifests: dict[str, Any] | UnsetType = UNSET
    firewall: Firewall | None | UnsetType = UNSET
    kernel: Kernel | None | UnsetType = UNSET
    wait_for_dns: WaitForDNS | None | UnsetType = UNSET
    nvidia_enable: bool | UnsetType = UNSET
    graceful_node_shutdown: bool | UnsetType = UNSET


class K3sOptions(_DistributionOptions, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``nixos.k3s``: pangea's K3sConfig, plus ``tls_san`` (which kindling applies)."""

    disable_agent: bool | UnsetType = UNSET
    tls_san: tuple[str, ...] | UnsetType = UNSET


class KubernetesOptions(_DistributionOptions, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``nixos.kubernetes``: pangea's VanillaKubernetesConfig, plus ``version``.

    ``version`` is the kubeadm ``kubernetesVersion``; it defaults to the spec's
    ``kubernetes_version`` as ``MAJOR.MINOR.0`` so that kubeadm never falls back to
    its own default release.
    """

    control_plane: ControlPlane | None | UnsetType = UNSET
    pki: PKI | None | UnsetType = UNSET
    etcd: Etcd | None | UnsetType = UNSET
    version: str | None | UnsetType = UNSET


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

    var: TerraformVarName
    max_length: Annotated[int, Meta(ge=1, le=65_536)] | None = None


Secret = str | SecretRef


class SecretPaths(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Paths of sops-nix decrypted files on the node. Never secret values."""

    flux_ssh_key_path: str | None = None
    flux_token_path: str | None = None
    sops_age_key_path: str | None = None
    join_token_path: str | None = None
    extra_paths: dict[str, str] = {}


class NixOS(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    image_id: str | None = None
    flake_url: str | None = None
    extra_modules: tuple[str, ...] = ()
    k3s: K3sOptions | None = None
    kubernetes: KubernetesOptions | None = None
    secrets: SecretPaths | None = None


# --- VPN and persistent state (pangea VpnConfig / PersistentStateConfig) -----------


class VpnPeer(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    public_key: str
    endpoint: str | None = None
    allowed_ips: tuple[str, ...] = ()
    persistent_keepalive: Annotated[int, Meta(ge=0, le=65535)] | None = None
    preshared_key_file: str | None = None


class VpnFirewall(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    trust_interface: bool = False
    allowed_tcp_ports: tuple[Port, ...] = ()
    allowed_udp_ports: tuple[Port, ...] = ()
    incoming_udp_port: Port | None = None


class VpnLink(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str
    private_key_file: str | None = None
    listen_port: Port | None = None
    address: str | None = None
    profile: Literal["k8s-control-plane", "k8s-full", "site-to-site", "mesh"] | None = None
    persistent_keepalive: Annotated[int, Meta(ge=0, le=65535)] | None = None
    mtu: Annotated[int, Meta(ge=1280, le=9000)] | None = None
    peers: tuple[VpnPeer, ...] = ()
    firewall: VpnFirewall | None = None


class Vpn(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    require_liveness: bool = False
    links: tuple[VpnLink, ...] = ()


class PersistentState(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    size_gb: Annotated[int, Meta(ge=8)] = 50
    volume_type: Literal["gp3", "gp2", "io1", "io2", "st1", "sc1"] = "gp3"
    mount_path: str = "/var/lib/rancher/k3s"
    filesystem: Literal["ext4", "xfs"] = "ext4"
    discovery_tag: str = "PersistentStateFor"
    encrypted: bool = True
    kms_key_id: str | None = None
    iops: int | None = None
    throughput: int | None = None
    availability_zone: str | None = None


# --- provider blocks ---------------------------------------------------------------


class AwsOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    ami_id: str | None = None
    ssm_ami_parameter: str | None = None
    key_pair: str | None = None
    availability_zones: tuple[str, ...] = ()
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    instance_profile_policies: tuple[str, ...] = ()


GcpDiskType = Literal["pd-balanced", "pd-ssd", "hyperdisk-balanced"]


class GcpOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``gcp``: the project, and what GCP needs beyond the cloud-neutral spec.

    The GCP backend checks each field (formats, the region's zones, pool names) with
    its spec path: ``nixk8s/backends/gcp_checks.py``.
    """

    project: Annotated[str, Meta(description="the GCP project id the cluster lives in")]
    zones: Annotated[
        tuple[str, ...],
        Meta(description="zones to spread nodes over; default: the zones nixk8s knows for the region"),
    ] = ()
    image: Annotated[
        str | None,
        Meta(description="the NixOS image (NAME, family/NAME or projects/P/global/images/...); else nixos.image_id"),
    ] = None
    service_account_roles: Annotated[
        tuple[str, ...],
        Meta(description="IAM roles for the nodes' service account beyond logging.logWriter and monitoring.metricWriter"),
    ] = ()
    ssh_keys: Annotated[
        tuple[str, ...],
        Meta(description="SSH keys for every node in GCP metadata form: USER:ssh-ed25519 AAAA... comment"),
    ] = ()
    spot_pools: Annotated[
        tuple[str, ...], Meta(description="worker pools that run on Spot VMs (GCP may stop them at any time)")
    ] = ()
    shielded_vm: Annotated[
        bool, Meta(description="vTPM and integrity monitoring, Secure Boot off: needs a UEFI image")
    ] = False
    disk_type: GcpDiskType = "pd-balanced"
    flow_logs: Annotated[bool, Meta(description="VPC flow logs on the subnet (50% sampled; billed)")] = True


AzureZone = Literal["1", "2", "3"]
AzureDiskType = Literal["Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "StandardSSD_ZRS", "Premium_ZRS"]


class AzureOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``azure``: what Azure needs beyond the spec's common fields.

    ``admin_ssh_public_key`` is the key itself (one line of ``~/.ssh/id_ed25519.pub``),
    never a path: Terraform runs elsewhere. ``zones`` are the availability zones the
    nodes spread across (``[]`` in a region without zones). ``encryption_at_host``
    needs the subscription feature ``Microsoft.Compute/EncryptionAtHost``.
    ``replace_on_user_data_change``: servers are replaced when their custom_data,
    image or admin key change (otherwise those changes are ignored, as on Hetzner).
    """

    admin_ssh_public_key: str
    admin_username: str = "nixos"
    image_id: str | None = None
    resource_group_name: str | None = None
    zones: tuple[AzureZone, ...] = ("1", "2", "3")
    os_disk_type: AzureDiskType = "StandardSSD_LRS"
    encryption_at_host: bool = False
    replace_on_user_data_change: bool = False


class HcloudOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    image: str | None = None
    network_zone: str | None = None
    replace_on_user_data_change: bool = False


# --- the cluster -------------------------------------------------------------------


class ClusterSpec(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One Kubernetes cluster of NixOS machines on one cloud."""

    name: ClusterName
    backend: BackendName
    region: Annotated[str, Meta(min_length=1)]
    node_pools: Annotated[tuple[NodePool, ...], Meta(min_length=1)]
    distribution: Distribution = "k3s"
    distribution_track: str | None = None
    kubernetes_version: KubernetesVersion = "1.34"
    profile: Profile = "cloud-server"
    user_data_format: UserDataFormat | None = None
    network: Network | None = None
    access: Access = Access()
    api_load_balancer: ApiLoadBalancer = "auto"
    gitops_operator: GitopsOperator = "fluxcd"
    fluxcd: FluxCD | None = None
    argocd: ArgoCD | None = None
    nixos: NixOS = NixOS()
    bootstrap_secrets: dict[str, Secret] = {}
    vpn: Vpn | None = None
    persistent_state: PersistentState | None = None
    tags: dict[str, str] = {}
    aws: AwsOptions | None = None
    gcp: GcpOptions | None = None
    azure: AzureOptions | None = None
    hcloud: HcloudOptions | None = None

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


PROVIDER_BLOCKS: tuple[BackendName, ...] = ("aws", "gcp", "azure", "hcloud")
