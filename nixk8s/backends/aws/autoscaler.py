"""Pools the cluster-autoscaler owns on AWS: how it finds their groups, and what it
needs to know of a pool's nodes before one exists.

A pool with ``autoscale: true`` carries the auto-discovery tags on its autoscaling
group, node-template tags for its labels and taints (so the autoscaler can scale it
up from zero), and Terraform ignores its desired capacity after creation. Other pools
keep the size the spec gives them.
"""

from __future__ import annotations

from nixk8s.spec import NodePool

AUTOSCALER_TAG = "k8s.io/cluster-autoscaler"


def cluster_autoscaler_tags(cluster: str, pool: NodePool) -> dict[str, str]:
    """The group's tags the cluster-autoscaler finds it by (auto-discovery), and those
    that tell it a new node's labels and taints before one exists (scale from zero).

    >>> from nixk8s.spec import Taint
    >>> sorted(cluster_autoscaler_tags("demo", NodePool(name="gpu", instance_types=("g5.xlarge",),
    ...     labels={"gpu": "true"}, taints=(Taint(key="nvidia.com/gpu", value="true"),))).items())[:2]
    [('k8s.io/cluster-autoscaler/demo', 'owned'), ('k8s.io/cluster-autoscaler/enabled', 'true')]
    """
    tags = {f"{AUTOSCALER_TAG}/enabled": "true", f"{AUTOSCALER_TAG}/{cluster}": "owned"}
    tags.update({f"{AUTOSCALER_TAG}/node-template/label/{k}": v for k, v in sorted(pool.labels.items())})
    tags.update({f"{AUTOSCALER_TAG}/node-template/taint/{t.key}": f"{t.value}:{t.effect}" for t in pool.taints})
    return tags


def size_owner(pool: NodePool) -> str | None:
    """Who sets the pool's size once it exists: Terraform (None), or the autoscaler."""
    return "the cluster-autoscaler (it finds the group by its discovery tags)" if pool.autoscale else None


def note(cluster: str, pools: list[str]) -> str:
    """What the operator still has to run for the autoscaled pools."""
    return (
        f"the cluster-autoscaler sizes pool(s) {', '.join(pools)} between min_size and max_size (Terraform "
        f"ignores their desired capacity after creation): run it with --cloud-provider=aws "
        f"--node-group-auto-discovery=asg:tag={AUTOSCALER_TAG}/enabled,{AUTOSCALER_TAG}/{cluster} and give it "
        "the autoscaling permissions the nodes' role deliberately lacks (IRSA or Pod Identity)"
    )
