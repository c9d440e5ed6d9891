"""ClusterSpec → ClusterPlan: every backend-neutral decision, made once.

The plan is what the backends build from: the port table, the secret variables, the
user_data format and the tags every resource carries. Per-node configs need the
backend's join address and network id, so the shared pipeline in
:mod:`nixk8s.backends.base` makes them.
"""

from __future__ import annotations

import msgspec

from nixk8s.ports import PortRule, cluster_ports
from nixk8s.secrets import secret_variables
from nixk8s.spec import ClusterSpec, UserDataFormat
from nixk8s.terraform import Variable


class ClusterPlan(msgspec.Struct, frozen=True):
    spec: ClusterSpec
    user_data_format: UserDataFormat
    ports: tuple[PortRule, ...]
    variables: tuple[Variable, ...]
    tags: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        return self.spec.name


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


def plan_cluster(spec: ClusterSpec, default_format: UserDataFormat) -> ClusterPlan:
    return ClusterPlan(
        spec=spec,
        user_data_format=spec.user_data_format or default_format,
        ports=cluster_ports(spec),
        variables=secret_variables(spec),
        tags=base_tags(spec),
    )
