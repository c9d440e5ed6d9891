"""Render a pool once, stamp it per machine.

Machines of one pool differ in four values only: their position in the pool (which
names their resources), their node index (in the config they receive), the name the
cloud shows (a DNS label, hash-shortened when long) and their spread group (where a
cloud spreads machines in groups of limited size). The pipeline renders one
machine of the pool with a *slot token* in place of each, the backend builds that
machine's resources as usual, the document encodes them to JSON once, and each
machine's resources are that text with its own values filled in.

A token is a word no literal of the spec contains (chosen by a deterministic search,
as :mod:`nixk8s.tokens` chooses its own), made of letters and digits only, so it
passes unchanged through every escaping layer: JSON inside YAML inside a Terraform
template inside JSON. The values filled in are digits and DNS labels, which need no
escaping in any of them.

>>> tokens = slot_tokens(["a spec literal"])
>>> fill(f"demo_workers_{tokens.ordinal}", tokens, MachineSlots("7", "705600007", "demo-workers-7", "0"))
'demo_workers_7'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from itertools import count
from typing import Any

import msgspec

from nixk8s.terraform import Expr, Resource, Template, Text, formatted_body


class Slot(msgspec.Struct, frozen=True):
    """A value each machine fills in: where a NodeConfig holds an integer node index,
    a stamped pool's config holds this slot, written as its bare token."""

    token: str


class MachineSlots(msgspec.Struct, frozen=True, array_like=True):
    """The values one machine of a stamped pool fills in, as text (or the tokens)."""

    ordinal: str
    node_index: str
    cloud_name: str
    spread_group: str

    def values(self) -> tuple[str, ...]:
        """The values in slot order."""
        return (self.ordinal, self.node_index, self.cloud_name, self.spread_group)


def slot_tokens(literals: Iterable[str]) -> MachineSlots:
    """Tokens that none of ``literals`` contains: one per slot, sharing a prefix that has
    no border, so a token found in the output cannot start inside the text before it."""
    # NUL joins them: no prefix holds one, so none is found across two literals
    text = "\0".join(literals)
    for salt in count():
        prefix = f"nixk8sslot{salt}q"
        if prefix not in text:
            return MachineSlots(f"{prefix}o", f"{prefix}i", f"{prefix}n", f"{prefix}g")
    raise AssertionError("unreachable")


def fill(text: str, tokens: MachineSlots, values: MachineSlots) -> str:
    """``text`` with each token replaced by the machine's value."""
    for token, value in zip(tokens.values(), values.values()):
        text = text.replace(token, value)
    return text


def filled(text: Text, tokens: MachineSlots, values: MachineSlots) -> Text:
    """A literal, expression or template with each token replaced by the machine's value."""
    if isinstance(text, str):
        return fill(text, tokens, values)
    if isinstance(text, Expr):
        return msgspec.structs.replace(text, text=fill(text.text, tokens, values))
    return Template.of(*(filled(part, tokens, values) for part in text.parts))


Stamp = Callable[[tuple[Any, ...]], Any]


def stamper(text: Any, tokens: MachineSlots) -> Stamp:
    """A function that fills ``text``'s tokens (str or bytes) with a machine's values,
    given in slot order (:meth:`MachineSlots.values`), prepared once for many calls.

    >>> tokens = MachineSlots("ORDq", "IDXq", "NAMq", "GRPq")
    >>> stamp = stamper('{"name":"NAMq","i":IDXq}', tokens)
    >>> stamp(("3", "42", "demo-3", "0"))
    '{"name":"demo-3","i":42}'
    """
    order: tuple[Any, ...] = tokens.values()
    if isinstance(text, bytes):
        order = tuple(t.encode() for t in order)
    pattern = re.compile(b"|".join(map(re.escape, order)) if isinstance(text, bytes) else "|".join(map(re.escape, order)))
    pieces = pattern.split(text)
    first, literals = pieces[0], pieces[1:]
    slots = [order.index(m.group()) for m in pattern.finditer(text)]
    after = list(zip(slots, literals))
    join: Any = (b"" if isinstance(text, bytes) else "").join

    def stamp(values: tuple[Any, ...]) -> Any:
        out: list[Any] = [first]
        for slot, literal in after:
            out.append(values[slot])
            out.append(literal)
        return join(out)

    return stamp


def written_resources(
    resources: Iterable[Resource], tokens: MachineSlots, machines: Iterable[MachineSlots]
) -> dict[str, list[tuple[str, bytes]]]:
    """Every machine's copy of ``resources`` (built for the tokens), as ``{TYPE: [(NAME,
    body)]}`` with each body already written as the document writes it in place."""
    prepared = [(r.type, stamper(r.name, tokens), stamper(formatted_body(r.body), tokens)) for r in resources]
    out: dict[str, list[tuple[str, bytes]]] = {kind: [] for kind, _, _ in prepared}
    for machine in machines:
        text = machine.values()
        data = tuple(value.encode() for value in text)
        for kind, name, body in prepared:
            out[kind].append((name(text), body(data)))
    return out


def literal_strings(tree: Any) -> list[str]:
    """Every string in a tree of builtins (mappings, lists, scalars): keys and values,
    in no particular order.

    >>> sorted(literal_strings({"a": ["b", 1, {"c": "d"}]}))
    ['a', 'b', 'c', 'd']
    """
    out: list[str] = []
    stack = [tree]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            out.append(value)
        elif kind is dict or isinstance(value, Mapping):
            for k, v in value.items():
                stack += (v, k)
        elif kind is list or kind is tuple:
            stack.extend(reversed(value))
    return out
