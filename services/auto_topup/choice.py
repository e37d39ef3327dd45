"""What a customer chooses when setting a policy, and the rules that choice must meet: caps
within the limits, a schedule no shorter than the minimum, a package on sale. The terms agreed
then (price, quantity, currency) stay until another package is chosen."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AutoTopupPolicy, TokenPackage
from domain.durations import parse_interval
from services.errors import ServiceError, invalid
from tokenbill.settings import Settings

DURATION = TypeAdapter(timedelta)


class ScheduleChoice(Protocol):
    @property
    def interval(self) -> str: ...
    @property
    def anchor(self) -> datetime: ...


class PolicyChoice(Protocol):
    """A whole policy as a front door validated it (a threshold and/or a schedule, exactly one of
    a package and a target balance)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def threshold(self) -> Decimal | None: ...
    @property
    def schedule(self) -> ScheduleChoice | None: ...
    @property
    def package_id(self) -> int | None: ...
    @property
    def target_balance(self) -> Decimal | None: ...
    @property
    def payment_method(self) -> str: ...
    @property
    def max_topups_per_day(self) -> int | None: ...
    @property
    def max_monthly_spend(self) -> Decimal | None: ...
    @property
    def cooldown(self) -> timedelta: ...


def _out_of_range(field: str, message: str) -> ServiceError:
    return invalid(
        "validation_error",
        f"{field}: {message}",
        {"errors": [{"field": field, "message": message, "type": "value_error"}]},
    )


def capped(choice: PolicyChoice, settings: Settings) -> tuple[int, Decimal]:
    """The policy's caps: the defaults for those not given, refused above the limits."""
    per_day = choice.max_topups_per_day or settings.auto_topup_default_max_per_day
    if per_day > settings.auto_topup_max_per_day_limit:
        raise _out_of_range(
            "body.max_topups_per_day",
            f"at most {settings.auto_topup_max_per_day_limit} automatic top-ups a day",
        )
    monthly = choice.max_monthly_spend or settings.auto_topup_default_max_monthly_spend
    if monthly > settings.auto_topup_max_monthly_spend_limit:
        raise _out_of_range(
            "body.max_monthly_spend",
            f"at most {settings.auto_topup_max_monthly_spend_limit} a month",
        )
    return per_day, monthly


def check_schedule(choice: PolicyChoice, settings: Settings) -> None:
    shortest = settings.auto_topup_minimum_schedule_interval
    if choice.schedule and parse_interval(choice.schedule.interval).shortest < shortest:
        raise _out_of_range(
            "body.schedule.interval",
            f"must be at least {DURATION.dump_python(shortest, mode='json')}",
        )


async def package_on_sale(session: AsyncSession, package_id: int | None) -> TokenPackage | None:
    """The chosen package (None when a target balance was chosen), refused unless it is sold."""
    if package_id is None:
        return None
    package = await session.get(TokenPackage, package_id)
    if package is None or not package.is_active:
        raise invalid("package_unavailable", f"Package {package_id} is not offered for sale.")
    return package


def agree_terms(policy: AutoTopupPolicy, package: TokenPackage | None, settings: Settings) -> None:
    """Take today's terms when the policy is new or its customer chose another package (or a
    target balance instead of one); otherwise keep those agreed before."""
    chosen_again = policy.agreed_price_per_token is not None and policy.package_id == (
        package.id if package else None
    )
    if chosen_again:
        return
    if package is None:
        policy.agreed_token_quantity = None
        policy.agreed_price_per_token = settings.default_token_price
        policy.agreed_currency = settings.token_currency
    else:
        policy.agreed_token_quantity = package.token_quantity
        policy.agreed_price_per_token = package.price_per_token
        policy.agreed_currency = package.currency
