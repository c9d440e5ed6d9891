"""network.private_nodes on every cloud: no node holds a public address, egress leaves
through the cloud's NAT, the API stays reachable, explain says how to reach a node, and
Hetzner's nodes route through the network's gateway from their boot data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from clouds import CLOUDS, CloudCase
from support import (
    SPECS,
    apply_state,
    assert_kindling_accepts,
    compile_raw,
    compiled_example,
    decode_user_data,
    embedded_config,
    node_config,
    problems_of,
    rendered_nodes,
    require_tool,
)

from nixk8s.backends.hcloud.nat import default_route_step, gateway
from nixk8s.explanation import explanation, to_json

Document = dict[str, Any]


def example(cloud: str) -> Path:
    return SPECS / f"{cloud}-k3s-private.yaml"


def document(cloud: str) -> Document:
    compiled = compiled_example(example(cloud))
    return compiled.document


def resources(doc: Document, kind: str) -> dict[str, Any]:
    return dict(doc["resource"].get(kind, {}))


# --- per cloud: no node with a public address, egress through the NAT ---------------------


def hcloud_private(doc: Document) -> None:
    servers = resources(doc, "hcloud_server")
    nat = [name for name, s in servers.items() if s["labels"].get("role") == "nat"]
    assert len(nat) == 1
    nodes = {name: s for name, s in servers.items() if name not in nat}
    assert nodes
    for name, server in nodes.items():
        assert server["public_net"] == [{"ipv4_enabled": False, "ipv6_enabled": False}], name
        assert server["network"][0]["network_id"] == "${hcloud_network.demo-private_network.id}", name
    assert "hcloud_server_network" not in doc["resource"]
    (route,) = resources(doc, "hcloud_network_route").values()
    assert route["destination"] == "0.0.0.0/0"
    assert route["gateway"] == servers[nat[0]]["network"][0]["ip"]


def aws_private(doc: Document) -> None:
    subnets = resources(doc, "aws_subnet")
    assert subnets and not any(s["map_public_ip_on_launch"] for s in subnets.values())
    for name, template in resources(doc, "aws_launch_template").items():
        (interface,) = template["network_interfaces"]
        assert interface["associate_public_ip_address"] == "false", name
    node_subnets = {f"${{aws_subnet.{n}.id}}" for n in subnets if "public" not in n}
    for group in resources(doc, "aws_autoscaling_group").values():
        assert set(group["vpc_zone_identifier"]) == node_subnets
    tables = {
        a["route_table_id"] for a in resources(doc, "aws_route_table_association").values() if a["subnet_id"] in node_subnets
    }
    routes = [r for r in resources(doc, "aws_route").values() if r["route_table_id"] in tables]
    assert len(routes) == len(node_subnets)
    gateways = {f"${{aws_nat_gateway.{n}.id}}" for n in resources(doc, "aws_nat_gateway")}
    assert all(r["destination_cidr_block"] == "0.0.0.0/0" and r["nat_gateway_id"] in gateways for r in routes)


def gcp_private(doc: Document) -> None:
    machines = [*resources(doc, "google_compute_instance").values(), *resources(doc, "google_compute_instance_template").values()]
    assert machines
    for machine in machines:
        assert all("access_config" not in i for i in machine["network_interface"])
    (nat,) = resources(doc, "google_compute_router_nat").values()
    (subnet,) = resources(doc, "google_compute_subnetwork")
    assert nat["subnetwork"] == [
        {"name": f"${{google_compute_subnetwork.{subnet}.id}}", "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]}
    ]


def azure_private(doc: Document) -> None:
    for name, nic in resources(doc, "azurerm_network_interface").items():
        assert all("public_ip_address_id" not in c for c in nic["ip_configuration"]), name
    for name, scale_set in resources(doc, "azurerm_linux_virtual_machine_scale_set").items():
        for interface in scale_set["network_interface"]:
            assert all("public_ip_address" not in c for c in interface["ip_configuration"]), name
    assert set(resources(doc, "azurerm_public_ip")) == {"demo-private_nat_pip", "demo-private_api_pip"}
    (association,) = resources(doc, "azurerm_subnet_nat_gateway_association").values()
    assert association["nat_gateway_id"] == "${azurerm_nat_gateway.demo-private_nat.id}"


PRIVATE: dict[str, Callable[[Document], None]] = {
    "hcloud": hcloud_private,
    "aws": aws_private,
    "gcp": gcp_private,
    "azure": azure_private,
}
CLOUD_IDS = list(PRIVATE)


@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_the_private_example_gives_no_node_a_public_address_and_egress_through_nat(cloud: str) -> None:
    PRIVATE[cloud](document(cloud))


@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_the_same_example_without_private_nodes_gives_nodes_public_addresses(cloud: str) -> None:
    # the checks above can fail: the public twin of each example fails them
    text = example(cloud).read_text().replace("  private_nodes: true\n", "")
    compiled = compile_raw(yaml.safe_load(text))
    with pytest.raises(AssertionError):
        PRIVATE[cloud](compiled.document)


@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_explain_names_the_egress_path_and_how_to_reach_a_node(cloud: str) -> None:
    compiled = compiled_example(example(cloud))
    reach = json.loads(to_json(explanation(compiled)))["reach"]
    assert reach["private_nodes"] is True
    assert reach["egress_resources"]
    expected = {"hcloud": "bastion", "aws": "SSM Session Manager", "gcp": "IAP TCP forwarding", "azure": "bastion of your own"}
    assert expected[cloud] in reach["node_access"]
    nodes = explanation(compiled).nodes
    assert nodes and all(n.public_ip is None for n in nodes)


@pytest.mark.parametrize("cloud", CLOUDS.values(), ids=lambda c: c.name)
def test_a_private_api_with_sources_outside_the_network_is_refused_naming_both_ways_out(cloud: CloudCase) -> None:
    spec = cloud.spec(servers=3, api_load_balancer="private", network={**cloud.network, "private_nodes": True})
    (problem,) = [p for p in problems_of(spec) if p.path == "access.api_sources"]
    assert "api_load_balancer: public" in problem.message and "api_sources to the network" in problem.message


@pytest.mark.parametrize("cloud", CLOUDS.values(), ids=lambda c: c.name)
def test_a_private_api_reached_from_the_network_compiles(cloud: CloudCase) -> None:
    network = {**cloud.network, "private_nodes": True}
    spec = cloud.spec(servers=3, api_load_balancer="private", network=network, access={"api_sources": [network["vpc_cidr"]]})
    assert rendered_nodes(compile_raw(spec))


# --- after apply: every node's config is sound --------------------------------------------------


def applied_user_data(state: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every machine's user_data after apply, decoded, by resource address."""
    found = {}
    for address, values in state.items():
        metadata = values.get("metadata") or {}
        for text in (values.get("user_data"), values.get("custom_data"), metadata.get("user-data")):
            if isinstance(text, str) and text:
                found[address] = decode_user_data(text)
    return found


