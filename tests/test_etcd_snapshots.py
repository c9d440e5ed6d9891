"""etcd snapshots of the k3s servers: the settings reach every server's drop-in and no
agent's, the store's keys stay secrets, and on AWS a store without keys is a private
bucket only the servers may use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import (
    apply_state,
    compile_raw,
    concrete,
    document_user_data,
    embedded_dropin,
    problems_of,
    rendered_nodes,
)
from test_k3s_dropin import CLOUDS, settings_spec

from nixk8s.explain_text import explain
from nixk8s.explanation import explanation, to_json

KEYS = {"access_key": {"var": "etcd_s3_access_key"}, "secret_key": {"var": "etcd_s3_secret_key"}}
STORE = {"endpoint": "minio.example.com:9000", "bucket": "snapshots", "region": "eu-1", "folder": "demo", **KEYS}
SNAPSHOTS = {"schedule": "0 */6 * * *", "retention": 10, "s3": STORE}


def with_snapshots(backend: str, snapshots: dict[str, Any] = SNAPSHOTS, fmt: str = "cloud-config", **fields: Any) -> dict[str, Any]:
    raw = settings_spec(backend, fmt, etcd_snapshots=snapshots, **fields)
    raw["node_pools"][0] = {**raw["node_pools"][0], "min_size": 3, "max_size": 3}
    return raw


def dropins(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(role, drop-in) of every machine, as its user_data writes it."""
    return [(n.role, embedded_dropin(concrete(n.user_data)) or {}) for n in rendered_nodes(compile_raw(raw))]


# --- servers carry the settings, agents nothing ----------------------------------------------------


@pytest.mark.parametrize("fmt", ["shell", "cloud-config"])
@pytest.mark.parametrize("backend", CLOUDS)
def test_every_server_carries_the_snapshot_settings_and_no_agent_any(backend: str, fmt: str) -> None:
    found = dropins(with_snapshots(backend, fmt=fmt))
    servers = [d for role, d in found if role == "server"]
    agents = [d for role, d in found if role == "agent"]
    assert len(servers) == 3 and agents
    for dropin in servers:
        assert {k: v for k, v in dropin.items() if k.startswith("etcd-")} == {
            "etcd-snapshot-schedule-cron": "0 */6 * * *",
            "etcd-snapshot-retention": 10,
            "etcd-s3": True,
            "etcd-s3-endpoint": "minio.example.com:9000",
            "etcd-s3-bucket": "snapshots",
            "etcd-s3-region": "eu-1",
            "etcd-s3-folder": "demo",
            "etcd-s3-access-key": "var.etcd_s3_access_key",
            "etcd-s3-secret-key": "var.etcd_s3_secret_key",
        }
    for dropin in agents:
        assert not [k for k in dropin if k.startswith("etcd")]


@pytest.mark.parametrize("backend", CLOUDS)
def test_the_keys_reach_no_agent_and_no_output(backend: str) -> None:
    literal = {**STORE, "access_key": "AKIA-LITERAL-ACCESS", "secret_key": {"var": "etcd_s3_secret_key"}}
    compiled = compile_raw(with_snapshots(backend, {"s3": literal}))
    for node in rendered_nodes(compiled):
        text = concrete(node.user_data)
        held = "AKIA-LITERAL-ACCESS" in text, "var.etcd_s3_secret_key" in text
        assert held == ((True, True) if node.role == "server" else (False, False)), node.name
    document = compiled.document
    assert "etcd_s3_secret_key" not in json.dumps(document.get("output", {}))
    assert "AKIA-LITERAL-ACCESS" not in json.dumps(document.get("output", {}))


def test_a_key_given_by_reference_is_a_sensitive_variable_with_its_checks() -> None:
    variables = compile_raw(with_snapshots("hcloud")).document["variable"]
    for name in ("etcd_s3_access_key", "etcd_s3_secret_key"):
        assert variables[name]["sensitive"] is True
        assert "etcd_snapshots.s3" in variables[name]["description"]
        assert variables[name]["validation"]


def test_without_s3_the_servers_keep_their_snapshots_on_disk() -> None:
    found = dropins(with_snapshots("gcp", {"retention": 3}))
    for role, dropin in found:
        etcd = {k: v for k, v in dropin.items() if k.startswith("etcd-")}
        assert etcd == ({"etcd-snapshot-schedule-cron": "0 */12 * * *", "etcd-snapshot-retention": 3} if role == "server" else {})


# --- what is refused ---------------------------------------------------------------------------------


def paths(raw: dict[str, Any]) -> list[str]:
    return [p.path for p in problems_of(raw)]


def test_kubeadm_is_refused_at_the_block() -> None:
    raw = with_snapshots("hcloud", distribution="kubernetes", nixos=None, bootstrap_secrets={"kubeadm_token": {"var": "kubeadm_token"}})
    assert paths(raw) == ["etcd_snapshots"]
    assert "k3s" in problems_of(raw)[0].message


