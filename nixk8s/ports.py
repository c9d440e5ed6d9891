"""The firewall port table: which ports a node opens, and to whom.

Public rows are open to the spec's ``access`` sources (SSH, API, HTTP/S); private
rows only ever to the cluster's own network CIDR. Every backend turns this one table
into its cloud's rules, so the clouds cannot drift apart.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from nixk8s.spec import ANYWHERE, Access, ClusterSpec, Distribution, Profile
from nixk8s.terraform import Text

Protocol = Literal["tcp", "udp", "icmp"]
# who a row is for: an access list (ssh, api, http), the cluster's own network
# (private), or anyone (WireGuard authenticates its peers; ICMP carries path MTU)
Audience = Literal["ssh", "api", "http", "private", "anywhere"]


class PortRule(msgspec.Struct, frozen=True):
    """One row: a port or range, its protocol, and who may reach it.

    An ``icmp`` row has no ports (``first`` = ``last`` = 0); each cloud opens it as
    narrowly as its firewall allows.
    """

    name: str
    first: int
    last: int
    protocol: Protocol
    audience: Audience
    description: str

    @property
    def public(self) -> bool:
        return self.audience != "private"

    @property
    def port_range(self) -> str:
        """``"2379-2380"`` or ``"22"``, the form Hetzner, GCP and Azure take.

        >>> PortRule("etcd", 2379, 2380, "tcp", "private", "etcd").port_range
        '2379-2380'
        >>> PORT_ICMP.port_range
        ''
        """
        if self.protocol == "icmp":
            return ""
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


def _rule(name: str, port: int | tuple[int, int], protocol: Protocol, audience: Audience, description: str) -> PortRule:
    first, last = (port, port) if isinstance(port, int) else port
    return PortRule(name, first, last, protocol, audience, description)


# path-MTU discovery needs "fragmentation needed" from anywhere on the path
PORT_ICMP = PortRule("icmp", 0, 0, "icmp", "anywhere", "ICMP")

COMMON: tuple[PortRule, ...] = (
    PORT_ICMP,
    _rule("ssh", 22, "tcp", "ssh", "SSH"),
    _rule("http", 80, "tcp", "http", "HTTP"),
    _rule("https", 443, "tcp", "http", "HTTPS"),
    _rule("api", 6443, "tcp", "api", "Kubernetes API"),
    _rule("kubelet", 10250, "tcp", "private", "kubelet"),
    _rule("etcd", (2379, 2380), "tcp", "private", "etcd"),
    _rule("vxlan", 8472, "udp", "private", "VXLAN overlay"),
)

VANILLA_KUBERNETES: tuple[PortRule, ...] = (
    _rule("controller_manager", 10257, "tcp", "private", "kube-controller-manager"),
    _rule("scheduler", 10259, "tcp", "private", "kube-scheduler"),
)

# What each CNI family needs between nodes beyond the common rows.
_CNI: dict[str, tuple[PortRule, ...]] = {
    "flannel": (_rule("flannel_wireguard", (51820, 51821), "udp", "private", "flannel WireGuard"),),
    "calico": (
        _rule("calico_bgp", 179, "tcp", "private", "Calico BGP"),
        _rule("calico_vxlan", 4789, "udp", "private", "Calico VXLAN"),
        _rule("calico_typha", 5473, "tcp", "private", "Calico Typha"),
    ),
    "cilium": (
        _rule("cilium_health", 4240, "tcp", "private", "Cilium health"),
        _rule("cilium_hubble", 4244, "tcp", "private", "Hubble"),
        _rule("cilium_wireguard", 51871, "udp", "private", "Cilium WireGuard"),
    ),
    "istio": (_rule("istio_hbone", 15008, "tcp", "private", "Istio HBONE tunnel"),),
}


def cni_family(profile: Profile) -> str:
    """``cilium-standard`` → ``cilium``; ``cloud-server`` (k3s' flannel) → ``flannel``."""
    return "flannel" if profile == "cloud-server" else profile.split("-", 1)[0]


def port_table(distribution: Distribution, profile: Profile = "cloud-server") -> tuple[PortRule, ...]:
    """The rows for one distribution and profile.

    >>> [r.name for r in port_table("kubernetes", "cloud-server")][-3:]
    ['controller_manager', 'scheduler', 'flannel_wireguard']
    """
    extra = VANILLA_KUBERNETES if distribution == "kubernetes" else ()
    return COMMON + extra + _CNI[cni_family(profile)]


def vpn_rules(spec: ClusterSpec) -> tuple[PortRule, ...]:
    """Public UDP ports the spec's WireGuard links listen on (WireGuard authenticates peers)."""
    if spec.vpn is None:
        return ()
    ports = sorted(
        {
            link.firewall.incoming_udp_port or link.listen_port or 0
            for link in spec.vpn.links
            if link.firewall is not None and (link.firewall.incoming_udp_port or link.listen_port)
        }
    )
    return tuple(_rule(f"wireguard_{p}", p, "udp", "anywhere", f"WireGuard {p}") for p in ports)


def cluster_ports(spec: ClusterSpec) -> tuple[PortRule, ...]:
    """Every row the spec's nodes need."""
    return port_table(spec.distribution, spec.profile) + vpn_rules(spec)


def rule_sources(
    rule: PortRule, access: Access, private_cidr: Text | None, *, api_from_network: bool
) -> tuple[Text, ...]:
    """Who may reach ``rule``: every backend's firewall and ``explain`` ask this one function.

    Public rows are open to their ``access`` list (or to anyone); private rows only to
    the cluster's own network, ``private_cidr`` as the foundation reports it, or to
    nobody (empty) without one. With ``api_from_network``, the API row is open to the
    network as well: where the firewall filters traffic inside the network too (AWS,
    GCP, Azure), nodes joining server 0 or a load balancer in front of the servers,
    and the balancer's health checks, come from inside it.

    >>> api = PortRule("api", 6443, 6443, "tcp", "api", "Kubernetes API")
    >>> rule_sources(api, Access(api_sources=("203.0.113.0/24",)), "10.0.0.0/16", api_from_network=True)
    ('203.0.113.0/24', '10.0.0.0/16')
    >>> kubelet = PortRule("kubelet", 10250, 10250, "tcp", "private", "kubelet")
    >>> rule_sources(kubelet, Access(), None, api_from_network=False)
    ()
    """
    if rule.audience == "private":
        return () if private_cidr is None else (private_cidr,)
    public: tuple[Text, ...] = {
        "ssh": access.ssh_sources,
        "api": access.api_sources,
        "http": access.http_sources,
        "anywhere": ANYWHERE,
    }[rule.audience]
    if rule.audience == "api" and api_from_network and private_cidr is not None and private_cidr not in public:
        return (*public, private_cidr)
    return public
