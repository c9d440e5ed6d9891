"""Hetzner Cloud: what the ``hcloud`` block holds, and Hetzner in the catalog.

>>> CLOUD.name, CLOUD.title
('hcloud', 'Hetzner Cloud')
"""

# No ``from __future__ import annotations``: msgspec evaluates these at class creation (nixk8s/spec.py).
from typing import Annotated

from nixk8s.backends.cloud import Cloud, Starter
from nixk8s.record import Frozen, doc


class HcloudOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``hcloud``: what Hetzner Cloud needs beyond the cloud-neutral spec (only with backend hcloud)."""

    image: Annotated[str | None, doc("Image", "The NixOS image (name or id); else nixos.image_id", "nixos-k3s")] = None
    network_zone: Annotated[
        str | None,
        doc("Network zone", "The network's zone; default: derived from the location (nbg1: eu-central)", "eu-central"),
    ] = None
    replace_on_user_data_change: Annotated[
        bool,
        doc(
            "Replace on user_data change",
            "Replace servers when their user_data, image or SSH keys change; false: Terraform ignores "
            "those changes (NixOS nodes are reconfigured through their flake and GitOps)",
        ),
    ] = False


def spec_block(spec: object) -> HcloudOptions | None:
    """The ``hcloud`` block as the spec gives it (None where it gives none)."""
    block: HcloudOptions | None = getattr(spec, "hcloud", None)
    return block


CLOUD = Cloud(
    name="hcloud",
    title="Hetzner Cloud",
    options=HcloudOptions,
    options_description="Hetzner settings; only with backend hcloud",
    backend="nixk8s.backends.hcloud.backend:HCLOUD",
    aliases=('hcloud_k3s',),
    resource_prefixes=('hcloud_',),
    replacement_rules="nixk8s.backends.hcloud.replacement_rules:TABLE",
    starter=Starter(
        place="""\
backend: hcloud
region: nbg1                 # a Hetzner location: nbg1, fsn1, hel1, ash, hil, sin
""",
        server_type="cx32",
        worker_type="cx42",
        credentials="""\
export HCLOUD_TOKEN=...   (a read/write API token of your Hetzner Cloud project:
Console > Security > API tokens)""",
        provider="""\
# Hetzner Cloud has no public NixOS image: upload or snapshot one with the
# kindling agent and cloud-init, and name it here (a name or an id).
hcloud:
  image: nixos-k3s           # CHANGE: your NixOS image
  # replace_on_user_data_change: false   # true: a changed user_data or image replaces the server
""",
    ),
)
