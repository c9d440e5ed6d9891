"""The Azure backend's checks: what Azure or the azurerm provider would refuse at apply
time (DESIGN §7), each with its spec path.

The admin SSH key (only ``ssh-rsa`` of at least 2048 bits and ``ssh-ed25519``), the
admin user name (a Linux user name that Azure does not reserve), the image id's
shape, the resource group name, zones listed once, a subnet with room for the
control plane's fixed addresses, VM sizes, disk and pool sizes, NSG priorities
(unique within 100-4096) and addresses per rule, and Azure's tag rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from returns.pipeline import is_successful

from nixk8s import netaddr
from nixk8s.backends.azure.network import (
    FIRST_CONTROL_PLANE_HOST,
    MAX_ALLOW_RULES,
    MAX_RULE_PREFIXES,
    azure_network,
    security_rules,
)
from nixk8s.backends.azure.options import AzureOptions, spec_block
from nixk8s.plan import ClusterPlan
from nixk8s.problems import Problem, join_path
from nixk8s.spec import ClusterSpec
from nixk8s.ssh_keys import public_key

MAX_TAGS = 50
MAX_TAG_KEY = 512
MAX_TAG_VALUE = 256
TAG_KEY_FORBIDDEN = "<>%&\\?/"
MAX_DISK_GB = 4095
# Instances per scale set (with single_placement_group off); autoscale capacity too.
MAX_SCALE_SET_INSTANCES = 1000
MAX_ADMIN_USERNAME = 32  # useradd's limit for a Linux user name
MIN_RSA_BITS = 2048
# the keys nixk8s sets on a resource besides the spec's tags (at most, on a server)
NIXK8S_TAG_KEYS = ("KubernetesCluster", "Backend", "ManagedBy", "Role", "NodePool", "NodeIndex")

# Azure refuses these as a Linux VM's admin user (azurerm validate.LinuxAdminUsername).
RESERVED_ADMIN_USERNAMES = frozenset(
    "administrator admin user user1 test user2 test1 user3 admin1 1 123 a actuser adm admin2 aspnet "
    "backup console david guest john owner root server sql support support_388945a0 sys test2 test3 "
    "user4 user5".split()
)

_LOCATION = re.compile(r"^[a-z][a-z0-9]+$")
_LINUX_USER = re.compile(r"^[a-z_][a-z0-9_-]*$")
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$", re.ASCII)
_VM_SIZE = re.compile(r"^(Standard|Basic)_[A-Za-z0-9_-]+$")
_SEGMENT = r"[^/]+"
# the forms azurerm accepts as source_image_id (validate/shared_image_id.go, parse/*)
_IMAGE_IDS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"^/subscriptions/{_SEGMENT}/resourceGroups/{_SEGMENT}/providers/Microsoft\.Compute/images/{_SEGMENT}$",
        rf"^/subscriptions/{_SEGMENT}/resourceGroups/{_SEGMENT}/providers/Microsoft\.Compute/galleries/{_SEGMENT}"
        rf"/images/{_SEGMENT}(/versions/{_SEGMENT})?$",
        rf"^/communityGalleries/{_SEGMENT}/images/{_SEGMENT}(/versions/{_SEGMENT})?$",
        rf"^/sharedGalleries/{_SEGMENT}/images/{_SEGMENT}(/versions/{_SEGMENT})?$",
    )
)


def image_id(spec: ClusterSpec) -> str | None:
    """The NixOS image: ``azure.image_id``, else ``nixos.image_id``."""
    return (block.image_id if (block := spec_block(spec)) else None) or spec.nixos.image_id


def key_error(line: str) -> str | None:
    """Why Azure would refuse ``line`` as an admin SSH key, or None.

    Azure takes ``ssh-rsa`` keys of at least 2048 bits and ``ssh-ed25519`` keys only.
    """
    parsed = public_key(line)
    if not is_successful(parsed):
        return parsed.failure()
    key = parsed.unwrap()
    if key.type == "ssh-rsa" and key.bits < MIN_RSA_BITS:
        return f"an RSA key of {key.bits} bits; Azure requires at least {MIN_RSA_BITS}"
    if key.type not in ("ssh-rsa", "ssh-ed25519"):
        return f"a {key.type} key; Azure accepts only ssh-rsa (2048 bits or more) and ssh-ed25519 keys"
    return None


def _admin_problems(spec: ClusterSpec, azure: AzureOptions) -> Iterator[Problem]:
    error = key_error(azure.admin_ssh_public_key)
    if error:
        yield Problem("azure.admin_ssh_public_key", error)
    for i, pool in enumerate(spec.node_pools):
        for k, line in enumerate(pool.ssh_keys):
            error = key_error(line)
            if error:
                yield Problem(
                    join_path(join_path(join_path("node_pools", i), "ssh_keys"), k),
                    f"{error} (on Azure a pool's ssh_keys are more OpenSSH public keys for the admin user)",
                )
    user = azure.admin_username
    if user.lower() in RESERVED_ADMIN_USERNAMES:
        yield Problem("azure.admin_username", f'Azure reserves the user name "{user}"; choose another (e.g. "nixos")')
    elif not (0 < len(user) <= MAX_ADMIN_USERNAME and _LINUX_USER.match(user)):
        yield Problem(
            "azure.admin_username",
            f"must be a Linux user name: 1-{MAX_ADMIN_USERNAME} characters of a-z, 0-9, _ and -, "
            "starting with a letter or _",
        )


def _image_problems(spec: ClusterSpec) -> Iterator[Problem]:
    chosen = image_id(spec)
    path = "azure.image_id" if (block := spec_block(spec)) and block.image_id else "nixos.image_id"
    if chosen is None:
        yield Problem(
            "azure.image_id",
            "a NixOS image is required (azure.image_id or nixos.image_id): Azure has no NixOS "
            "marketplace image, so give the id of your image or Compute Gallery image version",
        )
    elif not any(p.match(chosen) for p in _IMAGE_IDS):
        yield Problem(
            path,
            f'"{chosen}" is not an Azure image id: /subscriptions/S/resourceGroups/G/providers/'
            "Microsoft.Compute/images/NAME, .../galleries/GALLERY/images/IMAGE[/versions/V], "
            "/communityGalleries/... or /sharedGalleries/...",
        )


def _place_problems(spec: ClusterSpec, azure: AzureOptions) -> Iterator[Problem]:
    if not _LOCATION.match(spec.region):
        hint = spec.region.lower().replace(" ", "")
        yield Problem("region", f'"{spec.region}" is not an Azure location name (e.g. "westeurope", here "{hint}"?)')
    group = azure.resource_group_name
    if group is not None and (not _RESOURCE_GROUP.match(group) or group.endswith(".")):
        yield Problem(
            "azure.resource_group_name",
            "a resource group name is 1-90 characters of letters, digits, -, _, ., ( and ), not ending in .",
        )
    for i, zone in enumerate(azure.zones):
        if zone in azure.zones[:i]:
            yield Problem(join_path("azure.zones", i), f'zone "{zone}" is listed twice')


def _network_problems(plan: ClusterPlan) -> Iterator[Problem]:
    spec = plan.spec
    net = azure_network(spec)
    if netaddr.cidr_error(net.vpc_cidr, ipv4_only=True):
        return  # a broken CIDR is the cross-field rules' problem
    if net.subnet_cidr is not None and netaddr.cidr_error(net.subnet_cidr, ipv4_only=True):
        return
    subnet = netaddr.net(net.subnet)
    path = "network.subnet_cidr" if net.subnet_cidr else "network.vpc_cidr"
    if subnet.prefixlen > 29:
        yield Problem(path, f"an Azure subnet is a /29 or larger, not a /{subnet.prefixlen}")
        return
    # Azure reserves the first four addresses and the last one of every subnet; an API
    # load balancer takes the last usable one
    last = FIRST_CONTROL_PLANE_HOST + spec.control_plane_count - 1
    balancer = plan.api_load_balancer is not None
    if last >= subnet.num_addresses - (2 if balancer else 1):
        yield Problem(
            path,
            f"{net.subnet} has too few addresses for {spec.control_plane_count} control-plane nodes "
            + ("and the API load balancer " if balancer else "")
            + f"(Azure reserves the first {FIRST_CONTROL_PLANE_HOST} and the last address)",
        )


def _pool_problems(spec: ClusterSpec) -> Iterator[Problem]:
    for i, pool in enumerate(spec.node_pools):
        path = join_path("node_pools", i)
        if not _VM_SIZE.match(pool.instance_type):
            yield Problem(
                join_path(join_path(path, "instance_types"), 0),
                f'"{pool.instance_type}" is not an Azure VM size (e.g. "Standard_D2s_v5")',
            )
        if pool.disk_size_gb > MAX_DISK_GB:
            yield Problem(join_path(path, "disk_size_gb"), f"an Azure OS disk is at most {MAX_DISK_GB} GB")
    for i, pool in spec.worker_pools:
        if pool.max_size > MAX_SCALE_SET_INSTANCES:
            yield Problem(
                join_path(join_path("node_pools", i), "max_size"),
                f"a scale set holds at most {MAX_SCALE_SET_INSTANCES} instances",
            )


def _firewall_problems(plan: ClusterPlan) -> Iterator[Problem]:
    # how many rules there are does not depend on the VNet's CIDR, which may be broken here
    rules = security_rules(plan, "10.0.0.0/16")
    allows = [r for r in rules if r["access"] == "Allow"]
    if len(allows) > MAX_ALLOW_RULES:
        yield Problem(
            "access",
            f"{len(allows)} security rules; their priorities (100, 110, ...) must stay unique "
            f"below 4096, which holds {MAX_ALLOW_RULES}",
        )
    for rule in allows:
        count = len(rule["source_address_prefixes"] or ())
        if count > MAX_RULE_PREFIXES:
            yield Problem("access", f"rule {rule['name']} has {count} source addresses; Azure allows {MAX_RULE_PREFIXES}")


def _tag_problems(spec: ClusterSpec) -> Iterator[Problem]:
    keys = {*spec.tags, *NIXK8S_TAG_KEYS}
    if len(keys) > MAX_TAGS:
        yield Problem("tags", f"servers would carry {len(keys)} tags with nixk8s' own; Azure allows {MAX_TAGS}")
    seen = {k.lower(): k for k in NIXK8S_TAG_KEYS}
    for key, value in sorted(spec.tags.items()):
        path = join_path("tags", key)
        if len(key) > MAX_TAG_KEY:
            yield Problem(path, f"tag keys are at most {MAX_TAG_KEY} characters, this one has {len(key)}")
        if len(value) > MAX_TAG_VALUE:
            yield Problem(path, f"tag values are at most {MAX_TAG_VALUE} characters, this one has {len(value)}")
        if any(c in TAG_KEY_FORBIDDEN for c in key):
            yield Problem(path, f"Azure tag keys may not contain any of {' '.join(TAG_KEY_FORBIDDEN)}")
        other = seen.setdefault(key.lower(), key)
        if other != key:
            yield Problem(path, f'Azure tag keys ignore case, so "{key}" collides with "{other}"')


def check(plan: ClusterPlan) -> Iterator[Problem]:
    spec = plan.spec
    azure = spec_block(spec)
    if azure is not None:
        yield from _admin_problems(spec, azure)
        yield from _place_problems(spec, azure)
    yield from _image_problems(spec)
    yield from _network_problems(plan)
    yield from _pool_problems(spec)
    yield from _firewall_problems(plan)
    yield from _tag_problems(spec)
