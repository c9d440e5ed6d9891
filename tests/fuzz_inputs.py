"""Hostile inputs for the fuzz target (tests/test_fuzz.py) and benchmarks/fuzz.py.

Every generator is a function of a ``random.Random``, so that hypothesis drives it
in the test suite (``st.randoms()``, reproducible and shrinkable by seed) and the
benchmark draws a hundred thousand of them from a seed without hypothesis.

- :func:`mutated_document`: an example spec from specs/, mutated as data (values
  deleted, replaced, duplicated, retyped, nested deep, shared so that YAML writes
  anchors and aliases, hostile strings as keys and values) and written as YAML or
  JSON, or mutated as text (hostile snippets inserted, slices deleted or repeated),
  which reaches TOML and broken syntax too;
- :func:`junk_document`: a random tree with keys and values of every kind;
- :func:`hostile_spec`: a ClusterSpec built in code with hostile values put into its
  fields without validation, for ``compile_spec`` on its own;
- :func:`forged_placeholder`: an example spec whose every node receives text that an
  escaping layer would complete into one of nixk8s' placeholders (a stamped pool's
  slots, a node JSON's expression tokens, the document's markers), with
  :func:`forgery_outcome`, the oracle that reads every node's config back;
- :data:`NASTY`: fixed inputs, each past one bound (bombs, deep nesting, huge sizes);
- :func:`diff_input`: two Terraform JSON documents for ``nixk8s diff``, compiled examples
  mutated or documents made by hand, with hostile templates (quotes nested in
  interpolations, unterminated ones), chains and cliques of locals, long reference
  chains, thousands of blocks and user_data configs nested deep; :func:`run_diff` is the
  target, the command's path in-process, and :data:`NASTY_DOCUMENTS` the fixed ones;
- issue 21's streams, control characters and signals, each a generator and a check that
  returns what an input broke: :func:`stream_input` (a source read through a pipe, as
  stdin and FIFOs are: chunks of any size, at and past the bound, endless),
  :func:`control_document` (control characters, bidi controls and forged lines in a
  spec's strings and keys; nothing of them may reach human output raw) and
  :func:`signal_trial` (a compile in a process sent SIGINT, SIGTERM or SIGKILL at a
  random moment; main.tf.json stays whole).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import yaml
from returns.result import Failure, Success

from nixk8s.compiler import compile_source, compile_spec
from nixk8s.diff_report import render_json, render_text
from nixk8s.document_diff import compare, read_document
from nixk8s.explain_text import render_text as explain_text
from nixk8s.explanation import explanation
from nixk8s.limits import MAX_SPEC_BYTES
from nixk8s.load import format_of, load
from nixk8s.mermaid import render_mermaid
from nixk8s.problems import Problem, format_problems
from nixk8s.source_io import read_bounded
from nixk8s.spec import ClusterSpec
from nixk8s.warnings import format_warnings

from support import default_signals

SPECS = Path(__file__).resolve().parent.parent / "specs"
Document = tuple[bytes, str]  # the bytes and the format they are read as
FORMATS = ("yaml", "toml", "json")

HOSTILE_STRINGS = [
    "", " ", "\x00", "\x7f", "\t", "\r\n", "\n\n", "\\", '"', "'", "`", "$", "${x}", "%{ if 1 }", "$${x}",
    "PANGEA_CONFIG_EOF", "\u0085", "\u2028", "\u2029", "\ufeff", "é", "\U0001d54f", "\ud800", "\udc00",
    "null", "~", "yes", "no", "on", "0x1f", "0o17", "1e999", "-.inf", ".nan", "2024-01-01", "12:30:00",
    "&a", "*a", "<<", "!!int", "!!binary x", "? ", ": ", "- ", "# c", "{", "}", "[", "]", ",", "=", "[[x]]",
    "a.b.c", "../../etc/passwd", "x" * 300, "0x" + "f" * 5000, "9" * 5000, "k3s_server_token", "system", "cp",
    "0.0.0.0/0", "10.0.0.0/8", "::/0", "256.0.0.1/33", "var", "count", "aws:x", "Hello World",
]
HOSTILE_NUMBERS: list[Any] = [0, -1, 1, 3, 15, 16, 101, 10_000, 10_001, 2**31, 2**63, 2**64, 16**300, -(2**70),
                              1.5, -0.0, 1e308, float("inf"), float("nan")]
SCALARS: list[Any] = [None, True, False, *HOSTILE_NUMBERS, *HOSTILE_STRINGS]
FIELD_NAMES = [
    "name", "backend", "region", "node_pools", "instance_types", "min_size", "max_size", "desired_size",
    "labels", "taints", "ssh_keys", "network", "vpc_cidr", "subnet_cidr", "pod_cidr", "access", "nixos",
    "k3s", "kubernetes", "manifests", "kernel", "sysctl", "pki", "bootstrap_secrets", "var", "tags", "vpn",
    "links", "peers", "fluxcd", "argocd", "hcloud", "aws", "image", "ami_id", "persistent_state",
]
SNIPPETS = [
    "&a ", "*a", "*b", "<<: *a\n", "&a [*a]", "!!int ", "!!bool ", "!!map ", "!!set ", "!!timestamp ",
    "!!python/object:os.system ", "[" * 70, "{a: " * 70, "]" * 10, "\t", "\x00", "\\ud800", "\"\\ud800\"",
    "0x" + "f" * 4000, "9" * 4500, '"""', "'''", "# [[[[\n", "=", " = ", "[[node_pools]]\n", "[x]\n",
    ".".join(["a"] * 80) + " = 1\n", "{", "}", "\n---\n", "...\n", "? [a]\n: b\n", "%YAML 1.1\n", "\ufeff",
    "\r", "\u2028", "k: v\n", "null: 1\n", "1: x\n", "min_size: 1000000\n", "desired_size: 10001\n",
]


