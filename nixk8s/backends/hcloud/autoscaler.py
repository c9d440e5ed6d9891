"""Autoscaled Hetzner pools: the cluster-autoscaler creates their servers itself.

A pool with ``autoscale: true`` gets no servers from Terraform. The cluster-autoscaler's
Hetzner provider creates and deletes them from its cluster config
(``HCLOUD_CLUSTER_CONFIG``: per pool the image, the user_data, labels and taints),
which nixk8s compiles as the sensitive output ``hcloud_cluster_config`` (base64 of
the JSON, as the provider reads it). Such servers are not known at compile time, so
the pool's user_data reads its node index at boot from Hetzner's metadata service:
the server's private IPv4 address on the cluster's network (the shared probe).

The output ``cluster_autoscaler`` holds what else the autoscaler's deployment needs:
the network and firewall to put new servers in, and one ``--nodes`` flag per pool.
"""

from __future__ import annotations

from typing import Any

from nixk8s.index_probe import MetadataFetch
from nixk8s.plan import ClusterPlan
from nixk8s.render import WorkerPool
from nixk8s.spec import NodePool
from nixk8s.terraform import Expr, Fragment, Output, Resource

# the server's networks as a YAML list; the first is the cluster's (it has only one)
HETZNER_METADATA = MetadataFetch(
    service="Hetzner metadata service",
    url="http://169.254.169.254/hetzner/v1/metadata/private-networks",
    answer="private-networks ip",
    network="network",
    extract="awk '/^- ip: / { print $3; exit }'",
)

SIZE_OWNER = "the cluster-autoscaler (Hetzner provider, from the hcloud_cluster_config output)"


def autoscaled(pool: NodePool) -> bool:
    """Whether the cluster-autoscaler builds the pool's servers (from one template)."""
    return pool.autoscale


def size_owner(pool: NodePool) -> str | None:
    return SIZE_OWNER if pool.autoscale else None


def node_config_local(plan: ClusterPlan, pool: WorkerPool) -> str:
    """The Terraform local holding one pool's entry of the cluster config."""
    return f"{plan.name}_{pool.pool.name}_autoscaler"


def node_config(plan: ClusterPlan, pool: WorkerPool) -> Fragment:
    """One pool's entry of the cluster config: its user_data, labels and taints."""
    (template,) = pool.nodes
    spec_pool = pool.pool
    entry: dict[str, Any] = {
        "cloudInit": template.user_data,
        "labels": {**spec_pool.labels, "nixk8s.dev/pool": spec_pool.name},
        "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in spec_pool.taints],
    }
    return Fragment(locals=((node_config_local(plan, pool), entry),))


def outputs(
    plan: ClusterPlan, image: str, network: Resource | None, firewall: Resource, *, private: bool = False
) -> Fragment:
    """The cluster config (sensitive: the user_data holds the join token) and the rest of
    what the autoscaler's deployment needs; nothing where no pool is autoscaled."""
    pools = [pool for _, pool in plan.spec.worker_pools if pool.autoscale]
    if not pools:
        return Fragment()
    config = f"{plan.name}_autoscaler"
    value = {
        "imagesForArch": {"amd64": image, "arm64": image},
        "nodeConfigs": {pool.name: Expr(f"local.{plan.name}_{pool.name}_autoscaler") for pool in pools},
    }
    flags = [f"--nodes={p.min_size}:{p.max_size}:{p.instance_type}:{plan.spec.region}:{p.name}" for p in pools]
    deployment = {
        "HCLOUD_NETWORK": network.ref("id") if network else "",
        "HCLOUD_FIREWALL": firewall.ref("id"),
        "nodes": flags,
    }
    if private:
        # the autoscaler's servers have no public address either (private nodes)
        deployment |= {"HCLOUD_PUBLIC_IPV4": "false", "HCLOUD_PUBLIC_IPV6": "false"}
    return Fragment(
        locals=((config, value),),
        outputs=(
            Output(
                "hcloud_cluster_config",
                Expr(f"base64encode(jsonencode(local.{config}))"),
                "HCLOUD_CLUSTER_CONFIG for the cluster-autoscaler: the autoscaled pools' image, user_data, labels, taints",
                sensitive=True,
            ),
            Output(
                "cluster_autoscaler",
                deployment,
                "what the cluster-autoscaler's deployment needs besides HCLOUD_CLUSTER_CONFIG and HCLOUD_TOKEN",
            ),
        ),
    )
