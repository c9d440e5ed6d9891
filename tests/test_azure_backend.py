"""The Azure backend: what it builds from a spec (DESIGN §5), resource by resource."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from clouds import azure_spec
from strategies import AZURE_ADMIN_KEY, AZURE_IMAGES, AZURE_RSA_KEY
from support import compile_raw, document_user_data, embedded_config, node_config, rendered_nodes

from nixk8s.backends.azure.nodes import COMPUTER_NAME_PREFIX_LIMIT, IMDS, VM_NAME_LIMIT
from nixk8s.compiler import Compiled
from nixk8s.explain_text import explain
from nixk8s.index_probe import metadata_index_probe

RULE_FIELDS = {
    "name", "priority", "direction", "access", "protocol", "source_port_range", "source_port_ranges",
    "destination_port_range", "destination_port_ranges", "source_address_prefix", "source_address_prefixes",
    "destination_address_prefix", "destination_address_prefixes", "source_application_security_group_ids",
    "destination_application_security_group_ids", "description",
}


def with_azure(**fields: Any) -> dict[str, Any]:
    base = azure_spec()
    return azure_spec(azure={**base["azure"], **fields})


def ha(**overrides: Any) -> dict[str, Any]:
    """Three servers and the worker pool."""
    raw = azure_spec(**overrides)
    raw["node_pools"][0] = {**raw["node_pools"][0], "min_size": 3, "max_size": 3}
    return raw


def resources(c: Compiled, resource_type: str) -> dict[str, Any]:
    return c.document["resource"].get(resource_type, {})


def rules(c: Compiled) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in resources(c, "azurerm_network_security_group")["demo_nsg"]["security_rule"]}


# --- provider and resource group ----------------------------------------------------------------


def test_the_provider_block_has_features_and_never_rolls_scale_set_instances() -> None:
    provider = compile_raw(azure_spec()).document["provider"]["azurerm"]
    assert provider == {"features": {"virtual_machine_scale_set": {"roll_instances_when_required": False}}}


def test_the_provider_is_azurerm_4() -> None:
    required = compile_raw(azure_spec()).document["terraform"]["required_providers"]["azurerm"]
    assert required == {"source": "hashicorp/azurerm", "version": ">= 4.0, < 5.0"}


def test_a_resource_group_is_created_in_the_region() -> None:
    c = compile_raw(azure_spec())
    group = resources(c, "azurerm_resource_group")["demo_rg"]
    assert (group["name"], group["location"]) == ("demo-rg", "westeurope")
    vnet = resources(c, "azurerm_virtual_network")["demo_vnet"]
    assert vnet["resource_group_name"] == "${azurerm_resource_group.demo_rg.name}"
    assert vnet["location"] == "${azurerm_resource_group.demo_rg.location}"


def test_an_existing_resource_group_is_used_by_name_and_not_created() -> None:
    c = compile_raw(with_azure(resource_group_name="platform-rg"))
    assert "azurerm_resource_group" not in c.document["resource"]
    vm = resources(c, "azurerm_linux_virtual_machine")["demo_cp_0"]
    assert (vm["resource_group_name"], vm["location"]) == ("platform-rg", "westeurope")


# --- network --------------------------------------------------------------------------------------


def test_the_vnet_and_subnet_come_from_the_network_block() -> None:
    c = compile_raw(azure_spec())
    assert resources(c, "azurerm_virtual_network")["demo_vnet"]["address_space"] == ["10.0.0.0/16"]
    subnet = resources(c, "azurerm_subnet")["demo_subnet"]
    assert subnet["address_prefixes"] == ["10.0.1.0/24"]
    assert subnet["virtual_network_name"] == "${azurerm_virtual_network.demo_vnet.name}"


def test_without_a_network_block_the_default_network_is_built() -> None:
    c = compile_raw(azure_spec(network=None))
    assert resources(c, "azurerm_virtual_network")["demo_vnet"]["address_space"] == ["10.0.0.0/16"]
    assert resources(c, "azurerm_subnet")["demo_subnet"]["address_prefixes"] == ["10.0.0.0/24"]


def test_outbound_traffic_leaves_through_a_nat_gateway_not_default_outbound_access() -> None:
    c = compile_raw(azure_spec())
    assert resources(c, "azurerm_subnet")["demo_subnet"]["default_outbound_access_enabled"] is False
    association = resources(c, "azurerm_subnet_nat_gateway_association")["demo_subnet_nat"]
    assert association == {"subnet_id": "${azurerm_subnet.demo_subnet.id}", "nat_gateway_id": "${azurerm_nat_gateway.demo_nat.id}"}
    nat_ip = resources(c, "azurerm_nat_gateway_public_ip_association")["demo_nat_pip_assoc"]
    assert nat_ip["public_ip_address_id"] == "${azurerm_public_ip.demo_nat_pip.id}"


def test_the_security_group_is_associated_with_the_subnet() -> None:
    association = resources(compile_raw(azure_spec()), "azurerm_subnet_network_security_group_association")
    assert association["demo_nsg_assoc"] == {
        "subnet_id": "${azurerm_subnet.demo_subnet.id}",
        "network_security_group_id": "${azurerm_network_security_group.demo_nsg.id}",
    }


# --- the security group ---------------------------------------------------------------------------


def test_rule_priorities_count_up_from_100_in_steps_of_10_and_end_with_the_deny_at_4096() -> None:
    priorities = [r["priority"] for r in rules(compile_raw(azure_spec())).values()]
    assert priorities[:-1] == list(range(100, 100 + 10 * (len(priorities) - 1), 10))
    assert priorities[-1] == 4096
    assert len(set(priorities)) == len(priorities)


def test_the_last_rule_denies_the_rest_of_the_vnet() -> None:
    deny = rules(compile_raw(azure_spec()))["deny-vnet-inbound"]
    assert (deny["access"], deny["protocol"], deny["source_address_prefix"]) == ("Deny", "*", "VirtualNetwork")
    assert deny["destination_port_range"] == "*"


def test_private_rows_are_open_to_the_vnet_cidr_only() -> None:
    by_name = rules(compile_raw(azure_spec()))
    for name in ("kubelet", "etcd", "vxlan", "flannel-wireguard"):
        assert by_name[name]["source_address_prefix"] == "10.0.0.0/16", name
        assert by_name[name]["access"] == "Allow"


def test_public_rows_are_open_to_their_access_sources() -> None:
    by_name = rules(compile_raw(azure_spec(access={"ssh_sources": ["203.0.113.0/24", "198.51.100.7/32"]})))
    assert by_name["ssh"]["source_address_prefixes"] == ["203.0.113.0/24", "198.51.100.7/32"]
    assert by_name["ssh"]["source_address_prefix"] is None
    assert by_name["ssh"]["destination_port_range"] == "22"


def test_a_row_open_to_anyone_has_one_rule_from_any_source() -> None:
    by_name = rules(compile_raw(azure_spec()))
    assert by_name["http"]["source_address_prefix"] == "*"
    assert "http-v6" not in by_name


def test_ipv4_and_ipv6_sources_become_two_rules() -> None:
    by_name = rules(compile_raw(azure_spec(access={"ssh_sources": ["203.0.113.0/24", "2001:db8::/32"]})))
    assert by_name["ssh"]["source_address_prefix"] == "203.0.113.0/24"
    assert by_name["ssh-v6"]["source_address_prefix"] == "2001:db8::/32"
    assert by_name["ssh-v6"]["destination_port_range"] == "22"


def test_the_api_is_open_to_the_vnet_because_nodes_join_server_zero_inside_it() -> None:
    by_name = rules(compile_raw(azure_spec(access={"api_sources": ["203.0.113.0/24"]})))
    assert by_name["api"]["source_address_prefixes"] == ["203.0.113.0/24", "10.0.0.0/16"]


def test_an_empty_access_list_opens_no_rule() -> None:
    assert "ssh" not in rules(compile_raw(azure_spec(access={"ssh_sources": []})))


def test_icmp_is_one_rule_without_ports() -> None:
    icmp = rules(compile_raw(azure_spec()))["icmp"]
    assert (icmp["protocol"], icmp["destination_port_range"]) == ("Icmp", "*")


def test_every_inline_rule_spells_out_every_field() -> None:
    for rule in rules(compile_raw(azure_spec())).values():
        assert set(rule) == RULE_FIELDS


# --- the control plane ------------------------------------------------------------------------------


def test_each_server_has_a_static_public_ip_and_a_nic_at_a_fixed_private_address() -> None:
    c = compile_raw(ha())
    for i in range(3):
        address = resources(c, "azurerm_public_ip")[f"demo_cp_{i}_pip"]
        assert (address["sku"], address["allocation_method"]) == ("Standard", "Static")
        (config,) = resources(c, "azurerm_network_interface")[f"demo_cp_{i}_nic"]["ip_configuration"]
        assert config["private_ip_address_allocation"] == "Static"
        assert config["private_ip_address"] == f"10.0.1.{4 + i}"
        assert config["public_ip_address_id"] == f"${{azurerm_public_ip.demo_cp_{i}_pip.id}}"


def test_servers_spread_across_the_zones() -> None:
    c = compile_raw(ha())
    vms = resources(c, "azurerm_linux_virtual_machine")
    assert [vms[f"demo_cp_{i}"]["zone"] for i in range(3)] == ["1", "2", "3"]
    assert [resources(c, "azurerm_public_ip")[f"demo_cp_{i}_pip"]["zones"] for i in range(3)] == [["1"], ["2"], ["3"]]


def test_without_zones_nothing_is_zonal() -> None:
    c = compile_raw(with_azure(zones=[]))
    assert "zone" not in resources(c, "azurerm_linux_virtual_machine")["demo_cp_0"]
    assert "zones" not in resources(c, "azurerm_public_ip")["demo_cp_0_pip"]
    assert "zones" not in resources(c, "azurerm_linux_virtual_machine_scale_set")["demo_workers"]


def test_servers_log_in_with_the_specs_key_only() -> None:
    vm = resources(compile_raw(azure_spec()), "azurerm_linux_virtual_machine")["demo_cp_0"]
    assert vm["disable_password_authentication"] is True
    assert vm["admin_username"] == "nixos"
    assert vm["admin_ssh_key"] == [{"username": "nixos", "public_key": AZURE_ADMIN_KEY}]


def test_a_pools_ssh_keys_are_more_keys_for_the_admin_user() -> None:
    raw = azure_spec()
    raw["node_pools"][1]["ssh_keys"] = [AZURE_RSA_KEY, AZURE_ADMIN_KEY]
    scale_set = resources(compile_raw(raw), "azurerm_linux_virtual_machine_scale_set")["demo_workers"]
    assert [k["public_key"] for k in scale_set["admin_ssh_key"]] == [AZURE_ADMIN_KEY, AZURE_RSA_KEY]


def test_no_machine_reads_a_file_on_the_operators_machine() -> None:
    assert "file(" not in compile_raw(azure_spec()).to_json().decode()


def test_servers_boot_the_nixos_image_with_the_pools_size_and_disk() -> None:
    vm = resources(compile_raw(with_azure(os_disk_type="Premium_LRS")), "azurerm_linux_virtual_machine")["demo_cp_0"]
    assert vm["source_image_id"] == AZURE_IMAGES[0]
    assert vm["size"] == "Standard_D2s_v5"
    (disk,) = vm["os_disk"]
    assert disk == {"name": "demo-cp-0-osdisk", "caching": "ReadWrite", "storage_account_type": "Premium_LRS", "disk_size_gb": 20}


def test_nixos_image_id_is_the_fallback_image() -> None:
    raw = azure_spec(nixos={"image_id": AZURE_IMAGES[1]})
    raw["azure"] = {"admin_ssh_public_key": AZURE_ADMIN_KEY}
    assert resources(compile_raw(raw), "azurerm_linux_virtual_machine")["demo_cp_0"]["source_image_id"] == AZURE_IMAGES[1]


def test_custom_data_is_the_base64_of_a_local_holding_the_user_data() -> None:
    c = compile_raw(azure_spec())
    vm = resources(c, "azurerm_linux_virtual_machine")["demo_cp_0"]
    assert vm["custom_data"] == "${base64encode(local.demo_cp_0_user_data)}"
    assert c.document["locals"]["demo_cp_0_user_data"].startswith("#cloud-config\n")


def test_servers_ignore_custom_data_image_and_key_changes_by_default() -> None:
    vm = resources(compile_raw(azure_spec()), "azurerm_linux_virtual_machine")["demo_cp_0"]
    assert vm["lifecycle"] == {"ignore_changes": ["custom_data", "source_image_id", "admin_ssh_key"]}


def test_replace_on_user_data_change_drops_the_lifecycle_block() -> None:
    vm = resources(compile_raw(with_azure(replace_on_user_data_change=True)), "azurerm_linux_virtual_machine")["demo_cp_0"]
    assert "lifecycle" not in vm


def test_machines_wait_for_the_security_group_and_the_nat_gateway() -> None:
    vm = resources(compile_raw(azure_spec()), "azurerm_linux_virtual_machine")["demo_cp_0"]
    assert set(vm["depends_on"]) >= {
        "azurerm_subnet_network_security_group_association.demo_nsg_assoc",
        "azurerm_subnet_nat_gateway_association.demo_subnet_nat",
    }


@pytest.mark.parametrize("enabled", [True, False])
def test_encryption_at_host_follows_the_spec(enabled: bool) -> None:
    c = compile_raw(with_azure(encryption_at_host=enabled))
    assert resources(c, "azurerm_linux_virtual_machine")["demo_cp_0"]["encryption_at_host_enabled"] is enabled
    assert resources(c, "azurerm_linux_virtual_machine_scale_set")["demo_workers"]["encryption_at_host_enabled"] is enabled


def test_machines_allow_no_extension_operations() -> None:
    c = compile_raw(azure_spec())
    assert resources(c, "azurerm_linux_virtual_machine")["demo_cp_0"]["allow_extension_operations"] is False
    assert resources(c, "azurerm_linux_virtual_machine_scale_set")["demo_workers"]["extension_operations_enabled"] is False


# --- worker pools -----------------------------------------------------------------------------------


def test_a_worker_pool_is_one_scale_set_of_its_desired_size_across_the_zones() -> None:
    raw = azure_spec()
    raw["node_pools"][1]["desired_size"] = 3
    scale_set = resources(compile_raw(raw), "azurerm_linux_virtual_machine_scale_set")["demo_workers"]
    assert (scale_set["sku"], scale_set["instances"], scale_set["zones"]) == ("Standard_D4s_v5", 3, ["1", "2", "3"])
    assert scale_set["overprovision"] is False
    assert scale_set["disable_password_authentication"] is True
    assert scale_set["custom_data"] == "${base64encode(local.demo_workers_user_data)}"


def test_the_autoscale_setting_keeps_the_pool_between_min_and_max() -> None:
    raw = azure_spec()
    raw["node_pools"][1]["desired_size"] = 3
    autoscale = resources(compile_raw(raw), "azurerm_monitor_autoscale_setting")["demo_workers_autoscale"]
    assert autoscale["target_resource_id"] == "${azurerm_linux_virtual_machine_scale_set.demo_workers.id}"
    assert autoscale["profile"] == [{"name": "default", "capacity": [{"minimum": 2, "maximum": 5, "default": 3}]}]


def test_terraform_leaves_the_scale_sets_size_to_the_autoscaler() -> None:
    scale_set = resources(compile_raw(azure_spec()), "azurerm_linux_virtual_machine_scale_set")["demo_workers"]
    assert scale_set["lifecycle"] == {"ignore_changes": ["instances"]}


def test_scale_sets_wait_for_the_servers_nics_to_claim_their_fixed_addresses() -> None:
    scale_set = resources(compile_raw(ha()), "azurerm_linux_virtual_machine_scale_set")["demo_workers"]
    assert {f"azurerm_network_interface.demo_cp_{i}_nic" for i in range(3)} <= set(scale_set["depends_on"])


def boot_commands(user_data: str) -> str:
    """What runs at boot: the script itself, or a cloud-config's runcmd."""
    if user_data.startswith("#cloud-config"):
        ((_, _, script),) = yaml.safe_load(user_data)["runcmd"]
        return str(script)
    return user_data


