"""Reading a Terraform JSON document for ``nixk8s diff``: once, within bounds.

``nixk8s diff`` compares two documents, which may be files it did not compile, so a
document is hostile input until read. :func:`read_document` reads one into a
:class:`TfDocument` (its resources by address, data sources, locals, variables, and
what each local and each resource argument refers to, through locals too), or refuses
it with the path of what passes a bound. Every walk here is iterative or bounded by a
depth checked first, and what locals read is worked out once per group of locals that
read one another (memoised, in one pass over them), so that a document costs time about
linear in its size:

- JSON nesting: at most ``MAX_DEPTH`` levels (compiled documents nest about a dozen);
- templates inside templates (``${"${"…``): at most ``MAX_TEMPLATE_DEPTH`` (nixk8s writes 3);
- locals that read locals: chains at most ``MAX_LOCAL_DEPTH`` long (nixk8s writes one);
- references followed through locals, over the document: at most ``MAX_REFERENCES``.

The template language is :mod:`nixk8s.document_diff.templates`; a user_data as the machine
sees it, :mod:`nixk8s.document_diff.user_data`.

>>> doc = {"resource": {"random_id": {"a": {"keepers": "${local.l}"}}}, "locals": {"l": "${var.v}"}}
>>> [str(r) for r in read_document(doc).unwrap().references("${local.l}")]
['var.v']
>>> document_problems({"resource": {"random_id": {"a": {"keepers": "${" + '"${' * 20 + "}"}}}})[0].path
'resource.random_id.a.keepers'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal, Union

import msgspec
from returns.result import Failure, Result, Success

from nixk8s.document_diff.templates import Reference, references, template_depth
from nixk8s.problems import Problem, Problems, join_path

Body = Mapping[str, Any]
RawPath = tuple[Any, ...]  # keys (str), list indices (int), "#" for a block count

MAX_DEPTH = 64
MAX_TEMPLATE_DEPTH = 32
MAX_LOCAL_DEPTH = 32
MAX_REFERENCES = 1_000_000
# Meta-arguments: they steer Terraform, the provider never sees them
META_ARGUMENTS = frozenset({"lifecycle", "depends_on", "provider", "count", "for_each", "provisioner", "connection"})


# --- values of a document ----------------------------------------------------------------------


class _Missing:
    """An argument a body does not set."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class LocalText(msgspec.Struct, frozen=True):
    """A string that reads locals, and a fingerprint of what each holds: compared as a
    whole, so that equal text over changed locals compares unequal."""

    text: str
    locals: tuple[tuple[str, str], ...]


def _strings(value: Any) -> Iterator[str]:
    """Every string in a document value, keys included (iteratively: the value may be hostile)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, LocalText):
            yield item.text
        elif isinstance(item, Mapping):
            for key, inner in item.items():
                if isinstance(key, str):
                    yield key
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)


def value_references(value: Any) -> frozenset[Reference]:
    """Every reference in the strings of a document value (keys included)."""
    found: set[Reference] = set()
    for text in _strings(value):
        found |= references(text)
    return frozenset(found)


# --- lifecycle ------------------------------------------------------------------------------

Ignored = Union[tuple[str, ...], Literal["all"]]


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def first_block(value: Any) -> Mapping[str, Any]:
    """A block written as an object or as a list of one."""
    if isinstance(value, list):
        value = value[0] if value else {}
    return mapping(value)


def ignore_patterns(body: Body) -> Ignored:
    """The resource's ``lifecycle.ignore_changes`` as table patterns (indices dropped).

    >>> ignore_patterns({"lifecycle": {"ignore_changes": ["${metadata[\\"user-data\\"]}", "image"]}})
    ('metadata.user-data', 'image')
    """
    entries = first_block(body.get("lifecycle")).get("ignore_changes", [])
    if entries == "all" or entries == ["all"]:
        return "all"
    patterns = []
    for entry in entries if isinstance(entries, list) else []:
        text = str(entry).removeprefix("${").removesuffix("}")
        steps = [s.strip('"') for s in text.replace("[", ".").replace("]", "").split(".")]
        patterns.append(".".join(s for s in steps if s and not s.isdigit()))
    return tuple(patterns)


def creates_before_destroying(body: Body) -> bool:
    return first_block(body.get("lifecycle")).get("create_before_destroy") is True


def is_blocks(value: Any) -> bool:
    """Whether a value is a list of blocks (objects)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


