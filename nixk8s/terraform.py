"""Terraform JSON: expressions, templates, escaping, and the document encoder.

Terraform reads every JSON string as a template, so a literal ``${`` in a spec value
(or a shell ``${VAR}`` in user_data) would be evaluated. The rule here: every plain
``str`` in a document is a literal and is escaped on the way out; only :class:`Expr`
and :class:`Template` values, which nixk8s builds itself, may interpolate.

>>> encode_value("echo ${HOME}")
'echo $${HOME}'
>>> encode_value(Template(("https://", ref("hcloud_server", "a_cp_0", "ipv4_address"), ":6443")))
'https://${hcloud_server.a_cp_0.ipv4_address}:6443'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import count
from typing import Any, Union

import msgspec


class Expr(msgspec.Struct, frozen=True):
    """An HCL expression nixk8s built, e.g. ``hcloud_network.demo_network.id``.

    ``max_len`` bounds the length in bytes of its value once Terraform has evaluated
    it, and ``json_max_len`` that of ``jsonencode`` of it (by default twice that,
    plus quotes), so that size limits can be checked at compile time.
    """

    text: str
    max_len: int = 64
    json_max_len: int | None = None

    def json_bound(self) -> int:
        return self.json_max_len if self.json_max_len is not None else 2 * self.max_len + 2


class Template(msgspec.Struct, frozen=True):
    """A string made of literal parts and expressions."""

    parts: tuple[Union[str, Expr], ...]

    @staticmethod
    def of(*parts: Union[str, Expr, Template]) -> Template:
        """Concatenate literals, expressions and templates, merging adjacent literals.

        >>> Template.of("a", "b", Expr("x")).parts
        ('ab', Expr(text='x', max_len=64, json_max_len=None))
        """
        flat: list[Union[str, Expr]] = []
        for part in parts:
            for piece in part.parts if isinstance(part, Template) else (part,):
                if isinstance(piece, str) and flat and isinstance(flat[-1], str):
                    flat[-1] = flat[-1] + piece
                elif piece != "":
                    flat.append(piece)
        return Template(tuple(flat))

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def literal(self) -> str:
        """The text of a template without expressions."""
        assert self.is_literal, "template has expressions"
        return "".join(p for p in self.parts if isinstance(p, str))

    def max_len(self) -> int:
        """An upper bound of the evaluated string's length in bytes."""
        return sum(len(p.encode()) if isinstance(p, str) else p.max_len for p in self.parts)


Text = Union[str, Expr, Template]


def ref(resource_type: str, name: str, attribute: str, *, max_len: int = 64) -> Expr:
    """A reference to a resource attribute.

    >>> ref("aws_lb", "demo_cp", "dns_name").text
    'aws_lb.demo_cp.dns_name'
    """
    return Expr(f"{resource_type}.{name}.{attribute}", max_len)


def escape(literal: str) -> str:
    """Escape a literal for a Terraform template.

    >>> escape("a ${b} %{c} $d")
    'a $${b} %%{c} $d'
    """
    if "{" not in literal:  # most literals: nothing to escape, and this is a hot path
        return literal
    return literal.replace("${", "$${").replace("%{", "%%{")


def render(text: Text) -> str:
    """The Terraform JSON string of a literal, expression or template."""
    if isinstance(text, str):
        return escape(text)
    if isinstance(text, Expr):
        return "${" + text.text + "}"
    return "".join(escape(p) if isinstance(p, str) else "${" + p.text + "}" for p in text.parts)


def hcl_string(text: Text) -> str:
    """``text`` as a quoted HCL string expression, for use inside another expression.

    >>> hcl_string(Template.of('say "hi" ', Expr("var.x")))
    '"say \\\\"hi\\\\" ${var.x}"'
    """
    if isinstance(text, Expr):
        return text.text
    body = render(text)
    quoted = body.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    quoted = quoted.replace("\r", "\\r").replace("\t", "\\t")
    return f'"{quoted}"'


def call(function: str, *args: Text, max_len: int = 64) -> Expr:
    """An HCL function call over string arguments.

    >>> call("base64encode", Expr("local.ud")).text
    'base64encode(local.ud)'
    """
    return Expr(f"{function}({', '.join(hcl_string(a) for a in args)})", max_len)