@pytest.mark.parametrize("fmt", ["shell", "cloud-config"])
def test_workers_embed_no_node_index_and_read_it_from_imds(fmt: str) -> None:
    c = compile_raw(azure_spec(user_data_format=fmt))
    (worker,) = [u for u in document_user_data(c.document) if '"role":"agent"' in u]
    assert "node_index" not in embedded_config(worker)
    assert metadata_index_probe(IMDS).script in boot_commands(worker)


# --- joining and certificates -------------------------------------------------------------------------


def test_without_a_balancer_later_servers_and_workers_join_server_zeros_private_address() -> None:
    c = compile_raw(ha(api_load_balancer="none"))
    joiners = [node_config(n) for n in rendered_nodes(c)][1:]
    assert joiners and all(config["join_server"] == "https://10.0.1.4:6443" for config in joiners)


def test_kubeadm_joins_without_a_scheme() -> None:
    raw = ha(distribution="kubernetes", bootstrap_secrets={"kubeadm_token": "abcdef.0123456789abcdef"})
    nodes = rendered_nodes(compile_raw(raw))
    assert node_config(nodes[1])["join_server"] == "10.0.1.4:6443"
    assert node_config(nodes[-1])["join_server"] == "10.0.1.254:6443"


def test_server_certificates_name_every_servers_public_address_and_the_balancers_reserved_one() -> None:
    c = compile_raw(ha(nixos={"k3s": {"tls_san": ["k8s.example.com"]}}, api_load_balancer="none"))
    sans = node_config(rendered_nodes(c)[1])["k3s"]["tls_san"]
    assert sans == [
        "k8s.example.com",
        *(f"azurerm_public_ip.demo_cp_{i}_pip.ip_address" for i in range(3)),
        "10.0.1.254",
    ]


