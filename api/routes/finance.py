"""Finance (finance staff, services.access.sees_finance): revenue and the summary."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.finance import FinanceStaff
from api.deps import Session, SettingsDep
from api.schemas.common import AUTH_ERRORS
from api.schemas.finance import FinanceSummaryOut, RevenueOut
from services.finance.figures import recent_revenue, summary

router = APIRouter(prefix="/finance", tags=["finance"], responses=AUTH_ERRORS)
MAX_DAYS = 366


@router.get(
    "/revenue",
    summary="Revenue by day, package and kind",
    description="Requires finance staff (admins, or users of no organization holding "
    "`tokens.finance`, or of type `finance` with `tokens.view`). "
    "Completed purchases created in the last `days` UTC days (today included): count, tokens, "
    "`revenue` (invoice totals, tax included, as the seed's monitoring query) and `net_revenue` "
    "(subtotals), per currency: by day (newest first), by package and by kind (`one_time`, "
    "`subscription`, `auto_topup`).",
)
async def get_revenue(
    principal: FinanceStaff,
    session: Session,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Days to cover.")] = 30,
) -> RevenueOut:
    return RevenueOut.model_validate(await recent_revenue(session, days=days), from_attributes=True)


@router.get(
    "/summary",
    summary="Finance summary",
    description="Requires finance staff. Active subscriptions; monthly recurring revenue (each "
    "active subscription's package price, before tax, normalised to a month from its billing "
    "interval with the mean month of 30.436875 days); the past-due amount (open invoices of "
    "past_due subscriptions); unspent paid tokens, a liability, valued at the price per token "
    "they were bought at; and wallets under their low threshold (their own, else "
    "TOKEN_LOW_BALANCE_THRESHOLD).",
)
async def get_summary(
    principal: FinanceStaff,
    session: Session,
    settings: SettingsDep,
) -> FinanceSummaryOut:
    return FinanceSummaryOut.model_validate(await summary(session, settings), from_attributes=True)
