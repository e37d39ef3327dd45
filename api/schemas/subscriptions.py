"""Subscriptions: the bodies of create and the commands, and what reads answer."""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.common import Money, Rate, RequestBody, RowId, TokenAmount
from api.schemas.purchases import PaymentMethod
from workflows.subscription_types import CancelWhen, SubscriptionStatus

Duration = Annotated[
    str, StringConstraints(min_length=2, max_length=32, pattern=r"^P[0-9YMWDTHS]+$")
]
SubscriptionStatusFilter = Literal["active", "past_due", "paused", "suspended", "cancelled"]


class SubscriptionCreate(RequestBody):
    organization_id: RowId
    package_id: RowId
    payment_method: PaymentMethod = Field(
        description="A payment method token, e.g. pm_card_ok in the sandbox."
    )
    billing_interval: Duration = Field(
        default="P1M",
        description="ISO 8601 duration; calendar units keep the anchor day (Jan 31 + P1M = "
        "Feb 28 or 29, then Mar 31). At least TOKEN_SUBSCRIPTION_MINIMUM_INTERVAL.",
    )
    start_at: AwareDatetime | None = Field(
        default=None, description="When the first period starts and is charged (default: now)."
    )
    grace_period: Duration | None = Field(
        default=None,
        description="ISO 8601 duration in days or time (no months) a failed charge is retried "
        "before suspension; default TOKEN_SUBSCRIPTION_GRACE_PERIOD_DAYS.",
    )


class SubscriptionCreated(BaseModel):
    subscription_id: int
    workflow_id: str
    status: SubscriptionStatus
    billing_interval: str
    grace_period: str
    next_billing_date: datetime


class SubscriptionOut(BaseModel):
    """The token_subscriptions row, with the live state of its workflow when it answers."""

    model_config = ConfigDict(from_attributes=True)

    subscription_id: int
    organization_id: int
    package_id: int
    next_package_id: int | None
    status: str
    payment_method: str
    billing_interval: str
    grace_period: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    next_billing_date: datetime | None
    cancel_at_period_end: bool
    dunning_attempt: int
    last_payment_error: str | None
    grace_period_ends_at: datetime | None
    suspended_at: datetime | None
    cancelled_at: datetime | None
    workflow_id: str | None
    created_at: datetime
    updated_at: datetime
    live: bool = Field(description="True when status and dates come from the running workflow.")


class SubscriptionInvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    invoice_number: str
    status: str
    currency: str
    subtotal: Money
    tax_rate: Rate
    tax_amount: Money
    total: Money
    token_quantity: TokenAmount
    issue_date: date
    due_date: date
    paid_at: datetime | None
    purchase_reference_id: str | None


class CancelBody(RequestBody):
    when: CancelWhen = Field(
        default="period_end",
        description="`period_end` (default): no renewal, tokens of the paid period stay; "
        "`immediately`: ends now.",
    )


class ResumeBody(RequestBody):
    payment_method: PaymentMethod | None = None


class ChangePackageBody(RequestBody):
    package_id: RowId


class PaymentMethodBody(RequestBody):
    payment_method: PaymentMethod
