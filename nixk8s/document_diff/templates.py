"""The Terraform template language, as ``nixk8s diff`` reads it: strings, interpolations, references.

Every string in a Terraform document is a template: literal text (``$${`` and ``%%{``
escape the template syntax) and ``${EXPR}`` interpolations, whose expressions may hold
quoted templates of their own, to any depth. This module splits a string into literal
text and interpolations, says how deeply templates nest in it, and finds the resources,
data sources, variables and locals an expression refers to. Nothing here recurses: a
stack holds what is open, and each step jumps to the next character that can open or
close something, so a string costs time linear in its length whatever it holds.

>>> split_template('echo $${HOME} ${var.x}')
('echo ${HOME} ', Interpolation(source='var.x'))
>>> sorted(str(r) for r in references("${jsonencode(aws_lb.demo_cp_nlb.dns_name)}"))
['aws_lb.demo_cp_nlb.dns_name']
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Union

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


def string_end(s: str, i: int) -> int:
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