# --- the document ------------------------------------------------------------------


def encode_value(value: Any) -> Any:
    """A document value with every literal escaped and expressions rendered."""
    # exact types first: this runs on every value of every resource, and an
    # isinstance check against the Mapping ABC costs several times as much
    kind = type(value)
    if kind is str:
        return escape(value)
    if kind is dict:
        # plain string leaves without "{" (nearly all of them) need no call at all
        return {
            (k if "{" not in k else escape(k)): (v if type(v) is str and "{" not in v else encode_value(v))
            for k, v in value.items()
        }
    if kind is list or kind is tuple:
        return [v if type(v) is str and "{" not in v else encode_value(v) for v in value]
    if kind is Expr or kind is Template:
        return render(value)
    if kind is int or kind is bool or value is None or kind is float:
        return value
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, Mapping):
        return {escape(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    return value


class Resource(msgspec.Struct, frozen=True):
    """One ``resource.TYPE.NAME`` block; ``body`` uses plain dicts, str, Expr, Template."""

    type: str
    name: str
    body: Mapping[str, Any]

    def ref(self, attribute: str, *, max_len: int = 64) -> Expr:
        return ref(self.type, self.name, attribute, max_len=max_len)


class DataSource(msgspec.Struct, frozen=True):
    """One ``data.TYPE.NAME`` block: something Terraform reads instead of creating."""

    type: str
    name: str
    body: Mapping[str, Any]

    def ref(self, attribute: str, *, max_len: int = 64) -> Expr:
        """A reference to one of its attributes.

        >>> DataSource("aws_ssm_parameter", "demo_ami", {}).ref("insecure_value").text
        'data.aws_ssm_parameter.demo_ami.insecure_value'
        """
        return Expr(f"data.{self.type}.{self.name}.{attribute}", max_len)


class Variable(msgspec.Struct, frozen=True):
    name: str
    description: str
    sensitive: bool = False
    validations: tuple[tuple[str, str], ...] = ()  # (condition, error_message)


class Output(msgspec.Struct, frozen=True):
    name: str
    value: Any
    description: str
    sensitive: bool = False


class ProviderRequirement(msgspec.Struct, frozen=True):
    local_name: str
    source: str
    version: str
    config: Mapping[str, Any] = {}


class Fragment(msgspec.Struct, frozen=True):
    """A piece of a Terraform document; fragments concatenate with :func:`combine`."""

    resources: tuple[Resource, ...] = ()
    variables: tuple[Variable, ...] = ()
    outputs: tuple[Output, ...] = ()
    locals: tuple[tuple[str, Any], ...] = ()
    data: tuple[DataSource, ...] = ()


def combine(fragments: Iterable[Fragment]) -> Fragment:
    """One fragment holding all the pieces of ``fragments``, in order."""
    parts = list(fragments)
    return Fragment(
        resources=tuple(r for f in parts for r in f.resources),
        variables=tuple(v for f in parts for v in f.variables),
        outputs=tuple(o for f in parts for o in f.outputs),
        locals=tuple(kv for f in parts for kv in f.locals),
        data=tuple(d for f in parts for d in f.data),
    )


def _variable_block(v: Variable) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "string", "description": v.description}
    if v.sensitive:
        block["sensitive"] = True
    if v.validations:
        block["validation"] = [
            {"condition": "${" + cond + "}", "error_message": msg} for cond, msg in v.validations
        ]
    return block


def _by_type(blocks: Iterable[Resource | DataSource], what: str) -> dict[str, dict[str, Any]]:
    """``{TYPE: {NAME: body}}`` with bodies escaped; a repeated address is a compiler bug."""
    out: dict[str, dict[str, Any]] = {}
    for block in blocks:
        by_type = out.setdefault(block.type, {})
        if block.name in by_type:
            raise ValueError(f"duplicate {what} {block.type}.{block.name}")
        by_type[block.name] = encode_value(block.body)
    return out


def document(providers: Iterable[ProviderRequirement], fragment: Fragment) -> dict[str, Any]:
    """The whole Terraform JSON document as plain, escaped builtins.

    Raises ValueError on a duplicate resource or data source address, or output: that is a
    compiler bug, never a spec problem, so it is not reported as one.
    """
    providers = list(providers)
    resources = _by_type(fragment.resources, "resource")
    data = _by_type(fragment.data, "data source")
    variables: dict[str, Any] = {}
    for v in fragment.variables:
        # one block per name, whatever the fragments repeat
        variables[v.name] = _variable_block(v)
    outputs: dict[str, Any] = {}
    for o in fragment.outputs:
        if o.name in outputs:
            raise ValueError(f"duplicate output {o.name}")
        block = {"value": encode_value(o.value), "description": o.description}
        if o.sensitive:
            block["sensitive"] = True
        outputs[o.name] = block
    doc: dict[str, Any] = {
        "terraform": {
            "required_providers": {
                p.local_name: {"source": p.source, "version": p.version} for p in providers
            }
        },
        "provider": {p.local_name: encode_value(dict(p.config)) for p in providers},
        "resource": resources,
    }
    if data:
        doc["data"] = data
    if fragment.locals:
        doc["locals"] = {k: encode_value(v) for k, v in fragment.locals}
    if variables:
        doc["variable"] = variables
    if outputs:
        doc["output"] = outputs
    return doc


_encoder = msgspec.json.Encoder(order="sorted")


# A resource body sits three levels deep: {"resource": {TYPE: {NAME: body}}}.
RESOURCE_BODY_INDENT = b"\n" + b" " * 6


def formatted_body(body: Mapping[str, Any]) -> bytes:
    """A resource body as :func:`to_json` writes it in place: escaped, sorted, indented
    for its depth (its first line follows ``"NAME": ``)."""
    return _indented(encode_value(body))


def _indented(encoded: Mapping[str, Any]) -> bytes:
    """An already escaped body, written sorted and indented for a resource's depth."""
    return msgspec.json.format(_encoder.encode(encoded), indent=2).replace(b"\n", RESOURCE_BODY_INDENT)


def to_json(doc: Mapping[str, Any], written: Mapping[str, Iterable[tuple[str, bytes]]] = {}) -> bytes:
    """Deterministic bytes: keys sorted, two-space indent, trailing newline.

    ``written`` holds further resources, ``{TYPE: [(NAME, body)]}``, whose bodies are
    already written as this function would write them (:func:`formatted_body`): a
    pool's thousands of machines are spliced in as they are, not encoded again.
    """
    if not written:
        return msgspec.json.format(_encoder.encode(doc), indent=2) + b"\n"
    entries_by_kind = {
        kind: [*((name, _indented(body)) for name, body in doc.get("resource", {}).get(kind, {}).items()), *bodies]
        for kind, bodies in sorted(written.items())
    }
    for salt in count():
        # each written type's map is a marker string at first: one that the document
        # holds nowhere else, so that it is found exactly once
        names = {kind: f"nixk8swritten{salt}q{i}" for i, kind in enumerate(entries_by_kind)}
        resources = {**doc.get("resource", {}), **names}
        text = msgspec.json.format(_encoder.encode({**doc, "resource": resources}), indent=2)
        markers = {b'"' + name.encode() + b'"': entries_by_kind[kind] for kind, name in names.items()}
        if all(text.count(marker) == 1 for marker in markers):
            break
    pieces: list[bytes] = []
    for marker, entries in markers.items():
        head, found, text = text.partition(marker)
        assert found, "a written resource type went missing"
        pieces += [head, *_resource_map(entries)]
    return b"".join([*pieces, text, b"\n"])


def _resource_map(entries: list[tuple[str, bytes]]) -> list[bytes]:
    """``{"NAME": body, ...}`` at a resource type's depth, names sorted, as pieces to join."""
    entries.sort(key=lambda entry: entry[0])
    for (a, _), (b, _) in zip(entries, entries[1:]):
        if a == b:
            raise ValueError(f"duplicate resource name {a}")
    out = [b"{"]
    for i, (name, body) in enumerate(entries):
        out += [b",\n      " if i else b"\n      ", _encoder.encode(name), b": ", body]
    out.append(b"\n    }")
    return out