def test_servers_receive_the_vnet_id_as_network_id() -> None:
    assert node_config(rendered_nodes(compile_raw(azure_spec()))[0])["network_id"] == "azurerm_virtual_network.demo_vnet.id"


# --- outputs ----------------------------------------------------------------------------------------


def test_without_a_balancer_outputs_name_server_zeros_public_api_and_private_join_address() -> None:
    outputs = compile_raw(ha(api_load_balancer="none")).document["output"]
    assert outputs["api_endpoint"]["value"] == "https://${azurerm_public_ip.demo_cp_0_pip.ip_address}:6443"
    assert outputs["join_server"]["value"] == "https://10.0.1.4:6443"
    assert outputs["control_plane_addresses"]["value"]["demo-cp-2"] == {
        "private_ip": "10.0.1.6",
        "public_ipv4": "${azurerm_public_ip.demo_cp_2_pip.ip_address}",
    }


# --- the API load balancer ------------------------------------------------------------------------

ASSOCIATIONS = "azurerm_network_interface_backend_address_pool_association"


def test_one_server_gets_no_balancer_unless_the_spec_asks() -> None:
    assert "azurerm_lb" not in compile_raw(azure_spec()).document["resource"]
    assert set(resources(compile_raw(azure_spec(api_load_balancer="private")), "azurerm_lb")) == {"demo_api_lb"}


