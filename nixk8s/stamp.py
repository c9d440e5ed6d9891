"""A pool built machine by machine: rendered once with slots, stamped for each machine.

Machines of such a pool differ in four values only (:class:`~nixk8s.render.Machine`).
The pipeline renders one machine with a *slot* in place of each value, the backend
builds that machine's resources as usual, the document writes them to JSON once, and
each machine's resources are that text with its own values filled in
(:mod:`nixk8s.assemble`). 10,000 machines cost a byte splice each.

A slot is found by searching the text for it, so it must be found only where it was
put. The spec's literals reach that text through several escaping layers (the
config's JSON, the user_data's YAML or shell, Terraform's template escaping, HCL
strings inside expressions, the document's JSON), and an escape can write a slot
where the literal held none: JSON writes a newline as ``\\n``, so a newline followed
by ``ixk8sslot0qi`` would read as the slot ``nixk8sslot0qi``. Choosing slots that no
*literal* contains does not prevent that; choosing them against the *escaped* text
does. So the pool is built once with probe slots, and its slots are chosen among the
words that this text, written through every layer, does not contain; then it is
built again with them (:func:`built_with_free_slots`; docs/decisions.md has the
argument). Slots are letters and digits, which no layer escapes, and so are the
values filled in (digits, DNS labels).

>>> slots = slots_for("nixk8sslot0q")
>>> fill(f"demo_workers_{slots.ordinal}", slots, MachineText("7", "705600007", "demo-workers-7", "0"))
'demo_workers_7'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import count
from typing import Any, TypeVar

import msgspec

from nixk8s.problems import join_path
from nixk8s.render import Machine, MachineNode, MachineText, RenderedNode, WorkerPool
from nixk8s.spec import NodePool
from nixk8s.terraform import Expr, Resource, Template, Text, formatted_body

# a slot is a prefix and one of these letters; none is the prefix's first letter, "n"
_SLOT_LETTERS = MachineText("o", "i", "c", "g")


def slots_for(prefix: str) -> MachineText:
    """The four slots of ``prefix``, in :class:`MachineText` order.

    >>> slots_for("nixk8sslot0q").node_index
    'nixk8sslot0qi'
    """
    return MachineText(*(prefix + letter for letter in _SLOT_LETTERS.values()))


# the slots a pool is first built with, to learn what text it writes
PROBE = slots_for("nixk8sprobeq")


def slots_absent_from(text: str) -> MachineText:
    """Slots whose prefix ``text`` does not contain.

    Every prefix is ``nixk8sslot<n>q``: it begins with ``n`` and holds no other ``n``,
    nor does any slot after its first letter, so a slot found in text that holds none
    but where slots were put cannot begin inside one of them or run into one.

    >>> slots_absent_from("a\\\\nixk8sslot0qi b").ordinal
    'nixk8sslot1qo'
    """
    for salt in count():
        prefix = f"nixk8sslot{salt}q"
        if prefix not in text:
            return slots_for(prefix)
    raise AssertionError("unreachable")


B = TypeVar("B")


def built_with_free_slots(build: Callable[[MachineText], B], written: Callable[[B], str]) -> tuple[MachineText, B]:
    """``build`` run with slots that occur in what it writes only where it put them.

    ``written`` is every text of a build that slots are filled into, as it will be
    searched: the document's bytes of its resources, the names and the user_data as
    Python text. The first build, with :data:`PROBE`, writes the text around its slots
    exactly as any other build does (every layer escapes character by character, and
    slots are letters and digits); slots absent from it are absent from that text.
    """
    slots = slots_absent_from(written(build(PROBE)))
    return slots, build(slots)


def pieces(text: Text) -> Iterator[str]:
    """The literal parts and expression texts of ``text``: where slots may stand."""
    if isinstance(text, str):
        yield text
    elif isinstance(text, Expr):
        yield text.text
    else:
        for part in text.parts:
            yield part if isinstance(part, str) else part.text


def written_text(node: MachineNode, resources: Iterable[Resource], more: Iterable[Text] = ()) -> str:
    """Every text of a machine that slots are filled into, joined by NUL (which no slot
    holds, so none is found across two): its names, config JSON and user_data, its
    resources' names and bodies as the document writes them, and ``more``."""
    texts = [node.name, node.cloud_name, node.ordinal, node.spread_group, *pieces(node.json), *pieces(node.user_data)]
    for resource in resources:
        texts += [resource.name, formatted_body(resource.body).decode()]
    for text in more:
        texts += pieces(text)
    return "\0".join(texts)


