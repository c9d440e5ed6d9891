"""What a GCP cluster gives back: its outputs (the API endpoint, the servers' addresses,
the join server) and the notes explain prints.
"""

from __future__ import annotations

from nixk8s import names
from nixk8s.backends.base import NodeHandle
from nixk8s.backends.gcp.balancer import API_PORT
from nixk8s.backends.gcp.checks import options, server_zones
from nixk8s.backends.gcp.foundation import GcpInfra, account_id
from nixk8s.backends.gcp.nodes import AUTOSCALER_CPU_TARGET, BASE_INSTANCE_NAME_LIMIT, template_name_prefix
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import Fragment, Output, Template, Text


def _endpoint(infra: GcpInfra, servers: tuple[NodeHandle, ...]) -> tuple[Text, str]:
    """Where kubectl reaches the API, and how it is reached there."""
    balancer = infra.balancer
    if balancer is None and infra.network.private:
        return servers[0].private_ip or "", "Kubernetes API of server 0 (its internal address: from inside the VPC, or a VPN)"
    if balancer is None:
        return servers[0].public_ip or "", "Kubernetes API of server 0 (its external IPv4, open to access.api_sources)"
    if balancer.public_address is not None:
        return balancer.public_address, "Kubernetes API through the public load balancer (open to access.api_sources)"
    return balancer.internal_ip, "Kubernetes API through the internal load balancer (from inside the VPC, or a VPN)"


def outputs(plan: ClusterPlan, infra: GcpInfra, servers: tuple[NodeHandle, ...]) -> Fragment:
    zones = server_zones(plan.spec)
    addresses = {
        names.dns_name(names.control_plane_node(plan.name, i)): {
            "private_ip": server.private_ip,
            **({"public_ip": server.public_ip} if server.public_ip is not None else {}),
            "zone": zones[i],
        }
        for i, server in enumerate(servers)
    }
    endpoint, reached = _endpoint(infra, servers)
    balancer = infra.balancer
    joined = (
        "the address workers join the cluster through (the internal load balancer; servers join server 0)"
        if balancer
        else "the address nodes join the cluster through (server 0's static internal address)"
    )
    return Fragment(
        outputs=(
            Output("api_endpoint", Template.of("https://", endpoint, f":{API_PORT}"), reached),
            Output(
                "control_plane_addresses", addresses, "static internal and external address and zone of each server"
            ),
            Output(
                "join_server",
                join_server(plan.spec.distribution, balancer.internal_ip if balancer else infra.control_plane_ips[0]),
                joined,
            ),
        )
    )


def _shortened_names(plan: ClusterPlan) -> list[str]:
    """Derived names longer than GCP allows, as ``"long" is named "short"``."""
    n = plan.name
    derived = [(f"{n}-nodes", account_id(n))]
    for _, pool in plan.spec.worker_pools:
        resource = names.worker_template(n, pool.name)
        derived += [
            (f"{n}-{pool.name}", names.dns_name(resource)),
            (f"{n}-{pool.name}-", template_name_prefix(resource)),
            (f"{n}-{pool.name}", names.dns_name(resource, BASE_INSTANCE_NAME_LIMIT)),
        ]
    return [f'"{long}" is named "{short}"' for long, short in dict.fromkeys(derived) if long != short]


def _balancer_note(infra: GcpInfra) -> str:
    balancer = infra.balancer
    if balancer is None:
        return "no API load balancer: workers join server 0 too, and api_endpoint is server 0's external address"
    public = (
        "; a public passthrough balancer in front of them too, which keeps client addresses, so the firewall "
        "(and the balancer's own source ranges) admit only access.api_sources"
        if balancer.public
        else ""
    )
    return (
        f"the API is behind an internal passthrough load balancer at {balancer.internal_ip}, where workers join; "
        "servers join server 0 directly (a server reaching the balancer's address is answered by itself); every "
        "server's certificate names the balancer, and the image must run google-guest-agent, which lets a server "
        f"accept traffic for the balancer's address{public}"
    )


def notes(plan: ClusterPlan, infra: GcpInfra) -> tuple[str, ...]:
    spec, gcp = plan.spec, options(plan.spec)
    server_0 = infra.control_plane_ips[0]
    result = [
        "the image must run the user-data at first boot: cloud-init with its GCE datasource "
        "(services.cloud-init.enable; the stock NixOS GCE image does not enable it) or another init that runs it",
        f"nodes are spread across {', '.join(infra.zones)}; servers have static internal addresses from "
        f"{server_0} on, and servers after the first join server 0 there"
        + (
            f"; server 0 joins server 1 at {infra.control_plane_ips[1]} (initialized)"
            if spec.initialized
            else " (a replaced server 0 boots with cluster_init again until the spec says initialized: true)"
        ),
        _balancer_note(infra),
        f"private ports are open to {infra.network.vpc_cidr} only; GCP's firewall filters traffic inside the VPC as well",
        "servers ignore image changes (a new boot disk would replace them): upgrade through the flake and GitOps",
    ]
    if spec.bootstrap_secrets:
        result.append(
            "bootstrap_secrets stay readable in the instance metadata (user-data) for the machine's life: by "
            "project members with compute.instances.get, and from the node at 169.254.169.254, pods included "
            "(GCP has no hop limit): block pods from the metadata server with a network policy, or use secret paths"
        )
    if spec.network is None:
        result.append(
            f"no network in the spec: nixk8s creates {infra.network.vpc_cidr} with the subnet "
            f"{infra.network.subnet_cidr} (GCP has no default network fit for a cluster)"
        )
    if spec.worker_pools:
        result += [
            "worker nodes take their node_index from their private IPv4 address (GCE metadata server) when the "
            "user-data runs; off EC2 kindling waits for the file the user-data writes, so it reads the index",
            f"GCP's autoscaler keeps each worker pool between min_size and max_size, aiming at "
            f"{AUTOSCALER_CPU_TARGET:.0%} CPU (desired_size is not used); a changed template reaches new machines only",
        ]
    if gcp.spot_pools:
        result.append(f"pools {', '.join(gcp.spot_pools)} run on Spot VMs: GCP may stop them at any time")
    if gcp.ssh_keys or any(p.ssh_keys for p in spec.node_pools):
        result.append(
            "SSH keys are in the instance metadata, with OS Login off on these machines so that they count; "
            "project-wide keys are blocked"
        )
    else:
        result.append(
            "no SSH keys: log in through OS Login (IAM) where the project enables it; project-wide keys are blocked"
        )
    if gcp.shielded_vm:
        result.append("Shielded VM (vTPM, integrity monitoring) needs a UEFI image (NixOS googleComputeImage.efi)")
    else:
        result.append("Shielded VM is off: set gcp.shielded_vm with a UEFI image (NixOS googleComputeImage.efi)")
    result += [f"{shortened}: GCP limits the length of names" for shortened in _shortened_names(plan)]
    return tuple(result)
