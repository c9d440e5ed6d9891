"""``nixk8s explain --format mermaid``: the cluster's topology as a mermaid flowchart.

The picture GitHub renders in a ```` ```mermaid ```` block: the internet through the
firewall (one edge per open public port), the network, the API load balancer with the
servers behind it and who joins through it, the control plane, each worker pool, and
the secret flow (which bootstrap secret, given how, reaches which pools; which generated
authority reaches which pools and signs the kubeconfig output; GitOps pulled
by the servers only). It renders an :class:`~nixk8s.explanation.Explanation`.

Node ids are generated (``[A-Za-z0-9_]``, a kind prefix, unique), never taken from the
spec, so no name can break the syntax or collide with a mermaid keyword (``end``);
labels are quoted with mermaid's entity codes for the characters that would end them.
Large pools show their first machines and a count, so the picture stays readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nixk8s.explanation import Explanation, Node, Pool
from nixk8s.terminal import printable_fields

SHOWN_MACHINES = 3
_ENTITIES = (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;"), ("|", "#124;"))


def label(*lines: str) -> str:
    """A quoted label: each line escaped, joined by mermaid's line break.

    >>> label('say "hi"', "a<b")
    '"say #quot;hi#quot;<br/>a#lt;b"'
    """
    escaped = []
    for line in lines:
        for raw, entity in _ENTITIES:
            line = line.replace(raw, entity)
        escaped.append(line)
    return '"' + "<br/>".join(escaped) + '"'


class _Ids:
    """Safe, unique node ids: a kind prefix and the name's word characters."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], str] = {}
        self.taken: set[str] = set()

    def __call__(self, kind: str, name: str) -> str:
        key = (kind, name)
        if key not in self.by_key:
            base = f"{kind}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"[:60]
            candidate, n = base, 1
            while candidate in self.taken:
                n += 1
                candidate = f"{base}_{n}"
            self.taken.add(candidate)
            self.by_key[key] = candidate
        return self.by_key[key]


def _machine(node: Node) -> str:
    if node.template:
        return label(f"{node.name} (template)", f"index from {node.index_source}", node.resource)
    role = f"server {node.index}" + (" · cluster_init" if node.cluster_init else "")
    if node.role == "agent":
        role = f"agent {node.index}"
    address = node.private_ip or node.public_ip
    return label(node.name, role, *([address] if address else []))


def _pool_title(pool: Pool, groups: Iterable[str]) -> str:
    size = f"{pool.min_size}..{pool.max_size}" if pool.role == "worker" else str(pool.desired_size)
    kind = "control plane" if pool.role == "control-plane" else "pool"
    lines = [f"{kind} {pool.name}: {pool.instance_type} × {size}"]
    if pool.size_owner:
        lines.append(f"size: {pool.size_owner}")
    spread = sorted(set(groups))
    if spread:
        lines.append("spread: " + ", ".join(g.split(".", 1)[-1] for g in spread))
    return label(*lines)


def _pool_block(ids: _Ids, pool: Pool, nodes: list[Node]) -> list[str]:
    pid = ids("pool", pool.name)
    out = [f"    subgraph {pid}[{_pool_title(pool, (n.spread_group for n in nodes if n.spread_group))}]"]
    shown = nodes if len(nodes) <= SHOWN_MACHINES + 1 else nodes[:SHOWN_MACHINES]
    out += [f"      {ids('node', n.name)}[{_machine(n)}]" for n in shown]
    if len(shown) < len(nodes):
        out.append(f"      {ids('more', pool.name)}[{label(f'... and {len(nodes) - len(shown):,} more')}]")
    if not nodes:
        out.append(f"      {ids('empty', pool.name)}[{label('no machine yet')}]")
    out.append("    end")
    return out


def _generated_credentials(ids: _Ids, e: Explanation, lines: list[str]) -> list[str]:
    """What Terraform generates (``credentials: generated``): each authority and the join
    credential with an edge to the pools that receive it, and the kubeconfig output."""
    c = e.credentials
    if c.mode != "generated":
        return []
    edges: list[str] = []

    def pools_of(names: tuple[str, ...]) -> list[str]:
        return sorted({n.pool for n in e.nodes if n.name in set(names)})

    for authority in c.authorities:
        aid = ids("authority", authority.title)
        lines.append(f"  {aid}[/{label(authority.title, f'{authority.algorithm}, generated', authority.resource)}/]")
        edges += [f"  {aid} -.-> {ids('pool', p)}" for p in pools_of(authority.nodes)]
    join = next((s for s in e.secrets if s.key == c.join_key and s.given == "generated"), None)
    if join is not None:
        jid = ids("secret", join.key)
        lines.append(f"  {jid}[/{label(join.key, 'generated', *c.join_resources)}/]")
        edges += [f"  {jid} -.-> {ids('pool', p)}" for p in pools_of(join.nodes)]
    out = ids("x", "kubeconfig")
    lines.append(f"  {out}[{label('output kubeconfig (sensitive)', 'admin, O=system:masters')}]")
    signer = next((a for a in c.authorities if a.title == c.admin_signed_by), None)
    if signer is not None:
        edges.append(f"  {ids('authority', signer.title)} -->|{label('signs the admin certificate')}| {out}")
    return edges


