"""The classifier: what changes between two Terraform documents, resource by resource.

Pure: two documents read by :mod:`nixk8s.document_diff.tfdoc` in, a frozen :class:`Diff` out.
Resources are paired by address; each pair is walked argument by argument, and each
changed argument is classified (ignored by ``lifecycle.ignore_changes``, kept by the
provider, replacing the resource or applied in place) with the replacement engine
(:mod:`nixk8s.document_diff.replacement`), which then follows the replacements through
references. Every record here is frozen and built once, by the functions that return it.

A Diff never holds a secret value: values of sensitive variables, variable defaults and
everything under a cluster-config's ``bootstrap_secrets`` are marked secret and dropped
when the Diff is built. A user_data (or custom_data, or GCP ``user-data`` metadata) is
compared as the cluster-config the machine reads, key by key, never as the blob.

There is no live state: the diff assumes that what is deployed is OLD.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from returns.result import Failure

import nixk8s.document_diff.replacement as replacement
from nixk8s.document_diff.records import (
    Action,
    AttributeChange,
    Change,
    ConfigChange,
    Diff,
    DocumentChange,
    ResourceChange,
)
from nixk8s.document_diff.hazards import hazards
from nixk8s.document_diff.replacement import Caused, Standing, normalised
from nixk8s.document_diff.rules import ResourceRule
from nixk8s.document_diff.tfdoc import (
    META_ARGUMENTS,
    MISSING,
    Body,
    Ignored,
    LocalText,
    RawPath,
    TfDocument,
    creates_before_destroying,
    ignore_patterns,
    is_blocks,
    mapping,
    read_document,
)
from nixk8s.document_diff.user_data import embedded_config, machine_view, user_data_format
from nixk8s.problems import join_path

USER_DATA_KEYS = frozenset({"user_data", "custom_data", "user-data"})
SECRET_CONFIG_KEYS = frozenset({"bootstrap_secrets"})
# how a k3s drop-in's keys are named in a report, and those that hold a secret
DROPIN_SECTION = "k3s-drop-in"
SECRET_DROPIN_KEYS = frozenset({"etcd-s3-access-key", "etcd-s3-secret-key"})
SHOWN_LIMIT = 120


# --- showing values -------------------------------------------------------------------------


def show_path(path: RawPath) -> str:
    """``rule[3].port``, ``labels.team``, ``tags["k8s.io/role"]``, ``rule.#`` (a block count).

    >>> show_path(("k3s", "node_labels", "node.kubernetes.io/pool"))
    'k3s.node_labels["node.kubernetes.io/pool"]'
    """
    out = ""
    for step in path:
        out = f"{out}.#" if step == "#" else join_path(out, step if isinstance(step, int) else str(step))
    return out


def show(value: Any) -> str | None:
    """A value as short JSON text; None for an absent one.

    >>> show({"b": 1, "a": [True, None]})
    '{"a":[true,null],"b":1}'
    """
    if value is MISSING:
        return None
    text = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= SHOWN_LIMIT else text[: SHOWN_LIMIT - 1] + "…"


def _plain(value: Any) -> Any:
    if isinstance(value, LocalText):
        return value.text
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# --- walking two bodies ----------------------------------------------------------------------


class Leaf(msgspec.Struct, frozen=True):
    """A changed value: ``whole`` when it appears, goes or changes type as a whole."""

    path: RawPath
    old: Any
    new: Any
    whole: bool = False


def _hashable(value: Any) -> Any:
    """A value as a key with the same equality (``==``): to find a block among thousands."""
    if isinstance(value, Mapping):
        return frozenset((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _only_in(blocks: list[Any], others: list[Any]) -> Iterator[Any]:
    """The blocks of ``blocks`` that ``others`` does not hold, in order (a set lookup each)."""
    present = {_hashable(b) for b in others}
    return (b for b in blocks if _hashable(b) not in present)


def _walk(old: Any, new: Any, path: RawPath) -> Iterator[Leaf]:
    """The changed leaves between two values (mappings by key, block lists by index)."""
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            yield from _walk(old.get(key, MISSING), new.get(key, MISSING), (*path, key))
        return
    if isinstance(old, list) and isinstance(new, list) and (is_blocks(old) or is_blocks(new)):
        if len(old) == len(new):
            for i, (a, b) in enumerate(zip(old, new)):
                yield from _walk(a, b, (*path, i))
            return
        # a different number of blocks: the count, and which blocks come and go (as a set:
        # a firewall rule added in the middle is one new rule, not every later one changed)
        yield Leaf((*path, "#"), len(old), len(new))
        yield from (Leaf(path, item, MISSING, whole=True) for item in _only_in(old, new))
        yield from (Leaf(path, MISSING, item, whole=True) for item in _only_in(new, old))
        return
    whole = old is MISSING or new is MISSING or isinstance(old, (Mapping, list)) != isinstance(new, (Mapping, list))
    yield Leaf(path, old, new, whole)


# --- a machine's cluster-config ---------------------------------------------------------------


def _config_leaves(old: Any, new: Any, path: RawPath) -> Iterator[Leaf]:
    """Changed cluster-config keys; a secret section is walked key by key, so each is named."""
    if old == new:
        return
    containers = (old is MISSING or isinstance(old, dict)) and (new is MISSING or isinstance(new, dict))
    if containers and (isinstance(old, dict) or isinstance(new, dict)):
        before, after = mapping(old if old is not MISSING else {}), mapping(new if new is not MISSING else {})
        for key in sorted(set(before) | set(after)):
            yield from _config_leaves(before.get(key, MISSING), after.get(key, MISSING), (*path, key))
        return
    if is_blocks(old) and is_blocks(new) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            yield from _config_leaves(a, b, (*path, i))
        return
    yield Leaf(path, old, new)


def _change(leaf: Leaf) -> Change:
    return "added" if leaf.old is MISSING else "removed" if leaf.new is MISSING else "changed"


Sides = tuple[TfDocument, TfDocument]


def _secret_path(path: RawPath) -> bool:
    """Whether a cluster-config (or drop-in) key holds a secret, by where it is."""
    if path[:1] == (DROPIN_SECTION,):
        return len(path) > 1 and path[1] in SECRET_DROPIN_KEYS
    return bool(path) and path[0] in SECRET_CONFIG_KEYS


def _config_changes(old: Any, new: Any, sides: Sides, section: RawPath = ()) -> tuple[ConfigChange, ...]:
    changes = []
    for leaf in _config_leaves(old, new, section):
        secret = _secret_path(leaf.path) or any(
            side.is_secret(value) for side, value in zip(sides, (leaf.old, leaf.new)) if value is not MISSING
        )
        shown = (None, None) if secret else (show(leaf.old), show(leaf.new))
        changes.append(ConfigChange(show_path(leaf.path), _change(leaf), *shown, secret=secret))
    return tuple(changes)


def _user_data_change(old: Any, new: Any, sides: Sides) -> tuple[tuple[ConfigChange, ...], str]:
    """A user_data change as cluster-config (and k3s drop-in) changes, and what else it changes."""
    texts = [v.text if isinstance(v, LocalText) else v for v in (old, new)]
    embedded = [
        embedded_config(machine_view(t, side.locals)) if isinstance(t, str) else None for t, side in zip(texts, sides)
    ]
    configs = [e.config if e is not None and e.config is not None else MISSING for e in embedded]
    if configs[0] is MISSING and configs[1] is MISSING:
        return (), "the user_data changes (it holds no cluster-config)"
    dropins = [e.dropin if e is not None and e.dropin is not None else MISSING for e in embedded]
    changes = _config_changes(configs[0], configs[1], sides) + _config_changes(
        dropins[0], dropins[1], sides, (DROPIN_SECTION,)
    )
    frames = [e.frame if e is not None else "" for e in embedded]
    formats = [user_data_format(f) for f in frames]
    if formats[0] != formats[1]:
        return changes, f"the user_data changes from {formats[0]} to {formats[1]}"
    appears = (dropins[0] is MISSING) != (dropins[1] is MISSING)
    if frames[0] != frames[1] and not appears:
        return changes, "the script around the cluster-config changes too"
    if appears:
        # the file (and its place in the script) comes or goes with its keys
        return changes, f"the k3s drop-in is {'added' if dropins[0] is MISSING else 'removed'}" + (
            "; the cluster-config changes" if configs[0] != configs[1] else ""
        )
    changed = [what for what, pair in (("the cluster-config", configs), ("the k3s drop-in", dropins)) if pair[0] != pair[1]]
    if not changed:
        return changes, "the user_data changes"
    return changes, f"{' and '.join(changed)} change{'s' if len(changed) == 1 else ''}"


# --- classifying one argument -----------------------------------------------------------------


class Context(msgspec.Struct, frozen=True):
    """What classifying one resource needs: its type's rule, both bodies, its provider's
    configuration, what its lifecycle ignores, and both documents."""

    kind: str
    rule: ResourceRule | None
    old: Body
    new: Body
    provider: Body
    ignored: Ignored
    sides: Sides


def _joined(*parts: str | None) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None


def attribute_change(ctx: Context, leaf: Leaf, cause: str | None = None) -> AttributeChange:
    """One changed argument, classified; ``cause``: why its value changes although its text does not."""
    path, shown = normalised(leaf.path), show_path(leaf.path)
    sides = ctx.sides
    config: tuple[ConfigChange, ...] = ()
    secret = any(side.is_secret(v) for side, v in zip(sides, (leaf.old, leaf.new)) if v is not MISSING)
    # a cascade's text is unchanged: its value is what changes
    unchanged = cause is not None and leaf.old == leaf.new
    values = (None, None) if secret or unchanged else (show(leaf.old), show(leaf.new))
    note = cause
    if leaf.path and leaf.path[-1] in USER_DATA_KEYS:
        # shown as the cluster-config's keys, each secret one marked there, never as text
        secret, values = False, (None, None)
        if cause is None:
            config, note = _user_data_change(leaf.old, leaf.new, sides)
    if replacement.is_ignored(ctx.ignored, path):
        why = "lifecycle.ignore_changes: Terraform will not apply it"
        return AttributeChange(
            shown, _change(leaf), *values, ignored=True, secret=secret, reason=_joined(note, why), config=config
        )
    if leaf.new is MISSING and replacement.keeps_value(ctx.rule, path):
        why = "removed from the configuration: the provider keeps the current value"
        return AttributeChange(shown, "removed", *values, ignored=True, secret=secret, reason=why)
    forcing = replacement.forcing_reason(ctx.rule, ctx.old, ctx.new, leaf.path, leaf.whole)
    reason = _joined(note, forcing) if forcing else note
    return AttributeChange(
        shown, _change(leaf), *values, replaces=forcing is not None, secret=secret, reason=reason, config=config
    )


Classified = tuple[tuple[Leaf, AttributeChange], ...]


def action_of(changes: Classified) -> Action:
    """What happens to a resource by its changes: replaced, in place, or ignored (all of them)."""
    live = [c for _, c in changes if not c.ignored]
    if any(c.replaces for c in live):
        return "replaced"
    return "in-place" if live else "ignored"


# --- one resource -------------------------------------------------------------------------------


class Paired(msgspec.Struct, frozen=True):
    """A resource in both documents, with its own changes classified (before the cascade)."""

    address: str
    ctx: Context
    changes: Classified
    action: Action


def paired(address: str, kind: str, old_body: Body, new_body: Body, sides: Sides) -> Paired:
    before, after = sides
    ctx = Context(
        kind,
        replacement.rule_for(kind),
        old_body,
        new_body,
        after.provider(replacement.provider_of(kind)),
        ignore_patterns(new_body),
        sides,
    )
    leaves = _walk(
        before.resolved({k: v for k, v in old_body.items() if k not in META_ARGUMENTS}),
        after.resolved({k: v for k, v in new_body.items() if k not in META_ARGUMENTS}),
        (),
    )
    inherited = replacement.inherited_changes(
        kind, new_body, before.provider(replacement.provider_of(kind)), ctx.provider
    )
    changes = (
        *((leaf, attribute_change(ctx, leaf)) for leaf in leaves),
        *((leaf, attribute_change(ctx, leaf, i.cause)) for i in inherited for leaf in (Leaf(i.path, i.old, i.new),)),
    )
    return Paired(address, ctx, changes, action_of(changes))


def standing(pair: Paired) -> Standing:
    """What the cascade needs to know of a pair."""
    ctx = pair.ctx
    return Standing(
        rule=ctx.rule,
        old=ctx.old,
        new=ctx.new,
        action=pair.action,
        changed=frozenset(leaf.path for leaf, _ in pair.changes),
        ignored=ctx.ignored,
        readings=ctx.sides[1].readings.get(pair.address, ()),
    )


def resource_change(pair: Paired, caused: tuple[Caused, ...]) -> ResourceChange:
    """A pair's ResourceChange, once the cascade has said what else changes in it."""
    ctx = pair.ctx
    changes = (
        *pair.changes,
        *((leaf, attribute_change(ctx, leaf, c.cause)) for c in caused for leaf in (Leaf(c.path, c.value, c.value),)),
    )
    action, rule = action_of(changes), ctx.rule
    role = replacement.role_of(rule)
    disruptions = (
        replacement.disruptions(
            rule,
            ctx.old,
            ctx.new,
            ctx.provider,
            ((leaf.path, leaf.whole) for leaf, change in changes if not (change.ignored or change.replaces)),
        )
        if action == "in-place"
        else ()
    )
    notes = [note for note, _ in disruptions]
    if action == "replaced" and rule and rule.replaced_note:
        notes.append(rule.replaced_note)
    if rule is None and action != "ignored":
        notes.append(f"{ctx.kind} is not in nixk8s' replacement table: whether this replaces it is not known")
    machines = (action == "replaced" and role != "other") or any(r for _, r in disruptions)
    return ResourceChange(
        pair.address,
        action,
        role,
        machines,
        tuple(sorted((c for _, c in changes), key=lambda c: c.path)),
        tuple(notes),
        creates_before_destroying(ctx.new),
    )


