"""The ``lab`` block and the catalog entry: everything the core knows of the cloud."""

# No ``from __future__ import annotations``: msgspec evaluates these at class creation.
from typing import Annotated

from nixk8s.backends.cloud import Cloud, Starter
from nixk8s.record import Frozen, doc


class LabOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``lab``: the rack the machines boot in."""

    rack: Annotated[str, doc("Rack", "Where the machines boot", "r1")] = "r1"


def spec_block(spec: object) -> LabOptions | None:
    """The ``lab`` block as the spec gives it."""
    block: LabOptions | None = getattr(spec, "lab", None)
    return block


CLOUD = Cloud(
    name="lab",
    title="Lab",
    options=LabOptions,
    options_description="Lab settings; only with backend lab",
    backend="fifth_cloud.backend:LAB",
    aliases=("lab_nixos",),
    resource_prefixes=("lab_",),
    replacement_rules="fifth_cloud.replacement_rules:TABLE",
    starter=Starter(
        place="backend: lab\nregion: hall-1             # a lab hall\n",
        server_type="small",
        worker_type="large",
        provider="lab:\n  rack: r1\n",
        credentials="none: the lab provider reads LAB_TOKEN",
    ),
)
