"""Bytes → ClusterSpec, or every problem with its path.

>>> load(b"name: demo\\nbackend: hcloud\\nregion: nbg1\\n", "yaml").failure()[0]
Problem(path='node_pools', message='required field is missing')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import msgspec
import yaml
import yaml.cyaml
from returns.result import Failure, Result, Success

from nixk8s.backends import backend_for
from nixk8s.limits import BoundedComposer, LimitExceeded, data_problem, scan_problem, size_problem
from nixk8s.problems import Problem, Problems, shown, sorted_problems
from nixk8s.rules import spec_problems
from nixk8s.shape import INVALID, describe, repaired, shape_problems
from nixk8s.spec import BACKEND_ALIASES, ClusterSpec

SpecFormat = Literal["yaml", "toml", "json"]


if yaml.__with_libyaml__:

    class _Parser(yaml.cyaml.CParser):
        """libyaml's scanner and parser: several times faster than PyYAML's own."""

else:  # pragma: no cover (PyYAML built without libyaml)

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _UniqueKeyLoader(BoundedComposer, _Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """PyYAML's safe loader with bounds (see :mod:`nixk8s.limits`), refusing duplicate keys
    (PyYAML keeps the last silently).

    The composer comes first, so that nodes are composed in Python, where the bounds
    are checked, even where libyaml could compose them itself.
    """

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        BoundedComposer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.Node, deep: bool = False) -> Any:
    if not isinstance(node, yaml.MappingNode):  # an explicit tag on something else: "!!map [1]"
        raise yaml.constructor.ConstructorError(
            None, None, f"!!map on {_node_kind(node)}: expected a mapping", node.start_mark
        )
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


def _node_kind(node: yaml.Node) -> str:
    return {yaml.ScalarNode: "a scalar", yaml.SequenceNode: "a list"}.get(type(node), "a mapping")


_Constructor = Callable[[yaml.SafeLoader, yaml.Node], Any]


def _strict_scalar(tag: str, construct: _Constructor) -> _Constructor:
    """``construct`` for an explicit scalar tag (``!!int ''``), failing as a YAML error.

    PyYAML's own constructors assume the resolver vouched for the text, so a value
    that an explicit tag forces on them ends in KeyError, IndexError, AttributeError
    or ValueError. A scalar has no children, so any of those can only mean "not a
    valid value of this tag".
    """

    def checked(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (KeyError, IndexError, AttributeError, ValueError, TypeError, OverflowError):
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown(node.value)} is not a valid !!{tag}", node.start_mark
            ) from None

    return checked


for _tag in ("bool", "int", "float", "timestamp"):
    _UniqueKeyLoader.add_constructor(
        f"tag:yaml.org,2002:{_tag}",
        _strict_scalar(_tag, _UniqueKeyLoader.yaml_constructors[f"tag:yaml.org,2002:{_tag}"]),
    )


def _no_sets(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    # a set has no order, so a spec holding one would not compile to the same bytes each run
    raise yaml.constructor.ConstructorError(None, None, "!!set is not supported: write a list", node.start_mark)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:set", _no_sets)


def format_of(filename: str) -> SpecFormat:
    """The format a file name implies; YAML unless it ends in .toml or .json."""
    lower = filename.lower()
    if lower.endswith(".toml"):
        return "toml"
    if lower.endswith(".json"):
        return "json"
    return "yaml"


def _decode_text(text: str, fmt: SpecFormat) -> Any:
    if fmt == "json":
        return msgspec.json.decode(text)
    if fmt == "toml":
        return msgspec.toml.decode(text)
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)


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
    except (msgspec.DecodeError, yaml.YAMLError, ValueError) as err:
        reason = " ".join(str(err).split())
        return Failure((Problem("", f"not valid {fmt.upper()}: {reason}"),))
    too_large = data_problem(raw)
    return Success(raw) if too_large is None else Failure((too_large,))


def _normalise(raw: Any) -> Any:
    """Accept pangea's backend aliases (aws_nixos, hcloud_k3s, ...)."""
    backend = raw.get("backend") if isinstance(raw, dict) else None
    if isinstance(backend, str) and backend in BACKEND_ALIASES:
        return {**raw, "backend": BACKEND_ALIASES[backend]}
    return raw


