"""An organization's wallet: its balances, its balance history, its tokens that expire soon and
its usage forecast (tokens.view, own organization)."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from api.auth.dependencies import Viewer, authorize_organization
from api.deps import OrganizationId, ReadPool, Session, SettingsDep
from api.pagination import PageParams
from api.schemas.common import AUTH_ERRORS, Page
from api.schemas.operations import ExpirationsOut, ForecastOut
from api.schemas.wallet import BalanceChangeOut, ChangeType, WalletOut
from db.wallets import HistoryFilter
from services.wallet.balances import list_balance_changes, read_wallet_now
from services.wallet.outlook import forecast, upcoming

router = APIRouter(prefix="/wallet", tags=["wallet"], responses=AUTH_ERRORS)


@router.get(
    "/{organization_id}",
    summary="Read an organization's wallet",
    description="Requires `tokens.view` on the organization (a user sees only its own; an admin "
    "any). An organization that has not bought tokens yet shows a zero balance.",
)
async def get_wallet(
    request: Request,
    principal: Viewer,
    reads: ReadPool,
    settings: SettingsDep,
    organization_id: OrganizationId,
) -> WalletOut:
    await authorize_organization(request, principal, organization_id)
    wallet = await read_wallet_now(reads, settings, organization_id)
    return WalletOut.model_validate(wallet, from_attributes=True)


@router.get(
    "/{organization_id}/history",
    summary="List an organization's balance changes",
    description="Requires `tokens.view` on the organization. Newest first; filter by "
    "`change_type` and by `created_from` / `created_to` (ISO 8601 with zone).",
)
async def get_history(
    request: Request,
    principal: Viewer,
    session: Session,
    organization_id: OrganizationId,
    page: PageParams,
    change_type: Annotated[ChangeType | None, Query()] = None,
    created_from: Annotated[AwareDatetime | None, Query()] = None,
    created_to: Annotated[AwareDatetime | None, Query()] = None,
) -> Page[BalanceChangeOut]:
    await authorize_organization(request, principal, organization_id)
    rows, total = await list_balance_changes(
        session, organization_id, HistoryFilter(change_type, created_from, created_to),
        limit=page.limit, offset=page.offset,
    )  # fmt: skip
    return Page[BalanceChangeOut](
        items=[BalanceChangeOut.model_validate(row, from_attributes=True) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
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
    expirations = await upcoming(session, settings, organization_id, within)
    return ExpirationsOut.model_validate(expirations, from_attributes=True)


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
    return ForecastOut.model_validate(
        await forecast(session, organization_id), from_attributes=True
    )
