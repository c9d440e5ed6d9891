"""``explain`` as data (JSON) and as a picture (mermaid), checked against the spec on
every backend, and end to end through the command."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support import SPECS, compile_file, compiled_example, minimal_spec, worker_pool

from nixk8s.cli import EXIT_OK, main
from nixk8s.compiler import compile_source
from nixk8s.explain_text import explain
from nixk8s.explanation import Explanation, explanation, to_json
from nixk8s.mermaid import render_mermaid
from nixk8s.secrets import agent_allowlist

EXAMPLES = sorted(SPECS.iterdir())
BY_BACKEND = {
    "hcloud": SPECS / "hcloud-k3s.yaml",
    "aws": SPECS / "aws-k3s-ha.yaml",
    "gcp": SPECS / "gcp-k3s.yaml",
    "azure": SPECS / "azure-k3s.yaml",
}
TOP_KEYS = [
    "balancer",
    "cluster",
    "credentials",
    "etcd_snapshots",
    "node_image",
    "nodes",
    "notes",
    "outputs",
    "placement_groups",
    "pools",
    "ports",
    "reach",
    "secret_paths",
    "secrets",
    "variables",
    "warnings",
]


def explained(path: Path) -> Explanation:
    return explanation(compiled_example(path))


def as_json(path: Path) -> dict[str, Any]:
    return json.loads(to_json(explained(path)))  # type: ignore[no-any-return]


def sorted_keys_everywhere(value: Any) -> bool:
    if isinstance(value, dict):
        return list(value) == sorted(value) and all(sorted_keys_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(sorted_keys_everywhere(v) for v in value)
    return True


# --- json ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_json_parses_with_stable_sorted_keys(path: Path) -> None:
    data = as_json(path)
    assert list(data) == TOP_KEYS
    assert sorted_keys_everywhere(data)
    assert to_json(explained(path)) == to_json(explained(path))  # deterministic
    assert to_json(explained(path)).endswith(b"}\n")


@pytest.mark.parametrize("backend", sorted(BY_BACKEND))
def test_json_nodes_match_the_spec(backend: str) -> None:
    compiled = compiled_example(BY_BACKEND[backend])
    spec = compiled.plan.spec
    data = json.loads(to_json(explanation(compiled)))
    servers = [n for n in data["nodes"] if n["role"] == "server"]
    assert [n["index"] for n in servers] == list(range(spec.control_plane_count))
    assert [n["cluster_init"] for n in data["nodes"]].count(True) == 1 and servers[0]["cluster_init"]
    assert all(n["join"] for n in data["nodes"] if not n["cluster_init"])
    for _, pool in spec.worker_pools:
        agents = [n for n in data["nodes"] if n["pool"] == pool.name]
        entry = next(p for p in data["pools"] if p["name"] == pool.name)
        if entry["built"] == "machines":
            assert len(agents) == pool.desired
            assert all(isinstance(n["index"], int) for n in agents)
        else:  # one template serves every machine: the index comes from metadata at boot
            assert len(agents) == 1 and agents[0]["template"] and agents[0]["index"] is None
            assert agents[0]["index_source"]
    assert data["cluster"]["backend"] == backend
    assert {p["name"] for p in data["pools"]} == {p.name for p in spec.node_pools}


@pytest.mark.parametrize("backend", sorted(BY_BACKEND))
def test_json_agents_never_receive_flux_sops_or_vpn_secrets(backend: str) -> None:
    compiled = compiled_example(BY_BACKEND[backend])
    data = json.loads(to_json(explanation(compiled)))
    allowed = agent_allowlist(compiled.plan.spec.distribution)
    agents = [n for n in data["nodes"] if n["role"] == "agent"]
    assert agents
    for agent in agents:
        assert set(agent["bootstrap_secrets"]) <= allowed
        assert agent["secret_paths"] == [] and agent["gitops"] is None and not agent["vpn"]
    sops = next(s for s in data["secrets"] if s["key"] == "sops_age_key")
    assert sops["roles"] == ["server"]
    assert all(name.startswith(f"{compiled.plan.name}_cp_") for name in sops["nodes"])


@pytest.mark.parametrize("backend", sorted(BY_BACKEND))
def test_json_variables_are_the_sensitive_terraform_variables(backend: str) -> None:
    compiled = compiled_example(BY_BACKEND[backend])
    data = json.loads(to_json(explanation(compiled)))
    variables = compiled.document["variable"]
    assert {v["name"] for v in data["variables"]} == set(variables)
    assert all(v["sensitive"] and variables[v["name"]]["sensitive"] for v in data["variables"])


def test_json_balancer_and_its_joiners_on_hcloud() -> None:
    data = as_json(BY_BACKEND["hcloud"])
    balancer = data["balancer"]
    assert balancer["kind"] == "public" and balancer["resource"] == "hcloud_load_balancer.demo_api"
    assert balancer["private_address"] == "10.0.1.254"
    assert balancer["public_address"] == "${hcloud_load_balancer.demo_api.ipv4}"
    assert balancer["targets"] == ["demo_cp_0", "demo_cp_1", "demo_cp_2"]
    joiners = [n["name"] for n in data["nodes"] if not n["cluster_init"]]
    assert balancer["joiners"] == joiners
    assert all("10.0.1.254" in n["join"] for n in data["nodes"] if n["name"] in joiners)


def test_json_balancer_on_aws_is_its_nlb_by_reference() -> None:
    balancer = as_json(BY_BACKEND["aws"])["balancer"]
    assert balancer["resource"] == "aws_lb.demo_cp_nlb"
    assert balancer["private_address"] == "${aws_lb.demo_cp_nlb.dns_name}"
    assert set(balancer["joiners"]) == {"demo_cp_1", "demo_cp_2", "demo_workers", "demo_gpu"}


def compiled_without_balancer(path: Path) -> Explanation:
    import yaml

    raw = {**yaml.safe_load(path.read_text()), "api_load_balancer": "none"}
    return explanation(compile_source(json.dumps(raw).encode(), "json").unwrap())


@pytest.mark.parametrize("backend", ["gcp", "azure"])
def test_json_without_a_balancer_everyone_joins_server_0(backend: str) -> None:
    data = json.loads(to_json(compiled_without_balancer(BY_BACKEND[backend])))
    assert data["balancer"] is None
    server_0 = data["nodes"][0]
    joins = {n["join"] for n in data["nodes"] if not n["cluster_init"]}
    assert len(joins) == 1 and server_0["private_ip"] in joins.pop()


@pytest.mark.parametrize("backend", ["gcp", "azure"])
def test_json_behind_a_passthrough_balancer_workers_join_it_and_servers_join_server_0(backend: str) -> None:
    data = as_json(BY_BACKEND[backend])
    balancer, server_0 = data["balancer"], data["nodes"][0]
    assert balancer["kind"] == "private"
    for node in data["nodes"][1:]:
        expected = server_0["private_ip"] if node["role"] == "server" else balancer["private_address"]
        assert expected in node["join"], node
    assert all(not name.startswith("demo_cp_") for name in balancer["joiners"])


def test_json_placement_groups_hold_their_members() -> None:
    groups = {g["resource"]: g["members"] for g in as_json(BY_BACKEND["hcloud"])["placement_groups"]}
    assert groups["hcloud_placement_group.demo_cp"] == ["demo_cp_0", "demo_cp_1", "demo_cp_2"]
    assert groups["hcloud_placement_group.demo_workers_pg_0"] == ["demo_workers_0", "demo_workers_1", "demo_workers_2"]


def test_json_splits_a_large_hcloud_pool_into_groups_of_ten() -> None:
    raw = minimal_spec(
        node_pools=[{"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3}, worker_pool(size=12)],
        network={"vpc_cidr": "10.0.0.0/16"},
        bootstrap_secrets={"k3s_server_token": {"var": "k3s_token"}},
    )
    data = json.loads(to_json(explanation(compile_source(json.dumps(raw).encode(), "json").unwrap())))
    groups = {g["resource"]: len(g["members"]) for g in data["placement_groups"]}
    assert groups["hcloud_placement_group.demo_workers_pg_0"] == 10
    assert groups["hcloud_placement_group.demo_workers_pg_1"] == 2


def test_json_autoscaled_pools_and_who_owns_their_size() -> None:
    raw = minimal_spec(
        node_pools=[
            {"name": "system", "instance_types": ["cx32"], "min_size": 3, "max_size": 3},
            worker_pool("burst", size=0, max_size=5, autoscale=True),
        ],
        network={"vpc_cidr": "10.0.0.0/16"},
        bootstrap_secrets={"k3s_server_token": {"var": "k3s_token"}},
    )
    data = json.loads(to_json(explanation(compile_source(json.dumps(raw).encode(), "json").unwrap())))
    burst = next(p for p in data["pools"] if p["name"] == "burst")
    assert burst["built"] == "autoscaler" and burst["autoscale"]
    assert "cluster-autoscaler" in burst["size_owner"]
    for backend in ("gcp", "azure", "aws"):
        pools = as_json(BY_BACKEND[backend])["pools"]
        assert all(p["size_owner"] for p in pools if p["role"] == "worker")


def test_json_carries_the_notes_and_warnings() -> None:
    compiled = compiled_example(BY_BACKEND["hcloud"])
    data = json.loads(to_json(explanation(compiled)))
    assert data["notes"] == list(compiled.built.notes)
    assert {(w["code"], w["path"]) for w in data["warnings"]} == {(w.code, w.path) for w in compiled.warnings}
    assert ("api-open-to-world", "access.api_sources") in {(w["code"], w["path"]) for w in data["warnings"]}


@pytest.mark.parametrize(
    "backend, needs",
    [("aws", ["amazon-init", "legacyBootstrap"]), ("gcp", ["GCE datasource", "google-guest-agent"]),
     ("azure", ["Azure datasource"]), ("hcloud", ["Hetzner datasource"])],
)  # fmt: skip
def test_explain_says_what_the_node_image_must_provide(backend: str, needs: list[str]) -> None:
    from nixk8s.explain_text import explain

    compiled = compiled_example(BY_BACKEND[backend])
    image = json.loads(to_json(explanation(compiled)))["node_image"]
    assert any("kindling" in line for line in image)
    assert any("/run/current-system/sw/bin" in line and "curl" in line for line in image)
    assert any("config.yaml.d" in line for line in image)  # every example here runs k3s
    assert all(any(need in line for line in image) for need in needs), image
    text = explain(compiled)
    assert "the node image must provide:" in text and all(f"  - {line}" in text for line in image)


# --- mermaid ---------------------------------------------------------------------------------------

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_DECLARATION = re.compile(rf"^({_ID})(\(\(|\[\[|\[\(|\[/|\{{\{{|\[)\".*\"(\)\)|\]\]|\)\]|/\]|\}}\}}|\])$")
_SUBGRAPH = re.compile(rf'^subgraph ({_ID})\[".*"\]$')
_EDGE = re.compile(rf'^({_ID}) (-->|-\.->)(\|"[^"|]*"\|)? ({_ID})$')


def parse_mermaid(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    """Declared ids and edges; fails on any line that is neither (a plausible flowchart)."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    declared: set[str] = set()
    edges: list[tuple[str, str]] = []
    depth = 0
    for line in lines[1:]:
        stripped = line.strip()
        if m := _SUBGRAPH.match(stripped):
            declared.add(m.group(1))
            depth += 1
        elif stripped == "end":
            depth -= 1
            assert depth >= 0
        elif m := _DECLARATION.match(stripped):
            assert m.group(1) not in declared, f"declared twice: {m.group(1)}"
            declared.add(m.group(1))
        elif m := _EDGE.match(stripped):
            edges.append((m.group(1), m.group(4)))
        else:
            raise AssertionError(f"not a mermaid line: {line!r}")
    assert depth == 0
    return declared, edges


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_mermaid_is_a_flowchart_whose_edges_reference_declared_nodes(path: Path) -> None:
    declared, edges = parse_mermaid(render_mermaid(explained(path)))
    assert edges
    assert all(a in declared and b in declared for a, b in edges), [e for e in edges if not set(e) <= declared]
    assert "end" not in declared


