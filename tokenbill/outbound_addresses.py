"""Where the service may send HTTP: only to public addresses it resolved and checked itself.

A webhook URL is checked when it is saved and again at every delivery, which connects to the
address checked then (never a second lookup a DNS rebinding could answer differently). Loopback,
private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud metadata address, fe80::/10),
shared (100.64/10), multicast, reserved and unspecified addresses are refused unless
WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on (`tokenbill dev`, tests with a local receiver).
Imports nothing of ours, so the API and the worker both use it.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses the host name stands for.
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
AddressKind = Literal[
    "loopback", "private", "link-local", "shared", "multicast", "reserved", "unspecified"
]

SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "https": 443}


class AddressRefused(ValueError):
    """The URL's host is, or resolves to, an address outbound requests may not reach."""

    def __init__(self, host: str, kind: AddressKind) -> None:
        super().__init__(f"{host} is or resolves to a {kind} address")
        self.host = host
        self.kind = kind


class HostUnresolvable(ValueError):
    """The URL's host name has no address."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host} cannot be resolved")
        self.host = host


@dataclass(frozen=True)
class CheckedTarget:
    """A URL and the one address requests to it connect to."""

    url: str
    host: str
    port: int
    address: IPAddress


def address_kind(address: IPAddress) -> AddressKind | None:
    """Why the address is not public, or None when it is."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_kind(embedded)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE:
        return "shared"
    if address.is_reserved:
        return "reserved"
    if address.is_private or not address.is_global:
        return "private"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to (IPv4-mapped, 6to4, NAT64), which decides."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_localhost_name(host: str) -> bool:
    """`localhost` and `*.localhost` are loopback by definition (RFC 6761): no lookup needed."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


async def system_resolver(host: str, port: int) -> Sequence[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostUnresolvable(host) from exc
    return [ipaddress.ip_address(sockaddr[0]) for *_, sockaddr in found]


async def check_url(url: str, *, allow_private: bool, resolver: Resolver) -> CheckedTarget:
    """Resolve the URL's host once and check every address it has; the target to connect to.

    Every address must be public, not just one: which one a client picks is not ours to know.
    Raises AddressRefused or HostUnresolvable.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host or parts.scheme not in DEFAULT_PORTS:
        raise ValueError("not an absolute http:// or https:// URL")
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    addresses = await _addresses(host, port, allow_private=allow_private, resolver=resolver)
    if not addresses:
        raise HostUnresolvable(host)
    if not allow_private:
        for address in addresses:
            kind = address_kind(address)
            if kind is not None:
                raise AddressRefused(host, kind)
    return CheckedTarget(url=url, host=host, port=port, address=addresses[0])


async def _addresses(
    host: str, port: int, *, allow_private: bool, resolver: Resolver
) -> Sequence[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if _is_localhost_name(host) and not allow_private:
        raise AddressRefused(host, "loopback")
    return await resolver(host, port)
