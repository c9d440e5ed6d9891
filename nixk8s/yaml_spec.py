"""Reading a YAML spec: PyYAML's safe loader, bounded, strict and without duplicate keys.

Imported only when a spec is YAML, so that a JSON or TOML spec never pays for PyYAML.
libyaml scans and parses; the node graph is composed in Python, where the bounds of
:mod:`nixk8s.limits` are checked before any object is constructed (an alias bomb is
refused as soon as the first node whose expansion passes a bound is complete).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import msgspec
import yaml
import yaml.cyaml

from nixk8s.limits import MAX_DEPTH, MAX_TEXT, MAX_VALUES, LimitExceeded, too_deep, too_many_values, too_much_text
from nixk8s.problems import shown

YAMLError = yaml.YAMLError


# --- YAML: bounds checked while the node graph is composed ---------------------------------


class _Size(msgspec.Struct, frozen=True):
    values: int
    text: int


def _node_size(node: yaml.Node, sizes: dict[int, _Size]) -> _Size:
    """A node's size with every alias expanded, from the sizes of its (composed) children."""
    if isinstance(node, yaml.ScalarNode):
        return _Size(1, len(node.value))
    children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
    parts = [sizes[id(c)] for c in children]
    return _Size(1 + sum(p.values for p in parts), sum(p.text for p in parts))


class BoundedComposer(yaml.composer.Composer):
    """PyYAML's composer, refusing too deep a document, too many nodes or an alias bomb.

    Every node's expanded size is computed once, when it is complete, from its
    children's; an alias adds the size of the node it names without composing it
    again. A bomb (nine aliases per anchor, nine levels) is refused as soon as the
    first node whose expansion passes a bound is complete, before any object is
    constructed. An alias to a node that is not complete yet refers to its own
    ancestor: a cycle, which no spec can mean.
    """

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._composed = 0
        self._sizes: dict[int, _Size] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[attr-defined]  # the parser's, mixed in beside it
        self._composed += 1
        if self._composed > MAX_VALUES:
            raise LimitExceeded(too_many_values() + _at(event.start_mark))
        if isinstance(event, yaml.AliasEvent):
            node = _composed(super().compose_node(parent, index))
            if id(node) not in self._sizes:
                raise LimitExceeded(f"an alias refers to a node that contains it{_at(event.start_mark)}: it would never end")
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise LimitExceeded(too_deep(_at(event.start_mark)))
        node = _composed(super().compose_node(parent, index))
        self._depth -= 1
        size = _node_size(node, self._sizes)
        if size.values > MAX_VALUES:
            raise LimitExceeded(too_many_values(" once its aliases are expanded") + _at(node.start_mark))
        if size.text > MAX_TEXT:
            raise LimitExceeded(too_much_text(" once its aliases are expanded") + _at(node.start_mark))
        self._sizes[id(node)] = size
        return node


def _composed(node: yaml.Node | None) -> yaml.Node:
    # PyYAML's stubs allow None, which compose_node returns only past the stream's end
    return cast(yaml.Node, node)


def _at(mark: Any) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})"


if yaml.__with_libyaml__:

    class _Parser(yaml.cyaml.CParser):  # type: ignore[misc,name-defined,unused-ignore]
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
        _Parser.__init__(self, stream)  # type: ignore[call-arg,unused-ignore]
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


def load_yaml(text: str) -> Any:
    """The plain data of a YAML document; raises YAMLError or LimitExceeded."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)


def compose_yaml(text: str) -> yaml.Node | None:
    """The node graph of a YAML document (None for an empty one), bounded as :func:`load_yaml`
    is, without constructing values: each node keeps its line and column. Raises YAMLError
    or LimitExceeded."""
    loader = _UniqueKeyLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()
