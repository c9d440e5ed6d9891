"""Reading a Terraform JSON document: templates, references, locals, and user_data as the machine sees it.

``nixk8s diff`` compares two documents, which may be files it did not compile, so a
document is hostile input until read. Every string in one is a Terraform template:
literal text (``$${`` and ``%%{`` escape the template syntax) and ``${EXPR}``
interpolations. This module splits those strings, finds the resources, variables and
locals an expression refers to (through locals too), and reads a machine's user_data
the way the machine receives it: ``base64encode(local.X)`` is undone by reading the
local, and the embedded cluster-config JSON is taken out of the shell script or
cloud-config around it, with each interpolation Terraform has yet to evaluate kept as
its source text (``${var.k3s_token}``).

:func:`read_document` reads a whole document once, into a :class:`TfDocument`, or
refuses it with the path of what passes a bound. Every walk here is iterative or bounded
by a depth checked first, and what locals read is worked out once per group of locals
that read one another (memoised, in one pass over them), so that a document costs time
about linear in its size:

- JSON nesting: at most ``MAX_DEPTH`` levels (compiled documents nest about a dozen);
- templates inside templates (``${"${"…``): at most ``MAX_TEMPLATE_DEPTH``;
- locals that read locals: chains at most ``MAX_LOCAL_DEPTH`` long (nixk8s writes one);
- references followed through locals, over the document: at most ``MAX_REFERENCES``.

>>> split_template('echo $${HOME} ${var.x}')
('echo ${HOME} ', Interpolation(source='var.x'))
>>> sorted(str(r) for r in references("${jsonencode(aws_lb.demo_cp_nlb.dns_name)}"))
['aws_lb.demo_cp_nlb.dns_name']
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, Literal, Union

import msgspec
from returns.result import Failure, Result, Success

from nixk8s.limits import scan_problem
from nixk8s.problems import Problem, Problems, join_path

Body = Mapping[str, Any]
RawPath = tuple[Any, ...]  # keys (str), list indices (int), "#" for a block count

MAX_DEPTH = 64
MAX_TEMPLATE_DEPTH = 32
MAX_LOCAL_DEPTH = 32
MAX_REFERENCES = 1_000_000
# Meta-arguments: they steer Terraform, the provider never sees them
META_ARGUMENTS = frozenset({"lifecycle", "depends_on", "provider", "count", "for_each", "provisioner", "connection"})


class Interpolation(msgspec.Struct, frozen=True):
    """The source text of one ``${...}`` interpolation, without the braces."""

    source: str


Part = Union[str, Interpolation]


class Reference(msgspec.Struct, frozen=True):
    """What an expression refers to: ``target`` is ``TYPE.NAME``, ``data.TYPE.NAME``,
    ``var.NAME`` or ``local.NAME``; ``attribute`` the first attribute read from it."""

    target: str
    attribute: str | None = None

    def __str__(self) -> str:
        return self.target if self.attribute is None else f"{self.target}.{self.attribute}"


class EmbeddedConfig(msgspec.Struct, frozen=True):
    """A user_data's cluster-config and the script (or cloud-config) around it.

    ``config`` is None when the text holds no cluster-config JSON; ``frame`` is the
    text with the config's line replaced by ``<cluster-config>``.
    """

    config: dict[str, Any] | None
    frame: str


CONFIG_MARKER = "<cluster-config>"


class _Missing:
    """An argument a body does not set."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# --- templates -------------------------------------------------------------------------


# what can open or close something, in a quoted string and in an expression
_IN_STRING = re.compile(r'[\\"$%]')
_IN_EXPRESSION = re.compile(r'["{}]')


def _scan(s: str, i: int) -> tuple[int, int]:
    """From ``s[i]``, a ``"`` that opens an HCL quoted string or the ``${`` (or ``%{``) of
    an interpolation: the index just past where it closes (-1 when it does not), and how
    deeply templates nest in it (itself counts 1).

    Strings hold interpolations and interpolations hold strings, to any depth: a stack
    of what is open, not recursion, so that the depth costs nothing but the stack; each
    step jumps to the next character that can open or close something.
    """
    # what is open, innermost last: None for a quoted string, else the braces open in an expression
    stack: list[int | None] = [None] if s[i] == '"' else [0]
    i += 1 if s[i] == '"' else 2
    deepest = 1
    while True:
        top = stack[-1]
        found = (_IN_STRING if top is None else _IN_EXPRESSION).search(s, i)
        if found is None:
            return -1, deepest
        i, c = found.start(), found.group()
        if top is None:  # in a quoted string
            if c == "\\":
                i += 2
                continue
            if s.startswith(("$${", "%%{"), i):
                i += 3
                continue
            if s.startswith(("${", "%{"), i):
                stack.append(0)
                deepest = max(deepest, len(stack))
                i += 2
                continue
            if c == '"':
                stack.pop()
        elif c == '"':
            stack.append(None)
            deepest = max(deepest, len(stack))
        elif c == "{":
            stack[-1] = top + 1
        elif top:  # a "}" closing a brace of the expression
            stack[-1] = top - 1
        else:  # the "}" that closes the interpolation
            stack.pop()
        i += 1
        if not stack:
            return i, deepest