# --- a whole document -----------------------------------------------------------------------


class Reading(msgspec.Struct, frozen=True):
    """A leaf of a resource body that refers to something: where it is, its value, and
    every resource, data source and variable it reads (through locals too)."""

    path: RawPath
    value: Any
    refs: frozenset[Reference]


class TfDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A document read once: its resources by address, data sources, locals, variables,
    and what its locals and resource arguments read.

    ``local_refs``: what each local reads through other locals (locals left out);
    ``secret_locals``: the locals that read a sensitive variable so;
    ``local_prints``: a fingerprint of each local's value and of every local it reads;
    ``readings``: per resource address, the leaves of its body that read something.
    """

    raw: Mapping[str, Any]
    resources: Mapping[str, tuple[str, Body]]
    data: Mapping[str, Body]
    locals: Mapping[str, Any]
    variables: Mapping[str, Any]
    secret_variables: frozenset[str]
    local_refs: Mapping[str, frozenset[Reference]]
    secret_locals: frozenset[str]
    local_prints: Mapping[str, str]
    readings: Mapping[str, tuple[Reading, ...]]

    def provider(self, name: str) -> Body:
        """The provider's default (unaliased) configuration."""
        blocks = mapping(self.raw.get("provider")).get(name)
        for block in blocks if isinstance(blocks, list) else [blocks]:
            if isinstance(block, Mapping) and "alias" not in block:
                return block
        return {}

    def references(self, value: Any) -> frozenset[Reference]:
        """What a value refers to, locals expanded."""
        return _expanded(value_references(value), self.local_refs)

    def is_secret(self, value: Any) -> bool:
        """Whether a value reads a sensitive variable (through locals too)."""
        if not self.secret_variables:
            return False
        return any(
            r.target in self.secret_variables
            or (r.target.startswith("local.") and r.target.removeprefix("local.") in self.secret_locals)
            for r in value_references(value)
        )

    def _print(self, name: str) -> str:
        # a local the document does not set reads as null, as Terraform would refuse it
        return self.local_prints.get(name) or _fingerprint([(name, None)], [])

    def resolved(self, value: Any) -> Any:
        """A value with each string that reads locals paired with what they hold, so that
        equal text over changed locals compares unequal."""
        if isinstance(value, str):
            if "local." not in value:
                return value
            names = sorted(r.target for r in references(value) if r.target.startswith("local."))
            if not names:
                return value
            return LocalText(value, tuple((n, self._print(n.removeprefix("local."))) for n in names))
        if isinstance(value, Mapping):
            return {k: self.resolved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolved(v) for v in value]
        return value


def _expanded(found: frozenset[Reference], local_refs: Mapping[str, frozenset[Reference]]) -> frozenset[Reference]:
    """References with each local replaced by what it reads."""
    locals_read = [r.target.removeprefix("local.") for r in found if r.target.startswith("local.")]
    if not locals_read:
        return found
    direct = frozenset(r for r in found if not r.target.startswith("local."))
    if len(locals_read) == 1 and not direct:
        return local_refs.get(locals_read[0], frozenset())  # shared, not copied
    return direct.union(*(local_refs.get(name, frozenset()) for name in locals_read))


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


def _shape_problems(doc: Any) -> Problems:
    """Why a value is not a Terraform JSON document at all."""
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


def _deepest_template(value: Any) -> int:
    return max((template_depth(text) for text in _strings(value)), default=0)


