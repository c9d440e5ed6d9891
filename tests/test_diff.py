"""``nixk8s diff``: the replacement table, how each change is classified, and the report.

Documents come from compiling small specs (so the tests follow what the backends emit)
or, for clouds and rules no compiled spec reaches yet, from hand-written resources;
then the command end to end (exit codes 0/3/4/1/2), and properties over generated
specs for every registered backend.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st
from returns.result import Failure

from nixk8s.backends.registry import BACKENDS
from nixk8s.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, main
from nixk8s.compiler import compile_spec

from nixk8s.document_diff import (
    EXIT_IN_PLACE,
    EXIT_NO_CHANGES,
    EXIT_REPLACES_MACHINES,
    Diff,
    ResourceChange,
    diff_documents,
    document_problems,
)
from nixk8s.document_diff import tfdoc
from nixk8s.document_diff.replacement import provider_of, rules_for, tables
from nixk8s.diff_report import render_json, render_text
from nixk8s.document_diff.rules import matches
from strategies import AZURE_ADMIN_KEY, AZURE_IMAGES, load_raw, raw_cluster_specs
from support import ROOT, SHARED, SPECS, compile_raw, minimal_spec, missing_tool, worker_pool

TOKEN = {"k3s_server_token": "a-token"}


def hcloud(workers: int = 0, **overrides: Any) -> dict[str, Any]:
    """A small hcloud spec with a network: one server and ``workers`` workers."""
    pools = [minimal_spec()["node_pools"][0], *([worker_pool(size=workers)] if workers else [])]
    fields: dict[str, Any] = {"node_pools": pools, "network": {"vpc_cidr": "10.0.0.0/16"}, "bootstrap_secrets": TOKEN}
    return minimal_spec(**{**fields, **overrides})


def aws(**overrides: Any) -> dict[str, Any]:
    """A small aws spec: one server, one worker pool of 2 to 5."""
    spec: dict[str, Any] = {
        "name": "demo",
        "backend": "aws",
        "region": "eu-central-1",
        "node_pools": [
            {"name": "system", "instance_types": ["m6i.large"], "min_size": 1, "max_size": 1},
            {"name": "workers", "instance_types": ["m6i.large"], "min_size": 2, "max_size": 5},
        ],
        "network": {"vpc_cidr": "10.0.0.0/16"},
        "bootstrap_secrets": TOKEN,
        "aws": {"ami_id": "ami-0123456789abcdef0"},
    }
    spec.update(overrides)
    return spec


def document(raw: dict[str, Any]) -> dict[str, Any]:
    return compile_raw(raw).document


def diff(old: dict[str, Any], new: dict[str, Any]) -> Diff:
    """The diff between two raw specs."""
    return diff_documents(document(old), document(new))


def resource(result: Diff, address: str) -> ResourceChange:
    found = [r for r in result.resources if r.address == address]
    assert found, f"{address} is not in the diff: {[r.address for r in result.resources]}"
    return found[0]


def actions(result: Diff) -> dict[str, str]:
    return {r.address: r.action for r in result.resources}


def with_pool(raw: dict[str, Any], index: int, **fields: Any) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    changed["node_pools"][index].update(fields)
    return changed


def resources_doc(resources: dict[str, dict[str, Any]], **blocks: Any) -> dict[str, Any]:
    """A hand-written document: ``{"TYPE.NAME": body}``."""
    by_type: dict[str, dict[str, Any]] = {}
    for address, body in resources.items():
        kind, name = address.split(".")
        by_type.setdefault(kind, {})[name] = body
    return {"resource": by_type, **blocks}


# --- the pattern language --------------------------------------------------------------------


def test_a_block_pattern_names_the_number_of_blocks_not_their_fields() -> None:
    assert matches("boot_disk.#", ("boot_disk", "#"))
    assert not matches("boot_disk.#", ("boot_disk", "auto_delete"))


def test_a_block_that_appears_whole_carries_its_forcing_fields() -> None:
    assert matches("boot_disk.#", ("boot_disk",), whole=True)
    assert matches("boot_disk.initialize_params.image", ("boot_disk",), whole=True)
    assert not matches("boot_disk.initialize_params.image", ("boot_disk",), whole=False)


def test_a_value_pattern_covers_everything_inside_it() -> None:
    assert matches("labels", ("labels", "team"))
    assert matches("*", ("anything", "at", "all"))


# --- the table against the providers' schemas --------------------------------------------------

RULES = {resource_type: rule for table in tables() for resource_type, rule in table.rules.items()}

SCHEMAS = SHARED / "tfcheck" / "schemas"


@cache
def _schema_document(provider: str) -> dict[str, Any] | None:
    path = SCHEMAS / f"{provider}.json.gz"
    return json.loads(gzip.decompress(path.read_bytes())) if path.is_file() else None


def _resource_schemas(provider: str) -> dict[str, Any]:
    document = _schema_document(provider)
    if document is None:
        missing_tool(f"{SCHEMAS}/{provider}.json.gz is missing: the table cannot be checked against the provider's schema")
    (schema,) = document["provider_schemas"].values()
    return schema["resource_schemas"]  # type: ignore[no-any-return]


def _path_problem(block: dict[str, Any], steps: list[str]) -> str | None:
    """Why a pattern names no argument of a schema block (None when it does)."""
    head, rest = steps[0], steps[1:]
    if head == "*":
        return None
    if head in block.get("attributes", {}):
        kind = block["attributes"][head]["type"]
        if not rest:
            return None
        if rest == ["#"]:
            return f"{head} is an attribute, not a block"
        if isinstance(kind, list) and kind[0] == "map":
            return None  # map keys: metadata.user-data
        if isinstance(kind, list) and isinstance(kind[1], list) and kind[1][0] == "object":
            return None if rest[0] in kind[1][1] else f"{head} has no field {rest[0]}"
        return f"{head} is a {kind}, it has no {rest[0]}"
    if head in block.get("block_types", {}):
        if not rest or rest == ["#"]:
            return None
        return _path_problem(block["block_types"][head]["block"], rest)
    return f"{head} is not an argument"


@pytest.mark.parametrize("resource_type", sorted(RULES))
def test_every_path_in_the_table_names_an_argument_of_the_providers_schema(resource_type: str) -> None:
    schemas = _resource_schemas(provider_of(resource_type))
    table = rules_for(provider_of(resource_type))
    assert table is not None and resource_type in schemas, f"{resource_type} is not a resource of {table and table.source}"
    rule = RULES[resource_type]
    block = schemas[resource_type]["block"]
    patterns = [
        *rule.replacing,
        *rule.updatable,
        *rule.kept_when_removed,
        *(c.pattern for c in rule.conditional),
        *(d.pattern for d in rule.disruptive),
    ]
    problems = {p: _path_problem(block, p.split(".")) for p in patterns}
    assert {p: why for p, why in problems.items() if why} == {}
    assert all(a in block["attributes"] for a in rule.changes_on_update)


def test_every_provider_in_the_table_names_where_it_was_read() -> None:
    for table in tables():
        assert {provider_of(t) for t in table.rules} == {table.provider}
        assert table.source and table.version and table.repository
        assert all(rule.source for rule in table.rules.values())


# --- hcloud --------------------------------------------------------------------------------


def test_a_changed_hcloud_image_is_ignored_by_default() -> None:
    result = diff(hcloud(), hcloud(hcloud={"image": "nixos-next"}))
    server = resource(result, "hcloud_server.demo_cp_0")
    assert server.action == "ignored"
    assert [(a.path, a.ignored) for a in server.attributes] == [("image", True)]
    assert result.exit_code == EXIT_NO_CHANGES


def test_a_changed_hcloud_image_replaces_the_server_when_replace_on_user_data_change_is_set() -> None:
    replacing = {"image": "nixos-snapshot", "replace_on_user_data_change": True}
    result = diff(hcloud(hcloud=replacing), hcloud(hcloud={**replacing, "image": "nixos-next"}))
    server = resource(result, "hcloud_server.demo_cp_0")
    assert (server.action, server.replaces_machines) == ("replaced", True)
    assert [(a.path, a.replaces) for a in server.attributes] == [("image", True)]
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_a_replaced_hcloud_server_takes_its_network_attachment_with_it() -> None:
    replacing = {"image": "nixos-snapshot", "replace_on_user_data_change": True}
    result = diff(hcloud(hcloud=replacing), hcloud(hcloud={**replacing, "image": "nixos-next"}))
    attachment = resource(result, "hcloud_server_network.demo_cp_0_network")
    assert attachment.action == "replaced"
    assert attachment.attributes[0].reason == (
        "known after apply: hcloud_server.demo_cp_0 is replaced; server_id forces replacement"
    )


def test_adding_a_worker_on_hcloud_adds_a_server_and_its_attachment_and_changes_nothing_else() -> None:
    result = diff(hcloud(workers=2), hcloud(workers=3))
    assert actions(result) == {
        "hcloud_server.demo_workers_2": "added",
        "hcloud_server_network.demo_workers_2_network": "added",
    }
    assert result.document == ()
    assert result.exit_code == EXIT_IN_PLACE


def test_removing_a_worker_destroys_its_machine() -> None:
    result = diff(hcloud(workers=3), hcloud(workers=2))
    server = resource(result, "hcloud_server.demo_workers_2")
    assert (server.action, server.replaces_machines) == ("removed", True)
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_a_network_cidr_change_cascades_to_the_attachments_but_not_the_servers() -> None:
    old = hcloud(workers=1)
    new = hcloud(workers=1, network={"vpc_cidr": "10.1.0.0/16"})
    result = diff(old, new)
    assert actions(result)["hcloud_network.demo_network"] == "replaced"
    assert actions(result)["hcloud_network_subnet.demo_subnet"] == "replaced"
    worker_attachment = resource(result, "hcloud_server_network.demo_workers_0_network")
    assert worker_attachment.action == "replaced"
    assert [a.reason for a in worker_attachment.attributes] == [
        "known after apply: hcloud_network_subnet.demo_subnet is replaced; subnet_id forces replacement"
    ]
    assert not any(r.replaces_machines for r in result.resources)
    # the running server keeps the certificate names of the old subnet (its balancer's reserved address)
    assert [(h.kind, h.machines) for h in result.hazards] == [("not-applied", ("hcloud_server.demo_cp_0",))]
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_removing_a_fixed_attachment_address_keeps_the_address() -> None:
    old = resources_doc({"hcloud_server_network.a": {"server_id": "1", "subnet_id": "s", "ip": "10.0.1.2"}})
    new = resources_doc({"hcloud_server_network.a": {"server_id": "1", "subnet_id": "s"}})
    change = resource(diff_documents(old, new), "hcloud_server_network.a")
    assert change.action == "ignored"
    assert change.attributes[0].reason == "removed from the configuration: the provider keeps the current value"


def test_moving_a_server_between_placement_groups_is_flagged() -> None:
    body = {"name": "a", "image": "i", "server_type": "cx22", "location": "nbg1", "placement_group_id": "1"}
    old = resources_doc({"hcloud_server.a": body})
    new = resources_doc({"hcloud_server.a": {**body, "placement_group_id": "2"}})
    change = resource(diff_documents(old, new), "hcloud_server.a")
    assert change.action == "in-place"
    assert any("placement group" in note for note in change.notes)


# --- cluster-config and secrets -----------------------------------------------------------------


def test_a_node_label_change_shows_as_a_cluster_config_and_k3s_drop_in_key_change() -> None:
    old = hcloud(workers=1)
    new = with_pool(old, 1, labels={"gpu": "true"})
    user_data = resource(diff(old, new), "hcloud_server.demo_workers_0").attributes[0]
    assert user_data.path == "user_data"
    assert [(c.path, c.change, c.new) for c in user_data.config] == [
        ("k3s.node_labels.gpu", "added", '"true"'),
        ("k3s-drop-in.node-label", "added", '["gpu=true"]'),
    ]
    assert (user_data.old, user_data.new) == (None, None)
    assert "user_data: the k3s drop-in is added; the cluster-config changes" in render_text(diff(old, new))
    grown = with_pool(new, 1, labels={"gpu": "true", "tier": "web"})
    assert "user_data: the cluster-config and the k3s drop-in change" in render_text(diff(new, grown))


def test_a_label_key_with_dots_is_quoted_in_its_path() -> None:
    old = hcloud(workers=1)
    new = with_pool(old, 1, labels={"node.kubernetes.io/pool": "workers"})
    user_data = resource(diff(old, new), "hcloud_server.demo_workers_0").attributes[0]
    assert [c.path for c in user_data.config] == ['k3s.node_labels["node.kubernetes.io/pool"]', "k3s-drop-in.node-label"]


def test_an_etcd_snapshot_change_shows_in_the_servers_drop_in_and_hides_the_keys() -> None:
    store = {"bucket": "b", "access_key": "old-access-1", "secret_key": {"var": "etcd_s3_secret"}}
    old = hcloud(etcd_snapshots={"s3": store})
    new = hcloud(etcd_snapshots={"retention": 9, "s3": {**store, "access_key": "new-access-2"}})
    result = diff(old, new)
    user_data = resource(result, "hcloud_server.demo_cp_0").attributes[0]
    assert [(c.path, c.secret, c.old, c.new) for c in user_data.config] == [
        ("k3s-drop-in.etcd-s3-access-key", True, None, None),
        ("k3s-drop-in.etcd-snapshot-retention", False, "5", "9"),
    ]
    for report in (render_text(result), render_json(result).decode()):
        assert "old-access-1" not in report and "new-access-2" not in report
    assert "user_data: the k3s drop-in changes" in render_text(result)


def test_a_secret_literal_change_prints_no_secret() -> None:
    result = diff(hcloud(bootstrap_secrets={"k3s_server_token": "old-token-1"}), hcloud(bootstrap_secrets={"k3s_server_token": "new-token-2"}))
    user_data = resource(result, "hcloud_server.demo_cp_0").attributes[0]
    assert [(c.path, c.secret, c.old, c.new) for c in user_data.config] == [
        ("bootstrap_secrets.k3s_server_token", True, None, None)
    ]
    for report in (render_text(result), render_json(result).decode()):
        assert "old-token-1" not in report and "new-token-2" not in report
    assert "bootstrap_secrets.k3s_server_token: (secret changed)" in render_text(result)


def test_a_sensitive_variable_reference_is_shown_as_a_secret() -> None:
    variables = {"variable": {"token": {"type": "string", "sensitive": True}}}
    old = resources_doc({"hcloud_firewall.f": {"name": "f", "labels": {"t": "${var.token}"}}}, **variables)
    new = resources_doc({"hcloud_firewall.f": {"name": "f", "labels": {"t": "x${var.token}"}}}, **variables)
    attribute = resource(diff_documents(old, new), "hcloud_firewall.f").attributes[0]
    assert (attribute.secret, attribute.old, attribute.new) == (True, None, None)
    assert "labels.t: (secret changed)" in render_text(diff_documents(old, new))


def test_a_variable_default_is_never_shown() -> None:
    old = {"variable": {"token": {"type": "string", "default": "hunter2-old"}}, "resource": {}}
    new = {"variable": {"token": {"type": "string", "default": "hunter2-new"}}, "resource": {}}
    result = diff_documents(old, new)
    assert [(d.kind, d.name, d.paths) for d in result.document] == [("variable", "token", ("default",))]
    assert "hunter2" not in render_text(result) + render_json(result).decode()
    assert result.exit_code == EXIT_IN_PLACE


def test_a_user_data_format_change_is_named() -> None:
    result = diff(hcloud(user_data_format="cloud-config"), hcloud(user_data_format="shell"))
    user_data = resource(result, "hcloud_server.demo_cp_0").attributes[0]
    assert user_data.config == ()
    assert user_data.reason is not None and user_data.reason.startswith("the user_data changes from cloud-config to shell")


# --- AWS -----------------------------------------------------------------------------------------


def test_changing_an_aws_group_name_replaces_the_group_and_its_machines() -> None:
    old = document(aws())
    new = copy.deepcopy(old)
    new["resource"]["aws_autoscaling_group"]["demo_workers_asg"]["name"] = "demo-renamed-asg"
    group = resource(diff_documents(old, new), "aws_autoscaling_group.demo_workers_asg")
    assert (group.action, group.replaces_machines) == ("replaced", True)
    assert "AWS terminates the group's instances and launches new ones" in group.notes


def test_renaming_an_aws_pool_destroys_its_group_and_creates_another() -> None:
    result = diff(aws(), with_pool(aws(), 1, name="compute"))
    assert actions(result) == {
        "aws_autoscaling_group.demo_compute_asg": "added",
        "aws_autoscaling_group.demo_workers_asg": "removed",
        "aws_launch_template.demo_compute_lt": "added",
        "aws_launch_template.demo_workers_lt": "removed",
    }
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_a_launch_template_change_reaches_new_instances_only() -> None:
    result = diff(aws(), with_pool(aws(), 1, instance_types=["m6i.xlarge"]))
    template = resource(result, "aws_launch_template.demo_workers_lt")
    assert template.action == "in-place"
    assert any("reaches newly launched instances only" in n for n in template.notes)
    group = resource(result, "aws_autoscaling_group.demo_workers_asg")
    assert [(a.path, a.reason) for a in group.attributes] == [
        ("launch_template.version", "known after apply: aws_launch_template.demo_workers_lt changes (latest_version)")
    ]
    assert result.exit_code == EXIT_IN_PLACE


def test_an_autoscaled_groups_desired_capacity_is_ignored() -> None:
    before = with_pool(aws(), 1, autoscale=True)
    result = diff(before, with_pool(before, 1, desired_size=3))
    group = resource(result, "aws_autoscaling_group.demo_workers_asg")
    assert (group.action, [a.path for a in group.attributes]) == ("ignored", ["desired_capacity"])


def test_a_terraform_sized_groups_desired_capacity_changes_in_place() -> None:
    result = diff(aws(), with_pool(aws(), 1, desired_size=3))
    group = resource(result, "aws_autoscaling_group.demo_workers_asg")
    assert (group.action, [a.path for a in group.attributes]) == ("in-place", ["desired_capacity"])


def test_lowering_a_groups_maximum_counts_as_destroying_machines() -> None:
    result = diff(aws(), with_pool(aws(), 1, max_size=4))
    group = resource(result, "aws_autoscaling_group.demo_workers_asg")
    assert (group.action, group.replaces_machines) == ("in-place", True)
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_a_new_aws_region_replaces_regional_resources_but_not_iam() -> None:
    zones = {"ami_id": "ami-0123456789abcdef0"}
    result = diff(aws(aws=zones), aws(region="eu-west-1", aws=zones))
    assert actions(result)["aws_autoscaling_group.demo_cp_0_asg"] == "replaced"
    assert "aws_iam_role.demo_node_role" not in actions(result)
    assert [d.name for d in result.document if d.kind == "provider"] == ["aws"]


def test_a_network_load_balancer_losing_a_subnet_is_replaced_but_one_gaining_a_subnet_is_not() -> None:
    def nlb(*subnets: str) -> dict[str, Any]:
        return resources_doc({"aws_lb.api": {"name": "api", "load_balancer_type": "network", "subnets": list(subnets)}})

    assert actions(diff_documents(nlb("a", "b"), nlb("a")))["aws_lb.api"] == "replaced"
    assert actions(diff_documents(nlb("a"), nlb("a", "b")))["aws_lb.api"] == "in-place"


# --- GCP ---------------------------------------------------------------------------------------


def gcp(**overrides: Any) -> dict[str, Any]:
    """A small gcp spec: one server, one worker pool of 2 to 5."""
    spec: dict[str, Any] = {
        "name": "demo",
        "backend": "gcp",
        "region": "europe-west1",
        "node_pools": [
            {"name": "system", "instance_types": ["e2-standard-2"], "min_size": 1, "max_size": 1},
            {"name": "workers", "instance_types": ["e2-standard-4"], "min_size": 2, "max_size": 5},
        ],
        "network": {"vpc_cidr": "10.8.0.0/16", "subnet_cidr": "10.8.1.0/24"},
        "bootstrap_secrets": TOKEN,
        "gcp": {"project": "my-project", "image": "projects/my-project/global/images/nixos"},
    }
    spec.update(overrides)
    return spec


def test_a_gcp_worker_pool_change_makes_a_new_template_that_reaches_new_machines_only() -> None:
    result = diff(gcp(), with_pool(gcp(), 1, labels={"gpu": "true"}))
    template = resource(result, "google_compute_instance_template.demo_workers")
    assert (template.action, template.create_before_destroy) == ("replaced", True)
    assert [(c.path, c.new) for c in template.attributes[0].config] == [
        ("k3s.node_labels.gpu", '"true"'),
        ("k3s-drop-in.node-label", '["gpu=true"]'),
    ]
    group = resource(result, "google_compute_region_instance_group_manager.demo_workers")
    assert (group.action, group.replaces_machines) == ("in-place", False)
    assert any("reaches new machines only" in n for n in group.notes)
    # the running workers keep their old labels: a hazard naming the group
    assert [(h.kind, h.machines) for h in result.hazards] == [("not-applied", (group.address,))]
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_a_gcp_server_of_another_machine_type_is_stopped_not_replaced() -> None:
    result = diff(gcp(), with_pool(gcp(), 0, instance_types=["e2-standard-4"]))
    server = resource(result, "google_compute_instance.demo_cp_0")
    assert (server.action, server.replaces_machines) == ("in-place", False)
    assert any("stops and starts" in n for n in server.notes)


# --- Azure -------------------------------------------------------------------------------------


def azure(**overrides: Any) -> dict[str, Any]:
    """A small azure spec: one server, one worker pool of 2 to 5."""
    spec: dict[str, Any] = {
        "name": "demo",
        "backend": "azure",
        "region": "westeurope",
        "node_pools": [
            {"name": "system", "instance_types": ["Standard_D2s_v5"], "min_size": 1, "max_size": 1},
            {"name": "workers", "instance_types": ["Standard_D4s_v5"], "min_size": 2, "max_size": 5},
        ],
        "network": {"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.1.0/24"},
        "bootstrap_secrets": TOKEN,
        "azure": {"admin_ssh_public_key": AZURE_ADMIN_KEY, "image_id": AZURE_IMAGES[0]},
    }
    spec.update(overrides)
    return spec


def test_an_azure_worker_pool_change_updates_the_scale_set_model_for_new_instances_only() -> None:
    result = diff(azure(), with_pool(azure(), 1, labels={"gpu": "true"}))
    scale_set = resource(result, "azurerm_linux_virtual_machine_scale_set.demo_workers")
    assert (scale_set.action, scale_set.replaces_machines) == ("in-place", False)
    assert any("reaches new and scaled-out instances only" in n for n in scale_set.notes)
    assert [(h.kind, h.machines) for h in result.hazards] == [("not-applied", (scale_set.address,))]
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_an_azure_servers_new_custom_data_is_ignored_by_default() -> None:
    nixos = {"k3s": {"tls_san": ["k8s.example.com"]}}
    server = resource(diff(azure(), azure(nixos=nixos)), "azurerm_linux_virtual_machine.demo_cp_0")
    assert (server.action, server.replaces_machines) == ("ignored", False)


def test_an_azure_server_that_opts_into_replacement_is_replaced_by_new_custom_data() -> None:
    replacing = {**azure()["azure"], "replace_on_user_data_change": True}
    nixos = {"k3s": {"tls_san": ["k8s.example.com"]}}
    result = diff(azure(azure=replacing), azure(azure=replacing, nixos=nixos))
    server = resource(result, "azurerm_linux_virtual_machine.demo_cp_0")
    assert (server.action, server.replaces_machines) == ("replaced", True)
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_an_azure_server_of_another_size_is_restarted_not_replaced() -> None:
    result = diff(azure(), with_pool(azure(), 0, instance_types=["Standard_D4s_v5"]))
    server = resource(result, "azurerm_linux_virtual_machine.demo_cp_0")
    assert (server.action, server.replaces_machines) == ("in-place", False)
    assert any("shuts the VM down and starts it again" in n for n in server.notes)


def test_azure_zones_changed_under_a_balancer_replace_its_frontend_and_moving_its_address_does_not() -> None:
    balanced = azure(api_load_balancer="private")
    fewer_zones = azure(api_load_balancer="private", azure={**azure()["azure"], "zones": ["1", "2"]})
    lb = resource(diff(balanced, fewer_zones), "azurerm_lb.demo_api_lb")
    assert lb.action == "replaced"
    wider = azure(api_load_balancer="private", network={"vpc_cidr": "10.0.0.0/16", "subnet_cidr": "10.0.0.0/20"})
    assert resource(diff(balanced, wider), "azurerm_lb.demo_api_lb").action == "in-place"


# --- GCP and Azure rules no compiled spec reaches (hand-written resources) ----------------------


def gce(**interface: Any) -> dict[str, Any]:
    return resources_doc(
        {"google_compute_instance.cp": {"name": "cp", "zone": "z", "machine_type": "e2", "network_interface": [interface]}}
    )


def test_a_gce_address_change_within_its_subnetwork_replaces_the_instance() -> None:
    result = diff_documents(gce(subnetwork="s", network_ip="10.0.1.2"), gce(subnetwork="s", network_ip="10.0.1.3"))
    change = resource(result, "google_compute_instance.cp")
    assert (change.action, change.replaces_machines) == ("replaced", True)


def test_a_gce_address_change_with_a_new_subnetwork_stops_the_instance_instead() -> None:
    result = diff_documents(gce(subnetwork="s", network_ip="10.0.1.2"), gce(subnetwork="t", network_ip="10.0.2.2"))
    change = resource(result, "google_compute_instance.cp")
    assert change.action == "in-place"
    assert any("stops and starts" in n for n in change.notes)


def test_a_gcp_subnetwork_may_grow_in_place_but_not_shrink() -> None:
    def subnet(cidr: str) -> dict[str, Any]:
        return resources_doc({"google_compute_subnetwork.s": {"name": "s", "network": "n", "ip_cidr_range": cidr}})

    assert actions(diff_documents(subnet("10.0.1.0/24"), subnet("10.0.0.0/16")))["google_compute_subnetwork.s"] == "in-place"
    assert actions(diff_documents(subnet("10.0.0.0/16"), subnet("10.0.1.0/24")))["google_compute_subnetwork.s"] == "replaced"


def test_a_replaced_address_whose_value_is_configured_does_not_move_the_instance() -> None:
    def cluster(description: str) -> dict[str, Any]:
        return resources_doc(
            {
                "google_compute_address.ip": {"name": "ip", "address": "10.0.1.2", "description": description},
                "google_compute_instance.cp": {
                    "name": "cp",
                    "zone": "z",
                    "network_interface": [{"subnetwork": "s", "network_ip": "${google_compute_address.ip.address}"}],
                },
            }
        )

    result = diff_documents(cluster("one"), cluster("two"))
    assert actions(result) == {"google_compute_address.ip": "replaced"}


def test_a_proactive_group_rolls_a_new_template_out_to_its_machines() -> None:
    def group(policy: str, template: str) -> dict[str, Any]:
        body = {
            "name": "g",
            "base_instance_name": "g",
            "version": [{"name": "default", "instance_template": template}],
            "update_policy": {"type": policy, "minimal_action": "REPLACE"},
        }
        return resources_doc({"google_compute_region_instance_group_manager.g": body})

    proactive = diff_documents(group("PROACTIVE", "t1"), group("PROACTIVE", "t2"))
    assert proactive.exit_code == EXIT_REPLACES_MACHINES
    opportunistic = diff_documents(group("OPPORTUNISTIC", "t1"), group("OPPORTUNISTIC", "t2"))
    assert opportunistic.exit_code == EXIT_IN_PLACE


def scale_set(custom_data: str, roll: bool | None) -> dict[str, Any]:
    features: dict[str, Any] = {} if roll is None else {"virtual_machine_scale_set": {"roll_instances_when_required": roll}}
    return resources_doc(
        {"azurerm_linux_virtual_machine_scale_set.w": {"name": "w", "upgrade_mode": "Manual", "custom_data": custom_data}},
        provider={"azurerm": {"features": features}},
    )


def test_a_scale_set_model_change_reimages_its_instances_with_the_provider_defaults() -> None:
    change = resource(diff_documents(scale_set("a", None), scale_set("b", None)), "azurerm_linux_virtual_machine_scale_set.w")
    assert (change.action, change.replaces_machines) == ("in-place", True)


def test_a_scale_set_model_change_reaches_new_instances_only_when_the_provider_does_not_roll() -> None:
    change = resource(diff_documents(scale_set("a", False), scale_set("b", False)), "azurerm_linux_virtual_machine_scale_set.w")
    assert (change.action, change.replaces_machines) == ("in-place", False)


def test_a_resource_group_move_takes_everything_in_it() -> None:
    def group(location: str) -> dict[str, Any]:
        return resources_doc(
            {
                "azurerm_resource_group.rg": {"name": "rg", "location": location},
                "azurerm_linux_virtual_machine.cp": {
                    "name": "cp",
                    "resource_group_name": "${azurerm_resource_group.rg.name}",
                    "location": "${azurerm_resource_group.rg.location}",
                },
            }
        )

    result = diff_documents(group("westeurope"), group("northeurope"))
    assert actions(result) == {"azurerm_linux_virtual_machine.cp": "replaced", "azurerm_resource_group.rg": "replaced"}
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_ignore_changes_in_index_syntax_covers_nested_arguments() -> None:
    def instance(image: str, user_data: str) -> dict[str, Any]:
        body = {
            "name": "cp",
            "boot_disk": {"initialize_params": {"image": image}},
            "metadata": {"user-data": user_data},
            "lifecycle": {"ignore_changes": ['metadata["user-data"]', "boot_disk[0].initialize_params[0].image"]},
        }
        return resources_doc({"google_compute_instance.cp": body})

    change = resource(diff_documents(instance("a", "#cloud-config\n"), instance("b", "#!/bin/sh\n")), "google_compute_instance.cp")
    assert change.action == "ignored"
    assert sorted(a.path for a in change.attributes) == ["boot_disk.initialize_params.image", "metadata.user-data"]


def test_a_type_outside_the_table_says_that_replacement_is_not_known() -> None:
    result = diff_documents(resources_doc({"random_id.x": {"byte_length": 4}}), resources_doc({"random_id.x": {"byte_length": 8}}))
    assert any("not in nixk8s' replacement table" in n for n in resource(result, "random_id.x").notes)


# --- the command -------------------------------------------------------------------------------


def spec_file(tmp_path: Path, name: str, raw: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw) if name.endswith((".yaml", ".yml")) else json.dumps(raw))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["diff", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_exits_0_for_a_spec_against_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_file(tmp_path, "a.yaml", hcloud(workers=2))
    code, out, _ = run(capsys, spec, spec)
    assert (code, out) == (EXIT_NO_CHANGES, "No changes.\nExit 0: no changes.\n")


def test_the_command_compares_a_compiled_document_with_a_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_file(tmp_path, "a.json", hcloud(workers=2))
    assert main(["compile", spec, "-o", str(tmp_path / "out")]) == EXIT_OK
    capsys.readouterr()
    assert run(capsys, str(tmp_path / "out" / "main.tf.json"), spec)[0] == EXIT_NO_CHANGES
    assert run(capsys, spec, str(tmp_path / "out" / "main.tf.json"))[0] == EXIT_NO_CHANGES


def test_the_command_recognises_a_compiled_document_by_its_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_file(tmp_path, "a.json", hcloud())
    compiled = tmp_path / "plan.json"
    compiled.write_bytes(compile_raw(hcloud()).to_json())
    assert run(capsys, str(compiled), spec)[0] == EXIT_NO_CHANGES


def test_the_command_exits_3_for_an_added_worker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, spec_file(tmp_path, "a.yaml", hcloud(workers=1)), spec_file(tmp_path, "b.yaml", hcloud(workers=2)))
    assert code == EXIT_IN_PLACE
    assert "+ hcloud_server.demo_workers_1 (a new machine)\n" in out
    assert out.endswith("2 to add, 0 to change in place, 0 to replace, 0 to destroy.\nExit 3: changes applied in place.\n")


def test_the_command_exits_4_when_machines_are_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replacing = {"image": "nixos-snapshot", "replace_on_user_data_change": True}
    old = spec_file(tmp_path, "a.yaml", hcloud(workers=1, hcloud=replacing))
    new = spec_file(tmp_path, "b.yaml", with_pool(hcloud(workers=1, hcloud=replacing), 1, labels={"gpu": "true"}))
    code, out, _ = run(capsys, old, new)
    assert code == EXIT_REPLACES_MACHINES
    assert "-/+ hcloud_server.demo_workers_0 (replaced: replaces the machine)\n" in out
    assert '        k3s.node_labels.gpu: + "true"\n' in out
    assert "Replaces or destroys machines: hcloud_server.demo_workers_0.\n" in out


def test_the_json_report_carries_the_exit_code_and_every_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = spec_file(tmp_path, "a.yaml", hcloud(workers=1)), spec_file(tmp_path, "b.yaml", hcloud(workers=2))
    code, out, _ = run(capsys, old, new, "--output", "json")
    report = json.loads(out)
    assert (code, report["exit_code"]) == (EXIT_IN_PLACE, EXIT_IN_PLACE)
    assert list(report) == ["exit_code", "summary", "resources", "document", "hazards", "problems", "warnings"]
    assert report["hazards"] == []
    assert [(r["address"], r["action"], r["role"]) for r in report["resources"]] == [
        ("hcloud_server.demo_workers_1", "added", "machine"),
        ("hcloud_server_network.demo_workers_1_network", "added", "other"),
    ]


def test_the_command_exits_1_with_the_problems_of_each_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = spec_file(tmp_path, "bad.yaml", minimal_spec(region=5))
    broken = tmp_path / "broken.tf.json"
    broken.write_text("[1, 2]")
    code, out, err = run(capsys, bad, str(broken))
    assert (code, out) == (EXIT_INVALID, "")
    assert f"{bad}: region: " in err
    assert f"{broken}: not a Terraform JSON document: not a JSON object\n" in err


def test_the_command_exits_1_for_a_document_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "main.tf.json"
    broken.write_text("{")
    code, _, err = run(capsys, str(broken), str(broken))
    assert code == EXIT_INVALID
    assert err.startswith(f"{broken}: not valid JSON")


def test_the_command_exits_2_for_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "nowhere.yaml"), str(tmp_path / "nowhere.yaml"))
    assert code == EXIT_USAGE
    assert "cannot read" in err


def test_the_command_reads_one_input_from_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(compile_raw(hcloud()).to_json())))
    assert run(capsys, "-", spec_file(tmp_path, "a.yaml", hcloud()))[0] == EXIT_NO_CHANGES


def test_the_command_refuses_stdin_for_both_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "-", "-")
    assert code == EXIT_USAGE
    assert "only one of OLD and NEW can be -" in err


# --- properties over generated specs, for every backend ---------------------------------------

backends = pytest.mark.parametrize("backend", sorted(BACKENDS))


def compiled_document(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The compiled document of a raw spec, or None where the compiler refuses it."""
    result = compile_spec(load_raw(raw))
    return None if isinstance(result, Failure) else result.unwrap().document


