"""DESIGN §3's invariants, as properties over generated specs, for every registered backend.

Each test draws valid ClusterSpecs from :mod:`strategies` (loaded through the real
decoder and validator), compiles them, and reads what every node receives the way the
node does: the cluster-config JSON out of its user_data, with each Terraform
expression replaced by a stand-in value (:func:`support.concrete`).
"""

from __future__ import annotations

import base64
import random
import re
from collections import Counter
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nixk8s.backends.registry import BACKENDS
from nixk8s.compiler import Compiled, compile_source, compile_spec
from nixk8s.credentials import AUTHORITIES, spec_gives_join_credential
from nixk8s.node_config import join_server
from nixk8s.load import load
from nixk8s.secrets import JOIN_CREDENTIAL, KINDLING_BOOTSTRAP_KEYS, agent_allowlist, secret_variables
from nixk8s.spec import AGENT_OPTION_FIELDS, ClusterSpec, SecretRef
from nixk8s.render import WorkerPool
from nixk8s.stamp import StampedPool, fill
from nixk8s.terraform import Expr, Template
from strategies import (
    S3_KEY_PREFIX,
    S3_KEY_VARIABLES,
    arbitrary_text_specs,
    can_be_initialized,
    cluster_specs,
    load_raw,
    raw_cluster_specs,
)
from support import (
    USER_DATA_KEYS,
    assert_kindling_accepts,
    concrete,
    document_user_data,
    embedded_config,
    embedded_dropin,
    embedded_dropin_text,
    embedded_json_text,
    interpolations,
    node_config,
    reference_json,
    rendered_nodes,
)

backends = pytest.mark.parametrize("backend", sorted(BACKENDS))


def compiled(spec: ClusterSpec) -> Compiled:
    return compile_spec(spec).unwrap()


def configs(result: Compiled) -> list[dict[str, Any]]:
    """Every node's cluster-config, servers first (in index order), then each pool's."""
    return [node_config(node) for node in rendered_nodes(result)]


def servers(result: Compiled) -> list[dict[str, Any]]:
    return [c for c in configs(result) if c["role"] == "server"]


def agents_by_pool(result: Compiled) -> list[tuple[Any, dict[str, Any]]]:
    return [(pool.pool, node_config(node)) for pool in result.built.workers for node in pool.machine_nodes()]


def expected_bootstrap_secrets(result: Compiled) -> dict[str, str]:
    """What a server's bootstrap_secrets hold: every non-empty literal verbatim, references as
    their stand-in, and what Terraform generates as its expression's stand-in."""
    spec = result.plan.spec
    given = {
        key: f"var.{value.var}" if isinstance(value, SecretRef) else value
        for key, value in spec.bootstrap_secrets.items()
        if value != ""
    }
    return {**given, **{key: concrete(value) for key, value in result.plan.server_generated_secrets}}


# --- who receives what --------------------------------------------------------------------


@backends
@given(data=st.data())
def test_agents_never_receive_gitops_secret_paths_vpn_persistent_state_or_secrets_outside_the_allowlist(
    backend: str, data: st.DataObject
) -> None:
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    allowed = agent_allowlist(spec.distribution)
    for _, agent in agents_by_pool(result):
        assert agent["role"] == "agent"
        for key in ("fluxcd", "argocd", "secrets", "vpn", "persistent_state"):
            assert key not in agent, f"an agent received {key}"
        given_secrets = agent.get("bootstrap_secrets", {})
        assert set(given_secrets) <= allowed
        # and it receives exactly the allowlisted ones, with the servers' values
        expected = {k: v for k, v in expected_bootstrap_secrets(result).items() if k in allowed}
        assert given_secrets == expected


