"""The GCP backend's checks: what GCP would refuse at apply time (DESIGN §7), and beyond.

Resource names nixk8s derives are shortened, never refused (:mod:`nixk8s.names`);
what the operator writes is checked here, each problem with its spec path: the
region and its zones, the project id, the image, IAM roles, SSH keys in GCP's
metadata form, Spot pools, labels (GCP's key/value rules, at most 64 per resource),
room in the subnet for the control plane's fixed addresses, and the source ranges a
public API load balancer filters on.

This module also owns the facts both the checks and the builders need (the zones of
a spec and of each server, its image, its labels, its network, the API sources a
public balancer filters on), so that the two cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from nixk8s import netaddr
from nixk8s.backends.gcp.labels import gcp_label_key_error, gcp_label_value_error
from nixk8s.backends.gcp.options import GcpOptions, spec_block
from nixk8s.labels import lowercase_clashes
from nixk8s.plan import ClusterPlan, lowercased_tags
from nixk8s.problems import Problem, did_you_mean, join_path
from nixk8s.spec import ClusterSpec, Network

# The zones of the regions nixk8s knows (cloud.google.com/compute/docs/regions-zones).
# Not every region has -a, -b, -c: europe-west1 and us-east1 start at -b, us-central1
# has a fourth. A region missing here needs gcp.zones.
REGION_ZONES: dict[str, tuple[str, ...]] = {
    "asia-east1": ("a", "b", "c"),
    "asia-east2": ("a", "b", "c"),
    "asia-northeast1": ("a", "b", "c"),
    "asia-northeast2": ("a", "b", "c"),
    "asia-northeast3": ("a", "b", "c"),
    "asia-south1": ("a", "b", "c"),
    "asia-southeast1": ("a", "b", "c"),
    "australia-southeast1": ("a", "b", "c"),
    "europe-central2": ("a", "b", "c"),
    "europe-north1": ("a", "b", "c"),
    "europe-southwest1": ("a", "b", "c"),
    "europe-west1": ("b", "c", "d"),
    "europe-west2": ("a", "b", "c"),
    "europe-west3": ("a", "b", "c"),
    "europe-west4": ("a", "b", "c"),
    "europe-west6": ("a", "b", "c"),
    "europe-west8": ("a", "b", "c"),
    "europe-west9": ("a", "b", "c"),
    "northamerica-northeast1": ("a", "b", "c"),
    "southamerica-east1": ("a", "b", "c"),
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
    "us-east4": ("a", "b", "c"),
    "us-west1": ("a", "b", "c"),
    "us-west2": ("a", "b", "c"),
    "us-west4": ("a", "b", "c"),
}

BASE_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
# Basic roles grant (nearly) everything in the project: never right for a node.
_BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})

MAX_LABELS = 64
# label keys nixk8s sets on machines beside the spec's tags
OWN_LABEL_KEYS = ("role", "pool", "node-index")
# a metadata value (user-data, ssh-keys) is at most this many bytes
METADATA_VALUE_LIMIT = 262_144
# GCP keeps the first two and the last two addresses of a subnet (network, gateway,
# second-to-last, broadcast); the smallest subnet is a /29.
SUBNET_RESERVED_TAIL = 2
SMALLEST_SUBNET_PREFIX = 29
# The control plane's fixed addresses start here (GCP hands out .2-.9 to machines
# with ephemeral addresses first); the API balancer's is the subnet's last usable host.
FIRST_CONTROL_PLANE_HOST = 10
# A forwarding rule filters on at most this many source ranges.
MAX_SOURCE_IP_RANGES = 64

_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_IMAGE = re.compile(
    r"^(https://www\.googleapis\.com/compute/(v1|beta)/)?"
    r"(projects/[a-z0-9.:-]+/global/images/|global/images/)?"
    r"(family/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
)
_ROLE = re.compile(r"^(roles/[A-Za-z0-9_.]+|(projects/[a-z0-9.:-]+|organizations/[0-9]+)/roles/[A-Za-z0-9_.]+)$")
_SSH_KEY = re.compile(
    r"^[a-z_][a-z0-9_.-]{0,31}:"
    r"(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
    r" [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$"
)


# --- facts shared with the builders ------------------------------------------------------


def options(spec: ClusterSpec) -> GcpOptions:
    """The spec's gcp block (a spec without one has already been refused by the rules)."""
    return spec_block(spec) or GcpOptions(project="")


