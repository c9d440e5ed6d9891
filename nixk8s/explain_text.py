"""``nixk8s explain``: what a compiled spec builds, for a reviewer, in text.

Nodes and their roles, addresses and join targets; the API load balancer, spread
groups and who owns each pool's size; open ports and who may reach them; which
secrets go to which nodes; and the backend's notes on what to know before applying.
It renders an :class:`~nixk8s.explanation.Explanation`, as the JSON and mermaid
formats do (:mod:`nixk8s.explanation`, :mod:`nixk8s.mermaid`).
"""

from __future__ import annotations

from nixk8s.compiler import Compiled
from nixk8s.explanation import Explanation, Node, Pool, Secret, explanation
from nixk8s.terminal import printable_fields


def _node_line(node: Node) -> str:
    label = "server" if node.role == "server" else "agent"
    index = "from instance metadata" if node.index is None else str(node.index)
    action = "initialises the cluster" if node.cluster_init else f"joins {node.join or '-'}"
    address = node.private_ip or node.public_ip
    where = f" at {address}" if address is not None else ""
    return f"  {label:<8} index {index:<24} {node.resource}{where}; {action}"


def _pool_line(pool: Pool) -> str:
    owner = f"; size owned by {pool.size_owner}" if pool.size_owner else ""
    return (
        f"  pool {pool.name}: {pool.instance_type}, min {pool.min_size} / desired {pool.desired_size} / "
        f"max {pool.max_size}{owner}"
    )


def _secret_names(secrets: list[Secret]) -> str:
    if not secrets:
        return "none"
    return ", ".join(f"{s.key} (var.{s.variable})" if s.variable else f"{s.key} (literal)" for s in secrets)


SHOWN_NAMES = 6


def _names(names: tuple[str, ...]) -> str:
    """Node names for a line: a few, then how many more (a pool may have thousands)."""
    if len(names) <= SHOWN_NAMES:
        return ", ".join(names) or "no node"
    return f"{', '.join(names[: SHOWN_NAMES - 1])}, ... and {len(names) - SHOWN_NAMES + 1:,} more"


def _topology(e: Explanation) -> list[str]:
    """The balancer and the spread groups, where the cluster has them."""
    lines: list[str] = []
    b = e.balancer
    if b is not None:
        public = f", public {b.public_address}" if b.public_address else ""
        lines += [
            "",
            f"API load balancer ({b.kind}): {b.resource} at {b.private_address}{public}",
            f"  in front of {_names(b.targets)}",
            f"  joined through by {_names(b.joiners)}",
        ]
    if e.placement_groups:
        lines += ["", "spread groups:"]
        lines += [f"  {g.resource}: {_names(g.members)}" for g in e.placement_groups]
    return lines


def render_text(e: Explanation) -> str:
    e = printable_fields(e)  # every string the spec chose, made visible (terminal.py)
    c = e.cluster
    lines = [
        f"cluster {c.name}: {c.distribution} {c.kubernetes_version} (track {c.track}), "
        f"profile {c.profile}, on {c.backend_title} in {c.region}",
        f"user_data format: {c.user_data_format}; the largest is up to {c.largest_user_data:,} bytes "
        f"({c.user_data_limit_text})",
        f"day two: {c.day_two}",
        "",
        "nodes:",
    ]
    for pool in e.pools:
        members = [n for n in e.nodes if n.pool == pool.name and (n.role == "server") == (pool.role == "control-plane")]
        if pool.role == "worker":
            lines.append(_pool_line(pool))
        lines += [_node_line(n) for n in members]
    lines += _topology(e)
    r = e.reach
    lines += [
        "",
        f"nodes {'without public addresses' if r.private_nodes else 'with public addresses'}:",
        f"  egress: {r.egress}",
        f"  to reach a node: {r.node_access}",
    ]
    lines += ["", "open ports (inbound):"]
    for port in e.ports:
        who = ", ".join(port.sources) if port.sources else "nobody (closed)"
        shown = f"{port.port}/{port.protocol}" if port.port else port.protocol
        lines.append(f"  {shown:<16} {port.description:<24} from {who}")
    to_servers = [s for s in e.secrets if "server" in s.roles]
    to_agents = [s for s in e.secrets if "agent" in s.roles]
    lines += [
        "",
        "secrets:",
        f"  servers: bootstrap {_secret_names(to_servers)}",
        f"           paths {', '.join(f'{p.key}={p.path}' for p in e.secret_paths) or 'none'}",
        f"  agents:  bootstrap {_secret_names(to_agents)}; no paths, no GitOps, no VPN",
    ]
    if e.variables:
        lines += ["", "terraform variables (sensitive; set each with TF_VAR_NAME or a -var-file):"]
        lines += [
            f"  {v.name:<24} {v.secret}; at most {v.max_length:,} characters once JSON-escaped (max_length raises it)"
            for v in e.variables
        ]
    lines += ["", "outputs (terraform output NAME):"]
    lines += [f"  {o.name:<24} {o.description}{' (sensitive)' if o.sensitive else ''}" for o in e.outputs]
    if e.notes:
        lines += ["", "notes:"] + [f"  - {note}" for note in e.notes]
    return "\n".join(lines) + "\n"


def explain(compiled: Compiled) -> str:
    """The text form of :func:`~nixk8s.explanation.explanation`."""
    return render_text(explanation(compiled))
