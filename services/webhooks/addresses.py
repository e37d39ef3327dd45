"""The rule that webhooks go to public addresses only, as the answer to a URL being saved."""

from services.errors import invalid
from tokenbill.outbound_addresses import AddressRefused, HostUnresolvable, Resolver, check_url
from tokenbill.settings import Settings


async def require_public_url(url: str, settings: Settings, resolver: Resolver) -> None:
    """Refuse (INVALID) unless the URL's host is, and resolves only to, public addresses."""
    if settings.webhook_allow_private_addresses:
        return
    try:
        await check_url(url, allow_private=False, resolver=resolver)
    except AddressRefused as exc:
        raise invalid(
            "webhook_url_not_public",
            f"The webhook URL's host {exc.host} is or resolves to a {exc.kind} address; webhooks "
            "are delivered only to public internet addresses.",
            {"field": "url", "address_kind": exc.kind},
        ) from None
    except HostUnresolvable as exc:
        raise invalid(
            "webhook_url_unresolvable",
            f"The webhook URL's host {exc.host} cannot be resolved to an address.",
            {"field": "url"},
        ) from None
