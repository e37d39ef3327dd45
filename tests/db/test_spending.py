"""ledger_spend and ledger_spend_batch: lots drawn first-to-expire, alerts recorded once per
downward crossing in the spend's transaction, refusals that leave nothing behind."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from psycopg import AsyncConnection
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.spending import AlertDefaults, SpendContext, SpendRequest, spend, spend_batch
from tokenbill.settings import Settings, to_libpq_url
from workflows.outbox_types import AUTO_TOPUP_THRESHOLD_CROSSED, BALANCE_CRITICAL, BALANCE_LOW

Maker = async_sessionmaker[AsyncSession]
Conn = AsyncConnection[tuple[object, ...]]
NO_ALERTS = AlertDefaults(low=Decimal(0), critical=Decimal(0), auto_topup=False)
ALERTS = AlertDefaults(low=Decimal(100), critical=Decimal(50), auto_topup=True)
TESTS = SpendContext("system", "tests")


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    connection = await AsyncConnection.connect(
        to_libpq_url(str(db_settings.database_url)), autocommit=True
    )
    try:
        yield connection
    finally:
        await connection.close()


async def funded_organization(
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    *lots: tuple[str, datetime | None],
) -> tuple[int, int]:
    org = await make_organization()
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, org)
        for number, (amount, expires) in enumerate(lots):
            await ledger.credit(
                session, wallet_id=wallet, amount=Decimal(amount),
                idempotency_key=f"test:{org}:lot-{number}", expires_at=expires,
            )  # fmt: skip
    return org, wallet


def request(org: int, amount: str, key: str, reason: str = "usage") -> SpendRequest:
    return SpendRequest(org, Decimal(amount), key, reason)


async def scalar(session_maker: Maker, sql: str, **params: object) -> object:
    async with session_maker() as session:
        return await session.scalar(text(sql), params)


async def test_spend_draws_the_first_to_expire_lot_then_the_oldest(
    session_maker, make_organization, conn
):
    late = datetime(2031, 1, 1, tzinfo=UTC)
    soon = datetime(2030, 1, 1, tzinfo=UTC)
    org, wallet = await funded_organization(
        session_maker, make_organization, ("30", None), ("20", late), ("10", soon), ("5", None)
    )
    outcome = await spend(conn, request(org, "25", "k1"), NO_ALERTS, TESTS)
    assert (outcome.status, outcome.balance) == ("applied", Decimal(40))
    async with session_maker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT l.original_amount, l.remaining_amount FROM token_lots l "
                    "WHERE l.wallet_id = :w ORDER BY l.id"
                ),
                {"w": wallet},
            )
        ).all()
    # soon (10) emptied, then late (20) gives 15; the never-expiring lots are untouched.
    assert [(int(a), int(r)) for a, r in rows] == [(30, 30), (20, 5), (10, 0), (5, 5)]
    await spend(conn, request(org, "10", "k2"), NO_ALERTS, TESTS)
    remaining = await scalar(
        session_maker,
        "SELECT array_agg(remaining_amount::int ORDER BY id) FROM token_lots WHERE wallet_id = :w",
        w=wallet,
    )
    assert remaining == [25, 0, 0, 5], "the older of the lots without expiry goes first"


async def test_a_spend_the_first_lot_covers_takes_it_from_that_lot_alone(
    session_maker, make_organization, conn
):
    late = datetime(2031, 1, 1, tzinfo=UTC)
    soon = datetime(2030, 1, 1, tzinfo=UTC)
    org, wallet = await funded_organization(
        session_maker, make_organization, ("30", None), ("20", late), ("10", soon)
    )
    lots = (
        "SELECT array_agg(remaining_amount::int ORDER BY id) FROM token_lots WHERE wallet_id = :w"
    )
    await spend(conn, request(org, "4", "one"), NO_ALERTS, TESTS)
    assert await scalar(session_maker, lots, w=wallet) == [30, 20, 6]
    await spend(conn, request(org, "6", "exactly the rest"), NO_ALERTS, TESTS)
    assert await scalar(session_maker, lots, w=wallet) == [30, 20, 0]
    await spend_batch(conn, [request(org, "7", f"b{n}") for n in range(2)], NO_ALERTS, TESTS)
    assert await scalar(session_maker, lots, w=wallet) == [30, 6, 0], "the batch's total, 14"
    await spend_batch(conn, [request(org, "9", "over the first lot")], NO_ALERTS, TESTS)
    assert await scalar(session_maker, lots, w=wallet) == [27, 0, 0]


async def test_refused_spend_writes_nothing(session_maker, make_organization, conn):
    org, wallet = await funded_organization(session_maker, make_organization, ("5", None))
    outcome = await spend(conn, request(org, "5.0001", "too-much"), ALERTS, TESTS)
    assert (outcome.status, outcome.balance, outcome.amount) == (
        "insufficient_balance", Decimal(5), Decimal("5.0001"),
    )  # fmt: skip
    assert (
        await scalar(
            session_maker, "SELECT count(*) FROM ledger_transactions WHERE wallet_id = :w", w=wallet
        )
        == 1
    ), "only the credit"
    retry = await spend(conn, request(org, "5", "too-much"), ALERTS, TESTS)
    assert retry.status == "applied", "the refused spend did not keep its key"


async def test_unknown_organization_and_organization_without_wallet(make_organization, conn):
    assert (await spend(conn, request(2**31 - 1, "1", "x"), ALERTS, TESTS)).status == (
        "organization_not_found"
    )
    org = await make_organization()
    outcome = await spend(conn, request(org, "1", "x"), ALERTS, TESTS)
    assert (outcome.status, outcome.balance) == ("insufficient_balance", Decimal(0))


async def test_replay_answers_the_first_result_and_another_body_is_refused(
    session_maker, make_organization, conn
):
    org, wallet = await funded_organization(session_maker, make_organization, ("10", None))
    first = await spend(conn, request(org, "3", "same"), ALERTS, TESTS)
    await spend(conn, request(org, "1", "other"), ALERTS, TESTS)
    again = await spend(conn, request(org, "3", "same"), ALERTS, TESTS)
    assert again.status == "replayed"
    assert (again.transaction_id, again.balance) == (first.transaction_id, Decimal(7))
    reused = await spend(conn, request(org, "3", "same", reason="else"), ALERTS, TESTS)
    assert reused.status == "idempotency_key_reused"
    assert await scalar(
        session_maker, "SELECT current_balance FROM organization_token_wallets WHERE id = :w",
        w=wallet,
    ) == Decimal(6)  # fmt: skip


async def test_concurrent_spends_crossing_the_thresholds_record_each_alert_once(
    session_maker, make_organization, db_settings
):
    org, wallet = await funded_organization(session_maker, make_organization, ("120", None))
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
    url = to_libpq_url(str(db_settings.database_url))

    async def spender(worker: int) -> list[int]:
        async with await AsyncConnection.connect(url, autocommit=True) as connection:
            return [
                (
                    await spend(connection, request(org, "1", f"c-{worker}-{n}"), ALERTS, TESTS)
                ).events
                for n in range(20)
            ]

    events = await asyncio.gather(*(spender(w) for w in range(10)))
    assert sum(sum(e) for e in events) == 3, "low, critical and auto top-up, once each"
    async with session_maker() as session:
        notifications = (
            await session.execute(
                text(
                    "SELECT level, threshold::int, balance::int FROM low_balance_notifications "
                    "WHERE wallet_id = :w ORDER BY threshold DESC"
                ),
                {"w": wallet},
            )
        ).all()
        kinds = (
            await session.scalars(
                text(
                    "SELECT event_type FROM notification_events WHERE wallet_id = :w "
                    "ORDER BY event_type"
                ),
                {"w": wallet},
            )
        ).all()
    assert [tuple(n) for n in notifications] == [("low", 100, 99), ("critical", 50, 49)]
    assert kinds == sorted([BALANCE_LOW, BALANCE_CRITICAL, AUTO_TOPUP_THRESHOLD_CROSSED])


async def test_spend_crossing_a_suspended_policy_threshold_records_no_trigger(
    session_maker, make_organization, conn
):
    org, wallet = await funded_organization(session_maker, make_organization, ("500", None))
    async with session_maker() as session, session.begin():
        package = await session.scalar(
            text(
                "INSERT INTO token_packages (name, token_quantity, price_per_token, currency) "
                "VALUES (:n, 100, 0.5, 'USD') RETURNING id"
            ),
            {"n": f"Suspended top-up pack for {org}"},
        )
        await session.execute(
            text(
                "INSERT INTO auto_topup_policies (wallet_id, organization_id, enabled, threshold,"
                " package_id, status, suspended_reason) "
                "VALUES (:w, :o, true, 300, :p, 'suspended', 'card declined three times')"
            ),
            {"w": wallet, "o": org, "p": package},
        )
    assert (await spend(conn, request(org, "250", "suspended"), ALERTS, TESTS)).events == 0
    assert (
        await scalar(
            session_maker, "SELECT count(*) FROM notification_events WHERE wallet_id = :w", w=wallet
        )
        == 0
    )


async def test_alert_rearms_after_the_balance_rises_again(session_maker, make_organization, conn):
    org, wallet = await funded_organization(session_maker, make_organization, ("101", None))
    assert (await spend(conn, request(org, "2", "a"), ALERTS, TESTS)).events == 1
    assert (await spend(conn, request(org, "2", "b"), ALERTS, TESTS)).events == 0
    async with session_maker() as session, session.begin():
        await ledger.credit(
            session, wallet_id=wallet, amount=Decimal(10), idempotency_key=f"test:{org}:refill"
        )
    assert (await spend(conn, request(org, "10", "c"), ALERTS, TESTS)).events == 1
    payload = await scalar(
        session_maker,
        "SELECT payload FROM notification_events WHERE wallet_id = :w ORDER BY id DESC LIMIT 1",
        w=wallet,
    )
    assert isinstance(payload, dict)
    assert (payload["threshold"], payload["balance"], payload["level"]) == ("100", "97", "low")


async def test_batch_applies_good_items_and_answers_each(session_maker, make_organization, conn):
    rich, _ = await funded_organization(session_maker, make_organization, ("10", None))
    poor, _ = await funded_organization(session_maker, make_organization, ("1", None))
    await spend(conn, request(rich, "1", "earlier"), NO_ALERTS, TESTS)
    outcomes = await spend_batch(
        conn,
        [
            request(poor, "1", "p1"),
            request(rich, "4", "r1"),
            request(poor, "1", "p2"),
            request(2**31 - 1, "1", "ghost"),
            request(rich, "2", "earlier"),
            request(rich, "4", "r1"),
            request(rich, "4", "r2"),
        ],
        NO_ALERTS,
        TESTS,
    )
    assert [(o.status, o.balance) for o in outcomes] == [
        ("applied", Decimal(0)),
        ("applied", Decimal(5)),
        ("insufficient_balance", Decimal(0)),
        ("organization_not_found", None),
        ("idempotency_key_reused", Decimal(9)),
        ("replayed", Decimal(5)),
        ("applied", Decimal(1)),
    ]


async def test_batch_books_each_item_in_order_and_draws_lots_for_the_total(
    session_maker, make_organization, conn
):
    soon = datetime(2030, 1, 1, tzinfo=UTC)
    org, wallet = await funded_organization(
        session_maker, make_organization, ("100", None), ("5", soon)
    )
    outcomes = await spend_batch(
        conn, [request(org, "3", f"b{n}") for n in range(3)], ALERTS, TESTS
    )
    assert [o.balance for o in outcomes] == [Decimal(102), Decimal(99), Decimal(96)]
    assert [o.events for o in outcomes] == [0, 1, 0], "the item that crossed 100 alerts"
    async with session_maker() as session:
        history = (
            await session.execute(
                text(
                    "SELECT balance_before::int, balance_after::int FROM token_balance_history "
                    "WHERE wallet_id = :w AND change_type = 'consumption' ORDER BY id"
                ),
                {"w": wallet},
            )
        ).all()
        lots = await session.scalar(
            text(
                "SELECT array_agg(remaining_amount::int ORDER BY id) FROM token_lots "
                "WHERE wallet_id = :w"
            ),
            {"w": wallet},
        )
        wallet_row = (
            await session.execute(
                text(
                    "SELECT current_balance::int, total_consumed::int "
                    "FROM organization_token_wallets WHERE id = :w"
                ),
                {"w": wallet},
            )
        ).one()
    assert [tuple(h) for h in history] == [(105, 102), (102, 99), (99, 96)]
    assert lots == [96, 0]
    assert tuple(wallet_row) == (96, 9)