@backends
@given(data=st.data())
def test_any_spec_compiled_twice_and_compared_with_itself_reports_nothing(backend: str, data: st.DataObject) -> None:
    raw = data.draw(raw_cluster_specs(backend))
    old, new = compile_spec(load_raw(raw)).unwrap().document, compile_spec(load_raw(raw)).unwrap().document
    result = diff_documents(old, new)
    assert (result, result.exit_code) == (Diff(()), EXIT_NO_CHANGES)
    # and the replacement table knows every resource type the backend emits
    assert set(new["resource"]) <= set(RULES)


def control_plane_index(raw: dict[str, Any]) -> int:
    names = [p["name"] for p in raw["node_pools"]]
    return names.index("system") if "system" in names else 0


@backends
@given(data=st.data())
def test_adding_a_worker_never_replaces_or_destroys_an_existing_resource(backend: str, data: st.DataObject) -> None:
    raw = data.draw(raw_cluster_specs(backend))
    workers = [i for i in range(len(raw["node_pools"])) if i != control_plane_index(raw)]
    assume(workers)
    grown = copy.deepcopy(raw)
    pool = grown["node_pools"][data.draw(st.sampled_from(workers))]
    pool["desired_size"] = pool.get("desired_size", pool["min_size"]) + 1
    pool["max_size"] = max(pool["max_size"], pool["desired_size"])
    old, new = compiled_document(raw), compiled_document(grown)
    assume(old is not None and new is not None)
    assert old is not None and new is not None
    result = diff_documents(old, new)
    assert [r.address for r in result.resources if r.action in ("replaced", "removed")] == []
    assert [r.address for r in result.resources if r.replaces_machines] == []
    assert result.exit_code in (EXIT_NO_CHANGES, EXIT_IN_PLACE)
