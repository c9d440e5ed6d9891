"""The Backend record every NixOS backend is, and the records its hooks exchange.

A backend is a :class:`Backend`: a frozen record of pure hook functions, generic
over ``I``, the backend's own typed record of what its foundation built (network,
firewall, load balancer ids...). Hooks receive that record as an argument, so
nothing travels through tags or globals. A backend spells out what its cloud
builds; what most clouds do not need has a default.

The shared pipeline that runs the hooks, and the checks every backend shares, are
:mod:`nixk8s.backends.pipeline`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from nixk8s.cloud_init import BootStep
from nixk8s.etcd_snapshots import SnapshotBucket
from nixk8s.index_probe import IndexProbe, MetadataFetch, metadata_index_probe
from nixk8s.plan import ClusterPlan
from nixk8s.problems import Problem
from nixk8s.render import MachineNode as MachineNode  # the hooks' view of a rendered node and pool
from nixk8s.render import MachinePool as MachinePool
from nixk8s.render import RenderedNode as RenderedNode
from nixk8s.render import WorkerPool as WorkerPool
from nixk8s.spec import BackendName, ClusterSpec, NodePool, UserDataFormat
from nixk8s.terraform import Fragment, ProviderRequirement, Text

I = TypeVar("I")


class Egress(msgspec.Struct, frozen=True, kw_only=True):
    """How the nodes reach the internet, for ``explain``: in words, and the Terraform
    addresses of what carries the traffic out (a NAT gateway, a NAT machine's server)."""

    via: str
    resources: tuple[str, ...] = ()


class Foundation(msgspec.Struct, Generic[I], frozen=True, kw_only=True):
    """What a backend builds before any node: its resources, its typed handles to
    them, and the facts the shared stages need from it.

    ``join_host``: where nodes join (server 0's address, or a load balancer in front
    of the servers). ``private_cidr``: the cluster's own network, the only source of
    the private port rows (None: they stay closed). ``network_id``: what servers
    receive as ``network_id`` (None: left out). ``server_join_host``: where servers
    ≥ 1 join, where not at ``join_host`` (a backend VM cannot reach itself through a
    passthrough balancer's address). ``server_0_join_host``: where server 0 joins
    once the spec says the cluster is ``initialized``: the API balancer where a
    server's own connection through it reaches another server (it hairpins), else
    another server's fixed address; None where the cloud can name none here (such
    a spec is then refused at ``initialized``). ``api_names``: names the servers'
    API certificates must carry besides their own addresses (a balancer's, NATed
    public addresses). ``reserved_api_address``: the private address the subnet
    keeps for the API balancer, built yet or not, where the cloud fixes one before
    apply and no server holds it. ``balancer``: the API load balancer, where the
    plan has one. ``egress``: how nodes reach the internet (None: each through its
    own public address). ``node_access``: how an operator reaches a node that has no
    public address (None: at its public address, as the firewall allows).
    ``snapshot_bucket``: the bucket made for the servers' etcd snapshots, where the
    spec asks for one (``etcd_snapshots.s3`` without keys) and the cloud makes it.
    """

    fragment: Fragment
    infra: I
    join_host: Text
    private_cidr: Text | None = None
    network_id: Text | None = None
    server_join_host: Text | None = None
    server_0_join_host: Text | None = None
    api_names: tuple[Text, ...] = ()
    reserved_api_address: Text | None = None
    balancer: BalancerHandle | None = None
    egress: Egress | None = None
    node_access: str | None = None
    snapshot_bucket: SnapshotBucket | None = None

    @property
    def certificate_names(self) -> tuple[Text, ...]:
        """What every server's API certificate names besides its own addresses: the
        ``api_names``, and the reserved balancer address where they lack it.

        A certificate's names are fixed at the server's first boot: naming the
        reserved address from the first compile lets a cluster of one server grow
        to a balanced control plane without new certificates.

        >>> Foundation(fragment=Fragment(), infra=None, join_host="10.0.1.2",
        ...     reserved_api_address="10.0.1.254").certificate_names
        ('10.0.1.254',)
        """
        reserved = self.reserved_api_address
        if reserved is None or reserved in self.api_names:
            return self.api_names
        return (*self.api_names, reserved)

    def server_joins(self, plan: ClusterPlan) -> tuple[Text | None, ...]:
        """Where each server joins, in index order; None for the one that joins no
        one (server 0 of a cluster not yet ``initialized``, or where no join host
        exists for it: the pipeline refuses that spec)."""
        others = self.join_host if self.server_join_host is None else self.server_join_host
        first = self.server_0_join_host if plan.spec.initialized else None
        return (first, *(others for _ in range(1, plan.spec.control_plane_count)))


class NodeHandle(msgspec.Struct, frozen=True, kw_only=True):
    """Where a built node lives, as its hook built it: for outputs and ``explain``.

    ``resource`` is the Terraform address of the machine, or of the group that runs a
    template's machines; the addresses are known only where the hook fixed them.
    ``spread_group`` is the address of the group that spreads it across hosts, if any.
    """

    resource: str
    private_ip: Text | None = None
    public_ip: Text | None = None
    spread_group: str | None = None


class BalancerHandle(msgspec.Struct, frozen=True, kw_only=True):
    """The API load balancer a foundation built, for ``explain``: its Terraform
    address, where nodes reach it, and its public address (public balancers)."""

    resource: str
    private_address: Text
    public_address: Text | None = None

    @property
    def addresses(self) -> tuple[Text, ...]:
        """Every address the balancer is reached at: what the servers' API
        certificates must name for it."""
        return (self.private_address,) if self.public_address is None else (self.private_address, self.public_address)


class Placed(msgspec.Struct, frozen=True):
    """What a node hook built: its resources, and one handle per rendered node.

    For a pool built machine by machine, ``fragment`` holds the machines' resources
    and nothing else (in the compiler: one machine's, stamped for each), and
    ``shared`` what the pool has once (its spread groups).
    """

    fragment: Fragment
    handles: tuple[NodeHandle, ...]
    shared: Fragment = Fragment()


class UserDataLimit(msgspec.Struct, frozen=True):
    max_bytes: int
    what: str  # e.g. "Hetzner allows 32,768 bytes of user_data"


def no_fragment(plan: ClusterPlan, infra: object, node: RenderedNode) -> Fragment:
    """A post-instance hook that adds nothing."""
    return Fragment()


def every_pool(pool: NodePool) -> bool:
    """Every pool is built from a template."""
    return True


def builds_no_machine_pools(plan: ClusterPlan, infra: object, pool: MachinePool) -> Placed:
    """For a backend that builds every worker pool from a template."""
    raise NotImplementedError(f"this backend builds no pool machine by machine ({pool.path})")


def builds_no_template_pools(plan: ClusterPlan, infra: object, pool: WorkerPool) -> Placed:
    """For a backend that builds every worker pool machine by machine."""
    raise NotImplementedError(f"this backend builds no pool from a template ({pool.path})")


def sized_by_terraform(pool: NodePool) -> str | None:
    """Terraform sets every pool's size."""
    return None


def no_notes(plan: ClusterPlan, infra: object) -> tuple[str, ...]:
    """Nothing to tell the operator."""
    return ()


def builds_no_api_load_balancer(spec: ClusterSpec) -> str | None:
    """A backend that has no API load balancer yet."""
    return "this backend builds no API load balancer yet"


def builds_an_api_load_balancer(spec: ClusterSpec) -> str | None:
    """A backend that can put a balancer in front of any spec's servers (its network is
    always there)."""
    return None


def no_boot_steps(plan: ClusterPlan) -> tuple[BootStep, ...]:
    """Nodes need nothing before their config is written."""
    return ()


def no_provider_config(plan: ClusterPlan) -> Mapping[str, Any]:
    """A provider block that needs nothing from the spec."""
    return {}


class Backend(msgspec.Struct, Generic[I], frozen=True, kw_only=True):
    """What one cloud builds, as hook functions over typed data.

    Every hook is pure. ``plan`` is the backend-neutral :class:`ClusterPlan`, ``I``
    the backend's own record of what :attr:`foundation` built.
    """

    name: BackendName
    title: str
    provider: ProviderRequirement
    default_format: UserDataFormat
    user_data_limit: UserDataLimit

    check: Callable[[ClusterPlan], Iterable[Problem]]
    """The cloud's platform limits (DESIGN §7): receives the plan of a well-typed spec
    (whose cross-field rules may have failed: check defensively), yields each
    problem with its spec path."""

    foundation: Callable[[ClusterPlan], Foundation[I]]
    """Receives the plan; returns the resources built before any node (network,
    firewall, IAM, load balancer), the typed handles the node hooks need, and the
    join host, private CIDR and network id."""

    control_plane_node: Callable[[ClusterPlan, I, RenderedNode], Placed]
    """Receives one rendered server (its name, ordinal, config and user_data);
    returns its machine (or group of one) and that node's handle."""

    outputs: Callable[[ClusterPlan, I, tuple[NodeHandle, ...]], Fragment]
    """Receives the control-plane handles in index order; returns the outputs
    (``api_endpoint``, ``control_plane_addresses``, ``join_server``)."""

    worker_index_fetch: MetadataFetch | None = None
    """None: one machine per node, each with its own static index. Otherwise worker
    pools (those :attr:`templated_pool` chooses) are templates (ASG, MIG, VMSS)
    whose machines read their private IPv4 address through this fetch at boot and
    use it as their index."""

    templated_pool: Callable[[NodePool], bool] = every_pool
    """Receives a worker pool; returns whether the cloud builds it from one template
    (where :attr:`worker_index_fetch` is set), else machine by machine."""

    worker_pool: Callable[[ClusterPlan, I, WorkerPool], Placed] = builds_no_template_pools
    """Receives a worker pool built from one template (its one rendered node); returns
    its resources and the template's handle. A cloud provides this hook, or
    :attr:`machine_pool`, or both: whichever kinds of pool it builds."""

    machine_pool: Callable[[ClusterPlan, I, MachinePool], Placed] = builds_no_machine_pools
    """Receives a worker pool built machine by machine, with the machines to build
    and their spread groups; returns their resources (in ``fragment``, nothing else),
    one handle per machine, and what the pool has once (``shared``). The compiler
    gives it one machine whose per-machine values are slots, and stamps the result
    for each machine (:mod:`nixk8s.stamp`): build every machine alike, and never
    derive anything from its names (a hash, a length) but the names themselves."""

    spread_group_size: int | None = None
    """Where the cloud spreads a pool's machines in groups of limited size (Hetzner's
    placement groups hold 10), that size: machine ``i`` is in group ``i // size``."""

    api_load_balancer_required: bool = False
    """True where nodes always join through a load balancer in front of the servers
    (AWS: each control-plane index is a group whose replaced instance gets a new
    address), so that ``api_load_balancer: none`` is refused."""

    api_load_balancer_refusal: Callable[[ClusterSpec], str | None] = builds_no_api_load_balancer
    """Receives the spec; returns None where this cloud can put a load balancer in
    front of the spec's servers, else why not (``auto`` then builds none, and an
    explicit ``public`` or ``private`` is refused with this reason)."""

    public_api_balancer_filters_sources: bool = True
    """False where a public API balancer cannot be limited to ``access.api_sources``
    (Hetzner's load balancers take no firewall): an API open to the world then says
    to choose a private balancer instead."""

    firewall_filters_network: bool = False
    """True where the cloud's firewall filters traffic between the cluster's own
    machines too (GCP): the API row is then open to the cluster's network, from which
    nodes join server 0 at its private address (the plan records it)."""

    can_park_control_plane: bool = False
    """Whether a system pool of ``min_size: 0`` can keep its infrastructure with no
    running servers; elsewhere such a spec is refused."""

    supports_persistent_state: bool = False
    """Whether kindling can attach the spec's ``persistent_state`` volume here."""

    makes_snapshot_bucket: bool = False
    """Whether the foundation makes a bucket for the servers' etcd snapshots when the
    spec's ``etcd_snapshots.s3`` gives no keys (returned as
    :attr:`Foundation.snapshot_bucket`); elsewhere such a spec is refused."""

    image_requirements: tuple[str, ...] = ()
    """What this cloud's NixOS image must run besides kindling for the user_data to
    take effect (the agent that runs it, kindling's mode), for ``explain`` and
    ``docs/node-image.md``."""

    pool_size_owner: Callable[[NodePool], str | None] = sized_by_terraform
    """Receives a worker pool; returns who owns its size between min and max (an
    autoscaler, named for ``explain``), or None where Terraform sets it."""

    embedded_config_reader: str | None = None
    """Where the node agent has a boot mode that reads the config embedded in user_data
    without running it (kindling's EC2 init): that mode, named for warnings. Machines
    whose user_data derives their index at boot then need kindling's legacyBootstrap,
    and so does a user_data format other than :attr:`default_format`."""

    post_instance: Callable[[ClusterPlan, I, RenderedNode], Fragment] = no_fragment
    """Receives a rendered server after its machine; returns what follows it (for
    example its attachment to the network at a fixed address)."""

    notes: Callable[[ClusterPlan, I], tuple[str, ...]] = no_notes
    """Receives the plan and the foundation's record; returns what the operator
    should know before applying, for ``explain``."""

    boot_steps: Callable[[ClusterPlan], tuple[BootStep, ...]] = no_boot_steps
    """Receives the plan; returns what every node's user_data runs first, in both
    formats (e.g. a default route through the network's gateway where the cloud's DHCP
    gives none to a machine without a public address)."""

    provider_config: Callable[[ClusterPlan], Mapping[str, Any]] = no_provider_config
    """Receives the plan; returns the spec's part of the provider block (e.g. the
    AWS region), merged over ``provider.config``."""

    def provider_for(self, plan: ClusterPlan) -> ProviderRequirement:
        """The provider requirement with its block completed from the spec."""
        return msgspec.structs.replace(self.provider, config={**self.provider.config, **self.provider_config(plan)})

    @property
    def worker_index_probe(self) -> IndexProbe | None:
        """The boot-time probe of template-built workers, or None."""
        fetch = self.worker_index_fetch
        return None if fetch is None else metadata_index_probe(fetch)
