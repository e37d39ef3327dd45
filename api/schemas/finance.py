"""Finance answers: revenue, the summary and the stored monthly reports. Money is a decimal
string with cents; tokens a plain decimal string."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from api.schemas.common import Money, TokenAmount


class RevenueRowOut(BaseModel):
    currency: str
    purchases: int
    tokens: TokenAmount
    revenue: Money
    net_revenue: Money


class RevenueDayOut(RevenueRowOut):
    date: date


class RevenuePackageOut(RevenueRowOut):
    package_id: int | None
    package_name: str | None


class RevenueKindOut(RevenueRowOut):
    kind: str


class RevenueOut(BaseModel):
    days: int
    since: date
    until: date
    by_day: list[RevenueDayOut]
    by_package: list[RevenuePackageOut]
    by_kind: list[RevenueKindOut]
    totals: list[RevenueRowOut]


class CurrencyAmountOut(BaseModel):
    currency: str
    amount: Money
    count: int


class UnspentTokensOut(BaseModel):
    currency: str | None
    tokens: TokenAmount
    value: Money | None


class FinanceSummaryOut(BaseModel):
    active_subscriptions: int
    monthly_recurring_revenue: list[CurrencyAmountOut]
    past_due: list[CurrencyAmountOut]
    unspent_paid_tokens: list[UnspentTokensOut]
    wallets_under_low_threshold: int
    default_low_threshold: TokenAmount


class MonthlyReportSummaryOut(BaseModel):
    month: str
    status: str
    created_at: datetime
    completed_at: datetime | None
    totals: dict[str, Any] | None
    csv_url: str
    json_url: str


class ReportOrganizationOut(BaseModel):
    organization_id: int
    organization_name: str
    figures: dict[str, Any]


class MonthlyReportOut(BaseModel):
    month: str
    status: str
    created_at: datetime
    completed_at: datetime | None
    totals: dict[str, Any] | None
    organizations: list[ReportOrganizationOut]
