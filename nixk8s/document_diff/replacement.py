"""The replacement engine: which argument changes replace a resource, following
replacements through references.

Each provider's replacement table is data (written in :mod:`nixk8s.document_diff.rules`) that
lives in its cloud's package, ``nixk8s/backends/<cloud>/replacement_rules.py``, named by
the cloud's catalog entry (the tls and random tables of generated credentials, which no
cloud owns, in :mod:`nixk8s.document_diff.credential_rules`); the engine reads a table through one function,
:func:`rules_for`, and knows no cloud. Given a changed argument it says whether the change replaces the resource
(:func:`forcing_reason`), whether Terraform keeps the value (:func:`keeps_value`) and
what an in-place change does to machines (:func:`disruptions`); given a provider block
that changes, which resources it moves (:func:`inherited_changes`); and given what
happens to every resource by its own changes, what happens through references
(:func:`cascade`): a replaced resource's computed attributes (ids, addresses, DNS
names) are unknown until apply, so every argument that reads one changes, and replaces
its own resource if that argument forces replacement; then again, until nothing more
changes.

>>> provider_of("hcloud_server")
'hcloud'
>>> is_ignored(("metadata.user-data",), ("metadata", "user-data"))
True
"""

from __future__ import annotations

import heapq
import importlib
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import msgspec

from nixk8s.backends import catalog
from nixk8s.document_diff.credential_rules import TABLES as CREDENTIAL_TABLES
from nixk8s.document_diff.records import Action
from nixk8s.document_diff.rules import Body, Path, ProviderRules, ResourceRule, Role, matches
from nixk8s.document_diff.templates import Reference, has_interpolation
from nixk8s.document_diff.tfdoc import MISSING, Ignored, RawPath, Reading


def provider_of(resource_type: str) -> str:
    """The provider's local name: the type's first word, as Terraform reads it (``hcloud_server`` → ``hcloud``)."""
    return resource_type.split("_", 1)[0]


def _imported(reference: str) -> ProviderRules:
    module, _, name = reference.partition(":")
    table: ProviderRules = getattr(importlib.import_module(module), name)
    return table


@cache
def tables() -> tuple[ProviderRules, ...]:
    """Every provider's replacement table: each cloud in the catalog gives its own
    (imported the first time a diff asks), and the tls and random providers of
    generated credentials theirs."""
    clouds = tuple(_imported(cloud.replacement_rules) for cloud in catalog.CLOUDS if cloud.replacement_rules)
    return (*clouds, *CREDENTIAL_TABLES)


@cache
def rules_for(provider: str) -> ProviderRules | None:
    """The replacement table of a provider (by its local name), or None where no cloud has one."""
    return next((table for table in tables() if table.provider == provider), None)


def rule_for(resource_type: str) -> ResourceRule | None:
    """The table's entry for a resource type, or None for a type it does not know."""
    table = rules_for(provider_of(resource_type))
    return table.rules.get(resource_type) if table else None


def role_of(rule: ResourceRule | None) -> Role:
    return rule.role if rule else "other"


# --- one changed argument -------------------------------------------------------------------


def normalised(path: RawPath) -> Path:
    """A path as the replacement table names it: list indices left out.

    >>> normalised(("network_interface", 0, "network_ip"))
    ('network_interface', 'network_ip')
    """
    return tuple(str(s) for s in path if not isinstance(s, int))


def is_ignored(ignored: Ignored, path: Path) -> bool:
    """Whether ``lifecycle.ignore_changes`` (as patterns) covers a changed argument."""
    return ignored == "all" or any(matches(p, path) for p in ignored)


def keeps_value(rule: ResourceRule | None, path: Path) -> bool:
    """Whether removing the argument from the configuration keeps its value (optional and computed)."""
    return rule is not None and any(matches(p, path) for p in rule.kept_when_removed)


def forcing_reason(rule: ResourceRule | None, old: Body, new: Body, path: RawPath, whole: bool) -> str | None:
    """Why a change at ``path`` replaces the resource, or None when it is applied in place.

    ``whole``: the value at ``path`` appears, goes or changes type as a whole.
    """
    names = normalised(path)
    if rule is None or any(matches(p, names, whole) for p in rule.updatable):
        return None
    for conditional in rule.conditional:
        if matches(conditional.pattern, names, whole):
            return conditional.replaces(old, new, path)
    forcing = next((p for p in rule.replacing if matches(p, names, whole)), None)
    if forcing is None:
        return None
    # name the pattern (``labels`` for ``labels.team``), or the argument where it is a wildcard
    return f"{'.'.join(names) if '*' in forcing else forcing} forces replacement"


