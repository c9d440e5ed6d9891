"""A machine's user_data as the machine receives it, and the cluster-config inside it.

``${base64encode(local.X)}`` is undone by reading the local (the cloud decodes it), and
the cluster-config JSON nixk8s writes on one line is taken out of the shell script or
cloud-config around it, with each interpolation Terraform has yet to evaluate shown as
its source text (``${var.k3s_token}``), so that two user_data compare key by key.

>>> embedded_config(split_template('#!/bin/sh\\n{"k3s":{"token":${jsonencode(var.t)}}}\\n')).config
{'k3s': {'token': '${var.t}'}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from nixk8s.document_diff.templates import Interpolation, Part, split_template, string_end
from nixk8s.limits import scan_problem


class EmbeddedConfig(msgspec.Struct, frozen=True):
    """A user_data's cluster-config, its k3s drop-in, and the script (or cloud-config)
    around them.

    ``config`` is None when the text holds no cluster-config JSON, ``dropin`` when it
    holds no drop-in; ``frame`` is the text with the config's line replaced by
    ``<cluster-config>`` and the drop-in's by ``<k3s-drop-in>``.
    """

    config: dict[str, Any] | None
    frame: str
    dropin: dict[str, Any] | None = None


CONFIG_MARKER = "<cluster-config>"
DROPIN_MARKER = "<k3s-drop-in>"

_CALL = re.compile(r"^([a-z0-9_]+)\((.*)\)$", re.S)
_LOCAL = re.compile(r"^local\.([A-Za-z_][\w-]*)$")
_HCL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
# how many locals a user_data may pass through to its text (nixk8s writes one)
_USER_DATA_HOPS = 8


def _hcl_string(source: str) -> str | None:
    """The template text of an HCL quoted string literal (``"..."``), or None if it is not one."""
    if len(source) < 2 or source[0] != '"' or string_end(source, 0) != len(source):
        return None
    out: list[str] = []
    i = 1
    while i < len(source) - 1:
        c = source[i]
        if c == "\\":
            nxt = source[i + 1]
            if nxt == "u":
                digits = source[i + 2 : i + 6]
                if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    return None  # not a string nixk8s wrote: read the template as it stands
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            out.append(_HCL_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def machine_view(text: str, locals_: Mapping[str, Any]) -> tuple[Part, ...]:
    """A user_data value as the machine receives it, as template parts.

    ``${base64encode(X)}`` is the value of X (the cloud decodes it); ``${local.X}`` is
    that local's template. Anything else is the template itself, whose interpolations
    Terraform evaluates at apply time.
    """
    parts = split_template(text)
    for _ in range(_USER_DATA_HOPS + 1):
        if len(parts) != 1 or not isinstance(parts[0], Interpolation):
            return parts
        source = parts[0].source
        call = _CALL.match(source)
        inner = call.group(2).strip() if call and call.group(1) == "base64encode" else source
        local = _LOCAL.match(inner)
        if local and isinstance(locals_.get(local.group(1)), str):
            parts = split_template(locals_[local.group(1)])
            continue
        literal = _hcl_string(inner) if call else None
        return split_template(literal) if literal is not None else parts
    return parts


def placeholder(interpolation: Interpolation) -> str:
    """How an interpolation Terraform has yet to evaluate is shown: ``${var.k3s_token}``.

    ``jsonencode(X)`` shows as X: nixk8s wraps every value it interpolates into JSON so.

    >>> placeholder(Interpolation('jsonencode("https://${aws_lb.a.dns_name}:6443")'))
    'https://${aws_lb.a.dns_name}:6443'
    """
    call = _CALL.match(interpolation.source)
    if not (call and call.group(1) == "jsonencode"):
        return "${" + interpolation.source + "}"
    inner = call.group(2).strip()
    literal = _hcl_string(inner)
    # a quoted template (``"https://${aws_lb.x.dns_name}:6443"``) shows as its text
    return literal if literal is not None else "${" + inner + "}"


def _json_line(parts: tuple[Part, ...]) -> str:
    """Parts as JSON text: an interpolation where a value goes becomes a JSON string of
    its placeholder; inside a JSON string, the placeholder's escaped text."""
    out: list[str] = []
    in_string = escaped = False
    for part in parts:
        if isinstance(part, Interpolation):
            shown = placeholder(part)
            out.append(json.dumps(shown)[1:-1] if in_string else json.dumps(shown))
            continue
        for c in part:
            if in_string:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
        out.append(part)
    return "".join(out)


def _lines(parts: tuple[Part, ...]) -> list[tuple[Part, ...]]:
    """Template parts split at the newlines of their literal text."""
    lines: list[list[Part]] = [[]]
    for part in parts:
        if isinstance(part, Interpolation):
            lines[-1].append(part)
            continue
        pieces = part.split("\n")
        for n, piece in enumerate(pieces):
            if n:
                lines.append([])
            if piece:
                lines[-1].append(piece)
    return [tuple(line) for line in lines]


def _shown(parts: tuple[Part, ...]) -> str:
    return "".join(placeholder(p) if isinstance(p, Interpolation) else p for p in parts)


def _json_objects(lines: list[tuple[Part, ...]]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Each line that is a JSON object nested at most ``MAX_DEPTH`` deep, as every value
    of a document is: its number, indent and value."""
    for n, line in enumerate(lines):
        head = line[0] if line else ""
        if not isinstance(head, str) or not head.lstrip().startswith("{"):
            continue
        stripped = (head.lstrip(), *line[1:])
        text = _json_line(stripped)
        if scan_problem(text, "json") is not None:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield n, head[: len(head) - len(head.lstrip())], value


def embedded_config(parts: tuple[Part, ...]) -> EmbeddedConfig:
    """The cluster-config JSON that a user_data writes, its k3s drop-in, and the text around them.

    nixk8s writes each as one line that is a JSON object, in a shell heredoc or a
    cloud-config literal block, indented or not. The config is the first such line that
    names its cluster (``cluster_name``, the key kindling requires), else the first such
    line; the drop-in is the first other one.

    >>> embedded_config(split_template('{"node-label":["a=b"]}\\n{"cluster_name":"c"}\\n')).dropin
    {'node-label': ['a=b']}
    """
    lines = _lines(parts)
    found = list(_json_objects(lines))
    if not found:
        return EmbeddedConfig(None, _shown(parts))
    config = next((entry for entry in found if "cluster_name" in entry[2]), found[0])
    dropin = next((entry for entry in found if entry[0] != config[0]), None)
    frame = [_shown(other) for other in lines]
    frame[config[0]] = config[1] + CONFIG_MARKER
    if dropin is not None:
        frame[dropin[0]] = dropin[1] + DROPIN_MARKER
    return EmbeddedConfig(config[2], "\n".join(frame), None if dropin is None else dropin[2])


def user_data_format(frame: str) -> str:
    """What kind of user_data a text is: ``shell``, ``cloud-config`` or ``other``."""
    if frame.startswith("#cloud-config"):
        return "cloud-config"
    if frame.startswith("#!"):
        return "shell"
    return "other"
