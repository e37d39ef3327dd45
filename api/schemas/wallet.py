"""An organization's token wallet and its balance history."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import TokenAmount

ChangeType = Literal[
    "purchase",
    "consumption",
    "expiry",
    "reversal",
    "adjustment",
    "hold",
    "hold_capture",
    "hold_release",
]


class Thresholds(BaseModel):
    low: TokenAmount
    critical: TokenAmount


class WalletOut(BaseModel):
    organization_id: int
    wallet_id: int | None
    current_balance: TokenAmount = Field(
        description="The ledger balance: the sum of the wallet's entries, which still holds "
        "expired tokens until the nightly expiry job books them. Held tokens are not in it."
    )
    held_balance: TokenAmount = Field(
        description="Tokens reserved by active holds (the organization's held account)."
    )
    available_balance: TokenAmount = Field(
        description="What a spend or a new hold can take now: the balance less "
        "`expired_pending` (held tokens are already out of the balance)."
    )
    spendable_balance: TokenAmount = Field(
        description="The same as `available_balance` (kept for existing clients)."
    )
    expired_pending: TokenAmount = Field(
        description="Tokens in lots past their expiry that the expiry job has not booked yet."
    )
    total_purchased: TokenAmount
    total_consumed: TokenAmount
    currency: str
    thresholds: Thresholds
    updated_at: datetime | None


class BalanceChangeOut(BaseModel):
    id: int
    change_type: str
    change_amount: TokenAmount
    balance_before: TokenAmount
    balance_after: TokenAmount
    description: str | None
    reference: str | None
    created_at: datetime
