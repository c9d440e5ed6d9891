"""Render a pool once, stamp it per machine.

Machines of one pool differ in three values only: their position in the pool (which
names their resources), their node index (in the config they receive) and the name
the cloud shows (a DNS label, hash-shortened when long). The pipeline renders one
machine of the pool with a *slot token* in place of each, the backend builds that
machine's resources as usual, the document encodes them to JSON once, and each
machine's resources are that text with its own values filled in.

A token is a word no literal of the spec contains (chosen by a deterministic search,
as :mod:`nixk8s.tokens` chooses its own), made of letters and digits only, so it
passes unchanged through every escaping layer: JSON inside YAML inside a Terraform
template inside JSON. The values filled in are digits and DNS labels, which need no
escaping in any of them.

>>> tokens = slot_tokens(["a spec literal"])
>>> fill(f"demo_workers_{tokens.ordinal}", tokens, MachineSlots("7", "705600007", "demo-workers-7"))
'demo_workers_7'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from itertools import count
from typing import Any

import msgspec

from nixk8s.terraform import Expr, Resource, Template, Text, encode_value


class Slot(msgspec.Struct, frozen=True):
    """A value each machine fills in: where a NodeConfig holds an integer node index,
    a stamped pool's config holds this slot, written as its bare token."""

    token: str


class MachineSlots(msgspec.Struct, frozen=True):
    """The three values one machine of a stamped pool fills in, as text (or the tokens)."""

    ordinal: str
    node_index: str
    cloud_name: str


def slot_tokens(literals: Iterable[str]) -> MachineSlots:
    """Tokens that none of ``literals`` contains: one per slot, sharing a prefix that has
    no border, so a token found in the output cannot start inside the text before it."""
    texts = list(literals)
    for salt in count():
        prefix = f"nixk8sslot{salt}q"
        if not any(prefix in text for text in texts):
            return MachineSlots(f"{prefix}o", f"{prefix}i", f"{prefix}n")
    raise AssertionError("unreachable")


def fill(text: str, tokens: MachineSlots, values: MachineSlots) -> str:
    """``text`` with each token replaced by the machine's value."""
    return (
        text.replace(tokens.ordinal, values.ordinal)
        .replace(tokens.node_index, values.node_index)
        .replace(tokens.cloud_name, values.cloud_name)
    )


def filled(text: Text, tokens: MachineSlots, values: MachineSlots) -> Text:
    """A literal, expression or template with each token replaced by the machine's value."""
    if isinstance(text, str):
        return fill(text, tokens, values)
    if isinstance(text, Expr):
        return msgspec.structs.replace(text, text=fill(text.text, tokens, values))
    return Template.of(*(filled(part, tokens, values) for part in text.parts))


def stamper(text: str, tokens: MachineSlots) -> Callable[[MachineSlots], str]:
    """A function that fills ``text``'s tokens for a machine, prepared once for many calls.

    >>> tokens = MachineSlots("ORDq", "IDXq", "NAMq")
    >>> stamp = stamper('{"name":"NAMq","i":IDXq}', tokens)
    >>> stamp(MachineSlots("3", "42", "demo-3"))
    '{"name":"demo-3","i":42}'
    """
    pattern = re.compile("|".join(re.escape(t) for t in (tokens.ordinal, tokens.node_index, tokens.cloud_name)))
    positions = {tokens.ordinal: "{0}", tokens.node_index: "{1}", tokens.cloud_name: "{2}"}
    escaped = text.replace("{", "{{").replace("}", "}}")
    template = pattern.sub(lambda m: positions[m.group()], escaped)
    render = template.format
    return lambda values: render(values.ordinal, values.node_index, values.cloud_name)


_encoder = msgspec.json.Encoder(order="sorted")


def stamped_resources(
    resources: Iterable[Resource], tokens: MachineSlots, machines: Iterable[MachineSlots]
) -> dict[str, dict[str, msgspec.Raw]]:
    """Every machine's copy of ``resources`` (built for the tokens), as ``{TYPE: {NAME: body}}``
    with each body already encoded: escaped and sorted, as the document encoder writes it."""
    prepared = [
        (r.type, stamper(r.name, tokens), stamper(_encoder.encode(encode_value(r.body)).decode(), tokens))
        for r in resources
    ]
    out: dict[str, dict[str, msgspec.Raw]] = {}
    for values in machines:
        for kind, name, body in prepared:
            out.setdefault(kind, {})[name(values)] = msgspec.Raw(body(values))
    return out


def literal_strings(tree: Any) -> Iterable[str]:
    """Every string in a tree of builtins: keys and values."""
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, Mapping):
        for k, v in tree.items():
            yield from literal_strings(k)
            yield from literal_strings(v)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from literal_strings(v)
