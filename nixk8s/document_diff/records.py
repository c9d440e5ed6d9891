"""What ``nixk8s diff`` finds: a :class:`Diff` of frozen records, and what it does to machines.

The classifier (:mod:`nixk8s.document_diff.classify`) builds these; the report
(:mod:`nixk8s.diff_report`) words them. A Diff never holds a secret value.

>>> ResourceChange("hcloud_server.a", "replaced", "machine", True).effect
<MachineEffect.REPLACES_MACHINE: 'replaces-machine'>
>>> Diff((ResourceChange("hcloud_server.a", "added", "machine", False),)).exit_code
3
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec

from nixk8s.document_diff.rules import Role

Action = Literal["added", "removed", "in-place", "replaced", "ignored"]
Change = Literal["added", "removed", "changed"]

EXIT_NO_CHANGES, EXIT_IN_PLACE, EXIT_REPLACES_MACHINES = 0, 3, 4


class MachineEffect(enum.Enum):
    """What a resource's change does to machines: a machine's, or those of a group it runs."""

    NEW_MACHINE = "new-machine"
    DESTROYS_MACHINE = "destroys-machine"
    REPLACES_MACHINE = "replaces-machine"
    NEW_GROUP = "new-group"
    DESTROYS_GROUP = "destroys-group"
    REPLACES_GROUP = "replaces-group"


_EFFECTS: dict[tuple[Role, Action], MachineEffect] = {
    ("machine", "added"): MachineEffect.NEW_MACHINE,
    ("machine", "removed"): MachineEffect.DESTROYS_MACHINE,
    ("machine", "replaced"): MachineEffect.REPLACES_MACHINE,
    ("owns-machines", "added"): MachineEffect.NEW_GROUP,
    ("owns-machines", "removed"): MachineEffect.DESTROYS_GROUP,
    ("owns-machines", "replaced"): MachineEffect.REPLACES_GROUP,
}


def machine_effect(role: Role, action: Action) -> MachineEffect | None:
    """What an action on a resource of this role does to machines (None: nothing of its own).

    >>> machine_effect("owns-machines", "removed"), machine_effect("other", "removed")
    (<MachineEffect.DESTROYS_GROUP: 'destroys-group'>, None)
    """
    return _EFFECTS.get((role, action))


class ConfigChange(msgspec.Struct, frozen=True):
    """One key of a machine's cluster-config: ``old``/``new`` are JSON text, None when absent or secret."""

    path: str
    change: Change
    old: str | None
    new: str | None
    secret: bool = False


class AttributeChange(msgspec.Struct, frozen=True):
    """One changed argument of a resource.

    ``old``/``new`` are the values as JSON text (None when absent, secret, or a
    user_data, whose change is in ``config``); ``reason`` says why it replaces the
    resource, is ignored, or changes although its text does not (a cascade).
    """

    path: str
    change: Change
    old: str | None = None
    new: str | None = None
    replaces: bool = False
    ignored: bool = False
    secret: bool = False
    reason: str | None = None
    config: tuple[ConfigChange, ...] = ()


class ResourceChange(msgspec.Struct, frozen=True):
    """What happens to one resource: ``ignored`` when only ignored arguments change.

    ``notes`` say what an in-place change does to machines, what a replacement does
    beyond the resource, or that the type is not in the replacement table; what the
    action itself does to machines is :attr:`effect`.
    """

    address: str
    action: Action
    role: Role
    replaces_machines: bool
    attributes: tuple[AttributeChange, ...] = ()
    notes: tuple[str, ...] = ()
    create_before_destroy: bool = False

    @property
    def effect(self) -> MachineEffect | None:
        return machine_effect(self.role, self.action)


class DocumentChange(msgspec.Struct, frozen=True):
    """A change outside the resources: an output, variable, provider, data source or requirement."""

    kind: Literal["output", "variable", "provider", "data", "terraform"]
    name: str
    action: Literal["added", "removed", "changed"]
    paths: tuple[str, ...] = ()


HazardKind = Literal["quorum-loss", "new-cluster", "not-applied"]


class Hazard(msgspec.Struct, frozen=True):
    """What an apply would do to the cluster itself (:mod:`nixk8s.document_diff.hazards`):
    its kind, the machines behind it, what happens, and one line on what to do instead."""

    kind: HazardKind
    machines: tuple[str, ...]
    what: str
    instead: str


class Diff(msgspec.Struct, frozen=True):
    resources: tuple[ResourceChange, ...]
    document: tuple[DocumentChange, ...] = ()
    hazards: tuple[Hazard, ...] = ()

    @property
    def replaces_machines(self) -> bool:
        """Whether the apply replaces or destroys a machine."""
        return any(r.replaces_machines for r in self.resources)

    @property
    def exit_code(self) -> int:
        """4 when machines are replaced or destroyed or the apply is a hazard to the
        cluster, 3 for any other change, 0 for none."""
        if self.hazards or self.replaces_machines:
            return EXIT_REPLACES_MACHINES
        if self.document or any(r.action != "ignored" for r in self.resources):
            return EXIT_IN_PLACE
        return EXIT_NO_CHANGES
