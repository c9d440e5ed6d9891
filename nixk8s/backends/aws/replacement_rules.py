"""AWS: which argument changes make Terraform replace its resources (data).

Version 6.25.0 is the schema tfcheck validates against; the entries were read in the newest
stored sources of ``hashicorp/terraform-provider-aws`` (about 6.x), each naming its file
(``docs/diff.md`` says how the table was made and how to redo it).
"""

from __future__ import annotations

from nixk8s.document_diff.rules import Body, Conditional, Disruption, IndexedPath, ProviderRules, ResourceRule


def _nlb_subnets(old: Body, new: Body, path: IndexedPath) -> str | None:
    if new.get("load_balancer_type") != "network":
        return None
    gone = set(map(str, old.get("subnets") or [])) - set(map(str, new.get("subnets") or []))
    return "subnets removed from a network load balancer" if gone else None


def _nlb_security_groups(old: Body, new: Body, path: IndexedPath) -> str | None:
    if new.get("load_balancer_type") != "network":
        return None
    if bool(old.get("security_groups")) != bool(new.get("security_groups")):
        return "a network load balancer gains its first security groups or loses all of them"
    return None


def _refreshes(old: Body, new: Body, provider: Body) -> bool:
    return bool(new.get("instance_refresh"))


def _no_refresh(old: Body, new: Body, provider: Body) -> bool:
    return not new.get("instance_refresh")


def _lowers_max(old: Body, new: Body, provider: Body) -> bool:
    before, after = old.get("max_size"), new.get("max_size")
    return isinstance(before, int) and isinstance(after, int) and after < before


_AWS = "internal/service/"
# A regional AWS resource lives in one region (the provider's, or its own ``region``
# argument since 6.0, "enhanced region support"): another region is another resource.
_REGION = "region"
_NEW_INSTANCES_ONLY = (
    "a new launch template version: it reaches newly launched instances only (no instance_refresh); "
    "running nodes keep the old one"
)

