"""The AWS backend: what it builds, what it refuses, and what the nodes receive after apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clouds import AMI, aws_spec
from support import (
    SPECS,
    apply_state,
    assert_kindling_accepts,
    boot_in_namespace,
    cloud_init_schema,
    compile_file,
    compiled_example,
    decode_user_data,
    document_user_data,
    embedded_config,
    ipv4_as_index,
    metadata_service,
    shellcheck,
    tfcheck,
    write_module,
)

from nixk8s.backends.aws.balancer import LB_NAME_LIMIT, aws_lb_name
from nixk8s.backends.aws.nodes import IMDS
from nixk8s.compiler import Compiled, compile_spec
from nixk8s.index_probe import metadata_index_probe
from nixk8s.load import load, parse
from nixk8s.problems import Problem

# the tests share applied clusters (module fixtures): one xdist worker runs them all (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("aws-applied")

AWS_SPECS = sorted(SPECS.glob("aws-*.yaml"))


def compiled(raw: dict[str, Any]) -> Compiled:
    return parse(json.dumps(raw).encode(), "json").bind(compile_spec).unwrap()


def problems(raw: dict[str, Any]) -> list[Problem]:
    result = parse(json.dumps(raw).encode(), "json").bind(compile_spec)
    assert result.value_or(None) is None, "expected the spec to be refused"
    return list(result.failure())


def resources(c: Compiled, resource_type: str) -> dict[str, Any]:
    return c.document["resource"].get(resource_type, {})


# --- terraform plan of the examples ---------------------------------------------------------


# --- the apply simulation ------------------------------------------------------------------


class Applied:
    """An example spec after a simulated apply: the state, and each template's decoded script."""

    def __init__(self, spec_file: str, tmp: Path) -> None:
        self.compiled = compiled_example(SPECS / spec_file)
        self.name = self.compiled.plan.name
        self.state = apply_state(self.compiled, tmp)
        self.scripts = {
            address: decode_user_data(values["user_data"])
            for address, values in self.state.items()
            if address.startswith("aws_launch_template.")
        }
        self.dns_name = self.state[f"aws_lb.{self.name}_cp_nlb"]["dns_name"]

    def script(self, node: str) -> str:
        return self.scripts[f"aws_launch_template.{self.name}_{node}_lt"]

    def config(self, node: str) -> dict[str, Any]:
        return embedded_config(self.script(node))


