"""One-time token purchases."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Money, Rate, RequestBody, RowId, TokenAmount, UnitPrice
from workflows.purchase_types import PurchaseStatus

PaymentMethod = Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,61}$", max_length=64)]
PurchaseStatusFilter = Literal["pending", "processing", "completed", "failed", "refunded"]


class PurchaseCreate(RequestBody):
    organization_id: RowId
    package_id: RowId
    payment_method: PaymentMethod = Field(
        description="A payment method token, e.g. pm_card_ok in the sandbox."
    )
    quantity: Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)] = Field(
        default=1, description="Number of packs; at most MAX_PURCHASE_QUANTITY."
    )


class PurchaseAccepted(BaseModel):
    purchase_reference_id: str
    workflow_id: str
    status: PurchaseStatus


class PaymentActionOut(BaseModel):
    """What the customer must do before the charge can go on (3-D Secure): confirm the payment
    with its client secret in the browser (Stripe.js) or open the action URL."""

    payment_reference: str
    client_secret: str | None
    action_url: str | None


class PurchaseOut(BaseModel):
    purchase_reference_id: str
    organization_id: int
    package_id: int | None
    purchase_type: str
    status: str
    token_quantity: TokenAmount
    price_per_token: UnitPrice
    subtotal_amount: Money
    tax_rate: Rate
    tax_amount: Money
    total_amount: Money
    currency: str
    payment_method: str
    invoice_number: str | None
    failure_reason: str | None
    review_reason: str | None = Field(
        description="Set when finance must settle the purchase by hand: a refund the processor "
        "refused, or tokens spent before they could be taken back."
    )
    workflow_id: str
    purchased_by_user_id: int | None
    created_at: datetime
    processing_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    refunded_at: datetime | None
    updated_at: datetime
    payment_action: PaymentActionOut | None = Field(
        default=None,
        description="Set while the charge waits for the customer (status processing): what they "
        "must do; the purchase goes on once they have done it.",
    )
