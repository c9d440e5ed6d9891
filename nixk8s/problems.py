"""Problems: what is wrong with a spec, and where.

Every stage that can reject input returns ``Result[T, Problems]``; a Failure holds
every problem found, each with its path in the spec, so that one run reports them all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

import msgspec


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with the spec. ``path`` is the spec path, ``""`` for the whole file."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


Problems = tuple[Problem, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def join_path(base: str, key: str | int) -> str:
    """The spec path of ``key`` under ``base``.

    >>> join_path("", "node_pools")
    'node_pools'
    >>> join_path("node_pools", 1)
    'node_pools[1]'
    >>> join_path("tags", "kubernetes.io/role")
    'tags["kubernetes.io/role"]'
    """
    if isinstance(key, int):
        return f"{base}[{key}]"
    if not _PLAIN_KEY.match(key):
        return f"{base}[{msgspec.json.encode(key).decode()}]"
    return f"{base}.{key}" if base else key


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``(did you mean "x"?)`` suffix for the closest choice, or ``""``.

    >>> did_you_mean("max_sise", ["min_size", "max_size"])
    ' (did you mean "max_size"?)'
    >>> did_you_mean("zzz", ["min_size"])
    ''
    """
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def sorted_problems(problems: Iterable[Problem]) -> Problems:
    """Problems in a stable order, duplicates dropped."""
    return tuple(sorted(set(problems), key=lambda p: (p.path, p.message)))


def format_problems(problems: Sequence[Problem], source: str) -> str:
    """``FILE: PATH: MESSAGE`` lines, as the command prints them."""
    return "".join(f"{source}: {p}\n" for p in problems)
