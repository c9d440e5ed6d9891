"""GCP: static control-plane instances, and one instance template + regional managed group per pool.

What this backend builds, in order:

1. ``google_compute_network.N_network`` (custom mode: no auto subnetworks) and
   ``google_compute_subnetwork.N_subnet`` from ``network.subnet_cidr`` (with Private
   Google Access, and flow logs unless ``gcp.flow_logs`` is false). A network is always
   created: a spec without ``network`` gets the default one (10.0.0.0/16, subnet
   10.0.0.0/24);
2. firewall rules from the port table, all targeted at the nodes' network tag:
   ``google_compute_firewall.N_internal`` (the private rows, from the VPC CIDR only)
   and one ``N_public_<audiences>_<v4|v6>`` per distinct source list and address family;
3. ``google_service_account.N_nodes`` with ``google_project_iam_member`` grants of
   roles/logging.logWriter, roles/monitoring.metricWriter and ``gcp.service_account_roles``;
4. per control-plane index ``google_compute_address.N_cp_i_ip`` (a static internal
   address, host 10 + i of the subnet) and ``google_compute_instance.N_cp_i`` in zone
   ``i mod len(zones)``: servers ≥ 1 join server 0's address, known at compile time;
5. the API load balancer, where the plan has one (``api_load_balancer``; ``auto`` for
   two or more servers): an internal passthrough Network Load Balancer at the last
   usable host of the subnet in front of per-zone groups of the servers, where workers join, and for
   ``public`` an external one too (:mod:`.gcp_balancer`). Without one, workers join
   server 0 as the servers do;
6. per worker pool ``google_compute_instance_template.N_P`` (immutable: ``name_prefix``
   and ``create_before_destroy``), ``google_compute_region_instance_group_manager.N_P``
   across the zones and ``google_compute_region_autoscaler.N_P`` with the pool's min/max.
   One template serves every machine of the pool, so the embedded config has no
   node_index: the shared index probe derives it at boot from the GCE metadata server
   (:data:`METADATA_SERVER`).

Every machine: the NixOS image, the node service account (scope cloud-platform; IAM
decides), an ephemeral external IPv4, a boot disk of the pool's size and
``gcp.disk_type``, ``metadata.user-data`` (the raw document: GCP takes no base64),
project-wide SSH keys blocked, and Shielded VM when ``gcp.shielded_vm`` is set.

Decisions (docs/decisions.md has the reasons): the default user_data format is
cloud-config; a template change reaches new machines only (update policy
OPPORTUNISTIC); servers ignore image changes (a new boot disk replaces the server).
"""

from __future__ import annotations

from typing import Any

from nixk8s import names
from nixk8s.backends.base import Backend, NodeHandle, Placed, RenderedNode, UserDataLimit, WorkerPool, builds_an_api_load_balancer
from nixk8s.backends.gcp.checks import METADATA_VALUE_LIMIT, check, options, server_zones, ssh_keys
from nixk8s.backends.gcp.network import GcpInfra, account_id, foundation
from nixk8s.index_probe import MetadataFetch
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan
from nixk8s.spec import ClusterSpec, NodePool
from nixk8s.terraform import Expr, Fragment, Output, ProviderRequirement, Resource, Template, Text, ref

PROVIDER = ProviderRequirement("google", "hashicorp/google", ">= 6.0, < 7.0")

USER_DATA_LIMIT = UserDataLimit(METADATA_VALUE_LIMIT, "GCP allows 262,144 bytes in a metadata value (user-data)")
API_PORT = 6443
# A template name_prefix of at most 37 characters keeps the provider's long unique
# suffix (a 38-54 character prefix gets a short, collision-prone one).
NAME_PREFIX_LIMIT = 37
# The group appends "-xxxx" to this to name its machines (each name ≤ 63).
BASE_INSTANCE_NAME_LIMIT = 58
# The managed groups' autoscaler: CPU utilisation as the signal; a new NixOS node
# needs a couple of minutes to boot and join before its load means anything.
AUTOSCALER_CPU_TARGET = 0.6
AUTOSCALER_COOLDOWN_SECONDS = 120

# --- how a machine reads its private IPv4 address (the shared index probe) ----------------

