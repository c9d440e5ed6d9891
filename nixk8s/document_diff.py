"""``nixk8s diff``: what changes between two compiled documents, and what replaces machines.

Pure: two Terraform documents (plain data) in, a :class:`Diff` out. Resources are paired
by address; each changed argument is classified with the replacement table
(:mod:`nixk8s.replacement`) after the resource's ``lifecycle.ignore_changes`` has been
taken out; replacements then cascade through references (a replaced network's id is
unknown until apply, so every argument that reads it changes, and replaces its resource
if that argument forces replacement) until nothing more changes.

A Diff never holds a secret value: values of sensitive variables, variable defaults and
everything under a cluster-config's ``bootstrap_secrets`` are marked secret and dropped
when the Diff is built. A user_data (or custom_data, or GCP ``user-data`` metadata) is
compared as the cluster-config the machine reads, key by key, never as the blob.

There is no live state: the diff assumes that what is deployed is OLD.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import msgspec

from nixk8s import readback
from nixk8s.problems import Problem, Problems, join_path
from nixk8s.readback import Reference
from nixk8s.replacement import ResourceRule, Role, matches, provider_of, rule_for

Action = Literal["added", "removed", "in-place", "replaced", "ignored"]
Body = Mapping[str, Any]
RawPath = tuple[Any, ...]  # keys (str), list indices (int), "#" for a block count

EXIT_NO_CHANGES, EXIT_IN_PLACE, EXIT_REPLACES_MACHINES = 0, 3, 4
USER_DATA_KEYS = frozenset({"user_data", "custom_data", "user-data"})
# Meta-arguments: they steer Terraform, the provider never sees them
META_ARGUMENTS = frozenset({"lifecycle", "depends_on", "provider", "count", "for_each", "provisioner", "connection"})
SECRET_CONFIG_KEYS = frozenset({"bootstrap_secrets"})
SHOWN_LIMIT = 120
# Compiled documents nest about a dozen levels; the walks below recurse, so a hostile
# input is refused before them.
MAX_DEPTH = 64


Change = Literal["added", "removed", "changed"]


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
    """What happens to one resource: ``ignored`` when only ignored arguments change."""

    address: str
    action: Action
    role: Role
    replaces_machines: bool
    attributes: tuple[AttributeChange, ...] = ()
    notes: tuple[str, ...] = ()
    create_before_destroy: bool = False


class DocumentChange(msgspec.Struct, frozen=True):
    """A change outside the resources: an output, variable, provider, data source or requirement."""

    kind: Literal["output", "variable", "provider", "data", "terraform"]
    name: str
    action: Literal["added", "removed", "changed"]
    paths: tuple[str, ...] = ()


class Diff(msgspec.Struct, frozen=True):
    resources: tuple[ResourceChange, ...]
    document: tuple[DocumentChange, ...] = ()

    @property
    def exit_code(self) -> int:
        """4 when machines are replaced or destroyed, 3 for any other change, 0 for none."""
        if any(r.replaces_machines for r in self.resources):
            return EXIT_REPLACES_MACHINES
        if self.document or any(r.action != "ignored" for r in self.resources):
            return EXIT_IN_PLACE
        return EXIT_NO_CHANGES


# --- documents -------------------------------------------------------------------------------


class _Missing:
    """An argument a body does not set."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _Document:
    """One side of the diff: its resources by address, locals, secrets and providers."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.resources: dict[str, tuple[str, Body]] = {
            f"{kind}.{name}": (kind, body)
            for kind, named in _mapping(doc.get("resource")).items()
            for name, body in _mapping(named).items()
            if isinstance(body, Mapping)
        }
        self.data: dict[str, Body] = {
            f"data.{kind}.{name}": body
            for kind, named in _mapping(doc.get("data")).items()
            for name, body in _mapping(named).items()
            if isinstance(body, Mapping)
        }
        self.locals: dict[str, Any] = dict(_mapping(doc.get("locals")))
        self.variables: dict[str, Any] = dict(_mapping(doc.get("variable")))
        self.secret_variables = frozenset(
            f"var.{name}" for name, block in self.variables.items() if _first(block).get("sensitive") is True
        )
        self._local_refs: dict[str, frozenset[Reference]] = {}

    def provider(self, name: str) -> Body:
        """The provider's default (unaliased) configuration."""
        blocks = _mapping(self.doc.get("provider")).get(name)
        for block in blocks if isinstance(blocks, list) else [blocks]:
            if isinstance(block, Mapping) and "alias" not in block:
                return block
        return {}

    def local_references(self, name: str, seen: frozenset[str] = frozenset()) -> frozenset[Reference]:
        """What a local refers to, through other locals."""
        if name not in self._local_refs:
            direct = readback.value_references(self.locals.get(name))
            found = {r for r in direct if not r.target.startswith("local.")}
            for r in direct:
                inner = r.target.removeprefix("local.")
                if r.target.startswith("local.") and inner not in seen and inner in self.locals:
                    found |= self.local_references(inner, seen | {name})
            self._local_refs[name] = frozenset(found)
        return self._local_refs[name]

    def references(self, value: Any) -> frozenset[Reference]:
        """What a value refers to, locals expanded."""
        found: set[Reference] = set()
        for r in readback.value_references(_plain(value)):
            if r.target.startswith("local."):
                found |= self.local_references(r.target.removeprefix("local."))
            else:
                found.add(r)
        return frozenset(found)

    def resolved(self, value: Any) -> Any:
        """A value with each string that reads locals paired with what they hold, so that
        equal text over changed locals compares unequal."""
        if isinstance(value, str):
            if "local." not in value:
                return value
            names = sorted(r.target for r in readback.references(value) if r.target.startswith("local."))
            if not names:
                return value
            return _LocalText(value, tuple((n, json.dumps(self._local_value(n), sort_keys=True)) for n in names))
        if isinstance(value, Mapping):
            return {k: self.resolved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolved(v) for v in value]
        return value

    def _local_value(self, target: str, depth: int = 0) -> Any:
        value = self.locals.get(target.removeprefix("local."))
        if depth < 8 and isinstance(value, str) and "local." in value:
            inner = sorted(r.target for r in readback.references(value) if r.target.startswith("local."))
            return [value, *(self._local_value(n, depth + 1) for n in inner)]
        return value

    def is_secret(self, value: Any) -> bool:
        return bool(self.secret_variables) and any(r.target in self.secret_variables for r in self.references(value))


