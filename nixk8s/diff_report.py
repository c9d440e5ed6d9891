"""The ``nixk8s diff`` report: text for people, JSON (stable keys) for tools.

One block per changed resource, sorted by address, in Terraform's symbols (``+`` add,
``-`` destroy, ``~`` in place, ``-/+`` replace, ``+/-`` replace creating first), with a
``=`` block for a resource whose every change Terraform ignores; then the changes
outside the resources, the hazards to the cluster (``!``), a summary and the exit code.

Every sentence about a resource's action and what it does to machines is worded here,
once: the text's label and the JSON's first note say the same words.

>>> _label(ResourceChange("hcloud_server.a", "replaced", "machine", True))
'replaced: replaces the machine'
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from nixk8s.compiler import Compiled
from nixk8s.document_diff.records import (
    AttributeChange,
    ConfigChange,
    Diff,
    DocumentChange,
    Hazard,
    MachineEffect,
    ResourceChange,
)
from nixk8s.problems import Problem
from nixk8s.terminal import printable_fields, printable_line

Side = Literal["old", "new"]

INDENT = "    "
_EXIT_MEANING = {
    0: "no changes",
    3: "changes applied in place",
    4: "changes that replace or destroy machines",
}


def _symbol(change: ResourceChange) -> str:
    if change.action == "replaced":
        return "+/-" if change.create_before_destroy else "-/+"
    return {"added": "+", "removed": "-", "in-place": "~", "ignored": "="}[change.action]


EFFECT_WORDS: dict[MachineEffect, str] = {
    MachineEffect.NEW_MACHINE: "a new machine",
    MachineEffect.DESTROYS_MACHINE: "destroys the machine",
    MachineEffect.REPLACES_MACHINE: "replaces the machine",
    MachineEffect.NEW_GROUP: "a new group of machines",
    MachineEffect.DESTROYS_GROUP: "destroys the machines it runs",
    MachineEffect.REPLACES_GROUP: "replaces the machines it runs",
}
ACTION_WORDS = {
    "added": "added",
    "removed": "destroyed",
    "replaced": "replaced",
    "in-place": "in place",
    "ignored": "no change applied: Terraform ignores every change",
}


def _label(change: ResourceChange) -> str:
    """What happens to the resource, and to machines."""
    effect = change.effect
    if effect is None:
        return ACTION_WORDS[change.action]
    if change.action == "replaced":
        return f"{ACTION_WORDS['replaced']}: {EFFECT_WORDS[effect]}"
    return EFFECT_WORDS[effect]


def _notes(change: ResourceChange) -> tuple[str, ...]:
    """Every note on a resource, what its action does to machines first (the JSON's notes)."""
    effect = change.effect
    return change.notes if effect is None else (EFFECT_WORDS[effect], *change.notes)


def _value(change: AttributeChange | ConfigChange) -> str:
    if change.secret:
        return {"added": "(secret added)", "removed": "(secret removed)", "changed": "(secret changed)"}[change.change]
    if change.change == "added":
        return f"+ {change.new}"
    if change.change == "removed":
        return f"- {change.old}"
    return f"{change.old} → {change.new}"


def _attribute_lines(change: AttributeChange) -> list[str]:
    shown = change.old is not None or change.new is not None or change.secret
    text = f"{INDENT}{change.path}: " + (_value(change) if shown else "")
    if change.reason:
        text += f" ({change.reason})" if shown else change.reason
    elif change.replaces:
        text += " (forces replacement)"
    lines = [text.rstrip()]
    lines += [f"{INDENT * 2}{c.path}: {_value(c)}" for c in change.config]
    return lines


def _resource_lines(change: ResourceChange) -> list[str]:
    lines = [f"{_symbol(change)} {change.address} ({_label(change)})"]
    for attribute in change.attributes:
        lines += _attribute_lines(attribute)
    lines += [f"{INDENT}# {note}" for note in change.notes]
    return lines


def _document_line(change: DocumentChange) -> str:
    symbol = {"added": "+", "removed": "-", "changed": "~"}[change.action]
    paths = f": {', '.join(change.paths)}" if change.paths else ""
    return f"{symbol} {change.kind} {change.name} ({change.action}){paths}"


def summary(diff: Diff) -> dict[str, Any]:
    """Counts by action, and the resources whose change replaces or destroys machines."""
    count = {action: sum(1 for r in diff.resources if r.action == action) for action in ("added", "in-place", "replaced", "removed", "ignored")}
    return {
        "add": count["added"],
        "change": count["in-place"],
        "replace": count["replaced"],
        "destroy": count["removed"],
        "ignored_only": count["ignored"],
        "outside_resources": len(diff.document),
        "machines": [r.address for r in diff.resources if r.replaces_machines],
    }


def _hazard_lines(hazard: Hazard) -> list[str]:
    """A hazard in two lines: what happens, and what to do instead."""
    return [f"! {hazard.what}", f"{INDENT}instead: {hazard.instead}"]


def _exit_line(diff: Diff) -> str:
    code = diff.exit_code
    meaning = _EXIT_MEANING[code]
    if diff.hazards:
        meaning = f"{meaning}, and hazards to the cluster" if diff.replaces_machines else "hazards to the cluster"
    return f"Exit {code}: {meaning}."


def render_text(diff: Diff) -> str:
    """The report as text: blocks, the hazards (``!``, each with what to do instead),
    then the summary and the exit code."""
    # a hand-made document's names reach the terminal: made visible (terminal.py); its
    # values are JSON text already, whose backslashes are not escaped twice
    diff = printable_fields(diff, printable_line)
    blocks = ["\n".join(_resource_lines(r)) for r in diff.resources]
    if diff.document:
        blocks.append("\n".join(_document_line(d) for d in diff.document))
    if diff.hazards:
        blocks.append("\n".join(line for h in diff.hazards for line in _hazard_lines(h)))
    counts = summary(diff)
    code = diff.exit_code
    if not diff.resources and not diff.document:
        return f"No changes.\nExit {code}: {_EXIT_MEANING[code]}.\n"
    tail = [
        f"{counts['add']} to add, {counts['change']} to change in place, {counts['replace']} to replace, "
        f"{counts['destroy']} to destroy"
        + (f"; {counts['ignored_only']} with ignored changes only" if counts["ignored_only"] else "")
        + (f"; {counts['outside_resources']} outside the resources" if counts["outside_resources"] else "")
        + "."
    ]
    if counts["machines"]:
        tail.append("Replaces or destroys machines: " + ", ".join(counts["machines"]) + ".")
    tail.append(_exit_line(diff))
    return "\n\n".join([*blocks, "\n".join(tail)]) + "\n"


def render_json(diff: Diff) -> bytes:
    """The report as JSON: ``exit_code``, ``summary``, ``resources``, ``document``, ``hazards``."""
    report = {
        "exit_code": diff.exit_code,
        "summary": summary(diff),
        "resources": [msgspec.to_builtins(r) | {"notes": list(_notes(r))} for r in diff.resources],
        "document": msgspec.to_builtins(diff.document),
        "hazards": msgspec.to_builtins(diff.hazards),
    }
    return msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n"


class InputProblem(Problem, frozen=True):
    """A problem of one of the two specs compared: ``side`` says which (``old`` or ``new``).

    It is a :class:`~nixk8s.problems.Problem`, so code that reads problems reads these.

    >>> str(InputProblem("node_pools", "required field is missing", "new"))
    'new: node_pools: required field is missing'
    """

    side: Side

    def __str__(self) -> str:
        return f"{self.side}: {Problem.__str__(self)}"


class DiffReport(msgspec.Struct, frozen=True):
    """What changes from one spec to another (:func:`nixk8s.diff`): the changes, and
    both compiled sides (``new.to_json()`` is what applying the change writes)."""

    changes: Diff
    old: Compiled
    new: Compiled

    @property
    def exit_code(self) -> int:
        """The command's exit code for it: 0 no changes, 3 changes in place, 4 machines
        replaced or destroyed, or a hazard to the cluster."""
        return self.changes.exit_code

    @property
    def replaces_machines(self) -> bool:
        """Whether applying it replaces or destroys a machine."""
        return self.changes.replaces_machines

    @property
    def hazards(self) -> tuple[Hazard, ...]:
        """What applying it would do to the cluster (lost quorum, a new cluster, config
        running machines never see), each with what to do instead."""
        return self.changes.hazards

    def to_text(self) -> str:
        """The report as ``nixk8s diff`` prints it."""
        return render_text(self.changes)

    def to_json(self) -> bytes:
        """The report as ``nixk8s diff --output json`` prints it (without the findings)."""
        return render_json(self.changes)
