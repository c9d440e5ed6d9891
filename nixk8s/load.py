"""Bytes → ClusterSpec, or every problem with its path: decoding and the cloud-neutral rules.

Nothing here knows a cloud: a backend's own checks run in :mod:`nixk8s.compiler`,
where the backend is looked up once.

>>> load(b"name: demo\\nbackend: hcloud\\nregion: nbg1\\n", "yaml").failure()[0]
Problem(path='node_pools', message='required field is missing')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from returns.result import Failure, Result, Success

from nixk8s.choices import SpecFormat as SpecFormat, format_of as format_of  # their home before choices
from nixk8s.limits import LimitExceeded, data_problem, scan_problem, size_problem
from nixk8s.problems import Problem, Problems, sorted_problems
from nixk8s.rules import spec_problems
from nixk8s.shape import INVALID, describe, repaired, shape_problems, writable
from nixk8s.backends.catalog import ALIASES, NAMES, cloud_named
from nixk8s.spec import ClusterSpec, fields_of


class _NotYaml(Exception):
    """A YAML syntax or construction error, as the loader reported it."""


def _decode_text(text: str, fmt: SpecFormat) -> Any:
    if fmt == "json":
        return msgspec.json.decode(text)
    if fmt == "toml":
        return msgspec.toml.decode(text)
    from nixk8s import yaml_spec  # PyYAML only for YAML specs

    try:
        return yaml_spec.load_yaml(text)
    except yaml_spec.YAMLError as err:
        raise _NotYaml(str(err)) from None


def _decode(data: bytes, fmt: SpecFormat) -> Result[Any, Problems]:
    """Bytes to plain data, every bound of :mod:`nixk8s.limits` checked before it matters."""
    too_big = size_problem(data)
    if too_big is not None:
        return Failure((too_big,))
    if not data.strip():
        return Failure((Problem("", "the spec is empty"),))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return Failure((Problem("", f"not UTF-8 text (byte {err.start})"),))
    too_deep = scan_problem(text, fmt) if fmt != "yaml" else None
    if too_deep is not None:
        return Failure((too_deep,))
    try:
        raw = _decode_text(text, fmt)
    except LimitExceeded as err:
        return Failure((Problem("", str(err)),))
    except (msgspec.DecodeError, _NotYaml, ValueError) as err:
        reason = " ".join(str(err).split())
        return Failure((Problem("", f"not valid {fmt.upper()}: {reason}"),))
    too_large = data_problem(raw)
    if too_large is not None:
        return Failure((too_large,))
    if fmt == "json":  # only now, within every bound: a second read, for the keys
        from nixk8s.json_spec import duplicate_key_problems  # the standard json only for JSON specs

        repeated = duplicate_key_problems(text)
        if repeated:
            return Failure(repeated)
    return Success(raw)


def _normalise(raw: Any) -> Any:
    """Accept pangea's backend aliases (aws_nixos, hcloud_k3s, ...)."""
    backend = raw.get("backend") if isinstance(raw, dict) else None
    if isinstance(backend, str) and backend in ALIASES:
        return {**raw, "backend": ALIASES[backend]}
    return raw


def _typed(raw: Any) -> Result[ClusterSpec, Problems]:
    if not isinstance(raw, dict):
        return Failure((Problem("", f"the spec must be a mapping of fields, not {describe(raw)}"),))
    if writable(raw):
        try:
            return Success(msgspec.convert(raw, ClusterSpec))
        except msgspec.ValidationError:
            pass  # msgspec stops at the first problem: walk the data for all of them
    problems = sorted_problems(shape_problems(raw, ClusterSpec))
    if problems:
        return Failure(problems)
    try:
        return Success(msgspec.convert(raw, ClusterSpec))
    except msgspec.ValidationError as err:  # a rule the walk above does not know
        message, _, where = str(err).partition(" - at `$")
        return Failure((Problem(where.rstrip("`").lstrip("."), message),))


def decode_source(data: bytes, fmt: SpecFormat = "yaml") -> Result[Any, Problems]:
    """Spec bytes as plain data (mappings, lists, scalars), backend aliases resolved."""
    return _decode(data, fmt).map(_normalise)


def decode_data(raw: Any) -> Result[Any, Problems]:
    """A spec given as plain data (a mapping as a caller writes it), bounded like a
    decoded file and backend aliases resolved.

    >>> decode_data({"backend": "hcloud_k3s"}).unwrap()
    {'backend': 'hcloud'}
    """
    too_large = data_problem(raw)
    return Failure((too_large,)) if too_large is not None else Success(_normalise(raw))


_TOML_HINT = " (this looks like TOML: name the file .toml, or pass --spec-format toml)"


def _looks_like_toml(data: bytes) -> bool:
    """Whether bytes that failed as YAML are a TOML table (a wrong extension, stdin).

    Never past the size bound: bytes refused for their size are not parsed at all,
    not even for a hint.
    """
    if size_problem(data) is not None:
        return False
    try:
        text = data.decode("utf-8")
        return scan_problem(text, "toml") is None and bool(msgspec.toml.decode(text))
    except (UnicodeDecodeError, msgspec.DecodeError, ValueError):
        return False


