"""``nixk8s explain``: what a compiled spec builds, for a reviewer.

Nodes and their roles, addresses and join targets; open ports and who may reach
them; which secrets go to which nodes; and the backend's notes on what to know
before applying.
"""

from __future__ import annotations

from typing import Any

from nixk8s.backends import backend_for
from nixk8s.backends.base import NodeHandle, RenderedNode, machine_handles
from nixk8s.compiler import Compiled
from nixk8s.secrets import agent_bootstrap_secrets, secret_budget, secret_paths, server_bootstrap_secrets
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


def _node_line(label: str, node: RenderedNode, handle: NodeHandle) -> str:
    config = node.config
    index = "from instance metadata" if config.node_index is None else str(config.node_index)
    action = "initialises the cluster" if config.cluster_init else f"joins {_text(config.join_server)}"
    address = handle.private_ip or handle.public_ip
    where = f" at {_text(address)}" if address is not None else ""
    return f"  {label:<8} index {index:<24} {handle.resource}{where}; {action}"


def _largest_user_data(compiled: Compiled) -> int:
    """The bound on the largest user_data of any node, secrets by reference at their budget."""
    built = compiled.built
    nodes = [*built.control_plane, *(n for pool in built.workers for n in pool.machine_nodes())]
    return max(n.user_data.max_len() for n in nodes)


def explain(compiled: Compiled) -> str:
    plan, built = compiled.plan, compiled.built
    spec = plan.spec
    backend = backend_for(spec.backend)
    assert backend is not None
    lines = [
        f"cluster {spec.name}: {spec.distribution} {spec.kubernetes_version} (track {spec.track}), "
        f"profile {spec.profile}, on {backend.title} in {spec.region}",
        f"user_data format: {plan.user_data_format}; the largest is up to {_largest_user_data(compiled):,} bytes "
        f"({backend.user_data_limit.what})",
        "",
        "nodes:",
    ]
    for node, handle in zip(built.control_plane, built.server_handles):
        lines.append(_node_line("server", node, handle))
    for pool, handles in zip(built.workers, built.worker_handles):
        lines.append(f"  pool {pool.pool.name}: {pool.pool.instance_type}, min {pool.pool.min_size} / "
                     f"desired {pool.pool.desired} / max {pool.pool.max_size}")
        for node, handle in zip(pool.machine_nodes(), machine_handles(pool, handles)):
            lines.append(_node_line("agent", node, handle))
    lines += ["", "open ports (inbound):"]
    for rule in plan.ports:
        allowed = built.port_sources(plan, rule)
        who = ", ".join(_text(a) for a in allowed) if allowed else "nobody (closed)"
        port = f"{rule.port_range}/{rule.protocol}" if rule.port_range else rule.protocol
        lines.append(f"  {port:<16} {rule.description:<24} from {who}")
    paths = secret_paths(spec)
    lines += [
        "",
        "secrets:",
        f"  servers: bootstrap {_secret_names(server_bootstrap_secrets(spec))}",
        f"           paths {', '.join(f'{k}={v}' for k, v in paths.items()) or 'none'}",
        f"  agents:  bootstrap {_secret_names(agent_bootstrap_secrets(spec))}; no paths, no GitOps, no VPN",
    ]
    references = {k: v for k, v in sorted(spec.bootstrap_secrets.items()) if isinstance(v, SecretRef)}
    if references:
        lines += ["", "terraform variables (sensitive; set each with TF_VAR_NAME or a -var-file):"]
        for key, ref in references.items():
            lines.append(
                f"  {ref.var:<24} {key}; at most {secret_budget(key, ref):,} characters once JSON-escaped "
                "(max_length raises it)"
            )
    lines += ["", "outputs (terraform output NAME):"]
    lines += [
        f"  {o.name:<24} {o.description}{' (sensitive)' if o.sensitive else ''}" for o in built.fragment.outputs
    ]
    if built.notes:
        lines += ["", "notes:"] + [f"  - {note}" for note in built.notes]
    return "\n".join(lines) + "\n"