@pytest.mark.tfcheck
@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_after_apply_every_node_decodes_with_a_config_kindling_accepts(cloud: str, tmp_path: Path) -> None:
    compiled = compiled_example(example(cloud))
    user_data = applied_user_data(apply_state(compiled, tmp_path))
    nat = {a: u for a, u in user_data.items() if a.endswith("_nat")}
    assert len(nat) == (1 if cloud == "hcloud" else 0)
    assert all("cluster-config" not in u for u in nat.values())  # the NAT machine is not a node
    nodes = {a: u for a, u in user_data.items() if a not in nat}
    assert len(nodes) >= len(compiled.built.control_plane)
    for address, text in nodes.items():
        config = embedded_config(text)
        assert "${" not in json.dumps(config), address
        assert_kindling_accepts(config)


# --- Hetzner: the NAT machine, the default route ------------------------------------------------


def test_hetzner_nat_machine_sits_just_below_the_balancer_and_is_no_node() -> None:
    doc = document("hcloud")
    nat = resources(doc, "hcloud_server")["demo-private_nat"]
    balancer = resources(doc, "hcloud_load_balancer_network")["demo-private_api_network"]
    assert (nat["network"][0]["ip"], balancer["ip"]) == ("10.0.1.253", "10.0.1.254")
    assert nat["image"] == "debian-12" and nat["public_net"] == [{"ipv4_enabled": True, "ipv6_enabled": False}]
    assert "cluster-config" not in nat["user_data"]
    document_text = yaml.safe_load(nat["user_data"])
    files = {f["path"]: f["content"] for f in document_text["write_files"]}
    assert files["/etc/sysctl.d/90-nixk8s-nat.conf"] == "net.ipv4.ip_forward = 1\n"
    assert "ip saddr 10.0.0.0/16 ip daddr != 10.0.0.0/16 masquerade" in files["/etc/nftables.conf"]