def test_an_ha_control_plane_is_behind_an_internal_standard_balancer_at_a_fixed_address() -> None:
    lb = resources(compile_raw(ha()), "azurerm_lb")["demo_api_lb"]
    assert lb["sku"] == "Standard" and lb["name"] == "demo-api-lb"
    assert lb["frontend_ip_configuration"] == [
        {
            "name": "api",
            "subnet_id": "${azurerm_subnet.demo_subnet.id}",
            "private_ip_address_allocation": "Static",
            "private_ip_address": "10.0.1.254",
            "private_ip_address_version": "IPv4",
            "zones": ["1", "2", "3"],
        }
    ]


def test_without_zones_the_frontend_is_not_zonal() -> None:
    raw = ha()
    raw["azure"] = {**raw["azure"], "zones": []}
    lb = resources(compile_raw(raw), "azurerm_lb")["demo_api_lb"]
    assert "zones" not in lb["frontend_ip_configuration"][0]


def test_the_balancer_forwards_tcp_6443_to_a_pool_with_a_tcp_probe() -> None:
    c = compile_raw(ha())
    probe = resources(c, "azurerm_lb_probe")["demo_api_probe"]
    assert (probe["protocol"], probe["port"], probe["loadbalancer_id"]) == ("Tcp", 6443, "${azurerm_lb.demo_api_lb.id}")
    rule = resources(c, "azurerm_lb_rule")["demo_api_rule"]
    assert rule["frontend_ip_configuration_name"] == "api"
    assert (rule["protocol"], rule["frontend_port"], rule["backend_port"]) == ("Tcp", 6443, 6443)
    assert rule["backend_address_pool_ids"] == ["${azurerm_lb_backend_address_pool.demo_api_pool.id}"]
    assert rule["probe_id"] == "${azurerm_lb_probe.demo_api_probe.id}"
    assert "disable_outbound_snat" not in rule


