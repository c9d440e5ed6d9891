"""``nixk8s diff`` names what an apply does to the cluster: etcd's quorum, a new cluster
from server 0, and config that running machines never see; each exits 4 with what to
do instead."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from clouds import CLOUDS
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import can_be_initialized, load_raw, raw_cluster_specs
from support import compile_raw

from nixk8s.cli import main
from nixk8s.compiler import compile_spec
from nixk8s.diff_report import render_json, render_text
from nixk8s.document_diff import EXIT_IN_PLACE, EXIT_NO_CHANGES, EXIT_REPLACES_MACHINES, Diff, Hazard, diff_documents
from nixk8s.document_diff.hazards import node_machines, servers
from nixk8s.document_diff.tfdoc import read_document


def spec(cloud: str, servers: int = 3, **overrides: Any) -> dict[str, Any]:
    return CLOUDS[cloud].spec(servers=servers, **overrides)


def with_system(raw: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """``raw`` with the system pool's fields changed."""
    raw = copy.deepcopy(raw)
    next(p for p in raw["node_pools"] if p["name"] == "system").update(fields)
    return raw


def diff(old: dict[str, Any], new: dict[str, Any]) -> Diff:
    return diff_documents(compile_raw(old).document, compile_raw(new).document)


def kinds(result: Diff) -> list[str]:
    return [h.kind for h in result.hazards]


def hazard(result: Diff, kind: str) -> Hazard:
    return next(h for h in result.hazards if h.kind == kind)


# --- the case: a bigger system-pool disk on GCP ---------------------------------------


def test_a_bigger_system_disk_on_three_gcp_servers_loses_quorum_and_forms_a_new_cluster() -> None:
    old = spec("gcp")
    result = diff(old, with_system(old, disk_size_gb=80))
    assert result.exit_code == EXIT_REPLACES_MACHINES
    assert kinds(result) == ["quorum-loss", "new-cluster"]
    text = render_text(result)
    assert "etcd loses quorum" in text and "replaces or destroys 3 of 3 servers" in text
    assert "set initialized: true" in text


def test_with_initialized_the_same_change_still_loses_quorum() -> None:
    old = spec("gcp", initialized=True)
    result = diff(old, with_system(old, disk_size_gb=80))
    assert (result.exit_code, kinds(result)) == (EXIT_REPLACES_MACHINES, ["quorum-loss"])
    assert "terraform apply -target=" in hazard(result, "quorum-loss").instead