@backends
@given(data=st.data())
def test_agents_receive_only_node_level_distribution_options(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    server_options = servers(result)[0].get(spec.distribution, {})
    for pool, agent in agents_by_pool(result):
        options = agent.get(spec.distribution, {})
        assert set(options) <= AGENT_OPTION_FIELDS, set(options) - AGENT_OPTION_FIELDS
        # the node-level options the servers get reach the agents unchanged...
        for key in ("kernel", "data_dir", "containerd_config_template", "nvidia_enable",
                    "graceful_node_shutdown", "wait_for_dns", "extra_kube_proxy_config"):
            assert options.get(key) == server_options.get(key), key
        # ...with the agent's own pool's labels and taints added
        assert pool.labels.items() <= options.get("node_labels", {}).items()
        assert {t.as_kubelet_flag() for t in pool.taints} <= set(options.get("node_taints", []))


# --- generated credentials (credentials: generated) ------------------------------------------------

AUTHORITY_KEYS = frozenset(k for d in AUTHORITIES for a in AUTHORITIES[d] for k in a.bootstrap_keys)


def _expression_parts(node: Any) -> list[str]:
    """The texts of the Terraform expressions in a rendered node's config JSON."""
    return [p.text for p in node.json.parts if isinstance(p, Expr)]


@backends
@given(data=st.data())
def test_agents_receive_no_authority_no_key_and_no_ca_certificate(backend: str, data: st.DataObject) -> None:
    """Not even a CA certificate: on a kubeadm worker an existing /etc/kubernetes/pki/ca.crt
    fails the join's preflight; and no key of any authority, whatever the distribution."""
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    for pool in result.built.workers:
        for node in pool.machine_nodes():
            secrets = node_config(node).get("bootstrap_secrets", {})
            assert not set(secrets) & AUTHORITY_KEYS, set(secrets) & AUTHORITY_KEYS
            assert not [text for text in _expression_parts(node) if "tls_" in text]


@backends
@given(data=st.data())
def test_every_server_holds_the_same_generated_authorities_and_only_with_generated_credentials(
    backend: str, data: st.DataObject
) -> None:
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    made = result.plan.credentials
    keys = {k for a in AUTHORITIES[spec.distribution] for k in a.bootstrap_keys}
    held = [{k: v for k, v in node_config(n).get("bootstrap_secrets", {}).items() if k in AUTHORITY_KEYS}
            for n in result.built.control_plane]
    if spec.credentials == "external":
        # only what the spec gives
        given = {k for k, v in spec.bootstrap_secrets.items() if k in AUTHORITY_KEYS and v != ""}
        assert made is None and all(set(h) == given for h in held)
        return
    assert made is not None
    assert all(set(h) & keys == keys for h in held)
    assert all(h == held[0] for h in held), "every server holds the same CA material"


@backends
@given(data=st.data())
def test_every_node_joins_with_one_credential(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    key = JOIN_CREDENTIAL[spec.distribution]
    values = {node_config(n).get("bootstrap_secrets", {}).get(key) for n in rendered_nodes(result)}
    made = result.plan.credentials
    if made is not None and made.join is not None:
        assert values == {concrete(made.join.value)}
    elif spec_gives_join_credential(spec):
        assert len(values) == 1


def _holds_a_private_key(user_data: str) -> bool:
    """Whether a user_data (evaluated with stand-ins) hands out a generated private key:
    a bootstrap secret that is base64 of a ``tls_private_key`` reference's stand-in."""
    def reference(value: str) -> str:
        try:
            return base64.b64decode(value, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return ""

    secrets = embedded_config(user_data).get("bootstrap_secrets", {})
    return any(reference(v).startswith("tls_private_key.") for v in secrets.values())


def _allowed_place(path: tuple[str, ...], document: dict[str, Any]) -> bool:
    """Where a generated private key may be referred to: the tls resources that use it,
    a user_data (directly, or the local one is written from) and a sensitive output."""
    if path[:1] == ("resource",) and path[1].startswith("tls_"):
        return True
    if set(path) & set(USER_DATA_KEYS) or (path[0] == "locals" and path[1].endswith("_user_data")):
        return True
    return path[0] == "output" and document["output"][path[1]].get("sensitive") is True


@backends
@given(data=st.data())
def test_private_keys_appear_only_in_servers_boot_data_in_tls_resources_and_in_sensitive_outputs(
    backend: str, data: st.DataObject
) -> None:
    """What refers to a generated private key: the tls resources that use it, the servers'
    user_data (their authorities) and the sensitive kubeconfig; no other argument, no
    agent and no output Terraform would show."""
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    document = msgspec.json.decode(result.to_json())
    keyed = [u for u in document_user_data(document) if _holds_a_private_key(u)]
    servers_user_data = [concrete(n.user_data) for n in result.built.control_plane]
    assert Counter(keyed) == (Counter(servers_user_data) if result.plan.credentials is not None else Counter())
    places = [path for path, text in _string_leaves(document) if "tls_private_key." in text]
    assert [p for p in places if not _allowed_place(p, document)] == []


@backends
@given(data=st.data())
def test_the_tls_and_random_providers_are_required_only_where_used(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    document = msgspec.json.decode(compiled(spec).to_json())
    kinds = set(document["resource"])
    required = set(document["terraform"]["required_providers"])
    assert ("tls" in required) == any(k.startswith("tls_") for k in kinds) == (spec.credentials == "generated")
    assert ("random" in required) == any(k.startswith("random_") for k in kinds)
    assert ("kubeconfig" in document.get("output", {})) == (spec.credentials == "generated")


def _string_leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _string_leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _string_leaves(v, path)]
    return []


# --- the k3s drop-in -------------------------------------------------------------------------------

# what kindling writes into config.yaml itself, and the file's own path: never in a drop-in
KINDLING_KEYS = {"token", "server", "cluster-init", "tls-san", "config"}


def machines_with_pools(result: Compiled) -> list[tuple[Any, Any]]:
    """(node, its pool) for every machine (or template): servers with the system pool."""
    spec = result.plan.spec
    servers = [(node, spec.system_pool) for node in result.built.control_plane]
    return servers + [(node, pool.pool) for pool in result.built.workers for node in pool.machine_nodes()]


def _taint(key: str, value: str, effect: str) -> str:
    return f"{key}={value}:{effect}" if value else f"{key}:{effect}"


@backends
@given(data=st.data())
def test_no_agent_ever_receives_etcd_settings_or_keys(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    snapshots = spec.etcd_snapshots if spec.distribution == "k3s" else None
    for node, _ in machines_with_pools(result):
        text = concrete(node.user_data)
        dropin = embedded_dropin(text) or {}
        etcd = {k: v for k, v in dropin.items() if k.startswith("etcd")}
        if node.role == "agent":
            assert etcd == {}, node.name
            assert S3_KEY_PREFIX not in text
            assert not [v for v in S3_KEY_VARIABLES.values() if f"var.{v}" in text]
        elif snapshots is not None:
            assert etcd["etcd-snapshot-retention"] == snapshots.retention
            assert etcd["etcd-snapshot-schedule-cron"] == snapshots.schedule
            assert etcd.get("etcd-s3") is (True if snapshots.s3 is not None else None)


@backends
@given(data=st.data())
def test_no_nodes_drop_in_holds_another_pools_labels_or_taints(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    options = spec.nixos.k3s
    cluster_labels = dict(options.node_labels) if options is not None and options.node_labels else {}
    cluster_taints = list(options.node_taints) if options is not None and options.node_taints else []
    for node, pool in machines_with_pools(result):
        dropin = embedded_dropin(concrete(node.user_data))
        if spec.distribution != "k3s":
            assert dropin is None
            continue
        labels = {**cluster_labels, **pool.labels}
        taints = cluster_taints + [_taint(t.key, t.value, t.effect) for t in pool.taints]
        assert set((dropin or {}).get("node-label", [])) == {f"{k}={v}" for k, v in labels.items()}, node.name
        assert set((dropin or {}).get("node-taint", [])) == set(taints), node.name
        if pool.max_pods is not None:
            assert f"max-pods={pool.max_pods}" in (dropin or {}).get("kubelet-arg", []), node.name


@backends
@given(data=st.data())
def test_a_drop_in_never_sets_a_kindling_owned_key(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    for node, _ in machines_with_pools(compiled(spec)):
        dropin = embedded_dropin(concrete(node.user_data)) or {}
        assert not KINDLING_KEYS & set(dropin), node.name


# --- the shape of the cluster -----------------------------------------------------------------


@backends
@given(data=st.data())
def test_every_cluster_has_at_least_one_server(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    found = servers(compiled(spec))
    assert len(found) >= 1
    assert len(found) == max(spec.system_pool.min_size, 1)
    assert [s["node_index"] for s in found] == list(range(len(found)))


@backends
@given(data=st.data())
def test_only_server_zero_has_cluster_init_and_only_before_the_cluster_is_initialized(
    backend: str, data: st.DataObject
) -> None:
    spec = data.draw(cluster_specs(backend))
    initialising = [(c["role"], c["node_index"]) for c in configs(compiled(spec)) if c["cluster_init"] is True]
    assert initialising == ([] if spec.initialized else [("server", 0)])


def _host(join: str) -> str:
    return join.removeprefix("https://").rsplit(":", 1)[0]


@backends
@given(data=st.data())
def test_once_initialized_every_server_joins_a_concrete_address_not_its_own(backend: str, data: st.DataObject) -> None:
    raw = data.draw(raw_cluster_specs(backend))
    assume(can_be_initialized(backend, raw))
    result = compiled(load_raw({**raw, "initialized": True}))
    form = r"^https://[^/:\s]+:6443$" if result.plan.spec.distribution == "k3s" else r"^[^/:\s]+:6443$"
    for node, handle in zip(result.built.control_plane, result.built.server_handles, strict=True):
        config = node_config(node)
        assert config["cluster_init"] is False
        assert re.match(form, config["join_server"]), config["join_server"]
        own = {concrete(a) for a in (handle.private_ip, handle.public_ip) if a is not None}
        assert _host(config["join_server"]) not in own, (config["node_index"], config["join_server"], own)


# where the subnet fixes the API balancer's private address before apply
RESERVES_A_BALANCER_ADDRESS = {
    "hcloud": lambda spec: spec.network is not None,
    "gcp": lambda spec: True,
    "azure": lambda spec: True,
    "aws": lambda spec: False,  # a DNS name, known after apply
}


@backends
@given(data=st.data())
def test_server_zeros_certificate_names_the_address_a_balancer_gets_from_the_first_compile(
    backend: str, data: st.DataObject
) -> None:
    raw = data.draw(raw_cluster_specs(backend))
    result = compiled(load_raw(raw))
    spec, foundation = result.plan.spec, result.built.foundation
    reserved = foundation.reserved_api_address
    assert (reserved is not None) == RESERVES_A_BALANCER_ADDRESS[backend](spec)
    if reserved is None:
        return
    server_0 = node_config(result.built.control_plane[0])
    options = server_0.get("k3s") or server_0.get("kubernetes") or {}
    assert concrete(reserved) in (options.get("tls_san") or options.get("api_server_cert_sans") or [])
    # and it is the address the balancer gets, built now or once the spec asks for one
    balancer = foundation.balancer
    if balancer is None:
        balancer = compiled(load_raw({**raw, "api_load_balancer": "private"})).built.foundation.balancer
    assert balancer is not None and balancer.private_address == reserved


@backends
@given(data=st.data())
def test_every_agent_and_every_server_after_the_first_joins_where_the_foundation_says(
    backend: str, data: st.DataObject
) -> None:
    """Agents join the foundation's join host (server 0 or the balancer); servers after
    the first join its server join host where it has one (a balancer that cannot
    hairpin), else the same; server 0 joins no one, or once the cluster is
    initialized, the foundation's host for it."""
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    foundation = result.built.foundation
    to_agents = concrete(join_server(spec.distribution, foundation.join_host))
    to_servers = concrete(join_server(spec.distribution, foundation.server_join_host or foundation.join_host))
    form = r"^https://[^/:\s]+:6443$" if spec.distribution == "k3s" else r"^[^/:\s]+:6443$"
    to_server_0 = foundation.server_0_join_host
    for config in configs(result):
        if config["role"] == "server" and config["node_index"] == 0:
            if spec.initialized:
                assert to_server_0 is not None
                assert config["join_server"] == concrete(join_server(spec.distribution, to_server_0))
            else:
                assert "join_server" not in config
        else:
            assert config["join_server"] == (to_servers if config["role"] == "server" else to_agents)
            assert re.match(form, config["join_server"]), config["join_server"]


@backends
@given(data=st.data())
def test_with_a_balancer_agents_join_it_and_every_servers_certificate_names_it(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    balancer = result.built.foundation.balancer
    assert (balancer is not None) == (result.plan.api_load_balancer is not None)
    if balancer is None:
        return
    names = [concrete(balancer.private_address)]
    if balancer.public_address is not None:
        names.append(concrete(balancer.public_address))
    for config in configs(result):
        if config["role"] == "agent":
            assert config["join_server"] == concrete(join_server(spec.distribution, balancer.private_address))
        else:
            options = config.get("k3s") or config.get("kubernetes") or {}
            sans = options.get("tls_san") or options.get("api_server_cert_sans") or []
            assert all(name in sans for name in names), (names, sans)


@backends
@given(data=st.data())
def test_node_index_is_an_integer_unless_one_template_serves_many_machines(
    backend: str, data: st.DataObject
) -> None:
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    indices = Counter()
    servers = [node_config(node) for node in result.built.control_plane]
    machines = [(isinstance(pool, WorkerPool), node_config(n)) for pool in result.built.workers for n in pool.machine_nodes()]
    for templated, config in [(False, c) for c in servers] + machines:
        if templated:
            assert "node_index" not in config, "a template's JSON must leave node_index to the boot-time probe"
            continue
        assert type(config["node_index"]) is int and 0 <= config["node_index"] < 2**32
        indices[(config["role"], config["node_index"])] += 1
    # kindling names hosts {cluster}-{role}-{index}: no two machines may share one
    assert all(n == 1 for n in indices.values()), indices


@backends
@given(data=st.data())
def test_every_node_config_is_accepted_by_kindling(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    for config in configs(compiled(spec)):
        assert_kindling_accepts(config)


# --- user_data ------------------------------------------------------------------------------


@backends
@given(data=st.data())
def test_both_user_data_formats_write_byte_identical_json(backend: str, data: st.DataObject) -> None:
    raw = data.draw(raw_cluster_specs(backend))
    shell = compiled(load_raw({**raw, "user_data_format": "shell"}))
    cloud = compiled(load_raw({**raw, "user_data_format": "cloud-config"}))
    shell_nodes, cloud_nodes = rendered_nodes(shell), rendered_nodes(cloud)
    assert len(shell_nodes) == len(cloud_nodes) >= 1
    for a, b in zip(shell_nodes, cloud_nodes):
        script, document = concrete(a.user_data), concrete(b.user_data)
        assert script.startswith("#!/bin/sh\n")
        assert document.startswith("#cloud-config\n")
        assert embedded_json_text(script).encode() == embedded_json_text(document).encode()
        assert embedded_dropin_text(script) == embedded_dropin_text(document)


@backends
@given(data=st.data())
def test_hostile_secret_literals_reach_every_node_exactly(backend: str, data: st.DataObject) -> None:
    """Decode each user_data in main.tf.json (shell heredoc or cloud-config YAML, after
    Terraform's own template evaluation) and JSON-parse it: every secret is the original."""
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    document = msgspec.json.decode(result.to_json())
    from_document = document_user_data(document)
    # the document carries exactly the user_data the pipeline rendered
    assert Counter(from_document) == Counter(concrete(n.user_data) for n in rendered_nodes(result))
    expected = expected_bootstrap_secrets(result)
    allowed = agent_allowlist(spec.distribution)
    for user_data in from_document:
        config = embedded_config(user_data)
        secrets = config.get("bootstrap_secrets", {})
        if config["role"] == "server":
            assert secrets == expected
            if spec.fluxcd is not None:
                assert config["fluxcd"]["branch"] == spec.fluxcd.source_branch
                assert config["fluxcd"]["reconcile_path"] == spec.fluxcd.reconcile_path
        else:
            assert secrets == {k: v for k, v in expected.items() if k in allowed}


def _expression_texts(value: Any) -> set[str]:
    """The texts of every expression nixk8s put into a document value."""
    if isinstance(value, Expr):
        return {value.text}
    if isinstance(value, Template):
        return {p.text for p in value.parts if isinstance(p, Expr)}
    if isinstance(value, dict):
        return set().union(*(_expression_texts(v) for v in value.values()))
    if isinstance(value, (list, tuple)):
        return set().union(*(_expression_texts(v) for v in value))
    return set()


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@backends
@given(data=st.data())
def test_literal_template_sequences_are_escaped_and_only_nixk8s_interpolations_remain(
    backend: str, data: st.DataObject
) -> None:
    spec = data.draw(cluster_specs(backend))
    result = compiled(spec)
    fragment = result.built.fragment
    built = (
        set().union(*(_expression_texts(r.body) for r in fragment.resources))
        | set().union(*(_expression_texts(o.value) for o in fragment.outputs))
        | set().union(*(_expression_texts(v) for _, v in fragment.locals))
        | {cond for v in fragment.variables for cond, _ in v.validations}
    )
    for pool in result.built.workers:
        if isinstance(pool, StampedPool):
            symbolic = set().union(*(_expression_texts(r.body) for r in pool.resources))
            for machine in pool.machines:
                built |= {fill(text, pool.slots, machine.text()) for text in symbolic}
    document = msgspec.json.decode(result.to_json())
    found = {expr for s in _strings(document) for expr in interpolations(s)}
    # every `${` and `%{` from the spec was escaped (else it would show up here as an
    # interpolation nixk8s never built), and none of nixk8s' own was
    assert found == built


@backends
@given(data=st.data())
def test_a_secret_variable_carries_the_checks_of_its_secret(backend: str, data: st.DataObject) -> None:
    """DESIGN §4: a variable the node needs in a particular form (the join token) says so."""
    spec = data.draw(cluster_specs(backend))
    variables = msgspec.json.decode(compiled(spec).to_json()).get("variable", {})
    for key, secret in spec.bootstrap_secrets.items():
        if isinstance(secret, SecretRef):
            # the spec's other references (etcd snapshot keys) keep their own variables
            (alone,) = (
                v for v in secret_variables(msgspec.structs.replace(spec, bootstrap_secrets={key: secret})) if v.name == secret.var
            )
            required = {"${" + condition + "}" for condition, _ in alone.validations}
            assert required <= {v["condition"] for v in variables[secret.var].get("validation", [])}, key


@backends
@given(data=st.data())
def test_no_variable_an_agent_receives_backs_a_secret_agents_may_not_hold(backend: str, data: st.DataObject) -> None:
    spec = data.draw(cluster_specs(backend))
    allowed = agent_allowlist(spec.distribution)
    secrets_of: dict[str, set[str]] = {}
    for key, secret in spec.bootstrap_secrets.items():
        if isinstance(secret, SecretRef):
            secrets_of.setdefault(f"var.{secret.var}", set()).add(key)
    for _, agent in agents_by_pool(compiled(spec)):
        for value in agent.get("bootstrap_secrets", {}).values():
            assert secrets_of.get(value, set()) <= allowed, value


@backends
@given(data=st.data())
def test_a_variable_backing_a_second_secret_is_refused(backend: str, data: st.DataObject) -> None:
    raw = data.draw(raw_cluster_specs(backend))
    secrets = raw["bootstrap_secrets"]
    first, second = data.draw(st.lists(st.sampled_from(sorted(KINDLING_BOOTSTRAP_KEYS)), min_size=2, max_size=2, unique=True))
    shared = {**secrets, first: {"var": "shared"}, second: {"var": "shared"}}
    result = load(msgspec.json.encode({**raw, "bootstrap_secrets": shared}), "json")
    _, later = [k for k in shared if k in (first, second)]  # the problem is on the second use
    assert f"bootstrap_secrets.{later}.var" in [p.path for p in result.failure()]


@backends
# an example compiles its spec a few times (refused text is put back) and the reference
# once more, and reads every node: a third of the profile's examples
@settings(max_examples=max(10, settings().max_examples // 3))
@given(data=st.data())
def test_arbitrary_text_in_every_string_field_leaves_every_node_a_config_kindling_accepts(
    backend: str, data: st.DataObject
) -> None:
    """No placeholder can be forged (issue 21): whatever the spec's string fields hold
    (escapes that complete a slot, expression tokens, the document's markers), every
    node's config in main.tf.json, decoded as the machine reads it, is JSON kindling
    accepts with the node index the pipeline gave it, and the document is the one a
    rendering without placeholders writes."""
    raw = data.draw(arbitrary_text_specs(backend))
    result = compile_source(msgspec.json.encode(raw), "json").unwrap()
    document = msgspec.json.decode(result.to_json())
    found = [embedded_config(user_data) for user_data in document_user_data(document)]
    nodes = rendered_nodes(result)
    assert len(found) == len(nodes)
    for config in found:
        assert_kindling_accepts(config)
    assert Counter(c.get("node_index") for c in found) == Counter(n.config.node_index for n in nodes)
    assert result.to_json() == reference_json(result.plan.spec)


# --- determinism ------------------------------------------------------------------------------


def _shuffled(value: Any, rng: random.Random) -> Any:
    """``value`` with every mapping's key order shuffled (list order kept: it means something)."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@backends
@given(data=st.data())
def test_compiling_a_spec_twice_gives_identical_bytes(backend: str, data: st.DataObject) -> None:
    raw = data.draw(raw_cluster_specs(backend))
    first = compiled(load_raw(raw)).to_json()
    assert compiled(load_raw(raw)).to_json() == first


@backends
@given(data=st.data(), rng=st.randoms(use_true_random=False))
def test_the_key_order_of_the_spec_does_not_change_the_output(
    backend: str, data: st.DataObject, rng: random.Random
) -> None:
    raw = data.draw(raw_cluster_specs(backend))
    assert compiled(load_raw(_shuffled(raw, rng))).to_json() == compiled(load_raw(raw)).to_json()
