"""Upcoming expirations, usage forecasts, reconciliation runs and job runs."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import TokenAmount


class ExpiringLotOut(BaseModel):
    lot_id: int
    remaining_amount: TokenAmount
    original_amount: TokenAmount
    credited_at: datetime
    expires_at: datetime
    expired: bool = Field(description="Past its date; the next cleanupExpiredTokens run takes it")


class ExpirationsOut(BaseModel):
    organization_id: int
    wallet_id: int | None
    expiration_enabled: bool
    until: datetime
    total_expiring: TokenAmount
    lots: list[ExpiringLotOut]


class ForecastOut(BaseModel):
    organization_id: int
    wallet_id: int
    forecast_date: date
    current_balance: TokenAmount | None
    average_daily_consumption: TokenAmount
    trend_per_day: TokenAmount | None
    weekday_factors: dict[str, Any] | None
    method: str | None
    history_days: int | None
    projected_depletion_date: date | None
    days_remaining: int | None
    coverage_days: int | None
    projected_consumption: TokenAmount | None
    suggested_package_id: int | None
    suggested_topup_amount: TokenAmount | None
    confidence: TokenAmount | None
    created_at: datetime


class MismatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    subject: str
    wallet_id: int | None
    organization_id: int | None
    transaction_id: int | None
    expected: TokenAmount = Field(description="What the ledger says (entries, lots, or zero)")
    actual: TokenAmount = Field(description="The cached balance, or the transaction's sum")


class ReconciliationRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    workflow_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    wallets_checked: int
    transactions_checked: int
    mismatch_count: int
    mismatches: list[MismatchOut]


class ReconciliationRunsOut(BaseModel):
    items: list[ReconciliationRunOut]


class JobRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_name: str
    workflow_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    seen: int
    changed: int
    failed: int
    details: dict[str, Any]
    error: str | None


class JobRunsOut(BaseModel):
    items: list[JobRunOut]