def render_mermaid(e: Explanation) -> str:
    e = printable_fields(e)  # every string the spec chose, made visible (terminal.py), before the labels quote it
    ids = _Ids()
    c = e.cluster
    lines = [
        "flowchart TB",
        f"  {ids('x', 'internet')}(({label('internet')}))",
        f"  {ids('x', 'firewall')}{{{{{label(f'{c.backend_title} firewall')}}}}}",
    ]
    network = f"network {c.network}" if c.network else "no private network"
    lines.append(f"  subgraph {ids('x', 'network')}[{label(f'{c.name} · {network} · {c.region}')}]")
    if e.balancer is not None:
        b = e.balancer
        where = [b.private_address] + ([f"public {b.public_address}"] if b.public_address else [])
        lines.append(f"    {ids('x', 'balancer')}[[{label(f'API load balancer ({b.kind})', *where, b.resource)}]]")
    members = {pool.name: [n for n in e.nodes if n.pool == pool.name] for pool in e.pools}
    for pool in e.pools:
        lines += _pool_block(ids, pool, members[pool.name])
    if e.reach.egress_resources:
        lines.append(f"    {ids('x', 'egress')}[/{label('egress (NAT)', *e.reach.egress_resources)}/]")
    lines.append("  end")

    edges: list[str] = []
    internet, firewall = ids("x", "internet"), ids("x", "firewall")
    for port in e.ports:
        # the cluster's own network is inside the picture, not on the internet
        outside = [s for s in port.sources if s != c.network]
        if port.audience != "private" and outside:
            shown = f"{port.port}/{port.protocol}" if port.port else port.protocol
            edges.append(f"  {internet} -->|{label(f'{shown} {port.description}: ' + ', '.join(outside))}| {firewall}")
    edges += [f"  {firewall} --> {ids('pool', pool.name)}" for pool in e.pools]

    if e.reach.egress_resources:
        nat = ids("x", "egress")
        edges += [f"  {ids('pool', pool.name)} -.->|{label('egress')}| {nat}" for pool in e.pools]
        edges.append(f"  {nat} --> {internet}")

    server_0 = next((n for n in e.nodes if n.role == "server" and n.index == 0), None)
    if e.balancer is not None:
        lb = ids("x", "balancer")
        edges += [
            f"  {lb} -->|{label('6443')}| {ids('node', t)}" for t in e.balancer.targets if ids.by_key.get(("node", t))
        ]
        joining_pools = sorted({n.pool for n in e.nodes if n.joins_through_balancer and n.role == "agent"})
        edges += [f"  {ids('pool', p)} -.->|{label('joins')}| {lb}" for p in joining_pools]
        edges += [
            f"  {ids('node', n.name)} -.->|{label('joins')}| {lb}"
            for n in e.nodes
            if n.joins_through_balancer and n.role == "server"
        ]
    elif server_0 is not None:
        edges += [
            f"  {ids('pool', p.name)} -.->|{label('joins')}| {ids('node', server_0.name)}"
            for p in e.pools
            if p.role == "worker" and members[p.name]
        ]

    edges += _generated_credentials(ids, e, lines)
    for secret in e.secrets:
        if secret.given == "generated":
            continue  # drawn as the authorities above
        sid = ids("secret", secret.key)
        given = f"var.{secret.variable} (sensitive)" if secret.variable else "literal in the spec"
        lines.append(f"  {sid}[/{label(secret.key, given)}/]")
        receiving = sorted({n.pool for n in e.nodes if secret.key in n.bootstrap_secrets})
        edges += [f"  {sid} -.-> {ids('pool', p)}" for p in receiving]
    gitops = sorted({(n.gitops, n.pool) for n in e.nodes if n.gitops})
    for operator in sorted({operator for operator, _ in gitops}):
        lines.append(f"  {ids('x', operator)}[({label(f'{operator} (GitOps repository)')})]")
    edges += [f"  {ids('pool', pool)} -.->|{label('pulls')}| {ids('x', operator)}" for operator, pool in gitops]
    return "\n".join(lines + edges) + "\n"
