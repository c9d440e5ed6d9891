"""Rules that span fields: the semantic checks of a well-typed ClusterSpec.

Each rule is a function ``ClusterSpec -> Iterator[Problem]``; :func:`spec_problems`
runs them all, so one run reports every problem. Rules of one cloud (its platform
limits, what it cannot do) live in that backend's record instead: nothing here names
a cloud.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

import msgspec

from nixk8s import netaddr
from nixk8s.node_index import AGENT_BLOCK, agent_index_block
from nixk8s.labels import kubelet_label_error, label_key_error, label_value_error
from nixk8s.problems import Problem, did_you_mean, join_path
from nixk8s.k3s_dropin import owned_by, parsed_flags
from nixk8s.secrets import (
    JOIN_CREDENTIAL,
    KINDLING_BOOTSTRAP_KEYS,
    KUBEADM_TOKEN_PATTERN,
    TOKEN_FORBIDDEN,
    etcd_snapshot_secrets,
    secret_fields,
)
from nixk8s.backends.catalog import cloud_named
from nixk8s.credentials import generated_keys, spec_gives_join_credential
from nixk8s.spec import PROVIDER_BLOCKS, ClusterSpec, SecretRef, fields_of

Rule = Callable[[ClusterSpec], Iterator[Problem]]


def _pool_path(i: int, field: str | None = None) -> str:
    path = join_path("node_pools", i)
    return join_path(path, field) if field else path


def node_pool_sizes(spec: ClusterSpec) -> Iterator[Problem]:
    for i, pool in enumerate(spec.node_pools):
        if pool.max_size < pool.min_size:
            yield Problem(_pool_path(i, "max_size"), f"max_size {pool.max_size} is below min_size {pool.min_size}")
        if pool.desired_size is not None and not pool.min_size <= pool.desired_size <= pool.max_size:
            yield Problem(
                _pool_path(i, "desired_size"),
                f"desired_size {pool.desired_size} is outside min_size..max_size ({pool.min_size}..{pool.max_size})",
            )


def node_pool_names(spec: ClusterSpec) -> Iterator[Problem]:
    counts = Counter(p.name for p in spec.node_pools)
    seen: set[str] = set()
    for i, pool in enumerate(spec.node_pools):
        if counts[pool.name] > 1 and pool.name in seen:
            yield Problem(_pool_path(i, "name"), f'pool name "{pool.name}" is used by an earlier pool')
        seen.add(pool.name)
        if pool.name == "cp" and i != spec.system_pool_index:
            yield Problem(_pool_path(i, "name"), '"cp" is reserved for the control plane\'s resource names')


def agent_index_blocks(spec: ClusterSpec) -> Iterator[Problem]:
    """Each worker pool's node indices must be its own (kindling names hosts by them)."""
    owner: dict[int, str] = {}
    for i, pool in spec.worker_pools:
        block = agent_index_block(pool.name)
        if block in owner and owner[block] != pool.name:
            yield Problem(
                _pool_path(i, "name"),
                f'pools "{owner[block]}" and "{pool.name}" hash to the same node-index block; rename one',
            )
        owner.setdefault(block, pool.name)
        if pool.max_size > AGENT_BLOCK:
            yield Problem(_pool_path(i, "max_size"), f"a pool holds at most {AGENT_BLOCK:,} nodes")


def node_labels_and_taints(spec: ClusterSpec) -> Iterator[Problem]:
    """Kubelet refuses to start with a malformed label or taint: catch it here."""
    for i, pool in enumerate(spec.node_pools):
        for key, value in pool.labels.items():
            path = join_path(_pool_path(i, "labels"), key)
            for error in (label_key_error(key), label_value_error(value)):
                if error:
                    yield Problem(path, error)
        for j, taint in enumerate(pool.taints):
            path = join_path(_pool_path(i, "taints"), j)
            for error in (label_key_error(taint.key), label_value_error(taint.value)):
                if error:
                    yield Problem(path, error.replace("label", "taint"))


# Bounds past any plausible cluster (docs/decisions.md). A spec beyond them is a
# mistake to report, not a cluster to build, and together they bound how much the
# compiler generates: nothing here depends on one cloud's quotas.
MAX_CONTROL_PLANE = 15
MAX_NODE_POOLS = 100
MAX_WORKERS = 10_000
MAX_TAGS = 64
MAX_SSH_KEYS = 32
MAX_IDENTIFIER = 255
# A pool's SSH keys together: as much as MAX_SSH_KEYS names, and room for public key
# lines (where a cloud takes the keys themselves): a few RSA keys or many ed25519 ones.
MAX_SSH_KEY_CHARACTERS = MAX_SSH_KEYS * MAX_IDENTIFIER