class _LocalText(msgspec.Struct, frozen=True):
    """A string that reads locals, and (name, value) of each: compared as a whole."""

    text: str
    locals: tuple[tuple[str, str], ...]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _first(value: Any) -> Mapping[str, Any]:
    """A block written as an object or as a list of one."""
    if isinstance(value, list):
        value = value[0] if value else {}
    return _mapping(value)


def _depth(value: Any) -> int:
    """How deeply a JSON value nests (iteratively: the value may be hostile)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def document_problems(doc: Any) -> Problems:
    """Why ``doc`` is not a Terraform JSON document nixk8s can compare (empty when it is)."""
    if not isinstance(doc, Mapping):
        return (Problem("", "not a Terraform JSON document: not a JSON object"),)
    if _depth(doc) > MAX_DEPTH:
        return (Problem("", f"not a Terraform JSON document nixk8s wrote: it nests deeper than {MAX_DEPTH} levels"),)
    if not any(key in doc for key in ("resource", "terraform", "provider")):
        return (Problem("", "not a Terraform JSON document: no resource, terraform or provider block"),)
    resources = doc.get("resource", {})
    if not isinstance(resources, Mapping):
        return (Problem("resource", "must be a JSON object"),)
    return tuple(
        Problem(join_path("resource", kind), "must map each name to a JSON object")
        for kind, named in resources.items()
        if not isinstance(named, Mapping) or not all(isinstance(b, Mapping) for b in named.values())
    )


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
    """A value as short JSON text; None for an absent one."""
    if value is MISSING:
        return None
    text = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= SHOWN_LIMIT else text[: SHOWN_LIMIT - 1] + "…"


def _plain(value: Any) -> Any:
    if isinstance(value, _LocalText):
        return value.text
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def normalised(path: RawPath) -> tuple[str, ...]:
    """A path as the replacement table names it: list indices left out."""
    return tuple(str(s) for s in path if not isinstance(s, int))


# --- walking two bodies ----------------------------------------------------------------------


class _Leaf(msgspec.Struct, frozen=True):
    """A changed value: ``whole`` when it appears, goes or changes type as a whole."""

    path: RawPath
    old: Any
    new: Any
    whole: bool = False


def _is_blocks(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _walk(old: Any, new: Any, path: RawPath) -> Iterator[_Leaf]:
    """The changed leaves between two values (mappings by key, block lists by index)."""
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            yield from _walk(old.get(key, MISSING), new.get(key, MISSING), (*path, key))
        return
    if isinstance(old, list) and isinstance(new, list) and (_is_blocks(old) or _is_blocks(new)):
        if len(old) == len(new):
            for i, (a, b) in enumerate(zip(old, new)):
                yield from _walk(a, b, (*path, i))
            return
        # a different number of blocks: the count, and which blocks come and go (as a set:
        # a firewall rule added in the middle is one new rule, not every later one changed)
        yield _Leaf((*path, "#"), len(old), len(new))
        yield from (_Leaf(path, item, MISSING, whole=True) for item in old if item not in new)
        yield from (_Leaf(path, MISSING, item, whole=True) for item in new if item not in old)
        return
    whole = old is MISSING or new is MISSING or isinstance(old, (Mapping, list)) != isinstance(new, (Mapping, list))
    yield _Leaf(path, old, new, whole)


# --- a machine's cluster-config ---------------------------------------------------------------


def _config_leaves(old: Any, new: Any, path: RawPath) -> Iterator[_Leaf]:
    """Changed cluster-config keys; a secret section is walked key by key, so each is named."""
    if old == new:
        return
    containers = (old is MISSING or isinstance(old, dict)) and (new is MISSING or isinstance(new, dict))
    if containers and (isinstance(old, dict) or isinstance(new, dict)):
        before, after = _mapping(old if old is not MISSING else {}), _mapping(new if new is not MISSING else {})
        for key in sorted(set(before) | set(after)):
            yield from _config_leaves(before.get(key, MISSING), after.get(key, MISSING), (*path, key))
        return
    if _is_blocks(old) and _is_blocks(new) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            yield from _config_leaves(a, b, (*path, i))
        return
    yield _Leaf(path, old, new)


def _change(leaf: _Leaf) -> Change:
    return "added" if leaf.old is MISSING else "removed" if leaf.new is MISSING else "changed"


def _config_changes(old: Any, new: Any, sides: tuple[_Document, _Document]) -> tuple[ConfigChange, ...]:
    changes = []
    for leaf in _config_leaves(old, new, ()):
        secret = bool(leaf.path and leaf.path[0] in SECRET_CONFIG_KEYS) or any(
            side.is_secret(value) for side, value in zip(sides, (leaf.old, leaf.new)) if value is not MISSING
        )
        shown = (None, None) if secret else (show(leaf.old), show(leaf.new))
        changes.append(ConfigChange(show_path(leaf.path), _change(leaf), *shown, secret=secret))
    return tuple(changes)


def _user_data_change(old: Any, new: Any, sides: tuple[_Document, _Document]) -> tuple[tuple[ConfigChange, ...], str]:
    """The cluster-config keys a user_data change changes, and what else it changes."""
    texts = [v.text if isinstance(v, _LocalText) else v for v in (old, new)]
    embedded = [
        readback.embedded_config(readback.machine_view(t, side.locals)) if isinstance(t, str) else None
        for t, side in zip(texts, sides)
    ]
    configs = [e.config if e is not None and e.config is not None else MISSING for e in embedded]
    if configs[0] is MISSING and configs[1] is MISSING:
        return (), "the user_data changes (it holds no cluster-config)"
    changes = _config_changes(configs[0], configs[1], sides)
    frames = [e.frame if e is not None else "" for e in embedded]
    formats = [readback.user_data_format(f) for f in frames]
    if formats[0] != formats[1]:
        return changes, f"the user_data changes from {formats[0]} to {formats[1]}"
    if frames[0] != frames[1]:
        return changes, "the script around the cluster-config changes too"
    return changes, "the cluster-config changes" if changes else "the user_data changes"


# --- classifying ------------------------------------------------------------------------------


def _ignore_patterns(body: Body) -> tuple[str, ...] | Literal["all"]:
    """The resource's ``lifecycle.ignore_changes`` as table patterns (indices dropped)."""
    entries = _first(body.get("lifecycle")).get("ignore_changes", [])
    if entries == "all" or entries == ["all"]:
        return "all"
    patterns = []
    for entry in entries if isinstance(entries, list) else []:
        text = str(entry).removeprefix("${").removesuffix("}")
        steps = [s.strip('"') for s in text.replace("[", ".").replace("]", "").split(".")]
        patterns.append(".".join(s for s in steps if s and not s.isdigit()))
    return tuple(patterns)