def _typed(raw: Any) -> Result[ClusterSpec, Problems]:
    if not isinstance(raw, dict):
        return Failure((Problem("", f"the spec must be a mapping of fields, not {describe(raw)}"),))
    problems = sorted_problems(shape_problems(raw, ClusterSpec))
    if problems:
        return Failure(problems)
    try:
        return Success(msgspec.convert(raw, ClusterSpec))
    except msgspec.ValidationError as err:  # a rule the walk above does not know
        message, _, where = str(err).partition(" - at `$")
        return Failure((Problem(where.rstrip("`").lstrip("."), message),))


_TOML_HINT = " (this looks like TOML: name the file .toml, or pass --spec-format toml)"


def _looks_like_toml(data: bytes) -> bool:
    """Whether bytes that failed as YAML are a TOML table (a wrong extension, stdin)."""
    try:
        text = data.decode("utf-8")
        return scan_problem(text, "toml") is None and bool(msgspec.toml.decode(text))
    except (UnicodeDecodeError, msgspec.DecodeError, ValueError):
        return False


def _format_hint(data: bytes, fmt: SpecFormat) -> Callable[[Problems], Result[ClusterSpec, Problems]]:
    """The problems of the whole document, with a hint when YAML was given TOML."""

    def hinted(problems: Problems) -> Result[ClusterSpec, Problems]:
        if fmt == "yaml" and any(p.path == "" for p in problems) and _looks_like_toml(data):
            return Failure(tuple(Problem("", p.message + _TOML_HINT) if p.path == "" else p for p in problems))
        return Failure(problems)

    return hinted


def parse(data: bytes, fmt: SpecFormat = "yaml") -> Result[ClusterSpec, Problems]:
    """Decode and type-check a spec: unknown fields, types, ranges, patterns."""
    return _decode(data, fmt).map(_normalise).bind(_typed).lash(_format_hint(data, fmt))


def check(spec: ClusterSpec) -> Result[ClusterSpec, Problems]:
    """Every rule that spans fields, and the chosen cloud's platform limits.

    Works on specs built in code too: they are round-tripped through the decoder
    first, so that field constraints hold whatever built the struct.
    """
    too_large = data_problem(spec)  # a spec built in code is bounded like a file
    if too_large is not None:
        return Failure((too_large,))
    typed = _typed(msgspec.to_builtins(spec))
    if isinstance(typed, Failure):
        return typed
    # the round trip's struct: one built in code may hold a mapping where a record belongs
    spec = typed.unwrap()
    problems = spec_problems(spec)
    backend = backend_for(spec.backend)
    if backend is None:
        problems.append(Problem("backend", f"backend {spec.backend} is not available in this version of nixk8s"))
    elif not problems:
        # platform limits assume a spec that is otherwise sound
        problems.extend(backend.check(spec))
    return Failure(sorted_problems(problems)) if problems else Success(spec)


def _within(path: str, place: str) -> bool:
    """Whether ``path`` is ``place`` or lies under it.

    >>> _within("node_pools[0].labels.a", "node_pools[0]"), _within("node_pools[10]", "node_pools[1]")
    (True, False)
    """
    return path == place or path.startswith((place + ".", place + "["))


def _rule_problems_beside(raw: Any, shape: Problems) -> list[Problem]:
    """The cross-field rules' problems on what is left once the shape problems are dropped.

    A rule problem at (or under) a place with a shape problem is left out: it would
    only be an echo of the dropped value, read as its default.
    """
    kept = repaired(raw, ClusterSpec)
    if kept is INVALID:
        return []
    try:
        spec = msgspec.convert(kept, ClusterSpec)
    except msgspec.ValidationError:
        return []
    damaged = tuple(p.path for p in shape)
    return [p for p in spec_problems(spec) if not any(_within(p.path, d) for d in damaged)]


def _load_raw(raw: Any) -> Result[ClusterSpec, Problems]:
    typed = _typed(raw)
    if isinstance(typed, Success):
        return typed.bind(check)
    shape = typed.failure()
    return Failure(sorted_problems([*shape, *_rule_problems_beside(raw, shape)]))


def load(data: bytes, fmt: SpecFormat = "yaml") -> Result[ClusterSpec, Problems]:
    """Bytes to a checked ClusterSpec, or every problem found.

    Type problems and the cross-field rules are reported together; a cloud's platform
    limits only once the rest is sound (they assume a sound spec).
    """
    return _decode(data, fmt).map(_normalise).bind(_load_raw).lash(_format_hint(data, fmt))
