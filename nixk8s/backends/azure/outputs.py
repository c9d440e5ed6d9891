"""What an Azure cluster gives back: its outputs (the API endpoint, the servers' addresses,
the join server) and the notes explain prints.
"""

from __future__ import annotations

from nixk8s import names
from nixk8s.backends.azure import balancer as azure_balancer
from nixk8s.backends.azure.balancer import API_PORT
from nixk8s.backends.azure.foundation import AzureInfra
from nixk8s.backends.azure.nodes import COMPUTER_NAME_PREFIX_LIMIT, VM_NAME_LIMIT, computer_name_prefix, vm_name
from nixk8s.backends.base import NodeHandle
from nixk8s.node_config import join_server
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import Fragment, Output, Template, Text


def outputs(plan: ClusterPlan, infra: AzureInfra, servers: tuple[NodeHandle, ...]) -> Fragment:
    addresses = {
        vm_name(names.control_plane_node(plan.name, i)): {
            "private_ip": server.private_ip,
            **({"public_ipv4": server.public_ip} if server.public_ip is not None else {}),
        }
        for i, server in enumerate(servers)
    }
    balancer = infra.balancer
    endpoint: Text = servers[0].public_ip or servers[0].private_ip or ""
    reached = (
        "Kubernetes API of server 0 (its private address: from inside the VNet, or a VPN)"
        if infra.private
        else "Kubernetes API of server 0 (its public IPv4 address)"
    )
    join = infra.control_plane_ips[0]
    joined = "the address nodes join the cluster through (server 0's static private address)"
    if balancer is not None:
        endpoint = balancer.public_address or balancer.private_ip
        where = "public load balancer" if balancer.public else "internal load balancer (from inside the VNet, or a VPN)"
        reached = f"Kubernetes API through the {where}"
        join, joined = balancer.private_ip, "the address workers join through (servers after the first join server 0)"
    return Fragment(
        outputs=(
            Output("api_endpoint", Template.of("https://", endpoint, f":{API_PORT}"), reached),
            Output("control_plane_addresses", addresses, "private and public addresses of each control-plane server"),
            Output("join_server", join_server(plan.spec.distribution, join), joined),
        )
    )


def notes(plan: ClusterPlan, infra: AzureInfra) -> tuple[str, ...]:
    spec = plan.spec
    options = infra.options
    result = [
        "the image must run an Azure provisioning agent that reports the machine ready (NixOS: "
        "virtualisation.azure.agent.enable, waagent) and cloud-init with the Azure datasource, which "
        "runs custom_data",
        "kindling must wait for cloud-init to write the file (its default off EC2, or legacyBootstrap): "
        "its EC2 init mode reads EC2 user-data, which Azure machines do not have",
        "terraform needs the subscription: set ARM_SUBSCRIPTION_ID (or log in with az login)",
        "outbound traffic leaves through the NAT gateway (the subnet's default outbound access is off); "
        "the NSG's last rule (4096) denies traffic inside the VNet to any port the port table does not open",
    ]
    if infra.private:
        result.append(
            "private nodes: no NIC has a public IP, servers included; reach a node through a bastion of your "
            "own (Azure Bastion, or a jump host in the VNet or a peered one)"
        )
    if infra.balancer is None:
        result.append(
            f"nodes join server 0 at {infra.control_plane_ips[0]} (a static private address; "
            "no API load balancer): while server 0 is down, no node can join"
        )
    else:
        result += azure_balancer.notes(infra.balancer, infra.control_plane_ips[0], spec.distribution)
    if spec.worker_pools:
        result.append(
            "worker nodes take their node_index from their private IPv4 address (Azure IMDS) when "
            "custom_data runs, and the config file appears only then"
        )
        result.append(
            "scale-set model changes (custom_data, image, size) reach new and scaled-out workers only: "
            "existing workers are never reimaged by terraform; reimage them deliberately"
        )
    if options.replace_on_user_data_change:
        result.append("servers are replaced when their custom_data, image or admin SSH key change")
    else:
        result.append(
            "servers ignore changes to custom_data, image and admin SSH key (reconfigure through the flake "
            "and GitOps); set azure.replace_on_user_data_change to replace them instead"
        )
    if options.encryption_at_host:
        result.append(
            "encryption at host needs the subscription feature Microsoft.Compute/EncryptionAtHost "
            "(az feature register --namespace Microsoft.Compute --name EncryptionAtHost) and a VM size that supports it"
        )
    if infra.zones:
        result.append(f"servers are spread over zones {', '.join(infra.zones)}; changing azure.zones replaces servers")
    else:
        result.append("no availability zones (azure.zones is empty): machines are placed anywhere in the region")
    for _, pool in spec.worker_pools:
        resource = names.worker_template(plan.name, pool.name)
        long_name = resource.replace("_", "-")
        if vm_name(resource) != long_name or computer_name_prefix(resource) != long_name + "-":
            result.append(
                f'scale set "{long_name}" is named "{vm_name(resource)}" with host names starting '
                f'"{computer_name_prefix(resource)}" (Azure allows {VM_NAME_LIMIT} and {COMPUTER_NAME_PREFIX_LIMIT})'
            )
    return tuple(result)
