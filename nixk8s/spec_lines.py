"""Where a spec path is written in the spec file: its line and column, for findings
that point into the file (SARIF results, which code scanning shows on that line).

A YAML spec's node graph keeps every node's position; JSON is read the same way (a JSON
document is YAML to PyYAML). A path the document does not hold (a required field left
out) is placed at the nearest value it does hold (the mapping that lacks the field).
TOML keeps no positions: no regions for it, nor for a document that does not parse.
The graph is composed with the loader's bounds, and only for a command that asks for
SARIF, so this costs nothing otherwise.

>>> regions(b"name: demo\\nnode_pools:\\n  - name: system\\n    min_sise: 3\\n", "yaml",
...         ["node_pools[0].min_sise", "region", "node_pools[0].labels"])
{'node_pools[0].min_sise': Region(line=4, column=5), 'region': Region(line=1, column=1), 'node_pools[0].labels': Region(line=3, column=5)}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from nixk8s.choices import SpecFormat
from nixk8s.limits import LimitExceeded, size_problem


class Region(msgspec.Struct, frozen=True):
    """A 1-based line and column (in code points) of the spec's text."""

    line: int
    column: int


# join_path's three forms: .name (or a leading name), [index], ["quoted key"]
_STEP = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def steps(path: str) -> Iterator[str | int]:
    """The keys and indices of a spec path, as far as it can be read.

    >>> list(steps('node_pools[2].labels["kubernetes.io/role"]'))
    ['node_pools', 2, 'labels', 'kubernetes.io/role']
    """
    position = 0
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            return
        name, index, quoted = step.groups()
        if index is not None:
            yield int(index)
        elif quoted is not None:
            try:
                yield json.loads(quoted)
            except ValueError:
                return
        else:
            yield name
        position = step.end()


def _region(mark: Any) -> Region:
    return Region(mark.line + 1, mark.column + 1)


def _located(root: Any, path: str, keys: dict[int, dict[str, tuple[Any, Any]]]) -> Region:
    """The position of ``path``'s key (or list item), else of the nearest enclosing one.

    ``keys`` holds each mapping's keys once looked up, so that many paths into one large
    mapping cost one pass over it.
    """
    import yaml

    node, where = root, _region(root.start_mark)
    for step in steps(path):
        if isinstance(node, yaml.MappingNode):
            if id(node) not in keys:
                keys[id(node)] = {
                    k.value: (k, v) for k, v in reversed(node.value) if isinstance(k, yaml.ScalarNode)
                }
            pair = keys[id(node)].get(str(step))
            if pair is None:
                break
            where, node = _region(pair[0].start_mark), pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            where = _region(node.start_mark)
        else:
            break
    return where


def regions(data: bytes, fmt: SpecFormat, paths: Iterable[str]) -> dict[str, Region]:
    """Each path's region in a YAML or JSON spec; empty for TOML or a document that does not parse."""
    if fmt == "toml" or size_problem(data) is not None:
        return {}
    from nixk8s.yaml_spec import YAMLError, compose_yaml

    try:
        root = compose_yaml(data.decode("utf-8"))
    except (UnicodeDecodeError, YAMLError, LimitExceeded, RecursionError):
        return {}
    if root is None:
        return {}
    keys: dict[int, dict[str, tuple[Any, Any]]] = {}
    return {path: _located(root, path, keys) for path in paths}