def test_every_servers_nic_is_in_the_pool() -> None:
    c = compile_raw(ha())
    nic_config = resources(c, "azurerm_network_interface")["demo_cp_0_nic"]["ip_configuration"][0]["name"]
    members = resources(c, ASSOCIATIONS)
    assert set(members) == {f"demo_cp_{i}_api_pool" for i in range(3)}
    assert members["demo_cp_2_api_pool"] == {
        "network_interface_id": "${azurerm_network_interface.demo_cp_2_nic.id}",
        "ip_configuration_name": nic_config,
        "backend_address_pool_id": "${azurerm_lb_backend_address_pool.demo_api_pool.id}",
    }


def test_workers_join_the_balancer_and_later_servers_join_server_zero() -> None:
    nodes = rendered_nodes(compile_raw(ha()))
    servers = [node_config(n) for n in nodes if node_config(n)["role"] == "server"]
    workers = [node_config(n) for n in nodes if node_config(n)["role"] == "agent"]
    assert len(servers) == 3 and workers
    assert all(config["join_server"] == "https://10.0.1.4:6443" for config in servers[1:])
    assert all(config["join_server"] == "https://10.0.1.254:6443" for config in workers)


def test_server_certificates_name_the_balancer() -> None:
    c = compile_raw(ha(nixos={"k3s": {"tls_san": ["k8s.example.com"]}}))
    sans = node_config(rendered_nodes(c)[0])["k3s"]["tls_san"]
    publics = [f"azurerm_public_ip.demo_cp_{i}_pip.ip_address" for i in range(3)]
    assert sans == ["k8s.example.com", *publics, "10.0.1.254"]
    kubeadm = {"kubeadm_token": "abcdef.0123456789abcdef"}
    public = compile_raw(ha(api_load_balancer="public", distribution="kubernetes", bootstrap_secrets=kubeadm))
    sans = node_config(rendered_nodes(public)[2])["kubernetes"]["api_server_cert_sans"]
    assert sans[-2:] == ["10.0.1.254", "azurerm_public_ip.demo_api_pip.ip_address"]


