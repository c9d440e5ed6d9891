"""The Hetzner Cloud backend's checks (DESIGN §7), and what the spec means on Hetzner.

Image and network zone, labels as Hetzner spells them, the firewall's rules, and the
limits Hetzner would enforce at apply time: servers per network and per placement
group, firewall rules, label syntax, a private network range.
"""

from __future__ import annotations

from collections.abc import Iterator

from nixk8s import netaddr
from nixk8s.backends.hcloud.balancer import balancer_problems
from nixk8s.backends.hcloud.network import NETWORK_ZONES, firewall_rules, network_zone
from nixk8s.backends.hcloud.options import spec_block
from nixk8s.labels import label_key_error, label_value_error, lowercase_clashes
from nixk8s.node_index import AGENT_BLOCK, agent_index_block
from nixk8s.plan import ClusterPlan
from nixk8s.problems import Problem, did_you_mean, join_path
from nixk8s.spec import ClusterSpec

MAX_SERVERS_PER_NETWORK = 100
MAX_SERVERS_PER_PLACEMENT_GROUP = 10
MAX_FIREWALL_RULES = 50
# every server repeats its image: bound it like the spec's other names (rules.MAX_IDENTIFIER)
MAX_IMAGE_NAME = 255
# Control-plane addresses start here in the subnet: .1 may be Hetzner's gateway.
FIRST_CONTROL_PLANE_HOST = 2


def image(spec: ClusterSpec) -> str | None:
    """The NixOS image: ``hcloud.image``, else ``nixos.image_id``."""
    return (block.image if (block := spec_block(spec)) else None) or spec.nixos.image_id


def server_count(spec: ClusterSpec) -> int:
    return spec.control_plane_count + sum(p.desired for _, p in spec.worker_pools)


def check(plan: ClusterPlan) -> Iterator[Problem]:
    spec = plan.spec
    if (block := spec_block(spec)) and block.image and len(block.image) > MAX_IMAGE_NAME:
        yield Problem("hcloud.image", f"{len(block.image):,} characters; a Hetzner image name or id is at most {MAX_IMAGE_NAME}")
    if image(spec) is None:
        yield Problem(
            "hcloud.image",
            "a NixOS image is required (hcloud.image or nixos.image_id): Hetzner has no public "
            "NixOS image, so give the id or name of your snapshot",
        )
    joining = server_count(spec) > 1 or any(p.max_size > 0 for _, p in spec.worker_pools)
    if spec.network is None and joining and not (spec.vpn and spec.vpn.links):
        yield Problem(
            "network",
            "a cluster of more than one node needs `network`: Hetzner's firewall opens the private "
            "ports (kubelet, etcd, the overlay) only to the cluster's network, so without one the "
            "nodes cannot reach each other and the cluster never forms. Add `network`, or connect "
            "the nodes with `vpn` links of your own",
        )
    if spec.network is None and joining and "0.0.0.0/0" not in spec.access.api_sources:
        yield Problem(
            "access.api_sources",
            "without a network, nodes join over server 0's public IPv4 on port 6443, so the "
            "firewall must admit them: add a network, or allow 0.0.0.0/0 here",
        )
    if spec.initialized and spec.network is None and spec.control_plane_count > 1:
        yield Problem(
            "initialized",
            "without a network, server 0 could join only another server's public IPv4, which Hetzner "
            "assigns at creation and which waits on server 0's own (each server's user_data would name "
            "the other's address: a cycle Terraform refuses). Add `network`: server 0 then joins the "
            "API load balancer or server 1's fixed private address",
        )
    if spec.network is not None and network_zone(spec) is None:  # the location is checked whatever the CIDR
        yield Problem(
            "region",
            f'unknown Hetzner location "{spec.region}"{did_you_mean(spec.region, NETWORK_ZONES)}; '
            "set hcloud.network_zone to use it with a network",
        )
    if spec.network is not None and netaddr.cidr_error(spec.network.vpc_cidr) is None:
        count = server_count(spec)
        if count > MAX_SERVERS_PER_NETWORK:
            yield Problem(
                "node_pools",
                f"{count} servers on one network; Hetzner attaches at most "
                f"{MAX_SERVERS_PER_NETWORK} servers to a network",
            )
        if not netaddr.net(spec.network.vpc_cidr).is_private:
            yield Problem("network.vpc_cidr", "Hetzner networks must use a private (RFC 1918) range")
        # the servers' fixed hosts, and the balancer's (the subnet's last) above them; the
        # NAT machine's is below the balancer's, which stays reserved without a balancer
        private = spec.network.private_nodes
        reserved = 2 if private else 1 if plan.api_load_balancer else 0
        needed = FIRST_CONTROL_PLANE_HOST + spec.control_plane_count + reserved
        subnet_ok = spec.network.subnet_cidr is None or netaddr.cidr_error(spec.network.subnet_cidr) is None
        if subnet_ok and netaddr.host(spec.network.subnet, needed) is None:
            what = " and the API load balancer" if plan.api_load_balancer else ""
            what += " and the NAT machine (below the balancer's reserved address)" if private else ""
            yield Problem(
                "network.subnet_cidr",
                f"{spec.network.subnet} has too few addresses for {spec.control_plane_count} control-plane nodes{what}",
            )
    if spec.control_plane_count > MAX_SERVERS_PER_PLACEMENT_GROUP:
        yield Problem(
            join_path(join_path("node_pools", spec.system_pool_index), "min_size"),
            f"{spec.control_plane_count} control-plane servers; a Hetzner spread placement group "
            f"holds at most {MAX_SERVERS_PER_PLACEMENT_GROUP}",
        )
    yield from balancer_problems(plan)
    yield from autoscaled_pool_problems(spec)
    rule_count = len(firewall_rules(plan))
    if rule_count > MAX_FIREWALL_RULES:
        yield Problem("access", f"{rule_count} firewall rules; Hetzner allows {MAX_FIREWALL_RULES} per firewall")
    yield from tag_problems(spec)