def _string_end(s: str, i: int) -> int:
    """Index after the HCL quoted string that opens at ``s[i] == '"'`` (or len(s))."""
    end, _ = _scan(s, i)
    return end if end >= 0 else len(s)


_TEMPLATE_SYNTAX = re.compile(r"\$\$\{|%%\{|\$\{")


@lru_cache(maxsize=4096)
def _template(text: str) -> tuple[tuple[Part, ...], int]:
    """A template's parts, and how deeply templates nest in its interpolations (0: none)."""
    parts: list[Part] = []
    literal: list[str] = []
    deepest = i = 0
    while True:
        found = _TEMPLATE_SYNTAX.search(text, i)
        if found is None:
            literal.append(text[i:])
            break
        literal.append(text[i : found.start()])
        if found.group() != "${":  # an escape: the template syntax as literal text
            literal.append(found.group()[0] + "{")
            i = found.end()
            continue
        end, depth = _scan(text, found.start())
        deepest = max(deepest, depth)
        close = end - 1 if end >= 0 else len(text)
        if any(literal):
            parts.append("".join(literal))
        literal = []
        parts.append(Interpolation(text[found.start() + 2 : close].strip()))
        i = close + 1
        if i > len(text):
            break
    if any(literal):
        parts.append("".join(literal))
    return tuple(parts), deepest


def split_template(text: str) -> tuple[Part, ...]:
    """A template string as literal text (escapes undone) and interpolations, in order.

    >>> split_template('a %%{b} ${ local.c } d')
    ('a %{b} ', Interpolation(source='local.c'), ' d')
    """
    return _template(text)[0]


def template_depth(text: str) -> int:
    """How deeply templates nest in a string's interpolations: 0 for none, 1 for ``${x}``.

    >>> template_depth('${jsonencode("https://${aws_lb.a.dns_name}:6443")}')
    3
    """
    return _template(text)[1] if "${" in text else 0


def has_interpolation(text: str) -> bool:
    return "${" in text and any(isinstance(p, Interpolation) for p in split_template(text))


# A reference: a resource (its type has an underscore), a data source, a variable or a
# local, then an attribute. Quoted text inside an expression can look like one too;
# callers keep only the references whose target the document declares.
_REFERENCE = re.compile(
    r"(?<![\w.\-])(data\.[a-z][a-z0-9]*_[a-z0-9_]+\.[A-Za-z_][\w-]*|[a-z][a-z0-9]*_[a-z0-9_]+\.[A-Za-z_][\w-]*"
    r"|var\.[A-Za-z_][\w-]*|local\.[A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?"
)


def expression_references(source: str) -> frozenset[Reference]:
    """The references in one expression's source text."""
    found = set()
    for match in _REFERENCE.finditer(source):
        target, attribute = match.group(1), match.group(2)
        if target.startswith(("var.", "local.")):
            found.add(Reference(target))
        else:
            found.add(Reference(target, attribute))
    return frozenset(found)


def references(text: str) -> frozenset[Reference]:
    """Every reference in the interpolations of a template string."""
    if "${" not in text:
        return frozenset()
    found: set[Reference] = set()
    for part in split_template(text):
        if isinstance(part, Interpolation):
            found |= expression_references(part.source)
    return frozenset(found)


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


# --- what a machine's user_data says -----------------------------------------------------

_CALL = re.compile(r"^([a-z0-9_]+)\((.*)\)$", re.S)
_LOCAL = re.compile(r"^local\.([A-Za-z_][\w-]*)$")
_HCL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
# how many locals a user_data may pass through to its text (nixk8s writes one)
_USER_DATA_HOPS = 8