def one_sided(address: str, kind: str, action: Action) -> ResourceChange:
    """A resource only in OLD (removed) or only in NEW (added)."""
    role = replacement.role_of(replacement.rule_for(kind))
    return ResourceChange(address, action, role, action == "removed" and role != "other")


# --- outside the resources ------------------------------------------------------------------


def _blocks_changes(kind: Any, old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[DocumentChange]:
    """Added, removed and changed blocks by name; only the changed paths, never values
    (a variable's default may be a secret)."""
    for name in sorted(set(old) | set(new)):
        if name not in new:
            yield DocumentChange(kind, name, "removed")
        elif name not in old:
            yield DocumentChange(kind, name, "added")
        elif old[name] != new[name]:
            paths = tuple(sorted({show_path(leaf.path) for leaf in _walk(old[name], new[name], ())}))
            yield DocumentChange(kind, name, "changed", paths)


def document_changes(old: TfDocument, new: TfDocument) -> tuple[DocumentChange, ...]:
    """Changes to outputs, variables, providers, data sources and provider requirements."""
    before, after = (mapping(mapping(d.raw.get("terraform")).get("required_providers")) for d in (old, new))
    return (
        *_blocks_changes("output", mapping(old.raw.get("output")), mapping(new.raw.get("output"))),
        *_blocks_changes("variable", old.variables, new.variables),
        *_blocks_changes("provider", mapping(old.raw.get("provider")), mapping(new.raw.get("provider"))),
        *_blocks_changes("data", old.data, new.data),
        *_blocks_changes("terraform", before, after),
    )


# --- the diff --------------------------------------------------------------------------------


def compare(old: TfDocument, new: TfDocument) -> Diff:
    """What applying NEW over OLD changes, resource by resource, and what replaces machines."""
    sides = (old, new)
    addresses = sorted(set(old.resources) | set(new.resources))
    alone = tuple(
        one_sided(a, old.resources[a][0], "removed") if a not in new.resources else one_sided(a, new.resources[a][0], "added")
        for a in addresses
        if a not in old.resources or a not in new.resources
    )
    pairs = tuple(
        paired(a, old.resources[a][0], old.resources[a][1], new.resources[a][1], sides)
        for a in addresses
        if a in old.resources and a in new.resources
    )
    document = document_changes(old, new)
    data_changed = frozenset(c.name for c in document if c.kind == "data")
    caused = replacement.cascade({p.address: standing(p) for p in pairs}, data_changed)
    changed = tuple(resource_change(p, caused.get(p.address, ())) for p in pairs if p.changes or p.address in caused)
    resources = tuple(sorted((*alone, *changed), key=lambda c: c.address))
    return Diff(resources, document, hazards(old, new, resources))


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> Diff:
    """What applying NEW over OLD changes: :func:`compare` of the documents read.

    Raises ValueError for a document :func:`~nixk8s.document_diff.tfdoc.read_document` refuses
    (check them with :func:`~nixk8s.document_diff.tfdoc.document_problems` first).
    """
    read = [read_document(doc) for doc in (old, new)]
    refused = [problem for r in read if isinstance(r, Failure) for problem in r.failure()]
    if refused:
        raise ValueError("; ".join(map(str, refused)))
    return compare(read[0].unwrap(), read[1].unwrap())