def test_scale_sets_wait_for_the_balancers_rule_and_its_members() -> None:
    depends = resources(compile_raw(ha()), "azurerm_linux_virtual_machine_scale_set")["demo_workers"]["depends_on"]
    assert "azurerm_lb_rule.demo_api_rule" in depends
    assert all(f"{ASSOCIATIONS}.demo_cp_{i}_api_pool" in depends for i in range(3))


def test_the_nsg_admits_the_balancers_probes_to_the_api_before_the_deny() -> None:
    probe = rules(compile_raw(ha()))["api-lb-probe"]
    assert (probe["access"], probe["protocol"], probe["destination_port_range"]) == ("Allow", "Tcp", "6443")
    assert probe["source_address_prefix"] == "AzureLoadBalancer" and probe["priority"] < 4096
    assert "api-lb-probe" not in rules(compile_raw(ha(api_load_balancer="none")))


def test_the_api_rule_keeps_its_sources_behind_a_public_balancer() -> None:
    c = compile_raw(ha(api_load_balancer="public", access={"api_sources": ["203.0.113.0/24"]}))
    api = rules(c)["api"]
    assert api["source_address_prefixes"] == ["203.0.113.0/24", "10.0.0.0/16"]


def test_a_public_balancer_is_a_second_balancer_on_a_static_public_ip() -> None:
    c = compile_raw(ha(api_load_balancer="public"))
    address = resources(c, "azurerm_public_ip")["demo_api_pip"]
    assert (address["sku"], address["allocation_method"], address["zones"]) == ("Standard", "Static", ["1", "2", "3"])
    lb = resources(c, "azurerm_lb")["demo_api_public_lb"]
    assert lb["sku"] == "Standard"
    assert lb["frontend_ip_configuration"] == [
        {"name": "api-public", "public_ip_address_id": "${azurerm_public_ip.demo_api_pip.id}"}
    ]
    rule = resources(c, "azurerm_lb_rule")["demo_api_public_rule"]
    assert rule["frontend_ip_configuration_name"] == "api-public" and rule["disable_outbound_snat"] is True
    assert rule["backend_address_pool_ids"] == ["${azurerm_lb_backend_address_pool.demo_api_public_pool.id}"]
    assert set(resources(c, "azurerm_lb")) == {"demo_api_lb", "demo_api_public_lb"}
    assert set(resources(c, ASSOCIATIONS)) == {f"demo_cp_{i}_{p}" for i in range(3) for p in ("api_pool", "api_public_pool")}


