"""Automatic top-up: the policies wallets set and each trigger with what came of it."""

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Interval,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import MONEY, TOKENS, UNIT_PRICE, Base, created_at_column


class AutoTopupPolicy(Base):
    __tablename__ = "auto_topup_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), nullable=False)
    threshold: Mapped[Decimal | None] = mapped_column(TOKENS)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("token_packages.id"))
    payment_method: Mapped[str | None] = mapped_column(String(64))
    target_balance: Mapped[Decimal | None] = mapped_column(TOKENS)
    schedule_interval: Mapped[str | None] = mapped_column(String(32))
    schedule_anchor: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_topups_per_day: Mapped[int | None] = mapped_column(Integer)
    max_monthly_spend: Mapped[Decimal | None] = mapped_column(MONEY)
    cooldown: Mapped[timedelta] = mapped_column(
        Interval, server_default=text("'0 seconds'"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), server_default="active", nullable=False)
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    last_topup_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The terms the policy was set with (migration 0011); kept until another package is chosen.
    agreed_token_quantity: Mapped[Decimal | None] = mapped_column(TOKENS)
    agreed_price_per_token: Mapped[Decimal | None] = mapped_column(UNIT_PRICE)
    agreed_currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended')", name="ck_auto_topup_status"),
        CheckConstraint(
            "threshold IS NOT NULL OR schedule_interval IS NOT NULL",
            name="ck_auto_topup_has_trigger",
        ),
        CheckConstraint(
            "(package_id IS NULL) <> (target_balance IS NULL)", name="ck_auto_topup_one_amount"
        ),
    )


class AutoTopup(Base):
    """One automatic top-up trigger and what came of it, keyed `topup:<wallet>:<trigger>`."""

    __tablename__ = "auto_topups"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    trigger_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    purchase_reference_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "outcome IN ('purchasing', 'succeeded', 'failed', 'skipped')",
            name="ck_auto_topup_outcome",
        ),
        Index("idx_auto_topups_wallet_created", "wallet_id", text("created_at DESC")),
    )
