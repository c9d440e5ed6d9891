"""A fifth cloud from one folder: ``tests/fifth_cloud`` is a made-up cloud ("lab") that
lives outside nixk8s, registered only through ``NIXK8S_CLOUDS``. The command validates,
compiles, explains and diffs a spec for it, and writes its starter and schema, with no
change to nixk8s. docs/architecture.md's "Adding a cloud" lists what it holds.

Each test runs the command in a fresh interpreter: the catalog is read once, when
nixk8s is first imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import assert_kindling_accepts, document_user_data, embedded_config

TESTS = Path(__file__).resolve().parent

SPEC: dict[str, Any] = {
    "name": "lab",
    "backend": "lab",
    "region": "hall-1",
    "node_pools": [
        {"name": "system", "instance_types": ["small"], "min_size": 1, "max_size": 1},
        {"name": "workers", "instance_types": ["large"], "min_size": 2, "max_size": 2},
    ],
    "gitops_operator": "none",
    "bootstrap_secrets": {"k3s_server_token": {"var": "k3s_token"}},
    "lab": {"rack": "r7"},
}


def nixk8s(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command, with the lab cloud in the catalog."""
    # the caller's path stays after the tests' (a worktree runs its own nixk8s so)
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "NIXK8S_CLOUDS": "fifth_cloud.options", "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "nixk8s", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def write_spec(directory: Path, name: str, **changes: Any) -> Path:
    path = directory / name
    path.write_text(json.dumps({**SPEC, **changes}))
    return path


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("lab")
    result = nixk8s("compile", str(write_spec(directory, "lab.json")), "-o", "out", cwd=directory)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads((directory / "out" / "main.tf.json").read_text())
    return document


def test_the_fifth_cloud_spec_validates(tmp_path: Path) -> None:
    result = nixk8s("validate", str(write_spec(tmp_path, "lab.json")), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_fifth_cloud_checks_its_own_block(tmp_path: Path) -> None:
    result = nixk8s("validate", str(write_spec(tmp_path, "lab.json", lab={"rack": "r-7"})), cwd=tmp_path)
    assert result.returncode == 1
    assert "lab.rack: " in result.stderr


def test_the_fifth_cloud_alias_is_accepted(tmp_path: Path) -> None:
    result = nixk8s("validate", str(write_spec(tmp_path, "lab.json", backend="lab_nixos")), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_another_clouds_block_is_refused_beside_the_fifth(tmp_path: Path) -> None:
    result = nixk8s("validate", str(write_spec(tmp_path, "lab.json", hcloud={})), cwd=tmp_path)
    assert result.returncode == 1
    assert 'the "hcloud" block is for backend hcloud, but backend is lab' in result.stderr


def test_the_fifth_cloud_compiles_one_machine_per_node(compiled: dict[str, Any]) -> None:
    assert sorted(compiled["resource"]["lab_machine"]) == ["lab_cp_0", "lab_workers_0", "lab_workers_1"]
    assert compiled["terraform"]["required_providers"]["lab"]["source"] == "example/lab"


def test_the_fifth_cloud_nodes_receive_configs_kindling_accepts(compiled: dict[str, Any]) -> None:
    configs = [embedded_config(u) for u in document_user_data(compiled)]
    for config in configs:
        assert_kindling_accepts(config)
    assert sorted((c["role"], c.get("cluster_init", False)) for c in configs) == [
        ("agent", False),
        ("agent", False),
        ("server", True),
    ]


def test_the_fifth_cloud_explains_its_nodes(tmp_path: Path) -> None:
    result = nixk8s("explain", str(write_spec(tmp_path, "lab.json")), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    explained = json.loads(result.stdout)
    assert [n["pool"] for n in explained["nodes"]] == ["system", "workers", "workers"]


def test_the_fifth_cloud_diff_names_the_new_machine(tmp_path: Path) -> None:
    old = write_spec(tmp_path, "old.json")
    grown = {**SPEC["node_pools"][1], "min_size": 3, "max_size": 3}
    new = write_spec(tmp_path, "new.json", node_pools=[SPEC["node_pools"][0], grown])
    result = nixk8s("diff", str(old), str(new), cwd=tmp_path)
    assert "+ lab_machine.lab_workers_2" in result.stdout, result.stdout + result.stderr
    assert result.returncode in (0, 3), result.stderr


def test_the_fifth_cloud_diff_replaces_machines_by_the_rules_in_its_folder(tmp_path: Path) -> None:
    old = write_spec(tmp_path, "old.json")
    labelled = {**SPEC["node_pools"][1], "labels": {"gpu": "true"}}
    new = write_spec(tmp_path, "new.json", node_pools=[SPEC["node_pools"][0], labelled])
    result = nixk8s("diff", str(old), str(new), cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "-/+ lab_machine.lab_workers_0 (replaced: replaces the machine)\n" in result.stdout
    # the label reaches k3s in a drop-in the machine did not have
    assert "    user_data: the k3s drop-in is added; the cluster-config changes; user_data forces replacement\n" in result.stdout


def test_the_fifth_cloud_has_a_starter_that_validates(tmp_path: Path) -> None:
    result = nixk8s("init", "lab", "-o", "cluster.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((tmp_path / "cluster.yaml").read_text())["lab"] == {"rack": "r1"}
    assert nixk8s("validate", "cluster.yaml", cwd=tmp_path).returncode == 0


def test_the_fifth_cloud_is_in_the_schema(tmp_path: Path) -> None:
    result = nixk8s("schema", cwd=tmp_path)
    schema = json.loads(result.stdout)
    spec = schema["$defs"]["ClusterSpec"]["properties"]
    assert "lab" in spec["backend"]["enum"] and "lab_nixos" in spec["backend"]["enum"]
    assert spec["lab"]["title"] == "Lab"