RULES: dict[str, ResourceRule] = {
    "aws_launch_template": ResourceRule(
        source=_AWS + "ec2/ec2_launch_template.go",
        replacing=(_REGION, "name", "name_prefix"),
        changes_on_update=("latest_version", "default_version"),
        disruptive=tuple(
            Disruption(path, _NEW_INSTANCES_ONLY)
            for path in (
                "user_data", "image_id", "instance_type", "block_device_mappings", "metadata_options",
                "iam_instance_profile", "vpc_security_group_ids", "key_name", "tag_specifications",
                "network_interfaces",
            )
        ),
    ),
    "aws_autoscaling_group": ResourceRule(
        source=_AWS + "autoscaling/group.go",
        role="owns-machines",
        replacing=(_REGION, "name", "name_prefix", "initial_lifecycle_hook"),
        disruptive=(
            Disruption(
                "launch_template",
                "running instances keep their launch template version; instances launched from now on use the new one",
                when=_no_refresh,
            ),
            Disruption(
                "launch_template",
                "⚠ the instance_refresh block makes AWS replace the running instances",
                replaces_machines=True,
                when=_refreshes,
            ),
            Disruption(
                "max_size",
                "⚠ AWS terminates any running instances above the new max_size",
                replaces_machines=True,
                when=_lowers_max,
            ),
        ),
        replaced_note="AWS terminates the group's instances and launches new ones",
    ),
    "aws_lb": ResourceRule(
        source=_AWS + "elbv2/load_balancer.go",
        replacing=(_REGION, "name", "name_prefix", "internal", "load_balancer_type", "customer_owned_ipv4_pool"),
        conditional=(
            Conditional("subnets", _nlb_subnets),
            Conditional("security_groups", _nlb_security_groups),
        ),
        replaced_note="its DNS name changes: nodes that join through it must learn the new one",
    ),
    "aws_lb_target_group": ResourceRule(
        source=_AWS + "elbv2/target_group.go",
        replacing=(_REGION, "name", "name_prefix", "port", "protocol", "protocol_version", "vpc_id", "target_type", "ip_address_type"),
    ),
    "aws_lb_listener": ResourceRule(source=_AWS + "elbv2/listener.go", replacing=(_REGION, "load_balancer_arn",)),
    "aws_security_group": ResourceRule(
        source=_AWS + "ec2/vpc_security_group.go", replacing=(_REGION, "name", "name_prefix", "description", "vpc_id")
    ),
    "aws_default_security_group": ResourceRule(
        source=_AWS + "ec2/vpc_default_security_group.go", replacing=(_REGION, "vpc_id",)
    ),
    "aws_vpc": ResourceRule(
        source=_AWS + "ec2/vpc_.go", replacing=(_REGION, "cidr_block", "ipv4_ipam_pool_id", "ipv4_netmask_length")
    ),
    "aws_subnet": ResourceRule(
        source=_AWS + "ec2/vpc_subnet.go",
        # the newest source also forces new on its IPAM arguments, which 6.25 does not have yet
        replacing=(
            _REGION, "vpc_id", "cidr_block", "availability_zone", "availability_zone_id", "ipv6_native", "outpost_arn",
        ),
    ),
    "aws_internet_gateway": ResourceRule(source=_AWS + "ec2/vpc_internet_gateway.go", replacing=(_REGION,)),
    "aws_eip": ResourceRule(
        source=_AWS + "ec2/ec2_eip.go",
        replacing=(_REGION, "address", "customer_owned_ipv4_pool", "domain", "network_border_group", "public_ipv4_pool"),
    ),
    "aws_nat_gateway": ResourceRule(
        source=_AWS + "ec2/vpc_nat_gateway.go",
        replacing=(_REGION, "allocation_id", "connectivity_type", "private_ip", "subnet_id"),
        replaced_note="the zone's nodes lose their way out until the new gateway and its route exist",
    ),
    "aws_route_table": ResourceRule(source=_AWS + "ec2/vpc_route_table.go", replacing=(_REGION, "vpc_id",)),
    "aws_route": ResourceRule(
        source=_AWS + "ec2/vpc_route.go",
        replacing=(_REGION, "route_table_id", "destination_cidr_block", "destination_ipv6_cidr_block", "destination_prefix_list_id"),
    ),
    "aws_route_table_association": ResourceRule(
        source=_AWS + "ec2/vpc_route_table_association.go", replacing=(_REGION, "subnet_id", "gateway_id")
    ),
    "aws_iam_role": ResourceRule(source=_AWS + "iam/role.go", replacing=("name", "name_prefix", "path")),
    "aws_iam_instance_profile": ResourceRule(
        source=_AWS + "iam/instance_profile.go", replacing=("name", "name_prefix", "path")
    ),
    "aws_iam_policy": ResourceRule(
        source=_AWS + "iam/policy.go", replacing=("name", "name_prefix", "path", "description")
    ),
    "aws_iam_role_policy_attachment": ResourceRule(
        source=_AWS + "iam/role_policy_attachment.go", replacing=("role", "policy_arn")
    ),
    # the etcd snapshot bucket (snapshots.py) and its settings, each its own resource
    "aws_s3_bucket": ResourceRule(
        source=_AWS + "s3/bucket.go",
        replacing=(_REGION, "bucket", "bucket_prefix", "object_lock_enabled", "object_lock_configuration.object_lock_enabled"),
    ),
    "aws_s3_bucket_public_access_block": ResourceRule(
        source=_AWS + "s3/bucket_public_access_block.go", replacing=(_REGION, "bucket")
    ),
    "aws_s3_bucket_ownership_controls": ResourceRule(
        source=_AWS + "s3/bucket_ownership_controls.go", replacing=(_REGION, "bucket")
    ),
    "aws_s3_bucket_server_side_encryption_configuration": ResourceRule(
        source=_AWS + "s3/bucket_server_side_encryption_configuration.go",
        replacing=(_REGION, "bucket", "expected_bucket_owner"),
    ),
    "aws_s3_bucket_versioning": ResourceRule(
        source=_AWS + "s3/bucket_versioning.go", replacing=(_REGION, "bucket", "expected_bucket_owner")
    ),
    "aws_s3_bucket_lifecycle_configuration": ResourceRule(
        source=_AWS + "s3/bucket_lifecycle_configuration.go", replacing=(_REGION, "bucket", "expected_bucket_owner")
    ),
    "aws_s3_bucket_policy": ResourceRule(source=_AWS + "s3/bucket_policy.go", replacing=(_REGION, "bucket")),
}

TABLE = ProviderRules(
    provider="aws",
    source="hashicorp/aws",
    version="6.25.0",
    repository="hashicorp/terraform-provider-aws",
    # a resource that sets no region of its own lives in its provider's
    inherited=(_REGION,),
    rules=RULES,
)
