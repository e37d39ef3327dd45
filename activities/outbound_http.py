"""HTTP to an address checked beforehand (tokenbill/outbound_addresses.py), and failures told as
categories.

The transport connects to the checked address while the request keeps its host name in the
Host header, the TLS SNI and the certificate check, so a DNS answer that changes after the check
(rebinding) is never used. Redirects are not followed and no proxy from the environment applies.
An error is described by its category only: exception text (addresses, ports, OS messages) would
show a tenant what the worker can reach.
"""

import ssl
from typing import Literal

import httpx

from tokenbill.outbound_addresses import CheckedTarget

FailureCategory = Literal["timeout", "refused", "tls", "connection", "dns", "address"]

FAILURE_MESSAGES: dict[FailureCategory, str] = {
    "timeout": "timeout: the endpoint did not answer in time",
    "refused": "refused: the connection to the endpoint was refused or could not be made",
    "tls": "tls: the TLS handshake or the endpoint's certificate check failed",
    "connection": "connection: the connection to the endpoint failed",
    "dns": "dns: the endpoint's host name could not be resolved",
    "address": "address: the endpoint's host is or resolves to a non-public address",
}


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends every request to the checked address, whatever its URL's host resolves to now."""

    def __init__(self, target: CheckedTarget, tls: ssl.SSLContext | None = None) -> None:
        self._target = target
        self._inner = httpx.AsyncHTTPTransport(verify=tls or True, retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self._target.host:
            raise httpx.ConnectError("request for a host that was not checked", request=request)
        # The Host header was set from the original URL when the request was built.
        request.url = request.url.copy_with(host=str(self._target.address))
        request.extensions = {**request.extensions, "sni_hostname": self._target.host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def pinned_client(
    target: CheckedTarget, timeout_seconds: float, tls: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    """A client for the checked target; `tls` replaces the default trust store (tests)."""
    return httpx.AsyncClient(
        transport=PinnedTransport(target, tls),
        timeout=timeout_seconds,
        follow_redirects=False,
        trust_env=False,
    )


def failure_category(error: httpx.HTTPError) -> FailureCategory:
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if _caused_by_tls(error):
        return "tls"
    if isinstance(error, httpx.ConnectError):
        return "refused"
    return "connection"


def _caused_by_tls(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
