"""Bounds on what a spec may make nixk8s do, checked before the work they bound.

A spec is hostile input until proven otherwise. Python's parsers and the tree walks
after them recurse once per level of nesting, and a YAML alias names a whole subtree
in a few bytes, so without bounds a small file can exhaust the stack, the memory or
the operator's patience. Each bound is checked before the thing it bounds is built:

- the document's size in bytes, before it is decoded;
- nesting depth: in YAML while the node graph is composed, in JSON and TOML by a scan
  of the brackets outside strings and comments before the decoder recurses over them
  (and in TOML, the dots of one dotted key, which Python's TOML reader handles in
  time quadratic in their number);
- the number of values and the characters of text, counting every alias as the
  subtree it names: in YAML on the node graph (sizes memoised per node) before any
  object is constructed, and in every format on the decoded data.

The limits are far beyond any real spec (a real one is a few kilobytes; a cloud's
user_data holds at most 256 KiB) and far below what would take a second to load.
"""

from __future__ import annotations

import functools
import re
from itertools import accumulate
from typing import Any, Literal

import msgspec

from nixk8s.problems import Problem, join_path

MAX_SPEC_BYTES = 1 << 20
# What ``nixk8s diff`` reads of a compiled main.tf.json: twenty times the 10,000-node
# Hetzner document (12 MiB). Only a bound on reading (a device or a stream that never
# ends); the document's depth and work are bounded where it is read.
MAX_DOCUMENT_BYTES = 256 << 20
MAX_DEPTH = 64
MAX_VALUES = 50_000
MAX_TEXT = 1 << 20


class LimitExceeded(Exception):
    """Raised from inside a parser when the input passes a bound; load reports it as a Problem."""


def too_deep(where: str = "") -> str:
    return f"nested more than {MAX_DEPTH} levels deep{where}; no spec needs that"


def too_many_values(expanded: str = "") -> str:
    return f"more than {MAX_VALUES:,} values (mappings, lists and scalars){expanded}; no spec needs that"


def too_much_text(expanded: str = "") -> str:
    return f"more than {MAX_TEXT:,} characters of text{expanded}; no spec needs that"


def size_problem(data: bytes) -> Problem | None:
    """A problem when the document is too large to read at all.

    The message does not say how large: the command stops reading one byte past
    the bound (:mod:`nixk8s.source_io`), so it never knows.
    """
    if len(data) <= MAX_SPEC_BYTES:
        return None
    return Problem(
        "",
        f"the spec is larger than {MAX_SPEC_BYTES >> 20} MiB; nixk8s reads at most {MAX_SPEC_BYTES:,} bytes "
        "(a cloud's user_data holds a fraction of that)",
    )


# --- JSON and TOML: a scan before the decoder ----------------------------------------------
#
# Strings and comments are skipped by one regular expression each, with possessive
# quantifiers and an end-of-input alternative so that every match attempt that starts
# at a quote succeeds: the scan is linear in the input, also for unterminated strings.

# Compiled on first need (a JSON or TOML spec): a YAML spec's start-up does not pay for them.


@functools.cache
def _json_skip() -> re.Pattern[str]:
    return re.compile(r'"(?:[^"\\]++|\\(?:.|\Z))*+(?:"|\Z)', re.S)


@functools.cache
def _toml_skip() -> re.Pattern[str]:
    return re.compile(
        r'"""(?:[^"\\]++|\\(?:.|\Z)|"(?!""))*+(?:"""|\Z)'
        r"|'''(?:[^']++|'(?!''))*+(?:'''|\Z)"
        r'|"(?:[^"\\\n]++|\\(?:.|\Z))*+(?:"|(?=\n)|\Z)'
        r"|'[^'\n]*+(?:'|(?=\n)|\Z)"
        r"|#[^\n]*+",
        re.S,
    )


@functools.cache
def _bracket() -> re.Pattern[str]:
    return re.compile(r"[\[\]{}]")


