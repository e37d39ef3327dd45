"""Spend limits in the database functions, at chosen instants: UTC days and months roll over at
midnight UTC whatever the session's time zone (29 February, a month's last second), a soft
limit notifies once per period, and `spend_limit_take` (a hold's capture) counts against them."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from psycopg import AsyncConnection
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.audit import Actor
from db.spend_limits import LimitSpec, read_limits, replace_limits
from db.spending import AlertDefaults, SpendContext, SpendRequest, spend
from tokenbill.settings import Settings, to_libpq_url

Maker = async_sessionmaker[AsyncSession]
Conn = AsyncConnection[tuple[object, ...]]
NO_ALERTS = AlertDefaults(low=Decimal(0), critical=Decimal(0), auto_topup=False)
TESTS = SpendContext("system", "tests")


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    connection = await AsyncConnection.connect(
        to_libpq_url(str(db_settings.database_url)), autocommit=True
    )
    # Periods are UTC: a session far east of UTC must not move them.
    await connection.execute("SET TimeZone = 'Pacific/Kiritimati'")
    try:
        yield connection
    finally:
        await connection.close()


async def limited_organization(
    session_maker: Maker, make_organization: Callable[..., Awaitable[int]], *limits: LimitSpec
) -> int:
    org = await make_organization()
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, org)
        await ledger.credit(
            session, wallet_id=wallet, amount=Decimal(1000), idempotency_key=f"test:{org}:lot"
        )
        await replace_limits(session, org, list(limits), actor=Actor.system("tests"))
    return org


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


async def test_day_and_month_limits_roll_over_at_midnight_utc(
    session_maker: Maker, make_organization: Callable[..., Awaitable[int]], conn: Conn
) -> None:
    org = await limited_organization(
        session_maker, make_organization,
        LimitSpec(None, "day", Decimal(15), "hard"), LimitSpec(None, "month", Decimal(24), "hard"),
    )  # fmt: skip
    n = iter(range(100))

    async def at(when: datetime, amount: str) -> Any:
        wanted = SpendRequest(org, Decimal(amount), f"k{next(n)}", "usage")
        return await spend(conn, wanted, NO_ALERTS, TESTS, at=when)

    assert (await at(utc(2028, 2, 28, 12), "10")).status == "applied"
    assert (await at(utc(2028, 2, 29, 23, 59, 59), "10")).status == "applied"
    day = await at(utc(2028, 2, 29, 23, 59, 59), "6")
    month = await at(utc(2028, 2, 29, 23, 59, 59), "5")
    assert (day.status, day.limit and day.limit.period) == ("spend_limit_reached", "day")
    assert (month.status, month.limit and month.limit.period) == ("spend_limit_reached", "month")
    assert day.limit and day.limit.resets_at == utc(2028, 3, 1)
    assert month.limit and (month.limit.used, month.limit.cap) == (Decimal(20), Decimal(24))
    assert (await at(utc(2028, 3, 1), "15")).status == "applied"
    assert (await at(utc(2028, 3, 1, 23, 59, 59), "1")).status == "spend_limit_reached"
    assert (await at(utc(2028, 3, 2), "9")).status == "applied"
    async with session_maker() as session:
        shown = await read_limits(session, org, utc(2028, 3, 2, 8))
    assert [(s.period, s.used, s.period_start, s.resets_at) for s in shown] == [
        ("day", Decimal(9), utc(2028, 3, 2), utc(2028, 3, 3)),
        ("month", Decimal(24), utc(2028, 3, 1), utc(2028, 4, 1)),
    ]


async def test_soft_limit_notifies_once_in_each_period(
    session_maker: Maker, make_organization: Callable[..., Awaitable[int]], conn: Conn
) -> None:
    org = await limited_organization(
        session_maker, make_organization, LimitSpec(None, "day", Decimal(5), "soft")
    )
    instants = [utc(2027, 12, 31, 23), utc(2027, 12, 31, 23, 30), utc(2028, 1, 1), utc(2028, 1, 1)]
    for number, when in enumerate(instants):
        wanted = SpendRequest(org, Decimal(5), f"s{number}", "usage")
        assert (await spend(conn, wanted, NO_ALERTS, TESTS, at=when)).status == "applied"
    async with session_maker() as session:
        keys = await session.scalars(
            text(
                "SELECT idempotency_key FROM notification_events WHERE organization_id = :o "
                "AND event_type = 'wallet.spend_limit_reached' ORDER BY id"
            ),
            {"o": org},
        )
        found = list(keys)
    assert [k.rsplit(":", 1)[1] for k in found] == ["2027-12-31", "2028-01-01"]


async def test_a_capture_counts_against_limits_and_may_be_refused_or_forced(
    session_maker: Maker, make_organization: Callable[..., Awaitable[int]], conn: Conn
) -> None:
    org = await limited_organization(
        session_maker, make_organization, LimitSpec(None, "day", Decimal(10), "hard")
    )
    when = utc(2029, 6, 30, 12)
    take = "SELECT taken, limit_period, limit_used FROM spend_limit_take(%s, NULL, %s, %s, %s)"
    refused = await (await conn.execute(take, (org, Decimal(11), when, True))).fetchone()
    forced = await (await conn.execute(take, (org, Decimal(11), when, False))).fetchone()
    after = await spend(conn, SpendRequest(org, Decimal(1), "after", "usage"), NO_ALERTS, TESTS,
                        at=when)  # fmt: skip
    assert refused == (False, "day", Decimal(0))
    assert forced == (True, None, None)
    assert after.status == "spend_limit_reached"
    assert after.limit and after.limit.used == Decimal(11)
