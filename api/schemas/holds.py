"""Holds: reserve tokens, capture or release them, and what reads answer."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.schemas.common import ErrorDetail, RequestBody, RowId, TokenAmount, TokenQuantityInput
from api.schemas.consumption import Reason, SpendReference

MAX_CAPTURE_ITEMS = 1000
HoldStatusName = Literal["active", "captured", "released", "expired"]
HoldId = Annotated[int, Field(ge=1, le=2**63 - 1, strict=True)]
Ttl = Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^P[0-9WDTHMS]+$")]


class HoldCreate(RequestBody):
    amount: TokenQuantityInput = Field(description='Tokens to reserve, e.g. "120" (4 decimals).')
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the hold expires (ISO 8601 with zone); or give `ttl`."
    )
    ttl: Ttl | None = Field(
        default=None,
        description="How long the hold lasts, an ISO 8601 duration in weeks, days or time "
        "(`PT5M`, `P1D`); default TOKEN_HOLD_DEFAULT_TTL, at most TOKEN_HOLD_MAX_TTL.",
    )
    reason: Reason | None = Field(default=None, description="What the tokens are reserved for.")
    reference: SpendReference | None = Field(
        default=None, description="The caller's own reference, e.g. a claim or request id."
    )


class HoldCapture(RequestBody):
    amount: TokenQuantityInput | None = Field(
        default=None,
        description="Tokens to capture, at most the hold's amount (default: all of it); the "
        "rest is released to the wallet in the same transaction.",
    )


class CaptureItem(RequestBody):
    organization_id: RowId
    hold_id: HoldId
    amount: TokenQuantityInput | None = None


class CaptureBatch(RequestBody):
    items: list[CaptureItem] = Field(min_length=1, max_length=MAX_CAPTURE_ITEMS)


class HoldOut(BaseModel):
    hold_id: int
    organization_id: int
    wallet_id: int
    status: HoldStatusName
    amount: TokenAmount = Field(description="Tokens reserved.")
    captured_amount: TokenAmount
    released_amount: TokenAmount
    reason: str | None = None
    reference: str | None = None
    expires_at: datetime
    created_at: datetime
    settled_at: datetime | None


class HoldCommandOut(HoldOut):
    balance: TokenAmount = Field(
        description="The wallet's balance after the command (held tokens excluded)."
    )
    held: TokenAmount = Field(description="The wallet's held tokens after the command.")


class CaptureItemOut(BaseModel):
    index: int
    organization_id: int
    hold_id: int
    status: Literal["applied", "replayed", "failed"]
    hold: HoldCommandOut | None = None
    error: ErrorDetail | None = None


class CaptureBatchOut(BaseModel):
    applied: int
    replayed: int
    failed: int
    items: list[CaptureItemOut]