class _Context(msgspec.Struct, frozen=True):
    """What classifying one resource needs: its type's rule and both bodies."""

    rule: ResourceRule | None
    old: Body
    new: Body
    provider: Body
    ignored: tuple[str, ...] | Literal["all"]
    sides: tuple[_Document, _Document]


def _replacement_reason(ctx: _Context, leaf: _Leaf) -> str | None:
    rule, path = ctx.rule, normalised(leaf.path)
    if rule is None or any(matches(p, path, leaf.whole) for p in rule.updatable):
        return None
    for conditional in rule.conditional:
        if matches(conditional.pattern, path, leaf.whole):
            return conditional.replaces(ctx.old, ctx.new, leaf.path)
    forcing = next((p for p in rule.replacing if matches(p, path, leaf.whole)), None)
    if forcing is None:
        return None
    # name the pattern (``labels`` for ``labels.team``), or the argument where it is a wildcard
    return f"{'.'.join(path) if '*' in forcing else forcing} forces replacement"


def _attribute_change(ctx: _Context, leaf: _Leaf, cause: str | None = None) -> AttributeChange:
    path, shown = normalised(leaf.path), show_path(leaf.path)
    ignored = ctx.ignored == "all" or any(matches(p, path) for p in ctx.ignored)
    kept = ctx.rule is not None and leaf.new is MISSING and any(matches(p, path) for p in ctx.rule.kept_when_removed)
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
    if ignored:
        why = "lifecycle.ignore_changes: Terraform will not apply it"
        return AttributeChange(
            shown, _change(leaf), *values, ignored=True, secret=secret, reason=_joined(note, why), config=config
        )
    if kept:
        why = "removed from the configuration: the provider keeps the current value"
        return AttributeChange(shown, "removed", *values, ignored=True, secret=secret, reason=why)
    forcing = _replacement_reason(ctx, leaf)
    reason = _joined(note, forcing) if forcing else note
    return AttributeChange(
        shown, _change(leaf), *values, replaces=forcing is not None, secret=secret, reason=reason, config=config
    )