def test_outputs_point_at_the_balancer() -> None:
    private = compile_raw(ha()).document["output"]
    assert private["api_endpoint"]["value"] == "https://10.0.1.254:6443"
    assert private["join_server"]["value"] == "https://10.0.1.254:6443"
    public = compile_raw(ha(api_load_balancer="public")).document["output"]
    assert public["api_endpoint"]["value"] == "https://${azurerm_public_ip.demo_api_pip.ip_address}:6443"
    assert public["join_server"]["value"] == "https://10.0.1.254:6443"


def test_the_foundation_hands_explain_the_balancer() -> None:
    handle = compile_raw(ha(api_load_balancer="public")).built.foundation.balancer
    assert handle is not None
    assert (handle.resource, handle.private_address) == ("azurerm_lb.demo_api_lb", "10.0.1.254")
    assert handle.public_address is not None and handle.public_address.text == "azurerm_public_ip.demo_api_pip.ip_address"
    assert compile_raw(azure_spec()).built.foundation.balancer is None


def test_explain_says_who_joins_where() -> None:
    text = explain(compile_raw(ha()))
    assert "internal Standard load balancer at 10.0.1.254" in text and "servers after the first join server 0" in text
    assert "no API load balancer" in explain(compile_raw(azure_spec()))
    kubeadm = ha(distribution="kubernetes", bootstrap_secrets={"kubeadm_token": "abcdef.0123456789abcdef"})
    assert "kube-proxy" in explain(compile_raw(kubeadm)) and "kube-proxy" not in text


