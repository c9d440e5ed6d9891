"""``nixk8s explain``: what a compiled spec builds, for a reviewer.

Nodes and their roles, addresses and join targets; open ports and who may reach
them; which secrets go to which nodes; and the backend's notes on what to know
before applying.
"""

from __future__ import annotations

from typing import Any

from nixk8s.backends import backend_for
from nixk8s.backends.base import RenderedNode
from nixk8s.compiler import Compiled
from nixk8s.secrets import agent_bootstrap_secrets, secret_paths, server_bootstrap_secrets
from nixk8s.spec import SecretRef
from nixk8s.terraform import Expr, Text


def _text(value: Text | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, Expr):
        return "${" + value.text + "}"
    return "".join(p if isinstance(p, str) else "${" + p.text + "}" for p in value.parts)


def _secret_names(secrets: dict[str, Any]) -> str:
    if not secrets:
        return "none"
    return ", ".join(
        f"{k} (var.{v.var})" if isinstance(v, SecretRef) else f"{k} (literal)" for k, v in secrets.items()
    )


def _node_line(label: str, node: RenderedNode, resource: str, address: Text | None) -> str:
    config = node.config
    index = "from instance metadata" if config.node_index is None else str(config.node_index)
    action = "initialises the cluster" if config.cluster_init else f"joins {_text(config.join_server)}"
    where = f" at {_text(address)}" if address is not None else ""
    return f"  {label:<8} index {index:<24} {resource}{where}; {action}"


def explain(compiled: Compiled) -> str:
    plan, built = compiled.plan, compiled.built
    spec = plan.spec
    backend = backend_for(spec.backend)
    assert backend is not None
    lines = [
        f"cluster {spec.name}: {spec.distribution} {spec.kubernetes_version} (track {spec.track}), "
        f"profile {spec.profile}, on {backend.title} in {spec.region}",
        f"user_data format: {plan.user_data_format}",
        "",
        "nodes:",
    ]
    for node in built.control_plane:
        d = backend.describe_node(plan, built.infra, node, spec.system_pool)
        lines.append(_node_line("server", node, d.resource, d.address))
    for pool in built.workers:
        lines.append(f"  pool {pool.pool.name}: {pool.pool.instance_type}, min {pool.pool.min_size} / "
                     f"desired {pool.pool.desired} / max {pool.pool.max_size}")
        for node in pool.nodes:
            d = backend.describe_node(plan, built.infra, node, pool.pool)
            lines.append(_node_line("agent", node, d.resource, d.address))
    lines += ["", "open ports (inbound):"]
    for rule in plan.ports:
        allowed = backend.port_sources(plan, built.infra, rule)
        who = ", ".join(_text(a) for a in allowed) if allowed else "nobody (closed)"
        lines.append(f"  {rule.port_range + '/' + rule.protocol:<16} {rule.description:<24} from {who}")
    paths = secret_paths(spec)
    lines += [
        "",
        "secrets:",
        f"  servers: bootstrap {_secret_names(server_bootstrap_secrets(spec))}",
        f"           paths {', '.join(f'{k}={v}' for k, v in paths.items()) or 'none'}",
        f"  agents:  bootstrap {_secret_names(agent_bootstrap_secrets(spec))}; no paths, no GitOps, no VPN",
    ]
    if plan.variables:
        lines.append("  terraform variables (sensitive): " + ", ".join(v.name for v in plan.variables))
    if built.notes:
        lines += ["", "notes:"] + [f"  - {note}" for note in built.notes]
    return "\n".join(lines) + "\n"