def _joined(*parts: str | None) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None


def _disruptions(ctx: _Context, changes: list[tuple[_Leaf, AttributeChange]]) -> list[tuple[str, bool]]:
    """The (note, replaces machines) of each disruptive in-place change, once each."""
    if ctx.rule is None:
        return []
    found: dict[str, bool] = {}
    for leaf, change in changes:
        if change.ignored or change.replaces:
            continue
        for d in ctx.rule.disruptive:
            if matches(d.pattern, normalised(leaf.path), leaf.whole) and (d.when is None or d.when(ctx.old, ctx.new, ctx.provider)):
                found[d.note] = found.get(d.note, False) or d.replaces_machines
    return list(found.items())


class _Pending:
    """A resource in both documents while the cascade runs: its changes so far."""

    def __init__(self, address: str, kind: str, ctx: _Context, leaves: list[_Leaf], caused: list[tuple[_Leaf, str]]) -> None:
        self.address, self.kind, self.ctx = address, kind, ctx
        self.changes = [(leaf, _attribute_change(ctx, leaf)) for leaf in leaves]
        self.changes += [(leaf, _attribute_change(ctx, leaf, cause)) for leaf, cause in caused]
        self.paths = {leaf.path for leaf in leaves} | {leaf.path for leaf, _ in caused}

    @property
    def action(self) -> Action:
        live = [c for _, c in self.changes if not c.ignored]
        if any(c.replaces for c in live):
            return "replaced"
        return "in-place" if live else "ignored"

    def result(self) -> ResourceChange:
        rule, action = self.ctx.rule, self.action
        role: Role = rule.role if rule else "other"
        disruptions = _disruptions(self.ctx, self.changes) if action == "in-place" else []
        notes = [note for note, _ in disruptions]
        if action == "replaced":
            notes.insert(0, _machine_effect(role, "replaced"))
            if rule and rule.replaced_note:
                notes.append(rule.replaced_note)
        if rule is None and action != "ignored":
            notes.append(f"{self.kind} is not in nixk8s' replacement table: whether this replaces it is not known")
        machines = (action == "replaced" and role != "other") or any(r for _, r in disruptions)
        return ResourceChange(
            self.address,
            action,
            role,
            machines,
            tuple(sorted((c for _, c in self.changes), key=lambda c: c.path)),
            tuple(n for n in notes if n),
            _create_before_destroy(self.ctx.new),
        )