_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


@functools.cache
def _dotted() -> re.Pattern[str]:
    # A run of bare (or, once strings are blanked, placeholder) keys joined by dots. It
    # starts only at the start of a word, so a long word without a dot is scanned once,
    # not once from each of its characters.
    return re.compile(r"(?<![\w-])[\w-]++(?:[ \t]*+\.[ \t]*+[\w-]*+)++")


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _bracket_problem(text: str, skip: re.Pattern[str]) -> Problem | None:
    """A problem when brackets outside strings and comments nest more than MAX_DEPTH deep."""
    # blank strings and comments but keep their length, so that positions keep their lines
    blanked = skip.sub(lambda m: "x" * len(m.group()), text)
    brackets = _bracket().findall(blanked)
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) <= MAX_DEPTH:
        return None
    depth = 0
    for match in _bracket().finditer(blanked):  # only now, to say where
        depth += _STEP[match.group()]
        if depth > MAX_DEPTH:
            return Problem("", too_deep(f" (line {_line_of(text, match.start())})"))
    return None  # unreachable: the depth above passed the bound somewhere


def _toml_problem(text: str) -> Problem | None:
    """A problem when a TOML text holds a dotted key too long or too many values to decode.

    Python's TOML reader takes time quadratic in the dots of one key, and about ten
    microseconds a value: both are bounded here, on the text with strings blanked.
    Every value follows a ``=``, a ``,`` or an opening bracket, so their count bounds
    the number of values from above.
    """
    blanked = _toml_skip().sub("x", text)
    for match in _dotted().finditer(blanked):
        if match.group().count(".") >= MAX_DEPTH:
            return Problem("", too_deep(" (a dotted key)"))
    if sum(blanked.count(c) for c in "=,[{") > MAX_VALUES:
        return Problem("", too_many_values())
    return None


def scan_problem(text: str, fmt: Literal["json", "toml"]) -> Problem | None:
    """A problem when a JSON or TOML text is too deep (or, TOML, too long) to decode."""
    if fmt == "json":
        return _bracket_problem(text, _json_skip())
    return _bracket_problem(text, _toml_skip()) or _toml_problem(text)


# --- decoded data ------------------------------------------------------------------------


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [*value, *value.values()]
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, msgspec.Struct):
        return [getattr(value, name) for name in value.__struct_fields__]
    return []


def _keyed_children(value: Any) -> list[tuple[str | int | None, Any]]:
    """Children with the keys a path names them by (None for mapping keys themselves)."""
    if isinstance(value, dict):
        return [(k if isinstance(k, str) else None, v) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return list(enumerate(value))
    if isinstance(value, msgspec.Struct):
        return [(name, getattr(value, name)) for name in value.__struct_fields__]
    return []


def _too_deep_path(value: Any) -> str:
    """The path of the first place deeper than MAX_DEPTH (a second walk: only on failure)."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return path
        stack.extend((child, depth + 1, join_path(path, key) if key is not None else path)
                     for key, child in _keyed_children(item))
    return ""


def data_problem(value: Any) -> Problem | None:
    """A problem when decoded data (or a spec built in code) passes a bound.

    The walk is iterative, so it is safe whatever the depth, and stops at the first
    bound passed, so its cost is bounded too (also in memory: it never holds more
    than MAX_VALUES values to visit); a value reached twice (YAML aliases share
    objects) counts twice, as every later stage would walk it twice.
    """
    values = text = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        values += 1
        if isinstance(item, (str, bytes)):
            text += len(item)
            if text > MAX_TEXT:
                return Problem("", too_much_text())
            continue
        if depth > MAX_DEPTH:
            return Problem(_too_deep_path(value), too_deep())
        children = _children(item)
        if values + len(stack) + len(children) > MAX_VALUES:
            return Problem("", too_many_values())
        stack.extend((child, depth + 1) for child in children)
    return None
