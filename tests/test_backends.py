"""What every cloud does alike, run once per row of tests/clouds.py: its examples exist,
plan and apply, every node of every example gets a config kindling accepts, and a small
spec compiles with one server holding cluster_init.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clouds import CLOUDS, CloudCase
from support import (
    assert_kindling_accepts,
    compile_raw,
    compiled_example,
    node_config,
    problem_paths,
    rendered_nodes,
    tfcheck,
    write_module,
)

EXAMPLES = [(c, p) for c in CLOUDS.values() for p in c.example_specs()]


def example_id(case: tuple[CloudCase, Path]) -> str:
    return case[1].name


@pytest.mark.parametrize("cloud", CLOUDS.values(), ids=lambda c: c.name)
def test_every_cloud_has_its_example_specs(cloud: CloudCase) -> None:
    assert set(cloud.examples) <= {p.name for p in cloud.example_specs()}


@pytest.mark.tfcheck
@pytest.mark.parametrize("case", EXAMPLES, ids=example_id)
def test_every_example_spec_passes_terraform_plan_and_apply(case: tuple[CloudCase, Path], tmp_path: Path) -> None:
    # an apply plans first; most examples are applied by their cloud's end-to-end tests
    # too, and support.tfcheck runs each document once a session: one run for both
    tfcheck(write_module(compiled_example(case[1]), tmp_path), "--apply")


@pytest.mark.parametrize("case", EXAMPLES, ids=example_id)
def test_every_node_of_every_example_gets_a_config_kindling_accepts(case: tuple[CloudCase, Path]) -> None:
    nodes = rendered_nodes(compiled_example(case[1]))
    assert nodes
    for node in nodes:
        assert_kindling_accepts(node_config(node))


@pytest.mark.parametrize("cloud", CLOUDS.values(), ids=lambda c: c.name)
def test_a_small_spec_compiles_with_server_zero_alone_initialising(cloud: CloudCase) -> None:
    configs = [node_config(n) for n in rendered_nodes(compile_raw(cloud.spec(servers=3)))]
    initialising = [(c["role"], c["node_index"]) for c in configs if c.get("cluster_init")]
    assert initialising == [("server", 0)]
    assert sorted({c["role"] for c in configs}) == ["agent", "server"]


@pytest.mark.parametrize("cloud", CLOUDS.values(), ids=lambda c: c.name)
def test_every_node_of_a_small_spec_names_its_cluster(cloud: CloudCase) -> None:
    configs = [node_config(n) for n in rendered_nodes(compile_raw(cloud.spec()))]
    assert {c["cluster_name"] for c in configs} == {"demo"}


@pytest.mark.parametrize("cloud", CLOUDS.values(), ids=lambda c: c.name)
def test_a_broken_vpc_cidr_hides_no_check_of_the_region(cloud: CloudCase) -> None:
    spec = cloud.spec(region="nowhere-9X", network={"vpc_cidr": "10.0.0.0/33"})
    assert {"network.vpc_cidr", "region"} <= set(problem_paths(spec))


@pytest.mark.parametrize("case", EXAMPLES, ids=example_id)
def test_diff_knows_what_replaces_every_cloud_resource_of_every_example(case: tuple[CloudCase, Path]) -> None:
    """A resource type without a rule would be reported as updated in place, whatever changed."""
    from nixk8s.backends.catalog import cloud_named
    from nixk8s.document_diff.replacement import rule_for

    prefixes = cloud_named(case[0].name).resource_prefixes
    types = set(compiled_example(case[1]).document["resource"])
    assert sorted(t for t in types if t.startswith(prefixes) and rule_for(t) is None) == []
