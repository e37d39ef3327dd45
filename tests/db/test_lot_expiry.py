"""Lots and expiry (issue 9, edge 6): a spend never draws a lot past its expiry, even before the
nightly sweep books it, and only a lot past its expiry can be expired."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from psycopg import AsyncConnection
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.errors import LotNotExpired
from db.expiry import expire_lot
from db.spending import AlertDefaults, SpendContext, SpendRequest, spend, spend_batch
from tokenbill.settings import Settings, to_libpq_url

Maker = async_sessionmaker[AsyncSession]
Conn = AsyncConnection[tuple[object, ...]]
NO_ALERTS = AlertDefaults(low=Decimal(0), critical=Decimal(0), auto_topup=False)
TESTS = SpendContext("system", "tests")
EXPIRED = datetime(2020, 1, 1, tzinfo=UTC)
LATER = datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture
async def conn(db_settings: Settings) -> AsyncIterator[Conn]:
    connection = await AsyncConnection.connect(
        to_libpq_url(str(db_settings.database_url)), autocommit=True
    )
    try:
        yield connection
    finally:
        await connection.close()


async def wallet_with_lots(
    session_maker: Maker, organization_id: int, *lots: tuple[str, datetime | None]
) -> tuple[int, list[int]]:
    """The organization's wallet credited with each lot; (wallet id, lot ids)."""
    lot_ids: list[int] = []
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, organization_id)
        for number, (amount, expires) in enumerate(lots):
            posting = await ledger.credit(
                session, wallet_id=wallet, amount=Decimal(amount),
                idempotency_key=f"lot-expiry:{organization_id}:{number}", expires_at=expires,
            )  # fmt: skip
            lot = await session.scalar(
                text("SELECT id FROM token_lots WHERE transaction_id = :t"),
                {"t": posting.transaction_id},
            )
            lot_ids.append(int(lot or 0))
    return wallet, lot_ids


async def lots_and_balance(session_maker: Maker, wallet: int) -> tuple[list[int], int]:
    """Each lot's remainder and the cached balance (whole tokens in these tests)."""
    async with session_maker() as session:
        remaining = await session.scalar(
            text(
                "SELECT array_agg(remaining_amount::int ORDER BY id) FROM token_lots "
                "WHERE wallet_id = :w"
            ),
            {"w": wallet},
        )
        balance = await session.scalar(
            text("SELECT current_balance::int FROM organization_token_wallets WHERE id = :w"),
            {"w": wallet},
        )
    return list(remaining or []), int(balance or 0)


def spend_of(org: int, amount: str, key: str) -> SpendRequest:
    return SpendRequest(org, Decimal(amount), key, "usage")


async def test_a_spend_never_draws_an_expired_lot_the_sweep_has_not_booked_yet(
    session_maker, make_organization, conn
):
    org = await make_organization()
    wallet, (expired, _) = await wallet_with_lots(session_maker, org, ("30", EXPIRED), ("20", None))

    refused = await spend(conn, spend_of(org, "25", "more-than-spendable"), NO_ALERTS, TESTS)
    assert (refused.status, refused.balance) == ("insufficient_balance", Decimal(20))
    assert await lots_and_balance(session_maker, wallet) == ([30, 20], 50)

    applied = await spend(conn, spend_of(org, "20", "all-that-is-spendable"), NO_ALERTS, TESTS)
    assert (applied.status, applied.balance) == ("applied", Decimal(30))
    assert await lots_and_balance(session_maker, wallet) == ([30, 0], 30)

    async with session_maker() as session, session.begin():
        booked = await expire_lot(session, expired)
    assert booked is not None and (booked.amount, booked.balance_after) == (Decimal(30), Decimal(0))
    assert await lots_and_balance(session_maker, wallet) == ([0, 0], 0)


async def test_a_batch_never_draws_an_expired_lot(session_maker, make_organization, conn):
    org = await make_organization()
    wallet, _ = await wallet_with_lots(
        session_maker, org, ("40", EXPIRED), ("10", LATER), ("5", None)
    )
    outcomes = await spend_batch(
        conn,
        [spend_of(org, "12", "b1"), spend_of(org, "4", "b2"), spend_of(org, "2", "b3")],
        NO_ALERTS,
        TESTS,
    )
    assert [(o.status, o.balance) for o in outcomes] == [
        ("applied", Decimal(43)), ("insufficient_balance", Decimal(3)), ("applied", Decimal(41)),
    ]  # fmt: skip
    assert await lots_and_balance(session_maker, wallet) == ([40, 0, 1], 41)


async def test_expiring_a_lot_before_its_expiry_is_refused_and_writes_nothing(
    session_maker, make_organization
):
    org = await make_organization()
    wallet, (later, forever) = await wallet_with_lots(
        session_maker, org, ("10", LATER), ("5", None)
    )
    for lot in (later, forever):
        with pytest.raises(LotNotExpired):
            async with session_maker() as session, session.begin():
                await expire_lot(session, lot)
    assert await lots_and_balance(session_maker, wallet) == ([10, 5], 15)
    async with session_maker() as session:
        expiries = await session.scalar(
            text(
                "SELECT count(*) FROM ledger_transactions WHERE wallet_id = :w AND kind = 'expiry'"
            ),
            {"w": wallet},
        )
    assert expiries == 0
