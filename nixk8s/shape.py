"""Check raw decoded data against the spec's types, collecting every problem.

msgspec stops at the first error; an operator fixing a spec wants all of them in one
run. :func:`shape_problems` walks the raw data beside the struct definitions and
reports each unknown field (with a "did you mean"), each missing required field and
each wrongly typed or out-of-range value, using msgspec itself for every leaf so that
the messages and the rules are msgspec's own.
"""

from __future__ import annotations

import datetime
import functools
import re
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, Union

import msgspec

from nixk8s.problems import Problem, did_you_mean, join_path, key_text, lone_surrogate, shown
from nixk8s.spec import fields_of

_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def describe(value: object) -> str:
    """A person's name for the kind of a decoded value.

    >>> describe([1]), describe(3), describe(None)
    ('a list', 'an integer', 'null')
    """
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


@functools.cache  # called for every value the walk visits; types are few and hashable
def _strip(tp: Any) -> Any:
    """The type under ``Annotated[...]``, without ``UnsetType`` in a union.

    UNSET only marks a field the spec left out (the pass-through options), so a value
    that is present is checked against the rest: ``dict[str, Any] | UnsetType`` is
    walked as ``dict[str, Any]``.
    """
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    members = _union_members(tp)
    if msgspec.UnsetType in members:
        return _strip(Union[tuple(m for m in members if m is not msgspec.UnsetType)])
    return tp


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _union_members(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _description(tp: Any) -> str | None:
    """The ``Meta(description=...)`` of an ``Annotated`` type, if any."""
    for meta in typing.get_args(tp)[1:] if typing.get_origin(tp) is typing.Annotated else ():
        if isinstance(meta, msgspec.Meta) and meta.description:
            return meta.description
    return None


def _unwritable(value: object) -> str | None:
    """Why a scalar cannot be written into the node's JSON or Terraform's, or None.

    >>> _unwritable("a\\ud800b"), _unwritable(2 ** 70), _unwritable(2 ** 63)
    ('contains a lone UTF-16 surrogate (\\\\ud800), which UTF-8 cannot encode', 'a 71-bit number is too large: numbers fit in 64 bits', None)
    """
    if isinstance(value, str):
        lone = lone_surrogate(value)
        if lone:
            return f"contains a lone UTF-16 surrogate (\\u{ord(lone):04x}), which UTF-8 cannot encode"
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return f"{shown(value)} is too large: numbers fit in 64 bits"
    return None


def writable(tree: object) -> bool:
    """Whether every key in ``tree`` is a string and every scalar can be written as JSON.

    msgspec's own conversion accepts a non-string key or a lone surrogate inside a
    free-form value; a tree that passes this scan and converts needs no walk.

    >>> writable({"a": [1, "b"]}), writable({"a": {1: "b"}}), writable([chr(0xD800)])
    (True, False, False)
    """
    stack = [tree]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or _unwritable(key) is not None:
                    return False
                stack.append(item)
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif _unwritable(value) is not None:
            return False
    return True


def _leaf_message(value: object, tp: Any) -> str | None:
    """msgspec's verdict on one leaf value, reworded for a person, or None when valid."""
    unwritable = _unwritable(value)
    if unwritable is not None:
        return unwritable
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError as err:
        message = str(err).split(" - at `", 1)[0]
        base = _strip(tp)
        number_for_text = isinstance(value, (int, float)) and not isinstance(value, bool)
        quote_hint = f": write it in quotes (YAML reads {shown(value)} as a number)" if number_for_text else ""
        if isinstance(value, (datetime.date, datetime.datetime)):
            number_for_text, quote_hint = True, f": write it in quotes (YAML reads {value} as a date)"
        if typing.get_origin(base) is Literal:
            choices = [str(c) for c in typing.get_args(base)]
            if isinstance(value, (dict, list, tuple)):
                return f"expected one of {', '.join(choices)}, got {describe(value)}"
            hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
            if number_for_text and all(isinstance(c, str) for c in typing.get_args(base)):
                hint = quote_hint
            return f"{shown(value)} is not one of {', '.join(choices)}{hint}"
        if number_for_text and "`str" in message:
            return f"expected a string{quote_hint}"
        description = _description(tp)
        if description and "matching regex" in message:
            return f"{shown(value)} is not valid: {description}"
        return _plain_types(message)
    return None


def _key_problem(key: object, path: str, what: str = "keys") -> Problem | None:
    """The problem of a mapping key that JSON cannot carry: not a string, or unwritable."""
    if not isinstance(key, str):
        hint = ": write it in quotes" if key is None or isinstance(key, (bool, int, float)) else ""
        return Problem(join_path(path, key_text(key)), f"{what} must be strings, got {describe(key)}{hint}")
    unwritable = _unwritable(key)
    return Problem(join_path(path, key), f"the key {unwritable}") if unwritable else None


def _free_form_problems(value: object, path: str) -> Iterator[Problem]:
    """What a free-form value (a manifest, sysctls, extra args) holds that JSON cannot.

    Such values reach the node's JSON as written, so every key in them must be a
    string and every scalar writable; the spec's own types say nothing about them.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _key_problem(key, path)
            if problem is not None:
                yield problem
            else:
                yield from _free_form_problems(item, join_path(path, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _free_form_problems(item, join_path(path, i))
    else:
        unwritable = _unwritable(value)
        if unwritable is not None:
            yield Problem(path, unwritable)


# msgspec's names for JSON types, as the other messages here say them
_MSGSPEC_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "null": "null",
    "date": "a date",
    "datetime": "a date and time",
    "bytes": "binary data",
}
_MSGSPEC_TYPES = re.compile(r"`([a-z |]+)`")


def _plain_types(message: str) -> str:
    """``Expected `object | null`, got `str``` → ``expected a mapping or null, got a string``."""

    def words(match: re.Match[str]) -> str:
        names = [_MSGSPEC_TYPE_NAMES.get(n.strip()) for n in match.group(1).split("|")]
        return match.group(0) if None in names else " or ".join(n for n in names if n)

    return _MSGSPEC_TYPES.sub(words, message.replace("Expected", "expected", 1))


def shape_problems(value: object, tp: Any, path: str = "") -> Iterator[Problem]:
    """Every place where ``value`` does not fit ``tp``.

    >>> from nixk8s.spec import Taint
    >>> [str(p) for p in shape_problems({"key": "a", "efect": "NoSchedule"}, Taint, "t")]
    ['t.efect: unknown field (did you mean "effect"?)']
    """
    base = _strip(tp)
    members = _union_members(base)
    if members:
        if value is None and type(None) in members:
            return
        structs = [m for m in members if _is_struct(_strip(m))]
        if isinstance(value, dict) and len(structs) == 1:
            yield from shape_problems(value, structs[0], path)
            return
    elif _is_struct(base):
        yield from _struct_problems(value, base, path)
        return
    else:
        origin = typing.get_origin(base)
        args = typing.get_args(base)
        if origin in (tuple, list) and (origin is list or (len(args) == 2 and args[1] is Ellipsis)):
            if not isinstance(value, (list, tuple)):
                yield Problem(path, f"expected a list, got {describe(value)}")
                return
            item_problems = [
                problem
                for i, item in enumerate(value)
                for problem in shape_problems(item, args[0], join_path(path, i))
            ]
            if item_problems:
                yield from item_problems
                return
            # the items fit: what is left to check is the list's own length (Meta)
        elif origin is dict:
            if not isinstance(value, dict):
                yield Problem(path, f"expected a mapping, got {describe(value)}")
                return
            key_type, value_type = args
            for key, item in value.items():
                problem = _key_problem(key, path)
                if problem is not None:
                    yield problem
                    continue
                yield from shape_problems(item, value_type, join_path(path, key))
            return
    if base is Any:
        yield from _free_form_problems(value, path)
        return
    message = _leaf_message(value, tp)
    if message is not None:
        yield Problem(path, message)


def _struct_problems(value: object, struct: type[msgspec.Struct], path: str) -> Iterator[Problem]:
    if not isinstance(value, dict):
        yield Problem(path, f"expected a mapping, got {describe(value)}")
        return
    fields = {f.encode_name: f for f in fields_of(struct)}
    for key, item in value.items():
        if not isinstance(key, str):
            yield Problem(join_path(path, key_text(key)), "field names must be strings")
        elif key not in fields:
            yield Problem(join_path(path, key), "unknown field" + did_you_mean(key, fields))
        else:
            yield from shape_problems(item, fields[key].type, join_path(path, key))
    for name, field in fields.items():
        if field.required and name not in value:
            yield Problem(join_path(path, name), "required field is missing")


class _Invalid:
    """Marks a value :func:`repaired` could not keep."""


INVALID = _Invalid()


PLACEHOLDER = "placeholder"


def placeholder(tp: Any) -> Any:
    """A valid stand-in for a required value of type ``tp``, or INVALID where none is sure.

    >>> placeholder(str), placeholder(tuple[str, ...])
    ('placeholder', ('placeholder',))
    """
    base = _strip(tp)
    if _is_struct(base):
        return repaired({}, base)
    origin, args = typing.get_origin(base), typing.get_args(base)
    candidates: list[Any] = []
    if base is str:
        candidates = [PLACEHOLDER]
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis and _strip(args[0]) is str:
        candidates = [(PLACEHOLDER,)]
    elif base is int:
        candidates = [1]
    return next((c for c in candidates if _leaf_message(c, tp) is None), INVALID)


def repaired(value: object, tp: Any) -> Any:
    """``value`` with every invalid optional part dropped, or INVALID when that is not enough.

    Unknown fields, invalid values of fields that have defaults and invalid mapping
    entries are dropped; a missing or invalid required field gets a valid placeholder
    where its type has one (a name, a list of names, a record built the same way).
    What has none (an invalid list item, whose removal would shift the indices of the
    rest; a choice such as ``backend``) makes the whole value INVALID. The cross-field
    rules can then run on what is left, so that one run reports every problem.

    >>> from nixk8s.spec import NodePool, Taint
    >>> repaired({"key": "a", "effect": "Sometimes", "bogus": 1}, Taint)
    {'key': 'a'}
    >>> repaired({"name": "Bad Name", "instance_types": [], "max_size": 2}, NodePool)
    {'name': 'placeholder', 'instance_types': ('placeholder',), 'max_size': 2}
    """
    base = _strip(tp)
    members = _union_members(base)
    if members:
        if value is None and type(None) in members:
            return value
        structs = [m for m in members if _is_struct(_strip(m))]
        if isinstance(value, dict) and len(structs) == 1:
            return repaired(value, structs[0])
    elif _is_struct(base):
        if not isinstance(value, dict):
            return INVALID
        fields = {f.encode_name: f for f in fields_of(base)}
        out = {}
        for name, field in fields.items():
            kept = repaired(value[name], field.type) if name in value else INVALID
            if kept is INVALID and field.required:
                kept = placeholder(field.type)
                if kept is INVALID:
                    return INVALID
            if kept is not INVALID:
                out[name] = kept
        return out
    else:
        origin = typing.get_origin(base)
        args = typing.get_args(base)
        if origin in (tuple, list) and (origin is list or (len(args) == 2 and args[1] is Ellipsis)):
            if not isinstance(value, (list, tuple)):
                return INVALID
            items = [repaired(item, args[0]) for item in value]
            if any(item is INVALID for item in items):
                return INVALID
            value = items
        elif origin is dict:
            if not isinstance(value, dict):
                return INVALID
            kept_items = {k: repaired(v, args[1]) for k, v in value.items() if _key_problem(k, "") is None}
            return {k: v for k, v in kept_items.items() if v is not INVALID}
    if base is Any:
        return INVALID if any(_free_form_problems(value, "")) else value
    return INVALID if _leaf_message(value, tp) is not None else value
