"""Hetzner spread placement groups hold at most 10 servers: every pool is split into
groups of consecutive servers, so that apply never fails on a full group and a growing
pool never moves a server to another group (Hetzner cannot move a running one)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from strategies import raw_cluster_specs
from support import compile_raw

from nixk8s.backends.hcloud.checks import MAX_SERVERS_PER_PLACEMENT_GROUP


def groups_of(raw: dict[str, Any]) -> dict[str, str]:
    """Each server's placement group, by server."""
    servers = compile_raw(raw).document["resource"]["hcloud_server"]
    return {name: body["placement_group_id"] for name, body in servers.items()}


def grown(raw: dict[str, Any], pool: int, more: int) -> dict[str, Any]:
    """``raw`` with worker pool ``pool`` (index in node_pools) ``more`` servers larger."""
    pools = [dict(p) for p in raw["node_pools"]]
    target = pools[pool]
    size = target.get("desired_size", target["min_size"]) + more
    target.update(desired_size=size, max_size=max(target["max_size"], size))
    return {**raw, "node_pools": pools}


def room(raw: dict[str, Any], most: int) -> int:
    """How many servers a pool may grow by: a Hetzner network holds 100 (the balancer
    is not one of them)."""
    if "network" not in raw:
        return most
    return min(most, 100 - sum(p.get("desired_size", p["min_size"]) for p in raw["node_pools"]))


@given(raw=raw_cluster_specs("hcloud"), data=st.data())
def test_no_placement_group_holds_more_than_ten_servers(raw: dict[str, Any], data: st.DataObject) -> None:
    workers = [i for i, p in enumerate(raw["node_pools"]) if i != _system(raw)]
    if workers and room(raw, 35) > 0:
        # the drawn pools are small: grow one past several groups
        raw = grown(raw, data.draw(st.sampled_from(workers)), data.draw(st.integers(1, room(raw, 35))))
    members: dict[str, int] = {}
    for group in groups_of(raw).values():
        members[group] = members.get(group, 0) + 1
    assert all(count <= MAX_SERVERS_PER_PLACEMENT_GROUP for count in members.values())


@given(raw=raw_cluster_specs("hcloud"), data=st.data())
def test_growing_a_pool_leaves_every_existing_server_in_its_group(raw: dict[str, Any], data: st.DataObject) -> None:
    workers = [i for i, p in enumerate(raw["node_pools"]) if i != _system(raw)]
    if not workers or room(raw, 25) < 1:
        return
    pool = data.draw(st.sampled_from(workers))
    first = grown(raw, pool, data.draw(st.integers(0, room(raw, 25) - 1)))
    before = groups_of(first)
    after = groups_of(grown(first, pool, data.draw(st.integers(1, room(first, 25)))))
    assert {name: after[name] for name in before} == before


def _system(raw: dict[str, Any]) -> int:
    return next((i for i, p in enumerate(raw["node_pools"]) if p["name"] == "system"), 0)
