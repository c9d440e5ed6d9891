"""Reading a compiled Terraform document back: templates, references, and user_data.

``nixk8s diff`` compares two documents, which may be files it did not compile. Every
string in one is a Terraform template: literal text (``$${`` and ``%%{`` escape the
template syntax) and ``${EXPR}`` interpolations. This module splits those strings,
finds the resources, variables and locals an expression refers to, and reads a
machine's user_data the way the machine receives it: ``base64encode(local.X)`` is
undone by reading the local, and the embedded cluster-config JSON is taken out of the
shell script or cloud-config around it, with each interpolation Terraform has yet to
evaluate kept as its source text (``${var.k3s_token}``).

>>> split_template('echo $${HOME} ${var.x}')
('echo ${HOME} ', Interpolation(source='var.x'))
>>> sorted(str(r) for r in references("${jsonencode(aws_lb.demo_cp_nlb.dns_name)}"))
['aws_lb.demo_cp_nlb.dns_name']
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Union

import msgspec


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


# --- templates -------------------------------------------------------------------------


def _string_end(s: str, i: int) -> int:
    """Index after the HCL quoted string that opens at ``s[i] == '"'`` (or len(s))."""
    i += 1
    while i < len(s):
        if s[i] == "\\":
            i += 2
        elif s.startswith(("$${", "%%{"), i):
            i += 3
        elif s.startswith(("${", "%{"), i):
            i = _interpolation_end(s, i) + 1
        elif s[i] == '"':
            return i + 1
        else:
            i += 1
    return len(s)


def _interpolation_end(s: str, start: int) -> int:
    """Index of the ``}`` closing the interpolation at ``s[start:start+2] == '${'`` (or len(s))."""
    depth, i = 0, start + 2
    while i < len(s):
        c = s[i]
        if c == '"':
            i = _string_end(s, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return len(s)


def split_template(text: str) -> tuple[Part, ...]:
    """A template string as literal text (escapes undone) and interpolations, in order.

    >>> split_template('a %%{b} ${ local.c } d')
    ('a %{b} ', Interpolation(source='local.c'), ' d')
    """
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(("$${", "%%{"), i):
            literal.append(text[i] + "{")
            i += 3
        elif text.startswith("${", i):
            end = _interpolation_end(text, i)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Interpolation(text[i + 2 : end].strip()))
            i = end + 1
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


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


def value_references(value: Any) -> frozenset[Reference]:
    """Every reference in the strings of a document value (keys included)."""
    if isinstance(value, str):
        return references(value)
    if isinstance(value, Mapping):
        found: frozenset[Reference] = frozenset()
        for key, item in value.items():
            found |= references(key) | value_references(item)
        return found
    if isinstance(value, list):
        return frozenset().union(*(value_references(v) for v in value))
    return frozenset()


# --- what a machine's user_data says -----------------------------------------------------

_CALL = re.compile(r"^([a-z0-9_]+)\((.*)\)$", re.S)
_LOCAL = re.compile(r"^local\.([A-Za-z_][\w-]*)$")
_HCL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


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


def machine_view(text: str, locals_: Mapping[str, Any], depth: int = 0) -> tuple[Part, ...]:
    """A user_data value as the machine receives it, as template parts.

    ``${base64encode(X)}`` is the value of X (the cloud decodes it); ``${local.X}`` is
    that local's template. Anything else is the template itself, whose interpolations
    Terraform evaluates at apply time.
    """
    parts = split_template(text)
    if depth > 8 or len(parts) != 1 or not isinstance(parts[0], Interpolation):
        return parts
    source = parts[0].source
    call = _CALL.match(source)
    inner = call.group(2).strip() if call and call.group(1) == "base64encode" else source
    local = _LOCAL.match(inner)
    if local and isinstance(locals_.get(local.group(1)), str):
        return machine_view(locals_[local.group(1)], locals_, depth + 1)
    literal = _hcl_string(inner) if call else None
    if literal is not None:
        return split_template(literal)
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
    in a shell heredoc or a cloud-config literal block, both indented or not).
    """
    lines = _lines(parts)
    for n, line in enumerate(lines):
        head = line[0] if line else ""
        if not isinstance(head, str) or not head.lstrip().startswith("{"):
            continue
        stripped = (head.lstrip(), *line[1:])
        try:
            config = json.loads(_json_line(stripped))
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
