"""CIDR parsing with messages an operator can act on."""

from __future__ import annotations

import ipaddress
from typing import Union

Net = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def cidr_error(text: str, *, ipv4_only: bool = False) -> str | None:
    """Why ``text`` is not a usable CIDR block, or None when it is.

    >>> cidr_error("10.0.0.0/16") is None
    True
    >>> cidr_error("10.0.1.5/24")
    '"10.0.1.5/24" has host bits set (did you mean "10.0.1.0/24"?)'
    >>> cidr_error("10.0.0.0")
    '"10.0.0.0" is not a CIDR block (write ADDRESS/PREFIX, e.g. "10.0.0.0/16")'
    """
    if "/" not in text:
        return f'"{text}" is not a CIDR block (write ADDRESS/PREFIX, e.g. "10.0.0.0/16")'
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return f'"{text}" is not a CIDR block'
        return f'"{text}" has host bits set (did you mean "{loose}"?)'
    if ipv4_only and net.version != 4:
        return f'"{text}" must be an IPv4 block'
    return None


def net(text: str) -> Net:
    """The network of a CIDR already checked by :func:`cidr_error`."""
    return ipaddress.ip_network(text, strict=False)


def contains(outer: str, inner: str) -> bool:
    """Whether block ``inner`` lies wholly inside ``outer``.

    >>> contains("10.0.0.0/16", "10.0.1.0/24"), contains("10.0.0.0/16", "10.1.0.0/24")
    (True, False)
    """
    a, b = net(outer), net(inner)
    return a.version == b.version and b.subnet_of(a)  # type: ignore[arg-type]


def overlaps(a: str, b: str) -> bool:
    x, y = net(a), net(b)
    return x.version == y.version and x.overlaps(y)


def host(block: str, offset: int) -> str | None:
    """The address ``offset`` hosts into ``block`` (network address = 0), None if outside.

    >>> host("10.0.1.0/24", 2), host("10.0.1.0/30", 3)
    ('10.0.1.2', None)
    """
    n = net(block)
    if offset < 1 or offset >= n.num_addresses - 1:
        return None
    return str(n.network_address + offset)


def is_interface(text: str) -> bool:
    """Whether ``text`` is an interface address with its prefix (host bits allowed).

    >>> is_interface("10.100.0.1/24"), is_interface("10.100.0.1")
    (True, False)
    """
    if "/" not in text:
        return False
    try:
        ipaddress.ip_interface(text)
    except ValueError:
        return False
    return True