def zones(spec: ClusterSpec) -> tuple[str, ...]:
    """``gcp.zones``, else the zones nixk8s knows for the region (else none).

    >>> from nixk8s.spec import NodePool
    >>> zones(ClusterSpec(name="demo", backend="gcp", region="europe-west1",
    ...     node_pools=(NodePool(name="system", instance_types=("e2-standard-2",)),),
    ...     gcp=GcpOptions(project="my-project")))
    ('europe-west1-b', 'europe-west1-c', 'europe-west1-d')
    """
    given = options(spec).zones
    if given:
        return given
    return tuple(f"{spec.region}-{letter}" for letter in REGION_ZONES.get(spec.region, ()))


def server_zones(spec: ClusterSpec) -> tuple[str, ...]:
    """Each server's zone: server ``i`` in zone ``i mod len(zones)``.

    >>> from nixk8s.spec import NodePool
    >>> server_zones(ClusterSpec(name="demo", backend="gcp", region="us-east1",
    ...     node_pools=(NodePool(name="system", instance_types=("e2-standard-2",), min_size=4, max_size=4),),
    ...     gcp=GcpOptions(project="my-project")))
    ('us-east1-b', 'us-east1-c', 'us-east1-d', 'us-east1-b')
    """
    known = zones(spec)
    return tuple(known[i % len(known)] for i in range(spec.control_plane_count)) if known else ()


def api_balancer_host(subnet: str) -> int:
    """The API load balancer's host in the subnet: its last usable one.

    Not one of hosts 2-9: GCP hands machines their ephemeral addresses from the bottom
    of the subnet, so the workers of a cluster compiled before it had a balancer hold
    those, and the balancer's address would be taken. The top is the last to be handed
    out (as on Hetzner, where the balancer has it too).

    >>> api_balancer_host("10.0.1.0/24"), api_balancer_host("10.30.0.0/20")
    (253, 4093)
    """
    return netaddr.net(subnet).num_addresses - SUBNET_RESERVED_TAIL - 1


def ipv4_api_sources(spec: ClusterSpec) -> tuple[str, ...]:
    """The IPv4 ``access.api_sources`` a public forwarding rule filters on; none for anywhere.

    An IPv4 rule cannot hold IPv6 ranges, and a rule without ranges admits anyone: the
    firewall, which sees the same client addresses, then filters alone.
    """
    v4 = tuple(s for s in spec.access.api_sources if ":" not in s)
    return () if "0.0.0.0/0" in v4 else v4


def image(spec: ClusterSpec) -> str | None:
    """The NixOS image: ``gcp.image``, else ``nixos.image_id``."""
    return options(spec).image or spec.nixos.image_id


def network(spec: ClusterSpec) -> Network:
    """The spec's network, else the default one: GCP has no usable default network."""
    return spec.network or Network()


def ssh_keys(spec: ClusterSpec, pool_index: int) -> tuple[str, ...]:
    """The keys a pool's machines accept: ``gcp.ssh_keys``, then the pool's own."""
    pool = spec.node_pools[pool_index]
    return tuple(dict.fromkeys((*options(spec).ssh_keys, *pool.ssh_keys)))


def role_suffix(role: str) -> str:
    """The part of a role that names its IAM member resource.

    >>> role_suffix("roles/artifactregistry.reader"), role_suffix("projects/p/roles/nodeReader")
    ('artifactregistry_reader', 'projects_p_roles_nodereader')
    """
    return re.sub(r"[^a-z0-9]+", "_", role.removeprefix("roles/").lower()).strip("_")


# --- the checks ---------------------------------------------------------------------------


