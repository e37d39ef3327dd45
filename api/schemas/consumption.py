"""Spending tokens: one spend, a batch of spends, and their answers."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from api.schemas.common import (
    ErrorDetail,
    RequestBody,
    RowId,
    TokenAmount,
    TokenQuantityInput,
    _storable,
)

MAX_BATCH_ITEMS = 1000
# The ledger key is `consume:<organization>:<key>` and must fit in 255 characters.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"

IdempotencyKeyText = Annotated[str, StringConstraints(pattern=IDEMPOTENCY_KEY_PATTERN)]
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(_storable),
]
SpendReference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_storable),
]


class ConsumeRequest(RequestBody):
    amount: TokenQuantityInput = Field(description='Tokens to spend, e.g. "12.5" (4 decimals).')
    reason: Reason = Field(description="What the tokens were spent on (kept with the entry).")
    reference: SpendReference | None = Field(
        default=None, description="The caller's own reference, e.g. a claim or request id."
    )


class BatchItem(ConsumeRequest):
    idempotency_key: IdempotencyKeyText = Field(
        description="Unique per intended spend within the organization (like Idempotency-Key)."
    )
    organization_id: RowId


class ConsumptionBatch(RequestBody):
    items: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class SpendEntry(BaseModel):
    transaction_id: int
    wallet_id: int
    organization_id: int
    kind: Literal["consumption"] = "consumption"
    amount: TokenAmount
    reason: str
    reference: str | None
    created_at: datetime


class ConsumeOut(BaseModel):
    balance: TokenAmount
    entry: SpendEntry


class BatchItemOut(BaseModel):
    index: int
    idempotency_key: str
    organization_id: int
    status: Literal["applied", "replayed", "failed"]
    balance: TokenAmount | None = None
    entry: SpendEntry | None = None
    error: ErrorDetail | None = None


class BatchOut(BaseModel):
    applied: int
    replayed: int
    failed: int
    items: list[BatchItemOut]