def disruptions(
    rule: ResourceRule | None, old: Body, new: Body, provider: Body, changed: Iterable[tuple[RawPath, bool]]
) -> tuple[tuple[str, bool], ...]:
    """The (note, replaces machines) of each disruptive in-place change, once each, in order.

    ``changed``: (path, whole) of every change applied in place; ``provider`` is the
    provider's configuration, which some disruptions depend on.
    """
    if rule is None:
        return ()
    found: dict[str, bool] = {}
    for path, whole in changed:
        for d in rule.disruptive:
            if matches(d.pattern, normalised(path), whole) and (d.when is None or d.when(old, new, provider)):
                found[d.note] = found.get(d.note, False) or d.replaces_machines
    return tuple(found.items())


class Inherited(msgspec.Struct, frozen=True):
    """An argument a resource takes from its provider block, changing there."""

    path: RawPath
    old: Any
    new: Any
    cause: str


def inherited_changes(resource_type: str, body: Body, old_provider: Body, new_provider: Body) -> tuple[Inherited, ...]:
    """The arguments a resource takes from its provider's block (a region) that change there,
    where the resource sets none of its own and its rule says they replace it."""
    provider = provider_of(resource_type)
    table = rules_for(provider)
    rule = table.rules.get(resource_type) if table else None
    if table is None or rule is None:
        return ()
    found = []
    for argument in table.inherited:
        before, after = old_provider.get(argument), new_provider.get(argument)
        if before == after or argument in body or argument not in rule.replacing:
            continue
        found.append(
            Inherited(
                (argument,),
                MISSING if before is None else before,
                MISSING if after is None else after,
                f"the {provider} provider's {argument} changes from {before} to {after}",
            )
        )
    return tuple(found)


# --- through references ----------------------------------------------------------------------


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """A resource in both documents as the cascade starts: its rule, both bodies, what its
    own changes do to it, where they are, what lifecycle ignores, and what it reads."""

    rule: ResourceRule | None
    old: Body
    new: Body
    action: Action
    changed: frozenset[RawPath]
    ignored: Ignored
    readings: tuple[Reading, ...]


class Caused(msgspec.Struct, frozen=True):
    """An argument whose text stays but whose value changes: what it reads changes."""

    path: RawPath
    value: Any
    cause: str


def _literal(value: Any) -> bool:
    return value is not MISSING and not (isinstance(value, str) and has_interpolation(value)) and not isinstance(
        value, (Mapping, list)
    )


def reference_cause(ref: Reference, target: Standing | None, action: Action | None, data_changed: frozenset[str]) -> str | None:
    """Why a reference's value changes at apply time, or None when it keeps its value.

    ``target`` is the resource it reads (None: not one in both documents) and ``action``
    what happens to it so far.
    """
    if ref.target in data_changed:
        return f"{ref.target} changes (read when planning)"
    if target is None or action is None or action == "ignored":
        return None
    attribute = ref.attribute
    configured = target.new.get(attribute, MISSING) if attribute else MISSING
    if _literal(configured):
        before = target.old.get(attribute, MISSING) if attribute else MISSING
        return None if before == configured else f"{ref} changes"
    if action == "replaced":
        return f"known after apply: {ref.target} is replaced"
    if target.rule and attribute in target.rule.changes_on_update:
        return f"known after apply: {ref.target} changes ({attribute})"
    return None


_RANK: Mapping[Action, int] = {"ignored": 0, "in-place": 1, "replaced": 2}


