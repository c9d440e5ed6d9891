"""AWS: the bucket for the servers' etcd snapshots, where the spec gives no keys.

``etcd_snapshots.s3`` without ``access_key``/``secret_key`` compiles
``aws_s3_bucket.N_etcd_snapshots`` (a name from ``bucket_prefix``: S3 names are
global) with everything that makes it private and durable:

- ``aws_s3_bucket_public_access_block``: all four blocks on;
- ``aws_s3_bucket_ownership_controls``: BucketOwnerEnforced (no ACLs at all);
- ``aws_s3_bucket_server_side_encryption_configuration``: SSE-KMS with the account's
  S3 key, bucket keys on;
- ``aws_s3_bucket_versioning``: enabled, so an overwritten or deleted snapshot is kept;
- ``aws_s3_bucket_lifecycle_configuration``: such old versions expire after
  :data:`NONCURRENT_DAYS` days (k3s's retention deletes the current ones), unfinished
  uploads after a week;
- ``aws_s3_bucket_policy``: every request without TLS denied.

Only the servers may use it: they get an instance role of their own
(:func:`nixk8s.backends.aws.iam.node_identity`) whose one extra policy,
``N_etcd_snapshots``, allows listing this bucket and reading, writing and deleting its
objects, and nothing else; the workers' role has no S3 permission. k3s, given no keys,
signs its requests with the instance role's credentials.

The bucket is not destroyed with its objects (no ``force_destroy``): snapshots are
what a lost cluster is restored from, so ``terraform destroy`` stops at a bucket that
still holds some.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s import names
from nixk8s.backends.aws.iam import partition
from nixk8s.etcd_snapshots import SnapshotBucket
from nixk8s.plan import ClusterPlan
from nixk8s.terraform import Expr, Fragment, Resource, Template

# how long an overwritten or deleted snapshot is kept
NONCURRENT_DAYS = 30
# S3's limit on bucket_prefix (the provider appends 26 characters, to 63)
BUCKET_PREFIX_LIMIT = 37
POLICY_SUFFIX = "etcd_snapshots"


def endpoint(region: str) -> str:
    """The regional S3 endpoint k3s uploads to.

    >>> endpoint("eu-central-1"), endpoint("cn-north-1")
    ('s3.eu-central-1.amazonaws.com', 's3.cn-north-1.amazonaws.com.cn')
    """
    suffix = ".cn" if partition(region) == "aws-cn" else ""
    return f"s3.{region}.amazonaws.com{suffix}"


# stands for the bucket's ARN in a policy document (known only after apply)
ARN = "NIXK8SBUCKETARN"


def _with_arn(statements: list[dict[str, Any]], arn: Expr) -> Template:
    """A policy document (JSON text) with the bucket's ARN where :data:`ARN` stands."""
    text = msgspec.json.encode({"Version": "2012-10-17", "Statement": statements}).decode()
    pieces = text.split(ARN)
    return Template.of(*(p for i, piece in enumerate(pieces) for p in ((arn, piece) if i else (piece,))))


def server_policy(arn: Expr) -> Template:
    """What the servers may do, in this bucket alone: find it, and read, write and
    delete (for k3s's retention) its objects."""
    return _with_arn(
        [
            {
                "Sid": "EtcdSnapshotBucket",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
                "Resource": ARN,
            },
            {
                "Sid": "EtcdSnapshotObjects",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                "Resource": f"{ARN}/*",
            },
        ],
        arn,
    )


def _bucket_policy(arn: Expr) -> Template:
    return _with_arn(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [ARN, f"{ARN}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
        arn,
    )


class SnapshotStore(msgspec.Struct, frozen=True):
    """The bucket's resources, the handle the servers' drop-in reads, and the servers'
    policy on it (suffix → description, document) for their role."""

    fragment: Fragment
    bucket: SnapshotBucket
    server_policies: dict[str, tuple[str, Template]]


def snapshot_store(plan: ClusterPlan) -> SnapshotStore:
    n = plan.name
    region = plan.spec.region
    prefix = names.shortened(f"{n}-etcd-snapshots", BUCKET_PREFIX_LIMIT - 1) + "-"
    bucket = Resource(
        "aws_s3_bucket",
        f"{n}_etcd_snapshots",
        {"bucket_prefix": prefix, "force_destroy": False, "tags": plan.tag_map(Name=f"{n}-etcd-snapshots")},
    )
    of_bucket = {"bucket": bucket.ref("id")}
    arn = bucket.ref("arn", max_len=128)
    resources = (
        bucket,
        Resource(
            "aws_s3_bucket_public_access_block",
            f"{n}_etcd_snapshots",
            {
                **of_bucket,
                "block_public_acls": True,
                "block_public_policy": True,
                "ignore_public_acls": True,
                "restrict_public_buckets": True,
            },
        ),
        Resource(
            "aws_s3_bucket_ownership_controls",
            f"{n}_etcd_snapshots",
            {**of_bucket, "rule": {"object_ownership": "BucketOwnerEnforced"}},
        ),
        Resource(
            "aws_s3_bucket_server_side_encryption_configuration",
            f"{n}_etcd_snapshots",
            {
                **of_bucket,
                "rule": [
                    {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}, "bucket_key_enabled": True}
                ],
            },
        ),
        Resource(
            "aws_s3_bucket_versioning",
            f"{n}_etcd_snapshots",
            {**of_bucket, "versioning_configuration": {"status": "Enabled"}},
        ),
        Resource(
            "aws_s3_bucket_lifecycle_configuration",
            f"{n}_etcd_snapshots",
            {
                **of_bucket,
                "rule": [
                    {
                        "id": "old-snapshot-versions",
                        "status": "Enabled",
                        "filter": {"prefix": ""},
                        "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_DAYS},
                        "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                    }
                ],
            },
        ),
        Resource("aws_s3_bucket_policy", f"{n}_etcd_snapshots", {**of_bucket, "policy": _bucket_policy(arn)}),
    )
    role = f"aws_iam_role.{n}_server_role"
    handle = SnapshotBucket(
        resource=f"aws_s3_bucket.{bucket.name}",
        bucket=bucket.ref("id"),
        endpoint=endpoint(region),
        region=region,
        access=f"the servers' instance role ({role}) only, by its policy {n}-etcd-snapshots; "
        "private, encrypted, versioned, public access blocked",
    )
    policy = (f"list, read, write and delete etcd snapshots in the cluster's bucket (servers of {n})", server_policy(arn))
    return SnapshotStore(Fragment(resources=resources), handle, {POLICY_SUFFIX: policy})
