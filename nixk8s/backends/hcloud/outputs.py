"""What a Hetzner cluster gives back: its outputs (the API endpoint, the servers'
addresses, the autoscaler's cluster config) and the notes explain prints.
"""

from __future__ import annotations

from nixk8s import names
from nixk8s.backends.base import NodeHandle
from nixk8s.backends.hcloud import autoscaler as autoscaler
from nixk8s.backends.hcloud.checks import MAX_SERVERS_PER_PLACEMENT_GROUP
from nixk8s.backends.hcloud.foundation import HcloudInfra
from nixk8s.backends.hcloud.options import spec_block
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import Fragment, Output, Template, Text, combine


def outputs(plan: ClusterPlan, infra: HcloudInfra, servers: tuple[NodeHandle, ...]) -> Fragment:
    addresses = {
        names.dns_name(names.control_plane_node(plan.name, i)): {
            **({"public_ipv4": server.public_ip} if server.public_ip is not None else {}),
            **({"private_ip": server.private_ip} if server.private_ip is not None else {}),
        }
        for i, server in enumerate(servers)
    }
    balancer = infra.balancer
    join = balancer.private_ip if balancer else servers[0].private_ip or servers[0].public_ip
    assert join is not None
    if balancer is None and infra.private:
        endpoint: Text = servers[0].private_ip or ""
        reached = "Kubernetes API of server 0 (private address: from inside the network, or a VPN)"
    elif balancer is None:
        endpoint = servers[0].public_ip or ""
        reached = "Kubernetes API of server 0 (public IPv4)"
    elif balancer.public_ipv4 is not None:
        endpoint, reached = balancer.public_ipv4, "Kubernetes API through the public load balancer"
    else:
        endpoint = balancer.private_ip
        reached = "Kubernetes API through the private load balancer (from inside the network, or a VPN)"
    scaling = autoscaler.outputs(plan, infra.image, infra.network, infra.firewall, private=infra.private)
    nat = infra.nat
    bastion = (
        ()
        if nat is None
        else (
            Output(
                "nat_machine",
                {"public_ipv4": nat.server.ref("ipv4_address", max_len=15), "private_ip": nat.private_ip},
                "the NAT machine every node's traffic leaves through, and the bastion for access.ssh_sources",
            ),
        )
    )
    return combine([scaling, Fragment(outputs=bastion), Fragment(
        outputs=(
            Output("api_endpoint", Template.of("https://", endpoint, ":6443"), reached),
            Output("control_plane_addresses", addresses, "public and private addresses of each control-plane server"),
            Output("join_server", join_server(plan.spec.distribution, join), "the address nodes join the cluster through"),
        )
    )])


def notes(plan: ClusterPlan, infra: HcloudInfra) -> tuple[str, ...]:
    spec = plan.spec
    result = []
    if spec.network is None:
        result.append(
            "no private network: nodes join over server 0's public IPv4, and the private "
            "ports (kubelet, etcd, overlay) are closed on the Hetzner firewall; connect the "
            "nodes with `vpn` or add a `network`"
        )
    else:
        result.append("Hetzner firewalls filter public traffic only; the private network is not filtered")
    if infra.nat is not None:
        result.append(
            f"private nodes: no server has a public address; they reach the internet through the NAT machine "
            f"{infra.nat.address} ({infra.nat.private_ip}, a debian-12 cx22 with a public IPv4), which is also "
            "the SSH bastion for access.ssh_sources; it is not a node, and keeping it patched is the operator's"
        )
    longest = max((f"{plan.name}-{p.name}-{p.desired - 1}" for _, p in spec.worker_pools), key=len, default="")
    if len(longest) > names.DNS_LABEL_LIMIT:
        result.append(
            f"server names longer than {names.DNS_LABEL_LIMIT} characters are shortened with a stable hash "
            f'suffix (e.g. "{longest}" is named "{names.dns_name(longest)}")'
        )
    if any(pool.autoscale for _, pool in spec.worker_pools):
        result.append(
            "autoscaled pools get no servers from Terraform: run the cluster-autoscaler's Hetzner provider "
            "with HCLOUD_CLUSTER_CONFIG=$(terraform output -raw hcloud_cluster_config), the network, firewall "
            "and --nodes flags of the cluster_autoscaler output, and --enforce-node-group-min-size; its "
            "servers read their node_index from their private IPv4 address (Hetzner's metadata service)"
        )
    if infra.balancer is not None:
        kind = "public" if infra.balancer.public else "private"
        result.append(
            f"the API is behind a {kind} Hetzner load balancer at {infra.balancer.private_ip} on the network: "
            "servers after the first and every worker join through it, and every server's certificate names it"
        )
    for _, pool in spec.worker_pools:
        groups = -(-pool.desired // MAX_SERVERS_PER_PLACEMENT_GROUP)
        if groups > 1:
            result.append(
                f"pool {pool.name}: {pool.desired} servers in {groups} spread placement groups of at most "
                f"{MAX_SERVERS_PER_PLACEMENT_GROUP} (servers 0-9 in the first, and so on: a growing pool never moves a server)"
            )
    if not ((block := spec_block(spec)) and block.replace_on_user_data_change):
        result.append(
            "servers ignore changes to user_data, image and ssh_keys, each of which would replace them "
            "(reconfigure through the flake and GitOps); "
            "set hcloud.replace_on_user_data_change to replace them instead"
        )
    return tuple(result)
