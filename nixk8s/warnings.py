"""Warnings: what is valid but risky, or does nothing, in a spec the compiler accepts.

A problem stops the compile; a warning does not. Each rule here is a pure function
of the plan and the backend it was planned for, yielding :class:`SpecWarning` values
with their spec path, so that an operator hears before ``terraform apply`` what they
would otherwise learn from an incident: SSH or the API open to the whole internet,
settings the node agent (kindling 0.3.0, ``../shared/consumer/README.md``) parses but
never applies, pools that need kindling's ``legacyBootstrap`` mode, a control plane
that cannot survive losing a server.

The library returns warnings beside the compiled result (``Compiled.warnings``);
only the command prints them. ``docs/warnings.md`` lists every code, why, and how to
silence it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from nixk8s import netaddr
from nixk8s.backends.base import Backend
from nixk8s.choices import WarningCode
from nixk8s.k3s_dropin import NOT_IN_FILE
from nixk8s.plan import ClusterPlan
from nixk8s.problems import join_path
from nixk8s.secrets import JOIN_CREDENTIAL, secret_fields
from nixk8s.spec import ANYWHERE, FluxCD, K3sOptions, KubernetesOptions, fields_of
from nixk8s.terminal import printable_line


class SpecWarning(msgspec.Struct, frozen=True):
    """One risky or ineffective setting. ``code`` names the rule (for ``--ignore-warning``
    and ``docs/warnings.md``); ``path`` is the spec path, as a :class:`Problem`'s is."""

    code: WarningCode
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}warning: {self.message} [{self.code}]"


Warnings = tuple[SpecWarning, ...]
WarningRule = Callable[[ClusterPlan, Backend[Any]], Iterator[SpecWarning]]


def _pool_path(i: int, field: str | None = None) -> str:
    path = join_path("node_pools", i)
    return join_path(path, field) if field else path


def _whole_internet(sources: Iterable[str]) -> list[str]:
    """The sources that admit every address of a family (a /0), as the spec spells them."""
    return [s for s in sources if netaddr.cidr_error(s) is None and netaddr.net(s).prefixlen == 0]


def _open_to(sources: tuple[str, ...], wide: list[str]) -> str:
    """``0.0.0.0/0, ::/0``, and that it is the default where it is (the operator may not have written it)."""
    default = ": the default when the field is left out" if sources == ANYWHERE else ""
    return f"({', '.join(wide)}{default})"


# --- exposure ----------------------------------------------------------------------------