@functools.lru_cache(maxsize=64)
def _pattern(slots: MachineText) -> re.Pattern[str]:
    return re.compile("|".join(map(re.escape, slots.values())))


def fill(text: str, slots: MachineText, values: MachineText) -> str:
    """``text`` with each slot replaced by the machine's value, in one pass (a value is
    never searched for slots)."""
    if not text:
        return text
    by_slot = dict(zip(slots.values(), values.values()))
    return _pattern(slots).sub(lambda match: by_slot[match.group()], text)


def filled(text: Text, slots: MachineText, values: MachineText) -> Text:
    """A literal, expression or template with each slot replaced by the machine's value."""
    if isinstance(text, str):
        return fill(text, slots, values)
    if isinstance(text, Expr):
        return msgspec.structs.replace(text, text=fill(text.text, slots, values))
    return Template.of(*(filled(part, slots, values) for part in text.parts))


Stamp = Callable[[tuple[Any, ...]], Any]


def stamper(text: Any, slots: MachineText) -> Stamp:
    """A function that fills ``text``'s slots (str or bytes) with a machine's values,
    given in slot order (:meth:`MachineText.values`), prepared once for many calls.

    >>> slots = MachineText("ORDq", "IDXq", "NAMq", "GRPq")
    >>> stamp = stamper('{"name":"NAMq","i":IDXq}', slots)
    >>> stamp(("3", "42", "demo-3", "0"))
    '{"name":"demo-3","i":42}'
    """
    order: tuple[Any, ...] = slots.values()
    if isinstance(text, bytes):
        order = tuple(t.encode() for t in order)
    pattern = re.compile(b"|".join(map(re.escape, order)) if isinstance(text, bytes) else "|".join(map(re.escape, order)))
    split = pattern.split(text)
    first, literals = split[0], split[1:]
    found = [order.index(m.group()) for m in pattern.finditer(text)]
    after = list(zip(found, literals))
    join: Any = (b"" if isinstance(text, bytes) else "").join

    def stamp(values: tuple[Any, ...]) -> Any:
        out: list[Any] = [first]
        for slot, literal in after:
            out.append(values[slot])
            out.append(literal)
        return join(out)

    return stamp


class StampedPool(msgspec.Struct, frozen=True):
    """A worker pool built machine by machine, rendered once: ``node``, one machine with
    ``slots`` where the machines' values go, and ``resources``, what the backend built
    for it; each of ``machines`` is that, stamped with its values."""

    spec_index: int
    pool: NodePool
    node: MachineNode
    slots: MachineText
    machines: tuple[Machine, ...]
    resources: tuple[Resource, ...]

    @property
    def path(self) -> str:
        return join_path("node_pools", self.spec_index)

    def machine_node(self, machine: Machine) -> RenderedNode:
        """What ``machine`` receives."""
        node, slots, values = self.node, self.slots, machine.text()
        return RenderedNode(
            role=node.role,
            name=fill(node.name, slots, values),
            cloud_name=machine.cloud_name,
            ordinal=machine.ordinal,
            config=msgspec.structs.replace(node.config, node_index=machine.node_index),
            json=Template.of(filled(node.json, slots, values)),
            user_data=Template.of(filled(node.user_data, slots, values)),
        )

    def machine_nodes(self) -> tuple[RenderedNode, ...]:
        """What each machine receives."""
        return tuple(self.machine_node(m) for m in self.machines)


def largest_user_data(pool: WorkerPool | StampedPool) -> tuple[RenderedNode, ...]:
    """The nodes whose user_data is the pool's largest: for a stamped pool, the machine
    with the longest node index (the only value that grows with the machine)."""
    if isinstance(pool, WorkerPool):
        return pool.nodes
    return (pool.machine_node(pool.machines[-1]),) if pool.machines else ()