FUZZED_TYPES = [
    "hcloud_server", "hcloud_server_network", "aws_lb", "aws_autoscaling_group", "google_compute_instance",
    "google_compute_subnetwork", "google_compute_region_instance_group_manager",
    "azurerm_linux_virtual_machine_scale_set", "random_id",
]
# strings that look like what documents hold: templates, references, escapes, user_data
template_texts = st.sampled_from(
    [
        "${var.s}", "${local.l}", "${base64encode(local.l)}", "$${x}", "${", "${aws_vpc.a.id}", '{"a":1}',
        '#cloud-config\n  content: |\n    {"bootstrap_secrets":{"k":${jsonencode(var.s)}}}',
        '${base64encode("\\uZZ")}', "10.0.0.0/16", "network", "PROACTIVE",
    ]
) | st.text(max_size=10)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | template_texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6) | template_texts, inner, max_size=3),
    max_leaves=12,
)
argument_names = st.sampled_from(
    ["user_data", "custom_data", "metadata", "name", "ip", "subnets", "ip_cidr_range", "network_interface",
     "lifecycle", "update_policy", "load_balancer_type", "placement_group_id", "max_size", "instance_refresh"]
) | st.text(max_size=6)
bodies = st.dictionaries(argument_names, json_values, max_size=5)
documents = st.fixed_dictionaries(
    {
        "resource": st.dictionaries(
            # a few types, so that both sides often hold the same address, each with its rules
            st.sampled_from(FUZZED_TYPES), st.dictionaries(st.sampled_from(["a", "b"]), bodies, max_size=2), max_size=3
        )
    },
    optional={
        "locals": st.dictionaries(st.sampled_from(["l", "m"]), json_values, max_size=2),
        "variable": st.just({"s": {"type": "string", "sensitive": True}}),
        "provider": st.dictionaries(st.sampled_from(["aws", "azurerm"]), json_values, max_size=2),
        "data": st.dictionaries(st.just("aws_vpc"), st.dictionaries(st.just("a"), bodies, max_size=1), max_size=1),
    },
)


