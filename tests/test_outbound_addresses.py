"""The outbound address check refuses every non-public range, for literal hosts and for names
that resolve to them. Names are resolved by stubs: no test here sends a packet anywhere."""

import ipaddress
from collections.abc import Sequence

import pytest

from tokenbill.outbound_addresses import (
    AddressRefused,
    HostUnresolvable,
    IPAddress,
    check_url,
)


def resolving_to(*addresses: str) -> "StubResolver":
    return StubResolver([ipaddress.ip_address(a) for a in addresses])


class StubResolver:
    def __init__(self, addresses: Sequence[IPAddress]) -> None:
        self.addresses = addresses
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.lookups.append((host, port))
        if not self.addresses:
            raise HostUnresolvable(host)
        return self.addresses


REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("169.254.0.1", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "shared"),
    ("100.127.255.254", "shared"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
]


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize(("address", "kind"), REFUSED)
async def test_url_with_a_non_public_address_is_refused_without_a_lookup(
    address: str, kind: str
) -> None:
    resolver = resolving_to("93.184.215.14")

    with pytest.raises(AddressRefused) as refused:
        await check_url(
            f"http://{_url_host(address)}:8080/hooks", allow_private=False, resolver=resolver
        )

    assert refused.value.kind == kind
    assert resolver.lookups == []


@pytest.mark.parametrize(("address", "kind"), REFUSED)
async def test_name_resolving_to_a_non_public_address_is_refused(address: str, kind: str) -> None:
    # One public address beside it does not help: the client might connect to either.
    resolver = resolving_to("93.184.215.14", address)

    with pytest.raises(AddressRefused) as refused:
        await check_url("https://hooks.example.com/in", allow_private=False, resolver=resolver)

    assert refused.value.kind == kind
    assert resolver.lookups == [("hooks.example.com", 443)]


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost"])
async def test_localhost_names_are_refused_as_loopback_without_a_lookup(host: str) -> None:
    resolver = resolving_to("93.184.215.14")

    with pytest.raises(AddressRefused) as refused:
        await check_url(f"http://{host}:3000/", allow_private=False, resolver=resolver)

    assert refused.value.kind == "loopback"
    assert resolver.lookups == []


async def test_public_name_is_accepted_and_pinned_to_the_address_checked() -> None:
    resolver = resolving_to("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")

    target = await check_url(
        "https://hooks.example.com:8443/in?x=1", allow_private=False, resolver=resolver
    )

    assert (target.host, target.port) == ("hooks.example.com", 8443)
    assert target.address == ipaddress.ip_address("93.184.215.14")


async def test_name_without_an_address_is_unresolvable() -> None:
    with pytest.raises(HostUnresolvable):
        await check_url("https://nowhere.example/", allow_private=False, resolver=resolving_to())


async def test_private_addresses_pass_when_the_setting_allows_them() -> None:
    target = await check_url(
        "http://localhost:3000/", allow_private=True, resolver=resolving_to("127.0.0.1")
    )

    assert target.address == ipaddress.ip_address("127.0.0.1")
