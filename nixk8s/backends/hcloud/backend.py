"""Hetzner Cloud: one ``hcloud_server`` per node, on a private network.

What this backend builds, in order:

1. ``hcloud_network.N_network`` + ``hcloud_network_subnet.N_subnet`` (when the spec
   has a ``network``), the subnet's zone derived from the location;
2. ``hcloud_firewall.N_firewall`` from the port table: public rows from the
   ``access`` sources, private rows only from the network's CIDR;
3. ``hcloud_placement_group.N_cp`` (spread) for the control plane;
4. per control-plane index: ``hcloud_server.N_cp_i`` and
   ``hcloud_server_network.N_cp_i_network`` with a fixed private IP, so that the
   join address is known at compile time;
5. per worker pool, per i < desired size: ``hcloud_server.N_P_i`` and
   ``hcloud_server_network.N_P_i_network`` (address chosen by Hetzner, after the
   control plane has taken its fixed ones).

Hetzner replaces a server whose user_data, image or SSH keys change; NixOS nodes are
reconfigured through their flake and GitOps instead, so servers ignore changes to
all three unless ``hcloud.replace_on_user_data_change`` is set.
"""

from __future__ import annotations

from nixk8s.backends.base import Backend, UserDataLimit
from nixk8s.backends.hcloud import autoscaler as autoscaler
from nixk8s.backends.hcloud.balancer import refusal
from nixk8s.backends.hcloud.checks import MAX_SERVERS_PER_PLACEMENT_GROUP, check
from nixk8s.backends.hcloud.foundation import HcloudInfra, foundation
from nixk8s.backends.hcloud.nat import boot_steps
from nixk8s.backends.hcloud.nodes import control_plane_node, machine_pool, post_instance, worker_pool
from nixk8s.backends.hcloud.outputs import notes, outputs
from nixk8s.terraform import ProviderRequirement

PROVIDER = ProviderRequirement("hcloud", "hetznercloud/hcloud", ">= 1.45, < 2.0")
USER_DATA_LIMIT = UserDataLimit(32_768, "Hetzner allows 32,768 bytes of user_data")


HCLOUD: Backend[HcloudInfra] = Backend(
    name="hcloud",
    title="Hetzner Cloud",
    provider=PROVIDER,
    default_format="cloud-config",
    user_data_limit=USER_DATA_LIMIT,
    check=check,
    foundation=foundation,
    control_plane_node=control_plane_node,
    post_instance=post_instance,
    worker_pool=worker_pool,
    machine_pool=machine_pool,
    outputs=outputs,
    notes=notes,
    boot_steps=boot_steps,
    api_load_balancer_refusal=refusal,
    public_api_balancer_filters_sources=False,
    spread_group_size=MAX_SERVERS_PER_PLACEMENT_GROUP,
    worker_index_fetch=autoscaler.HETZNER_METADATA,
    templated_pool=autoscaler.autoscaled,
    pool_size_owner=autoscaler.size_owner,
    image_requirements=(
        "cloud-init with its Hetzner datasource, which reads user_data from the metadata service "
        "(servers the cluster-autoscaler creates too)",
        "kindling in its default mode: it waits for the file the user_data writes",
    ),
)