def format_hint(data: bytes, fmt: SpecFormat) -> Callable[[Problems], Result[Any, Problems]]:
    """The problems of the whole document, with a hint when YAML was given TOML
    (for ``Result.lash``)."""

    def hinted(problems: Problems) -> Result[Any, Problems]:
        if fmt == "yaml" and any(p.path == "" for p in problems) and _looks_like_toml(data):
            return Failure(tuple(Problem("", p.message + _TOML_HINT) if p.path == "" else p for p in problems))
        return Failure(problems)

    return hinted


def parse(data: bytes, fmt: SpecFormat = "yaml") -> Result[ClusterSpec, Problems]:
    """Decode and type-check a spec: unknown fields, types, ranges, patterns."""
    return decode_source(data, fmt).bind(_typed).lash(format_hint(data, fmt))


class Examined(msgspec.Struct, frozen=True):
    """A decoded spec as far as it could be typed.

    ``spec`` is the spec itself when it is well-typed; otherwise the spec left once
    every invalid optional value and unknown field is dropped (None when even that
    is not a spec), so that the rules can still run on the rest. ``problems`` are
    the type problems.
    """

    spec: ClusterSpec | None
    problems: Problems

    @property
    def damaged(self) -> tuple[str, ...]:
        """The paths of the type problems."""
        return tuple(p.path for p in self.problems)


def with_stand_in_backend(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with a backend nixk8s does not know replaced by a stand-in, so that the
    cloud-neutral rules still run on the rest (the type problem names the backend).

    The stand-in is the cloud whose provider block the spec gives, else the first that
    needs no block, so that the provider-block rule finds nothing the mistake caused.

    >>> with_stand_in_backend({"backend": "hclod", "hcloud": {}})["backend"]
    'hcloud'
    >>> with_stand_in_backend({"backend": "aws"})["backend"]
    'aws'
    """
    if raw.get("backend") in NAMES:
        return raw
    given = [name for name in NAMES if name in raw]
    needs_none = [name for name in NAMES if not any(f.required for f in fields_of(cloud_named(name).options))]
    return {**raw, "backend": (given or needs_none or list(NAMES))[0]}


def examine(raw: Any) -> Examined:
    """Type-check decoded data, keeping a repaired spec where it has type problems."""
    typed = _typed(raw)
    if isinstance(typed, Success):
        return Examined(typed.unwrap(), ())
    shape = typed.failure()
    kept = repaired(with_stand_in_backend(raw), ClusterSpec) if isinstance(raw, dict) else INVALID
    if kept is INVALID:
        return Examined(None, shape)
    try:
        return Examined(msgspec.convert(kept, ClusterSpec), shape)
    except msgspec.ValidationError:
        return Examined(None, shape)


def _within(path: str, place: str) -> bool:
    """Whether ``path`` is ``place`` or lies under it.

    >>> _within("node_pools[0].labels.a", "node_pools[0]"), _within("node_pools[10]", "node_pools[1]")
    (True, False)
    """
    return path == place or path.startswith((place + ".", place + "["))


def beside(problems: Iterable[Problem], damaged: Iterable[str]) -> list[Problem]:
    """``problems`` that do not lie at or under a damaged place.

    A rule run on a repaired spec reads a dropped value as its default; a problem it
    finds there would only echo the type problem already reported.
    """
    places = tuple(damaged)
    return [p for p in problems if not any(_within(p.path, d) for d in places)]


def neutral_problems(examined: Examined) -> Problems:
    """The type problems and the cloud-neutral rules' problems, together."""
    if examined.spec is None:
        return examined.problems
    rules = beside(spec_problems(examined.spec), examined.damaged)
    return sorted_problems([*examined.problems, *rules])


def _checked(examined: Examined) -> Result[ClusterSpec, Problems]:
    problems = neutral_problems(examined)
    if problems or examined.spec is None:
        return Failure(problems)
    return Success(examined.spec)


def check(spec: ClusterSpec) -> Result[ClusterSpec, Problems]:
    """The cloud-neutral checks of a spec built in code.

    It is round-tripped through the decoder first, so that field constraints hold
    whatever built the struct.
    """
    too_large = data_problem(spec)  # a spec built in code is bounded like a file
    if too_large is not None:
        return Failure((too_large,))
    # the rules run on the round trip's struct: one built in code may hold a mapping
    # where a record belongs
    return _checked(examine(msgspec.to_builtins(spec)))


def load(data: bytes, fmt: SpecFormat = "yaml") -> Result[ClusterSpec, Problems]:
    """Bytes to a spec that passed every cloud-neutral check, or every problem found.

    Type problems and the cross-field rules are reported together. The chosen
    cloud's own checks run when the spec is compiled.
    """
    return decode_source(data, fmt).map(examine).bind(_checked).lash(format_hint(data, fmt))