def _zone_problems(spec: ClusterSpec, gcp: GcpOptions) -> Iterator[Problem]:
    known = REGION_ZONES.get(spec.region)
    if not gcp.zones:
        if known is None and _REGION.match(spec.region):
            yield Problem(
                "gcp.zones",
                f'nixk8s does not know the zones of region "{spec.region}"{did_you_mean(spec.region, REGION_ZONES)}: '
                f'list them (e.g. ["{spec.region}-a", "{spec.region}-b"]); not every region has -a, -b and -c',
            )
        return
    for i, zone in enumerate(gcp.zones):
        path = join_path("gcp.zones", i)
        letter = zone.removeprefix(f"{spec.region}-")
        if not re.fullmatch(r"[a-z]", letter) or letter == zone:
            yield Problem(path, f'"{zone}" is not a zone of region {spec.region} (e.g. "{spec.region}-b")')
        elif known is not None and letter not in known:
            yield Problem(
                path, f"region {spec.region} has zones {', '.join(f'{spec.region}-{z}' for z in known)}, not {zone}"
            )
        elif zone in gcp.zones[:i]:
            yield Problem(path, f'"{zone}" is listed twice')


def _image_problems(spec: ClusterSpec, gcp: GcpOptions) -> Iterator[Problem]:
    chosen = image(spec)
    if chosen is None:
        yield Problem(
            "gcp.image",
            "a NixOS image is required (gcp.image or nixos.image_id): GCP has no public NixOS image, "
            "so give the name, family/NAME or projects/P/global/images/NAME of your own",
        )
    elif not _IMAGE.match(chosen):
        path = "gcp.image" if gcp.image else "nixos.image_id"
        yield Problem(path, f'"{chosen}" is not a GCP image (NAME, family/NAME or projects/P/global/images/NAME)')


def _role_problems(gcp: GcpOptions) -> Iterator[Problem]:
    # each grant's resource is named after its role: two roles may not share a name
    seen = {role_suffix(r): r for r in BASE_ROLES}
    for i, role in enumerate(gcp.service_account_roles):
        path = join_path("gcp.service_account_roles", i)
        earlier = seen.setdefault(role_suffix(role), role)
        if not _ROLE.match(role):
            yield Problem(
                path, f'"{role}" is not an IAM role (roles/NAME, projects/P/roles/NAME or organizations/N/roles/NAME)'
            )
        elif role in _BASIC_ROLES:
            yield Problem(
                path,
                f"{role} is a basic role that grants the nodes nearly everything: name the predefined roles they need",
            )
        elif role in BASE_ROLES:
            yield Problem(path, f"{role} is granted to the nodes already")
        elif earlier == role and role in gcp.service_account_roles[:i]:
            yield Problem(path, f'"{role}" is listed twice')
        elif earlier != role:
            yield Problem(path, f'"{role}" and "{earlier}" would name one IAM grant resource: keep one of them')


def _ssh_key_problems(spec: ClusterSpec, gcp: GcpOptions) -> Iterator[Problem]:
    lists = [("gcp.ssh_keys", gcp.ssh_keys)] + [
        (join_path(join_path("node_pools", i), "ssh_keys"), pool.ssh_keys) for i, pool in enumerate(spec.node_pools)
    ]
    for base, keys in lists:
        for i, key in enumerate(keys):
            if not _SSH_KEY.match(key):
                yield Problem(
                    join_path(base, i),
                    "an SSH key in GCP metadata form is USER:TYPE KEY [COMMENT], e.g. "
                    '"ops:ssh-ed25519 AAAAC3Nza... ops@example" (the user is created on the node)',
                )
    for i in range(len(spec.node_pools)):
        size = len("\n".join(ssh_keys(spec, i)).encode())
        if size > METADATA_VALUE_LIMIT:
            yield Problem(
                "gcp.ssh_keys", f"{size:,} bytes of SSH keys; a GCP metadata value holds {METADATA_VALUE_LIMIT:,}"
            )
            return


def _spot_problems(spec: ClusterSpec, gcp: GcpOptions) -> Iterator[Problem]:
    workers = [pool.name for _, pool in spec.worker_pools]
    for i, name in enumerate(gcp.spot_pools):
        path = join_path("gcp.spot_pools", i)
        if name == spec.system_pool.name:
            yield Problem(
                path, f"{name} is the control plane: servers hold etcd and must not be stopped by GCP at will"
            )
        elif name not in workers:
            yield Problem(path, f'no worker pool is named "{name}"{did_you_mean(name, workers)}')
        elif name in gcp.spot_pools[:i]:
            yield Problem(path, f'"{name}" is listed twice')


