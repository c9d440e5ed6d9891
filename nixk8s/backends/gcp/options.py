"""Google Cloud: what the ``gcp`` block holds, and GCP in the catalog.

>>> CLOUD.name, CLOUD.resource_prefixes
('gcp', ('google_',))
"""

# No ``from __future__ import annotations``: msgspec evaluates these at class creation (nixk8s/spec.py).
from typing import Annotated, Literal

from nixk8s.backends.cloud import Cloud, Starter
from nixk8s.record import Frozen, doc

GcpDiskType = Literal["pd-balanced", "pd-ssd", "hyperdisk-balanced"]


class GcpOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``gcp``: the project, and what GCP needs beyond the cloud-neutral spec.

    The GCP backend checks each field (formats, the region's zones, pool names) with
    its spec path: ``nixk8s/backends/gcp/checks.py``.
    """

    project: Annotated[str, doc("Project", "the GCP project id the cluster lives in", "my-project-123456")]
    zones: Annotated[
        tuple[str, ...],
        doc("Zones", "zones to spread nodes over; default: the zones nixk8s knows for the region", ["europe-west3-a"]),
    ] = ()
    image: Annotated[
        str | None,
        doc(
            "Image",
            "the NixOS image (NAME, family/NAME or projects/P/global/images/...); else nixos.image_id",
            "projects/my-project-123456/global/images/nixos-k3s",
        ),
    ] = None
    service_account_roles: Annotated[
        tuple[str, ...],
        doc(
            "Service account roles",
            "IAM roles for the nodes' service account beyond logging.logWriter and monitoring.metricWriter",
        ),
    ] = ()
    ssh_keys: Annotated[
        tuple[str, ...],
        doc("SSH keys", "SSH keys for every node in GCP metadata form: USER:ssh-ed25519 AAAA... comment"),
    ] = ()
    spot_pools: Annotated[
        tuple[str, ...], doc("Spot pools", "worker pools that run on Spot VMs (GCP may stop them at any time)")
    ] = ()
    shielded_vm: Annotated[
        bool, doc("Shielded VM", "vTPM and integrity monitoring, Secure Boot off: needs a UEFI image")
    ] = False
    disk_type: Annotated[GcpDiskType, doc("Disk type", "the boot disks' type")] = "pd-balanced"
    flow_logs: Annotated[bool, doc("Flow logs", "VPC flow logs on the subnet (50% sampled; billed)")] = True


def spec_block(spec: object) -> GcpOptions | None:
    """The ``gcp`` block as the spec gives it (None where it gives none)."""
    block: GcpOptions | None = getattr(spec, "gcp", None)
    return block


CLOUD = Cloud(
    name="gcp",
    title="GCP",
    options=GcpOptions,
    options_description="GCP settings; required with backend gcp, and only there",
    backend="nixk8s.backends.gcp.backend:GCP",
    aliases=('gcp_nixos',),
    resource_prefixes=('google_',),
    replacement_rules="nixk8s.backends.gcp.replacement_rules:TABLE",
    starter=Starter(
        place="""\
backend: gcp
region: europe-west3         # a GCP region; nodes spread over its zones
""",
        server_type="e2-standard-2",
        worker_type="e2-standard-4",
        credentials="""\
Application Default Credentials: gcloud auth application-default login
(or export GOOGLE_APPLICATION_CREDENTIALS=/path/to/service-account-key.json)""",
        provider="""\
# The project the cluster lives in, and your NixOS image (GCP has no public one):
# NAME, family/NAME or projects/PROJECT/global/images/NAME.
gcp:
  project: my-project-123456              # CHANGE: your project id
  image: family/nixos-k3s                 # CHANGE: your NixOS image, built with UEFI
  shielded_vm: true                       # vTPM, integrity monitoring: needs a UEFI image
                                          # (NixOS: virtualisation.googleComputeImage.efi)
  # ssh_keys: ["ops:ssh-ed25519 AAAA... ops@example"]   # USER:KEY, for every node
""",
    ),
)
