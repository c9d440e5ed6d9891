"""GCP's machines: one instance per server at a fixed address in its zone, and a regional
managed instance group from an instance template per worker pool; workers read their
index from the metadata server.
"""

from __future__ import annotations

from typing import Any

from nixk8s import names
from nixk8s.backends.base import NodeHandle, Placed, RenderedNode, WorkerPool
from nixk8s.backends.gcp.checks import options, server_zones, ssh_keys
from nixk8s.backends.gcp.foundation import GcpInfra
from nixk8s.index_probe import MetadataFetch
from nixk8s.plan import ClusterPlan
from nixk8s.spec import ClusterSpec, NodePool
from nixk8s.terraform import Expr, Fragment, Resource, Template, ref

# A template name_prefix of at most 37 characters keeps the provider's long unique
# suffix (a 38-54 character prefix gets a short, collision-prone one).
NAME_PREFIX_LIMIT = 37


# The group appends "-xxxx" to this to name its machines (each name ≤ 63).
BASE_INSTANCE_NAME_LIMIT = 58


# The managed groups' autoscaler: CPU utilisation as the signal; a new NixOS node
# needs a couple of minutes to boot and join before its load means anything.
AUTOSCALER_CPU_TARGET = 0.6


AUTOSCALER_COOLDOWN_SECONDS = 120


METADATA_SERVER = MetadataFetch(
    service="GCE metadata server",
    # the link-local address, not metadata.google.internal: no DNS needed at early boot
    url="http://169.254.169.254/computeMetadata/v1/instance/network-interfaces/0/ip",
    header="Metadata-Flavor: Google",
    answer="network-interfaces/0/ip",
)


def template_name_prefix(resource_name: str) -> str:
    """An instance template's ``name_prefix``: GCP appends a unique suffix to it.

    >>> template_name_prefix("demo_workers")
    'demo-workers-'
    >>> len(template_name_prefix("a" * 40 + "_" + "b" * 32))
    37
    """
    return names.dns_name(resource_name, NAME_PREFIX_LIMIT - 1) + "-"


def public_ipv4(server: str) -> Expr:
    """A server's ephemeral external IPv4 address (known after apply)."""
    return ref("google_compute_instance", server, "network_interface[0].access_config[0].nat_ip", max_len=15)


def _metadata(spec: ClusterSpec, pool_index: int, user_data: Template) -> dict[str, Any]:
    """user-data, and SSH: the spec's keys only (project-wide keys are blocked)."""
    metadata: dict[str, Any] = {"user-data": user_data, "block-project-ssh-keys": "true"}
    keys = ssh_keys(spec, pool_index)
    if keys:
        metadata["ssh-keys"] = "\n".join(keys)
        # OS Login, where the project enables it, would ignore the spec's keys
        metadata["enable-oslogin"] = "FALSE"
    return metadata


def _machine(
    plan: ClusterPlan, infra: GcpInfra, pool_index: int, user_data: Template, tags: list[str]
) -> dict[str, Any]:
    """The arguments instances and templates share."""
    spec = plan.spec
    body: dict[str, Any] = {
        "machine_type": spec.node_pools[pool_index].instance_type,
        # a pool named "node" has the node tag for its own: a tag is listed once
        "tags": list(dict.fromkeys([infra.network.node_tag, *tags])),
        "metadata": _metadata(spec, pool_index, user_data),
        # cloud-platform scope: the service account's IAM roles decide what a node may do
        "service_account": {"email": infra.service_account.ref("email", max_len=90), "scopes": ["cloud-platform"]},
    }
    if options(spec).shielded_vm:
        # Secure Boot stays off: the NixOS bootloader is not signed by a key GCP trusts
        body["shielded_instance_config"] = {
            "enable_secure_boot": False,
            "enable_vtpm": True,
            "enable_integrity_monitoring": True,
        }
    return body


def control_plane_node(plan: ClusterPlan, infra: GcpInfra, node: RenderedNode) -> Placed:
    """Server ``i``: a static internal address and an instance in zone ``i mod len(zones)``."""
    spec, i = plan.spec, node.ordinal
    pool = spec.system_pool
    ip = infra.control_plane_ips[i]
    address = Resource(
        "google_compute_address",
        f"{node.name}_ip",
        {
            "name": names.dns_name(f"{node.name}_ip"),
            "description": f"control-plane node {i} of cluster {plan.name} (managed by nixk8s)",
            "address_type": "INTERNAL",
            "purpose": "GCE_ENDPOINT",
            "region": spec.region,
            "subnetwork": infra.network.subnet.ref("id"),
            "address": ip,
            "labels": infra.labels,
        },
    )
    body = _machine(plan, infra, spec.system_pool_index, node.user_data, [infra.control_plane_tag])
    body.update(
        {
            "name": node.cloud_name,
            "description": f"control-plane node {i} of cluster {plan.name} (managed by nixk8s)",
            "zone": server_zones(spec)[i],
            "labels": {**infra.labels, "role": "control-plane", "pool": pool.name, "node-index": str(i)},
            # a change of machine type or service account stops and starts the server
            "allow_stopping_for_update": True,
            "boot_disk": {
                "auto_delete": True,
                "initialize_params": {
                    "image": infra.image,
                    "size": pool.disk_size_gb,
                    "type": options(spec).disk_type,
                    "labels": infra.labels,
                },
            },
            "network_interface": [
                {
                    "subnetwork": infra.network.subnet.ref("id"),
                    "network_ip": address.ref("address", max_len=15),
                    # an ephemeral external address, unless nodes are private (Cloud NAT)
                    **({} if infra.network.private else {"access_config": [{}]}),
                }
            ],
            # a new image means a new boot disk, which replaces the server: NixOS
            # nodes are upgraded through their flake and GitOps instead
            "lifecycle": {"ignore_changes": ["boot_disk[0].initialize_params[0].image"]},
            "depends_on": list(infra.grants),
        }
    )
    instance = Resource("google_compute_instance", node.name, body)
    handle = NodeHandle(
        resource=f"google_compute_instance.{node.name}",
        private_ip=ip,
        public_ip=None if infra.network.private else public_ipv4(node.name),
    )
    return Placed(Fragment(resources=(address, instance)), (handle,))


