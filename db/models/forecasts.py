"""The usage forecasts updateUsageForecasts stores per wallet and day."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import TOKENS, Base, created_at_column


class TokenUsageForecast(Base):
    __tablename__ = "token_usage_forecasts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    forecast_date: Mapped[date] = mapped_column(Date, nullable=False)
    average_daily_consumption: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    projected_depletion_date: Mapped[date | None] = mapped_column(Date)
    days_remaining: Mapped[int | None] = mapped_column(Integer)
    suggested_package_id: Mapped[int | None] = mapped_column(ForeignKey("token_packages.id"))
    confidence: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    created_at: Mapped[datetime] = created_at_column()
    # Migration 0007 (usage forecasts): what the forecast saw and what it projects.
    current_balance: Mapped[Decimal | None] = mapped_column(TOKENS)
    history_days: Mapped[int | None] = mapped_column(Integer)
    method: Mapped[str | None] = mapped_column(String(32))
    trend_per_day: Mapped[Decimal | None] = mapped_column(TOKENS)
    weekday_factors: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    coverage_days: Mapped[int | None] = mapped_column(Integer)
    projected_consumption: Mapped[Decimal | None] = mapped_column(TOKENS)
    suggested_topup_amount: Mapped[Decimal | None] = mapped_column(TOKENS)

    __table_args__ = (
        UniqueConstraint(
            "wallet_id",
            "forecast_date",
            "organization_id",
            name="uq_token_usage_forecasts_org_wallet_id_forecast_date",
        ),
    )
