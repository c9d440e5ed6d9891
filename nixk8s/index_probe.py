"""The boot-time index probe: a node's private IPv4 address as its ``node_index``.

Where one template serves many machines (an AWS autoscaling group, a GCP managed
instance group, an Azure scale set) the embedded config cannot hold a per-machine
index. The user_data then asks the cloud's instance metadata service for the
machine's private IPv4 address and turns it into a 32-bit integer: it fits
kindling's u32, and it is unique among the live machines of a network, across pools
and across secondary address ranges (where the low 16 bits would not be).

Every cloud differs only in how the address is fetched, a :class:`MetadataFetch`;
the validation of the answer, the retries and the arithmetic are one script. It needs
``curl`` (and ``awk`` for Hetzner's answer), which NixOS's cloud-init ``PATH`` lacks:
it runs in a user_data that has put NixOS's system profile first
(:data:`nixk8s.cloud_init.NIXOS_PATH`), and uses nothing but that and shell builtins.
"""

from __future__ import annotations

import shlex

import msgspec

# retries cover a metadata service that is not up yet at early boot
CURL = "curl -fsS --retry 10 --retry-connrefused --retry-delay 1 --max-time 5"


class IndexProbe(msgspec.Struct, frozen=True):
    """POSIX shell that sets ``NODE_INDEX``; ``source`` names what it reads, for ``explain``."""

    script: str
    source: str


class SessionToken(msgspec.Struct, frozen=True):
    """A token to fetch first (AWS IMDSv2): PUT ``url`` with ``request_header``, then
    send the answer in ``header`` with the address request."""

    url: str
    request_header: str
    header: str


class MetadataFetch(msgspec.Struct, frozen=True, kw_only=True):
    """How one cloud's instance metadata service tells a machine its private IPv4 address.

    ``service`` names the service in comments and in ``explain``; ``answer`` names
    the value in error messages; ``network`` is what the cloud calls the network the
    address is unique in. ``bypass_proxy``: the service must never be asked through an
    HTTP proxy from the environment (Azure IMDS refuses proxied requests). ``extract``:
    a shell filter that takes the address out of a longer answer (Hetzner answers a
    YAML list of the machine's networks); the answer is validated after it.
    """

    service: str
    url: str
    answer: str
    header: str | None = None
    token: SessionToken | None = None
    network: str = "VPC"
    bypass_proxy: bool = False
    extract: str | None = None


def _fetch_commands(fetch: MetadataFetch) -> str:
    """Shell that sets ``local_ipv4`` from the metadata service."""
    if fetch.token is not None:
        token = fetch.token
        get_token = f"imds_token=$({CURL} -X PUT -H {shlex.quote(token.request_header)} {shlex.quote(token.url)})\n"
        header = f' -H "{token.header}: ${{imds_token}}"'
    else:
        get_token = ""
        header = f" -H {shlex.quote(fetch.header)}" if fetch.header else ""
    no_proxy = " --noproxy '*'" if fetch.bypass_proxy else ""
    extract = f" | {fetch.extract}" if fetch.extract else ""
    return get_token + f"local_ipv4=$({CURL}{no_proxy}{header} {shlex.quote(fetch.url)}{extract})\n"


def metadata_index_probe(fetch: MetadataFetch) -> IndexProbe:
    """The probe that reads the address through ``fetch`` and sets ``NODE_INDEX``.

    >>> probe = metadata_index_probe(MetadataFetch(service="test", url="http://md/ip", answer="ip"))
    >>> print(probe.script.splitlines()[2])
    local_ipv4=$(curl -fsS --retry 10 --retry-connrefused --retry-delay 1 --max-time 5 http://md/ip)
    """
    unexpected = f"echo \"nixk8s: unexpected {fetch.answer} '${{local_ipv4}}'\" >&2; exit 1"
    script = (
        f"# NODE_INDEX: this instance's private IPv4 address as a 32-bit integer ({fetch.service}),\n"
        f"# unique among the {fetch.network}'s live instances\n"
        + _fetch_commands(fetch)
        + 'case "${local_ipv4}" in\n'
        f"  *[!0-9.]*|*.*.*.*.*) {unexpected} ;;\n"
        "  *.*.*.*) ;;\n"
        f"  *) {unexpected} ;;\n"
        "esac\n"
        "octet1=${local_ipv4%%.*}; rest=${local_ipv4#*.}\n"
        "octet2=${rest%%.*}; rest=${rest#*.}\n"
        "octet3=${rest%%.*}; octet4=${rest#*.}\n"
        'for octet in "${octet1}" "${octet2}" "${octet3}" "${octet4}"; do\n'
        "  # empty, or a leading zero (which shell arithmetic would read as octal)\n"
        '  case "${octet}" in\n'
        f"    ''|0[0-9]*) {unexpected} ;;\n"
        "  esac\n"
        "done\n"
        "NODE_INDEX=$((octet1 * 16777216 + octet2 * 65536 + octet3 * 256 + octet4))\n"
    )
    return IndexProbe(
        script=script,
        source=f"the instance's private IPv4 address ({fetch.service} {fetch.answer}) as a 32-bit integer",
    )
