"""What an apply would do to the cluster, beyond its resources: the hazards ``nixk8s diff`` names.

The classifier (:mod:`~nixk8s.document_diff.classify`) says what happens to each
resource. A hazard is what follows for the cluster, with one line on what to do
instead; the :class:`~nixk8s.document_diff.records.Diff` carries them, and each makes
``diff`` exit 4:

- **quorum loss**: the apply replaces or destroys more than ⌊(n−1)/2⌋ of the n
  servers at once, and etcd, which needs a majority of its members, stops;
- **a new cluster**: server 0 is replaced while its new config still says
  ``cluster_init`` (the spec is not ``initialized``): it forms a new, empty cluster;
- **not applied**: a machine's cluster-config changes but the machine keeps running
  (Terraform ignores its user_data, or updates metadata or a template that a running
  machine never reads again): a machine writes its config at first boot only.

The nodes come from the documents themselves (:func:`node_machines`): every resource
whose user_data holds a cluster-config, with its role, index and ``cluster_init``, and
the resource that runs it: itself where it is a machine or a group of machines, else
(a launch template, an instance template) the machines and groups that read it. So no
cloud is named here, and a document nixk8s did not write gets the same reading.

The hazards take the classified changes as data (:class:`Changed`, built from each
:class:`~nixk8s.document_diff.records.ResourceChange`), apart from the classifier.

>>> q = quorum_loss({i: NodeMachine(f"m.cp_{i}", f"m.cp_{i}", "server", i, i == 0) for i in range(3)},
...     {"m.cp_1": True, "m.cp_2": True})
>>> q.kind, q.machines
('quorum-loss', ('m.cp_1', 'm.cp_2'))
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

import nixk8s.document_diff.replacement as replacement
from nixk8s.document_diff.records import Hazard, ResourceChange
from nixk8s.document_diff.rules import Role
from nixk8s.document_diff.tfdoc import Body, TfDocument, mapping
from nixk8s.document_diff.user_data import embedded_config, machine_view

# where a resource body holds a machine's user_data (GCP's is under metadata)
USER_DATA_PATHS: tuple[tuple[str, ...], ...] = (("user_data",), ("custom_data",), ("metadata", "user-data"))
# cluster-config keys a running node no longer needs: they say how it first joins
FIRST_BOOT_KEYS = frozenset({"cluster_init", "join_server"})
MACHINE_ROLES: frozenset[Role] = frozenset({"machine", "owns-machines"})


class NodeMachine(msgspec.Struct, frozen=True):
    """A node as a document shows it: the resource that runs it (a machine, or a group
    of machines), the resource whose user_data holds its config, and from the config its
    role, index (None: read at boot) and whether it initialises the cluster."""

    address: str
    holder: str
    role: str
    index: int | None
    cluster_init: bool
    group: bool = False


class Changed(msgspec.Struct, frozen=True):
    """What the hazards need to know of one resource's classified change."""

    replaces_machines: bool  # the apply replaces or destroys the machines it is or runs
    added: bool  # only in NEW
    removed: bool  # only in OLD
    config_keys: tuple[str, ...] = ()  # the top-level cluster-config keys its user_data changes


def _top_key(path: str) -> str:
    """The top-level key of a cluster-config path (``k3s.node_labels.gpu`` → ``k3s``)."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def changed(change: ResourceChange) -> Changed:
    """The hazards' view of one classified resource change."""
    keys = {_top_key(c.path) for a in change.attributes for c in a.config}
    return Changed(
        replaces_machines=change.replaces_machines,
        added=change.action == "added",
        removed=change.action == "removed",
        config_keys=tuple(sorted(keys)),
    )


# --- the nodes of a document ----------------------------------------------------------------


def _user_data(body: Body) -> str | None:
    for path in USER_DATA_PATHS:
        value: Any = body
        for key in path:
            value = mapping(value).get(key)
        if isinstance(value, str):
            return value
    return None


def _role(kind: str) -> Role:
    return replacement.role_of(replacement.rule_for(kind))


def _runners(doc: TfDocument) -> dict[str, tuple[str, ...]]:
    """For each resource, the machines and groups that read it (a template's groups)."""
    found: dict[str, list[str]] = {}
    for address, (kind, _) in sorted(doc.resources.items()):
        if _role(kind) in MACHINE_ROLES:
            for target in sorted({r.target for reading in doc.readings.get(address, ()) for r in reading.refs}):
                found.setdefault(target, []).append(address)
    return {target: tuple(addresses) for target, addresses in found.items()}


def node_machines(doc: TfDocument) -> tuple[NodeMachine, ...]:
    """Every node of a document: each resource whose user_data holds a cluster-config,
    run by itself where it is a machine or a group, else by those that read it."""
    runners: dict[str, tuple[str, ...]] | None = None
    found = []
    for holder, (kind, body) in sorted(doc.resources.items()):
        text = _user_data(body)
        if text is None:
            continue
        config = embedded_config(machine_view(text, doc.locals)).config
        if not isinstance(config, dict):
            continue
        if _role(kind) in MACHINE_ROLES:
            machines: tuple[str, ...] = (holder,)
        else:
            runners = _runners(doc) if runners is None else runners
            machines = runners.get(holder, ())
        index = config.get("node_index")
        found += [
            NodeMachine(
                address=machine,
                holder=holder,
                role=str(config.get("role", "")),
                index=index if isinstance(index, int) and not isinstance(index, bool) else None,
                cluster_init=config.get("cluster_init") is True,
                group=_role(doc.resources[machine][0]) == "owns-machines",
            )
            for machine in machines
        ]
    return tuple(found)


