"""Reading a JSON spec: duplicate keys refused, as YAML and TOML refuse them.

msgspec decodes JSON as most readers do: a key given twice in one object keeps its
last value, silently. In a spec that hides a mistake (two ``node_pools``, the first
one lost), and the same text read by another tool may mean something else. YAML
(:mod:`nixk8s.yaml_spec`) and TOML refuse a duplicate key; so does this, with the
key's path.

msgspec cannot report them, so the text is read a second time by the standard
library's reader, whose ``object_pairs_hook`` sees every key of every object. It
runs only once the text has passed every bound (size, depth, values: the caller
checks them first), so its work is bounded; numbers are not converted, since only
keys matter. An example spec costs it about 20 µs (msgspec's own read, 5 µs), the
megabyte of small objects at the bounds about 90 ms.
"""

from __future__ import annotations

import json
from typing import Any

from nixk8s.problems import Problem, Problems, join_path, key_text, shown, sorted_problems


class _Repeated(dict[str, Any]):
    """An object some of whose keys appear more than once; ``repeated`` names them."""

    repeated: tuple[str, ...] = ()


def _ignored(text: str) -> int:
    # numbers are not converted: int() refuses more than 4,300 digits, and only keys matter
    return 0


class _Duplicate(Exception):
    """Raised from inside the reader at the first object with a repeated key."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Duplicate
    return obj


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One decoded object; marked when a key repeats (the mark is found later, with its path)."""
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    repeated: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    marked = _Repeated(obj)
    marked.repeated = tuple(repeated)
    return marked


# Two readers: the first only asks whether a key repeats (the common answer, no, costs
# the least); the second, run only when one does, marks where.
_UNIQUE = json.JSONDecoder(object_pairs_hook=_unique, parse_int=_ignored, strict=False)
_MARKING = json.JSONDecoder(object_pairs_hook=_object, parse_int=_ignored, strict=False)


def _marked(tree: Any) -> Problems:
    """A problem for each repeated key in a tree read with :func:`_object`, at its path."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str]] = [(tree, "")]
    while stack:  # iterative: the depth was bounded, but a walk need not rely on it
        value, path = stack.pop()
        if isinstance(value, _Repeated):
            problems += [
                Problem(
                    join_path(path, key_text(key)),
                    f"duplicate key {shown(key)}: a JSON reader keeps only the last silently; "
                    "nixk8s refuses it, as in YAML and TOML",
                )
                for key in value.repeated
            ]
        if isinstance(value, dict):
            stack.extend((child, join_path(path, key_text(key))) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, join_path(path, i)) for i, child in enumerate(value))
    return sorted_problems(problems)


def duplicate_key_problems(text: str) -> Problems:
    """A problem for each key repeated in one object of a JSON text that msgspec decoded.

    >>> duplicate_key_problems('{"name": "a", "node_pools": [{"name": "x", "name": "y"}]}')
    (Problem(path='node_pools[0].name', message="duplicate key 'name': a JSON reader keeps only the last silently; nixk8s refuses it, as in YAML and TOML"),)
    >>> duplicate_key_problems('{"a": {"b": 1}, "c": [1, 2]}')
    ()
    """
    try:
        _UNIQUE.decode(text)
        return ()
    except _Duplicate:
        pass
    except ValueError:  # msgspec read it, so this reader can only differ on what it tolerates
        return ()
    try:
        return _marked(_MARKING.decode(text))  # only now, to say where
    except ValueError:
        return ()
