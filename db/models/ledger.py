"""The double-entry token ledger: accounts, wallets, transactions and their entries, the lots
tokens are drawn from, and the per-wallet balance history."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
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

from db.models.base import TOKENS, Base, created_at_column


class LedgerAccount(Base):
    """A ledger account: one per wallet, one per organization for its held tokens (kind held,
    `held:org-<id>`), plus the system accounts tokens flow from and to."""

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        CheckConstraint("kind IN ('wallet', 'system', 'held')", name="ck_account_kind"),
    )


class OrganizationTokenWallet(Base):
    __tablename__ = "organization_token_wallets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id"), unique=True, nullable=False
    )
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), nullable=False)
    current_balance: Mapped[Decimal] = mapped_column(TOKENS, server_default="0", nullable=False)
    held_balance: Mapped[Decimal] = mapped_column(TOKENS, server_default="0", nullable=False)
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
        CheckConstraint("held_balance >= 0", name="ck_wallet_held_not_negative"),
        Index("idx_token_wallets_org", "organization_id"),
    )


class LedgerTransaction(Base):
    """One movement of tokens; its entries sum to zero. Never updated, never deleted."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organization_id: Mapped[int] = mapped_column(Integer, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False)
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
    organization_id: Mapped[int] = mapped_column(Integer, nullable=False)
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
    organization_id: Mapped[int] = mapped_column(Integer, nullable=False)
    wallet_id: Mapped[int] = mapped_column(
        ForeignKey("organization_token_wallets.id"), nullable=False
    )
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id"), nullable=False
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
        ForeignKey("ledger_transactions.id"), nullable=False
    )
    change_type: Mapped[str] = mapped_column(String(32), nullable=False)
    change_amount: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    balance_before: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    balance_after: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("idx_balance_history_wallet", "wallet_id", text("created_at DESC")),)
