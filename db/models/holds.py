"""Holds: tokens reserved out of a wallet into the organization's held account, until they are
captured (all or part), released or expired (migration 0019)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import TOKENS, Base, created_at_column

HOLD_STATUSES = ("active", "captured", "released", "expired")


class TokenHold(Base):
    """One hold. Only the ledger's functions write it (ledger_hold, ledger_hold_settle)."""

    __tablename__ = "token_holds"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False)
    wallet_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("organization_token_wallets.id"), nullable=False
    )
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False)
    amount: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    captured_amount: Mapped[Decimal] = mapped_column(TOKENS, server_default="0", nullable=False)
    released_amount: Mapped[Decimal] = mapped_column(TOKENS, server_default="0", nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expiry_request: Mapped[str] = mapped_column(String(64), nullable=False)
    hold_transaction_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ledger_transactions.id"), nullable=False
    )
    capture_transaction_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("ledger_transactions.id")
    )
    release_transaction_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("ledger_transactions.id")
    )
    created_at: Mapped[datetime] = created_at_column()
    # The API key that placed the hold (migration 0022): its captures count against its limits.
    api_key_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "id", name="pk_token_holds"),
        # Key first (migration 0029): a lookup by id cannot take it for the organization alone.
        UniqueConstraint("idempotency_key", "organization_id", name="uq_token_holds_key"),
        CheckConstraint("amount > 0", name="ck_hold_amount_positive"),
        CheckConstraint(
            "status IN ('active', 'captured', 'released', 'expired')", name="ck_hold_status"
        ),
        CheckConstraint(
            "(status = 'active' AND captured_amount = 0 AND released_amount = 0) OR "
            "(status <> 'active' AND captured_amount >= 0 AND released_amount >= 0 "
            "AND captured_amount + released_amount = amount)",
            name="ck_hold_settled_in_full",
        ),
        CheckConstraint(
            "status = 'captured' OR captured_amount = 0", name="ck_hold_captured_only_if_captured"
        ),
        Index("idx_token_holds_due", "expires_at", postgresql_where=text("status = 'active'")),
    )
