"""Notifications: low-balance alerts, the outbox of events, and the webhooks that deliver
them (endpoints, deliveries, attempts)."""

from datetime import datetime
from decimal import Decimal
from typing import Any

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
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import TOKENS, Base, created_at_column


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


class NotificationEvent(Base):
    """The outbox: an event written in the transaction that caused it, delivered after commit."""

    __tablename__ = "notification_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False)
    # An organisation's id, or PLATFORM_ORGANIZATION_KEY for a platform event.
    organization_id: Mapped[int] = mapped_column(Integer, nullable=False)
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
        UniqueConstraint(
            "endpoint_id",
            "event_id",
            "organization_id",
            name="uq_webhook_deliveries_org_endpoint_id_event_id",
        ),
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
    organization_id: Mapped[int] = mapped_column(Integer, nullable=False)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("idx_webhook_attempts_delivery", "delivery_id", "id"),)
