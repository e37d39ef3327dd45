"""The package catalog and the token purchases made from it."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import MONEY, TOKENS, UNIT_PRICE, Base, created_at_column


class TokenPackage(Base):
    __tablename__ = "token_packages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    token_quantity: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    price_per_token: Mapped[Decimal] = mapped_column(UNIT_PRICE, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        CheckConstraint("token_quantity > 0", name="ck_package_quantity_positive"),
        CheckConstraint("price_per_token > 0", name="ck_package_price_positive"),
    )


class TokenPurchase(Base):
    __tablename__ = "token_purchases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purchase_reference_id: Mapped[str] = mapped_column(String(64), nullable=False)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    package_id: Mapped[int | None] = mapped_column(ForeignKey("token_packages.id"))
    purchase_type: Mapped[str] = mapped_column(String(32), nullable=False)
    token_quantity: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    price_per_token: Mapped[Decimal] = mapped_column(UNIT_PRICE, nullable=False)
    subtotal_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4), nullable=False)
    tax_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    total_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    payment_method: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="pending", nullable=False)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[str] = mapped_column(String(128), nullable=False)
    gateway_charge_id: Mapped[str | None] = mapped_column(String(64))
    gateway_refund_id: Mapped[str | None] = mapped_column(String(64))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("token_subscriptions.id"))
    purchased_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at_column()
    processing_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why finance must settle this purchase by hand (a refused refund, tokens already spent).
    review_reason: Mapped[str | None] = mapped_column(Text)
    review_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed', 'refunded')",
            name="ck_purchase_status",
        ),
        CheckConstraint(
            "purchase_type IN ('one_time', 'subscription', 'auto_topup')",
            name="ck_purchase_type",
        ),
        CheckConstraint("token_quantity > 0", name="ck_purchase_quantity_positive"),
        Index("idx_token_purchases_org_status", "organization_id", "status"),
        Index("idx_token_purchases_org", "organization_id"),
        Index("idx_token_purchases_status", "status"),
        Index("idx_token_purchases_ref", "purchase_reference_id"),
        Index("idx_token_purchases_created", text("created_at DESC")),
        Index(
            "idx_token_purchases_auto_topup",
            "wallet_id",
            "created_at",
            postgresql_where=text("purchase_type = 'auto_topup'"),
        ),
        Index(
            "idx_token_purchases_review",
            "review_requested_at",
            postgresql_where=text("review_reason IS NOT NULL"),
        ),
    )
