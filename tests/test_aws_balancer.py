"""AWS's public API load balancer and autoscaler-ready pools: what they build and what
the nodes receive after apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import SPECS, apply_state, assert_kindling_accepts, compiled_example, decode_user_data, embedded_config
from test_aws import aws_spec, compiled, problems, resources

from nixk8s.backends.aws.autoscaler import cluster_autoscaler_tags
from nixk8s.compiler import Compiled
from nixk8s.explain_text import explain

# the tests share applied clusters (module fixtures): one xdist worker runs them all (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("aws-applied")


def public(**overrides: Any) -> dict[str, Any]:
    """Three servers behind a public API balancer that admits one office network."""
    raw = aws_spec(api_load_balancer="public", access={"api_sources": ["203.0.113.0/24"]}, **overrides)
    raw["node_pools"][0].update(min_size=3, max_size=3)
    return raw


def group_tags(c: Compiled, group: str) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in resources(c, "aws_autoscaling_group")[group]["tag"]}


# --- the public balancer ----------------------------------------------------------------------


def test_a_private_balancer_builds_no_internet_facing_one() -> None:
    c = compiled(aws_spec(api_load_balancer="private"))
    assert set(resources(c, "aws_lb")) == {"demo_cp_nlb"}
    assert "demo_api_sg" not in resources(c, "aws_security_group")


def test_a_public_balancer_is_an_internet_facing_nlb_beside_the_internal_one() -> None:
    lbs = resources(compiled(public()), "aws_lb")
    assert lbs["demo_cp_nlb"]["internal"] is True
    assert lbs["demo_api_nlb"]["internal"] is False
    assert lbs["demo_api_nlb"]["load_balancer_type"] == "network"


def test_the_public_balancer_admits_the_api_sources_only_through_its_security_group() -> None:
    c = compiled(public())
    guard = resources(c, "aws_security_group")["demo_api_sg"]
    assert resources(c, "aws_lb")["demo_api_nlb"]["security_groups"] == ["${aws_security_group.demo_api_sg.id}"]
    [ingress] = guard["ingress"]
    assert (ingress["from_port"], ingress["to_port"], ingress["protocol"]) == (6443, 6443, "tcp")
    assert ingress["cidr_blocks"] == ["203.0.113.0/24"]
    [egress] = guard["egress"]
    assert egress["cidr_blocks"] == ["10.0.0.0/16"]  # only to the servers, inside the VPC


def test_every_server_registers_with_both_balancers() -> None:
    groups = resources(compiled(public()), "aws_autoscaling_group")
    for i in range(3):
        assert groups[f"demo_cp_{i}_asg"]["target_group_arns"] == [
            "${aws_lb_target_group.demo_cp_tg.arn}",
            "${aws_lb_target_group.demo_api_tg.arn}",
        ]


def test_the_public_listener_forwards_6443_to_its_own_target_group() -> None:
    listener = resources(compiled(public()), "aws_lb_listener")["demo_api_listener"]
    assert (listener["port"], listener["protocol"]) == (6443, "TCP")
    assert listener["default_action"] == [{"type": "forward", "target_group_arn": "${aws_lb_target_group.demo_api_tg.arn}"}]


def test_the_api_endpoint_is_the_public_balancer_and_joins_stay_internal() -> None:
    c = compiled(public())
    outputs = c.document["output"]
    assert outputs["api_endpoint"]["value"] == "https://${aws_lb.demo_api_nlb.dns_name}:6443"
    assert outputs["join_server"]["value"].count("aws_lb.demo_cp_nlb.dns_name") == 1


def test_explain_says_the_public_balancer_enforces_the_api_sources() -> None:
    assert "AWS enforces them at the balancer" in explain(compiled(public()))


class AppliedExample:
    """The aws-k3s-ha example (public balancer, autoscaled pools) after a simulated apply."""

    def __init__(self, tmp: Path) -> None:
        self.compiled = compiled_example(SPECS / "aws-k3s-ha.yaml")
        self.state = apply_state(self.compiled, tmp)
        self.internal = self.state["aws_lb.demo_cp_nlb"]["dns_name"]
        self.public = self.state["aws_lb.demo_api_nlb"]["dns_name"]
        self.configs = {
            address.split(".")[1]: embedded_config(decode_user_data(values["user_data"]))
            for address, values in self.state.items()
            if address.startswith("aws_launch_template.")
        }


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> AppliedExample:
    return AppliedExample(tmp_path_factory.mktemp("aws-public"))


@pytest.mark.tfcheck
def test_applied_example_has_two_distinct_balancer_names(applied: AppliedExample) -> None:
    assert applied.internal and applied.public and applied.internal != applied.public


@pytest.mark.tfcheck
def test_applied_every_joiner_joins_through_the_internal_balancer(applied: AppliedExample) -> None:
    joiners = {name: c for name, c in applied.configs.items() if name != "demo_cp_0_lt"}
    assert len(joiners) == 4  # servers 1 and 2, and the two worker pools
    for config in joiners.values():
        assert config["join_server"] == f"https://{applied.internal}:6443"


@pytest.mark.tfcheck
def test_applied_every_servers_certificate_names_both_balancers(applied: AppliedExample) -> None:
    for i in range(3):
        sans = applied.configs[f"demo_cp_{i}_lt"]["k3s"]["tls_san"]
        assert applied.internal in sans and applied.public in sans


@pytest.mark.tfcheck
def test_applied_configs_validate_against_the_consumer_schema(applied: AppliedExample) -> None:
    for config in applied.configs.values():
        assert_kindling_accepts(config)


# --- autoscaler-ready pools -------------------------------------------------------------------


def autoscaled(**pool: Any) -> dict[str, Any]:
    raw = aws_spec()
    raw["node_pools"][1].update(autoscale=True, **pool)
    return raw


def test_an_autoscaled_pool_carries_the_discovery_tags() -> None:
    tags = group_tags(compiled(autoscaled()), "demo_workers_asg")
    assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert tags["k8s.io/cluster-autoscaler/demo"] == "owned"


def test_an_autoscaled_pool_tells_the_autoscaler_its_labels_and_taints_for_scale_from_zero() -> None:
    raw = autoscaled(
        min_size=0, labels={"gpu": "true"}, taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    )
    tags = group_tags(compiled(raw), "demo_workers_asg")
    assert tags["k8s.io/cluster-autoscaler/node-template/label/gpu"] == "true"
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"] == "true:NoSchedule"


def test_terraform_ignores_the_desired_capacity_of_an_autoscaled_pool_only() -> None:
    raw = autoscaled()
    raw["node_pools"].append({"name": "fixed", "instance_types": ["m6i.large"], "min_size": 2, "max_size": 2})
    groups = resources(compiled(raw), "aws_autoscaling_group")
    assert groups["demo_workers_asg"]["lifecycle"] == {"ignore_changes": ["desired_capacity"]}
    assert "lifecycle" not in groups["demo_fixed_asg"]


def test_a_pool_terraform_sizes_carries_no_autoscaler_tags() -> None:
    tags = group_tags(compiled(aws_spec()), "demo_workers_asg")
    assert not any(key.startswith("k8s.io/cluster-autoscaler") for key in tags)


def test_explain_names_the_autoscaler_as_the_owner_of_the_pools_size() -> None:
    assert "cluster-autoscaler" in explain(compiled(autoscaled()))


def test_too_many_labels_for_the_groups_tags_are_refused_at_the_pools_labels() -> None:
    raw = autoscaled(labels={f"l{i}": "x" for i in range(45)})
    assert [p.path for p in problems(raw)] == ["node_pools[1].labels"]


def test_an_autoscaler_tag_key_longer_than_aws_allows_is_refused() -> None:
    label = "a" * 60 + ".example.com/" + "k" * 63
    assert len(next(k for k in cluster_autoscaler_tags("demo", _pool(label)) if label in k)) > 128
    raw = autoscaled(labels={label: "x"})
    assert "node_pools[1].labels" in [p.path for p in problems(raw)]


def _pool(label: str) -> Any:
    from nixk8s.spec import NodePool

    return NodePool(name="workers", instance_types=("m6i.large",), labels={label: "x"})