@given(old=documents, new=documents)
def test_any_two_documents_compare_without_an_error(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert document_problems(old) == document_problems(new) == ()
    result = diff_documents(old, new)
    assert result.exit_code in (EXIT_NO_CHANGES, EXIT_IN_PLACE, EXIT_REPLACES_MACHINES)
    assert render_text(result).endswith(".\n") and json.loads(render_json(result))["exit_code"] == result.exit_code
    assert diff_documents(new, new).exit_code == EXIT_NO_CHANGES


def test_a_document_nested_beyond_the_bound_is_refused_before_the_walk() -> None:
    deep: dict[str, Any] = {}
    doc = {"resource": {"random_id": {"a": deep}}}
    for _ in range(100):
        deep["k"] = {}
        deep = deep["k"]
    assert [p.message for p in document_problems(doc)] == [
        "not a Terraform JSON document nixk8s wrote: it nests deeper than 64 levels"
    ]


# --- hostile hand-made documents: bounded depth and work ---------------------------------------


def nested_quotes(depth: int) -> str:
    """``${"${"…x…}"}``: a quoted template inside an interpolation, ``depth`` times."""
    return "${" + '"${' * depth + "x" + '}"' * depth + "}"


def keeper(value: str, **blocks: Any) -> dict[str, Any]:
    return resources_doc({"random_id.a": {"keepers": {"k": value}}}, **blocks)


def test_templates_nested_500_deep_are_refused_with_the_path_of_their_string() -> None:
    [problem] = document_problems(keeper(nested_quotes(500)))
    assert problem.path == "resource.random_id.a.keepers.k"
    assert problem.message.startswith("templates nest 1001 deep in this string")


def test_templates_nested_within_the_bound_are_read_with_their_references() -> None:
    doc = keeper(nested_quotes(15).replace("x", "${aws_vpc.main.id}"))
    assert document_problems(doc) == ()
    assert diff_documents(doc, doc) == Diff(())


def test_a_chain_of_a_thousand_locals_is_refused_at_its_head() -> None:
    chain = {f"l{i}": f"${{local.l{i + 1}}}" for i in range(1000)} | {"l1000": "x"}
    [problem] = document_problems(keeper("${local.l0}", locals=chain))
    assert (problem.path, problem.message) == (
        "locals.l0",
        "reads a chain of 1,001 locals, each reading the next; nixk8s diff follows at most 32",
    )


def mutual_locals(count: int, last: str = "") -> dict[str, str]:
    """``count`` locals, each reading every one of them; ``last`` appended to the last one."""
    names = [f"l{i}" for i in range(count)]
    every = "".join(f"${{local.{n}}}" for n in names)
    return {n: every + (last if n == names[-1] else "") for n in names}


def test_locals_that_read_one_another_change_together_and_are_read_once() -> None:
    # 12 locals, each reading all: the walk that followed every path took k^8 steps
    old, new = keeper("${local.l0}", locals=mutual_locals(12)), keeper("${local.l0}", locals=mutual_locals(12, "x"))
    assert diff_documents(old, old) == Diff(())
    change = resource(diff_documents(old, new), "random_id.a")
    assert (change.action, [a.path for a in change.attributes]) == ("in-place", ["keepers.k"])


def test_a_local_that_reads_a_sensitive_variable_through_a_cycle_is_secret() -> None:
    cycle = {"a": "${local.b}", "b": "${local.a}${var.token}"}
    variables = {"token": {"type": "string", "sensitive": True}}
    old = resources_doc({"random_id.a": {"keepers": "one ${local.a}"}}, locals=cycle, variable=variables)
    new = resources_doc({"random_id.a": {"keepers": "two ${local.a}"}}, locals=cycle, variable=variables)
    [attribute] = resource(diff_documents(old, new), "random_id.a").attributes
    assert (attribute.secret, attribute.old, attribute.new) == (True, None, None)


def test_a_document_that_follows_more_references_than_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tfdoc, "MAX_REFERENCES", 50)
    wide = {"wide": "".join(f"${{var.v{i}}}" for i in range(10))}
    doc = resources_doc({f"random_id.r{i}": {"keepers": "${local.wide}"} for i in range(6)}, locals=wide)
    [problem] = document_problems(doc)
    assert problem.path == "resource.random_id.r4.keepers"
    assert "passes 50 references followed through locals" in problem.message