def _spot_scheduling() -> dict[str, Any]:
    # the whole block, always: a Spot VM without a termination action flaps in plans,
    # and a group can only restart (not recreate) machines stopped with STOP
    return {
        "provisioning_model": "SPOT",
        "preemptible": True,
        "automatic_restart": False,
        "on_host_maintenance": "TERMINATE",
        "instance_termination_action": "STOP",
    }


def _template(plan: ClusterPlan, infra: GcpInfra, pool: WorkerPool, node: RenderedNode) -> Resource:
    spec, spec_pool = plan.spec, pool.pool
    body = _machine(plan, infra, pool.spec_index, node.user_data, [names.dns_name(node.name)])
    body.update(
        {
            "name_prefix": template_name_prefix(node.name),
            "description": f"worker pool {spec_pool.name} of cluster {plan.name} (managed by nixk8s)",
            "labels": {**infra.labels, "role": "worker", "pool": spec_pool.name},
            "disk": [
                {
                    "boot": True,
                    "auto_delete": True,
                    "source_image": infra.image,
                    "disk_size_gb": spec_pool.disk_size_gb,
                    "disk_type": options(spec).disk_type,
                    "labels": infra.labels,
                }
            ],
            "network_interface": [
                {
                    "subnetwork": infra.network.subnet.ref("id"),
                    **({} if infra.network.private else {"access_config": [{}]}),
                }
            ],
            # templates are immutable: a changed one is a new template, made before
            # the old one (still used by its group) is deleted
            "lifecycle": {"create_before_destroy": True},
        }
    )
    if spec_pool.name in options(spec).spot_pools:
        body["scheduling"] = _spot_scheduling()
    return Resource("google_compute_instance_template", node.name, body)


def worker_pool(plan: ClusterPlan, infra: GcpInfra, pool: WorkerPool) -> Placed:
    """One template, a regional group across the zones, and an autoscaler between min and max."""
    (node,) = pool.nodes
    spec_pool = pool.pool
    template = _template(plan, infra, pool, node)
    group = Resource(
        "google_compute_region_instance_group_manager",
        node.name,
        {
            "name": names.dns_name(node.name),
            "description": f"worker pool {spec_pool.name} of cluster {plan.name} (managed by nixk8s)",
            "base_instance_name": names.dns_name(node.name, BASE_INSTANCE_NAME_LIMIT),
            "region": plan.spec.region,
            "distribution_policy_zones": list(infra.zones),
            "version": [{"name": "default", "instance_template": template.ref("self_link_unique", max_len=256)}],
            # a new template reaches new machines only (scale-out, repair): running nodes
            # are reconfigured through their flake and GitOps, and GCP never moves them
            # between zones behind Kubernetes' back
            "update_policy": {
                "type": "OPPORTUNISTIC",
                "minimal_action": "REPLACE",
                "instance_redistribution_type": "NONE",
                "max_surge_fixed": len(infra.zones),
                "max_unavailable_fixed": 0,
            },
            "wait_for_instances": False,
            # no target_size: the autoscaler owns it. Workers take their addresses after
            # the servers and the balancer have claimed their fixed ones
            "depends_on": [
                f"google_compute_address.{names.control_plane_node(plan.name, i)}_ip"
                for i in range(plan.spec.control_plane_count)
            ]
            + ([f"google_compute_address.{infra.balancer.address.name}"] if infra.balancer else []),
        },
    )
    autoscaler = Resource(
        "google_compute_region_autoscaler",
        node.name,
        {
            "name": names.dns_name(node.name),
            "description": f"worker pool {spec_pool.name} of cluster {plan.name} (managed by nixk8s)",
            "region": plan.spec.region,
            "target": group.ref("id", max_len=256),
            "autoscaling_policy": {
                "min_replicas": spec_pool.min_size,
                "max_replicas": spec_pool.max_size,
                "cooldown_period": AUTOSCALER_COOLDOWN_SECONDS,
                "mode": "ON",
                "cpu_utilization": {"target": AUTOSCALER_CPU_TARGET},
            },
        },
    )
    handle = NodeHandle(resource=f"google_compute_region_instance_group_manager.{group.name}")
    return Placed(Fragment(resources=(template, group, autoscaler)), (handle,))


def autoscaler_owns_size(pool: NodePool) -> str:
    """Every pool's group has a regional autoscaler (by CPU): it owns the size."""
    return "GCP's autoscaler (google_compute_region_autoscaler, by CPU)"
