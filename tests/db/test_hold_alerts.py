"""A hold lowers the available balance as a spend does, so it raises the same alerts, once per
crossing (0024): the hold that takes the available balance from at-or-above a threshold to below
it records the notification and its outbox event (the spend's keys, so the safety net finds the
crossing notified); a capture moves nothing available and alerts nothing; a release re-arms."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.holds import Connection, HoldOutcome, HoldRequest, place_hold, settle_hold
from db.safety_net import missed_crossings
from db.spend_pool import SpendPool
from db.spending import AlertDefaults, SpendContext
from tests.database_helpers import credit_wallet, rows

Maker = async_sessionmaker[AsyncSession]
CONTEXT = SpendContext("system", "tests")
DEFAULTS = AlertDefaults(low=Decimal(50), critical=Decimal(10), auto_topup=False)


async def _hold(
    conn: Connection, org: int, tokens: str, defaults: AlertDefaults | None = DEFAULTS
) -> HoldOutcome:
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    wanted = HoldRequest(org, Decimal(tokens), uuid.uuid4().hex, expires_at, "at:t")
    outcome = await place_hold(conn, wanted, CONTEXT, defaults)
    assert outcome.status == "applied" and outcome.hold_id is not None
    return outcome


async def _alerts(session_maker: Maker, org: int) -> list[tuple[str, str, Decimal]]:
    """(level, outbox key, balance) of each notification, oldest first."""
    found = await rows(
        session_maker,
        "SELECT n.level, e.idempotency_key, n.balance FROM low_balance_notifications n"
        " JOIN notification_events e ON e.organization_id = n.organization_id"
        " AND (e.payload ->> 'notification_id')::bigint = n.id"
        " WHERE n.organization_id = :o ORDER BY n.id",
        o=org,
    )
    return [(r.level, r.idempotency_key, r.balance) for r in found]


async def _hold_transaction(session_maker: Maker, org: int, hold_id: int | None) -> int:
    (row,) = await rows(
        session_maker,
        "SELECT hold_transaction_id AS tx FROM token_holds WHERE organization_id = :o"
        " AND id = :h",
        o=org, h=hold_id,
    )  # fmt: skip
    return int(row.tx)


async def test_a_hold_that_crosses_a_threshold_alerts_once_and_a_capture_does_not(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    wallet, _ = await credit_wallet(session_maker, org, "100")
    async with pool.connection() as conn:
        first = await _hold(conn, org, "60")  # 100 -> 40: under low (50)
        captured = await settle_hold(conn, org, first.hold_id or 0, "captured", None, CONTEXT)
        second = await _hold(conn, org, "10")  # 40 -> 30: still above critical, low already
        third = await _hold(conn, org, "25")  # 30 -> 5: under critical (10)

    first_tx = await _hold_transaction(session_maker, org, first.hold_id)
    third_tx = await _hold_transaction(session_maker, org, third.hold_id)
    assert (first.events, second.events, third.events) == (1, 0, 1)
    assert captured.status == "applied" and captured.events == 0
    assert await _alerts(session_maker, org) == [
        ("low", f"balance_low:{wallet}:{first_tx}", Decimal(40)),
        ("critical", f"balance_critical:{wallet}:{third_tx}", Decimal(5)),
    ]
    # The safety net sees every crossing notified: it records nothing more.
    async with session_maker() as session:
        for level, default in (("low", DEFAULTS.low), ("critical", DEFAULTS.critical)):
            assert (
                await missed_crossings(session, level, default, after=wallet - 1, last=wallet) == []
            )


async def test_a_released_hold_rearms_the_threshold_for_the_next_crossing(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    await credit_wallet(session_maker, org, "100")
    async with pool.connection() as conn:
        crossing = await _hold(conn, org, "95")  # 100 -> 5: low and critical
        await settle_hold(conn, org, crossing.hold_id or 0, "released", None, CONTEXT)
        again = await _hold(conn, org, "92")  # back at 100 -> 8: both again
        refused = await place_hold(
            conn,
            HoldRequest(org, Decimal(92), uuid.uuid4().hex, datetime.now(UTC) + timedelta(hours=1),
                        "at:t"),
            CONTEXT, DEFAULTS,
        )  # fmt: skip

    levels = [level for level, _, _ in await _alerts(session_maker, org)]
    assert levels == ["low", "critical", "low", "critical"]
    assert (again.events, refused.status, refused.events) == (2, "insufficient_balance", 0)


async def test_a_hold_uses_the_wallets_own_thresholds_before_the_defaults(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    wallet, _ = await credit_wallet(session_maker, org, "100")
    async with session_maker() as session, session.begin():
        await session.execute(
            text("UPDATE organization_token_wallets SET low_balance_threshold = 80 WHERE id = :w"),
            {"w": wallet},
        )
    async with pool.connection() as conn:
        over = await _hold(conn, org, "15")  # 100 -> 85: above its own 80
        under = await _hold(conn, org, "10")  # 85 -> 75: under 80 (the default 50 is not met)
        without_defaults = await _hold(conn, org, "70", defaults=None)  # 75 -> 5: no default

    assert (over.events, under.events, without_defaults.events) == (0, 1, 0)
    assert [level for level, _, _ in await _alerts(session_maker, org)] == ["low"]


async def test_a_hold_under_the_auto_topup_threshold_records_the_trigger_when_auto_topup_is_on(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    wallet, _ = await credit_wallet(session_maker, org, "100")
    async with session_maker() as session, session.begin():
        package = await session.scalar(
            text(
                "INSERT INTO token_packages (name, token_quantity, price_per_token, currency) "
                "VALUES (:n, 100, 0.5, 'USD') RETURNING id"
            ),
            {"n": f"Top-up pack for {org}"},
        )
        await session.execute(
            text(
                "INSERT INTO auto_topup_policies (wallet_id, organization_id, enabled, threshold,"
                " package_id) VALUES (:w, :o, true, 80, :p)"
            ),
            {"w": wallet, "o": org, "p": package},
        )
    topups_off = AlertDefaults(low=Decimal(0), critical=Decimal(0), auto_topup=False)
    topups_on = AlertDefaults(low=Decimal(0), critical=Decimal(0), auto_topup=True)
    async with pool.connection() as conn:
        off = await _hold(conn, org, "30", topups_off)  # 100 -> 70: crossed, top-ups off
        await settle_hold(conn, org, off.hold_id or 0, "released", None, CONTEXT)
        on = await _hold(conn, org, "30", topups_on)  # 100 -> 70 again, top-ups on
        below = await _hold(conn, org, "10", topups_on)  # 70 -> 60: already under

    on_tx = await _hold_transaction(session_maker, org, on.hold_id)
    assert (off.events, on.events, below.events) == (0, 1, 0)
    triggers = await rows(
        session_maker,
        "SELECT idempotency_key, payload FROM notification_events WHERE organization_id = :o"
        " AND event_type = 'wallet.auto_topup_threshold_crossed'",
        o=org,
    )
    assert [(t.idempotency_key, t.payload["balance"]) for t in triggers] == [
        (f"auto_topup_threshold:{wallet}:{on_tx}", "70")
    ]