def test_mermaid_shows_the_balancer_pools_and_secret_flow() -> None:
    text = render_mermaid(explained(BY_BACKEND["hcloud"]))
    assert 'x_balancer[["API load balancer (public)<br/>10.0.1.254' in text
    assert 'pool_workers -.->|"joins"| x_balancer' in text
    assert "secret_sops_age_key -.-> pool_system" in text
    assert "secret_sops_age_key -.-> pool_workers" not in text  # agents never receive it
    assert 'x_internet -->|"22/tcp SSH: 203.0.113.0/24"| x_firewall' in text


def test_mermaid_escapes_what_would_end_a_label_and_shortens_large_pools() -> None:
    raw = minimal_spec(
        node_pools=[
            {"name": "system", "instance_types": ['cx32"]|<b>#'], "min_size": 1, "max_size": 1},
            worker_pool("end", size=40),
        ],
        network={"vpc_cidr": "10.0.0.0/16"},
        bootstrap_secrets={"k3s_server_token": {"var": "k3s_token"}},
    )
    text = render_mermaid(explanation(compile_source(json.dumps(raw).encode(), "json").unwrap()))
    declared, edges = parse_mermaid(text)
    assert "cx32#quot;]#124;#lt;b#gt;#35;" in text
    assert "... and 37 more" in text
    assert all(a in declared and b in declared for a, b in edges)