def test_a_long_reference_chain_in_reverse_address_order_is_followed_to_its_end() -> None:
    # s0 reads s1, which reads s2, ...: each sweep of the cascade in address order reached
    # one more subnet, so the chain cost a sweep per link
    def chain(ip_range: str) -> dict[str, Any]:
        subnets = {
            f"hcloud_network_subnet.s{i:04}": {"network_id": f"${{hcloud_network_subnet.s{i + 1:04}.id}}", "ip_range": "10.0.0.0/24"}
            for i in range(999)
        }
        return resources_doc({**subnets, "hcloud_network_subnet.s0999": {"network_id": "1", "ip_range": ip_range}})

    result = diff_documents(chain("10.0.0.0/24"), chain("10.0.1.0/24"))
    assert set(actions(result).values()) == {"replaced"} and len(result.resources) == 1000
    assert resource(result, "hcloud_network_subnet.s0000").attributes[0].reason == (
        "known after apply: hcloud_network_subnet.s0001 is replaced; network_id forces replacement"
    )


def test_a_list_of_thousands_of_blocks_that_grows_by_one_names_the_one_new_block() -> None:
    rules = [{"direction": "in", "port": str(port)} for port in range(5000)]
    old = resources_doc({"hcloud_firewall.f": {"rule": rules}})
    new = resources_doc({"hcloud_firewall.f": {"rule": [*rules[:10], {"direction": "in", "port": "x"}, *rules[10:]]}})
    attributes = resource(diff_documents(old, new), "hcloud_firewall.f").attributes
    assert [(a.path, a.old, a.new) for a in attributes] == [
        ("rule", None, '{"direction":"in","port":"x"}'),
        ("rule.#", "5000", "5001"),
    ]


