"""The k3s drop-in: what the spec asks of a node, in the file k3s reads it from (DESIGN §8).

kindling 0.3.0 writes ``/etc/rancher/k3s/config.yaml`` with four keys only (``server``,
``token``, ``cluster-init``, ``tls-san``) and drops every other setting it is given.
k3s merges each ``*.yaml`` in ``/etc/rancher/k3s/config.yaml.d/`` after that file, in
lexical order, on servers and agents alike: a key in a later file replaces the earlier
value, and ``KEY+`` appends to a list. So the boot data writes one drop-in there
(:data:`DROPIN_PATH`) before kindling starts k3s, holding exactly the node's own
settings, as k3s spells them: a flag's name without its dashes, a repeatable flag as
a list (``node-label: ["k=v"]``).

It never sets a key kindling owns (:data:`KINDLING_OWNED`): a second ``token`` or
``server`` would silently replace kindling's. :func:`node_settings` reads the node's
``k3s`` block as it is written into its cluster-config (so servers and agents differ
exactly where DESIGN §3 says), and :func:`parsed_flags` reads ``nixos.k3s.extra_flags``
(whose problems :mod:`nixk8s.rules` reports). The file is written as JSON, a subset
of YAML, by the node config's own encoder.

>>> node_settings({"node_labels": {"tier": "web"}, "extra_kubelet_config": {"max-pods": 50}, "tls_san": ["x"]})
{'kubelet-arg': ['max-pods=50'], 'node-label': ['tier=web']}
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

DROPIN_DIRECTORY = "/etc/rancher/k3s/config.yaml.d"
# after kindling's config.yaml, and early among drop-ins so that an image's own
# later files may still override a setting
DROPIN_PATH = f"{DROPIN_DIRECTORY}/50-nixk8s.yaml"

#: the keys kindling writes into config.yaml itself; a drop-in that set one would replace kindling's
KINDLING_OWNED = frozenset({"token", "server", "cluster-init", "tls-san"})

#: ``nixos.k3s`` fields k3s reads from its config file, and the key each becomes
FILE_KEYS: Mapping[str, str] = {
    "cluster_cidr": "cluster-cidr",
    "service_cidr": "service-cidr",
    "cluster_dns": "cluster-dns",
    "node_name": "node-name",
    "node_ip": "node-ip",
    "node_labels": "node-label",
    "node_taints": "node-taint",
    "data_dir": "data-dir",
    "disable": "disable",
    "disable_agent": "disable-agent",
    "extra_kubelet_config": "kubelet-arg",
    "extra_kube_proxy_config": "kube-proxy-arg",
}
#: fields whose value is a mapping, written as a list of ``name=value``
PAIRS = frozenset({"node_labels", "extra_kubelet_config", "extra_kube_proxy_config"})
#: ``nixos.k3s`` fields k3s reads from the file, besides :data:`FILE_KEYS`
FLAG_FIELDS = frozenset({"extra_flags"})
#: ``nixos.k3s`` fields kindling applies itself (into config.yaml)
KINDLING_FIELDS = frozenset({"tls_san"})
#: ``nixos.k3s`` fields k3s cannot take from its config file, and what each is instead
NOT_IN_FILE: Mapping[str, str] = {
    "config_path": "the config file's own path, given on k3s's command line",
    "environment_file": "an environment file of k3s's systemd unit",
    "containerd_config_template": "a template file in k3s's data-dir, not a setting",
    "manifests": "files in k3s's manifests directory, not settings",
    "firewall": "the node's NixOS firewall",
    "kernel": "kernel modules and sysctls, which NixOS sets",
    "wait_for_dns": "a NixOS unit that runs before k3s",
    "nvidia_enable": "NixOS's NVIDIA drivers and container runtime",
    "graceful_node_shutdown": "a kubelet setting that has no flag, and systemd-logind's shutdown inhibitor",
}

# k3s's one-letter aliases of its long flags
_SHORT = {"c": "config", "d": "data-dir", "o": "write-kubeconfig", "s": "server", "t": "token"}
# never in the drop-in, and why (the keys the spec sets elsewhere are added by owned_by)
_REFUSED = {
    **{key: "kindling writes it into config.yaml itself" for key in KINDLING_OWNED - {"tls-san"}},
    "config": "k3s reads its config file's path from its command line, not from a config file",
}


def flag_value(value: Any) -> str:
    """A value as a flag takes it: strings as they are, the rest as JSON (``true``, ``50``).

    >>> flag_value("x"), flag_value(True), flag_value(50), flag_value({"a": 1})
    ('x', 'true', '50', '{"a":1}')
    """
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _pairs(mapping: Mapping[str, Any]) -> list[str]:
    return [f"{name}={flag_value(mapping[name])}" for name in sorted(mapping)]


class Flag(msgspec.Struct, frozen=True):
    """One flag of ``extra_flags``: its key in the config file, its value, and the
    index of the entry it starts in (for error paths)."""

    index: int
    key: str
    value: str | bool


class FlagProblem(msgspec.Struct, frozen=True):
    index: int
    message: str


def _tokens(flags: Sequence[str]) -> Iterator[tuple[int, str] | FlagProblem]:
    for i, entry in enumerate(flags):
        try:
            words = shlex.split(entry)
        except ValueError as error:
            yield FlagProblem(i, f"cannot split {entry!r} as a command line: {error}")
            continue
        yield from ((i, word) for word in words)


def parsed_flags(flags: Sequence[str]) -> tuple[tuple[Flag, ...], tuple[FlagProblem, ...]]:
    """``extra_flags`` as config-file keys: ``--name=value`` and ``--name value`` give
    ``name: value``, a lone ``--name`` gives ``name: true``; and what cannot be read so.

    >>> parsed_flags(["--flannel-backend=wireguard-native", "--node-ip 10.0.1.5", "--disable-network-policy"])[0]
    (Flag(index=0, key='flannel-backend', value='wireguard-native'), Flag(index=1, key='node-ip', value='10.0.1.5'), Flag(index=2, key='disable-network-policy', value=True))
    >>> parsed_flags(["traefik"])[1]
    (FlagProblem(index=0, message="'traefik' is not a flag: write --NAME=VALUE or --NAME"),)
    """
    found: list[Flag] = []
    problems: list[FlagProblem] = []
    tokens = list(_tokens(flags))
    at = 0
    while at < len(tokens):
        token = tokens[at]
        at += 1
        if isinstance(token, FlagProblem):
            problems.append(token)
            continue
        index, word = token
        if not word.startswith("-") or word.strip("-") == "":
            problems.append(FlagProblem(index, f"{word!r} is not a flag: write --NAME=VALUE or --NAME"))
            continue
        name, has_value, value = word.lstrip("-").partition("=")
        name = _SHORT.get(name, name) if not word.startswith("--") else name
        if has_value:
            found.append(Flag(index, name, value))
            continue
        following = tokens[at] if at < len(tokens) else None
        if isinstance(following, tuple) and not following[1].startswith("-"):
            found.append(Flag(index, name, following[1]))
            at += 1
        else:
            found.append(Flag(index, name, True))
    return tuple(found), tuple(problems)


def owned_by(key: str) -> str | None:
    """Why a flag of ``extra_flags`` may not set ``key``, or None where it may.

    >>> owned_by("token"), owned_by("node-label"), owned_by("flannel-backend")
    ('kindling writes it into config.yaml itself', 'nixos.k3s.node_labels sets it', None)
    """
    if key in _REFUSED:
        return _REFUSED[key]
    field = next((f for f, k in FILE_KEYS.items() if k == key), None)
    if field is not None:
        return f"nixos.k3s.{field} sets it"
    if key.startswith(("etcd-snapshot-schedule-cron", "etcd-snapshot-retention", "etcd-s3")):
        return "etcd_snapshots sets it"
    return None


def _flag_settings(flags: Sequence[str]) -> dict[str, Any]:
    """The keys ``extra_flags`` sets; a repeated flag becomes a list. ``tls-san`` is
    appended (``tls-san+``) to the list kindling writes."""
    settings: dict[str, Any] = {}
    for flag in parsed_flags(flags)[0]:
        key = "tls-san+" if flag.key == "tls-san" else flag.key
        if owned_by(flag.key) is not None:
            continue  # refused by the rules, so a checked spec has none
        if key in settings:
            earlier = settings[key]
            settings[key] = [*(earlier if isinstance(earlier, list) else [earlier]), flag.value]
        else:
            settings[key] = [flag.value] if key.endswith("+") else flag.value
    return settings


def node_settings(k3s: Mapping[str, Any] | None) -> dict[str, Any]:
    """The drop-in's keys for a node whose cluster-config carries this ``k3s`` block,
    sorted: what k3s can read from a file, nothing kindling owns."""
    if not k3s:
        return {}
    settings: dict[str, Any] = {}
    for field, value in k3s.items():
        if field in FILE_KEYS:
            key = FILE_KEYS[field]
            settings[key] = _pairs(value) if field in PAIRS else list(value) if isinstance(value, (list, tuple)) else value
        elif field in FLAG_FIELDS:
            settings.update(_flag_settings(value))  # never a key of FILE_KEYS: owned_by refuses those
    return {key: settings[key] for key in sorted(settings) if key not in KINDLING_OWNED}