@pytest.mark.parametrize("backend", ["hcloud", "gcp", "azure"])
def test_a_store_without_keys_is_refused_where_the_cloud_makes_no_bucket(backend: str) -> None:
    (problem,) = problems_of(with_snapshots(backend, {"s3": {"folder": "demo"}}))
    assert problem.path == "etcd_snapshots.s3"
    assert "access_key and secret_key" in problem.message


@pytest.mark.parametrize(
    "s3, path",
    [
        ({"bucket": "b", "access_key": "AK"}, "etcd_snapshots.s3.secret_key"),
        ({"bucket": "b", "secret_key": {"var": "sk"}}, "etcd_snapshots.s3.access_key"),
        ({"access_key": "AK", "secret_key": "SK"}, "etcd_snapshots.s3.bucket"),
        ({"bucket": "mine"}, "etcd_snapshots.s3.bucket"),
        ({"endpoint": "s3.example.com"}, "etcd_snapshots.s3.endpoint"),
        ({"bucket": "b", "access_key": "AK\n", "secret_key": "SK"}, "etcd_snapshots.s3.access_key"),
        ({"bucket": "b", "access_key": "AK", "secret_key": {"var": "version"}}, "etcd_snapshots.s3.secret_key.var"),
    ],
)
def test_an_incomplete_or_contradictory_store_is_refused_at_its_path(s3: dict[str, Any], path: str) -> None:
    assert path in paths(with_snapshots("aws", {"s3": s3}))


def test_a_variable_backing_a_bootstrap_secret_and_a_key_is_refused() -> None:
    raw = with_snapshots("hcloud", {"s3": {**STORE, "access_key": {"var": "k3s_token"}}})
    (problem,) = problems_of(raw)
    assert problem.path == "etcd_snapshots.s3.access_key.var"
    assert "already backs bootstrap_secrets.k3s_server_token" in problem.message


@pytest.mark.parametrize("schedule", ["0 */6 * * *", "@daily", "@every 6h", "CRON_TZ=Europe/Berlin 30 2 * * 1-5"])
def test_a_cron_schedule_is_accepted(schedule: str) -> None:
    assert paths(with_snapshots("hcloud", {"schedule": schedule})) == []


@pytest.mark.parametrize("schedule", ["every day", "0 */6 * *", "* * * * * * *", "0 0 * * *\n--token=x"])
def test_a_schedule_that_is_no_cron_is_refused(schedule: str) -> None:
    assert paths(with_snapshots("hcloud", {"schedule": schedule})) == ["etcd_snapshots.schedule"]


# --- explain -----------------------------------------------------------------------------------------


def test_explain_says_where_the_snapshots_go_and_how_often() -> None:
    compiled = compile_raw(with_snapshots("hcloud"))
    text = explain(compiled)
    assert "etcd snapshots: on schedule '0 */6 * * *', the newest 10 kept" in text
    assert "s3://snapshots/demo at minio.example.com:9000" in text
    data = json.loads(to_json(explanation(compiled)))["etcd_snapshots"]
    assert data["schedule"] == "0 */6 * * *" and data["retention"] == 10 and data["configured"] is True
    assert "var.etcd_s3_access_key" in data["credentials"]


def test_explain_names_k3s_defaults_where_the_spec_sets_none() -> None:
    text = explain(compile_raw(settings_spec("hcloud", "shell")))
    assert "etcd snapshots (k3s's defaults" in text and "each server's own disk" in text


def test_explain_says_nothing_of_snapshots_for_kubeadm() -> None:
    raw = settings_spec("hcloud", "shell", distribution="kubernetes", nixos=None, bootstrap_secrets={"kubeadm_token": {"var": "kubeadm_token"}})
    compiled = compile_raw(raw)
    assert explanation(compiled).etcd_snapshots is None
    assert "etcd snapshots" not in explain(compiled)


# --- AWS: the bucket nixk8s makes ----------------------------------------------------------------------

BUCKET = "aws_s3_bucket.demo_etcd_snapshots"


def aws_bucket_spec() -> dict[str, Any]:
    return with_snapshots("aws", {"s3": {"folder": "demo"}}, fmt="shell")


