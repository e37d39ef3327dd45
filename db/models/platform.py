"""What the platform keeps for itself: idempotency records, rate-limit counters, the sandbox
payment gateway's book and the audit log."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import MONEY, Base, created_at_column


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


class RateLimitCounter(Base):
    """Fixed-window request counters shared by every API instance."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)


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


class TokenAuditLog(Base):
    """Who did what to which thing, with before and after. Append-only."""

    __tablename__ = "token_audit_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    # An organisation's id, or PLATFORM_ORGANIZATION_KEY for a platform action.
    organization_id: Mapped[int] = mapped_column(Integer, server_default="0", nullable=False)
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
