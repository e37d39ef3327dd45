"""An organization's upcoming token expirations and usage forecast (tokens.view)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Viewer, authorize_organization
from api.deps import OrganizationId, Session, SettingsDep
from api.errors import ApiError
from api.schemas.common import AUTH_ERRORS
from api.schemas.operations import ExpirationsOut, ExpiringLotOut, ForecastOut
from db.expiry import upcoming_expirations
from db.forecasts import latest_forecast
from db.models import Organization, OrganizationTokenWallet

router = APIRouter(prefix="/wallet", tags=["wallet"], responses=AUTH_ERRORS)
MAX_WITHIN = timedelta(days=3660)


async def _wallet(session: AsyncSession, organization_id: int) -> OrganizationTokenWallet | None:
    if await session.get(Organization, organization_id) is None:
        raise ApiError(
            404, "organization_not_found", f"Organization {organization_id} does not exist."
        )
    return await session.scalar(
        select(OrganizationTokenWallet).where(
            OrganizationTokenWallet.organization_id == organization_id
        )
    )


@router.get(
    "/{organization_id}/expirations",
    summary="List the organization's tokens that expire soon",
    description="Requires `tokens.view` on the organization. Lots with tokens left that expire "
    "within `within` (ISO 8601 duration, default the notice lead, TOKEN_EXPIRATION_NOTICE_LEAD), "
    "soonest first; lots already past their date are listed until cleanupExpiredTokens takes them.",
)
async def get_expirations(
    request: Request,
    principal: Viewer,
    session: Session,
    settings: SettingsDep,
    organization_id: OrganizationId,
    within: Annotated[timedelta | None, Query(description="e.g. P30D")] = None,
) -> ExpirationsOut:
    await authorize_organization(request, principal, organization_id)
    span = within if within is not None else settings.token_expiration_notice_lead
    if span <= timedelta(0) or span > MAX_WITHIN:
        raise ApiError(
            422,
            "invalid_duration",
            "within must be a positive duration of at most ten years, e.g. P30D.",
            {"within": str(within)},
        )
    wallet = await _wallet(session, organization_id)
    now = datetime.now(UTC)
    lots = [] if wallet is None else await upcoming_expirations(session, wallet.id, now + span)
    return ExpirationsOut(
        organization_id=organization_id,
        wallet_id=None if wallet is None else wallet.id,
        expiration_enabled=settings.token_expiration_enabled,
        until=now + span,
        total_expiring=sum((lot.remaining_amount for lot in lots), Decimal(0)),
        lots=[
            ExpiringLotOut(
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


@router.get(
    "/{organization_id}/forecast",
    summary="Read the organization's usage forecast",
    description="Requires `tokens.view` on the organization. The latest forecast "
    "updateUsageForecasts made (daily): average daily consumption weighted toward recent days "
    "(with weekday pattern and trend when the history shows them), the projected depletion date "
    "and days remaining, a suggested package or top-up covering the next days, and a confidence "
    "in [0, 1]. 404 `forecast_not_found` until the job has run for this wallet.",
)
async def get_forecast(
    request: Request, principal: Viewer, session: Session, organization_id: OrganizationId
) -> ForecastOut:
    await authorize_organization(request, principal, organization_id)
    wallet = await _wallet(session, organization_id)
    forecast = None if wallet is None else await latest_forecast(session, wallet.id)
    if wallet is None or forecast is None:
        raise ApiError(
            404,
            "forecast_not_found",
            f"Organization {organization_id} has no usage "
            "forecast yet; updateUsageForecasts makes one daily.",
        )
    return ForecastOut(
        organization_id=organization_id,
        wallet_id=wallet.id,
        forecast_date=forecast.forecast_date,
        current_balance=forecast.current_balance,
        average_daily_consumption=forecast.average_daily_consumption,
        trend_per_day=forecast.trend_per_day,
        weekday_factors=forecast.weekday_factors,
        method=forecast.method,
        history_days=forecast.history_days,
        projected_depletion_date=forecast.projected_depletion_date,
        days_remaining=forecast.days_remaining,
        coverage_days=forecast.coverage_days,
        projected_consumption=forecast.projected_consumption,
        suggested_package_id=forecast.suggested_package_id,
        suggested_topup_amount=forecast.suggested_topup_amount,
        confidence=forecast.confidence,
        created_at=forecast.created_at,
    )