@pytest.fixture(scope="module")
def k3s_ha(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return Applied("aws-k3s-ha.yaml", tmp_path_factory.mktemp("aws-k3s-ha"))


@pytest.fixture(scope="module")
def kubernetes(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return Applied("aws-kubernetes.yaml", tmp_path_factory.mktemp("aws-kubernetes"))


@pytest.mark.tfcheck
def test_applied_launch_templates_are_one_per_server_and_per_worker_pool(k3s_ha: Applied) -> None:
    assert sorted(k3s_ha.scripts) == [
        "aws_launch_template.demo_cp_0_lt",
        "aws_launch_template.demo_cp_1_lt",
        "aws_launch_template.demo_cp_2_lt",
        "aws_launch_template.demo_gpu_lt",
        "aws_launch_template.demo_workers_lt",
    ]


@pytest.mark.tfcheck
def test_applied_load_balancer_has_a_simulated_dns_name(k3s_ha: Applied) -> None:
    assert k3s_ha.dns_name.endswith(".sim.invalid")


@pytest.mark.tfcheck
def test_applied_server_0_initialises_the_cluster_without_a_join_server(k3s_ha: Applied) -> None:
    config = k3s_ha.config("cp_0")
    assert config["cluster_init"] is True
    assert config["node_index"] == 0
    assert "join_server" not in config


@pytest.mark.tfcheck
@pytest.mark.parametrize("i", [1, 2])
def test_applied_later_servers_join_through_the_load_balancers_dns_name(k3s_ha: Applied, i: int) -> None:
    config = k3s_ha.config(f"cp_{i}")
    assert config["join_server"] == f"https://{k3s_ha.dns_name}:6443"
    assert config["cluster_init"] is False
    assert config["node_index"] == i


@pytest.mark.tfcheck
@pytest.mark.parametrize("i", [0, 1, 2])
def test_applied_k3s_servers_certificates_name_the_load_balancer(k3s_ha: Applied, i: int) -> None:
    # nodes join https://<NLB>:6443 and verify the server's certificate against that name
    sans = k3s_ha.config(f"cp_{i}")["k3s"]["tls_san"]
    assert k3s_ha.dns_name in sans
    assert "k8s.example.com" in sans  # the spec's own names are kept


@pytest.mark.tfcheck
def test_applied_kubeadm_servers_certificates_name_the_load_balancer(kubernetes: Applied) -> None:
    servers = [a.split(".")[1].removeprefix(f"{kubernetes.name}_").removesuffix("_lt")
               for a in kubernetes.scripts if "_cp_" in a]
    assert servers
    for node in servers:
        assert kubernetes.config(node)["kubernetes"]["api_server_cert_sans"] == [kubernetes.dns_name]


@pytest.mark.tfcheck
@pytest.mark.parametrize("pool", ["workers", "gpu"])
def test_applied_workers_join_through_the_load_balancer_and_read_their_index_at_boot(
    k3s_ha: Applied, pool: str
) -> None:
    config = k3s_ha.config(pool)
    assert config["join_server"] == f"https://{k3s_ha.dns_name}:6443"
    assert config["role"] == "agent"
    assert "node_index" not in config
    assert metadata_index_probe(IMDS).script in k3s_ha.script(pool)


@pytest.mark.tfcheck
def test_applied_user_data_never_holds_a_placeholder_or_an_interpolation(k3s_ha: Applied) -> None:
    for script in k3s_ha.scripts.values():
        assert "${aws_lb" not in script and "jsonencode" not in script and "nixk8sexpr" not in script


@pytest.mark.tfcheck
def test_applied_kubeadm_join_server_has_no_scheme(kubernetes: Applied) -> None:
    assert kubernetes.config("workers")["join_server"] == f"{kubernetes.dns_name}:6443"


@pytest.mark.tfcheck
@pytest.mark.parametrize("example", ["k3s_ha", "kubernetes"])
def test_applied_configs_validate_against_the_consumer_schema(example: str, request: pytest.FixtureRequest) -> None:
    applied: Applied = request.getfixturevalue(example)
    for script in applied.scripts.values():
        assert_kindling_accepts(embedded_config(script))


@pytest.mark.tfcheck
@pytest.mark.parametrize("example", ["k3s_ha", "kubernetes"])
def test_applied_scripts_pass_shellcheck_and_bash_n(example: str, request: pytest.FixtureRequest) -> None:
    applied: Applied = request.getfixturevalue(example)
    for script in applied.scripts.values():
        shellcheck(script)


@pytest.mark.tfcheck
def test_applied_outputs_name_the_load_balancer(k3s_ha: Applied, tmp_path: Path) -> None:
    module = write_module(k3s_ha.compiled, tmp_path / "module")
    summary = tfcheck(module, "--apply").stdout
    assert f"https://{k3s_ha.dns_name}:6443" in summary
    assert "demo-cp-2-asg" in summary


# --- booting the user_data, as the machine would ------------------------------------------------


@pytest.mark.tfcheck
@pytest.mark.parametrize("pool", ["workers", "gpu"])
def test_applied_worker_script_writes_its_config_with_the_index_from_imds(
    k3s_ha: Applied, pool: str, tmp_path: Path
) -> None:
    boot = boot_in_namespace(k3s_ha.script(pool), metadata_service(IMDS, "10.0.2.17"), tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert boot.mode == 0o640
    assert boot.config is not None
    config = json.loads(boot.config)
    assert config["node_index"] == ipv4_as_index("10.0.2.17")
    assert_kindling_accepts(config)
    assert {k: v for k, v in config.items() if k != "node_index"} == k3s_ha.config(pool)


@pytest.mark.tfcheck
def test_applied_server_script_writes_its_config_without_asking_imds(k3s_ha: Applied, tmp_path: Path) -> None:
    boot = boot_in_namespace(k3s_ha.script("cp_1"), [], tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert boot.mode == 0o640
    assert boot.config is not None and json.loads(boot.config) == k3s_ha.config("cp_1")


def test_worker_script_fails_without_an_answer_from_imds_and_writes_no_config(tmp_path: Path) -> None:
    (script,) = [u for u in document_user_data(compiled(aws_spec()).document) if '"role":"agent"' in u]
    boot = boot_in_namespace(script, [], tmp_path)
    assert boot.returncode != 0
    assert boot.config is None


def test_cloud_config_worker_writes_its_config_with_the_index_from_imds(tmp_path: Path) -> None:
    c = compiled(aws_spec(user_data_format="cloud-config"))
    (document,) = [u for u in document_user_data(c.document) if '"role":"agent"' in u]
    cloud_init_schema(document)
    boot = boot_in_namespace(document, metadata_service(IMDS, "172.16.0.9"), tmp_path)
    assert boot.returncode == 0, boot.stderr
    assert boot.mode == 0o640
    assert boot.config is not None
    assert json.loads(boot.config)["node_index"] == (172 << 24) + (16 << 16) + 9


# --- the worker index probe ----------------------------------------------------------------


def test_index_probe_shell_variables_are_escaped_for_terraform() -> None:
    c = compiled(aws_spec())
    local = c.document["locals"]["demo_workers_user_data"]
    assert "$${local_ipv4}" in local and "$${imds_token}" in local


# --- load balancer names ----------------------------------------------------------------------


def test_short_load_balancer_names_are_kept() -> None:
    assert aws_lb_name("demo-cp-nlb") == "demo-cp-nlb"


def test_long_load_balancer_names_are_shortened_to_the_limit_with_a_stable_hash() -> None:
    long = "a" * 40 + "-cp-nlb"
    assert len(aws_lb_name(long)) == LB_NAME_LIMIT
    assert aws_lb_name(long) == aws_lb_name(long)
    assert aws_lb_name(long) != aws_lb_name("a" * 40 + "-cp-tg")


def test_a_long_cluster_name_compiles_with_load_balancer_names_within_the_limit() -> None:
    name = "a-very-long-cluster-name-for-production"
    c = compiled(aws_spec(name=name))
    lb = resources(c, "aws_lb")[f"{name}_cp_nlb"]["name"]
    tg = resources(c, "aws_lb_target_group")[f"{name}_cp_tg"]["name"]
    assert len(lb) <= 32 and len(tg) <= 32 and lb != tg
    assert any("longer than AWS allows" in note for note in c.built.notes)


# --- the spec checks (DESIGN §7) ---------------------------------------------------------------

CHECKS: dict[str, tuple[dict[str, Any], str]] = {
    "no image": (aws_spec(aws={}), "aws.ami_id"),
    "both ami_id and ssm parameter": (
        aws_spec(aws={"ami_id": AMI, "ssm_ami_parameter": "/nixos/ami"}),
        "aws.ssm_ami_parameter",
    ),
    "malformed ami id": (aws_spec(aws={"ami_id": "nixos-24.11"}), "aws.ami_id"),
    "vpc_id with network": (
        aws_spec(aws={"ami_id": AMI, "vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-01234567"]}),
        "aws.vpc_id",
    ),
    "subnet_ids without vpc_id": (aws_spec(network=None, aws={"ami_id": AMI, "subnet_ids": ["subnet-01234567"]}), "aws.vpc_id"),
    "vpc_id without subnet_ids": (aws_spec(network=None, aws={"ami_id": AMI, "vpc_id": "vpc-01234567"}), "aws.subnet_ids"),
    "malformed subnet id": (
        aws_spec(network=None, aws={"ami_id": AMI, "vpc_id": "vpc-01234567", "subnet_ids": ["sn-1"]}),
        "aws.subnet_ids[0]",
    ),
    "zone outside the region": (
        aws_spec(aws={"ami_id": AMI, "availability_zones": ["eu-central-1a", "us-east-1b"]}),
        "aws.availability_zones[1]",
    ),
    "zones without network": (
        aws_spec(network=None, aws={"ami_id": AMI, "availability_zones": ["eu-central-1a"]}),
        "aws.availability_zones",
    ),
    "vpc too large": (aws_spec(network={"vpc_cidr": "10.0.0.0/8"}), "network.vpc_cidr"),
    "subnets do not fit": (aws_spec(network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.254.0/24"}), "network.subnet_cidr"),
    "not an aws region": (aws_spec(region="nbg1"), "region"),
    "name starting with internal-": (aws_spec(name="internal-api"), "name"),
    "aws: tag prefix": (aws_spec(tags={"aws:owner": "me"}), 'tags["aws:owner"]'),
    "tag key too long": (aws_spec(tags={"k" * 129: "v"}), "tags." + "k" * 129),
    "tag value too long": (aws_spec(tags={"team": "v" * 257}), "tags.team"),
    "tag key not allowed in instance metadata": (aws_spec(tags={"example.com/team": "a"}), 'tags["example.com/team"]'),
    "too many tags": (aws_spec(tags={f"t{i}": "v" for i in range(45)}), "tags"),
    "malformed policy arn": (
        aws_spec(aws={"ami_id": AMI, "instance_profile_policies": ["AmazonSSMManagedInstanceCore"]}),
        "aws.instance_profile_policies[0]",
    ),
    "two key pairs on a pool": (
        aws_spec(node_pools=[{"name": "system", "instance_types": ["m6i.large"], "ssh_keys": ["a", "b"]}]),
        "node_pools[0].ssh_keys",
    ),
    "too many security group rules": (
        aws_spec(access={"ssh_sources": [f"10.{i}.0.0/16" for i in range(60)]}),
        "access",
    ),
    "user_data over 16 KB": (
        aws_spec(bootstrap_secrets={"k3s_server_token": "a-token", "nix_github_token": "x" * 16_500}),
        "node_pools[0]",
    ),
}


@pytest.mark.parametrize("raw,path", CHECKS.values(), ids=CHECKS.keys())
def test_check_refuses_with_the_spec_path(raw: dict[str, Any], path: str) -> None:
    assert path in [p.path for p in problems(raw)]


def test_user_data_limit_names_the_aws_limit() -> None:
    raw = aws_spec(bootstrap_secrets={"k3s_server_token": "a-token", "nix_github_token": "x" * 16_500})
    (problem,) = [p for p in problems(raw) if p.path == "node_pools[0]"]
    assert "16 KB" in problem.message


@pytest.mark.parametrize(("distribution", "join"), [("k3s", "k3s_server_token"), ("kubernetes", "kubeadm_token")])
def test_a_server_with_generated_authorities_and_every_token_by_reference_fits_16_kb(distribution: str, join: str) -> None:
    tokens = [join, "sops_age_key", "flux_github_token", "nix_github_token", "vpn_private_key", "vpn_psk",
              "k3s_admin_password"]
    raw = aws_spec(distribution=distribution, bootstrap_secrets={k: {"var": k} for k in tokens})
    built = compiled(raw).built
    assert built.control_plane and compiled(raw).plan.credentials is not None
    assert max(n.user_data.max_len() for n in built.control_plane) <= 16_384


def test_the_minimal_spec_is_accepted() -> None:
    assert load(json.dumps(aws_spec()).encode(), "json").value_or(None) is not None


def test_nixos_image_id_is_enough_for_an_image() -> None:
    c = compiled(aws_spec(aws=None, nixos={"image_id": AMI}))
    assert resources(c, "aws_launch_template")["demo_cp_0_lt"]["image_id"] == AMI


def test_cloud_config_is_allowed_with_a_note_about_kindlings_ec2_mode() -> None:
    c = compiled(aws_spec(user_data_format="cloud-config"))
    assert c.document["locals"]["demo_cp_0_user_data"].startswith("#cloud-config")
    assert any("rejects #cloud-config" in note for note in c.built.notes)


# --- what the document holds ------------------------------------------------------------------


def test_default_user_data_format_is_shell() -> None:
    c = compiled(aws_spec())
    assert c.plan.user_data_format == "shell"
    assert c.document["locals"]["demo_cp_0_user_data"].startswith("#!/bin/sh\n")


@pytest.mark.parametrize("template", ["demo_cp_0_lt", "demo_workers_lt"])
def test_user_data_is_terraforms_base64_of_the_nodes_local(template: str) -> None:
    c = compiled(aws_spec())
    local = template.removesuffix("_lt") + "_user_data"
    assert resources(c, "aws_launch_template")[template]["user_data"] == f"${{base64encode(local.{local})}}"
    assert local in c.document["locals"]


def test_join_address_in_user_data_is_a_reference_to_the_load_balancer() -> None:
    c = compiled(aws_spec())
    assert "jsonencode(\"https://${aws_lb.demo_cp_nlb.dns_name}:6443\")" in c.document["locals"]["demo_workers_user_data"]


@pytest.mark.parametrize("template", ["demo_cp_0_lt", "demo_workers_lt"])
def test_launch_templates_require_imdsv2_with_hop_limit_1_and_instance_tags(template: str) -> None:
    metadata = resources(compiled(aws_spec()), "aws_launch_template")[template]["metadata_options"]
    assert metadata == {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
        "instance_metadata_tags": "enabled",
    }


def test_launch_templates_have_an_encrypted_gp3_root_volume_of_the_pools_disk_size() -> None:
    raw = aws_spec()
    raw["node_pools"][1]["disk_size_gb"] = 120
    (mapping,) = resources(compiled(raw), "aws_launch_template")["demo_workers_lt"]["block_device_mappings"]
    assert mapping["device_name"] == "/dev/xvda"
    assert mapping["ebs"]["volume_type"] == "gp3"
    assert mapping["ebs"]["encrypted"] == "true"
    assert mapping["ebs"]["volume_size"] == 120


def test_launch_templates_tag_instances_and_volumes() -> None:
    lt = resources(compiled(aws_spec(tags={"team": "platform"})), "aws_launch_template")["demo_workers_lt"]
    by_type = {spec["resource_type"]: spec["tags"] for spec in lt["tag_specifications"]}
    assert set(by_type) == {"instance", "volume"}
    for tag_map in by_type.values():
        assert tag_map["KubernetesCluster"] == "demo" and tag_map["ManagedBy"] == "nixk8s"
        assert tag_map["team"] == "platform" and tag_map["NodePool"] == "workers"


def test_launch_templates_use_the_instance_profile_security_group_and_key_pair() -> None:
    lt = resources(compiled(aws_spec(aws={"ami_id": AMI, "key_pair": "ops"})), "aws_launch_template")["demo_cp_0_lt"]
    assert lt["iam_instance_profile"] == {"arn": "${aws_iam_instance_profile.demo_node_profile.arn}"}
    assert lt["vpc_security_group_ids"] == ["${aws_security_group.demo_sg.id}"]
    assert lt["key_name"] == "ops"


def test_each_control_plane_index_has_its_own_group_of_one_behind_the_target_group() -> None:
    raw = aws_spec()
    raw["node_pools"][0].update(min_size=3, max_size=3)
    groups = resources(compiled(raw), "aws_autoscaling_group")
    for i in range(3):
        group = groups[f"demo_cp_{i}_asg"]
        assert (group["min_size"], group["max_size"], group["desired_capacity"]) == (1, 1, 1)
        assert group["launch_template"]["id"] == f"${{aws_launch_template.demo_cp_{i}_lt.id}}"
        assert group["target_group_arns"] == ["${aws_lb_target_group.demo_cp_tg.arn}"]


def test_a_system_pool_of_min_size_0_parks_the_control_plane() -> None:
    raw = aws_spec()
    raw["node_pools"][0].update(min_size=0, max_size=1)
    c = compiled(raw)
    group = resources(c, "aws_autoscaling_group")["demo_cp_0_asg"]
    assert (group["min_size"], group["desired_capacity"]) == (0, 0)
    assert "aws_lb" in c.document["resource"] and "aws_vpc" in c.document["resource"]
    assert any("parked" in note for note in c.built.notes)


def test_worker_groups_take_the_pools_min_max_and_desired_size() -> None:
    raw = aws_spec()
    raw["node_pools"][1].update(min_size=1, max_size=9, desired_size=4)
    group = resources(compiled(raw), "aws_autoscaling_group")["demo_workers_asg"]
    assert (group["min_size"], group["max_size"], group["desired_capacity"]) == (1, 9, 4)
    assert "target_group_arns" not in group


def test_the_api_load_balancer_is_an_internal_nlb_with_a_tcp_6443_listener() -> None:
    c = compiled(aws_spec())
    nlb = resources(c, "aws_lb")["demo_cp_nlb"]
    assert nlb["internal"] is True and nlb["load_balancer_type"] == "network"
    tg = resources(c, "aws_lb_target_group")["demo_cp_tg"]
    assert (tg["port"], tg["protocol"]) == (6443, "TCP")
    listener = resources(c, "aws_lb_listener")["demo_cp_listener"]
    assert (listener["port"], listener["protocol"]) == (6443, "TCP")
    assert listener["default_action"] == [{"type": "forward", "target_group_arn": "${aws_lb_target_group.demo_cp_tg.arn}"}]


def test_network_has_one_public_subnet_per_zone_carved_from_the_vpc_cidr() -> None:
    c = compiled(aws_spec(network={"vpc_cidr": "10.8.0.0/16"}))
    subnets = resources(c, "aws_subnet")
    assert {k: (v["availability_zone"], v["cidr_block"]) for k, v in subnets.items()} == {
        "demo_subnet_a": ("eu-central-1a", "10.8.0.0/24"),
        "demo_subnet_b": ("eu-central-1b", "10.8.1.0/24"),
        "demo_subnet_c": ("eu-central-1c", "10.8.2.0/24"),
    }
    assert set(resources(c, "aws_route_table_association")) == {"demo_rta_a", "demo_rta_b", "demo_rta_c"}
    assert resources(c, "aws_route")["demo_default_route"]["gateway_id"] == "${aws_internet_gateway.demo_igw.id}"


def test_security_group_opens_private_rows_to_the_vpc_cidr_only() -> None:
    c = compiled(aws_spec(network={"vpc_cidr": "10.8.0.0/16"}))
    ingress = resources(c, "aws_security_group")["demo_sg"]["ingress"]
    kubelet = next(r for r in ingress if r["from_port"] == 10250)
    assert (kubelet["cidr_blocks"], kubelet["ipv6_cidr_blocks"]) == (["10.8.0.0/16"], [])


def test_security_group_opens_public_rows_to_the_access_sources() -> None:
    c = compiled(aws_spec(access={"ssh_sources": ["203.0.113.0/24", "2001:db8::/32"]}))
    ingress = resources(c, "aws_security_group")["demo_sg"]["ingress"]
    ssh = next(r for r in ingress if r["from_port"] == 22)
    assert (ssh["cidr_blocks"], ssh["ipv6_cidr_blocks"]) == (["203.0.113.0/24"], ["2001:db8::/32"])


def test_security_group_opens_the_api_to_the_vpc_for_nodes_joining_through_the_nlb() -> None:
    c = compiled(aws_spec(access={"api_sources": ["203.0.113.0/24"]}))
    api = next(r for r in resources(c, "aws_security_group")["demo_sg"]["ingress"] if r["from_port"] == 6443)
    assert api["cidr_blocks"] == ["203.0.113.0/24", "10.0.0.0/16"]


def test_an_existing_vpc_is_read_and_its_subnets_used() -> None:
    aws = {"ami_id": AMI, "vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-01234567", "subnet-89abcdef"]}
    c = compiled(aws_spec(network=None, aws=aws))
    assert "aws_vpc" not in c.document["resource"]
    assert c.document["data"]["aws_vpc"]["demo_vpc"] == {"id": "vpc-0123456789abcdef0"}
    group = resources(c, "aws_autoscaling_group")["demo_workers_asg"]
    assert group["vpc_zone_identifier"] == ["subnet-01234567", "subnet-89abcdef"]
    kubelet = next(r for r in resources(c, "aws_security_group")["demo_sg"]["ingress"] if r["from_port"] == 10250)
    assert kubelet["cidr_blocks"] == ["${data.aws_vpc.demo_vpc.cidr_block}"]


def test_without_network_or_vpc_the_default_vpc_and_subnets_are_used() -> None:
    c = compiled(aws_spec(network=None))
    assert c.document["data"]["aws_vpc"]["demo_vpc"] == {"default": True}
    assert resources(c, "aws_lb")["demo_cp_nlb"]["subnets"] == "${data.aws_subnets.demo_default_subnets.ids}"


def test_network_id_is_the_created_vpcs_id() -> None:
    c = compiled(aws_spec())
    assert 'jsonencode(aws_vpc.demo_vpc.id)' in c.document["locals"]["demo_cp_0_user_data"]
    assert "network_id" not in c.document["locals"]["demo_workers_user_data"]


def test_an_ssm_parameter_ami_is_read_by_a_data_source() -> None:
    c = compiled(aws_spec(aws={"ssm_ami_parameter": "/nixos/ami/latest"}))
    assert c.document["data"]["aws_ssm_parameter"]["demo_ami"] == {"name": "/nixos/ami/latest"}
    lt = resources(c, "aws_launch_template")["demo_cp_0_lt"]
    assert lt["image_id"] == "${data.aws_ssm_parameter.demo_ami.insecure_value}"


def test_nodes_get_a_role_with_ec2_trust_an_instance_profile_and_least_privilege_policies() -> None:
    c = compiled(aws_spec(aws={"ami_id": AMI, "instance_profile_policies": ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]}))
    trust = json.loads(resources(c, "aws_iam_role")["demo_node_role"]["assume_role_policy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert resources(c, "aws_iam_instance_profile")["demo_node_profile"]["role"] == "${aws_iam_role.demo_node_role.name}"
    attachments = resources(c, "aws_iam_role_policy_attachment")
    assert set(attachments) == {"demo_ecr_read", "demo_ec2_describe", "demo_extra_policy_0"}
    assert attachments["demo_extra_policy_0"]["policy_arn"] == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    for policy in resources(c, "aws_iam_policy").values():
        for statement in json.loads(policy["policy"])["Statement"]:
            assert all("*" not in action for action in statement["Action"])


def test_the_provider_block_carries_the_region() -> None:
    assert compiled(aws_spec()).document["provider"]["aws"] == {"region": "eu-central-1"}


def test_outputs_are_the_api_endpoint_join_server_and_control_plane_groups() -> None:
    raw = aws_spec(distribution="kubernetes", bootstrap_secrets={"kubeadm_token": "abcdef.0123456789abcdef"})
    out = compiled(raw).document["output"]
    assert out["api_endpoint"]["value"] == "https://${aws_lb.demo_cp_nlb.dns_name}:6443"
    assert out["join_server"]["value"] == "${aws_lb.demo_cp_nlb.dns_name}:6443"
    assert out["control_plane_asgs"]["value"] == ["${aws_autoscaling_group.demo_cp_0_asg.name}"]


def test_compilation_is_deterministic() -> None:
    a = compile_file(SPECS / "aws-k3s-ha.yaml").to_json()
    b = compile_file(SPECS / "aws-k3s-ha.yaml").to_json()
    assert a == b


def test_explain_shows_private_ports_open_to_the_vpc_and_workers_indexed_at_boot() -> None:
    from nixk8s.explain_text import explain

    text = explain(compiled(aws_spec(network={"vpc_cidr": "10.8.0.0/16"})))
    assert "kubelet                  from 10.8.0.0/16" in text
    assert "index from instance metadata" in text
    assert "legacyBootstrap" in text


def test_a_created_vpcs_default_security_group_is_emptied() -> None:
    (group,) = resources(compiled(aws_spec()), "aws_default_security_group").values()
    assert group["vpc_id"] == "${aws_vpc.demo_vpc.id}"
    assert group["ingress"] == [] and group["egress"] == []


def test_an_existing_vpcs_default_security_group_is_left_alone() -> None:
    raw = aws_spec(network=None, aws={"ami_id": AMI, "vpc_id": "vpc-01234567", "subnet_ids": ["subnet-01234567"]})
    assert resources(compiled(raw), "aws_default_security_group") == {}


# --- the image's kindling mode ----------------------------------------------------------------


def test_an_init_mode_image_refuses_template_built_workers() -> None:
    found = problems(aws_spec(nixos={"kindling_mode": "init"}))
    assert [p.path for p in found] == ["nixos.kindling_mode"]
    assert "index 0" in found[0].message


def test_an_init_mode_image_refuses_cloud_config() -> None:
    spec = aws_spec(nixos={"kindling_mode": "init"}, user_data_format="cloud-config")
    spec["node_pools"] = spec["node_pools"][:1]
    assert [p.message.split(":")[0] for p in problems(spec)] == ["kindling's EC2 init mode rejects #cloud-config user_data"]


def test_an_init_mode_image_boots_a_cluster_of_servers_alone() -> None:
    spec = aws_spec(nixos={"kindling_mode": "init"})
    spec["node_pools"] = spec["node_pools"][:1]
    assert compiled(spec).plan.spec.nixos.kindling_mode == "init"


def test_a_legacy_bootstrap_image_needs_no_warning() -> None:
    warned = compiled(aws_spec(nixos={"kindling_mode": "legacy-bootstrap"}, user_data_format="cloud-config")).warnings
    assert "legacy-bootstrap-needed" not in {w.code for w in warned}


def test_an_unstated_mode_warns_about_the_template_built_pool() -> None:
    warned = compiled(aws_spec()).warnings
    assert [w.path for w in warned if w.code == "legacy-bootstrap-needed"] == ["node_pools[1]"]