def _machine_effect(role: Role, action: Action) -> str:
    if role == "machine":
        return {"replaced": "replaces the machine", "removed": "destroys the machine", "added": "a new machine"}[action]
    if role == "owns-machines":
        return {
            "replaced": "replaces the machines it runs",
            "removed": "destroys the machines it runs",
            "added": "a new group of machines",
        }[action]
    return ""


def _create_before_destroy(body: Body) -> bool:
    return _first(body.get("lifecycle")).get("create_before_destroy") is True


# --- the cascade -------------------------------------------------------------------------------


def _literal(value: Any) -> bool:
    return value is not MISSING and not (isinstance(value, str) and readback.has_interpolation(value)) and not isinstance(
        value, (Mapping, list)
    )


def _reference_cause(ref: Reference, pending: Mapping[str, _Pending], data_changed: frozenset[str]) -> str | None:
    """Why a reference's value changes at apply time, or None when it keeps its value."""
    if ref.target in data_changed:
        return f"{ref.target} changes (read when planning)"
    target = pending.get(ref.target)
    if target is None or target.action == "ignored":
        return None
    attribute = ref.attribute
    configured = target.ctx.new.get(attribute, MISSING) if attribute else MISSING
    if _literal(configured):
        before = target.ctx.old.get(attribute, MISSING) if attribute else MISSING
        return None if before == configured else f"{ref} changes"
    if target.action == "replaced":
        return f"known after apply: {ref.target} is replaced"
    rule = target.ctx.rule
    if rule and attribute in rule.changes_on_update:
        return f"known after apply: {ref.target} changes ({attribute})"
    return None


def _leaves_with_references(doc: _Document, body: Body, path: RawPath = ()) -> Iterator[tuple[RawPath, Any, frozenset[Reference]]]:
    """Each leaf of a body that refers to something, with what it refers to."""
    for key, value in body.items():
        if not path and key in META_ARGUMENTS:
            continue
        here = (*path, key)
        if isinstance(value, Mapping):
            yield from _leaves_with_references(doc, value, here)
        elif _is_blocks(value):
            for i, item in enumerate(value):
                yield from _leaves_with_references(doc, item, (*here, i))
        else:
            refs = doc.references(value)
            if refs:
                yield here, value, refs