def test_hetzner_nat_firewall_admits_the_network_and_ssh_sources_only() -> None:
    firewall = resources(document("hcloud"), "hcloud_firewall")["demo-private_nat_firewall"]
    sources = {(r["protocol"], r.get("port")): r["source_ips"] for r in firewall["rule"]}
    assert sources[("tcp", "22")] == ["203.0.113.0/24"]
    assert {tuple(s) for k, s in sources.items() if k != ("tcp", "22")} == {("10.0.0.0/16",)}


def test_hetzner_subnet_size_check_counts_the_nat_machine() -> None:
    hcloud = CLOUDS["hcloud"]
    # a /29: hosts 1-6; servers at 2, 3, 4; the NAT machine at 5 would take the last one
    small = {"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/29"}
    assert not [p for p in problems_of(hcloud.spec(servers=3, network=small, api_load_balancer="none"))
                if p.path == "network.subnet_cidr"]
    private = hcloud.spec(servers=3, network={**small, "private_nodes": True}, api_load_balancer="none",
                          access={"api_sources": ["10.0.0.0/16"]})
    (problem,) = [p for p in problems_of(private) if p.path == "network.subnet_cidr"]
    assert "NAT machine" in problem.message


@pytest.mark.parametrize("fmt", ["cloud-config", "shell"])
def test_hetzner_private_node_boot_data_sets_the_default_route_first(fmt: str) -> None:
    spec = CLOUDS["hcloud"].spec(network={"vpc_cidr": "10.0.0.0/16", "private_nodes": True},
                                 api_load_balancer="public", user_data_format=fmt)
    for node in rendered_nodes(compile_raw(spec)):
        text = node.user_data.parts[0]
        route = text.find("ip route replace default via 10.0.0.1")
        assert 0 < route < text.find("cluster-config"), node.name
        if fmt == "cloud-config":
            assert text.startswith("#cloud-config\nbootcmd:")


def test_public_hetzner_nodes_get_no_route_step() -> None:
    for node in rendered_nodes(compile_raw(CLOUDS["hcloud"].spec())):
        assert "ip route" not in "".join(p for p in node.user_data.parts if isinstance(p, str))


# --- the route step itself, under NixOS's cloud-init PATH ---------------------------------------

# NixOS's cloud-init runs with cloud-init, iproute2, net-tools, openssh, shadow,
# util-linux and busybox on PATH (nixos/modules/services/system/cloud-init.nix): the step
# may use `ip` and busybox applets, nothing else
NIXOS_TOOLS = ("sh", "sleep", "echo", "[")

NAMESPACE_SETUP = """set -eu
mount -t tmpfs tmpfs /run
ip link set lo up
ip link add eth1 type veth peer name eth1peer
ip link set eth1peer up
ip link set eth1 up
ip addr add 10.0.1.2/32 dev eth1
ip route add 10.0.0.1 dev eth1 scope link
ip route add 10.0.0.0/16 via 10.0.0.1 dev eth1
PATH="$NIXOS_PATH" sh "$1"
"""


def nixos_cloud_init_path(directory: Path) -> str:
    """A PATH of exactly iproute2's ip and busybox's applets."""
    busybox = require_tool("busybox", "busybox")
    directory.mkdir()
    for applet in NIXOS_TOOLS:
        (directory / applet).symlink_to(busybox)
    (directory / "ip").symlink_to(require_tool("ip", "iproute2"))
    return str(directory)


