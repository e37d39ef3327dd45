"""Finance (finance staff: admins, or finance users with tokens.view): revenue and the summary."""

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.finance import FinanceStaff
from api.deps import Session, SettingsDep
from api.schemas.common import AUTH_ERRORS
from api.schemas.finance import (
    CurrencyAmountOut,
    FinanceSummaryOut,
    RevenueDayOut,
    RevenueKindOut,
    RevenueOut,
    RevenuePackageOut,
    RevenueRowOut,
    UnspentTokensOut,
)
from db.finance import RevenueRow, finance_summary, revenue

router = APIRouter(prefix="/finance", tags=["finance"], responses=AUTH_ERRORS)
MAX_DAYS = 366


def _figures(row: RevenueRow) -> dict[str, object]:
    return {
        "currency": row.currency, "purchases": row.purchases, "tokens": row.tokens,
        "revenue": row.revenue, "net_revenue": row.net_revenue,
    }  # fmt: skip


@router.get(
    "/revenue",
    summary="Revenue by day, package and kind",
    description="Requires finance staff (admins, or users of type `finance` with `tokens.view` "
    "and no organization). "
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
    today = datetime.now(UTC).date()
    found = await revenue(session, days=days, today=today)
    return RevenueOut(
        days=days,
        since=found.since,
        until=found.until,
        by_day=[RevenueDayOut(date=date.fromisoformat(r.key), **_figures(r)) for r in found.by_day],
        by_package=[
            RevenuePackageOut(
                package_id=None if r.key == "none" else int(r.key),
                package_name=r.label,
                **_figures(r),
            )
            for r in found.by_package
        ],
        by_kind=[RevenueKindOut(kind=r.key, **_figures(r)) for r in found.by_kind],
        totals=[RevenueRowOut(**_figures(r)) for r in found.totals],
    )


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
    summary = await finance_summary(
        session, default_low_threshold=settings.token_low_balance_threshold
    )
    return FinanceSummaryOut(
        active_subscriptions=summary.active_subscriptions,
        monthly_recurring_revenue=[
            CurrencyAmountOut(currency=m.currency, amount=m.amount, count=m.count)
            for m in summary.monthly_recurring_revenue
        ],
        past_due=[
            CurrencyAmountOut(currency=p.currency, amount=p.amount, count=p.count)
            for p in summary.past_due
        ],
        unspent_paid_tokens=[
            UnspentTokensOut(currency=u.currency, tokens=u.tokens, value=u.value)
            for u in summary.unspent_paid_tokens
        ],
        wallets_under_low_threshold=summary.wallets_under_low_threshold,
        default_low_threshold=summary.default_low_threshold,
    )