# --- generated credentials ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "titles"),
    [
        (SPECS / "hcloud-k3s.yaml", ["server CA", "client CA", "request-header CA", "service-account key"]),
        (SPECS / "hcloud-kubernetes.toml", ["cluster CA", "front-proxy CA", "etcd CA", "service-account key pair"]),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else "",
)
def test_json_names_each_generated_authority_and_only_servers_receive_it(path: Path, titles: list[str]) -> None:
    data = as_json(path)
    credentials = data["credentials"]
    servers = [n["name"] for n in data["nodes"] if n["role"] == "server"]
    assert credentials["mode"] == "generated"
    assert [a["title"] for a in credentials["authorities"]] == titles
    assert all(a["roles"] == ["server"] and a["nodes"] == servers for a in credentials["authorities"])
    assert credentials["join_given"] == "generated"
    assert credentials["outputs"] == ["kubeconfig", "cluster_ca_certificate"]
    outputs = {o["name"]: o["sensitive"] for o in data["outputs"]}
    assert outputs["kubeconfig"] is True and outputs["cluster_ca_certificate"] is False
    generated = {s["key"]: s for s in data["secrets"] if s["given"] == "generated"}
    join = credentials["join_key"]
    assert generated[join]["roles"] == ["agent", "server"]
    assert all(s["roles"] == ["server"] for key, s in generated.items() if key != join)