def test_the_command_refuses_a_hostile_document_with_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = tmp_path / "hostile.tf.json"
    hostile.write_text(json.dumps(keeper(nested_quotes(500))))
    code, out, err = run(capsys, str(hostile), str(hostile))
    assert (code, out) == (EXIT_INVALID, "")
    assert err.startswith(f"{hostile}: resource.random_id.a.keepers.k: templates nest 1001 deep")


# --- the documented example --------------------------------------------------------------------


def gpu_example(tmp_path: Path) -> Path:
    """The example spec with its gpu pool given a node label and a second node (the docs' example)."""
    text = (SPECS / "hcloud-k3s.yaml").read_text()
    pool = "    min_size: 1\n    max_size: 2\n    taints:"
    assert pool in text, "the example spec's gpu pool changed: update the docs' diff example"
    path = tmp_path / "hcloud-k3s-gpu.yaml"
    path.write_text(text.replace(pool, '    min_size: 1\n    max_size: 2\n    desired_size: 2\n    labels:\n      gpu: "true"\n    taints:'))
    return path


@pytest.mark.parametrize("page", ["README.md", "docs/diff.md"])
def test_the_documented_example_is_what_the_command_prints(
    page: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (ROOT / page).read_text()
    command = "$ nixk8s diff specs/hcloud-k3s.yaml hcloud-k3s-gpu.yaml"
    shown = text[text.index(command) :].split("\n", 1)[1].split("```", 1)[0]
    gpu_example(tmp_path)
    monkeypatch.chdir(ROOT)
    code, out, _ = run(capsys, "specs/hcloud-k3s.yaml", str(tmp_path / "hcloud-k3s-gpu.yaml"))
    # the running gpu node keeps its old config: a hazard
    assert (code, out) == (EXIT_REPLACES_MACHINES, shown)