METADATA_SERVER = MetadataFetch(
    service="GCE metadata server",
    # the link-local address, not metadata.google.internal: no DNS needed at early boot
    url="http://169.254.169.254/computeMetadata/v1/instance/network-interfaces/0/ip",
    header="Metadata-Flavor: Google",
    answer="network-interfaces/0/ip",
)


# --- names ------------------------------------------------------------------------------------


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


def provider_config(plan: ClusterPlan) -> dict[str, Any]:
    # without the provider's own goog-terraform-provisioned label, all 64 labels are ours
    return {"project": options(plan.spec).project, "region": plan.spec.region, "add_terraform_attribution_label": False}


# --- what every machine carries -------------------------------------------------------------------


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


# --- the control plane ----------------------------------------------------------------------------


def control_plane_node(plan: ClusterPlan, infra: GcpInfra, node: RenderedNode) -> Placed:
    """Server ``i``: a static internal address and an instance in zone ``i mod len(zones)``."""
    spec, i = plan.spec, int(node.ordinal)  # servers are never stamped: their ordinal is a number
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
                    "access_config": [{}],
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
        resource=f"google_compute_instance.{node.name}", private_ip=ip, public_ip=public_ipv4(node.name)
    )
    return Placed(Fragment(resources=(address, instance)), (handle,))


# --- worker pools ----------------------------------------------------------------------------------


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
            "network_interface": [{"subnetwork": infra.network.subnet.ref("id"), "access_config": [{}]}],
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


# --- outputs and notes -------------------------------------------------------------------------


def _endpoint(infra: GcpInfra, servers: tuple[NodeHandle, ...]) -> tuple[Text, str]:
    """Where kubectl reaches the API, and how it is reached there."""
    balancer = infra.balancer
    if balancer is None:
        return servers[0].public_ip or "", "Kubernetes API of server 0 (its external IPv4, open to access.api_sources)"
    if balancer.public_address is not None:
        return balancer.public_address, "Kubernetes API through the public load balancer (open to access.api_sources)"
    return balancer.internal_ip, "Kubernetes API through the internal load balancer (from inside the VPC, or a VPN)"


def outputs(plan: ClusterPlan, infra: GcpInfra, servers: tuple[NodeHandle, ...]) -> Fragment:
    zones = server_zones(plan.spec)
    addresses = {
        names.dns_name(names.control_plane_node(plan.name, i)): {
            "private_ip": server.private_ip,
            "public_ip": server.public_ip,
            "zone": zones[i],
        }
        for i, server in enumerate(servers)
    }
    endpoint, reached = _endpoint(infra, servers)
    balancer = infra.balancer
    joined = (
        "the address workers join the cluster through (the internal load balancer; servers join server 0)"
        if balancer
        else "the address nodes join the cluster through (server 0's static internal address)"
    )
    return Fragment(
        outputs=(
            Output("api_endpoint", Template.of("https://", endpoint, f":{API_PORT}"), reached),
            Output(
                "control_plane_addresses", addresses, "static internal and external address and zone of each server"
            ),
            Output(
                "join_server",
                join_server(plan.spec.distribution, balancer.internal_ip if balancer else infra.control_plane_ips[0]),
                joined,
            ),
        )
    )


def _shortened_names(plan: ClusterPlan) -> list[str]:
    """Derived names longer than GCP allows, as ``"long" is named "short"``."""
    n = plan.name
    derived = [(f"{n}-nodes", account_id(n))]
    for _, pool in plan.spec.worker_pools:
        resource = names.worker_template(n, pool.name)
        derived += [
            (f"{n}-{pool.name}", names.dns_name(resource)),
            (f"{n}-{pool.name}-", template_name_prefix(resource)),
            (f"{n}-{pool.name}", names.dns_name(resource, BASE_INSTANCE_NAME_LIMIT)),
        ]
    return [f'"{long}" is named "{short}"' for long, short in dict.fromkeys(derived) if long != short]


