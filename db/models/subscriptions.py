"""Subscriptions: a package bought again every billing period."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import TOKENS, UNIT_PRICE, Base, created_at_column


class TokenSubscription(Base):
    __tablename__ = "token_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    package_id: Mapped[int] = mapped_column(ForeignKey("token_packages.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="active", nullable=False)
    payment_method: Mapped[str] = mapped_column(String(64), nullable=False)
    billing_interval: Mapped[str] = mapped_column(String(32), server_default="P1M", nullable=False)
    grace_period: Mapped[str] = mapped_column(String(32), server_default="P7D", nullable=False)
    current_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_billing_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    workflow_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Mirrored from SubscriptionWorkflow (migration 0004): enough to rebuild a missing run.
    billing_anchor: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    billing_cycle: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    next_package_id: Mapped[int | None] = mapped_column(ForeignKey("token_packages.id"))
    cancel_at_period_end: Mapped[bool] = mapped_column(
        Boolean, server_default=text("false"), nullable=False
    )
    dunning_attempt: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    last_payment_error: Mapped[str | None] = mapped_column(Text)
    grace_period_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The terms agreed to (migrations 0011, 0013): a catalog price change never reprices them.
    token_quantity: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    price_per_token: Mapped[Decimal] = mapped_column(UNIT_PRICE, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    next_token_quantity: Mapped[Decimal | None] = mapped_column(TOKENS)
    next_price_per_token: Mapped[Decimal | None] = mapped_column(UNIT_PRICE)
    next_currency: Mapped[str | None] = mapped_column(String(3))

    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'past_due', 'paused', 'suspended', 'cancelled')",
            name="ck_subscription_status",
        ),
        Index("idx_subscriptions_org_status", "organization_id", "status"),
        Index(
            "idx_subscriptions_next_billing",
            "next_billing_date",
            postgresql_where=text("status = 'active'"),
        ),
    )
