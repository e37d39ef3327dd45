"""An organization buying far above its own history in a day raises one admin notification."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.purchase_patterns import UNUSUAL_PURCHASE_EVENT, PurchasePatternRule, check_purchase_pattern
from tests.finance_helpers import insert_purchase, make_package

Maker = async_sessionmaker[AsyncSession]
RULE = PurchasePatternRule(factor=Decimal("5"), floor=Decimal("100.00"), history_days=30)


async def _buy(session_maker: Maker, org: int, package: int, tokens: str, at: datetime) -> None:
    await insert_purchase(
        session_maker, organization_id=org, package_id=package, tokens=tokens, price="1.00",
        kind="one_time", status="completed", created_at=at,
    )  # fmt: skip


async def _check(session_maker: Maker, org: int) -> int:
    async with session_maker() as session, session.begin():
        found = await check_purchase_pattern(
            session, organization_id=org, day=datetime.now(UTC).date(), rule=RULE
        )
    return len([f for f in found if f.event_id is not None])


async def _alerts(session_maker: Maker, org: int) -> list[dict[str, object]]:
    async with session_maker() as session:
        rows = await session.scalars(
            text("SELECT payload FROM notification_events WHERE organization_id = :o "
                 "AND event_type = :t"), {"o": org, "t": UNUSUAL_PURCHASE_EVENT},
        )  # fmt: skip
        return list(rows)


async def test_a_day_far_above_the_trailing_average_raises_one_notification(
    session_maker: Maker, make_organization: Callable[..., Awaitable[int]]
):
    org = await make_organization()
    package = await make_package(session_maker, "10", "1.00")
    now = datetime.now(UTC)
    for days_ago in range(1, 31):  # 30 days of 10.00 + 1.60 tax: a daily average of 11.60
        await _buy(session_maker, org, package, "10", now - timedelta(days=days_ago))
    await _buy(session_maker, org, package, "100", now)  # 116.00 today: > max(58.00, 100.00)

    assert await _check(session_maker, org) == 1
    assert await _check(session_maker, org) == 0  # once per organization and day

    alerts = await _alerts(session_maker, org)
    assert len(alerts) == 1
    assert alerts[0] == {
        "audience": "admins", "organization_id": org, "currency": "XTS",
        "day": now.date().isoformat(), "day_total": "116.00", "daily_average": "11.60",
        "limit": "100.00",
    }  # fmt: skip


async def test_a_large_day_under_the_floor_raises_nothing(
    session_maker: Maker, make_organization: Callable[..., Awaitable[int]]
):
    org = await make_organization()
    package = await make_package(session_maker, "10", "1.00")
    await _buy(session_maker, org, package, "80", datetime.now(UTC))  # 92.80, no history

    assert await _check(session_maker, org) == 0
    assert await _alerts(session_maker, org) == []
