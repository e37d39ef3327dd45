"""The purchase activities' names and payloads: all the workflow knows of the activities."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from workflows.purchase_types import PurchaseInput, PurchaseStatus

MARK_PROCESSING = "purchase.mark_processing"
CHARGE_PAYMENT = "purchase.charge_payment"
CREDIT_TOKENS = "purchase.credit_tokens"
ISSUE_INVOICE = "purchase.issue_invoice"
COMPLETE_PURCHASE = "purchase.complete"
FAIL_PURCHASE = "purchase.fail"
REFUND_PURCHASE = "purchase.refund"
CANCEL_WAITING_PAYMENT = "purchase.cancel_waiting_payment"

STATUS_QUERY = "status"
PurchaseStep = Literal[
    "starting",
    "processing",
    "charging",
    "awaiting_customer",
    "crediting",
    "invoicing",
    "completing",
    "failing",
    "refunding",
    "completed",
    "failed",
    "refunded",
]

# ApplicationError types the purchase activities raise when retrying cannot help.
PAYMENT_DECLINED = "PaymentDeclined"
PURCHASE_NOT_FOUND = "PurchaseNotFound"
INVALID_PAYMENT_REQUEST = "InvalidPaymentRequest"
LEDGER_REFUSED = "LedgerRefused"
INVOICE_REFUSED = "InvoiceRefused"
REFUND_REFUSED = "RefundRefused"
REVERSAL_REFUSED = "ReversalRefused"


def charge_key(purchase_reference_id: str) -> str:
    return f"purchase:{purchase_reference_id}:charge"


def credit_key(purchase_reference_id: str) -> str:
    return f"purchase:{purchase_reference_id}:credit"


def invoice_key(purchase_reference_id: str) -> str:
    return f"purchase:{purchase_reference_id}:invoice"


def refund_key(purchase_reference_id: str) -> str:
    return f"purchase:{purchase_reference_id}:refund"


def reversal_key(purchase_reference_id: str) -> str:
    return f"purchase:{purchase_reference_id}:reversal"


class ChargeOutcome(BaseModel):
    charge_reference: str
    amount: Decimal
    currency: str


class CreditOutcome(BaseModel):
    transaction_id: int
    balance_after: Decimal


class InvoiceOutcome(BaseModel):
    invoice_id: int
    invoice_number: str


class CompletePurchaseInput(BaseModel):
    purchase: PurchaseInput
    charge: ChargeOutcome
    invoice: InvoiceOutcome


class FailPurchaseInput(BaseModel):
    purchase: PurchaseInput
    reason: str
    # The money stays captured (a refund was refused or could not be made): finance settles it.
    needs_review: bool = False


class CancelPaymentInput(BaseModel):
    purchase: PurchaseInput
    payment_reference: str


def cancel_key(purchase_reference_id: str) -> str:
    return f"purchase:{purchase_reference_id}:cancel"


class RefundPurchaseInput(BaseModel):
    purchase: PurchaseInput
    charge: ChargeOutcome
    reason: str


class RefundOutcome(BaseModel):
    refund_reference: str
    reversed_tokens: Decimal
    status: PurchaseStatus


class StatusOutcome(BaseModel):
    """The purchase's status after the activity: a terminal status is never moved backwards."""

    status: PurchaseStatus
