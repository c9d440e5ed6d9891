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

from nixk8s.backends.base import Backend, UserDataLimit, builds_an_api_load_balancer
from nixk8s.backends.gcp.checks import METADATA_VALUE_LIMIT, check, options
from nixk8s.backends.gcp.foundation import GcpInfra, foundation
from nixk8s.backends.gcp.nodes import METADATA_SERVER, autoscaler_owns_size, control_plane_node, worker_pool
from nixk8s.backends.gcp.outputs import notes, outputs
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import ProviderRequirement

PROVIDER = ProviderRequirement("google", "hashicorp/google", ">= 6.0, < 7.0")

USER_DATA_LIMIT = UserDataLimit(METADATA_VALUE_LIMIT, "GCP allows 262,144 bytes in a metadata value (user-data)")


def provider_config(plan: ClusterPlan) -> dict[str, Any]:
    # without the provider's own goog-terraform-provisioned label, all 64 labels are ours
    return {"project": options(plan.spec).project, "region": plan.spec.region, "add_terraform_attribution_label": False}


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
    image_requirements=(
        "cloud-init with its GCE datasource, which runs the user-data instance metadata nixk8s sets "
        "(NixOS's GCE image does not run it by itself)",
        "google-guest-agent, for the SSH keys nixk8s puts in the instance metadata (project-wide keys are blocked)",
        "kindling in its default mode: it waits for the file the user-data writes",
    ),
)