# --- names ------------------------------------------------------------------------------------------


def long_names() -> dict[str, Any]:
    raw = azure_spec(name="a" * 40)
    raw["node_pools"][1]["name"] = "b" * 32
    return raw


def test_long_scale_set_names_are_shortened_with_a_stable_hash() -> None:
    scale_set = next(iter(resources(compile_raw(long_names()), "azurerm_linux_virtual_machine_scale_set").values()))
    assert len(scale_set["name"]) == VM_NAME_LIMIT
    assert len(scale_set["computer_name_prefix"]) == COMPUTER_NAME_PREFIX_LIMIT
    assert scale_set["computer_name_prefix"].endswith("-") and "_" not in scale_set["computer_name_prefix"]
    again = next(iter(resources(compile_raw(long_names()), "azurerm_linux_virtual_machine_scale_set").values()))
    assert again["name"] == scale_set["name"]


def test_shortened_names_are_explained() -> None:
    assert "Azure allows 64 and 57" in explain(compile_raw(long_names()))


def test_server_computer_names_are_host_names() -> None:
    vm = resources(compile_raw(long_names()), "azurerm_linux_virtual_machine")[f"{'a' * 40}_cp_0"]
    assert vm["computer_name"] == f"{'a' * 40}-cp-0"


# --- user_data format, tags, explain ----------------------------------------------------------------


def test_the_default_user_data_format_is_cloud_config() -> None:
    assert compile_raw(azure_spec()).plan.user_data_format == "cloud-config"


def test_machines_carry_the_base_tags_and_their_role() -> None:
    c = compile_raw(azure_spec(tags={"team": "platform"}))
    tags = resources(c, "azurerm_linux_virtual_machine")["demo_cp_0"]["tags"]
    assert tags == {
        "KubernetesCluster": "demo", "Backend": "azure", "ManagedBy": "nixk8s", "team": "platform",
        "Role": "control-plane", "NodePool": "system", "NodeIndex": "0",
    }
    assert resources(c, "azurerm_linux_virtual_machine_scale_set")["demo_workers"]["tags"]["Role"] == "worker"


def test_explain_says_what_the_image_needs_and_where_worker_indices_come_from() -> None:
    text = explain(compile_raw(azure_spec()))
    assert "cloud-init with the Azure datasource" in text and "waagent" in text
    assert "kindling must wait for cloud-init to write the file" in text
    assert "Azure IMDS" in text
    assert "ARM_SUBSCRIPTION_ID" in text
    assert "index from instance metadata" in text


def test_explain_shows_the_api_open_to_the_vnet_and_private_rows_closed_to_the_world() -> None:
    text = explain(compile_raw(azure_spec(access={"api_sources": ["203.0.113.0/24"]})))
    assert "6443/tcp         Kubernetes API           from 203.0.113.0/24, 10.0.0.0/16" in text
    assert "10250/tcp        kubelet                  from 10.0.0.0/16" in text


def test_a_secret_by_reference_reaches_custom_data_through_terraform() -> None:
    c = compile_raw(azure_spec(bootstrap_secrets={"k3s_server_token": {"var": "k3s_token"}}))
    assert c.document["variable"]["k3s_token"]["sensitive"] is True
    assert "${jsonencode(var.k3s_token)}" in c.document["locals"]["demo_cp_0_user_data"]


def test_the_alias_azure_nixos_builds_the_azure_backend() -> None:
    c = compile_raw(azure_spec(backend="azure_nixos"))
    assert c.plan.spec.backend == "azure"
    assert "azurerm_linux_virtual_machine" in c.document["resource"]
