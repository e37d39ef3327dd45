"""An automatic top-up policy as its owner reads it, and the part of it the audit log keeps."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, PlainSerializer

from db.models import AutoTopupPolicy
from domain.amounts import money_text, plain_decimal, unit_price_text

Tokens = Annotated[Decimal, PlainSerializer(plain_decimal, return_type=str, when_used="json")]
Money = Annotated[Decimal, PlainSerializer(money_text, return_type=str, when_used="json")]
UnitPrice = Annotated[Decimal, PlainSerializer(unit_price_text, return_type=str, when_used="json")]
UNAUDITED = frozenset({"created_at", "updated_at", "system_enabled"})


class ScheduleView(BaseModel):
    interval: str
    anchor: datetime


class PolicyView(BaseModel):
    organization_id: int
    wallet_id: int
    enabled: bool
    status: Literal["active", "suspended"]
    suspended_reason: str | None
    suspended_at: datetime | None
    consecutive_failures: int
    threshold: Tokens | None
    schedule: ScheduleView | None
    package_id: int | None
    target_balance: Tokens | None
    payment_method: str | None
    agreed_token_quantity: Tokens | None
    agreed_price_per_token: UnitPrice | None
    agreed_currency: str | None
    max_topups_per_day: int | None
    max_monthly_spend: Money | None
    cooldown: timedelta
    last_topup_at: datetime | None
    system_enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, policy: AutoTopupPolicy, *, system_enabled: bool) -> Self:
        schedule = (
            ScheduleView(interval=policy.schedule_interval, anchor=policy.schedule_anchor)
            if policy.schedule_interval and policy.schedule_anchor
            else None
        )
        return cls(
            organization_id=policy.organization_id, wallet_id=policy.wallet_id,
            enabled=policy.enabled,
            status="suspended" if policy.status == "suspended" else "active",
            suspended_reason=policy.suspended_reason, suspended_at=policy.suspended_at,
            consecutive_failures=policy.consecutive_failures, threshold=policy.threshold,
            schedule=schedule, package_id=policy.package_id,
            target_balance=policy.target_balance, payment_method=policy.payment_method,
            agreed_token_quantity=policy.agreed_token_quantity,
            agreed_price_per_token=policy.agreed_price_per_token,
            agreed_currency=policy.agreed_currency, max_topups_per_day=policy.max_topups_per_day,
            max_monthly_spend=policy.max_monthly_spend, cooldown=policy.cooldown,
            last_topup_at=policy.last_topup_at, system_enabled=system_enabled,
            created_at=policy.created_at, updated_at=policy.updated_at,
        )  # fmt: skip

    def audited(self) -> dict[str, Any]:
        """The policy as the audit log's before and after record it."""
        return self.model_dump(mode="json", exclude=set(UNAUDITED))