def _hcl_string(source: str) -> str | None:
    """The template text of an HCL quoted string literal (``"..."``), or None if it is not one."""
    if len(source) < 2 or source[0] != '"' or _string_end(source, 0) != len(source):
        return None
    out: list[str] = []
    i = 1
    while i < len(source) - 1:
        c = source[i]
        if c == "\\":
            nxt = source[i + 1]
            if nxt == "u":
                digits = source[i + 2 : i + 6]
                if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    return None  # not a string nixk8s wrote: read the template as it stands
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            out.append(_HCL_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def machine_view(text: str, locals_: Mapping[str, Any]) -> tuple[Part, ...]:
    """A user_data value as the machine receives it, as template parts.

    ``${base64encode(X)}`` is the value of X (the cloud decodes it); ``${local.X}`` is
    that local's template. Anything else is the template itself, whose interpolations
    Terraform evaluates at apply time.
    """
    parts = split_template(text)
    for _ in range(_USER_DATA_HOPS + 1):
        if len(parts) != 1 or not isinstance(parts[0], Interpolation):
            return parts
        source = parts[0].source
        call = _CALL.match(source)
        inner = call.group(2).strip() if call and call.group(1) == "base64encode" else source
        local = _LOCAL.match(inner)
        if local and isinstance(locals_.get(local.group(1)), str):
            parts = split_template(locals_[local.group(1)])
            continue
        literal = _hcl_string(inner) if call else None
        return split_template(literal) if literal is not None else parts
    return parts


def placeholder(interpolation: Interpolation) -> str:
    """How an interpolation Terraform has yet to evaluate is shown: ``${var.k3s_token}``.

    ``jsonencode(X)`` shows as X: nixk8s wraps every value it interpolates into JSON so.

    >>> placeholder(Interpolation('jsonencode("https://${aws_lb.a.dns_name}:6443")'))
    'https://${aws_lb.a.dns_name}:6443'
    """
    call = _CALL.match(interpolation.source)
    if not (call and call.group(1) == "jsonencode"):
        return "${" + interpolation.source + "}"
    inner = call.group(2).strip()
    literal = _hcl_string(inner)
    # a quoted template (``"https://${aws_lb.x.dns_name}:6443"``) shows as its text
    return literal if literal is not None else "${" + inner + "}"


def _json_line(parts: tuple[Part, ...]) -> str:
    """Parts as JSON text: an interpolation where a value goes becomes a JSON string of
    its placeholder; inside a JSON string, the placeholder's escaped text."""
    out: list[str] = []
    in_string = escaped = False
    for part in parts:
        if isinstance(part, Interpolation):
            shown = placeholder(part)
            out.append(json.dumps(shown)[1:-1] if in_string else json.dumps(shown))
            continue
        for c in part:
            if in_string:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
        out.append(part)
    return "".join(out)


def _lines(parts: tuple[Part, ...]) -> list[tuple[Part, ...]]:
    """Template parts split at the newlines of their literal text."""
    lines: list[list[Part]] = [[]]
    for part in parts:
        if isinstance(part, Interpolation):
            lines[-1].append(part)
            continue
        pieces = part.split("\n")
        for n, piece in enumerate(pieces):
            if n:
                lines.append([])
            if piece:
                lines[-1].append(piece)
    return [tuple(line) for line in lines]


def _shown(parts: tuple[Part, ...]) -> str:
    return "".join(placeholder(p) if isinstance(p, Interpolation) else p for p in parts)


def embedded_config(parts: tuple[Part, ...]) -> EmbeddedConfig:
    """The cluster-config JSON that a user_data writes, and the text around it.

    The config is the first line that is a JSON object (nixk8s writes it as one line,
    in a shell heredoc or a cloud-config literal block, both indented or not) nested at
    most ``MAX_DEPTH`` deep, as every value of a document is.
    """
    lines = _lines(parts)
    for n, line in enumerate(lines):
        head = line[0] if line else ""
        if not isinstance(head, str) or not head.lstrip().startswith("{"):
            continue
        stripped = (head.lstrip(), *line[1:])
        text = _json_line(stripped)
        if scan_problem(text, "json") is not None:
            continue
        try:
            config = json.loads(text)
        except ValueError:
            continue
        if isinstance(config, dict):
            indent = head[: len(head) - len(head.lstrip())]
            frame = [_shown(other) for other in lines]
            frame[n] = indent + CONFIG_MARKER
            return EmbeddedConfig(config, "\n".join(frame))
    return EmbeddedConfig(None, _shown(parts))


def user_data_format(frame: str) -> str:
    """What kind of user_data a text is: ``shell``, ``cloud-config`` or ``other``."""
    if frame.startswith("#cloud-config"):
        return "cloud-config"
    if frame.startswith("#!"):
        return "shell"
    return "other"


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