def _balancer_note(infra: GcpInfra) -> str:
    balancer = infra.balancer
    if balancer is None:
        return "no API load balancer: workers join server 0 too, and api_endpoint is server 0's external address"
    public = (
        "; a public passthrough balancer in front of them too, which keeps client addresses, so the firewall "
        "(and the balancer's own source ranges) admit only access.api_sources"
        if balancer.public
        else ""
    )
    return (
        f"the API is behind an internal passthrough load balancer at {balancer.internal_ip}, where workers join; "
        "servers join server 0 directly (a server reaching the balancer's address is answered by itself); every "
        "server's certificate names the balancer, and the image must run google-guest-agent, which lets a server "
        f"accept traffic for the balancer's address{public}"
    )


def notes(plan: ClusterPlan, infra: GcpInfra) -> tuple[str, ...]:
    spec, gcp = plan.spec, options(plan.spec)
    server_0 = infra.control_plane_ips[0]
    result = [
        "the image must run the user-data at first boot: cloud-init with its GCE datasource "
        "(services.cloud-init.enable; the stock NixOS GCE image does not enable it) or another init that runs it",
        f"nodes are spread across {', '.join(infra.zones)}; servers have static internal addresses from "
        f"{server_0} on, and servers after the first join server 0 there (a replaced server 0 boots with "
        "cluster_init again, so restore its etcd)",
        _balancer_note(infra),
        f"private ports are open to {infra.network.vpc_cidr} only; GCP's firewall filters traffic inside the VPC as well",
        "servers ignore image changes (a new boot disk would replace them): upgrade through the flake and GitOps",
    ]
    if spec.bootstrap_secrets:
        result.append(
            "bootstrap_secrets stay readable in the instance metadata (user-data) for the machine's life: by "
            "project members with compute.instances.get, and from the node at 169.254.169.254, pods included "
            "(GCP has no hop limit): block pods from the metadata server with a network policy, or use secret paths"
        )
    if spec.network is None:
        result.append(
            f"no network in the spec: nixk8s creates {infra.network.vpc_cidr} with the subnet "
            f"{infra.network.subnet_cidr} (GCP has no default network fit for a cluster)"
        )
    if spec.worker_pools:
        result += [
            "worker nodes take their node_index from their private IPv4 address (GCE metadata server) when the "
            "user-data runs; off EC2 kindling waits for the file the user-data writes, so it reads the index",
            f"GCP's autoscaler keeps each worker pool between min_size and max_size, aiming at "
            f"{AUTOSCALER_CPU_TARGET:.0%} CPU (desired_size is not used); a changed template reaches new machines only",
        ]
    if gcp.spot_pools:
        result.append(f"pools {', '.join(gcp.spot_pools)} run on Spot VMs: GCP may stop them at any time")
    if gcp.ssh_keys or any(p.ssh_keys for p in spec.node_pools):
        result.append(
            "SSH keys are in the instance metadata, with OS Login off on these machines so that they count; "
            "project-wide keys are blocked"
        )
    else:
        result.append(
            "no SSH keys: log in through OS Login (IAM) where the project enables it; project-wide keys are blocked"
        )
    if gcp.shielded_vm:
        result.append("Shielded VM (vTPM, integrity monitoring) needs a UEFI image (NixOS googleComputeImage.efi)")
    else:
        result.append("Shielded VM is off: set gcp.shielded_vm with a UEFI image (NixOS googleComputeImage.efi)")
    result += [f"{shortened}: GCP limits the length of names" for shortened in _shortened_names(plan)]
    return tuple(result)


def autoscaler_owns_size(pool: NodePool) -> str:
    """Every pool's group has a regional autoscaler (by CPU): it owns the size."""
    return "GCP's autoscaler (google_compute_region_autoscaler, by CPU)"


GCP: Backend[GcpInfra] = Backend(
    name="gcp",
    title="GCP",
    provider=PROVIDER,
    default_format="cloud-config",
    user_data_limit=USER_DATA_LIMIT,
    check=check,
    foundation=foundation,
    control_plane_node=control_plane_node,
    worker_pool=worker_pool,
    outputs=outputs,
    worker_index_fetch=METADATA_SERVER,
    pool_size_owner=autoscaler_owns_size,
    firewall_filters_network=True,
    api_load_balancer_refusal=builds_an_api_load_balancer,
    notes=notes,
    provider_config=provider_config,
)