def test_aws_makes_a_private_encrypted_versioned_bucket() -> None:
    resources = compile_raw(aws_bucket_spec()).document["resource"]
    (bucket,) = resources["aws_s3_bucket"].values()
    assert bucket["bucket_prefix"].startswith("demo-etcd-snapshots") and bucket["force_destroy"] is False
    (block,) = resources["aws_s3_bucket_public_access_block"].values()
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    (encryption,) = resources["aws_s3_bucket_server_side_encryption_configuration"].values()
    assert encryption["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    (versioning,) = resources["aws_s3_bucket_versioning"].values()
    assert versioning["versioning_configuration"]["status"] == "Enabled"
    (ownership,) = resources["aws_s3_bucket_ownership_controls"].values()
    assert ownership["rule"]["object_ownership"] == "BucketOwnerEnforced"
    (policy,) = resources["aws_s3_bucket_policy"].values()
    statement = json.loads(policy["policy"])["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def policy_statements(document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return json.loads(document["resource"]["aws_iam_policy"][name]["policy"])["Statement"]  # type: ignore[no-any-return]


def test_aws_only_the_servers_role_may_use_the_bucket_and_only_it() -> None:
    document = compile_raw(aws_bucket_spec()).document
    arn = "${aws_s3_bucket.demo_etcd_snapshots.arn}"
    statements = policy_statements(document, "demo_etcd_snapshots")
    assert [s["Resource"] for s in statements] == [arn, f"{arn}/*"]
    assert {a for s in statements for a in s["Action"]} <= {
        "s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"
    }  # fmt: skip
    attachments = document["resource"]["aws_iam_role_policy_attachment"]
    holders = {a["role"] for a in attachments.values() if a["policy_arn"] == "${aws_iam_policy.demo_etcd_snapshots.arn}"}
    assert holders == {"${aws_iam_role.demo_server_role.name}"}
    # the workers' role holds no S3 permission at all
    worker_policies = [a["policy_arn"] for a in attachments.values() if a["role"] == "${aws_iam_role.demo_node_role.name}"]
    for arn_ref in worker_policies:
        name = arn_ref.removeprefix("${aws_iam_policy.").removesuffix(".arn}")
        assert not [s for s in policy_statements(document, name) if any(a.startswith("s3:") for a in s["Action"])]
    templates = document["resource"]["aws_launch_template"]
    for name, template in templates.items():
        profile = "demo_server_profile" if "_cp_" in name else "demo_node_profile"
        assert template["iam_instance_profile"]["arn"] == f"${{aws_iam_instance_profile.{profile}.arn}}", name


def test_aws_servers_upload_to_the_bucket_with_their_role_and_no_keys() -> None:
    for role, dropin in dropins(aws_bucket_spec()):
        if role == "server":
            assert dropin["etcd-s3-bucket"] == "aws_s3_bucket.demo_etcd_snapshots.id"
            assert dropin["etcd-s3-endpoint"] == "s3.eu-central-1.amazonaws.com"
            assert dropin["etcd-s3-region"] == "eu-central-1" and dropin["etcd-s3-folder"] == "demo"
            assert not {"etcd-s3-access-key", "etcd-s3-secret-key"} & set(dropin)
        else:
            assert not [k for k in dropin if k.startswith("etcd")]


def test_aws_without_snapshots_keeps_one_role_for_every_node() -> None:
    resources = compile_raw(settings_spec("aws", "shell")).document["resource"]
    assert "aws_s3_bucket" not in resources
    assert list(resources["aws_iam_role"]) == ["demo_node_role"]


def test_explain_names_the_bucket_and_who_may_use_it() -> None:
    compiled = compile_raw(aws_bucket_spec())
    text = explain(compiled)
    assert f"the bucket {BUCKET} folder demo (s3.eu-central-1.amazonaws.com)" in text
    assert "the servers' instance role (aws_iam_role.demo_server_role) only" in text
    assert any(BUCKET in note for note in compiled.built.notes)


@pytest.mark.tfcheck
def test_aws_bucket_and_role_policy_apply(tmp_path: Path) -> None:
    compiled = compile_raw(aws_bucket_spec())
    state = apply_state(compiled, tmp_path)
    bucket = state[BUCKET]
    assert bucket["force_destroy"] is False and bucket["bucket_prefix"] == "demo-etcd-snapshots-"
    arn = bucket["arn"]
    policy = json.loads(state["aws_iam_policy.demo_etcd_snapshots"]["policy"])
    assert [s["Resource"] for s in policy["Statement"]] == [arn, f"{arn}/*"]
    deny = json.loads(state["aws_s3_bucket_policy.demo_etcd_snapshots"]["policy"])["Statement"][0]
    assert deny["Resource"] == [arn, f"{arn}/*"]
    assert state["aws_s3_bucket_public_access_block.demo_etcd_snapshots"]["restrict_public_buckets"] is True
    assert state["aws_iam_role_policy_attachment.demo_server_etcd_snapshots"]["role"] == state["aws_iam_role.demo_server_role"]["name"]
    # the servers' applied user_data names the bucket Terraform made
    scripts = document_user_data(compiled.document, lambda ref: bucket["id"] if ref == f"{BUCKET}.id" else ref)
    servers = [embedded_dropin(s) for s in scripts if '"role":"server"' in s]
    assert len(servers) == 3 and all(d is not None and d["etcd-s3-bucket"] == bucket["id"] for d in servers)