def run_in_namespaces(script: Path, path: str) -> subprocess.CompletedProcess[str]:
    """``script`` as root in private mount and network namespaces, where an interface
    holds a private address the way Hetzner's DHCP leaves it (no default route)."""
    require_tool("unshare", "util-linux")
    if os.geteuid() != 0:
        pytest.skip("needs root for private mount and network namespaces")
    probe = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("unshare --mount --net is not allowed here")
    setup = NAMESPACE_SETUP + "ip route show default\n"
    return subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", shutil.which("sh") or "sh", "-c", setup, "sh", str(script)],
        env={"PATH": os.environ["PATH"], "NIXOS_PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_hetzner_default_route_step_runs_under_nixos_cloud_init_path(tmp_path: Path) -> None:
    step = default_route_step("10.0.0.0/16")
    script = tmp_path / "step.sh"
    script.write_text("set -eu\n" + step.script)
    result = run_in_namespaces(script, nixos_cloud_init_path(tmp_path / "bin"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"default via {gateway('10.0.0.0/16')} dev eth1"


@pytest.mark.parametrize("fmt", ["cloud-config", "shell"])
def test_hetzner_boot_data_route_runs_as_written_in_both_formats(fmt: str, tmp_path: Path) -> None:
    spec = CLOUDS["hcloud"].spec(network={"vpc_cidr": "10.0.0.0/16", "private_nodes": True},
                                 api_load_balancer="public", user_data_format=fmt)
    text = rendered_nodes(compile_raw(spec))[0].user_data.parts[0]
    if fmt == "cloud-config":
        (command,) = yaml.safe_load(text.split("write_files:")[0])["bootcmd"]
        assert command[:2] == ["sh", "-c"]
        step = command[2]
    else:
        step = text.split("mkdir -p /etc/pangea")[0]
    script = tmp_path / "boot.sh"
    script.write_text(step)
    result = run_in_namespaces(script, nixos_cloud_init_path(tmp_path / "bin"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "default via 10.0.0.1 dev eth1"


# --- AWS: one NAT gateway or one per zone; SSM ---------------------------------------------------


def test_aws_single_nat_serves_every_zone() -> None:
    spec = CLOUDS["aws"].spec(network={"vpc_cidr": "10.0.0.0/16", "private_nodes": True},
                              api_load_balancer="public", aws={**CLOUDS["aws"].block, "nat": "single"})
    compiled = compile_raw(spec)
    doc = compiled.document
    assert list(resources(doc, "aws_nat_gateway")) == ["demo_nat_a"]
    routes = resources(doc, "aws_route")
    assert {r["nat_gateway_id"] for n, r in routes.items() if n.startswith("demo_private_route")} == {
        "${aws_nat_gateway.demo_nat_a.id}"
    }
    aws_private(doc)


def test_aws_nodes_role_gets_ssm_only_when_private() -> None:
    private = resources(document("aws"), "aws_iam_role_policy_attachment")
    assert private["demo-private_ssm_core"]["policy_arn"] == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    public = compiled_example(SPECS / "aws-k3s-ha.yaml")
    attachments = public.document["resource"]["aws_iam_role_policy_attachment"]
    assert not [n for n in attachments if n.endswith("_ssm_core")]


def test_gcp_private_nodes_admit_ssh_from_iap_only() -> None:
    rules = resources(document("gcp"), "google_compute_firewall")
    assert rules["demo-private_iap_ssh"]["source_ranges"] == ["35.235.240.0/20"]
    assert rules["demo-private_iap_ssh"]["allow"] == [{"protocol": "tcp", "ports": ["22"]}]


def test_node_config_is_unchanged_by_private_nodes() -> None:
    # private nodes change where a node's traffic goes, never what kindling reads
    for cloud in ("gcp", "azure"):
        case = CLOUDS[cloud]
        public = [node_config(n) for n in rendered_nodes(compile_raw(case.spec(servers=3, api_load_balancer="public")))]
        private_spec = case.spec(servers=3, api_load_balancer="public", network={**case.network, "private_nodes": True})
        private = [node_config(n) for n in rendered_nodes(compile_raw(private_spec))]
        strip = lambda c: {k: v for k, v in c.items() if k != "k3s"}  # noqa: E731 (server SANs differ on azure)
        assert [strip(c) for c in public] == [strip(c) for c in private]


