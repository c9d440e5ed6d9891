"""AWS: what the ``aws`` block holds, and AWS in the catalog.

>>> CLOUD.name, CLOUD.aliases
('aws', ('aws_nixos',))
"""

# No ``from __future__ import annotations``: msgspec evaluates these at class creation (nixk8s/spec.py).
from typing import Annotated, Literal

from nixk8s.backends.cloud import Cloud, Starter
from nixk8s.record import Frozen, doc


class AwsOptions(Frozen, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``aws``: what AWS needs beyond the cloud-neutral spec (only with backend aws)."""

    ami_id: Annotated[
        str | None, doc("AMI", "The NixOS AMI id; else ssm_ami_parameter, else nixos.image_id", "ami-0123456789abcdef0")
    ] = None
    ssm_ami_parameter: Annotated[
        str | None,
        doc("SSM AMI parameter", "An SSM parameter that holds the AMI id, read at plan time; not with ami_id"),
    ] = None
    key_pair: Annotated[str | None, doc("Key pair", "The EC2 key pair for pools that name none in ssh_keys")] = None
    availability_zones: Annotated[
        tuple[str, ...],
        doc(
            "Availability zones",
            "Zones for the subnets nixk8s creates (only with network); default: the region's a, b and c",
            ["eu-central-1a", "eu-central-1b"],
        ),
    ] = ()
    vpc_id: Annotated[
        str | None,
        doc("VPC", "An existing VPC to use instead of network (with subnet_ids); neither: the region's default VPC"),
    ] = None
    subnet_ids: Annotated[
        tuple[str, ...], doc("Subnets", "Subnets of vpc_id for the nodes and the API load balancer")
    ] = ()
    nat: Annotated[
        Literal["single", "per-zone"],
        doc(
            "NAT gateways",
            "With network.private_nodes: a NAT gateway in each zone's public subnet (per-zone: a zone's "
            "nodes keep their way out when another zone fails), or one for every zone (single: cheaper)",
        ),
    ] = "per-zone"
    instance_profile_policies: Annotated[
        tuple[str, ...],
        doc("Instance profile policies", "More IAM managed policy ARNs for the nodes' role"),
    ] = ()


def spec_block(spec: object) -> AwsOptions | None:
    """The ``aws`` block as the spec gives it (None where it gives none)."""
    block: AwsOptions | None = getattr(spec, "aws", None)
    return block


CLOUD = Cloud(
    name="aws",
    title="AWS",
    options=AwsOptions,
    options_description="AWS settings; only with backend aws",
    backend="nixk8s.backends.aws.backend:AWS",
    aliases=('aws_nixos',),
    resource_prefixes=('aws_',),
    replacement_rules="nixk8s.backends.aws.replacement_rules:TABLE",
    starter=Starter(
        place="""\
backend: aws
region: eu-central-1         # an AWS region
""",
        server_type="m6i.large",
        worker_type="m6i.xlarge",
        credentials="""\
an AWS profile: aws configure (or aws sso login --profile NAME), then
export AWS_PROFILE=NAME   (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)""",
        provider="""\
# Every node boots this AMI: a NixOS image with the kindling agent. Instead of
# ami_id, ssm_ami_parameter names an SSM parameter that holds the AMI id.
aws:
  ami_id: ami-0123456789abcdef0   # CHANGE: your NixOS AMI
  # key_pair: ops                  # an EC2 key pair for SSH (or a pool's ssh_keys)

# How your AMI's kindling reads each node's config on EC2: legacy-bootstrap waits for
# the user_data script to write it (workers built from one launch template need
# that); init reads the config embedded in user_data without running the script.
nixos:
  kindling_mode: legacy-bootstrap   # CHANGE if your AMI runs kindling's EC2 init mode
""",
    ),
)
