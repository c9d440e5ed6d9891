"""Problems: what is wrong with a spec, and where.

Every stage that can reject input returns ``Result[T, Problems]``; a Failure holds
every problem found, each with its path in the spec, so that one run reports them all.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

import msgspec

from nixk8s.terminal import printable_line


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with the spec. ``path`` is the spec path, ``""`` for the whole file."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


Problems = tuple[Problem, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@functools.cache
def _surrogates() -> re.Pattern[str]:
    # A str holds a code point in this range only as half of a pair that was never
    # completed (a YAML "\ud800" escape): UTF-8 cannot encode it, so no file can hold it.
    # Compiled on first need: its character class costs more to compile than some
    # whole modules cost to import, and nearly every text is ASCII.
    return re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in ``text``, or None.

    >>> lone_surrogate("a\\ud800b"), lone_surrogate("node_pools"), lone_surrogate("café")
    ('\\ud800', None, None)
    """
    if text.isascii():
        return None
    found = _surrogates().search(text)
    return found.group() if found else None


_SHOWN_MAX = 60


def shown(value: object) -> str:
    """A value as a message quotes it: ``repr``, at most 60 characters, whatever the value.

    A spec is hostile input: a message must not grow with it, nor fail to print
    (Python refuses to turn an integer of more than 4,300 digits into text).

    >>> shown("x" * 100)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."
    >>> shown(16 ** 5000)
    'a 20001-bit number'
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit number"
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def key_text(key: object) -> str:
    """A mapping key that is not a string, as the spec spells it, for a path.

    >>> key_text(None), key_text(True), key_text(1), key_text(16 ** 5000)
    ('null', 'true', '1', 'a 20001-bit number')
    """
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (int, float)):
        return shown(key)
    return str(key)[:_SHOWN_MAX]


def join_path(base: str, key: str | int) -> str:
    """The spec path of ``key`` under ``base``.

    >>> join_path("", "node_pools")
    'node_pools'
    >>> join_path("node_pools", 1)
    'node_pools[1]'
    >>> join_path("tags", "kubernetes.io/role")
    'tags["kubernetes.io/role"]'
    >>> join_path("tags", "\\ud800")
    'tags["\\\\ud800"]'
    """
    if isinstance(key, int):
        return f"{base}[{key}]"
    if lone_surrogate(key):
        import json  # only for such a key: the command's start-up does not pay for it

        return f"{base}[{json.dumps(key)}]"  # escaped, so that the path can be printed
    if not _PLAIN_KEY.fullmatch(key):  # fullmatch: "$" alone would pass "a\n"
        return f"{base}[{msgspec.json.encode(key).decode()}]"
    return f"{base}.{key}" if base else key


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``(did you mean "x"?)`` suffix for the closest choice, or ``""``.

    >>> did_you_mean("max_sise", ["min_size", "max_size"])
    ' (did you mean "max_size"?)'
    >>> did_you_mean("zzz", ["min_size"])
    ''
    """
    import difflib  # only for a misspelling: the command's start-up does not pay for it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def sorted_problems(problems: Iterable[Problem]) -> Problems:
    """Problems in a stable order, duplicates dropped."""
    return tuple(sorted(set(problems), key=lambda p: (p.path, p.message)))


def format_problems(problems: Sequence[Problem], source: str) -> str:
    """``FILE: PATH: MESSAGE`` lines, as the command prints them: one line each, whatever
    the spec holds (:mod:`nixk8s.terminal`).

    >>> print(format_problems([Problem("region", "unknown: x\\nfake.yaml: valid")], "c.yaml"), end="")
    c.yaml: region: unknown: x\\nfake.yaml: valid
    """
    return "".join(f"{printable_line(source)}: {printable_line(str(p))}\n" for p in problems)
