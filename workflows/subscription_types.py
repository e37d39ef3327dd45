"""What a SubscriptionWorkflow takes, answers and accepts: the contract of API, worker and workflow.

`SubscriptionRun` is the whole state carried from one cycle's run to the next (continue-as-new),
so a run needs nothing but its input; the token_subscriptions row mirrors it for finance and for
the safety net, which rebuilds a run from the row when a workflow is missing.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

SUBSCRIPTION_WORKFLOW = "SubscriptionWorkflow"
SubscriptionStatus = Literal["active", "past_due", "paused", "suspended", "cancelled"]
CancelWhen = Literal["period_end", "immediately"]

# Queries, updates and signals.
STATE_QUERY = "state"
CANCEL_UPDATE = "cancel"
PAUSE_UPDATE = "pause"
RESUME_UPDATE = "resume"
CHANGE_PACKAGE_UPDATE = "change_package"
UPDATE_PAYMENT_METHOD_UPDATE = "update_payment_method"
CHECK_BILLING_SIGNAL = "check_billing"


def subscription_workflow_id(subscription_id: int) -> str:
    return f"subscription-{subscription_id}"


class PackageTerms(BaseModel):
    """What one period buys: the package as it was when the subscription took it."""

    package_id: int
    name: str
    token_quantity: Decimal
    price_per_token: Decimal
    currency: str


class SubscriptionPolicy(BaseModel):
    """The time rules of dunning, reminders and suspension, fixed when the run is built."""

    grace_period: timedelta
    reminder_lead: timedelta
    dunning_schedule: list[timedelta]
    cancel_after_suspension: timedelta


class SubscriptionRun(BaseModel):
    """One cycle's input; `cycle` is the period to bill next, counted from `anchor`."""

    subscription_id: int
    organization_id: int
    wallet_id: int
    terms: PackageTerms
    next_terms: PackageTerms | None = None
    payment_method: str
    billing_interval: str
    anchor: datetime
    cycle: int = 0
    tax_rate: Decimal
    policy: SubscriptionPolicy
    status: Literal["active", "past_due", "paused", "suspended"] = "active"
    cancel_at_period_end: bool = False
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    suspended_at: datetime | None = None
    # The period still owed (its invoice open) when a run is rebuilt past due, paused during a
    # declined charge, or suspended; dunning goes on with the same period, attempts and grace.
    unpaid_period_start: datetime | None = None
    dunning_attempt: int = 0
    grace_period_ends_at: datetime | None = None
    last_payment_error: str | None = None
    actor_user_id: int | None = None


class SubscriptionState(BaseModel):
    """The live answer of the state query."""

    subscription_id: int
    status: SubscriptionStatus
    package_id: int
    next_package_id: int | None
    payment_method: str
    billing_interval: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    next_billing_date: datetime | None
    cancel_at_period_end: bool
    dunning_attempt: int
    last_payment_error: str | None
    grace_period_ends_at: datetime | None
    suspended_at: datetime | None
    cancelled_at: datetime | None = None


class SubscriptionOutcome(BaseModel):
    """What the workflow returns when the subscription ends (it only ends cancelled)."""

    subscription_id: int
    status: SubscriptionStatus
    cancelled_at: datetime


class CancelRequest(BaseModel):
    when: CancelWhen = "period_end"


class CancelResult(BaseModel):
    status: SubscriptionStatus
    cancel_at_period_end: bool
    effective_at: datetime


class CommandResult(BaseModel):
    """The subscription right after a pause, resume or payment-method change was accepted."""

    status: SubscriptionStatus
    next_billing_date: datetime | None
    message: str


class ResumeRequest(BaseModel):
    payment_method: str | None = None


class ChangePackageRequest(BaseModel):
    terms: PackageTerms


class ChangePackageResult(BaseModel):
    package_id: int
    effective_from: datetime | None
    message: str


class PaymentMethodRequest(BaseModel):
    payment_method: str
