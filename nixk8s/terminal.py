"""Text for a terminal: every character a spec chose made visible, none acted on.

A spec is hostile input, and what nixk8s prints for people quotes it: names, regions,
paths and messages about them. A terminal acts on control characters (ESC starts a
sequence that can recolour, move the cursor, retitle the window or rewrite what was
printed; CR returns to the line's start; BEL rings), a bidi override reorders what
follows it, and a newline starts a line that looks like nixk8s' own (``fake.yaml:
valid``). So every spec-derived string in human output (problem and warning lines,
``explain`` as text and mermaid, the ``diff`` report) passes through here, and each
such character is written as the escape Python would write (``\\x1b``, ``\\n``,
``\\u202e``). JSON output is for tools and stays exact.

"Such characters" are those ``str.isprintable`` refuses: the C0 and C1 controls and
DEL, format characters (the bidi embeddings, overrides and isolates U+202A–202E and
U+2066–2069, zero-width joiners, U+FEFF), line and paragraph separators, surrogates,
private-use and unassigned code points. Everything else, any script, passes unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(c: str) -> str:
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable_line(text: str) -> str:
    """``text`` with every character a terminal would act on written as its escape.

    For a line composed by nixk8s, whose quoted values are quoted already (``repr``,
    JSON): backslashes stay as they are, so that those quotes are not escaped twice.

    >>> printable_line("nbg1\\nfake.yaml: valid")
    'nbg1\\\\nfake.yaml: valid'
    >>> printable_line("\\x1b[31mred\\u202e") == "\\\\x1b[31mred\\\\u202e"
    True
    >>> printable_line("Zürich, 東京, C:\\\\tmp")
    'Zürich, 東京, C:\\\\tmp'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def printable(value: str) -> str:
    """A raw value from a spec as it can be shown: visible and unambiguous.

    As :func:`printable_line`, and a backslash is written ``\\\\`` too, so that no two
    values look alike: a tab and the two characters ``\\t`` differ.

    >>> print(printable("a\\tb"), printable("a\\\\tb"))
    a\\tb a\\\\tb
    >>> printable("eu-central-1")
    'eu-central-1'
    """
    if value.isprintable() and "\\" not in value:
        return value
    return "".join(c if c.isprintable() and c != "\\" else "\\\\" if c == "\\" else _escape(c) for c in value)


def printable_fields(value: T, escape: Callable[[str], str] = printable) -> T:
    """``value`` (a frozen record, or tuples, lists and mappings of them) with every
    string in it, keys too, passed through ``escape``; what needs none is returned as
    it is, not copied.

    >>> class Pool(msgspec.Struct, frozen=True):
    ...     name: str
    ...     types: tuple[str, ...]
    >>> printable_fields(Pool("a\\x07", ("cx32", "\\u202e")))
    Pool(name='a\\\\x07', types=('cx32', '\\\\u202e'))
    """
    return _escaped(value, escape)  # type: ignore[no-any-return]


_ATOMS = (int, float, bool, type(None))


def _escaped(value: Any, escape: Callable[[str], str]) -> Any:
    kind = type(value)
    if kind is str:
        return escape(value)
    if kind in _ATOMS:  # the common case first: most fields are not text
        return value
    if isinstance(value, msgspec.Struct):
        changed = {}
        for name in value.__struct_fields__:
            field = getattr(value, name)
            new = _escaped(field, escape)
            if new is not field:
                changed[name] = new
        return msgspec.structs.replace(value, **changed) if changed else value
    if kind is tuple or kind is list:
        items = [_escaped(item, escape) for item in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        return kind(items)
    if kind is dict:
        pairs = [(_escaped(k, escape), _escaped(v, escape)) for k, v in value.items()]
        if all(k is old_k and v is old_v for (k, v), (old_k, old_v) in zip(pairs, value.items())):
            return value
        return dict(pairs)
    if isinstance(value, str):  # a str subclass (an enum's value): as text
        return escape(value)
    return value
