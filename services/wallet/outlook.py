"""What lies ahead for a wallet: its tokens that expire soon and its usage forecast."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from db.expiry import UpcomingExpiration, upcoming_expirations
from db.forecasts import latest_forecast
from db.models import TokenUsageForecast
from db.wallets import wallet_of
from services.errors import invalid, not_found
from services.organizations import existing_organization
from tokenbill.settings import Settings

MAX_WITHIN = timedelta(days=3660)


@dataclass(frozen=True)
class ExpiringLot:
    lot_id: int
    remaining_amount: Decimal
    original_amount: Decimal
    credited_at: datetime
    expires_at: datetime
    expired: bool


@dataclass(frozen=True)
class Expirations:
    organization_id: int
    wallet_id: int | None
    expiration_enabled: bool
    until: datetime
    total_expiring: Decimal
    lots: list[ExpiringLot]


async def upcoming(
    session: AsyncSession, settings: Settings, organization_id: int, within: timedelta | None
) -> Expirations:
    """The lots with tokens left that expire within `within` (default the notice lead), soonest
    first, past-due ones included until the expiry job takes them."""
    span = _span(settings, within)
    await existing_organization(session, organization_id)
    wallet = await wallet_of(session, organization_id)
    return await expirations_of(
        session, settings, organization_id, None if wallet is None else wallet.id, span
    )


def notice_span(settings: Settings) -> timedelta:
    """The notice lead (TOKEN_EXPIRATION_NOTICE_LEAD), checked as a `within` is."""
    return _span(settings, None)


def _span(settings: Settings, within: timedelta | None) -> timedelta:
    span = within if within is not None else settings.token_expiration_notice_lead
    if span <= timedelta(0) or span > MAX_WITHIN:
        raise invalid(
            "invalid_duration",
            "within must be a positive duration of at most ten years, e.g. P30D.",
            {"within": str(within)},
        )
    return span


async def expirations_of(
    session: AsyncSession,
    settings: Settings,
    organization_id: int,
    wallet_id: int | None,
    within: timedelta | None,
) -> Expirations:
    """`upcoming` for a wallet already read (None: the organization has none yet)."""
    span = _span(settings, within)
    now = datetime.now(UTC)
    lots = (
        await upcoming_expirations(session, wallet_id, now + span) if wallet_id is not None else []
    )
    return expirations_from(settings, organization_id, wallet_id, now, now + span, lots)


def expirations_from(
    settings: Settings,
    organization_id: int,
    wallet_id: int | None,
    now: datetime,
    until: datetime,
    lots: Sequence[UpcomingExpiration],
) -> Expirations:
    """The expirations of the lots read (expiring by `until`, soonest first) as of `now`."""
    return Expirations(
        organization_id=organization_id,
        wallet_id=wallet_id,
        expiration_enabled=settings.token_expiration_enabled,
        until=until,
        total_expiring=sum((lot.remaining_amount for lot in lots), Decimal(0)),
        lots=[
            ExpiringLot(
                lot_id=lot.lot_id,
                remaining_amount=lot.remaining_amount,
                original_amount=lot.original_amount,
                credited_at=lot.credited_at,
                expires_at=lot.expires_at,
                expired=lot.expires_at <= now,
            )
            for lot in lots
        ],
    )


async def forecast(session: AsyncSession, organization_id: int) -> TokenUsageForecast:
    """The latest forecast updateUsageForecasts made for the organization's wallet."""
    await existing_organization(session, organization_id)
    wallet = await wallet_of(session, organization_id)
    found = None if wallet is None else await latest_forecast(session, wallet.id)
    if found is None:
        raise not_found(
            "forecast_not_found",
            f"Organization {organization_id} has no usage "
            "forecast yet; updateUsageForecasts makes one daily.",
        )
    return found
