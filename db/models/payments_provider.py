"""The payment provider's tables (migration 0018): Stripe's events as received, disputes holding
a purchase's tokens until an admin decides, and the card an organisation saved."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import MONEY, TOKENS, Base, created_at_column


class StripeEvent(Base):
    """A webhook event, recorded once by Stripe's event id, with what was done about it."""

    __tablename__ = "stripe_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(128), nullable=False)
    livemode: Mapped[bool] = mapped_column(Boolean, nullable=False)
    stripe_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    object_id: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (Index("idx_stripe_events_type_received", "event_type", "received_at"),)


class TokenDispute(Base):
    """A dispute on a purchase's charge; its tokens stay frozen until an admin decides."""

    __tablename__ = "token_disputes"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False)
    stripe_dispute_id: Mapped[str] = mapped_column(String(255), nullable=False)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("token_purchases.id"), nullable=False)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    charge_reference: Mapped[str] = mapped_column(String(255), nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
    disputed_tokens: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    frozen_tokens: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="frozen", nullable=False)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "id", name="pk_token_disputes"),
        UniqueConstraint(
            "organization_id", "stripe_dispute_id", name="uq_token_disputes_stripe_id"
        ),
        CheckConstraint("status IN ('frozen', 'released', 'forfeited')", name="ck_dispute_status"),
        CheckConstraint(
            "frozen_tokens >= 0 AND frozen_tokens <= disputed_tokens",
            name="ck_dispute_frozen_range",
        ),
        Index("idx_token_disputes_stripe_id", "stripe_dispute_id"),
        Index("idx_token_disputes_status", "status", "created_at"),
    )


class StripePaymentMethod(Base):
    """How the card an organisation saved shows (brand, last four, expiry), never the card; the
    card charged is stripe_customers.default_payment_method."""

    __tablename__ = "stripe_payment_methods"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    payment_method_id: Mapped[str] = mapped_column(String(255), nullable=False)
    brand: Mapped[str] = mapped_column(String(32), nullable=False)
    last4: Mapped[str] = mapped_column(String(4), nullable=False)
    exp_month: Mapped[int] = mapped_column(Integer, nullable=False)
    exp_year: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (PrimaryKeyConstraint("organization_id", name="pk_stripe_payment_methods"),)