def tag_problems(spec: ClusterSpec) -> Iterator[Problem]:
    """The spec's tags as Hetzner labels: each key (lowercased) and value within Hetzner's
    rules, and no two keys that lowercasing makes one label (one would silently win).
    Paths name the tag as the spec spells it."""
    clashes = dict(lowercase_clashes(spec.tags))
    for key, value in spec.tags.items():
        path = join_path("tags", key)
        label = key.lower()
        if key in clashes:
            yield Problem(
                path,
                f"{join_path('tags', clashes[key])} and this tag are one Hetzner label {label!r} "
                "(label keys are lowercased): keep one",
            )
        for error in (label_key_error(label), label_value_error(value)):
            if error:
                yield Problem(path, f"{error} (Hetzner label rules)")


def autoscaled_pool_problems(spec: ClusterSpec) -> Iterator[Problem]:
    """What an autoscaled pool needs: a network (its servers' index is their private
    address on it), and no static pool's index block inside that network's range."""
    autoscaled = [(i, pool) for i, pool in spec.worker_pools if pool.autoscale]
    if not autoscaled:
        return
    if spec.network is None or netaddr.cidr_error(spec.network.vpc_cidr) is not None:
        for i, _ in autoscaled:
            if spec.network is None:
                yield Problem(
                    join_path(join_path("node_pools", i), "autoscale"),
                    "the cluster-autoscaler's servers take their node index from their address on the "
                    "cluster's network: an autoscaled pool needs `network`",
                )
        return
    vpc = netaddr.net(spec.network.vpc_cidr)
    low, high = int(vpc.network_address), int(vpc.broadcast_address)
    for i, pool in spec.worker_pools:
        first = agent_index_block(pool.name)
        if not pool.autoscale and first <= high and first + AGENT_BLOCK > low:
            yield Problem(
                join_path(join_path("node_pools", i), "name"),
                f'pool "{pool.name}" numbers its nodes from {first:,}, inside the addresses of '
                f"{spec.network.vpc_cidr} that autoscaled servers take their index from: rename the pool",
            )
