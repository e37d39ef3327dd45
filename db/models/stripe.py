"""What tokenbill keeps of Stripe: each organisation's Customer and the payments waiting for the
customer to act (3-D Secure), migration 0017."""

from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, created_at_column


class StripeCustomer(Base):
    """The Stripe Customer an organisation is, created once (key `customer:<organization id>`)."""

    __tablename__ = "stripe_customers"

    organization_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("organizations.id"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(String(255), nullable=False)
    # The saved card charged off-session (a SetupIntent's payment method), when there is one.
    default_payment_method: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("organization_id", "customer_id", name="uq_stripe_customers_customer"),
    )


class StripePaymentAction(Base):
    """A payment waiting for the customer (status requires_action) and the workflow waiting for
    it; the webhook of its outcome finds the workflow to signal here."""

    __tablename__ = "stripe_payment_actions"

    organization_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("organizations.id"), nullable=False
    )
    payment_intent_id: Mapped[str] = mapped_column(String(255), nullable=False)
    workflow_id: Mapped[str] = mapped_column(String(128), nullable=False)
    reference: Mapped[str] = mapped_column(String(128), nullable=False)
    client_secret: Mapped[str | None] = mapped_column(Text)
    action_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = created_at_column()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        PrimaryKeyConstraint(
            "organization_id", "payment_intent_id", name="pk_stripe_payment_actions"
        ),
    )
