"""Finance answers: revenue, the summary and the stored monthly reports. Money is a decimal
string with cents; tokens a plain decimal string."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from api.schemas.common import Money, TokenAmount
from db.monthly_reports import month_label


class RevenueRowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    model_config = ConfigDict(from_attributes=True)

    days: int
    since: date
    until: date
    by_day: list[RevenueDayOut]
    by_package: list[RevenuePackageOut]
    by_kind: list[RevenueKindOut]
    totals: list[RevenueRowOut]


class CurrencyAmountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    currency: str
    amount: Money
    count: int


class UnspentTokensOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    currency: str | None
    tokens: TokenAmount
    value: Money | None


class FinanceSummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    active_subscriptions: int
    monthly_recurring_revenue: list[CurrencyAmountOut]
    past_due: list[CurrencyAmountOut]
    unspent_paid_tokens: list[UnspentTokensOut]
    wallets_under_low_threshold: int
    default_low_threshold: TokenAmount


class MonthlyReportFieldsOut(BaseModel):
    """A stored report's own columns; its month (a first day) reads as YYYY-MM."""

    model_config = ConfigDict(from_attributes=True)

    month: str
    status: str
    created_at: datetime
    completed_at: datetime | None
    totals: dict[str, Any] | None

    @field_validator("month", mode="before")
    @classmethod
    def _month_label(cls, value: object) -> object:
        return month_label(value) if isinstance(value, date) else value


class MonthlyReportSummaryOut(MonthlyReportFieldsOut):
    csv_url: str
    json_url: str


class ReportOrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    organization_id: int
    organization_name: str
    figures: dict[str, Any]


class MonthlyReportOut(MonthlyReportFieldsOut):
    organizations: list[ReportOrganizationOut]
