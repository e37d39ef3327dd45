"""What a PurchaseWorkflow takes and returns: the contract between the API, worker and workflow."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

PURCHASE_WORKFLOW = "PurchaseWorkflow"
PurchaseStatus = Literal["pending", "processing", "completed", "failed", "refunded"]


def purchase_workflow_id(purchase_reference_id: str) -> str:
    return f"purchase-{purchase_reference_id}"


class PurchaseInput(BaseModel):
    """Everything the workflow needs; the token_purchases row was written (pending) before start."""

    purchase_reference_id: str
    organization_id: int
    wallet_id: int
    package_id: int | None
    purchase_type: Literal["one_time", "subscription", "auto_topup"] = "one_time"
    token_quantity: Decimal
    price_per_token: Decimal
    subtotal_amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    currency: str
    payment_method: str
    description: str
    actor_user_id: int | None = None


class PurchaseResult(BaseModel):
    purchase_reference_id: str
    status: PurchaseStatus
    failure_reason: str | None = None
    invoice_number: str | None = None
    balance_after: Decimal | None = None
