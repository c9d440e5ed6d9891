"""Autoscaled Hetzner pools: the cluster-autoscaler builds their servers from the
hcloud_cluster_config output, and each server reads its node index at boot from
Hetzner's metadata service."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from support import (
    ipv4_as_index,
    metadata_service,
    assert_kindling_accepts,
    boot_in_namespace,
    cloud_init_schema,
    compile_raw,
    minimal_spec,
    problems_of,
    tfcheck,
    worker_pool,
    write_module,
)

from nixk8s.backends.hcloud.autoscaler import HETZNER_METADATA
from nixk8s.node_index import agent_index_block

TOKEN = {"k3s_server_token": {"var": "k3s_token"}}


def autoscaled_spec(**fields: Any) -> dict[str, Any]:
    raw = minimal_spec(
        node_pools=[
            {"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3},
            worker_pool("workers", 2),
            worker_pool("burst", 0, max_size=20, autoscale=True, labels={"tier": "burst"},
                        taints=[{"key": "burst", "value": "yes"}]),
        ],
        network={"vpc_cidr": "10.0.0.0/16"},
        bootstrap_secrets=TOKEN,
    )
    raw.update(fields)
    return raw


def test_an_autoscaled_pool_gets_no_servers_from_terraform() -> None:
    servers = compile_raw(autoscaled_spec()).document["resource"]["hcloud_server"]
    assert not [name for name in servers if name.startswith("demo_burst")]
    assert [name for name in servers if name.startswith("demo_workers")] == ["demo_workers_0", "demo_workers_1"]


def test_the_cluster_config_is_a_sensitive_base64_output() -> None:
    output = compile_raw(autoscaled_spec()).document["output"]["hcloud_cluster_config"]
    assert output["sensitive"] is True
    assert output["value"] == "${base64encode(jsonencode(local.demo_autoscaler))}"


def test_the_autoscalers_deployment_gets_the_network_firewall_and_node_group_flags() -> None:
    value = compile_raw(autoscaled_spec()).document["output"]["cluster_autoscaler"]["value"]
    assert value == {
        "HCLOUD_FIREWALL": "${hcloud_firewall.demo_firewall.id}",
        "HCLOUD_NETWORK": "${hcloud_network.demo_network.id}",
        "nodes": ["--nodes=0:20:cx42:nbg1:burst"],
    }


def test_a_cluster_without_autoscaled_pools_has_no_autoscaler_outputs() -> None:
    raw = autoscaled_spec()
    raw["node_pools"] = raw["node_pools"][:2]
    assert "hcloud_cluster_config" not in compile_raw(raw).document["output"]


def test_an_autoscaled_pool_needs_a_network() -> None:
    from support import OWN_VPN

    raw = autoscaled_spec(network=None, vpn=OWN_VPN)
    (problem,) = problems_of(raw)
    assert problem.path == "node_pools[2].autoscale"
    assert "needs `network`" in problem.message


def test_a_static_pool_numbered_inside_the_networks_addresses_is_refused() -> None:
    # 10.0.0.0/8 covers indices 167,772,160 ... 184,549,375: find a pool name in it
    name = next(f"p{i}" for i in range(100_000) if 167_772_160 <= agent_index_block(f"p{i}") <= 184_549_375)
    raw = autoscaled_spec(network={"vpc_cidr": "10.0.0.0/8", "subnet_cidr": "10.0.1.0/24"})
    raw["node_pools"][1]["name"] = name
    (problem,) = problems_of(raw)
    assert problem.path == "node_pools[1].name" and "rename the pool" in problem.message


@pytest.mark.tfcheck
def test_applied_cluster_config_boots_a_server_with_its_index_from_the_metadata_service(tmp_path: Path) -> None:
    module = write_module(compile_raw(autoscaled_spec()), tmp_path / "module", {"k3s_token": "a-token-123"})
    tfcheck(module, "--apply", "--state-out", str(tmp_path / "state.json"))
    outputs = json.loads((tmp_path / "state.json").read_text())["values"]["outputs"]
    config = json.loads(base64.b64decode(outputs["hcloud_cluster_config"]["value"]))
    assert config["imagesForArch"] == {"amd64": "nixos-snapshot", "arm64": "nixos-snapshot"}
    burst = config["nodeConfigs"]["burst"]
    assert burst["labels"] == {"tier": "burst", "nixk8s.dev/pool": "burst"}
    assert burst["taints"] == [{"key": "burst", "value": "yes", "effect": "NoSchedule"}]
    user_data = burst["cloudInit"]
    cloud_init_schema(user_data)
    boot = boot_in_namespace(user_data, metadata_service(HETZNER_METADATA, "10.0.7.9"), tmp_path / "boot")
    assert boot.returncode == 0, boot.stderr
    assert boot.mode == 0o640 and boot.config is not None
    node = json.loads(boot.config)
    assert node["node_index"] == ipv4_as_index("10.0.7.9")
    assert node["join_server"] == "https://10.0.0.254:6443"
    assert node["bootstrap_secrets"]["k3s_server_token"] == "a-token-123"
    assert_kindling_accepts(node)