class _Worklist:
    """The cascade's working state: made and used up by one call of :func:`cascade`.

    The cascade sweeps the resources in address order again and again, each seeing the
    others as they are at that moment, until a sweep changes nothing. Sweeping every
    resource each time costs time quadratic in a chain of references, so a resource is
    visited in a sweep only when something it reads has changed what happens to it since
    its last visit (at most twice per resource: to in place, to replaced), and then only
    its readings of those resources: the visits of a full sweep that could find anything,
    in the same order, with the same outcome.
    """

    def __init__(self, standing: Mapping[str, Standing], data_changed: frozenset[str]) -> None:
        self.standing, self.data_changed = standing, data_changed
        self.order = list(standing)
        self.position = {address: i for i, address in enumerate(self.order)}
        self.action: dict[str, Action] = {a: s.action for a, s in standing.items()}
        self.changed = {a: set(s.changed) for a, s in standing.items()}
        self.found: dict[str, list[Caused]] = {a: [] for a in self.order}
        # target → reader → the indices of the reader's readings that read it
        self.readers: dict[str, dict[str, list[int]]] = {}
        for address, s in standing.items():
            for i, reading in enumerate(s.readings):
                for target in sorted({r.target for r in reading.refs if r.target in standing}):
                    self.readers.setdefault(target, {}).setdefault(address, []).append(i)
        # what changed since each resource's last visit
        self.news: dict[str, set[str]] = {a: set() for a in self.order}
        self.sweep: list[int] = []
        self.queued: set[int] = set()
        self.next: set[int] = set()
        self.at = -1

    def run(self) -> dict[str, tuple[Caused, ...]]:
        first = True
        self.next = set(range(len(self.order)))
        while self.next:
            self.sweep, self.queued, self.next = sorted(self.next), set(self.next), set()
            while self.sweep:
                self.at = heapq.heappop(self.sweep)
                address = self.order[self.at]
                news, self.news[address] = self.news[address], set()
                self._visit(address, None if first else news)
            first = False
        return {a: tuple(found) for a, found in self.found.items() if found}

    def _cause(self, refs: Iterable[Reference]) -> str | None:
        for ref in sorted(refs, key=str):
            cause = reference_cause(ref, self.standing.get(ref.target), self.action.get(ref.target), self.data_changed)
            if cause:
                return cause
        return None

    def _visit(self, address: str, news: set[str] | None) -> None:
        """Mark the readings of one resource whose value changes; ``news``: the resources
        that changed since its last visit (None: the first sweep, every reading)."""
        standing = self.standing[address]
        if self.action[address] == "replaced":
            return
        readings = standing.readings
        mine = self.readers.get(address, {}).get(address, [])  # readings of itself
        if news is None:
            todo = list(range(len(readings)))
        else:
            todo = sorted({i for target in news for i in self.readers.get(target, {}).get(address, ())})
        heapq.heapify(todo)
        done: set[int] = set()
        while todo:
            i = heapq.heappop(todo)
            reading = readings[i]
            if i in done or reading.path in self.changed[address]:
                continue
            done.add(i)
            refs = reading.refs if news is None else [r for r in reading.refs if r.target in news]
            cause = self._cause(refs)
            if cause is None:
                continue
            self.found[address].append(Caused(reading.path, reading.value, cause))
            self.changed[address].add(reading.path)
            if self._raise(address, standing, reading.path):
                self._notify(address)
                if news is not None:
                    # the readings of itself still to come see what it has become
                    news.add(address)
                    for j in mine:
                        if j > i:
                            heapq.heappush(todo, j)

    def _raise(self, address: str, standing: Standing, path: RawPath) -> bool:
        """Count a caused change in what happens to the resource; whether that changed."""
        if is_ignored(standing.ignored, normalised(path)):
            return False
        replaces = forcing_reason(standing.rule, standing.old, standing.new, path, False) is not None
        action: Action = "replaced" if replaces else "in-place"
        if _RANK[action] <= _RANK[self.action[address]]:
            return False
        self.action[address] = action
        return True

    def _notify(self, address: str) -> None:
        """Tell every resource that reads ``address`` that it changed."""
        for reader in self.readers.get(address, {}):
            self.news[reader].add(address)
            at = self.position[reader]
            if at > self.at:  # still to come in this sweep
                if at not in self.queued:
                    self.queued.add(at)
                    heapq.heappush(self.sweep, at)
            else:
                self.next.add(at)


def cascade(standing: Mapping[str, Standing], data_changed: frozenset[str]) -> dict[str, tuple[Caused, ...]]:
    """The arguments of each resource that change through what they read, in the order found.

    ``standing``: every resource in both documents, in address order, as its own changes
    leave it; ``data_changed``: the data sources whose configuration changes (read when
    planning, so every argument that reads one changes).
    """
    return _Worklist(standing, data_changed).run()
