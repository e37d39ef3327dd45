"""Schemas of the payment provider's routes: webhook receipts, disputes, the saved card, the
provider reconciliation."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Description, RequestBody


class WebhookReceivedOut(BaseModel):
    received: bool = True
    event_id: str
    event_type: str
    duplicate: bool
    outcome: str


class DisputeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    stripe_dispute_id: str
    purchase_id: int
    charge_reference: str
    amount: Decimal
    currency: str
    reason: str
    disputed_tokens: Decimal
    frozen_tokens: Decimal
    status: Literal["frozen", "released", "forfeited"]
    decided_by_user_id: int | None
    decision_note: str | None
    decided_at: datetime | None
    created_at: datetime


class DisputeDecisionIn(RequestBody):
    decision: Literal["release", "forfeit"] = Field(
        description="`release`: the frozen tokens go back to the wallet; `forfeit`: they are "
        "booked to the dispute-loss account."
    )
    note: Description | None = None


class PaymentMethodSetupOut(BaseModel):
    setup_intent_id: str
    client_secret: str | None = Field(
        description="Confirm the SetupIntent with it (Stripe.js); in the first answer only."
    )
    customer_id: str
    publishable_key: str | None = Field(description="The Stripe publishable key to confirm with.")


class SavedCardOut(BaseModel):
    saved: bool
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


class ProviderReconciliationIn(RequestBody):
    day: date = Field(description="The UTC day to reconcile.")


class ProviderMismatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    subject: str
    expected: Decimal
    actual: Decimal


class ProviderReconciliationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    run_id: int
    day: date
    provider_transactions: int
    ledger_operations: int
    mismatches: list[ProviderMismatchOut]
