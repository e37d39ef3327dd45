"""Spend limits: the set an organization's admin puts, and each limit with its current period."""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import RequestBody, RowId, TokenAmount, TokenQuantityInput

MAX_LIMITS = 50
Period = Literal["day", "month"]
Mode = Literal["hard", "soft"]
Scope = Literal["organization", "api_key"]


class SpendLimitIn(RequestBody):
    scope: Scope = Field(description="`organization`: every spend of the organization counts; "
                         "`api_key`: only the spends of `api_key_id`.")  # fmt: skip
    api_key_id: RowId | None = Field(
        default=None, description="The API key capped (scope `api_key` only)."
    )
    period: Period = Field(description="A UTC calendar day or a UTC calendar month.")
    cap: TokenQuantityInput = Field(description="Tokens the period may spend.")
    mode: Mode = Field(description="`hard`: a spend that would cross the cap is refused (409 "
                       "`spend_limit_reached`); `soft`: it is allowed and the first spend "
                       "reaching the cap in a period records a notification.")  # fmt: skip

    @model_validator(mode="after")
    def _scope_names_its_key(self) -> Self:
        if self.scope == "api_key" and self.api_key_id is None:
            raise ValueError("a limit of scope api_key needs its api_key_id")
        if self.scope == "organization" and self.api_key_id is not None:
            raise ValueError("a limit of scope organization has no api_key_id")
        return self


class SpendLimitsUpdate(RequestBody):
    limits: Annotated[list[SpendLimitIn], Field(max_length=MAX_LIMITS)] = Field(
        description="The whole set: limits not listed are removed. At most one per API key (or "
        "organization) and period."
    )


class SpendLimitOut(BaseModel):
    id: int
    scope: Scope
    api_key_id: int | None
    period: Period
    cap: TokenAmount
    mode: Mode
    used: TokenAmount = Field(description="Counted in the current period: applied spends and "
                              "captured holds, not refusals or replays.")  # fmt: skip
    period_start: datetime
    resets_at: datetime = Field(description="When the current period ends (UTC).")
    updated_at: datetime


class SpendLimitsOut(BaseModel):
    organization_id: int
    limits: list[SpendLimitOut]