def _label_problems(spec: ClusterSpec) -> Iterator[Problem]:
    clashes = dict(lowercase_clashes(spec.tags))
    for key, value in spec.tags.items():
        path = join_path("tags", key)
        low = key.lower()
        if key in clashes:
            yield Problem(path, f'is "{clashes[key]}" once lowercased (GCP label keys are lowercase)')
        if low in OWN_LABEL_KEYS:
            yield Problem(path, f'"{low}" is a label nixk8s sets on every machine: choose another key')
        for error in (gcp_label_key_error(low), gcp_label_value_error(value)):
            if error:
                yield Problem(path, error)
    count = len(lowercased_tags(spec)) + len(OWN_LABEL_KEYS)
    if count > MAX_LABELS:
        yield Problem("tags", f"machines would carry {count} labels with nixk8s' own; GCP allows {MAX_LABELS}")


def _subnet_problems(spec: ClusterSpec, *, balanced: bool) -> Iterator[Problem]:
    net = network(spec)
    if netaddr.cidr_error(net.vpc_cidr, ipv4_only=True):
        return  # a broken CIDR is the cross-field rules' problem
    if net.subnet_cidr is not None and netaddr.cidr_error(net.subnet_cidr, ipv4_only=True):
        return
    path = "network.subnet_cidr" if net.subnet_cidr else "network.vpc_cidr"
    subnet = netaddr.net(net.subnet)
    if subnet.prefixlen > SMALLEST_SUBNET_PREFIX:
        yield Problem(path, f"the subnet {net.subnet} is smaller than a /{SMALLEST_SUBNET_PREFIX}, GCP's smallest")
        return
    last = FIRST_CONTROL_PLANE_HOST + spec.control_plane_count - 1
    if last >= subnet.num_addresses - SUBNET_RESERVED_TAIL:
        yield Problem(
            path,
            f"the subnet {net.subnet} has no room for {spec.control_plane_count} control-plane addresses "
            f"from host {FIRST_CONTROL_PLANE_HOST} on (GCP keeps its last two addresses)",
        )
    elif balanced and last >= api_balancer_host(net.subnet):
        yield Problem(
            path,
            f"the subnet {net.subnet} has no room for {spec.control_plane_count} control-plane addresses "
            f"from host {FIRST_CONTROL_PLANE_HOST} on and the API load balancer's at its last usable host: "
            "use a larger subnet",
        )


def _balancer_problems(plan: ClusterPlan) -> Iterator[Problem]:
    sources = ipv4_api_sources(plan.spec)
    if plan.api_load_balancer == "public" and len(sources) > MAX_SOURCE_IP_RANGES:
        yield Problem(
            "access.api_sources",
            f"a public GCP load balancer filters on at most {MAX_SOURCE_IP_RANGES} IPv4 source ranges, "
            f"not {len(sources)}: merge them into wider blocks",
        )


def check(plan: ClusterPlan) -> Iterator[Problem]:
    spec = plan.spec
    gcp = options(spec)
    if not _REGION.match(spec.region):
        yield Problem("region", f'"{spec.region}" is not a GCP region name (e.g. "europe-west1")')
    if spec_block(spec) is not None and not _PROJECT.match(gcp.project):
        yield Problem(
            "gcp.project",
            f'"{gcp.project}" is not a GCP project id (6-30 lowercase letters, digits and "-", starting with a letter)',
        )
    yield from _zone_problems(spec, gcp)
    yield from _image_problems(spec, gcp)
    yield from _role_problems(gcp)
    yield from _ssh_key_problems(spec, gcp)
    yield from _spot_problems(spec, gcp)
    yield from _label_problems(spec)
    yield from _subnet_problems(spec, balanced=plan.api_load_balancer is not None)
    yield from _balancer_problems(plan)