def test_json_with_external_credentials_generates_nothing() -> None:
    data = as_json(SPECS / "gcp-kubernetes.yaml")
    credentials = data["credentials"]
    assert credentials["mode"] == "external" and credentials["authorities"] == []
    assert credentials["join_given"] == "variable" and credentials["outputs"] == []
    assert "kubeconfig" not in {o["name"] for o in data["outputs"]}


def test_text_says_what_is_generated_who_receives_it_and_where_the_keys_live() -> None:
    text = explain(compile_file(SPECS / "hcloud-k3s.yaml"))
    section = text.split("\ncredentials: ", 1)[1].split("\n\n", 1)[0]
    assert section.startswith("generated by Terraform and kept in its state (use an encrypted remote state")
    assert "client CA (ECDSA P-256, CN k3s-client-ca): tls_self_signed_cert.demo_client_ca" in section
    assert "to demo_cp_0, demo_cp_1, demo_cp_2 as k3s_tls_client_ca_crt, k3s_tls_client_ca_key" in section
    assert "join credential k3s_server_token: random_password.demo_join_token, to demo_cp_0" in section
    assert "signed by the client CA; to no node: only to the sensitive output kubeconfig" in section


def test_mermaid_shows_the_authorities_reaching_the_control_plane_and_signing_the_kubeconfig() -> None:
    text = render_mermaid(explained(SPECS / "hcloud-k3s.yaml"))
    assert "authority_server_CA -.-> pool_system" in text
    assert "authority_server_CA -.-> pool_workers" not in text
    assert 'authority_client_CA -->|"signs the admin certificate"| x_kubeconfig' in text
    assert "secret_k3s_server_token -.-> pool_workers" in text


# --- through the command -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "mermaid", "text"])
def test_explain_formats_through_the_command(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = BY_BACKEND["hcloud"]
    assert main(["explain", str(path), "--format", fmt]) == EXIT_OK
    captured = capsys.readouterr()
    if fmt == "json":
        assert json.loads(captured.out) == as_json(path)
    elif fmt == "mermaid":
        assert captured.out == render_mermaid(explained(path))
    else:
        assert captured.out.startswith("cluster demo: k3s 1.34")
        assert "API load balancer (public): hcloud_load_balancer.demo_api at 10.0.1.254" in captured.out
    assert ": warning: " in captured.err  # warnings on stderr, never in the output


def test_explain_json_with_the_spec_format_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.txt"
    spec.write_text(json.dumps(minimal_spec()))
    assert main(["explain", str(spec), "--spec-format", "json", "--format", "json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["cluster"]["name"] == "demo"


def test_the_readme_shows_the_mermaid_of_the_hcloud_example() -> None:
    readme = (SPECS.parent / "README.md").read_text()
    block = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == render_mermaid(explained(BY_BACKEND["hcloud"]))
    assert "nixk8s explain specs/hcloud-k3s.yaml --format json" in readme