def cluster_size(spec: ClusterSpec) -> Iterator[Problem]:
    """How many servers, pools and workers a spec asks for."""
    if len(spec.node_pools) > MAX_NODE_POOLS:
        yield Problem(
            "node_pools",
            f"{len(spec.node_pools):,} node pools; at most {MAX_NODE_POOLS}, as many as AKS allows (EKS: 30 managed node groups)",
        )
    servers = spec.control_plane_count
    if servers > MAX_CONTROL_PLANE:
        yield Problem(
            _pool_path(spec.system_pool_index, "min_size"),
            f"a control plane of {servers:,} servers; at most {MAX_CONTROL_PLANE}: every etcd write waits "
            "for a majority of them, so clusters run 3, 5 or 7",
        )
    workers = sum(pool.desired for _, pool in spec.worker_pools)
    if workers > MAX_WORKERS:
        yield Problem(
            "node_pools",
            f"{workers:,} worker nodes (desired sizes of all worker pools); at most {MAX_WORKERS:,}, "
            "twice the 5,000 nodes Kubernetes is tested to",
        )


def repeated_on_every_machine(spec: ClusterSpec) -> Iterator[Problem]:
    """What each machine's resource repeats from the spec: tags, SSH keys, types, images.

    With up to MAX_WORKERS machines, these multiply: a megabyte of tags or of one
    image name would be gigabytes of output. Cloud names and ids are short.
    """
    if len(spec.tags) > MAX_TAGS:
        yield Problem("tags", f"{len(spec.tags):,} tags; at most {MAX_TAGS}, the most any of the clouds allows")
    names: list[tuple[str, str]] = [("region", spec.region)]
    for i, pool in enumerate(spec.node_pools):
        if len(pool.ssh_keys) > MAX_SSH_KEYS:
            yield Problem(_pool_path(i, "ssh_keys"), f"{len(pool.ssh_keys):,} SSH keys; at most {MAX_SSH_KEYS}")
        key_characters = sum(len(k) for k in pool.ssh_keys)
        if key_characters > MAX_SSH_KEY_CHARACTERS:
            yield Problem(
                _pool_path(i, "ssh_keys"),
                f"{key_characters:,} characters of SSH keys; at most {MAX_SSH_KEY_CHARACTERS:,} per pool",
            )
        names += [(join_path(_pool_path(i, "instance_types"), j), t) for j, t in enumerate(pool.instance_types)]
    # a provider block's own image field is its backend's to check
    if spec.nixos.image_id:
        names.append(("nixos.image_id", spec.nixos.image_id))
    for path, name in names:
        if len(name) > MAX_IDENTIFIER:
            yield Problem(path, f"{len(name):,} characters; a cloud's names and ids are at most {MAX_IDENTIFIER}")


# --- control characters in what a cloud names -------------------------------------------
#
# A terminal acts on control characters and a line break forges lines, in nixk8s'
# output and in every tool that prints a name later; and no cloud accepts them in a
# name, a type, a region, an id, a label or a tag (the most any cloud allows in a tag
# is letters, digits, spaces and _.:/=+-@; Kubernetes labels [A-Za-z0-9-_.]).
# The patterns that check names end in ``$``, which Python also matches before a final
# newline ("demo\n"); this rule refuses that newline, and every other such character,
# for every cloud at once.

_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "half of a surrogate pair",
}


def invisible_character(text: str) -> tuple[int, str] | None:
    """The position and kind of the first control or invisible formatting character in ``text``.

    >>> invisible_character("eu-central-1"), invisible_character("nbg1\\n"), invisible_character("a\\u202eb")
    (None, (4, 'a control character'), (1, 'an invisible formatting character'))
    """
    if text.isprintable():  # the fast path: every refused category is unprintable
        return None
    for i, c in enumerate(text):
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(c))
        if kind is not None:
            return i, kind
    return None


_Named = tuple[str, str, str]  # the path, what there is named ("" or "its key "), the text