@cache
def example_documents() -> tuple[tuple[bytes, str], ...]:
    """(bytes, format) of every example spec."""
    return tuple((p.read_bytes(), format_of(p.name)) for p in sorted(SPECS.glob("*.*")))


@cache
def _example_trees() -> tuple[Any, ...]:
    return tuple(tomllib.loads(data.decode()) if fmt == "toml" else yaml.safe_load(data) for data, fmt in example_documents())


def example_tree(rng: random.Random) -> Any:
    """One example spec as plain data, a copy of its own to mutate."""
    return copy.deepcopy(rng.choice(_example_trees()))


# --- trees ------------------------------------------------------------------------------------


def _places(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a tree: where a value can be deleted, replaced or added.

    Each container is visited once: "share" mutations make trees with shared parts
    and even cycles (which YAML writes as an alias inside its own anchor).
    """
    found: list[tuple[Any, Any]] = []
    stack = [tree]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        for key, value in items:
            found.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return found


def hostile_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(SCALARS)
    if roll < 0.8:
        return [rng.choice(SCALARS) for _ in range(rng.randint(0, 4))]
    return {hostile_key(rng): rng.choice(SCALARS) for _ in range(rng.randint(0, 4))}


def hostile_key(rng: random.Random) -> Any:
    return rng.choice([*FIELD_NAMES, *HOSTILE_STRINGS[:40], 0, 1, None, True, 1.5])


def nest(value: Any, depth: int, rng: random.Random) -> Any:
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {rng.choice(FIELD_NAMES): value}
    return value


def _mutate(tree: Any, rng: random.Random) -> Any:
    places = _places(tree)
    if not places:
        return hostile_value(rng)
    node, key = rng.choice(places)
    kind = rng.choice(["delete", "replace", "replace", "duplicate", "share", "retype", "nest", "key", "grow"])
    if kind == "delete":
        del node[key]
    elif kind == "replace":
        node[key] = hostile_value(rng)
    elif kind == "duplicate":
        other, other_key = rng.choice(places)
        node[key] = copy.deepcopy(other[other_key])
    elif kind == "share":  # the same object twice: yaml.dump writes an anchor and an alias
        other, other_key = rng.choice(places)
        if other is not node or other_key != key:
            node[key] = other[other_key]
    elif kind == "retype":
        value = node[key]
        node[key] = rng.choice([[value], {"x": value}, str(value)[:50], len(str(value)), None])
    elif kind == "nest":
        node[key] = nest(node[key], rng.choice([2, 10, 30, 63, 64, 65, 100, 300]), rng)
    elif kind == "key" and isinstance(node, dict):
        node[hostile_key(rng)] = hostile_value(rng)
    elif kind == "grow" and isinstance(node[key], int) and not isinstance(node[key], bool):
        node[key] = rng.choice(HOSTILE_NUMBERS)
    elif kind == "grow" and isinstance(node[key], list) and len(node[key]) <= 20:
        node[key] = node[key] * rng.choice([2, 50])
    return tree


def write(tree: Any, rng: random.Random) -> Document:
    """A tree as YAML (anchors where objects are shared) or JSON; YAML when JSON cannot hold it."""
    if rng.random() < 0.5:
        try:
            return json.dumps(tree, allow_nan=True).encode(), "json"
        except (TypeError, ValueError, RecursionError):
            pass
    try:
        text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=rng.random() < 0.5, default_flow_style=rng.choice([None, True, False]))
        return text.encode("utf-8", "surrogatepass"), "yaml"
    except (yaml.YAMLError, RecursionError, ValueError):
        return repr(tree)[:2000].encode("utf-8", "surrogatepass"), "yaml"


# --- documents ----------------------------------------------------------------------------------


def _mutate_text(data: bytes, rng: random.Random) -> bytes:
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(data))
        kind = rng.choice(["insert", "insert", "delete", "repeat", "flip"])
        if kind == "insert":
            data = data[:at] + rng.choice(SNIPPETS).encode("utf-8", "surrogatepass") + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + rng.randint(1, 40):]
        elif kind == "repeat":
            piece = data[at : at + rng.randint(1, 60)]
            data = data[:at] + piece * rng.randint(2, 20) + data[at:]
        else:
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    return data


def mutated_document(rng: random.Random) -> Document:
    """An example spec, mutated as data (then written) or as text."""
    if rng.random() < 0.4:
        data, fmt = rng.choice(example_documents())
        return _mutate_text(data, rng), fmt if rng.random() < 0.9 else rng.choice(FORMATS)
    tree = example_tree(rng)
    for _ in range(rng.randint(1, 4)):
        tree = _mutate(tree, rng)
    return write(tree, rng)


def junk_tree(rng: random.Random, depth: int = 0) -> Any:
    if depth > 5 or rng.random() < 0.3:
        return rng.choice(SCALARS)
    if rng.random() < 0.5:
        return [junk_tree(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {hostile_key(rng): junk_tree(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def junk_document(rng: random.Random) -> Document:
    tree = junk_tree(rng)
    if isinstance(tree, dict) and rng.random() < 0.5:  # a spec's skeleton, junk inside
        tree = {**{"name": "demo", "backend": rng.choice(["hcloud", "aws"]), "region": "nbg1"}, **tree}
    return write(tree, rng)


def random_bytes(rng: random.Random) -> Document:
    return rng.randbytes(rng.randint(0, 400)), rng.choice(FORMATS)


# --- ClusterSpecs built in code --------------------------------------------------------------------


@cache
def _example_specs() -> tuple[ClusterSpec, ...]:
    return tuple(load(data, fmt).unwrap() for data, fmt in example_documents())  # type: ignore[arg-type]


def hostile_spec(rng: random.Random) -> ClusterSpec:
    """An example ClusterSpec with hostile data put into a few fields, unvalidated."""
    spec = rng.choice(_example_specs())
    for _ in range(rng.randint(1, 3)):
        spec = _replace_somewhere(spec, rng)
    return spec


def _replace_somewhere(struct: msgspec.Struct, rng: random.Random) -> Any:
    field = rng.choice(struct.__struct_fields__)
    value = getattr(struct, field)
    if isinstance(value, msgspec.Struct) and rng.random() < 0.7:
        new = _replace_somewhere(value, rng)
    elif isinstance(value, tuple) and value and isinstance(value[0], msgspec.Struct) and rng.random() < 0.7:
        i = rng.randrange(len(value))
        new = (*value[:i], _replace_somewhere(value[i], rng), *value[i + 1 :])
    else:
        new = rng.choice([hostile_value(rng), junk_tree(rng), nest(hostile_value(rng), rng.choice([5, 70, 500]), rng)])
    return msgspec.structs.replace(struct, **{field: new})


# --- placeholder forgery ----------------------------------------------------------------------

# the words nixk8s marks places with: a stamped pool's slots, the probe's, a node JSON's
# expression tokens, the document's markers, the cloud-config frame's, the heredoc's
FORGING_WORDS = (
    "nixk8sslot{salt}q{letter}",
    "nixk8sprobeq{letter}",
    '"nixk8sexpr{salt}q{i}q"',
    '"nixk8swritten{salt}q{i}"',
    "NIXK8SCONFIGLINE",
    "PANGEA_CONFIG_EOF",
)
# what escaping writes before or after them: JSON writes a newline as "\n", whose "n"
# completes "ixk8sslot0qi" into a slot
FORGING_EDGES = ("", "\n", "\\", "\\n", '"', "\t", "\r", "\u2028", "$", "%", "${", "{", "}")
FORGERY_KEY = "nixk8s-forgery"


class Forgery(NamedTuple):
    """A spec whose every node receives ``text`` as its containerd template and in its
    kubelet config (under :data:`FORGERY_KEY` and as a key)."""

    document: Document
    text: str


def forging_text(rng: random.Random) -> str:
    """One to three placeholder words, whole or missing the letter an escape supplies,
    between what escaping writes."""
    pieces = []
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.5:  # the reported shape, most often
            pieces.append(f"\nixk8sslot{rng.randrange(2)}q{rng.choice('oicg')}")
            continue
        word = rng.choice(FORGING_WORDS).format(salt=rng.randrange(3), letter=rng.choice("oicgn"), i=rng.randrange(4))
        if rng.random() < 0.5:
            word = word.lstrip('"')[1:]
        pieces += [rng.choice(FORGING_EDGES), word, rng.choice(FORGING_EDGES)]
    return "".join(pieces)


def forged_placeholder(rng: random.Random) -> Forgery:
    """An example spec (any cloud) with forging text in node-level fields every node
    receives, written as YAML or JSON."""
    # half of them on Hetzner, whose pools are stamped
    hetzner = [t for t in _example_trees() if t.get("backend") == "hcloud"]
    tree = copy.deepcopy(rng.choice(hetzner)) if hetzner and rng.random() < 0.5 else example_tree(rng)
    text = forging_text(rng)
    distribution = tree.get("distribution", "k3s")
    options = tree.setdefault("nixos", {}).setdefault(distribution, {})
    options["containerd_config_template"] = text
    options["extra_kubelet_config"] = {**options.get("extra_kubelet_config", {}), FORGERY_KEY: text, text: 1}
    return Forgery(write(tree, rng), text)


def forgery_outcome(item: Forgery) -> str:
    """``compiled`` or ``problems``; raises AssertionError where a node's config, read
    from main.tf.json as the machine reads it, is not JSON or lost the text."""
    from support import embedded_json_text, node_user_data  # the tests' own reader

    loaded = load(*item.document)  # type: ignore[arg-type]
    compiled = loaded.bind(compile_spec) if not isinstance(loaded, Failure) else loaded
    if isinstance(compiled, Failure):
        return "problems"
    document = msgspec.json.decode(compiled.unwrap().to_json())
    indices: set[tuple[str, int]] = set()
    for user_data in node_user_data(document):
        try:
            config = json.loads(embedded_json_text(user_data))
        except ValueError as err:
            raise AssertionError(f"a forged placeholder: a node's config is not JSON ({err})") from None
        options = config.get(config["distribution"]) or {}
        kubelet = options.get("extra_kubelet_config", {})
        if options.get("containerd_config_template") != item.text or kubelet.get(FORGERY_KEY) != item.text or item.text not in kubelet:
            raise AssertionError(f"a forged placeholder: a node received {options!r} for {item.text!r}")
        if "node_index" in config:
            key = (config["role"], config["node_index"])
            if type(key[1]) is not int or key in indices:
                raise AssertionError(f"a forged placeholder: node index {key!r}")
            indices.add(key)
    return "compiled"


# --- fixed inputs, each past one bound ---------------------------------------------------------------------

_SMALL = "name: demo\nbackend: hcloud\nregion: nbg1\nnode_pools: [{name: system, instance_types: [cx32]}]\nhcloud: {image: x}\n"


def _bomb(levels: int, merge: bool = False) -> str:
    if merge:
        lines = ["m0: &m0 {k: v}"] + [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}], k{i}: v}}" for i in range(1, levels + 1)]
    else:
        lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def _hcloud(workers: int, network: bool = False) -> bytes:
    """Hetzner, one machine per node: 10 servers (a spread group's limit) and ``workers``."""
    spec = {
        "name": "big", "backend": "hcloud", "region": "nbg1",
        "node_pools": [{"name": "system", "instance_types": ["cx32"], "min_size": 10, "max_size": 10},
                       {"name": "workers", "instance_types": ["cx42"], "min_size": workers, "max_size": workers}],
        "bootstrap_secrets": {"k3s_server_token": {"var": "t"}}, "hcloud": {"image": "1"},
    }
    if network:
        spec["network"] = {"vpc_cidr": "10.0.0.0/16"}
    return json.dumps(spec).encode()


NASTY: dict[str, Callable[[], Document]] = {
    "yaml 5,000 brackets": lambda: (b"[" * 5000, "yaml"),
    "yaml 100,000 brackets": lambda: (b"[" * 100_000, "yaml"),
    "json 100,000 brackets": lambda: (b"[" * 100_000, "json"),
    "json 500,000 brackets": lambda: (b"[" * 500_000, "json"),
    "toml 5,000 brackets": lambda: (b"a = " + b"[" * 5000, "toml"),
    "toml 5,000 inline tables": lambda: (b"a = " + b"{b = " * 5000, "toml"),
    "toml 50,000-dot key": lambda: (".".join(["a"] * 50_000).encode() + b" = 1", "toml"),
    "toml 8,000 keys of 60 dots": lambda: ("".join(".".join(["a"] * 60) + f"{i} = 1\n" for i in range(8000)).encode(), "toml"),
    "toml 400,000-value array": lambda: (b"a = [" + b",".join([b"1"] * 400_000) + b"]", "toml"),
    "toml unterminated string of escapes": lambda: (b'a = "' + b'\\"' * 400_000, "toml"),
    "json unterminated string of escapes": lambda: (b'"' + b'\\"' * 400_000, "json"),
    "json 500,000 values": lambda: (b"[" + b",".join([b"1"] * 500_000) + b"]", "json"),
    "yaml 500,000 values": lambda: (b"a: [" + b",".join([b"1"] * 500_000) + b"]", "yaml"),
    "yaml 90,000 tags": lambda: (_SMALL.encode() + b"tags: {" + b",".join(b"k%d: v" % i for i in range(90_000)) + b"}", "yaml"),
    "json 99,000 wrong node pools": lambda: (b'{"node_pools": [' + b",".join([b"1"] * 99_000) + b"]}", "json"),
    "yaml alias bomb, 7 levels": lambda: (_bomb(7).encode(), "yaml"),
    "yaml alias bomb, 9 levels": lambda: (_bomb(9).encode(), "yaml"),
    "yaml alias bomb in manifests": lambda: ((_SMALL + "nixos: {k3s: {manifests: {m: &r [1]}}}\n" + _bomb(9)).encode(), "yaml"),
    "yaml merge-key bomb": lambda: (_bomb(9, merge=True).encode(), "yaml"),
    "yaml recursive alias": lambda: (b"a: &a [*a]\n", "yaml"),
    "yaml long string aliased": lambda: (b"a: &a " + b"x" * 500_000 + b"\nb: [*a, *a, *a]\n", "yaml"),
    "yaml 1 MiB comment": lambda: (_SMALL.encode() + b"#" * (1 << 20), "yaml"),
    "yaml just under 1 MiB of manifest": lambda: ((_SMALL + "nixos: {k3s: {manifests: {m: '" + "x" * 1_040_000 + "'}}}\n").encode(), "yaml"),
    "yaml 500 levels in manifests": lambda: ((_SMALL + "nixos: {k3s: {manifests: {m: " + "{a: " * 500 + "1" + "}" * 500 + "}}}\n").encode(), "yaml"),
    "yaml 60 levels in manifests": lambda: ((_SMALL + "nixos: {k3s: {manifests: {m: " + "{a: " * 55 + "1" + "}" * 55 + "}}}\n").encode(), "yaml"),
    "yaml 4,000-digit hex name": lambda: (_SMALL.replace("name: demo", "name: 0x" + "f" * 4000).encode(), "yaml"),
    "yaml 5,000-digit decimal": lambda: (_SMALL.replace("name: demo", "name: " + "9" * 5000).encode(), "yaml"),
    "yaml explicit tags": lambda: (b"a: !!bool x\nb: !!int ''\nc: !!timestamp x\nd: !!map [1]\n", "yaml"),
    "yaml TOML spec read as YAML": lambda: ((SPECS / "hcloud-kubernetes.toml").read_bytes(), "yaml"),
    "aws control plane of 1,000,000": lambda: (_SMALL.replace("backend: hcloud", "backend: aws").replace("hcloud: {image: x}", "aws: {ami_id: ami-0123456789abcdef0}").replace("instance_types: [cx32]", "instance_types: [m6i.large], min_size: 1000000, max_size: 1000000").encode(), "yaml"),
    "hcloud 100,000 workers": lambda: (_hcloud(100_000), "json"),
    "hcloud 10 servers + 10,000 workers (the largest valid)": lambda: (_hcloud(10_000), "json"),
    "hcloud 10,000 workers with a network": lambda: (_hcloud(10_000, network=True), "json"),
    "random 1 MiB": lambda: (random.Random(1).randbytes(1 << 20), "yaml"),
}


# --- Terraform documents for diff -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DiffInput:
    """Two ``.tf.json`` files for ``nixk8s diff``, as their bytes."""

    old: bytes
    new: bytes


TEMPLATE_SNIPPETS = [
    "${", "}", '"', '\\"', "$${", "%{", "%%{", "${local.a}", "${local.b}", "${var.s}", "${var.t}",
    "${aws_vpc.a.id}", "${random_id.a.hex}", "${hcloud_network_subnet.r0.id}", "${data.aws_vpc.a.id}",
    "${base64encode(local.a)}", '${jsonencode("', '")}', '{"a":', "[", "]", "\n", "#cloud-config\n", "#!/bin/sh\n",
    "PANGEA_CONFIG_EOF", "\\u00", "local.", "var.", "${self.x}", "${x", "%{ if true }", "%{ endif }",
]
RESOURCE_TYPES = [
    "random_id", "hcloud_server", "hcloud_network_subnet", "hcloud_server_network", "aws_lb", "aws_launch_template",
    "aws_autoscaling_group", "google_compute_instance", "azurerm_linux_virtual_machine_scale_set",
]
ARGUMENTS = ["name", "user_data", "custom_data", "network_id", "subnets", "ip", "image", "labels", "rule", "metadata"]


def _decodable(value: Any) -> bool:
    """Whether a scalar survives JSON both ways (a document that does not is refused before diff reads it)."""
    try:
        return msgspec.json.decode(json.dumps(value, allow_nan=False).encode("utf-8", "surrogatepass")) == value
    except (ValueError, msgspec.DecodeError):
        return False


JSON_SCALARS = [s for s in SCALARS if _decodable(s)]


def nested_quotes(depth: int, closed: bool = True) -> str:
    """``${"${"…x…}"}``: a quoted template inside an interpolation, ``depth`` times."""
    return "${" + '"${' * depth + "x" + ('}"' * depth + "}" if closed else "")


def _json_line(depth: int, rng: random.Random) -> str:
    """A one-line JSON object nested ``depth`` deep, with interpolations where values go."""
    value = rng.choice(['"${var.s}"', "${jsonencode(var.t)}", '"x"', "1"])
    for _ in range(depth):
        value = '{"k":' + value + "}" if rng.random() < 0.7 else "[" + value + "]"
    return '{"bootstrap_secrets":{"t":"${var.s}"},"a":' + value + "}"


def hostile_template(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:  # within the bound (31 deep): past_bounds puts the ones past it
        return nested_quotes(rng.choice([1, 2, 7, 15]), closed=rng.random() < 0.8)
    if roll < 0.5:
        return "".join(rng.choice(TEMPLATE_SNIPPETS) for _ in range(rng.randint(1, 12)))
    if roll < 0.7:
        frame = rng.choice(["#!/bin/sh\ncat <<'PANGEA_CONFIG_EOF'\n{}\nPANGEA_CONFIG_EOF\n", "#cloud-config\n  content: |\n    {}\n"])
        return frame.replace("{}", _json_line(rng.choice([0, 3, 63, 64, 65, 400]), rng))
    return str(rng.choice(JSON_SCALARS))


def hostile_locals(rng: random.Random) -> dict[str, Any]:
    """Locals that read one another: a chain, a clique, a random graph, or objects that read locals."""
    kind = rng.choice(["chain", "clique", "graph", "objects"])
    if kind == "chain":
        n = rng.choice([2, 10, 30, 31])
        chain: dict[str, Any] = {f"c{i}": f"${{local.c{i + 1}}}-${{var.s}}" for i in range(n)}
        return {**chain, f"c{n}": "end", "a": "${local.c0}", "b": "x"}
    if kind == "clique":
        names = [f"q{i}" for i in range(rng.choice([2, 7, 12, 40]))]
        every = "".join(f"${{local.{n}}}" for n in names)
        return {**{n: every + rng.choice(["", "${var.s}", "${aws_vpc.a.id}"]) for n in names}, "a": "${local.q0}", "b": every}
    names = ["a", "b", *(f"g{i}" for i in range(rng.randint(0, 60)))]
    if kind == "graph":
        return {
            n: "".join(rng.choice([f"${{local.{rng.choice(names)}}}", "${var.s}", "${random_id.a.hex}", "x"]) for _ in range(rng.randint(0, 6)))
            for n in names
        }
    return {n: {"k": f"${{local.{rng.choice(names)}}}", "v": [hostile_template(rng)]} for n in names}


def _body(rng: random.Random, addresses: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(rng.randint(0, 5)):
        roll = rng.random()
        if roll < 0.4:
            value: Any = hostile_template(rng)
        elif roll < 0.6 and addresses:
            value = f"${{{rng.choice(addresses)}.id}}"
        elif roll < 0.75:
            count = rng.choice([0, 1, 3, 100]) if rng.random() < 0.9 else 2000
            value = [{"port": str(i), "x": hostile_template(rng)} for i in range(count)]
        elif roll < 0.85:
            value = nest(hostile_template(rng), rng.choice([1, 10, 40]), rng)
        else:
            value = {"user-data": hostile_template(rng), "x": rng.choice(JSON_SCALARS)}
        body[rng.choice(ARGUMENTS)] = value
    if rng.random() < 0.2:
        body["lifecycle"] = {"ignore_changes": rng.choice([["user_data"], "all", ["${metadata[\"user-data\"]}"], [1], "x"])}
    return body


def reference_chain(n: int, head_range: str) -> dict[str, Any]:
    """``n`` + 1 subnets, each reading the next by id, the head last in address order."""
    subnets = {f"r{i:05}": {"network_id": f"${{hcloud_network_subnet.r{i + 1:05}.id}}"} for i in range(n)}
    return {**subnets, f"r{n:05}": {"network_id": "1", "ip_range": head_range}}


@cache
def example_terraform_documents() -> tuple[bytes, ...]:
    """The compiled document of every example spec, as JSON."""
    return tuple(compile_source(data, fmt).unwrap().to_json() for data, fmt in example_documents())  # type: ignore[arg-type]


def _strings_in(tree: Any) -> list[tuple[Any, Any]]:
    return [(node, key) for node, key in _places(tree) if isinstance(node[key], str)]


def terraform_document(rng: random.Random) -> dict[str, Any]:
    """A compiled example with hostile parts put in, or a document made by hand."""
    if rng.random() < 0.4:
        doc: dict[str, Any] = json.loads(rng.choice(example_terraform_documents()))
        strings = _strings_in(doc)
        for _ in range(rng.randint(1, 4)):
            node, key = rng.choice(strings)
            node[key] = rng.choice([hostile_template(rng), node[key] + hostile_template(rng), "${local.a}"])
    else:
        types = rng.sample(RESOURCE_TYPES, rng.randint(1, 4))
        addresses = [f"{kind}.{name}" for kind in types for name in ("a", "b")]
        doc = {"resource": {kind: {name: _body(rng, addresses) for name in ("a", "b")} for kind in types}}
        if rng.random() < 0.2:
            doc["resource"]["hcloud_network_subnet"] = reference_chain(rng.choice([2, 50, 400]), rng.choice(["10.0.0.0/24", "10.0.1.0/24"]))
    if rng.random() < 0.6:
        doc["locals"] = {**doc.get("locals", {}), **hostile_locals(rng)}
    doc["variable"] = {**doc.get("variable", {}), "s": {"type": "string", "sensitive": True}}
    if rng.random() < 0.2:
        doc["provider"] = {"aws": {"region": rng.choice(["a", "b"])}}
    return doc


def past_bounds(doc: dict[str, Any], rng: random.Random) -> None:
    """Put one thing past a bound of the reader into a document: templates nested past
    32, a chain of locals past 32, JSON nested past 64 (each refused with its path)."""
    kind = rng.choice(["templates", "chain", "nesting"])
    if kind == "templates":
        node, key = rng.choice(_strings_in(doc) or [(doc.setdefault("locals", {}), "x")])
        node[key] = nested_quotes(rng.choice([16, 100, 600, 5000]), closed=rng.random() < 0.8)
    elif kind == "chain":
        n = rng.choice([32, 33, 1000, 1500])
        doc["locals"] = {**doc.get("locals", {}), **{f"p{i}": f"${{local.p{i + 1}}}" for i in range(n)}, f"p{n}": "x"}
    else:
        node, key = rng.choice(_places(doc))
        node[key] = nest(node[key], rng.choice([64, 65, 200]), rng)


def _changed(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 4)):
        strings = _strings_in(new)
        if not strings:
            break
        node, key = rng.choice(strings)
        node[key] = rng.choice([hostile_template(rng), node[key] + "x", "${local.b}"])
    return new


def diff_input(rng: random.Random) -> DiffInput:
    """Two documents: the same one, one and a changed copy, or two unrelated ones."""
    old = terraform_document(rng)
    roll = rng.random()
    new = old if roll < 0.2 else _changed(old, rng) if roll < 0.8 else terraform_document(rng)
    if rng.random() < 0.1:
        past_bounds(rng.choice([old, new]), rng)
    data = [json.dumps(d, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass") for d in (old, new)]
    if rng.random() < 0.1:
        data[1] = _mutate_text(data[1], rng)
    return DiffInput(data[0], data[1])


def run_diff(item: DiffInput) -> str:
    """``nixk8s diff`` of two documents, as the command runs it; the outcome's name.

    Raises what escapes, and AssertionError for a refusal that is not Problems.
    """
    read = []
    for data in (item.old, item.new):
        try:
            decoded = msgspec.json.decode(data)
        except (msgspec.DecodeError, RecursionError):  # the command says so, exit 1
            return "not json"
        result = read_document(decoded)
        if isinstance(result, Failure):
            problems = result.failure()
            if not problems or not all(isinstance(p, Problem) and isinstance(p.path, str) and p.message for p in problems):
                raise AssertionError(f"a refusal that is not Problems: {problems!r}")
            return "refused"
        read.append(result.unwrap())
    diff = compare(read[0], read[1])
    if not render_text(diff).endswith(".\n") or json.loads(render_json(diff))["exit_code"] != diff.exit_code:
        raise AssertionError("a report that does not end with its exit code")
    return f"exit {diff.exit_code}"


def _doc(**blocks: Any) -> bytes:
    return json.dumps({"resource": {"random_id": {"a": {"keepers": "${local.a}"}}}, **blocks}).encode()


def _same(data: bytes) -> DiffInput:
    return DiffInput(data, data)


NASTY_DOCUMENTS: dict[str, Callable[[], DiffInput]] = {
    "tf.json quotes nested 500 deep": lambda: _same(_doc(locals={"a": nested_quotes(500)})),
    "tf.json quotes nested 5,000 deep, unterminated": lambda: _same(_doc(locals={"a": nested_quotes(5000, closed=False)})),
    "tf.json chain of 1,000 locals": lambda: _same(_doc(locals={f"c{i}": f"${{local.c{i + 1}}}" for i in range(1000)} | {"a": "${local.c0}"})),
    "tf.json 7 locals reading one another (681 bytes)": lambda: DiffInput(
        _doc(locals={f"q{i}": "".join(f"${{local.q{j}}}" for j in range(7)) for i in range(7)} | {"a": "${local.q0}"}),
        _doc(locals={f"q{i}": "".join(f"${{local.q{j}}}" for j in range(7)) + str(i) for i in range(7)} | {"a": "${local.q0}"}),
    ),
    "tf.json 300 locals reading one another": lambda: _same(_doc(locals={f"q{i}": "".join(f"${{local.q{j}}}" for j in range(300)) for i in range(300)} | {"a": "${local.q0}"})),
    "tf.json 5,000-subnet reference chain, head changed": lambda: DiffInput(
        json.dumps({"resource": {"hcloud_network_subnet": reference_chain(5000, "10.0.0.0/24")}}).encode(),
        json.dumps({"resource": {"hcloud_network_subnet": reference_chain(5000, "10.0.1.0/24")}}).encode(),
    ),
    "tf.json 20,000 firewall rules, one added": lambda: DiffInput(
        json.dumps({"resource": {"hcloud_firewall": {"f": {"rule": [{"port": str(i)} for i in range(20_000)]}}}}).encode(),
        json.dumps({"resource": {"hcloud_firewall": {"f": {"rule": [{"port": "x"}] + [{"port": str(i)} for i in range(20_000)]}}}}).encode(),
    ),
    "tf.json user_data config nested 100,000 deep": lambda: _same(_doc(locals={"a": "#!/bin/sh\n" + "[" * 100_000 + "\n"})),
}


# --- issue 21: streams, control characters, signals ------------------------------------------------------
#
# Each family is a generator (a function of a Random, as above) and a check that runs
# one input and returns what it broke, as a list of sentences (empty: nothing): the
# test suite asserts it empty, benchmarks/fuzz.py counts each one as an escape.


class Stream(msgspec.Struct, frozen=True):
    """A source read as the command reads stdin or a FIFO: ``chunks`` written one by one,
    then (``endless``) the last chunk again and again until the reader stops."""

    chunks: tuple[bytes, ...]
    endless: bool
    fmt: str

    def prefix(self, size: int) -> bytes:
        """The first ``size`` bytes of the stream."""
        data = b"".join(self.chunks)
        while self.endless and len(data) < size and self.chunks and self.chunks[-1]:
            data += self.chunks[-1] * (1 + (size - len(data)) // len(self.chunks[-1]))
        return data[:size]


def _padding(fmt: str, size: int) -> bytes:
    """``size`` bytes that change nothing in a document of ``fmt``: spaces in JSON, a comment else."""
    if size <= 0:
        return b""
    return b" " * size if fmt == "json" else (b"\n#" + b"x" * size)[:size]


def _chunked(data: bytes, rng: random.Random) -> tuple[bytes, ...]:
    smallest = 1 if len(data) < 20_000 else 4096  # a megabyte written a byte at a time is only slow
    size = rng.choice([smallest, 7, 4096, 65_536, 1 << 20])
    size = max(size, smallest)
    return tuple(data[i : i + size] for i in range(0, len(data), size)) or (b"",)


def stream_input(rng: random.Random) -> Stream:
    """A spec, or something past the bound, delivered in chunks of any size; some never end."""
    data, fmt = rng.choice(example_documents())
    kind = rng.choice(["spec", "spec", "mutated", "empty", "at the bound", "past the bound", "endless"])
    if kind == "mutated":
        data = _mutate_text(data, rng)
    elif kind == "empty":
        data = b""
    elif kind == "at the bound":  # one byte short of it, the bound itself, one past it
        data = data + _padding(fmt, MAX_SPEC_BYTES - len(data) + rng.choice([-1, 0, 1]))
    elif kind == "past the bound":
        data = (data + _padding(fmt, 1000)) * (1 + rng.choice([2, 3]) * MAX_SPEC_BYTES // (len(data) + 1000))
    elif kind == "endless":
        # a byte at a time would only measure the writer: a trickle is as slow as its producer
        chunk = rng.choice([b"\0" * 65_536, b"y\n" * 32_768, data, rng.randbytes(1) * 512, rng.randbytes(4096)])
        return Stream((chunk,), True, fmt)
    return Stream(_chunked(data, rng), False, fmt)


def _write_all(fd: int, stream: Stream) -> None:
    try:
        for chunk in stream.chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        while stream.endless and stream.chunks[-1]:
            os.write(fd, stream.chunks[-1])
    except OSError:  # the reader stopped: EPIPE
        pass
    finally:
        os.close(fd)


def stream_violations(stream: Stream) -> tuple[str, list[str]]:
    """Read ``stream`` through a pipe as the command does, then load it: what went wrong.

    The reader must stop one byte past the bound at the latest, read exactly the
    stream's first bytes, and (past the bound) refuse them for their size alone.
    """
    r, w = os.pipe()
    writer = threading.Thread(target=_write_all, args=(w, stream), daemon=True)
    writer.start()
    with os.fdopen(r, "rb", buffering=0) as source:
        data = read_bounded(source, MAX_SPEC_BYTES)
    writer.join(timeout=30)
    broken = []
    if writer.is_alive():
        broken.append("the writer is still blocked after the reader finished")
    if len(data) > MAX_SPEC_BYTES + 1:
        broken.append(f"read {len(data):,} bytes, past the bound + 1")
    if data != stream.prefix(MAX_SPEC_BYTES + 1):
        broken.append("read other bytes than the stream's first ones")
    loaded = load(data, stream.fmt)  # type: ignore[arg-type]
    if len(data) > MAX_SPEC_BYTES:
        problems: tuple[Problem, ...] = loaded.failure() if isinstance(loaded, Failure) else ()
        if len(problems) != 1 or "larger than 1 MiB" not in problems[0].message:
            broken.append(f"past the bound, but not refused for its size alone: {str(problems)[:200]}")
        return "refused for its size", broken
    if isinstance(loaded, Success):
        return "loaded", broken
    return "problems", broken


CONTROL_CHARACTERS = [
    "\x00", "\x07", "\x08", "\t", "\n", "\r", "\x1b", "\x1b[2J", "\x1b]0;title\x07", "\x1b[31m", "\x7f", "\x85",
    "\x9b", "\u061c", "\u200b", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066",
    "\u2067", "\u2068", "\u2069", "\u2028", "\u2029", "\ufeff", "\r\nfake.yaml: valid", "\nspec.yaml: valid\n",
]


def _strings_of(tree: Any) -> list[tuple[Any, Any, bool]]:
    """(container, key, is_key) for every string value, and every string key of a mapping."""
    found = []
    for node, key in _places(tree):
        if isinstance(node[key], str):
            found.append((node, key, False))
        if isinstance(node, dict) and isinstance(key, str):
            found.append((node, key, True))
    return found


def control_document(rng: random.Random) -> Document:
    """An example spec with control characters, bidi controls and forged lines inside its strings and keys."""
    tree = example_tree(rng)
    for _ in range(rng.randint(1, 4)):
        places = _strings_of(tree)
        if not places:
            break
        node, key, is_key = rng.choice(places)
        text = key if is_key else node[key]
        at = rng.randint(0, len(text))
        changed = text[:at] + rng.choice(CONTROL_CHARACTERS) + text[at:]
        if is_key:
            node[changed] = node.pop(key)
        else:
            node[key] = changed
    return write(tree, rng)


def _line_violations(text: str, lines: int, prefix: str, what: str) -> list[str]:
    broken = []
    if text.count("\n") != lines:
        broken.append(f"{what}: {text.count(chr(10))} lines for {lines} findings (a forged line)")
    if not all(line.isprintable() for line in text.split("\n")):
        broken.append(f"{what}: a control character reached the terminal: {text[:200]!r}")
    if not all(line.startswith(prefix) for line in text.splitlines()):
        broken.append(f"{what}: a line that does not start with the spec's name")
    return broken


def human_output_violations(data: bytes, fmt: str) -> tuple[str, list[str]]:
    """Compile as the command does and render every human output: what reached the terminal raw."""
    source = "spec.yaml"
    result = compile_source(data, fmt)  # type: ignore[arg-type]
    if isinstance(result, Failure):
        problems = result.failure()
        return "problems", _line_violations(format_problems(problems, source), len(problems), f"{source}: ", "problems")
    compiled = result.unwrap()
    warned = compiled.warnings
    broken = _line_violations(format_warnings(warned, source), len(warned), f"{source}: ", "warnings")
    e = explanation(compiled)
    for name, render in (("explain", explain_text), ("mermaid", render_mermaid)):
        if not all(line.isprintable() for line in render(e).split("\n")):
            broken.append(f"{name}: a control character reached the terminal")
    return "compiled", broken


class SignalTrial(msgspec.Struct, frozen=True):
    """A compile of ``spec`` read from a FIFO, sent ``signum``: while it reads, or ``delay``
    seconds after its input is complete (while it compiles, writes or prints; or later)."""

    spec: str
    signum: int
    while_reading: bool
    delay: float


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)

_PREVIOUS = b'{"previous": true}\n'


def signal_trial(rng: random.Random) -> SignalTrial:
    spec = rng.choice(sorted(p.name for p in SPECS.glob("*.*")))
    return SignalTrial(spec, int(rng.choice(STOP_SIGNALS)), rng.random() < 0.3, rng.choice([0.0, 0.001, 0.01]) + rng.random() * 0.3)


@cache
def _compiled_bytes(spec: str) -> bytes:
    path = SPECS / spec
    return compile_source(path.read_bytes(), format_of(path.name)).unwrap().to_json()


def _open_fifo_for_writing(fifo: Path, child: subprocess.Popen[bytes], timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.set_blocking(fd, True)
            return fd
        except OSError as err:  # ENXIO: the command has not opened it yet
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the command never opened its input: {err}") from err
            time.sleep(0.005)


def signal_violations(trial: SignalTrial) -> tuple[str, list[str]]:
    """Run the trial in a fresh directory: what the command left that it must not.

    Whatever the moment: the output directory holds ``main.tf.json`` alone, whole (the
    previous file or the complete new one); SIGINT and SIGTERM end the command with
    128 + the signal and one line, or (once the command has returned) nothing at all;
    no traceback ever.
    """
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "out"
        out.mkdir()
        (out / "main.tf.json").write_bytes(_PREVIOUS)
        fifo = Path(work) / trial.spec
        os.mkfifo(fifo)
        child = subprocess.Popen(
            [sys.executable, "-m", "nixk8s", "compile", str(fifo), "-o", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_signals,
        )
        try:
            fd = _open_fifo_for_writing(fifo, child)
            spec = (SPECS / trial.spec).read_bytes()
            try:
                if trial.while_reading:
                    os.write(fd, spec[: len(spec) // 2])
                    child.send_signal(trial.signum)
                else:
                    os.write(fd, spec)
            finally:
                os.close(fd)
            if not trial.while_reading:
                time.sleep(trial.delay)
                child.send_signal(trial.signum)
            stdout, stderr = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        left = sorted(p.name for p in out.iterdir())
        written = (out / "main.tf.json").read_bytes() if left == ["main.tf.json"] else b""
    return _signal_outcome(trial, child.returncode, stdout.decode(), stderr.decode(), left, written)


def _signal_outcome(
    trial: SignalTrial, code: int, stdout: str, stderr: str, left: list[str], written: bytes
) -> tuple[str, list[str]]:
    broken = []
    name = signal.Signals(trial.signum).name
    if left != ["main.tf.json"]:
        broken.append(f"the output directory holds {left}")
    elif written not in (_PREVIOUS, _compiled_bytes(trial.spec)):
        broken.append(f"main.tf.json is neither the previous file nor the new one ({len(written):,} bytes)")
    if "Traceback" in stderr or "Exception ignored" in stderr:
        broken.append(f"a traceback: {stderr[-300:]!r}")
    if code == 0:
        outcome = "finished first"
        if written != _compiled_bytes(trial.spec):
            broken.append("exit 0 without the new main.tf.json")
    elif trial.signum != signal.SIGKILL and code == 128 + trial.signum:
        outcome = "stopped"
        if stderr.splitlines()[-1:] != [f"nixk8s: stopped by {name}"]:
            broken.append(f"stopped without its one line: {stderr[-200:]!r}")
    elif code == -trial.signum and trial.signum == signal.SIGKILL:
        outcome = "killed"
    else:
        outcome = "wrong exit"
        broken.append(f"exit {code} after {name} ({'while reading' if trial.while_reading else f'{trial.delay:.3f} s after'})")
    if trial.while_reading and code == 0:
        broken.append("finished although its input never ended")
    return outcome, broken
