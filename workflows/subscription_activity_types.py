"""The subscription activities' names, payloads and business idempotency keys.

Every key is built from the subscription id and the period's start, never from an activity or run
id, so a retried activity, a replayed history or a run rebuilt by the safety net finds the first
result: `subscription:<id>:<period start>:charge` (then `:charge:<n>` for dunning attempt n),
`:credit`, `:invoice`, and one notification key per event.
"""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from workflows.job_types import BatchOutcome
from workflows.payment_action_types import PaymentAction
from workflows.subscription_types import PackageTerms, SubscriptionRun, SubscriptionState
from workflows.utc_stamps import utc_compact, utc_iso

SYNC_SUBSCRIPTION = "subscription.sync"
CHARGE_PERIOD = "subscription.charge"
RECORD_FAILED_CHARGE = "subscription.record_failed_charge"
CREDIT_PERIOD = "subscription.credit"
INVOICE_PERIOD = "subscription.invoice"
RECORD_PAYMENT = "subscription.record_payment"
VOID_PERIOD = "subscription.void_period"
VOID_OPEN_INVOICES = "subscription.void_open_invoices"
NOTIFY = "subscription.notify"
LIST_SUBSCRIPTIONS_TO_REPAIR = "subscription.list_to_repair"

# ApplicationError types the subscription activities raise when retrying cannot help.
SUBSCRIPTION_NOT_FOUND = "SubscriptionNotFound"
LEDGER_REFUSED = "LedgerRefused"
INVOICE_REFUSED = "InvoiceRefused"


def period_key(subscription_id: int, period_start: datetime) -> str:
    """`subscription:<id>:<period start as UTC ISO 8601>`, the stem of every key of a period."""
    return f"subscription:{subscription_id}:{utc_iso(period_start)}"


def charge_key(subscription_id: int, period_start: datetime, attempt: int) -> str:
    """Attempt 1 is the scheduled charge; each dunning retry is a new attempt with its own key,
    and each attempt is only ever retried (on a timeout) with that same key."""
    stem = f"{period_key(subscription_id, period_start)}:charge"
    return stem if attempt == 1 else f"{stem}:{attempt}"


def credit_key(subscription_id: int, period_start: datetime) -> str:
    return f"{period_key(subscription_id, period_start)}:credit"


def invoice_key(subscription_id: int, period_start: datetime) -> str:
    return f"{period_key(subscription_id, period_start)}:invoice"


def purchase_reference(subscription_id: int, period_start: datetime) -> str:
    """The token_purchases reference of one period: `SUB-<id>-<period start, compact UTC>`."""
    return f"SUB-{subscription_id}-{utc_compact(period_start)}"


class PeriodBill(BaseModel):
    """One period to bill: who, what, with which method, and which attempt this is."""

    subscription_id: int
    organization_id: int
    wallet_id: int
    period_start: datetime
    period_end: datetime
    terms: PackageTerms
    tax_rate: Decimal
    payment_method: str
    attempt: int
    actor_user_id: int | None = None


class ChargeAttempt(BaseModel):
    """A charge's outcome as data: a decline is a business outcome the workflow decides on."""

    paid: bool
    charge_reference: str | None = None
    decline_code: str | None = None
    message: str | None = None
    hard: bool = False
    # Declined for want of the customer's authentication (3-D Secure): what they must do.
    action: PaymentAction | None = None


class FailedCharge(BaseModel):
    bill: PeriodBill
    charge: ChargeAttempt
    grace_period_ends_at: datetime


class PaidPeriod(BaseModel):
    bill: PeriodBill
    charge_reference: str
    invoice_id: int
    invoice_number: str
    balance_after: Decimal
    paid_at: datetime


class CreditResult(BaseModel):
    transaction_id: int
    balance_after: Decimal


class InvoiceResult(BaseModel):
    invoice_id: int
    invoice_number: str


class VoidPeriod(BaseModel):
    subscription_id: int
    organization_id: int
    period_start: datetime
    reason: str


class VoidOpenInvoices(BaseModel):
    """A cancelled subscription owes nothing more: every open invoice of it is voided."""

    subscription_id: int
    organization_id: int
    reason: str


class SyncRequest(BaseModel):
    """Bring the token_subscriptions row to the workflow's state (and audit a status change).
    The terms are stored so a run rebuilt from the row bills what was agreed, not the catalog's
    price of the day."""

    state: SubscriptionState
    terms: PackageTerms
    next_terms: PackageTerms | None
    organization_id: int
    anchor: datetime
    cycle: int
    cancelled_at: datetime | None = None


class SyncResult(BaseModel):
    """`row_cancelled`: the row was cancelled already and stays so; the run must end."""

    row_cancelled: bool = False


SubscriptionNoticeKind = Literal[
    "subscription.renewal_reminder",
    "subscription.payment_failed",
    "subscription.renewed",
    "subscription.suspended",
    "subscription.resumed",
    "subscription.paused",
    "subscription.cancelled",
]


class Notification(BaseModel):
    subscription_id: int
    organization_id: int
    wallet_id: int
    event_type: SubscriptionNoticeKind
    idempotency_key: str
    severity: Literal["info", "warning", "critical"] = "info"
    payload: dict[str, str | int | bool | None]


class RepairCandidate(BaseModel):
    """A subscription whose workflow should run, with the run to start if it does not."""

    run: SubscriptionRun
    status: str
    next_billing_date: datetime | None


class RepairBatch(BatchOutcome):
    """A page of subscriptions (the job's cursor is the subscription id), for the workflow to
    start or nudge; the counts are of the subscriptions seen."""

    candidates: list[RepairCandidate]
