"""The auto top-up policy service without a front door: any object with the policy's fields is a
choice, refusals are ServiceErrors, and the audit keeps the amounts as the API shows them."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.audit import Actor
from services.auto_topup.choice import ScheduleChoice
from services.auto_topup.policies import read_policy, remove_policy, set_policy
from services.errors import ErrorKind, ServiceError
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient

Maker = async_sessionmaker[AsyncSession]
ACTOR = Actor.system("test")


@dataclass(frozen=True)
class Choice:
    threshold: Decimal | None = Decimal("100")
    target_balance: Decimal | None = Decimal("500")
    enabled: bool = True
    schedule: ScheduleChoice | None = None
    package_id: int | None = None
    payment_method: str = "pm_card_ok"
    max_topups_per_day: int | None = None
    max_monthly_spend: Decimal | None = None
    cooldown: timedelta = timedelta(0)


@pytest.fixture
def inert(settings: Settings) -> Settings:
    """Top-ups switched off: policies are stored, no workflow is nudged."""
    return settings.model_copy(update={"token_auto_topup_enabled": False})


async def test_a_policy_set_by_the_service_is_read_back_with_default_caps_and_terms(
    session_maker: Maker, inert: Settings, make_organization: Callable[..., Awaitable[int]]
):
    organization_id = await make_organization()
    async with session_maker() as session:
        await set_policy(
            session, inert, WorkflowClient(inert), organization_id, Choice(), actor=ACTOR
        )
    async with session_maker() as session:
        view = await read_policy(session, inert, organization_id)
        audited = await session.scalar(
            text(
                "SELECT after FROM token_audit_logs WHERE organization_id = :o "
                "AND action = 'auto_topup.policy_set'"
            ),
            {"o": organization_id},
        )

    assert (view.max_topups_per_day, view.max_monthly_spend, view.system_enabled) == (
        inert.auto_topup_default_max_per_day,
        inert.auto_topup_default_max_monthly_spend,
        False,
    )
    assert view.agreed_price_per_token == inert.default_token_price
    assert (audited["threshold"], audited["target_balance"]) == ("100", "500")
    assert audited["max_monthly_spend"] == f"{inert.auto_topup_default_max_monthly_spend:.2f}"


async def test_a_cap_above_the_limit_is_refused_as_invalid_and_nothing_is_stored(
    session_maker: Maker, inert: Settings, make_organization: Callable[..., Awaitable[int]]
):
    organization_id = await make_organization()
    too_many = replace(Choice(), max_topups_per_day=inert.auto_topup_max_per_day_limit + 1)

    async with session_maker() as session:
        with pytest.raises(ServiceError) as refused:
            await set_policy(
                session, inert, WorkflowClient(inert), organization_id, too_many, actor=ACTOR
            )
        with pytest.raises(ServiceError) as missing:
            await read_policy(session, inert, organization_id)

    assert (refused.value.kind, refused.value.code) == (ErrorKind.INVALID, "validation_error")
    assert (missing.value.kind, missing.value.code) == (
        ErrorKind.NOT_FOUND,
        "auto_topup_policy_not_found",
    )


async def test_removing_the_policy_of_a_missing_organization_is_not_found(
    session_maker: Maker, inert: Settings
):
    async with session_maker() as session:
        with pytest.raises(ServiceError) as refused:
            await remove_policy(session, inert, 2_000_000_000, actor=ACTOR)

    assert (refused.value.kind, refused.value.code) == (
        ErrorKind.NOT_FOUND,
        "organization_not_found",
    )
