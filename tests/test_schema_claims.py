"""What the schema's descriptions say each cloud builds, held to what it builds.

An editor shows these sentences to someone writing a spec; a sentence that says a cloud
builds nothing where it builds something (the API balancer's "GCP and Azure build none
yet", after both built one) sends them the wrong way. Every clause of a description
that names a cloud and says what it does not do (none, no, nothing, only, refused, ...)
must be one this file checks, by compiling specs for that cloud; each check below
quotes the words it holds.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from returns.result import Failure

import nixk8s
from nixk8s.starter import starter
from support import OWN_VPN

CLOUDS = ("aws", "gcp", "azure", "hcloud")
CLOUD_WORD = re.compile(r"\b(AWS|GCP|Azure|Hetzner|hcloud|aws|gcp|azure)\b")
NEGATION = re.compile(r"\b(none|no|nothing|not|never|cannot|only|refused|rejects|error)\b", re.IGNORECASE)

# Each phrase is checked by the test named beside it.
CHECKED = {
    "whose kindling init mode rejects #cloud-config": "test_user_data_is_a_shell_script_on_aws_and_cloud_config_elsewhere",
    "which cannot filter access.api_sources": "test_a_public_hetzner_balancer_has_a_public_interface_and_refuses_narrow_sources",
    "none: nodes join server 0 (refused on AWS)": "test_none_builds_no_balancer_and_is_refused_on_aws",
    "(AWS only)": "test_persistent_state_is_aws_only",
    "AWS only: kindling finds the volume": "test_persistent_state_is_aws_only",
    "only with backend": "test_a_provider_block_is_refused_with_another_backend",
    "and only there": "test_a_provider_block_is_refused_with_another_backend",
    "only the first is used": "test_only_the_first_instance_type_is_used",
    "GCP's autoscaler does not use it": "test_gcp_builds_the_same_whatever_desired_size",
    "Terraform creates none": "test_terraform_creates_no_server_of_an_autoscaled_hetzner_pool",
    "this flag changes nothing": "test_autoscale_changes_nothing_on_gcp_and_azure",
    "Hetzner servers have no private network": "test_without_a_network_block_each_cloud_builds_what_the_schema_says",
    "where the backend can (AWS": "test_a_bucket_for_etcd_snapshots_is_made_on_aws_only",
}


def descriptions(node: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                yield pointer, value
            else:
                yield from descriptions(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from descriptions(value, f"{pointer}/{i}")


def clauses(text: str) -> list[str]:
    return re.split(r"(?<=[.;])\s+", " ".join(text.split()))


NEGATIVE_CLOUD_CLAUSES = [
    (pointer, clause)
    for pointer, text in descriptions(nixk8s.schema())
    for clause in clauses(text)
    if CLOUD_WORD.search(clause) and NEGATION.search(clause)
]


@pytest.mark.parametrize(("pointer", "clause"), NEGATIVE_CLOUD_CLAUSES, ids=lambda v: v[:60])
def test_every_clause_saying_what_a_cloud_does_not_do_is_checked(pointer: str, clause: str) -> None:
    assert any(phrase in clause for phrase in CHECKED), (
        f"{pointer}: {clause!r} says what a cloud does not do; add a check of it to {__name__} and CHECKED"
    )


@pytest.mark.parametrize("phrase", sorted(CHECKED))
def test_every_checked_phrase_is_still_in_the_schema_and_has_its_test(phrase: str) -> None:
    assert any(phrase in text for _, text in descriptions(nixk8s.schema()))
    assert callable(globals().get(CHECKED[phrase]))


# --- compiling each cloud's starter, changed ---------------------------------------------------


def starter_spec(cloud: str, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(starter(cloud))  # type: ignore[arg-type]
    spec.update(changes)
    return spec


def with_servers(spec: dict[str, Any], servers: int) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["node_pools"][0].update(min_size=servers, max_size=servers)
    return spec


def document(spec: dict[str, Any]) -> dict[str, Any]:
    result = nixk8s.compile(spec)
    assert not isinstance(result, Failure), [str(p) for p in result.failure()]
    return result.unwrap().document


def problem_paths(spec: dict[str, Any]) -> list[str]:
    result = nixk8s.compile(spec)
    assert isinstance(result, Failure), "compiled, but the schema says it is refused"
    return [p.path for p in result.failure()]


def same_output(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return nixk8s.compile(a).unwrap().to_json() == nixk8s.compile(b).unwrap().to_json()


# the resource that is the API balancer itself, on each cloud
BALANCER = {
    "aws": "aws_lb",
    "gcp": "google_compute_forwarding_rule",
    "azure": "azurerm_lb",
    "hcloud": "hcloud_load_balancer",
}


def balancers(cloud: str, spec: dict[str, Any]) -> int:
    return len(document(spec)["resource"].get(BALANCER[cloud], {}))


# --- api_load_balancer ---------------------------------------------------------------------------


def test_the_api_balancer_description_names_no_cloud_that_builds_none() -> None:
    text = nixk8s.schema()["$defs"]["ClusterSpec"]["properties"]["api_load_balancer"]["description"]
    assert "none yet" not in text
    assert "auto: a private one always on AWS, and for 2 or more servers on GCP, Azure and Hetzner" in text


@pytest.mark.parametrize("cloud", CLOUDS)
def test_auto_builds_a_balancer_for_three_servers_on_every_cloud(cloud: str) -> None:
    assert balancers(cloud, with_servers(starter_spec(cloud), 3)) == 1


@pytest.mark.parametrize(("cloud", "expected"), [("aws", 1), ("gcp", 0), ("azure", 0), ("hcloud", 0)])
def test_auto_builds_one_for_a_single_server_only_on_aws(cloud: str, expected: int) -> None:
    assert balancers(cloud, with_servers(starter_spec(cloud), 1)) == expected


def test_auto_builds_none_on_hetzner_without_a_network() -> None:
    spec = with_servers(starter_spec("hcloud", access={}, vpn=OWN_VPN), 3)  # the nodes meet over the operator's VPN
    del spec["network"]
    assert balancers("hcloud", spec) == 0


@pytest.mark.parametrize("cloud", CLOUDS)
def test_private_builds_one_even_for_a_single_server(cloud: str) -> None:
    assert balancers(cloud, with_servers(starter_spec(cloud, api_load_balancer="private"), 1)) == 1


@pytest.mark.parametrize(("cloud", "expected"), [("aws", 2), ("gcp", 2), ("azure", 2), ("hcloud", 1)])
def test_public_adds_one_for_kubectl_and_hetzner_opens_its_one(cloud: str, expected: int) -> None:
    spec = with_servers(starter_spec(cloud, api_load_balancer="public"), 3)
    spec["access"] = {**spec["access"], "api_sources": ["0.0.0.0/0", "::/0"]}
    assert balancers(cloud, spec) == expected


def test_a_public_hetzner_balancer_has_a_public_interface_and_refuses_narrow_sources() -> None:
    spec = with_servers(starter_spec("hcloud", api_load_balancer="public"), 3)
    assert "access.api_sources" in problem_paths(spec)  # the starter narrows them
    spec["access"] = {**spec["access"], "api_sources": ["0.0.0.0/0", "::/0"]}
    (balancer,) = document(spec)["resource"]["hcloud_load_balancer"].values()
    assert balancer.get("enable_public_interface", True) is True


@pytest.mark.parametrize("cloud", ["gcp", "azure", "hcloud"])
def test_none_builds_no_balancer_and_is_refused_on_aws(cloud: str) -> None:
    assert balancers(cloud, with_servers(starter_spec(cloud, api_load_balancer="none"), 3)) == 0
    assert problem_paths(starter_spec("aws", api_load_balancer="none")) == ["api_load_balancer"]


# --- other clauses ------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", CLOUDS)
def test_user_data_is_a_shell_script_on_aws_and_cloud_config_elsewhere(cloud: str) -> None:
    compiled = nixk8s.compile(starter_spec(cloud)).unwrap()
    assert compiled.plan.user_data_format == ("shell" if cloud == "aws" else "cloud-config")


@pytest.mark.parametrize("cloud", ["gcp", "azure", "hcloud"])
def test_persistent_state_is_aws_only(cloud: str) -> None:
    assert problem_paths(starter_spec(cloud, persistent_state={"size_gb": 50})) == ["persistent_state"]
    # on AWS it compiles, and the servers may attach the volume kindling finds
    assert not same_output(starter_spec("aws"), starter_spec("aws", persistent_state={"size_gb": 50}))


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_bucket_for_etcd_snapshots_is_made_on_aws_only(cloud: str) -> None:
    keyless = starter_spec(cloud, etcd_snapshots={"s3": {}})
    if cloud != "aws":
        assert problem_paths(keyless) == ["etcd_snapshots.s3"]
        return
    assert "aws_s3_bucket" in document(keyless)["resource"]  # it compiles, with the bucket


@pytest.mark.parametrize(("cloud", "other"), [(c, o) for c in CLOUDS for o in CLOUDS if o != c])
def test_a_provider_block_is_refused_with_another_backend(cloud: str, other: str) -> None:
    block = starter_spec(other)[other]
    assert other in problem_paths(starter_spec(cloud, **{other: block}))


@pytest.mark.parametrize("cloud", CLOUDS)
def test_only_the_first_instance_type_is_used(cloud: str) -> None:
    spec = starter_spec(cloud)
    first = spec["node_pools"][1]["instance_types"][0]
    spec["node_pools"][1]["instance_types"] = [first, "unused-second-type"]
    text = json.dumps(document(spec))
    assert first in text and "unused-second-type" not in text


def test_gcp_builds_the_same_whatever_desired_size() -> None:
    spec = starter_spec("gcp")
    sized = copy.deepcopy(spec)
    sized["node_pools"][1]["desired_size"] = 3
    assert same_output(spec, sized)


def test_terraform_creates_no_server_of_an_autoscaled_hetzner_pool() -> None:
    spec = starter_spec("hcloud")
    spec["node_pools"][1]["autoscale"] = True
    servers = document(spec)["resource"]["hcloud_server"]
    assert servers and not [name for name in servers if "workers" in name]


@pytest.mark.parametrize("cloud", ["gcp", "azure"])
def test_autoscale_changes_nothing_on_gcp_and_azure(cloud: str) -> None:
    spec = starter_spec(cloud)
    autoscaled = copy.deepcopy(spec)
    autoscaled["node_pools"][1]["autoscale"] = True
    assert same_output(spec, autoscaled)


def test_without_a_network_block_each_cloud_builds_what_the_schema_says() -> None:
    """"Hetzner servers have no private network, AWS uses the region's default VPC (or
    aws.vpc_id), and GCP and Azure create the default 10.0.0.0/16"."""
    hetzner = with_servers(starter_spec("hcloud", access={}), 1)
    hetzner["node_pools"] = hetzner["node_pools"][:1]
    del hetzner["network"]
    assert "hcloud_network" not in document(hetzner)["resource"]
    aws = starter_spec("aws")
    del aws["network"]
    assert "aws_vpc" not in document(aws)["resource"]
    # GCP's VPC has no range of its own: the firewall opens the private ports to it
    for cloud, network, ranged in (
        ("gcp", "google_compute_network", "google_compute_firewall"),
        ("azure", "azurerm_virtual_network", "azurerm_virtual_network"),
    ):
        spec = starter_spec(cloud)
        del spec["network"]
        built = document(spec)["resource"]
        assert network in built and "10.0.0.0/16" in json.dumps(built[ranged])
