"""AWS: launch templates and autoscaling groups behind an internal API load balancer.

What this backend builds, in order:

1. the network: with a ``network``, ``aws_vpc.N_vpc``, ``aws_internet_gateway.N_igw``,
   ``aws_route_table.N_rt`` + ``aws_route.N_default_route``, and per availability
   zone a public ``aws_subnet.N_subnet_<zone>`` carved from ``vpc_cidr`` with its
   ``aws_route_table_association.N_rta_<zone>``. With ``aws.vpc_id`` +
   ``aws.subnet_ids`` the existing VPC is read (``data.aws_vpc.N_vpc``, for its CIDR);
   with neither, the region's default VPC and its default subnets are used;
2. ``aws_security_group.N_sg`` from the port table: public rows from the ``access``
   sources, private rows only from the VPC CIDR. The API row is open to the VPC CIDR
   as well, since every node joins through the internal load balancer;
3. IAM: ``aws_iam_role.N_node_role`` (EC2 trust), ``aws_iam_instance_profile.N_node_profile``,
   least-privilege policies (``N_ecr_read``: ECR pulls in the region; ``N_ec2_describe``:
   what kubelet and the AWS cloud provider read; ``N_persistent_state`` when the spec
   has one) and the spec's ``aws.instance_profile_policies``; with etcd snapshots to the
   bucket nixk8s makes, the servers get ``aws_iam_role.N_server_role`` and
   ``N_server_profile`` of their own, holding those and ``N_etcd_snapshots``;
3a. the etcd snapshot bucket, where ``etcd_snapshots.s3`` gives no keys: private,
   encrypted, versioned ``aws_s3_bucket.N_etcd_snapshots`` and its settings (:mod:`.snapshots`);
4. the control plane: an internal NLB ``aws_lb.N_cp_nlb`` with the TCP 6443
   ``aws_lb_target_group.N_cp_tg`` and ``aws_lb_listener.N_cp_listener``; per
   control-plane index ``aws_launch_template.N_cp_i_lt`` + ``aws_autoscaling_group.N_cp_i_asg``
   of size 1 (0 when the system pool's min_size is 0: a parked cluster), so that the
   index and with it ``cluster_init`` belong to the group, also after it replaces
   its instance;
5. per worker pool ``aws_launch_template.N_P_lt`` + ``aws_autoscaling_group.N_P_asg``
   with the pool's min/max/desired. One template serves every machine of the pool,
   so the embedded config has no node_index: the shared index probe derives it at
   boot from the instance's private IPv4 address, fetched through IMDSv2 (:data:`IMDS`).

Every launch template requires IMDSv2 (hop limit 1, instance tags in the metadata),
has an encrypted gp3 root volume of the pool's disk size and tags its instances and
volumes. Its ``user_data`` is ``base64encode(local.<node>_user_data)``: the script is a
Terraform local, so the NLB's DNS name in it is a real reference.

Decisions:

- The default user_data format is shell: kindling's EC2 init mode reads the config
  out of the script's ``PANGEA_CONFIG_EOF`` heredoc and rejects ``#cloud-config``.
  ``user_data_format: cloud-config`` is allowed and explained in ``notes``, not an
  error: under kindling's ``legacyBootstrap`` mode cloud-init writes the file and
  kindling waits for it, and worker pools need that mode anyway (see below).
- The worker index is the whole private IPv4 address as a 32-bit integer (it fits
  kindling's u32). It is unique among live instances of the VPC, also across pools
  and across a VPC's secondary CIDR blocks, where its low 16 bits would not be.
- Load balancer and target group names are limited to 32 characters; longer
  derived names are shortened with a stable hash suffix (:func:`aws_lb_name`).
"""

from __future__ import annotations

from typing import Any

from nixk8s.backends.aws import autoscaler as autoscaling
from nixk8s.backends.aws.checks import check
from nixk8s.backends.aws.foundation import AwsInfra, foundation
from nixk8s.backends.aws.nodes import IMDS, control_plane_node, worker_pool
from nixk8s.backends.aws.outputs import notes, outputs
from nixk8s.backends.base import Backend, UserDataLimit, builds_an_api_load_balancer
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import ProviderRequirement

PROVIDER = ProviderRequirement("aws", "hashicorp/aws", ">= 5.0, < 7.0")

USER_DATA_LIMIT = UserDataLimit(16_384, "AWS allows 16 KB of user_data (before base64)")


IMAGE_REQUIREMENTS = (
    "an agent that runs the user_data script as root at first boot: NixOS's amazon-init (on in its EC2 "
    "images; it runs user data that starts with #! with bash, after multi-user.target) or cloud-init "
    "(needed for user_data_format cloud-config)",
    "kindling's legacyBootstrap mode (nixos.kindling_mode: legacy-bootstrap) wherever the script must run "
    "before k3s starts: on template-built workers (they take node_index from the script) and on every k3s "
    "node that gets a drop-in; the EC2 init mode reads the embedded config without running the script, "
    "and rejects #cloud-config",
)


def provider_config(plan: ClusterPlan) -> dict[str, Any]:
    return {"region": plan.spec.region}


AWS: Backend[AwsInfra] = Backend(
    name="aws",
    title="AWS",
    provider=PROVIDER,
    default_format="shell",
    user_data_limit=USER_DATA_LIMIT,
    check=check,
    foundation=foundation,
    control_plane_node=control_plane_node,
    worker_pool=worker_pool,
    outputs=outputs,
    worker_index_fetch=IMDS,
    embedded_config_reader="kindling's EC2 init mode",
    api_load_balancer_required=True,
    api_load_balancer_refusal=builds_an_api_load_balancer,
    firewall_filters_network=True,
    can_park_control_plane=True,
    supports_persistent_state=True,
    makes_snapshot_bucket=True,
    image_requirements=IMAGE_REQUIREMENTS,
    pool_size_owner=autoscaling.size_owner,
    notes=notes,
    provider_config=provider_config,
)
