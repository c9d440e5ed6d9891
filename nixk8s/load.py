"""Bytes → ClusterSpec, or every problem with its path: decoding and the cloud-neutral rules.

Nothing here knows a cloud: a backend's own checks run in :mod:`nixk8s.compiler`,
where the backend is looked up once.

>>> load(b"name: demo\\nbackend: hcloud\\nregion: nbg1\\n", "yaml").failure()[0]
Problem(path='node_pools', message='required field is missing')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import msgspec
import yaml
from returns.result import Failure, Result, Success

from nixk8s.problems import Problem, Problems, sorted_problems
from nixk8s.rules import spec_problems
from nixk8s.shape import INVALID, describe, repaired, shape_problems
from nixk8s.spec import BACKEND_ALIASES, ClusterSpec

SpecFormat = Literal["yaml", "toml", "json"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys (PyYAML keeps the last silently)."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # a merge key (<<: *anchor): construct_mapping flattens it
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # a list or mapping as a key ("? [a, b]")
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar, not a list or mapping", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def format_of(filename: str) -> SpecFormat:
    """The format a file name implies; YAML unless it ends in .toml or .json."""
    lower = filename.lower()
    if lower.endswith(".toml"):
        return "toml"
    if lower.endswith(".json"):
        return "json"
    return "yaml"


def _decode(data: bytes, fmt: SpecFormat) -> Result[Any, Problems]:
    if not data.strip():
        return Failure((Problem("", "the spec is empty"),))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return Failure((Problem("", f"not UTF-8 text (byte {err.start})"),))
    try:
        if fmt == "json":
            return Success(msgspec.json.decode(text))
        if fmt == "toml":
            return Success(msgspec.toml.decode(text))
        return Success(yaml.load(text, Loader=_UniqueKeyLoader))  # noqa: S506 (a SafeLoader)
    except (msgspec.DecodeError, yaml.YAMLError, ValueError) as err:
        reason = " ".join(str(err).split())
        return Failure((Problem("", f"not valid {fmt.upper()}: {reason}"),))


def _normalise(raw: Any) -> Any:
    """Accept pangea's backend aliases (aws_nixos, hcloud_k3s, ...)."""
    backend = raw.get("backend") if isinstance(raw, dict) else None
    if isinstance(backend, str) and backend in BACKEND_ALIASES:
        return {**raw, "backend": BACKEND_ALIASES[backend]}
    return raw


def _typed(raw: Any) -> Result[ClusterSpec, Problems]:
    if not isinstance(raw, dict):
        return Failure((Problem("", f"the spec must be a mapping of fields, not {describe(raw)}"),))
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


def parse(data: bytes, fmt: SpecFormat = "yaml") -> Result[ClusterSpec, Problems]:
    """Decode and type-check a spec: unknown fields, types, ranges, patterns."""
    return decode_source(data, fmt).bind(_typed)


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


def examine(raw: Any) -> Examined:
    """Type-check decoded data, keeping a repaired spec where it has type problems."""
    typed = _typed(raw)
    if isinstance(typed, Success):
        return Examined(typed.unwrap(), ())
    shape = typed.failure()
    kept = repaired(raw, ClusterSpec) if isinstance(raw, dict) else INVALID
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
    return _checked(examine(msgspec.to_builtins(spec)))


def load(data: bytes, fmt: SpecFormat = "yaml") -> Result[ClusterSpec, Problems]:
    """Bytes to a spec that passed every cloud-neutral check, or every problem found.

    Type problems and the cross-field rules are reported together. The chosen
    cloud's own checks run when the spec is compiled.
    """
    return decode_source(data, fmt).map(examine).bind(_checked)