def servers(nodes: Iterable[NodeMachine]) -> dict[int, NodeMachine]:
    """The control plane by index (the first machine of each index)."""
    found: dict[int, NodeMachine] = {}
    for node in nodes:
        if node.role == "server" and node.index is not None:
            found.setdefault(node.index, node)
    return found


# --- the hazards -----------------------------------------------------------------------------


def _listed(addresses: tuple[str, ...]) -> str:
    """``a``, ``a and b``, ``a, b and c``.

    >>> _listed(("a",)), _listed(("a", "b", "c"))
    ('a', 'a, b and c')
    """
    return addresses[0] if len(addresses) == 1 else f"{', '.join(addresses[:-1])} and {addresses[-1]}"


def _natural(address: str) -> tuple[Any, ...]:
    """An address as a sort key that puts ``x_2`` before ``x_10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", address))


def quorum_loss(before: Mapping[int, NodeMachine], lost_machines: Mapping[str, bool]) -> Hazard | None:
    """More than ⌊(n−1)/2⌋ of the n servers replaced or destroyed in one apply.

    ``lost_machines``: per address, whether the apply replaces or destroys its machines.
    """
    n = len(before)
    lost = tuple(s.address for _, s in sorted(before.items()) if lost_machines.get(s.address))
    tolerated = (n - 1) // 2
    if not lost or len(lost) <= tolerated:
        return None
    what = (
        f"etcd loses quorum: this apply replaces or destroys {len(lost)} of {n} servers at once "
        f"({_listed(lost)}); etcd stops unless {n // 2 + 1} of its {n} members run"
        + (f", so {n} servers lose at most {tolerated} at a time" if tolerated else "")
    )
    if n == 1:
        instead = (
            "a single server cannot be replaced without losing etcd: back it up and restore it on the new one "
            "(or keep it with persistent_state), or grow to three servers, set initialized: true, then replace "
            "them one at a time"
        )
    else:
        targets = ", then ".join(f"-target={address}" for address in lost)
        instead = (
            f"one server per apply, each rejoined before the next: terraform apply {targets} "
            "(a destroyed one leaves etcd first), then a full apply"
        )
    return Hazard("quorum-loss", lost, what, instead)


def new_cluster(
    before: Mapping[int, NodeMachine], after: Mapping[int, NodeMachine], lost_machines: Mapping[str, bool]
) -> Hazard | None:
    """Server 0 replaced while its new config still initialises the cluster."""
    old, new = before.get(0), after.get(0)
    if old is None or new is None or old.address != new.address or not new.cluster_init:
        return None
    if not lost_machines.get(new.address):
        return None
    what = (
        f"replacing server 0 ({new.address}) forms a new, empty cluster: its new config still says cluster_init "
        "(the spec is not initialized), so it initialises a cluster of its own instead of joining the others"
    )
    instead = "set initialized: true in the spec first (server 0 then joins the other servers), compile and diff again"
    return Hazard("new-cluster", (new.address,), what, instead)


def not_applied(after: Iterable[NodeMachine], changes: Mapping[str, Changed]) -> Hazard | None:
    """Machines that keep running while their cluster-config changes in a key a running
    node needs (not only how it first joins)."""
    kept: dict[str, NodeMachine] = {}
    for node in after:
        holder, machine = changes.get(node.holder), changes.get(node.address)
        if holder is None or holder.added or holder.removed:
            continue
        if not set(holder.config_keys) - FIRST_BOOT_KEYS:
            continue
        if machine is not None and (machine.replaces_machines or machine.added):
            continue
        kept.setdefault(node.address, node)
    if not kept:
        return None
    ordered = sorted(kept.values(), key=lambda n: (n.role != "server", n.index or 0, _natural(n.address)))
    machines = tuple(n.address for n in ordered)
    one = len(machines) == 1
    what = (
        f"{_listed(machines)} {'keeps its' if one else 'keep their'} old cluster-config: a machine writes it at "
        "first boot only, and Terraform ignores the change or puts it where a running machine never reads it again"
    )
    target = f"-replace={machines[0]}" if one else "-replace=ADDRESS, one machine per apply"
    groups = "; a group's machines: its cloud's rolling replacement" if any(n.group for n in ordered) else ""
    servers_last = "; servers one at a time, after initialized: true" if any(n.role == "server" for n in ordered) else ""
    instead = (
        f"roll {'it' if one else 'them'}: reconfigure through the flake and GitOps, or replace "
        f"(terraform apply {target}){groups}{servers_last}"
    )
    return Hazard("not-applied", machines, what, instead)


def hazards(old: TfDocument, new: TfDocument, resources: tuple[ResourceChange, ...]) -> tuple[Hazard, ...]:
    """The hazards of applying NEW over OLD, given what happens to each changed resource."""
    changes = {c.address: changed(c) for c in resources}
    if not changes:
        return ()
    before, after = node_machines(old), node_machines(new)
    old_servers, new_servers = servers(before), servers(after)
    lost = {address: c.replaces_machines for address, c in changes.items()}
    found = (
        quorum_loss(old_servers, lost),
        new_cluster(old_servers, new_servers, lost),
        not_applied(after, changes),
    )
    return tuple(h for h in found if h is not None)
