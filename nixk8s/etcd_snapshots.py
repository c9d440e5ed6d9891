"""etcd snapshots of the k3s servers: the drop-in keys that ask for them, and where they go.

``etcd_snapshots`` becomes k3s's ``etcd-snapshot-schedule-cron``,
``etcd-snapshot-retention`` and, with ``s3``, ``etcd-s3`` and ``etcd-s3-*``, in the
servers' drop-in only (:mod:`nixk8s.k3s_dropin`): an agent never receives them, nor
the store's keys. Keys given by reference are sensitive variables
(:func:`nixk8s.secrets.secret_value`); the drop-in JSON-encodes them at apply time.

An ``s3`` block without keys means the bucket the cloud makes, where its backend can
(``Backend.makes_snapshot_bucket``): the foundation builds it and hands back a
:class:`SnapshotBucket`, and the servers reach it with their instance's own
credentials, which k3s uses when it is given no keys.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nixk8s.secrets import ACCESS_KEY, SECRET_KEY, secret_value
from nixk8s.spec import ClusterSpec, EtcdS3, EtcdSnapshots
from nixk8s.terraform import Text

class SnapshotBucket(msgspec.Struct, frozen=True, kw_only=True):
    """A bucket a backend made for the servers' snapshots.

    ``resource``: its Terraform address; ``bucket``: its name (often known only after
    apply); ``endpoint`` and ``region``: how k3s reaches it; ``access``: who may use
    it, in words, for ``explain``.
    """

    resource: str
    bucket: Text
    endpoint: str
    region: str
    access: str


def snapshots_of(spec: ClusterSpec) -> EtcdSnapshots | None:
    """The spec's etcd snapshots where they mean something (k3s), else None."""
    return spec.etcd_snapshots if spec.distribution == "k3s" else None


def made_bucket_wanted(spec: ClusterSpec) -> bool:
    """Whether the spec asks the cloud to make the snapshots' bucket (``s3`` without keys)."""
    snapshots = snapshots_of(spec)
    return snapshots is not None and snapshots.s3 is not None and not snapshots.s3.has_keys


def _s3_settings(s3: EtcdS3, bucket: SnapshotBucket | None) -> dict[str, Any]:
    if not s3.has_keys:
        if bucket is None:
            return {}  # refused by the backend's checks: it makes no bucket
        place: dict[str, Any] = {
            "etcd-s3-endpoint": bucket.endpoint,
            "etcd-s3-bucket": bucket.bucket,
            "etcd-s3-region": s3.region or bucket.region,
        }
    else:
        place = {
            "etcd-s3-endpoint": s3.endpoint,
            "etcd-s3-bucket": s3.bucket,
            "etcd-s3-region": s3.region,
            "etcd-s3-access-key": None if s3.access_key is None else secret_value(s3.access_key, ACCESS_KEY),
            "etcd-s3-secret-key": None if s3.secret_key is None else secret_value(s3.secret_key, SECRET_KEY),
        }
    place["etcd-s3-folder"] = s3.folder
    return {"etcd-s3": True, **{k: v for k, v in place.items() if v is not None}}


def server_settings(spec: ClusterSpec, bucket: SnapshotBucket | None = None) -> dict[str, Any]:
    """The drop-in keys every server gets for the spec's snapshots (none without them).

    >>> from nixk8s.spec import NodePool
    >>> spec = ClusterSpec(name="demo", backend="hcloud", region="nbg1",
    ...     node_pools=(NodePool(name="system", instance_types=("cx32",)),),
    ...     etcd_snapshots=EtcdSnapshots(schedule="0 */6 * * *", retention=10))
    >>> server_settings(spec)
    {'etcd-snapshot-schedule-cron': '0 */6 * * *', 'etcd-snapshot-retention': 10}
    """
    snapshots = snapshots_of(spec)
    if snapshots is None:
        return {}
    settings: dict[str, Any] = {
        "etcd-snapshot-schedule-cron": snapshots.schedule,
        "etcd-snapshot-retention": snapshots.retention,
    }
    if snapshots.s3 is not None:
        settings.update(_s3_settings(snapshots.s3, bucket))
    return settings


class SnapshotPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Where the servers' snapshots go and how often, for ``explain``.

    ``configured``: False where the spec leaves them to k3s's defaults (shown as such).
    ``credentials``: how the servers reach the store; ``bucket_resource``: the bucket's
    Terraform address where the cloud made it.
    """

    configured: bool
    schedule: str
    retention: int
    destination: str
    credentials: str | None
    bucket_resource: str | None


_LOCAL = "each server's own disk (k3s's data-dir, server/db/snapshots)"


def snapshot_plan(spec: ClusterSpec, bucket: SnapshotBucket | None) -> SnapshotPlan | None:
    """What ``explain`` says of the snapshots; None where the cluster takes none from
    nixk8s (kubeadm)."""
    if spec.distribution != "k3s":
        return None
    snapshots = spec.etcd_snapshots or EtcdSnapshots()
    s3 = snapshots.s3
    destination, credentials, resource = _LOCAL, None, None
    if s3 is not None and s3.has_keys:
        where = f"s3://{s3.bucket}/{s3.folder or ''}"
        endpoint = s3.endpoint or "k3s's default endpoint"
        destination = f"{_LOCAL}, and {where} at {endpoint}"
        keys = [s for s in (s3.access_key, s3.secret_key) if s is not None]
        given = ", ".join(f"var.{k.var}" if not isinstance(k, str) else "a literal" for k in keys)
        credentials = f"access keys given in the spec ({given}), on the servers only"
    elif s3 is not None and bucket is not None:
        folder = f" folder {s3.folder}" if s3.folder else ""
        destination = f"{_LOCAL}, and the bucket {bucket.resource}{folder} ({bucket.endpoint})"
        credentials = bucket.access
        resource = bucket.resource
    return SnapshotPlan(
        configured=spec.etcd_snapshots is not None,
        schedule=snapshots.schedule,
        retention=snapshots.retention,
        destination=destination,
        credentials=credentials,
        bucket_resource=resource,
    )
