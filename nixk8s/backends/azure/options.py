"""Azure: what the ``azure`` block holds, and Azure in the catalog.

>>> CLOUD.name, CLOUD.aliases
('azure', ('azure_nixos',))
"""

# No ``from __future__ import annotations``: msgspec evaluates these at class creation (nixk8s/spec.py).
from typing import Annotated, Literal

from nixk8s.backends.cloud import Cloud, Starter
from nixk8s.record import Frozen, doc

AzureZone = Literal["1", "2", "3"]
AzureDiskType = Literal["Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "StandardSSD_ZRS", "Premium_ZRS"]


class AzureOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``azure``: what Azure needs beyond the spec's common fields (only with backend azure)."""

    admin_ssh_public_key: Annotated[
        str,
        doc(
            "Admin SSH public key",
            "The admin user's key itself (one line of ~/.ssh/id_ed25519.pub), never a path: Terraform runs "
            "elsewhere. ssh-ed25519, or ssh-rsa of 2048 bits or more",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... ops@example",
        ),
    ]
    admin_username: Annotated[str, doc("Admin user", "The admin user's name")] = "nixos"
    image_id: Annotated[str | None, doc("Image", "The NixOS image's resource id; else nixos.image_id")] = None
    resource_group_name: Annotated[
        str | None, doc("Resource group", "An existing resource group to use; null: nixk8s creates one")
    ] = None
    zones: Annotated[
        tuple[AzureZone, ...],
        doc("Zones", "Availability zones the nodes spread across; [] in a region without zones"),
    ] = ("1", "2", "3")
    os_disk_type: Annotated[AzureDiskType, doc("OS disk type", "The OS disks' storage type")] = "StandardSSD_LRS"
    encryption_at_host: Annotated[
        bool,
        doc("Encryption at host", "Needs the subscription feature Microsoft.Compute/EncryptionAtHost"),
    ] = False
    replace_on_user_data_change: Annotated[
        bool,
        doc(
            "Replace on user_data change",
            "Replace servers when their custom_data, image or admin key change; false: Terraform ignores "
            "those changes (NixOS nodes are reconfigured through their flake and GitOps)",
        ),
    ] = False


def spec_block(spec: object) -> AzureOptions | None:
    """The ``azure`` block as the spec gives it (None where it gives none)."""
    block: AzureOptions | None = getattr(spec, "azure", None)
    return block


CLOUD = Cloud(
    name="azure",
    title="Azure",
    options=AzureOptions,
    options_description="Azure settings; required with backend azure, and only there",
    backend="nixk8s.backends.azure.backend:AZURE",
    aliases=('azure_nixos',),
    resource_prefixes=('azurerm_',),
    replacement_rules="nixk8s.backends.azure.replacement_rules:TABLE",
    starter=Starter(
        place="""\
backend: azure
region: westeurope           # an Azure location
""",
        server_type="Standard_D2s_v5",
        worker_type="Standard_D4s_v5",
        credentials="""\
az login, then export ARM_SUBSCRIPTION_ID=...   (the azurerm provider needs the
subscription; a service principal: ARM_CLIENT_ID, ARM_CLIENT_SECRET, ARM_TENANT_ID)""",
        provider="""\
# The admin user's SSH key is the key itself (one line of ~/.ssh/id_ed25519.pub),
# never a path: Terraform may run elsewhere. The image is your NixOS image's
# resource id (Azure has no public one).
azure:
  admin_ssh_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILYovUEMCyzFb77ZxnfJ/ZWvEk3quMVZKweXA5w93bQh ops@example   # CHANGE
  image_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/images/providers/Microsoft.Compute/images/nixos-k3s   # CHANGE
  # resource_group_name: platform-rg     # an existing resource group; else nixk8s creates one
  # Disks and caches encrypted on the host: register the feature once per subscription
  # (az feature register --namespace Microsoft.Compute --name EncryptionAtHost)
  encryption_at_host: true
""",
    ),
)
