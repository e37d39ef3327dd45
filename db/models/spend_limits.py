"""Spend limits: an organization's caps per API key or for the whole organization, per UTC day or
month, and the usage counted against each in its current period (migration 0020)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import TOKENS, Base, created_at_column


class SpendLimit(Base):
    """A cap: `api_key_id` None caps the whole organization; `mode` hard refuses, soft notifies."""

    __tablename__ = "spend_limits"

    organization_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("organizations.id"), primary_key=True
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    api_key_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("api_keys.id", ondelete="CASCADE")
    )
    period: Mapped[str] = mapped_column(String(8), nullable=False)
    cap: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    mode: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        UniqueConstraint(
            "organization_id", "api_key_id", "period", name="uq_spend_limits_subject_period",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("period IN ('day', 'month')", name="ck_spend_limits_period"),
        CheckConstraint("mode IN ('hard', 'soft')", name="ck_spend_limits_mode"),
        CheckConstraint("cap > 0", name="ck_spend_limits_cap_positive"),
    )  # fmt: skip


class SpendLimitUsage(Base):
    """What a limit counted in one period (applied spends and captures only)."""

    __tablename__ = "spend_limit_usage"

    organization_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    limit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    used: Mapped[Decimal] = mapped_column(TOKENS, server_default=text("0"), nullable=False)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "limit_id"], ["spend_limits.organization_id", "spend_limits.id"],
            ondelete="CASCADE", name="fk_spend_limit_usage_limit",
        ),
    )  # fmt: skip
