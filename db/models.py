"""SQLAlchemy models: the seed's nine tables plus what a standalone billing system needs.

Amounts are NUMERIC: tokens NUMERIC(20,4), money NUMERIC(18,2), unit prices NUMERIC(18,6).
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Interval,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TOKENS = Numeric(20, 4)
MONEY = Numeric(18, 2)
UNIT_PRICE = Numeric(18, 6)


class Base(DeclarativeBase):
    pass


def created_at_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32), server_default="user", nullable=False)
    user_type: Mapped[str | None] = mapped_column(String(32))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    permissions: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]"), nullable=False
    )
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    # Migration 0015: the console's argon2id password hash; null until a password is set.
    password_hash: Mapped[str | None] = mapped_column(Text)


class LedgerAccount(Base):
    """A ledger account: one per wallet, plus the system accounts tokens flow from and to."""

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (CheckConstraint("kind IN ('wallet', 'system')", name="ck_account_kind"),)


class OrganizationTokenWallet(Base):
    __tablename__ = "organization_token_wallets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id"), unique=True, nullable=False
    )
    ledger_account_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_accounts.id"), unique=True, nullable=False
    )
    current_balance: Mapped[Decimal] = mapped_column(TOKENS, server_default="0", nullable=False)
    total_purchased: Mapped[Decimal] = mapped_column(TOKENS, server_default="0", nullable=False)
    total_consumed: Mapped[Decimal] = mapped_column(TOKENS, server_default="0", nullable=False)
    low_balance_threshold: Mapped[Decimal | None] = mapped_column(TOKENS)
    critical_balance_threshold: Mapped[Decimal | None] = mapped_column(TOKENS)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        CheckConstraint("current_balance >= 0", name="ck_wallet_balance_not_negative"),
        Index("idx_token_wallets_org", "organization_id"),
    )


class LedgerTransaction(Base):
    """One movement of tokens; its entries sum to zero. Never updated, never deleted."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    amount: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_transaction_amount_positive"),
        Index("idx_ledger_transactions_wallet", "wallet_id", "created_at"),
    )


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id"), nullable=False
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), nullable=False)
    amount: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        CheckConstraint("amount <> 0", name="ck_entry_amount_not_zero"),
        Index("idx_ledger_entries_transaction", "transaction_id"),
        Index("idx_ledger_entries_account", "account_id"),
    )


class TokenLot(Base):
    """Tokens credited together: drawn down first-to-expire, then oldest first."""

    __tablename__ = "token_lots"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id"), unique=True, nullable=False
    )
    original_amount: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    remaining_amount: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        CheckConstraint(
            "remaining_amount >= 0 AND remaining_amount <= original_amount",
            name="ck_lot_remaining_in_range",
        ),
        Index(
            "idx_token_lots_open",
            "wallet_id",
            "expires_at",
            "created_at",
            postgresql_where=text("remaining_amount > 0"),
        ),
    )


class TokenBalanceHistory(Base):
    """Per-wallet view of the ledger: every change with the balance after it."""

    __tablename__ = "token_balance_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id"), unique=True, nullable=False
    )
    change_type: Mapped[str] = mapped_column(String(32), nullable=False)
    change_amount: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    balance_before: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    balance_after: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("idx_balance_history_wallet", "wallet_id", text("created_at DESC")),)


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
    purchase_reference_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
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


class AutoTopupPolicy(Base):
    __tablename__ = "auto_topup_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), unique=True, nullable=False
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


class LowBalanceNotification(Base):
    __tablename__ = "low_balance_notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    threshold: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    balance: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="pending", nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("idx_low_balance_notifications_org_created", "organization_id",
              text("created_at DESC")),
    )  # fmt: skip


