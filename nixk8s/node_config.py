"""What every node receives: ``/etc/pangea/cluster-config.json`` (DESIGN §3).

The file is read at boot by kindling. :class:`NodeConfig` is its shape as nixk8s
writes it: absent keys are left out (never null), servers and agents differ only
where the table in DESIGN §3 says so, and values that Terraform only knows at
apply time (a network id, a load balancer's DNS name, a secret variable) are
:class:`~nixk8s.terraform.Expr` values that :func:`config_json` turns into
``${jsonencode(...)}`` interpolations, so that they are JSON-escaped by Terraform.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal, Union

import msgspec

from nixk8s.secrets import agent_bootstrap_secrets, secret_paths, secret_value, server_bootstrap_secrets
from nixk8s.spec import (
    AGENT_OPTION_FIELDS,
    fields_of,
    ClusterSpec,
    Distribution,
    K3sOptions,
    KubernetesOptions,
    NodePool,
)
from nixk8s.terraform import Expr, Template, Text, call
from nixk8s.tokens import embed

Role = Literal["server", "agent"]
Value = Union[str, Expr, Template]


class NodeConfig(msgspec.Struct, frozen=True, omit_defaults=True):
    """The cluster-config of one node (or of one template that many machines share).

    ``node_index`` is None for template-built nodes: their user_data derives the index
    at boot from the cloud's instance metadata and writes it into the file. It is None
    too in the config a pool rendered once shares: each machine's own is written into
    the JSON (:func:`config_json`'s ``index``).
    """

    cluster_name: str
    distribution: Distribution
    profile: str
    distribution_track: str
    role: Role
    cluster_init: bool
    node_index: int | None = None
    join_server: Value | None = None
    network_id: Value | None = None
    fluxcd: dict[str, Any] | None = None
    argocd: dict[str, Any] | None = None
    k3s: dict[str, Any] | None = None
    kubernetes: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None
    bootstrap_secrets: dict[str, Value] | None = None
    vpn: dict[str, Any] | None = None
    persistent_state: dict[str, Any] | None = None


def join_server(distribution: Distribution, host: Text) -> Template:
    """The join address kindling hands to k3s (a URL) or kubeadm (``HOST:PORT``).

    >>> join_server("k3s", "10.0.1.2").literal(), join_server("kubernetes", "10.0.1.2").literal()
    ('https://10.0.1.2:6443', '10.0.1.2:6443')
    """
    scheme = "https://" if distribution == "k3s" else ""
    return Template.of(scheme, host, ":6443")


def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return msgspec.NODEFAULT


def _set_fields(struct: msgspec.Struct) -> dict[str, Any]:
    """The fields the operator set, as JSON builtins, recursively; null and UNSET left out.

    The pass-through options (``nixos.k3s``, ``nixos.kubernetes``) default to UNSET,
    so every field written reaches the node, also one equal to the node's own
    default; elsewhere (``vpn``) a field equal to its default is left out.

    >>> from nixk8s.spec import PKI, K3sOptions, Kernel
    >>> _set_fields(K3sOptions(disable=("traefik",), kernel=Kernel(hardening=False)))
    {'disable': ('traefik',), 'kernel': {'hardening': False}}
    >>> _set_fields(PKI(mode="auto", cert_validity_days=365))
    {'mode': 'auto', 'cert_validity_days': 365}
    """
    out: dict[str, Any] = {}
    for field in fields_of(type(struct)):
        value = getattr(struct, field.name)
        if value is msgspec.UNSET or value is None or value == _default(field):
            continue
        out[field.encode_name] = _set_fields(value) if isinstance(value, msgspec.Struct) else msgspec.to_builtins(value)
    return out


def _pool_labels(pool: NodePool) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if pool.labels:
        extra["node_labels"] = dict(pool.labels)
    if pool.taints:
        extra["node_taints"] = [t.as_kubelet_flag() for t in pool.taints]
    if pool.max_pods is not None:
        extra["extra_kubelet_config"] = {"max-pods": pool.max_pods}
    return extra


def _merge_node_options(options: dict[str, Any], pool: NodePool) -> dict[str, Any]:
    """Cluster-wide node options with the pool's own labels, taints and max_pods added."""
    merged = dict(options)
    for key, value in _pool_labels(pool).items():
        if key == "node_taints":
            merged[key] = list(merged.get(key, ())) + [t for t in value if t not in merged.get(key, ())]
        else:
            merged[key] = {**merged.get(key, {}), **value}
    return merged


def _server_options(spec: ClusterSpec, api_sans: tuple[Text, ...]) -> dict[str, Any]:
    """``nixos.k3s`` / ``nixos.kubernetes`` verbatim, plus the network's CIDRs and the
    API certificate's extra names (kindling's ``tls_san`` / ``api_server_cert_sans``)."""
    net = spec.network
    pod = net.pod_cidr if net else None
    svc = net.service_cidr if net else None
    if spec.distribution == "k3s":
        k3s = spec.nixos.k3s or K3sOptions()
        options = _set_fields(k3s)
        if pod:
            options["cluster_cidr"] = pod
        if svc:
            options["service_cidr"] = svc
        if api_sans:
            options["tls_san"] = [*(k3s.tls_san or ()), *api_sans]
        return options
    kube = spec.nixos.kubernetes or KubernetesOptions()
    options = _set_fields(kube)
    # kindling reads pod_cidr; pangea's field is cluster_cidr: accept either
    pod = pod or kube.cluster_cidr or None
    if pod:
        options["pod_cidr"] = pod
    if svc:
        options["service_cidr"] = svc
    options["version"] = kube.version or f"{spec.kubernetes_version}.0"
    if api_sans:
        options["api_server_cert_sans"] = list(api_sans)
    return options


def _agent_options(spec: ClusterSpec) -> dict[str, Any]:
    """Node-level options only: never CIDRs, cluster DNS, manifests, PKI or etcd."""
    chosen = spec.nixos.k3s if spec.distribution == "k3s" else spec.nixos.kubernetes
    if chosen is None:
        return {}
    return {k: v for k, v in _set_fields(chosen).items() if k in AGENT_OPTION_FIELDS}


def _gitops(spec: ClusterSpec) -> dict[str, Any]:
    if spec.gitops_operator == "fluxcd" and spec.fluxcd is not None:
        flux = msgspec.to_builtins(spec.fluxcd)
        flux = {k: v for k, v in flux.items() if v is not None}
        flux["branch"] = spec.fluxcd.source_branch  # the key kindling reads
        return {"fluxcd": flux}
    if spec.gitops_operator == "argocd" and spec.argocd is not None:
        argo = {k: v for k, v in msgspec.to_builtins(spec.argocd).items() if v is not None}
        return {"argocd": argo}
    return {}


def _secrets_block(secrets: dict[str, Any], generated: Iterable[tuple[str, Expr]] = ()) -> dict[str, Value] | None:
    """The spec's bootstrap secrets (references as ``var.NAME``) and what Terraform made."""
    values: dict[str, Value] = {k: secret_value(v, k) for k, v in secrets.items()}
    values.update(generated)
    return values or None


def _common(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "cluster_name": spec.name,
        "distribution": spec.distribution,
        "profile": spec.profile,
        "distribution_track": spec.track,
    }


def initialises_cluster(spec: ClusterSpec, index: int) -> bool:
    """Whether control-plane node ``index`` boots with ``cluster_init``: server 0 of a
    cluster the spec does not yet call ``initialized``, no other.

    >>> from nixk8s.spec import NodePool
    >>> spec = ClusterSpec(name="demo", backend="hcloud", region="nbg1",
    ...     node_pools=(NodePool(name="system", instance_types=("cx32",), min_size=3),))
    >>> [initialises_cluster(spec, i) for i in range(3)]
    [True, False, False]
    >>> initialises_cluster(msgspec.structs.replace(spec, initialized=True), 0)
    False
    """
    return index == 0 and not spec.initialized


def server_config(
    spec: ClusterSpec,
    index: int,
    *,
    join: Text | None,
    network_id: Text | None,
    api_sans: tuple[Text, ...] = (),
    generated: Iterable[tuple[str, Expr]] = (),
) -> NodeConfig:
    """The config of control-plane node ``index``, which joins ``join``.

    Only index 0 initialises the cluster, and only while the spec says the cluster is
    not ``initialized``; it then joins no one. Once it is, server 0 joins ``join`` as
    the others do (a replaced server 0 must not form a new cluster).
    ``api_sans`` are names the API server's certificate must carry besides the
    server's own addresses, such as a load balancer the nodes join through.
    ``generated``: the bootstrap secrets Terraform made for every server
    (:mod:`nixk8s.credentials`).
    """
    options = _merge_node_options(_server_options(spec, api_sans), spec.system_pool) or None
    is_k3s = spec.distribution == "k3s"
    paths = secret_paths(spec)
    initialises = initialises_cluster(spec, index)
    return NodeConfig(
        **_common(spec),
        role="server",
        cluster_init=initialises,
        node_index=index,
        join_server=None if initialises or join is None else join_server(spec.distribution, join),
        network_id=network_id,
        **_gitops(spec),
        k3s=options if is_k3s else None,
        kubernetes=None if is_k3s else options,
        secrets=paths or None,
        bootstrap_secrets=_secrets_block(server_bootstrap_secrets(spec), generated),
        vpn=_set_fields(spec.vpn) if spec.vpn is not None and spec.vpn.links else None,
        persistent_state=msgspec.to_builtins(spec.persistent_state) if spec.persistent_state else None,
    )


def agent_config(
    spec: ClusterSpec,
    pool: NodePool,
    index: int | None,
    *,
    join: Text,
    generated: Iterable[tuple[str, Expr]] = (),
) -> NodeConfig:
    """The config of a worker: the shared identity, a join address, allowlisted secrets.

    ``generated``: the bootstrap secrets Terraform made for every agent (at most the
    join credential, :mod:`nixk8s.credentials`)."""
    options = _merge_node_options(_agent_options(spec), pool) or None
    is_k3s = spec.distribution == "k3s"
    return NodeConfig(
        **_common(spec),
        role="agent",
        cluster_init=False,
        node_index=index,
        join_server=join_server(spec.distribution, join),
        k3s=options if is_k3s else None,
        kubernetes=None if is_k3s else options,
        bootstrap_secrets=_secrets_block(agent_bootstrap_secrets(spec), generated),
    )


# --- JSON ----------------------------------------------------------------------------


def _as_interpolation(value: Value) -> Expr:
    """A value Terraform must JSON-encode itself: ``jsonencode(...)``."""
    if isinstance(value, Expr):
        return call("jsonencode", value, max_len=value.json_bound())
    template = Template.of(value)
    return call("jsonencode", template, max_len=2 * template.max_len() + 2)


def config_json(config: NodeConfig, token_prefix: str | None = None, index: str | None = None) -> Template:
    """The file's JSON text, with Terraform interpolations where values are expressions.

    ``token_prefix``: one that no literal of the config contains (see
    :func:`nixk8s.tokens.embed`), where the caller knows it. ``index``: the text to
    write as the node index, bare, where ``config`` has none: a machine's own, or the
    slot standing for it in a pool rendered once (:mod:`nixk8s.stamp`); letters and
    digits only.

    >>> config_json(NodeConfig("a", "k3s", "p", "1.34", "agent", False, join_server=Expr("x"))).parts[1].text
    'jsonencode(x)'
    >>> config_json(NodeConfig("a", "k3s", "p", "1.34", "agent", False), index="SLOTi").literal()
    '{"cluster_name":"a","distribution":"k3s","profile":"p","distribution_track":"1.34","role":"agent","cluster_init":false,"node_index":SLOTi}'
    """
    fields: dict[str, Any] = {}
    for name in config.__struct_fields__:
        value = getattr(config, name)
        if value is not None:
            fields[name] = _lift(value)
        elif name == "node_index" and index is not None:
            if not (index.isascii() and index.isalnum()):
                raise ValueError(f"a node index is written bare: {index!r} is not letters and digits")
            # written as it is, where the machine's integer goes
            fields[name] = msgspec.Raw(index.encode())
    return embed(fields, _encode_json, token_prefix)


def json_template(value: dict[str, Any], token_prefix: str | None = None) -> Template:
    """A file a node reads as YAML, written as JSON (which YAML reads the same): on one
    line, expressions as ``jsonencode(...)`` interpolations, mappings sorted, and
    printable ASCII but for characters beyond U+FFFF, which stay as they are (YAML,
    unlike JSON, does not join a ``\\u`` surrogate pair into one character).

    >>> json_template({"b": [1], "a": Expr("var.x")}).parts[1].text
    'jsonencode(var.x)'
    >>> json_template({"a": "\U0001f600\u00e9"}).literal()
    '{"a":"\U0001f600\\\\u00e9"}'
    """
    return embed(_lift(value), _encode_yaml_json, token_prefix)


def _lift(value: Any) -> Any:
    """Expressions (and templates holding them) become ``jsonencode(...)`` interpolations.

    Mappings below the top level are written with sorted keys: the order in which an
    operator wrote labels, sysctls or manifests must not change the bytes (and with
    ``replace_on_user_data_change``, replace servers).
    """
    if isinstance(value, Template) and value.is_literal:
        return value.literal()
    if isinstance(value, (Expr, Template)):
        return _as_interpolation(value)
    if isinstance(value, dict):
        return {k: _lift(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_lift(v) for v in value]
    return value


_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")


def _ascii_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON spells astral characters
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


_NOT_PRINTABLE_ASCII_OR_ASTRAL = re.compile(r"[^\x20-\x7e\U00010000-\U0010ffff]")


def _encode_yaml_json(value: Any) -> str:
    """Compact JSON that YAML reads as the same value: :func:`_encode_json`, with
    characters beyond U+FFFF left as they are (printable, and no line break in YAML)."""
    return _NOT_PRINTABLE_ASCII_OR_ASTRAL.sub(_ascii_escape, msgspec.json.encode(value).decode())


def _encode_json(value: Any) -> str:
    """Compact JSON in printable ASCII only.

    Non-ASCII characters are written as ``\\uXXXX`` escapes, so the line survives any
    wrapper unchanged: YAML treats U+0085 and U+2028 as line breaks, for instance.

    >>> _encode_json({"a": "\u00e9\u2028"})
    '{"a":"\\\\u00e9\\\\u2028"}'
    """
    return _NOT_PRINTABLE_ASCII.sub(_ascii_escape, msgspec.json.encode(value).decode())
