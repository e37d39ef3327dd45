"""A wallet's automatic top-up policy."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from api.schemas.common import (
    Money,
    RequestBody,
    RowId,
    TokenAmount,
    TokenQuantityInput,
    UnitPrice,
)
from api.schemas.purchases import PaymentMethod
from domain.durations import parse_interval

# The floor of any schedule, even in `tokenbill dev`; AUTO_TOPUP_MINIMUM_SCHEDULE_INTERVAL (an
# hour by default) is checked by services/auto_topup/choice.py.
MINIMUM_INTERVAL = timedelta(minutes=1)
MAX_COOLDOWN = timedelta(days=366)


def _schedule_interval(value: str) -> str:
    interval = parse_interval(value)  # InvalidInterval is a ValueError: a 422 with its sentence
    if interval.months == 0 and interval.exact < MINIMUM_INTERVAL:
        raise ValueError("must be at least PT1M")
    return value


def _cooldown(value: timedelta) -> timedelta:
    if value < timedelta(0) or value > MAX_COOLDOWN:
        raise ValueError("must be between PT0S and P366D")
    return value


ScheduleInterval = Annotated[str, Field(max_length=32), AfterValidator(_schedule_interval)]
Cooldown = Annotated[timedelta, AfterValidator(_cooldown)]
MonthlySpend = Annotated[
    Decimal, Field(gt=0, lt=Decimal("1e15"), max_digits=18, decimal_places=2, allow_inf_nan=False)
]


class ScheduleIn(RequestBody):
    interval: ScheduleInterval = Field(description="ISO 8601 duration: P1D, P1W, P1M, PT6H.")
    anchor: AwareDatetime = Field(description="The first top-up; then every interval after it.")


class AutoTopupPolicyIn(RequestBody):
    enabled: bool = True
    threshold: TokenQuantityInput | None = Field(
        default=None, description="Top up when a spend takes the balance below this."
    )
    schedule: ScheduleIn | None = None
    package_id: RowId | None = Field(default=None, description="Buy one of this package.")
    target_balance: TokenQuantityInput | None = Field(
        default=None, description="Or buy enough tokens, at DEFAULT_TOKEN_PRICE, to reach this."
    )
    payment_method: PaymentMethod
    max_topups_per_day: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = Field(
        default=None,
        description="Automatic top-ups per UTC day; null means AUTO_TOPUP_DEFAULT_MAX_PER_DAY, "
        "at most AUTO_TOPUP_MAX_PER_DAY_LIMIT. Never unlimited.",
    )
    max_monthly_spend: MonthlySpend | None = Field(
        default=None,
        description="Cap on the month's automatic top-up totals (tax included); null means "
        "AUTO_TOPUP_DEFAULT_MAX_MONTHLY_SPEND, at most AUTO_TOPUP_MAX_MONTHLY_SPEND_LIMIT. Never "
        "unlimited.",
    )
    cooldown: Cooldown = Field(
        default=timedelta(0), description="Least time between two top-ups (ISO 8601 duration)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.threshold is None and self.schedule is None:
            raise ValueError("give a threshold, a schedule, or both")
        if (self.package_id is None) == (self.target_balance is None):
            raise ValueError("give exactly one of package_id and target_balance")
        if (
            self.target_balance is not None
            and self.threshold is not None
            and self.target_balance <= self.threshold
        ):
            raise ValueError("target_balance must be above the threshold")
        return self


class ScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    interval: str
    anchor: datetime


class AutoTopupPolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    organization_id: int
    wallet_id: int
    enabled: bool
    status: Literal["active", "suspended"]
    suspended_reason: str | None
    suspended_at: datetime | None
    consecutive_failures: int
    threshold: TokenAmount | None
    schedule: ScheduleOut | None
    package_id: int | None
    target_balance: TokenAmount | None
    payment_method: str | None
    agreed_token_quantity: TokenAmount | None = Field(
        description="What one top-up of the package buys, as agreed when the package was chosen."
    )
    agreed_price_per_token: UnitPrice | None = Field(
        description="The price agreed when the package (or a target balance) was chosen; a "
        "later catalog price change does not alter it."
    )
    agreed_currency: str | None
    max_topups_per_day: int | None
    max_monthly_spend: Money | None
    cooldown: timedelta
    last_topup_at: datetime | None
    system_enabled: bool = Field(description="False when TOKEN_AUTO_TOPUP_ENABLED=false.")
    created_at: datetime
    updated_at: datetime
