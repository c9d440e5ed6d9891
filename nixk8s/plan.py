"""ClusterSpec → ClusterPlan: every backend-neutral decision, made once.

The plan is what the backends build from: the port table, the secret variables, the
user_data format, the tags every resource carries, and whether the control plane is
parked. Per-node configs need the backend's join address and network id, so the
shared pipeline in :mod:`nixk8s.backends.pipeline` makes them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from nixk8s.credentials import Generated, generated_credentials
from nixk8s.ports import PortRule, cluster_ports
from nixk8s.secrets import secret_variables
from nixk8s.spec import ClusterSpec, UserDataFormat
from nixk8s.terraform import Expr, Variable
from nixk8s.tokens import free_prefix, literal_strings

ApiBalancer = Literal["public", "private"]


class ClusterPlan(msgspec.Struct, frozen=True):
    spec: ClusterSpec
    user_data_format: UserDataFormat
    ports: tuple[PortRule, ...]
    variables: tuple[Variable, ...]
    tags: tuple[tuple[str, str], ...]
    # a system pool of min_size 0: the control plane's infrastructure is kept and no
    # server runs (backends that cannot park refuse such a spec)
    parked: bool
    # the load balancer in front of the servers' API, if any: "private" (inside the
    # cluster's network, for joins) or "public" (also an endpoint reachable from
    # outside). Nodes join through it; the servers' certificates name it.
    api_load_balancer: ApiBalancer | None
    # a word no literal of the spec contains, to mark the expressions in a node's JSON
    # (nixk8s.tokens); found once here rather than once per node
    expression_prefix: str
    # the API row is open to the cluster's network: nodes join from inside it through
    # a firewall that filters traffic inside the network too (ports.rule_sources)
    api_from_network: bool = False
    # what Terraform makes with credentials: generated (None: external)
    credentials: Generated | None = None

    @property
    def server_generated_secrets(self) -> tuple[tuple[str, Expr], ...]:
        """The bootstrap secrets Terraform makes for every server."""
        return () if self.credentials is None else self.credentials.server_secrets

    @property
    def agent_generated_secrets(self) -> tuple[tuple[str, Expr], ...]:
        """The bootstrap secrets Terraform makes for every agent: a made join credential."""
        return () if self.credentials is None else self.credentials.agent_secrets

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def joins_through_load_balancer(self) -> bool:
        return self.api_load_balancer is not None

    def tag_map(self, **own: str) -> dict[str, str]:
        """The base tags and the spec's tags, then a resource's own (``Name``, ``Role``...)."""
        return {**dict(self.tags), **own}


def base_tags(spec: ClusterSpec) -> tuple[tuple[str, str], ...]:
    """KubernetesCluster, Backend, ManagedBy, then the spec's tags sorted by key (which may override).

    The spec's tags are sorted so that the order an operator wrote them in never
    changes the output (AWS, for one, emits tags as an ordered list of blocks).

    >>> from nixk8s.spec import NodePool
    >>> base_tags(ClusterSpec(name="demo", backend="hcloud", region="nbg1",
    ...     node_pools=(NodePool(name="system", instance_types=("cx32",)),), tags={"team": "a"}))
    (('KubernetesCluster', 'demo'), ('Backend', 'hcloud'), ('ManagedBy', 'nixk8s'), ('team', 'a'))
    """
    base = {"KubernetesCluster": spec.name, "Backend": spec.backend, "ManagedBy": "nixk8s"}
    return tuple({**base, **dict(sorted(spec.tags.items()))}.items())


def lowercased_tags(spec: ClusterSpec) -> dict[str, str]:
    """The base tags and the spec's tags with their keys lowercased: the labels of the
    clouds whose labels nixk8s writes in lowercase (as pangea does).

    >>> from nixk8s.spec import NodePool
    >>> lowercased_tags(ClusterSpec(name="demo", backend="hcloud", region="nbg1",
    ...     node_pools=(NodePool(name="system", instance_types=("cx32",)),), tags={"Team": "a"}))
    {'kubernetescluster': 'demo', 'backend': 'hcloud', 'managedby': 'nixk8s', 'team': 'a'}
    """
    return {k.lower(): v for k, v in base_tags(spec)}


def api_balancer(spec: ClusterSpec, *, offered: bool, required: bool) -> ApiBalancer | None:
    """The API load balancer the spec gets: what it asks for, where the backend can.

    ``auto`` is a private balancer where the backend always joins through one, and
    for a control plane of two or more servers where it offers one; otherwise none.
    What the backend cannot give is refused by its capability check, not here.

    >>> from nixk8s.spec import NodePool
    >>> ha = ClusterSpec(name="demo", backend="hcloud", region="nbg1",
    ...     node_pools=(NodePool(name="system", instance_types=("cx32",), min_size=3),))
    >>> api_balancer(ha, offered=True, required=False), api_balancer(ha, offered=False, required=False)
    ('private', None)
    """
    asked = spec.api_load_balancer
    if asked == "public" or asked == "private":
        return asked
    if required or (asked == "auto" and offered and spec.control_plane_count >= 2):
        return "private"
    return None


def plan_cluster(
    spec: ClusterSpec,
    default_format: UserDataFormat,
    *,
    api_load_balancer: ApiBalancer | None = None,
    api_from_network: bool = False,
) -> ClusterPlan:
    """The plan of ``spec`` on a backend with this default format, balancer and firewall."""
    literals = list(literal_strings(msgspec.to_builtins(spec)))
    return ClusterPlan(
        spec=spec,
        user_data_format=spec.user_data_format or default_format,
        ports=cluster_ports(spec),
        variables=secret_variables(spec),
        tags=base_tags(spec),
        parked=spec.system_pool.min_size == 0,
        api_load_balancer=api_load_balancer,
        expression_prefix=free_prefix(literals),
        api_from_network=api_from_network,
        credentials=generated_credentials(spec),
    )