def _template_problem(sections: Mapping[str, Any]) -> Problem | None:
    """A problem for the first string whose templates nest deeper than MAX_TEMPLATE_DEPTH."""
    for section, value in sections.items():
        if _deepest_template(value) <= MAX_TEMPLATE_DEPTH:
            continue
        # only now, to say where: the same walk with paths
        stack: list[tuple[str, Any]] = [(section, value)]
        while stack:
            path, item = stack.pop()
            if isinstance(item, Mapping):
                for key, inner in reversed(list(item.items())):
                    stack.extend([(join_path(path, str(key)), inner), (join_path(path, str(key)), key)])
                continue
            if isinstance(item, list):
                stack.extend(reversed([(join_path(path, i), inner) for i, inner in enumerate(item)]))
                continue
            depth = template_depth(item) if isinstance(item, str) else 0
            if depth > MAX_TEMPLATE_DEPTH:
                return Problem(
                    path,
                    f"templates nest {depth} deep in this string (a quoted template in an interpolation, and so on); "
                    f"nixk8s diff reads at most {MAX_TEMPLATE_DEPTH}",
                )
    return None


class _Budget:
    """References followed so far, over one document: refused past MAX_REFERENCES."""

    def __init__(self) -> None:
        self.spent = 0

    def spend(self, n: int) -> bool:
        self.spent += n
        return self.spent <= MAX_REFERENCES


def _too_many(path: str) -> Problem:
    return Problem(path, f"reading this passes {MAX_REFERENCES:,} references followed through locals; nixk8s diff follows no more")


def _groups(names: list[str], reads: Mapping[str, list[str]]) -> list[list[str]]:
    """The locals in groups that read one another (strongly connected), each group after
    every group it reads (Tarjan's algorithm, iteratively: a chain may be long)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for root in names:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            name, next_child = work.pop()
            if next_child == 0:
                index[name] = low[name] = len(index)
                stack.append(name)
                on_stack.add(name)
            children = reads[name]
            if next_child < len(children):
                work.append((name, next_child + 1))
                child = children[next_child]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[name] = min(low[name], index[child])
                continue
            if low[name] == index[name]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == name:
                        break
                groups.append(sorted(group))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
    return groups


def _fingerprint(group: list[tuple[str, Any]], read: list[str]) -> str:
    """A digest of a group of locals' values and of the fingerprints of the groups they read."""
    digest = hashlib.blake2b(json.dumps(group, sort_keys=True).encode(), digest_size=16)
    for fingerprint in read:
        digest.update(fingerprint.encode())
    return digest.hexdigest()


class _Locals(msgspec.Struct, frozen=True):
    refs: Mapping[str, frozenset[Reference]]
    secret: frozenset[str]
    prints: Mapping[str, str]


def _read_locals(locals_: Mapping[str, Any], secret_variables: frozenset[str], budget: _Budget) -> _Locals | Problem:
    """What each local reads through the others, worked out once per group of locals that
    read one another; or the problem with them."""
    names = sorted(locals_)
    direct = {n: value_references(locals_[n]) for n in names}
    reads = {
        n: sorted({r.target.removeprefix("local.") for r in direct[n] if r.target.startswith("local.")} & locals_.keys())
        for n in names
    }
    groups = _groups(names, reads)
    group_of = {n: i for i, group in enumerate(groups) for n in group}
    read_groups = [sorted({group_of[m] for n in group for m in reads[n]} - {i}) for i, group in enumerate(groups)]
    depths: list[int] = []
    for i in range(len(groups)):
        depths.append(1 + max((depths[j] for j in read_groups[i]), default=0))
    deepest = max(depths, default=0)
    if deepest > MAX_LOCAL_DEPTH:
        head = groups[depths.index(deepest)][0]
        return Problem(
            join_path("locals", head),
            f"reads a chain of {deepest:,} locals, each reading the next; nixk8s diff follows at most {MAX_LOCAL_DEPTH}",
        )
    refs: dict[str, frozenset[Reference]] = {}
    secret: set[str] = set()
    prints: dict[str, str] = {}
    for i, group in enumerate(groups):
        own = frozenset(r for n in group for r in direct[n] if not r.target.startswith("local."))
        inner = [refs[groups[j][0]] for j in read_groups[i]]
        if len(inner) == 1 and own <= inner[0]:
            found = inner[0]  # shared: nothing new to follow
        else:
            found = own.union(*inner)
            if not budget.spend(len(found)):
                return _too_many(join_path("locals", group[0]))
        reads_secret = any(r.target in secret_variables for r in own) or any(groups[j][0] in secret for j in read_groups[i])
        fingerprint = _fingerprint([(n, locals_[n]) for n in group], [prints[groups[j][0]] for j in read_groups[i]])
        for n in group:
            refs[n] = found
            prints[n] = fingerprint
            if reads_secret:
                secret.add(n)
    return _Locals(refs, frozenset(secret), prints)