def _strings(value: Any, path: str) -> Iterator[_Named]:
    """Every string in a value (a provider block, a mapping, a list), with its path; keys too."""
    if isinstance(value, str):
        yield path, "", value
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _strings(getattr(value, name), join_path(path, name))
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield from _strings(item, join_path(path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield join_path(path, key), "its key ", key
            yield from _strings(item, join_path(path, key))


def _cloud_names(spec: ClusterSpec) -> Iterator[_Named]:
    """Everything a cloud or Kubernetes names: names, types, regions, images, zones, ids,
    keys, labels, tags, variables, and every string of the provider blocks."""
    yield from _strings(spec.name, "name")
    yield from _strings(spec.region, "region")
    for i, pool in enumerate(spec.node_pools):
        for field in ("name", "instance_types", "ssh_keys", "labels"):
            yield from _strings(getattr(pool, field), _pool_path(i, field))
        for j, taint in enumerate(pool.taints):
            path = join_path(_pool_path(i, "taints"), j)
            yield from _strings(taint.key, join_path(path, "key"))
            yield from _strings(taint.value, join_path(path, "value"))
    if spec.nixos.image_id is not None:
        yield from _strings(spec.nixos.image_id, "nixos.image_id")
    yield from _strings(spec.tags, "tags")
    for key, secret in spec.bootstrap_secrets.items():
        if isinstance(secret, SecretRef):  # a Terraform variable's name
            yield from _strings(secret.var, join_path(join_path("bootstrap_secrets", key), "var"))
    if spec.persistent_state is not None:
        for field in ("kms_key_id", "availability_zone"):
            yield from _strings(getattr(spec.persistent_state, field), join_path("persistent_state", field))
    for block in PROVIDER_BLOCKS:
        yield from _strings(getattr(spec, block), block)


def control_characters(spec: ClusterSpec) -> Iterator[Problem]:
    """No control or invisible formatting character in anything a cloud names."""
    for path, what, text in _cloud_names(spec):
        found = invisible_character(text)
        if found is not None:
            at, kind = found
            yield Problem(
                path,
                f"{what}holds U+{ord(text[at]):04X}, {kind}, at character {at + 1}: clouds and Kubernetes "
                "refuse them in names, types, regions, ids, labels and tags",
            )


def network_cidrs(spec: ClusterSpec) -> Iterator[Problem]:
    net = spec.network
    if net is None:
        return
    blocks = {
        "network.vpc_cidr": net.vpc_cidr,
        "network.subnet_cidr": net.subnet_cidr,
        "network.pod_cidr": net.pod_cidr,
        "network.service_cidr": net.service_cidr,
    }
    bad = False
    for path, block in blocks.items():
        if block is not None:
            error = netaddr.cidr_error(block, ipv4_only=path == "network.vpc_cidr")
            if error:
                bad = True
                yield Problem(path, error)
    if bad:
        return
    if net.subnet_cidr and not netaddr.contains(net.vpc_cidr, net.subnet_cidr):
        yield Problem("network.subnet_cidr", f"{net.subnet_cidr} does not lie inside vpc_cidr {net.vpc_cidr}")
    for path in ("network.pod_cidr", "network.service_cidr"):
        block = blocks[path]
        if block and netaddr.overlaps(block, net.vpc_cidr):
            yield Problem(path, f"{block} overlaps vpc_cidr {net.vpc_cidr}: pod and service traffic would be misrouted")
    if net.pod_cidr and net.service_cidr and netaddr.overlaps(net.pod_cidr, net.service_cidr):
        yield Problem("network.service_cidr", f"{net.service_cidr} overlaps pod_cidr {net.pod_cidr}")


def access_sources(spec: ClusterSpec) -> Iterator[Problem]:
    for field in ("ssh_sources", "api_sources", "http_sources"):
        for i, block in enumerate(getattr(spec.access, field)):
            error = netaddr.cidr_error(block)
            if error:
                yield Problem(join_path(join_path("access", field), i), error)


# where a VPN's clients usually are besides RFC 1918 (shared address space: Tailscale, CGNAT)
_SHARED_ADDRESS_SPACE = "100.64.0.0/10"


def _reachable_from_inside(source: str, vpc_cidr: str) -> bool:
    """Whether ``source`` is inside the cluster's network, or a private range a VPN can
    carry: the only places a private API is reached from."""
    block = netaddr.net(source)
    return (
        netaddr.contains(vpc_cidr, source)
        or netaddr.contains(_SHARED_ADDRESS_SPACE, source)
        or (block.is_private and block.prefixlen > 0)
    )


def private_node_api(spec: ClusterSpec) -> Iterator[Problem]:
    """With private nodes no server has a public address: the API is reached through a
    public balancer, or from inside the network; sources elsewhere would reach nothing.

    >>> from nixk8s.spec import Network, NodePool
    >>> spec = ClusterSpec(name="demo", backend="gcp", region="europe-west3", api_load_balancer="private",
    ...     network=Network(private_nodes=True), node_pools=(NodePool(name="system", instance_types=("e2",)),))
    >>> [p.path for p in private_node_api(spec)]
    ['access.api_sources']
    """
    net = spec.network
    if net is None or not net.private_nodes or spec.api_load_balancer == "public":
        return
    if netaddr.cidr_error(net.vpc_cidr) is not None:
        return
    outside = [s for s in spec.access.api_sources if netaddr.cidr_error(s) is None and not _reachable_from_inside(s, net.vpc_cidr)]
    if outside:
        yield Problem(
            "access.api_sources",
            f"{', '.join(outside)} cannot reach the API: with network.private_nodes no server has a public "
            f"address, and api_load_balancer {spec.api_load_balancer} puts no public balancer in front of them. "
            "Set api_load_balancer: public, or limit api_sources to the network "
            f"({net.vpc_cidr}) or a VPN's private range",
        )


def _required_fields(block: str) -> tuple[str, ...]:
    """The required fields of a provider block's struct (``gcp`` → ``("project",)``)."""
    return tuple(f.encode_name for f in fields_of(cloud_named(block).options) if f.required)


def provider_blocks(spec: ClusterSpec) -> Iterator[Problem]:
    """Only the backend's own provider block; and it where its struct has required fields."""
    for block in PROVIDER_BLOCKS:
        if block != spec.backend and getattr(spec, block) is not None:
            yield Problem(block, f'the "{block}" block is for backend {block}, but backend is {spec.backend}')
    required = _required_fields(spec.backend)
    if required and getattr(spec, spec.backend) is None:
        yield Problem(
            spec.backend,
            f"backend {spec.backend} needs a {spec.backend} block with at least {', '.join(required)}",
        )


def distribution_options(spec: ClusterSpec) -> Iterator[Problem]:
    if spec.distribution == "kubernetes" and spec.nixos.k3s is not None:
        yield Problem("nixos.k3s", "k3s options are for distribution k3s; this cluster runs kubernetes")
    if spec.distribution == "k3s" and spec.nixos.kubernetes is not None:
        yield Problem("nixos.kubernetes", "kubernetes options are for distribution kubernetes; this cluster runs k3s")
    net = spec.network
    chosen = spec.nixos.k3s if spec.distribution == "k3s" else spec.nixos.kubernetes
    if net is None or chosen is None:
        return
    key = "k3s" if spec.distribution == "k3s" else "kubernetes"
    for field, network_value in (("cluster_cidr", net.pod_cidr), ("service_cidr", net.service_cidr)):
        option = getattr(chosen, field)
        if option and network_value and option != network_value:
            yield Problem(
                f"nixos.{key}.{field}",
                f"{option} differs from network.{'pod_cidr' if field == 'cluster_cidr' else field} {network_value}; set one of them",
            )


def gitops(spec: ClusterSpec) -> Iterator[Problem]:
    if spec.gitops_operator == "argocd" and spec.argocd is None:
        yield Problem("argocd", "gitops_operator is argocd but there is no argocd block (repo_url is required)")
    for block in ("fluxcd", "argocd"):
        if getattr(spec, block) is not None and spec.gitops_operator != block:
            yield Problem(block, f"a {block} block is set but gitops_operator is {spec.gitops_operator}")


# Terraform refuses variables with these names ("reserved due to its special meaning").
TERRAFORM_RESERVED_VARIABLE_NAMES = frozenset(
    {"source", "version", "providers", "count", "for_each", "lifecycle", "depends_on", "locals"}
)


def bootstrap_secrets(spec: ClusterSpec) -> Iterator[Problem]:
    for key, secret in spec.bootstrap_secrets.items():
        path = join_path("bootstrap_secrets", key)
        if key not in KINDLING_BOOTSTRAP_KEYS:
            yield Problem(path, "not a bootstrap secret the node writes" + did_you_mean(key, KINDLING_BOOTSTRAP_KEYS))
            continue
        if isinstance(secret, SecretRef):
            if secret.var in TERRAFORM_RESERVED_VARIABLE_NAMES:
                yield Problem(
                    join_path(path, "var"),
                    f'"{secret.var}" is a name Terraform reserves; it refuses a variable called that',
                )
            continue
        if key in ("k3s_server_token", "kubeadm_token") and any(c in secret for c in TOKEN_FORBIDDEN):
            yield Problem(path, "must not contain a double quote, a backslash or a line break: the node pastes it into YAML unescaped")
        elif key == "kubeadm_token" and secret and not re.match(KUBEADM_TOKEN_PATTERN, secret):
            yield Problem(path, "a kubeadm token is 6 and 16 characters of [a-z0-9] joined by a dot")


def one_secret_per_variable(spec: ClusterSpec) -> Iterator[Problem]:
    """A Terraform variable backs exactly one secret (bootstrap secrets and the etcd
    snapshot store's keys alike).

    Agents receive the join credential; a variable that also backed a server-only
    secret (the SOPS age key, say) would put that secret into every worker's
    user_data. Two agent-visible secrets sharing one would leak nothing, but which
    secrets agents see depends on the distribution, so the rule does not.
    """
    first: dict[str, str] = {}
    for path, secret in secret_fields(spec):
        if not isinstance(secret, SecretRef):
            continue
        if secret.var in first:
            yield Problem(
                join_path(path, "var"),
                f'variable "{secret.var}" already backs {first[secret.var]}; '
                "give each secret its own (agents receive the join credential's variable, so sharing "
                "it would hand them the other secret too)",
            )
        else:
            first[secret.var] = path


def join_credential(spec: ClusterSpec) -> Iterator[Problem]:
    """A cluster with joining nodes needs a credential they can join with (with
    ``credentials: generated``, Terraform makes the one the spec leaves out)."""
    joining = spec.control_plane_count > 1 or any(p.desired > 0 or p.max_size > 0 for _, p in spec.worker_pools)
    if not joining or spec.credentials == "generated":
        return
    if not spec_gives_join_credential(spec):
        key = JOIN_CREDENTIAL[spec.distribution]
        yield Problem(
            join_path("bootstrap_secrets", key),
            f"nodes join this cluster, so they need {key} (a literal or {{var: NAME}}) "
            "or nixos.secrets.join_token_path; or leave it to Terraform with credentials: generated",
        )


def generated_authorities(spec: ClusterSpec) -> Iterator[Problem]:
    """With ``credentials: generated`` Terraform makes the distribution's authorities: the
    spec cannot give some of them too (the kubeconfig would trust a CA the servers lack)."""
    if spec.credentials != "generated":
        return
    made = generated_keys(spec.distribution)
    for key, secret in spec.bootstrap_secrets.items():
        if key in made and secret != "":
            yield Problem(
                join_path("bootstrap_secrets", key),
                "credentials: generated makes this for every server (Terraform's tls provider): leave it out, "
                "or set credentials: external and give every authority yourself",
            )


def initialized(spec: ClusterSpec) -> Iterator[Problem]:
    """An initialized cluster needs a server for server 0 to join: two or more servers."""
    if spec.initialized and spec.control_plane_count < 2:
        servers = spec.control_plane_count
        yield Problem(
            "initialized",
            f"a control plane of {servers} server cannot be initialized: server 0 would have no other server "
            "to join, since it holds the cluster's only etcd member (a replaced single server loses the cluster "
            f"either way). Leave initialized false, or grow {_pool_path(spec.system_pool_index, 'min_size')} "
            "to 3 servers first",
        )


def secret_paths(spec: ClusterSpec) -> Iterator[Problem]:
    paths = spec.nixos.secrets
    if paths is None:
        return
    for key, value in paths.extra_paths.items():
        if not value:
            yield Problem(join_path("nixos.secrets.extra_paths", key), "path must not be empty")
    has_age_path = bool(paths.sops_age_key_path or (spec.fluxcd and spec.fluxcd.sops_age_key_file))
    if has_age_path and "age_key_file" in paths.extra_paths:
        yield Problem(
            join_path("nixos.secrets.extra_paths", "age_key_file"),
            "conflicts with sops_age_key_path (the node reads them as one field and refuses both)",
        )


def vpn(spec: ClusterSpec) -> Iterator[Problem]:
    """The node's own VPN gate, run at compile time: a node that fails it never boots."""
    if spec.vpn is None:
        return
    links = spec.vpn.links
    for i, link in enumerate(links):
        path = join_path("vpn.links", i)
        if not re.fullmatch(r"[A-Za-z0-9-]{1,15}", link.name):
            yield Problem(join_path(path, "name"), "1-15 characters of [A-Za-z0-9-]")
        for field in ("private_key_file", "address", "firewall"):
            if getattr(link, field) is None:
                yield Problem(join_path(path, field), "required by the node's VPN check")
        if link.address is not None and not netaddr.is_interface(link.address):
            yield Problem(join_path(path, "address"), f'"{link.address}" is not ADDRESS/PREFIX, e.g. "10.100.0.1/24"')
        if link.listen_port not in (None, 0) and not 1024 <= (link.listen_port or 0) <= 65535:
            yield Problem(join_path(path, "listen_port"), "0 or 1024-65535")
        if not link.peers:
            yield Problem(join_path(path, "peers"), "at least one peer")
        fw = link.firewall
        if fw is not None:
            if link.listen_port and fw.incoming_udp_port is None:
                yield Problem(join_path(join_path(path, "firewall"), "incoming_udp_port"), "required when listen_port is set")
            if link.profile and link.profile.startswith("k8s-"):
                if fw.trust_interface:
                    yield Problem(join_path(join_path(path, "firewall"), "trust_interface"), f"must be false for profile {link.profile}")
                if not (fw.allowed_tcp_ports or fw.allowed_udp_ports):
                    yield Problem(join_path(path, "firewall"), f"profile {link.profile} needs allowed_tcp_ports or allowed_udp_ports")
        keys = Counter(peer.public_key for peer in link.peers)
        for key, n in keys.items():
            if n > 1:
                yield Problem(join_path(path, "peers"), f"public key {key} is used by {n} peers; the node refuses a link with duplicates")
        for j, peer in enumerate(link.peers):
            ppath = join_path(join_path(path, "peers"), j)
            if not re.fullmatch(r"[A-Za-z0-9+/]{43}=", peer.public_key):
                yield Problem(join_path(ppath, "public_key"), "not a WireGuard public key (44 characters of base64)")
            if peer.preshared_key_file is None:
                yield Problem(join_path(ppath, "preshared_key_file"), "required by the node's VPN check")
            if not peer.allowed_ips:
                yield Problem(join_path(ppath, "allowed_ips"), "at least one CIDR")
            for k, block in enumerate(peer.allowed_ips):
                error = netaddr.cidr_error(block.strip())
                if error:
                    yield Problem(join_path(join_path(ppath, "allowed_ips"), k), error)
                elif netaddr.net(block.strip()).prefixlen == 0:
                    yield Problem(join_path(join_path(ppath, "allowed_ips"), k), "a full tunnel (/0) is refused by the node")
            if peer.endpoint is not None and not re.fullmatch(r"(\[.+\]|[^:\[\]]+):\d{1,5}", peer.endpoint):
                yield Problem(join_path(ppath, "endpoint"), "expected HOST:PORT or [IPv6]:PORT")
            elif peer.endpoint is not None and not 1 <= int(peer.endpoint.rsplit(":", 1)[1]) <= 65535:
                yield Problem(join_path(ppath, "endpoint"), "port must be 1-65535")
    for field in ("name", "listen_port", "address"):
        values = [getattr(l, field) for l in links if getattr(l, field)]
        for value, n in Counter(values).items():
            if n > 1:
                yield Problem("vpn.links", f"{field} {value!r} is used by {n} links; each link needs its own")


# robfig/cron's standard parser, which k3s uses: five fields or a descriptor, after an optional zone
_CRON = re.compile(
    r"^((CRON_)?TZ=\S+ +)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every +\S+|"
    r"[0-9A-Za-z*/,?-]+( +[0-9A-Za-z*/,?-]+){4})$"
)


def etcd_snapshots(spec: ClusterSpec) -> Iterator[Problem]:
    """k3s only; keys both or neither (neither: the cloud's own bucket); a store of your
    own names its bucket; the keys are printable ASCII (they go into YAML)."""
    snapshots = spec.etcd_snapshots
    if snapshots is None:
        return
    if spec.distribution != "k3s":
        yield Problem(
            "etcd_snapshots",
            "etcd snapshots are set through k3s (etcd-snapshot-*); kubeadm's etcd takes none from "
            "nixk8s: remove the block, or use distribution k3s",
        )
        return
    if not _CRON.match(snapshots.schedule.strip()):
        yield Problem(
            "etcd_snapshots.schedule",
            f"{snapshots.schedule!r} is not a cron schedule: five fields (minute hour day month weekday, "
            "e.g. \"0 */6 * * *\") or a descriptor such as @daily",
        )
    s3 = snapshots.s3
    if s3 is None:
        return
    given = {field: getattr(s3, field) for field in ("access_key", "secret_key")}
    if s3.has_keys:
        for field, secret in given.items():
            if secret is None:
                yield Problem(
                    f"etcd_snapshots.s3.{field}",
                    "give access_key and secret_key together (or neither, for a bucket the cloud makes)",
                )
        if not s3.bucket:
            yield Problem("etcd_snapshots.s3.bucket", "required with access keys: the bucket they may write")
    else:
        for field in ("endpoint", "bucket"):
            if getattr(s3, field) is not None:
                yield Problem(
                    f"etcd_snapshots.s3.{field}",
                    "without access_key and secret_key nixk8s makes the bucket itself (where the cloud "
                    "can): give the keys to use a store of your own",
                )
    for path, secret in etcd_snapshot_secrets(spec).items():
        if isinstance(secret, SecretRef):
            if secret.var in TERRAFORM_RESERVED_VARIABLE_NAMES:
                yield Problem(join_path(path, "var"), f'"{secret.var}" is a name Terraform reserves')
        elif not secret or not secret.isascii() or not secret.isprintable():
            yield Problem(path, "an S3 key is a non-empty string of printable ASCII characters")


def k3s_extra_flags(spec: ClusterSpec) -> Iterator[Problem]:
    """``extra_flags`` reach k3s as keys of its drop-in: each must read as a flag, and
    none may set what kindling writes or what a field of the spec sets."""
    options = spec.nixos.k3s
    if spec.distribution != "k3s" or options is None or not options.extra_flags:
        return
    flags, unreadable = parsed_flags(options.extra_flags)
    for problem in unreadable:
        yield Problem(join_path("nixos.k3s.extra_flags", problem.index), problem.message)
    for flag in flags:
        why = owned_by(flag.key)
        if why is not None:
            yield Problem(join_path("nixos.k3s.extra_flags", flag.index), f"--{flag.key}: {why}; not a flag to pass here")


def kubelet_node_labels(spec: ClusterSpec) -> Iterator[Problem]:
    """k3s hands every node label to kubelet (through the drop-in), which refuses to
    start with one it may not set itself."""
    if spec.distribution != "k3s":
        return
    options = spec.nixos.k3s
    labels = [(join_path("nixos.k3s.node_labels", k), k) for k in (options.node_labels or {})] if options else []
    labels += [(join_path(_pool_path(i, "labels"), k), k) for i, p in enumerate(spec.node_pools) for k in p.labels]
    for path, key in labels:
        error = kubelet_label_error(key)
        if error:
            yield Problem(path, error)


def one_name_per_server(spec: ClusterSpec) -> Iterator[Problem]:
    """k3s reads node_name and node_ip from the servers' drop-in: with more than one
    server, every one of them would take the same name (k3s refuses the second) or address."""
    options = spec.nixos.k3s
    if spec.distribution != "k3s" or options is None or spec.control_plane_count < 2:
        return
    for field in ("node_name", "node_ip"):
        if getattr(options, field):
            yield Problem(
                f"nixos.k3s.{field}",
                f"every one of the {spec.control_plane_count} servers would take this {field.replace('_', ' ')}: "
                "leave it out (kindling names each node CLUSTER-ROLE-INDEX, and k3s finds its address)",
            )


RULES: tuple[Rule, ...] = (
    cluster_size,
    repeated_on_every_machine,
    control_characters,
    node_pool_sizes,
    node_pool_names,
    agent_index_blocks,
    node_labels_and_taints,
    network_cidrs,
    access_sources,
    private_node_api,
    provider_blocks,
    distribution_options,
    gitops,
    bootstrap_secrets,
    one_secret_per_variable,
    etcd_snapshots,
    k3s_extra_flags,
    kubelet_node_labels,
    one_name_per_server,
    join_credential,
    generated_authorities,
    initialized,
    secret_paths,
    vpn,
)


def spec_problems(spec: ClusterSpec) -> list[Problem]:
    """Every semantic problem of a well-typed spec."""
    return list(chain.from_iterable(rule(spec) for rule in RULES))
