"""Carry Terraform expressions through a JSON encoder untouched.

msgspec's JSON encoder only sees builtins. :func:`embed` swaps every
:class:`~nixk8s.terraform.Expr` in a tree for a token string that cannot occur in the
literal content, lets the encoder write the text, and splits the text back into a
:class:`~nixk8s.terraform.Template` at the tokens, each quoted token standing for a
whole JSON value. The token is chosen by a deterministic search, so the same input
always gives the same output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from itertools import count
from typing import Any

from nixk8s.terraform import Expr, Template


def _substitute(tree: Any, token: Callable[[int], str], exprs: list[Expr]) -> Any:
    if isinstance(tree, Expr):
        exprs.append(tree)
        return token(len(exprs) - 1)
    if isinstance(tree, dict):
        return {k: _substitute(v, token, exprs) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_substitute(v, token, exprs) for v in tree]
    return tree


def _strings(tree: Any) -> Iterator[str]:
    """Every literal string in ``tree``: keys and values."""
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from _strings(v)


def literal_strings(tree: Any) -> list[str]:
    """Every string in a tree of builtins (mappings, lists, scalars): keys and values,
    in no particular order (iterative: a spec's tree may be deep).

    >>> sorted(literal_strings({"a": ["b", 1, {"c": "d"}]}))
    ['a', 'b', 'c', 'd']
    """
    out: list[str] = []
    stack = [tree]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            out.append(value)
        elif kind is dict or isinstance(value, Mapping):
            for k, v in value.items():
                stack += (v, k)
        elif kind is list or kind is tuple:
            stack.extend(reversed(value))
    return out


def free_prefix(tree: Any) -> str:
    """A token prefix that no literal in ``tree`` contains.

    The prefix has no border (no proper prefix of it is also a suffix), so a token
    found in the output cannot start inside the literal text before it.
    """
    # NUL joins them: no prefix holds one, so none is found across two literals
    text = "\0".join(_strings(tree))
    for salt in count():
        prefix = f"nixk8sexpr{salt}q"
        if prefix not in text:
            return prefix
    raise AssertionError("unreachable")


def embed(tree: Any, encode: Callable[[Any], str], prefix: str | None = None) -> Template:
    """JSON-encode ``tree``, whose leaves may be Expr, keeping each Expr as a whole value.

    ``prefix`` is the token prefix to use, when the caller knows one that no literal of
    the tree contains (a spec's, for every node of it); else it is searched for.

    >>> import json
    >>> embed({"a": Expr("var.x"), "b": "y"}, json.dumps).parts
    ('{"a": ', Expr(text='var.x', max_len=64, json_max_len=None), ', "b": "y"}')
    """
    if prefix is None:
        prefix = free_prefix(tree)
    exprs: list[Expr] = []
    text = encode(_substitute(tree, lambda i: f"{prefix}{i}q", exprs))
    if not exprs:
        return Template.of(text)
    pattern = re.compile(re.escape('"' + prefix) + r"(\d+)q" + re.escape('"'))
    pieces = pattern.split(text)
    if len(pieces) != 2 * len(exprs) + 1:
        raise ValueError("the encoder did not keep every expression token intact")
    # split alternates literal text and captured token numbers
    return Template.of(*(piece if i % 2 == 0 else exprs[int(piece)] for i, piece in enumerate(pieces)))