def _readings(
    body: Body, path: str, local_refs: Mapping[str, frozenset[Reference]], budget: _Budget
) -> tuple[Reading, ...] | Problem:
    """The leaves of a resource body that refer to something, meta-arguments left out."""
    found: list[Reading] = []
    stack: list[tuple[RawPath, Any]] = [((key,), value) for key, value in reversed(list(body.items())) if key not in META_ARGUMENTS]
    while stack:
        where, value = stack.pop()
        if isinstance(value, Mapping):
            stack.extend(((*where, k), v) for k, v in reversed(list(value.items())))
        elif is_blocks(value):
            stack.extend(((*where, i), v) for i, v in reversed(list(enumerate(value))))
        else:
            refs = _expanded(value_references(value), local_refs)
            if not refs:
                continue
            if not budget.spend(len(refs)):
                return _too_many(_shown_path(path, where))
            found.append(Reading(where, value, refs))
    return tuple(found)


def _shown_path(base: str, path: RawPath) -> str:
    for step in path:
        base = join_path(base, step if isinstance(step, int) else str(step))
    return base


def read_document(doc: Any) -> Result[TfDocument, Problems]:
    """A document read for ``nixk8s diff``, or why it cannot be (each problem with its path)."""
    problems = _shape_problems(doc)
    if problems:
        return Failure(problems)
    resources = {
        f"{kind}.{name}": (kind, body)
        for kind, named in mapping(doc.get("resource")).items()
        for name, body in mapping(named).items()
        if isinstance(body, Mapping)
    }
    locals_ = dict(mapping(doc.get("locals")))
    template = _template_problem({"resource": doc.get("resource", {}), "locals": locals_})
    if template is not None:
        return Failure((template,))
    variables = dict(mapping(doc.get("variable")))
    secret_variables = frozenset(
        f"var.{name}" for name, block in variables.items() if first_block(block).get("sensitive") is True
    )
    budget = _Budget()
    read = _read_locals(locals_, secret_variables, budget)
    if isinstance(read, Problem):
        return Failure((read,))
    readings: dict[str, tuple[Reading, ...]] = {}
    for kind, named in mapping(doc.get("resource")).items():
        for name, body in mapping(named).items():
            leaves = _readings(body, join_path(join_path("resource", kind), name), read.refs, budget)
            if isinstance(leaves, Problem):
                return Failure((leaves,))
            readings[f"{kind}.{name}"] = leaves
    return Success(
        TfDocument(
            raw=doc,
            resources=resources,
            data={
                f"data.{kind}.{name}": body
                for kind, named in mapping(doc.get("data")).items()
                for name, body in mapping(named).items()
                if isinstance(body, Mapping)
            },
            locals=locals_,
            variables=variables,
            secret_variables=secret_variables,
            local_refs=read.refs,
            secret_locals=read.secret,
            local_prints=read.prints,
            readings=readings,
        )
    )


def document_problems(doc: Any) -> Problems:
    """Why ``doc`` is not a Terraform JSON document nixk8s can compare (empty when it is)."""
    read = read_document(doc)
    return read.failure() if isinstance(read, Failure) else ()
