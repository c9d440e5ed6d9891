"""Hetzner Cloud: which argument changes make Terraform replace its resources (data).

Read from ``hetznercloud/terraform-provider-hcloud`` at 1.68.0: each entry names its source file
(``docs/diff.md`` says how the table was made and how to redo it).
"""

from __future__ import annotations

from nixk8s.document_diff.rules import Body, Conditional, Disruption, IndexedPath, ProviderRules, ResourceRule


def _attachment_ip(old: Body, new: Body, path: IndexedPath) -> str | None:
    if old.get("ip") is None:
        return "ip set where Hetzner chose the address: replaced unless it already has that address"
    return "ip changes"


def _in_placement_group(old: Body, new: Body, provider: Body) -> bool:
    return bool(old.get("placement_group_id"))


_HCLOUD = "internal/"

RULES: dict[str, ResourceRule] = {
    "hcloud_server": ResourceRule(
        source=_HCLOUD + "server/resource.go",
        role="machine",
        replacing=("image", "location", "user_data", "ssh_keys"),
        disruptive=(
            Disruption("server_type", "⚠ Hetzner powers the server off to change its type"),
            Disruption("public_net", "⚠ Hetzner powers the server off to change its public network"),
            Disruption(
                "placement_group_id",
                "⚠ Hetzner cannot move a running server out of a placement group: the apply fails",
                when=_in_placement_group,
            ),
        ),
    ),
    "hcloud_server_network": ResourceRule(
        source=_HCLOUD + "server/resource_network.go",
        replacing=("server_id", "network_id", "subnet_id"),
        conditional=(Conditional("ip", _attachment_ip),),
        kept_when_removed=("ip", "network_id"),
        replaced_note="the server is detached from the network and attached again: its private IP may change",
    ),
    "hcloud_network": ResourceRule(source=_HCLOUD + "network/resource.go", replacing=("ip_range",)),
    "hcloud_network_subnet": ResourceRule(
        source=_HCLOUD + "network/resource_subnet.go",
        replacing=("network_id", "type", "network_zone", "ip_range", "vswitch_id"),
    ),
    "hcloud_firewall": ResourceRule(source=_HCLOUD + "firewall/resource.go"),
    # no update function: every argument replaces the route
    "hcloud_network_route": ResourceRule(
        source=_HCLOUD + "network/resource_route.go",
        replacing=("network_id", "destination", "gateway"),
        replaced_note="private nodes lose their way out while the route is made again",
    ),
    "hcloud_placement_group": ResourceRule(
        source=_HCLOUD + "placementgroup/resource.go",
        disruptive=(Disruption("type", "⚠ the provider neither replaces nor updates it: the change is not applied"),),
    ),
    "hcloud_load_balancer": ResourceRule(
        source=_HCLOUD + "loadbalancer/resource.go", replacing=("location", "network_zone")
    ),
    "hcloud_load_balancer_network": ResourceRule(
        source=_HCLOUD + "loadbalancer/resource_network.go",
        replacing=("load_balancer_id", "network_id", "subnet_id"),
        conditional=(Conditional("ip", _attachment_ip),),
        kept_when_removed=("ip", "network_id"),
    ),
    "hcloud_load_balancer_target": ResourceRule(
        source=_HCLOUD + "loadbalancer/resource_target.go",
        replacing=("load_balancer_id", "server_id", "label_selector", "ip"),
    ),
    "hcloud_load_balancer_service": ResourceRule(
        source=_HCLOUD + "loadbalancer/resource_service.go",
        replacing=("load_balancer_id", "protocol", "listen_port"),
    ),
}

TABLE = ProviderRules(
    provider="hcloud",
    source="hetznercloud/hcloud",
    version="1.68.0",
    repository="hetznercloud/terraform-provider-hcloud",
    rules=RULES,
)