CHANGES = {
    "a bigger disk": (spec("gcp"), with_system(spec("gcp"), disk_size_gb=80)),
    "three servers to one": (spec("hcloud", initialized=True), spec("hcloud", servers=1)),
    "a new certificate name": (spec("azure"), spec("azure", nixos={"k3s": {"tls_san": ["k8s.example.com"]}})),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_hazard_says_what_happens_and_what_to_do_instead_in_one_line_each(change: str) -> None:
    found = diff(*CHANGES[change]).hazards
    assert found
    for h in found:
        assert h.what and h.instead and "\n" not in h.what + h.instead
        assert h.machines and all(m in h.what for m in h.machines)


# --- quorum -------------------------------------------------------------------------------------


def _replacing(doc: dict[str, Any], address: str) -> dict[str, Any]:
    """``doc`` with one server's boot disk grown (GCP replaces the machine)."""
    doc = copy.deepcopy(doc)
    kind, name = address.split(".")
    params = doc["resource"][kind][name]["boot_disk"]["initialize_params"]
    params["size"] = params.get("size", 20) + 10
    return doc


def test_replacing_one_of_three_servers_keeps_quorum() -> None:
    old = compile_raw(spec("gcp", initialized=True)).document
    result = diff_documents(old, _replacing(old, "google_compute_instance.demo_cp_2"))
    assert result.hazards == ()
    assert result.exit_code == EXIT_REPLACES_MACHINES  # a machine is still replaced


def test_replacing_two_of_three_servers_loses_quorum_and_names_both() -> None:
    old = compile_raw(spec("gcp", initialized=True)).document
    new = _replacing(_replacing(old, "google_compute_instance.demo_cp_1"), "google_compute_instance.demo_cp_2")
    (found,) = diff_documents(old, new).hazards
    assert found.kind == "quorum-loss"
    assert found.machines == ("google_compute_instance.demo_cp_1", "google_compute_instance.demo_cp_2")


def test_two_of_five_servers_at_once_keep_quorum() -> None:
    old = compile_raw(spec("gcp", servers=5, initialized=True)).document
    new = _replacing(_replacing(old, "google_compute_instance.demo_cp_3"), "google_compute_instance.demo_cp_4")
    assert diff_documents(old, new).hazards == ()


def test_shrinking_three_servers_to_one_destroys_two_and_loses_quorum() -> None:
    old = spec("hcloud", initialized=True)
    found = hazard(diff(old, with_system(spec("hcloud"), min_size=1, max_size=1)), "quorum-loss")
    assert found.machines == ("hcloud_server.demo_cp_1", "hcloud_server.demo_cp_2")


def test_replacing_a_single_server_says_how_to_keep_its_state() -> None:
    old = compile_raw(spec("gcp", servers=1)).document
    found = hazard(diff_documents(old, _replacing(old, "google_compute_instance.demo_cp_0")), "quorum-loss")
    assert "single server" in found.instead


# --- server 0 and initialized -----------------------------------------------------------------


def test_replacing_server_0_alone_of_an_uninitialized_cluster_forms_a_new_cluster() -> None:
    old = compile_raw(spec("gcp")).document
    result = diff_documents(old, _replacing(old, "google_compute_instance.demo_cp_0"))
    (found,) = result.hazards
    assert (found.kind, found.machines) == ("new-cluster", ("google_compute_instance.demo_cp_0",))
    assert "initialized: true" in found.instead


def test_replacing_server_0_of_an_initialized_cluster_is_no_hazard() -> None:
    old = compile_raw(spec("gcp", initialized=True)).document
    assert diff_documents(old, _replacing(old, "google_compute_instance.demo_cp_0")).hazards == ()


def test_replacing_server_0_while_setting_initialized_is_no_hazard() -> None:
    old = compile_raw(spec("gcp")).document
    new = _replacing(compile_raw(spec("gcp", initialized=True)).document, "google_compute_instance.demo_cp_0")
    assert diff_documents(old, new).hazards == ()


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_setting_initialized_alone_is_no_hazard(cloud: str) -> None:
    result = diff(spec(cloud), spec(cloud, initialized=True))
    assert result.hazards == ()
    assert result.exit_code in (EXIT_NO_CHANGES, EXIT_IN_PLACE)


def test_where_a_new_user_data_replaces_servers_setting_initialized_replaces_server_0_alone() -> None:
    """Its user_data changes (cluster_init, join_server), so it is replaced, and joins."""
    old = spec("hcloud", hcloud={**CLOUDS["hcloud"].block, "replace_on_user_data_change": True})
    result = diff(old, {**old, "initialized": True})
    assert [r.address for r in result.resources if r.replaces_machines] == ["hcloud_server.demo_cp_0"]
    assert result.hazards == ()


def test_with_two_servers_replacing_server_0_to_set_initialized_loses_quorum() -> None:
    old = spec("hcloud", servers=2, hcloud={**CLOUDS["hcloud"].block, "replace_on_user_data_change": True})
    assert kinds(diff(old, {**old, "initialized": True})) == ["quorum-loss"]


# --- changes running machines never see ---------------------------------------------------------


@pytest.mark.parametrize("cloud", ["hcloud", "azure", "gcp"])
def test_a_new_certificate_name_on_running_servers_names_each_and_how_to_roll_it(cloud: str) -> None:
    old = spec(cloud, initialized=True)
    result = diff(old, {**old, "nixos": {"k3s": {"tls_san": ["k8s.example.com"]}}})
    found = hazard(result, "not-applied")
    assert [m.rsplit("_", 1)[-1] for m in found.machines] == ["0", "1", "2"]
    assert "terraform apply -replace=" in found.instead
    assert result.exit_code == EXIT_REPLACES_MACHINES


def test_a_worker_label_on_a_template_built_pool_names_its_group() -> None:
    old = spec("aws", initialized=True)
    new = copy.deepcopy(old)
    new["node_pools"][1]["labels"] = {"tier": "batch"}
    assert hazard(diff(old, new), "not-applied").machines == ("aws_autoscaling_group.demo_workers_asg",)


def test_growing_one_hetzner_server_to_three_leaves_server_0_as_it_is() -> None:
    """Its certificate names the balancer's address already: growth changes nothing it reads."""
    result = diff(spec("hcloud", servers=1), spec("hcloud", servers=3))
    assert "hcloud_server.demo_cp_0" not in [r.address for r in result.resources]
    assert result.hazards == ()


# --- the report -------------------------------------------------------------------------------


def test_the_json_report_lists_each_hazard() -> None:
    old = spec("gcp")
    result = diff(old, with_system(old, disk_size_gb=80))
    report = json.loads(render_json(result))
    assert report["exit_code"] == EXIT_REPLACES_MACHINES
    assert [h["kind"] for h in report["hazards"]] == ["quorum-loss", "new-cluster"]
    assert all(h["instead"] for h in report["hazards"])


def test_the_command_exits_4_for_a_hazard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = spec("hcloud", initialized=True)
    new = {**old, "nixos": {"k3s": {"tls_san": ["k8s.example.com"]}}}
    paths = []
    for name, raw in (("old.json", old), ("new.json", new)):
        (tmp_path / name).write_text(json.dumps(raw))
        paths.append(str(tmp_path / name))
    assert main(["diff", *paths]) == EXIT_REPLACES_MACHINES
    out = capsys.readouterr().out
    assert "! hcloud_server.demo_cp_0, hcloud_server.demo_cp_1 and hcloud_server.demo_cp_2 keep their old" in out
    assert out.endswith("Exit 4: hazards to the cluster.\n")


# --- properties ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", sorted(CLOUDS))
@settings(max_examples=25)
@given(data=st.data())
def test_setting_initialized_is_never_a_hazard_where_servers_keep_their_user_data(
    backend: str, data: st.DataObject
) -> None:
    raw = data.draw(raw_cluster_specs(backend))
    raw.pop("initialized", None)
    raw[backend].pop("replace_on_user_data_change", None)
    assume(can_be_initialized(backend, raw))
    old, new = (compile_spec(load_raw(r)).unwrap().document for r in (raw, {**raw, "initialized": True}))
    assert diff_documents(old, new).hazards == ()


@pytest.mark.parametrize("backend", sorted(CLOUDS))
@settings(max_examples=25)
@given(data=st.data())
def test_every_server_of_a_compiled_spec_is_read_back_with_its_index(backend: str, data: st.DataObject) -> None:
    spec = load_raw(data.draw(raw_cluster_specs(backend)))
    read = servers(node_machines(read_document(compile_spec(spec).unwrap().document).unwrap()))
    assert sorted(read) == list(range(spec.control_plane_count))
    assert [read[i].cluster_init for i in sorted(read)] == [i == 0 and not spec.initialized for i in sorted(read)]