def ssh_open_to_world(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    wide = _whole_internet(plan.spec.access.ssh_sources)
    if wide:
        # private nodes hold no public address: the rule then opens whatever does reach
        # them (the NAT machine, a bastion) and every routed network, not every node
        where = (
            "the way in to the private nodes (a bastion, the NAT machine) and every network routed to them"
            if plan.spec.network is not None and plan.spec.network.private_nodes
            else "every node"
        )
        yield SpecWarning(
            "ssh-open-to-world",
            "access.ssh_sources",
            f"SSH (port 22) on {where} is open to the whole internet {_open_to(plan.spec.access.ssh_sources, wide)}; "
            "list your own networks or a bastion's address instead",
        )


def api_open_to_world(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    wide = _whole_internet(plan.spec.access.api_sources)
    if wide:
        balancer = (
            f"; a public {backend.title} load balancer cannot be filtered, so choose api_load_balancer: private "
            "to narrow it"
            if plan.api_load_balancer == "public" and not backend.public_api_balancer_filters_sources
            else ""
        )
        yield SpecWarning(
            "api-open-to-world",
            "access.api_sources",
            f"the Kubernetes API (port 6443) is open to the whole internet {_open_to(plan.spec.access.api_sources, wide)}: "
            f"anyone can probe it for a weak credential or the next CVE; list the networks kubectl runs from{balancer}",
        )


def literal_secrets(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    """A literal secret is in the reviewed spec file, in main.tf.json and in the Terraform state."""
    for path, secret in secret_fields(plan.spec):
        if isinstance(secret, str) and secret:
            yield SpecWarning(
                "literal-secret",
                path,
                "a literal secret is written into the spec, main.tf.json and the Terraform state in the "
                "clear; give it as {var: NAME} and set TF_VAR_NAME when applying",
            )


# --- settings that do nothing ----------------------------------------------------------------

# What reaches the node of the pass-through options: of k3s, tls_san (kindling writes
# it) and every field k3s reads from the drop-in (nixk8s.k3s_dropin); of kubernetes,
# what kindling hands kubeadm: the version and the CIDRs (a cluster_cidr becomes its
# pod_cidr). Everything else is parsed and ignored.
KUBERNETES_APPLIED = frozenset({"version", "cluster_cidr", "service_cidr"})
# fluxcd fields kindling never reads (it reads source_url, branch, reconcile_*; the
# sops and ssh-key files reach it as secret paths)
FLUXCD_IGNORED = ("enabled", "source_interval", "known_hosts", "source_token_username", "sops_enabled")
KINDLING = "kindling 0.3.0 (the node agent)"
NIXOS_ADVICE = "set it in the image's NixOS configuration (its flake)"


def _ignored(path: str, what: str, advice: str) -> SpecWarning:
    return SpecWarning("ignored-by-node-agent", path, f"{KINDLING} parses {what} but never applies it; {advice}")


def _set_option_fields(options: K3sOptions | KubernetesOptions | None) -> list[str]:
    if options is None:
        return []
    return [f.encode_name for f in fields_of(type(options)) if getattr(options, f.name) not in (msgspec.UNSET, None)]


def distribution_options_ignored(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    spec = plan.spec
    if spec.distribution == "k3s":
        # the rest reaches k3s through its drop-in, or kindling writes it (tls_san)
        for field in _set_option_fields(spec.nixos.k3s):
            if field in NOT_IN_FILE:
                yield _ignored(
                    join_path("nixos.k3s", field),
                    f"nixos.k3s.{field}",
                    f"k3s cannot take it from its config file either ({NOT_IN_FILE[field]}): {NIXOS_ADVICE}",
                )
        return
    for field in _set_option_fields(spec.nixos.kubernetes):
        if field not in KUBERNETES_APPLIED:
            yield _ignored(join_path("nixos.kubernetes", field), f"nixos.kubernetes.{field}", NIXOS_ADVICE)


def pool_node_options_ignored(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    """Pool labels, taints and max_pods reach a kubeadm node as node_labels, node_taints
    and extra_kubelet_config, none of which kindling applies (k3s reads them from its
    drop-in)."""
    if plan.spec.distribution != "kubernetes":
        return
    for i, pool in enumerate(plan.spec.node_pools):
        for field, key, present in (
            ("labels", "node_labels", bool(pool.labels)),
            ("taints", "node_taints", bool(pool.taints)),
            ("max_pods", "extra_kubelet_config", pool.max_pods is not None),
        ):
            if present:
                yield _ignored(
                    _pool_path(i, field),
                    f"the kubernetes.{key} nixk8s passes for the pool's {field}",
                    "the nodes register without it unless the image's NixOS configuration adds it",
                )


def gitops_ignored(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    spec = plan.spec
    if spec.gitops_operator == "argocd" and spec.argocd is not None:
        yield _ignored(
            "argocd",
            "the argocd block",
            "Argo CD is not installed: install it yourself, or use gitops_operator: fluxcd",
        )
    flux = spec.fluxcd
    if spec.gitops_operator == "fluxcd" and flux is not None:
        defaults = {f.name: f.default for f in fields_of(FluxCD)}
        for field in FLUXCD_IGNORED:
            if getattr(flux, field) != defaults[field]:
                advice = (
                    "Flux is installed anyway: remove the fluxcd block (gitops_operator: none) to go without it"
                    if field == "enabled"
                    else "Flux runs with its default"
                )
                yield _ignored(join_path("fluxcd", field), f"fluxcd.{field}", advice)


def track_ignored(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    spec = plan.spec
    if spec.distribution_track is not None and spec.distribution_track != spec.kubernetes_version:
        yield _ignored(
            "distribution_track",
            "distribution_track",
            f"the version the node runs comes from its image (and, for kubeadm, from kubernetes_version "
            f"{spec.kubernetes_version}), not from track {spec.distribution_track}",
        )


def join_token_path_unread(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    """kindling joins with bootstrap_secrets' credential only; a path is never read."""
    spec = plan.spec
    paths = spec.nixos.secrets
    key = JOIN_CREDENTIAL[spec.distribution]
    if paths is not None and paths.join_token_path and not spec.bootstrap_secrets.get(key):
        yield SpecWarning(
            "join-token-path-unread",
            "nixos.secrets.join_token_path",
            f"{KINDLING} joins nodes with bootstrap_secrets.{key} only and never reads this path: "
            f"without {key}, joining nodes have no token unless the image's NixOS configuration provides it",
        )


def unused_by_nixk8s(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    """Fields the spec accepts (for pangea's ClusterConfig) that reach no resource and no node."""
    nixos = plan.spec.nixos
    if nixos.flake_url:
        yield SpecWarning(
            "unused-setting",
            "nixos.flake_url",
            "nixk8s passes nixos.flake_url to no node and no resource: bake the flake into the image",
        )
    if nixos.extra_modules:
        yield SpecWarning(
            "unused-setting",
            "nixos.extra_modules",
            "nixk8s passes nixos.extra_modules to no node and no resource: add the modules to the image's flake",
        )
    for i, pool in enumerate(plan.spec.node_pools):
        for j, kind in enumerate(pool.instance_types[1:], start=1):
            yield SpecWarning(
                "unused-setting",
                join_path(_pool_path(i, "instance_types"), j),
                f"only the first instance type ({pool.instance_type}) is used; {kind} is not",
            )


# --- boot ------------------------------------------------------------------------------------


def legacy_bootstrap_needed(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    """Machines of one template derive their index at boot; a mode that reads the config
    without running user_data sees none, and every machine boots as index 0."""
    reader = backend.embedded_config_reader
    if reader is None or backend.worker_index_fetch is None or plan.spec.nixos.kindling_mode is not None:
        return  # stated: legacy-bootstrap needs no warning, and init is refused
    for i, pool in plan.spec.worker_pools:
        if backend.templated_pool(pool):
            yield SpecWarning(
                "legacy-bootstrap-needed",
                _pool_path(i),
                f"pool {pool.name}: its machines take node_index from the {backend.worker_index_fetch.service} "
                f"when their user_data runs; {reader} reads the embedded config without running it, so run kindling "
                "with legacyBootstrap on this pool's image, or every machine boots as index 0 (one hostname)",
            )


def user_data_format_unread(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    chosen = plan.spec.user_data_format
    reader = backend.embedded_config_reader
    # kindling's EC2 init reads a shell script's heredoc and rejects #cloud-config (the consumer README)
    stated = plan.spec.nixos.kindling_mode is not None  # legacy-bootstrap reads it; init is refused
    if reader is not None and chosen == "cloud-config" and backend.default_format == "shell" and not stated:
        yield SpecWarning(
            "legacy-bootstrap-needed",
            "user_data_format",
            f"{reader} rejects #cloud-config user_data: every node (servers too) needs kindling's "
            "legacyBootstrap mode, where cloud-init writes the file; or leave user_data_format to the default (shell)",
        )


# --- availability ------------------------------------------------------------------------------


def control_plane_size(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    spec = plan.spec
    if plan.parked:
        return
    path = _pool_path(spec.system_pool_index, "min_size")
    servers = spec.control_plane_count
    if servers == 1 and spec.worker_pools:
        yield SpecWarning(
            "single-server",
            path,
            "one control-plane server: losing it loses the API and the cluster's state, and no node can "
            "join until it is back; run 3 for a cluster that carries workloads",
        )
    elif servers % 2 == 0:
        yield SpecWarning(
            "even-servers",
            path,
            f"{servers} control-plane servers: etcd needs a majority, so {servers} tolerate as few failures "
            f"as {servers - 1} ({(servers - 1) // 2}) while adding a machine that can fail; run {servers + 1} or {servers - 1}",
        )


def joins_through_server_0(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    spec = plan.spec
    if spec.control_plane_count >= 2 and plan.api_load_balancer is None:
        why = (
            "api_load_balancer is none"
            if spec.api_load_balancer == "none"
            else f"{backend.title} builds none here: {backend.api_load_balancer_refusal(spec) or 'not offered'}"
        )
        yield SpecWarning(
            "no-api-load-balancer",
            "api_load_balancer",
            f"{spec.control_plane_count} servers but no API load balancer ({why}): every node joins server 0, "
            "so while server 0 is down no node can join, and kubeconfigs point at one server",
        )


def size_owned_elsewhere(plan: ClusterPlan, backend: Backend[Any]) -> Iterator[SpecWarning]:
    for i, pool in plan.spec.worker_pools:
        owner = backend.pool_size_owner(pool)
        if owner is not None and pool.desired_size is not None:
            yield SpecWarning(
                "size-owned-by-autoscaler",
                _pool_path(i, "desired_size"),
                f"pool {pool.name}: its size between min_size {pool.min_size} and max_size {pool.max_size} "
                f"is owned by {owner}; desired_size {pool.desired_size} is at most where it starts",
            )


RULES: tuple[WarningRule, ...] = (
    ssh_open_to_world,
    api_open_to_world,
    literal_secrets,
    distribution_options_ignored,
    pool_node_options_ignored,
    gitops_ignored,
    track_ignored,
    join_token_path_unread,
    unused_by_nixk8s,
    legacy_bootstrap_needed,
    user_data_format_unread,
    control_plane_size,
    joins_through_server_0,
    size_owned_elsewhere,
)


# One line per code, for tools that list the rules (SARIF's rules[].shortDescription);
# docs/warnings.md says why and how to silence each.
SUMMARIES: dict[WarningCode, str] = {
    "ssh-open-to-world": "SSH is open to the whole internet",
    "api-open-to-world": "The Kubernetes API is open to the whole internet",
    "literal-secret": "A secret is written in the spec as a literal",
    "ignored-by-node-agent": "A setting the node agent parses but never applies",
    "join-token-path-unread": "A join token path the node agent never reads",
    "unused-setting": "A setting nixk8s passes to no node and no resource",
    "legacy-bootstrap-needed": "Machines that need the node agent's legacyBootstrap mode",
    "single-server": "One control-plane server: losing it loses the API and etcd",
    "even-servers": "An even number of servers tolerates no more failures than one fewer",
    "no-api-load-balancer": "Several servers but no API load balancer: every node joins server 0",
    "size-owned-by-autoscaler": "desired_size of a pool whose size an autoscaler owns",
}


def spec_warnings(plan: ClusterPlan, backend: Backend[Any]) -> Warnings:
    """Every warning for a valid spec, in a stable order (by path, then code)."""
    found = {w for rule in RULES for w in rule(plan, backend)}
    return tuple(sorted(found, key=lambda w: (w.path, w.code, w.message)))


def without(warnings: Warnings, codes: Iterable[WarningCode]) -> Warnings:
    """The warnings whose code is not among ``codes`` (what ``--ignore-warning`` silences)."""
    silenced = set(codes)
    return tuple(w for w in warnings if w.code not in silenced)


def format_warnings(warnings: Iterable[SpecWarning], source: str) -> str:
    """``FILE: PATH: warning: MESSAGE [code]`` lines, as the command prints them."""
    return "".join(f"{printable_line(source)}: {printable_line(str(w))}\n" for w in warnings)