class ApiKey(Base):
    """A service credential: only the sha256 of its secret is kept; revoked keys stay listed."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]"), nullable=False
    )
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("key_hash", name="uq_api_keys_hash"),)


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
        UniqueConstraint("wallet_id", "forecast_date", name="uq_usage_forecast_wallet_date"),
    )


class TokenAuditLog(Base):
    """Who did what to which thing, with before and after. Append-only."""

    __tablename__ = "token_audit_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    organization_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), server_default="success", nullable=False)
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        Index("idx_audit_logs_org_created", "organization_id", text("created_at DESC")),
        Index("idx_audit_logs_action", "action"),
    )


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    subtotal: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4), nullable=False)
    tax_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    total: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    issue_date: Mapped[date] = mapped_column(Date, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purchase_reference_id: Mapped[str | None] = mapped_column(String(64))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("token_subscriptions.id"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'open', 'paid', 'void')", name="ck_invoice_status"),
        Index("idx_invoices_org_issue", "organization_id", text("issue_date DESC")),
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("token_packages.id"))
    token_quantity: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(UNIT_PRICE, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)

    __table_args__ = (Index("idx_invoice_lines_invoice", "invoice_id"),)


class InvoiceNumberSequence(Base):
    """The last invoice number issued per year: incremented in the invoice's transaction."""

    __tablename__ = "invoice_number_sequences"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False)


class IdempotencyRecord(Base):
    """The first answer to a POST, replayed for the same key and body."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scope: Mapped[str] = mapped_column(String(128), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),
        Index("idx_idempotency_created_at", "created_at"),
    )


class PaymentGatewayOperation(Base):
    """The sandbox gateway's own book of charges and refunds, keyed by idempotency key."""

    __tablename__ = "payment_gateway_operations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    operation: Mapped[str] = mapped_column(String(16), nullable=False)
    gateway_reference: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    payment_method: Mapped[str | None] = mapped_column(String(64))
    charge_reference: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    decline_code: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, server_default="1", nullable=False)
    created_at: Mapped[datetime] = created_at_column()


class RateLimitCounter(Base):
    """Fixed-window request counters shared by every API instance."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)


class NotificationEvent(Base):
    """The outbox: an event written in the transaction that caused it, delivered after commit."""

    __tablename__ = "notification_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    wallet_id: Mapped[int | None] = mapped_column(ForeignKey("organization_token_wallets.id"))
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), server_default="info", nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="pending", nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'dispatched', 'delivered', 'failed')",
            name="ck_notification_event_status",
        ),
        CheckConstraint(
            "severity IN ('info', 'warning', 'critical')", name="ck_notification_event_severity"
        ),
        Index(
            "idx_notification_events_pending",
            "created_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "idx_notification_events_dispatched",
            "dispatched_at",
            postgresql_where=text("status = 'dispatched'"),
        ),
        Index("idx_notification_events_org_created", "organization_id", text("created_at DESC")),
    )


class WebhookEndpoint(Base):
    """An organization's webhook: where events are POSTed, signed with the endpoint's secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    # Fernet tokens (db/webhook_secrets.py), never the secret itself; the previous secret still
    # signs until previous_secret_expires_at, the overlap a rotation grants receivers.
    secret_ciphertext: Mapped[str] = mapped_column(Text, nullable=False)
    secret_hint: Mapped[str] = mapped_column(String(8), nullable=False)
    previous_secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    event_types: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]"), nullable=False
    )
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (Index("idx_webhook_endpoints_org", "organization_id"),)


class WebhookDelivery(Base):
    """One event to one endpoint: created once per pair, however often the event is relayed."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), nullable=False)
    event_id: Mapped[int] = mapped_column(ForeignKey("notification_events.id"), nullable=False)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), server_default="pending", nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery_endpoint_event"),
        CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name="ck_webhook_delivery_status"
        ),
        Index("idx_webhook_deliveries_endpoint_created", "endpoint_id", text("created_at DESC")),
        Index(
            "idx_webhook_deliveries_pending",
            "created_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )


class WebhookDeliveryAttempt(Base):
    """The delivery log: every POST made, with its answer or error and how long it took."""

    __tablename__ = "webhook_delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("idx_webhook_attempts_delivery", "delivery_id", "id"),)


class AutoTopup(Base):
    """One automatic top-up trigger and what came of it, keyed `topup:<wallet>:<trigger>`."""

    __tablename__ = "auto_topups"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
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