def _cascade(pending: dict[str, _Pending], new: _Document, data_changed: frozenset[str]) -> None:
    """Mark every argument that reads a changed value, until nothing more changes."""
    referring = {
        address: [(path, value, refs) for path, value, refs in _leaves_with_references(new, p.ctx.new)]
        for address, p in pending.items()
    }
    changed = True
    while changed:
        changed = False
        for address, p in pending.items():
            if p.action == "replaced":
                continue
            for path, value, refs in referring[address]:
                if path in p.paths:
                    continue
                cause = next((c for c in (_reference_cause(r, pending, data_changed) for r in sorted(refs, key=str)) if c), None)
                if cause is None:
                    continue
                leaf = _Leaf(path, value, value)
                p.changes.append((leaf, _attribute_change(p.ctx, leaf, cause)))
                p.paths.add(path)
                changed = True


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


def _document_changes(old: _Document, new: _Document) -> list[DocumentChange]:
    changes = list(_blocks_changes("output", _mapping(old.doc.get("output")), _mapping(new.doc.get("output"))))
    changes += _blocks_changes("variable", old.variables, new.variables)
    changes += _blocks_changes("provider", _mapping(old.doc.get("provider")), _mapping(new.doc.get("provider")))
    changes += _blocks_changes("data", old.data, new.data)
    before, after = (_mapping(_mapping(d.doc.get("terraform")).get("required_providers")) for d in (old, new))
    changes += _blocks_changes("terraform", before, after)
    return changes


# --- the diff --------------------------------------------------------------------------------


def _context(kind: str, old: Body, new: Body, sides: tuple[_Document, _Document]) -> _Context:
    return _Context(rule_for(kind), old, new, sides[1].provider(provider_of(kind)), _ignore_patterns(new), sides)


def _one_sided(address: str, kind: str, action: Action) -> ResourceChange:
    rule = rule_for(kind)
    role: Role = rule.role if rule else "other"
    notes = tuple(n for n in (_machine_effect(role, action),) if n)
    return ResourceChange(address, action, role, action == "removed" and role != "other", notes=notes)


def _region_change(kind: str, body: Body, old: _Document, new: _Document) -> list[tuple[_Leaf, str]]:
    """A regional AWS resource lives in its provider's region (unless it names its own):
    a new region is a new resource."""
    provider = provider_of(kind)
    before, after = old.provider(provider).get("region"), new.provider(provider).get("region")
    rule = rule_for(kind)
    if provider != "aws" or before == after or "region" in body or rule is None or "region" not in rule.replacing:
        return []
    leaf = _Leaf(("region",), MISSING if before is None else before, MISSING if after is None else after)
    return [(leaf, f"the {provider} provider's region changes from {before} to {after}")]


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> Diff:
    """What applying NEW over OLD changes, resource by resource, and what replaces machines."""
    before, after = _Document(old), _Document(new)
    sides = (before, after)
    changes: list[ResourceChange] = []
    pending: dict[str, _Pending] = {}
    for address in sorted(set(before.resources) | set(after.resources)):
        if address not in after.resources:
            changes.append(_one_sided(address, before.resources[address][0], "removed"))
            continue
        if address not in before.resources:
            changes.append(_one_sided(address, after.resources[address][0], "added"))
            continue
        (kind, old_body), (_, new_body) = before.resources[address], after.resources[address]
        leaves = list(
            _walk(
                before.resolved({k: v for k, v in old_body.items() if k not in META_ARGUMENTS}),
                after.resolved({k: v for k, v in new_body.items() if k not in META_ARGUMENTS}),
                (),
            )
        )
        caused = _region_change(kind, new_body, before, after)
        pending[address] = _Pending(address, kind, _context(kind, old_body, new_body, sides), leaves, caused)
    document = _document_changes(before, after)
    data_changed = frozenset(c.name for c in document if c.kind == "data")
    _cascade(pending, after, data_changed)
    changes += [p.result() for p in pending.values() if p.changes]
    return Diff(tuple(sorted(changes, key=lambda c: c.address)), tuple(document))
