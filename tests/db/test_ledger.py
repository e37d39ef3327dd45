"""The ledger keeps exact, balanced, append-only books under retries and concurrency."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.errors import IdempotencyKeyReused, InsufficientBalance, InvalidAmount

Maker = async_sessionmaker[AsyncSession]


async def new_wallet(session_maker: Maker, make_organization: Callable[..., Awaitable[int]]) -> int:
    org = await make_organization()
    async with session_maker() as session, session.begin():
        return await ledger.ensure_wallet(session, org)


async def credit(session_maker: Maker, wallet: int, amount: str, key: str) -> ledger.Posting:
    async with session_maker() as session, session.begin():
        return await ledger.credit(
            session, wallet_id=wallet, amount=Decimal(amount), idempotency_key=key
        )


async def debit(session_maker: Maker, wallet: int, amount: str, key: str) -> ledger.Posting:
    async with session_maker() as session, session.begin():
        return await ledger.debit(
            session, wallet_id=wallet, amount=Decimal(amount), idempotency_key=key
        )


async def balance_of(session_maker: Maker, wallet: int) -> Decimal:
    async with session_maker() as session:
        value = await session.scalar(
            text("SELECT current_balance FROM organization_token_wallets WHERE id = :w"),
            {"w": wallet},
        )
        return Decimal(value)


async def entries_sum(session_maker: Maker, wallet: int) -> Decimal:
    async with session_maker() as session:
        value = await session.scalar(
            text(
                "SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e "
                "JOIN organization_token_wallets w ON w.ledger_account_id = e.account_id "
                "WHERE w.id = :w"
            ),
            {"w": wallet},
        )
        return Decimal(value)


async def test_ensure_wallet_creates_one_wallet_per_organization(session_maker, make_organization):
    org = await make_organization()

    async def ensure() -> int:
        async with session_maker() as session, session.begin():
            return await ledger.ensure_wallet(session, org)

    ids = await asyncio.gather(*(ensure() for _ in range(5)))
    assert len(set(ids)) == 1


async def test_credit_then_debit_keeps_balance_equal_to_entries(session_maker, make_organization):
    wallet = await new_wallet(session_maker, make_organization)
    await credit(session_maker, wallet, "500", "t:credit-1")
    posting = await debit(session_maker, wallet, "120.5", "t:debit-1")
    assert posting.balance_after == Decimal("379.5")
    assert await balance_of(session_maker, wallet) == Decimal("379.5")
    assert await entries_sum(session_maker, wallet) == Decimal("379.5")


async def test_replayed_credit_posts_once_and_returns_first_result(
    session_maker, make_organization
):
    wallet = await new_wallet(session_maker, make_organization)
    first = await credit(session_maker, wallet, "100", f"t:replay-{wallet}")
    second = await credit(session_maker, wallet, "100", f"t:replay-{wallet}")
    assert second.replayed and not first.replayed
    assert second.transaction_id == first.transaction_id
    assert second.balance_after == first.balance_after == Decimal("100")
    assert await balance_of(session_maker, wallet) == Decimal("100")


async def test_same_key_with_another_amount_is_refused(session_maker, make_organization):
    wallet = await new_wallet(session_maker, make_organization)
    await credit(session_maker, wallet, "100", f"t:reuse-{wallet}")
    with pytest.raises(IdempotencyKeyReused):
        await credit(session_maker, wallet, "101", f"t:reuse-{wallet}")
    assert await balance_of(session_maker, wallet) == Decimal("100")


async def test_debit_beyond_balance_is_refused_and_writes_nothing(session_maker, make_organization):
    wallet = await new_wallet(session_maker, make_organization)
    await credit(session_maker, wallet, "10", f"t:small-{wallet}")
    with pytest.raises(InsufficientBalance) as refused:
        await debit(session_maker, wallet, "10.0001", f"t:over-{wallet}")
    assert refused.value.balance == Decimal("10")
    assert await balance_of(session_maker, wallet) == Decimal("10")
    # The refused key was released with the rollback: it can be used once the money is there.
    await credit(session_maker, wallet, "1", f"t:topup-{wallet}")
    assert (await debit(session_maker, wallet, "10.0001", f"t:over-{wallet}")).balance_after == (
        Decimal("0.9999")
    )


@pytest.mark.parametrize("amount", ["0", "-1", "0.00001", "NaN", "1e20"])
async def test_invalid_amounts_are_refused(session_maker, make_organization, amount):
    wallet = await new_wallet(session_maker, make_organization)
    with pytest.raises(InvalidAmount):
        await credit(session_maker, wallet, amount, f"t:bad-{wallet}-{amount}")


async def test_concurrent_spends_never_overdraw(session_maker, make_organization):
    wallet = await new_wallet(session_maker, make_organization)
    await credit(session_maker, wallet, "50", f"t:fund-{wallet}")

    async def spend(i: int) -> bool:
        try:
            await debit(session_maker, wallet, "1", f"t:spend-{wallet}-{i}")
            return True
        except InsufficientBalance:
            return False

    results = await asyncio.gather(*(spend(i) for i in range(80)))
    assert sum(results) == 50
    assert await balance_of(session_maker, wallet) == Decimal("0")
    assert await entries_sum(session_maker, wallet) == Decimal("0")


async def test_lots_are_drawn_first_to_expire_then_oldest(session_maker, make_organization):
    wallet = await new_wallet(session_maker, make_organization)
    async with session_maker() as session, session.begin():
        await ledger.credit(session, wallet_id=wallet, amount=Decimal("10"),
                            idempotency_key=f"t:lot-a-{wallet}")  # fmt: skip
        await ledger.credit(
            session, wallet_id=wallet, amount=Decimal("10"), idempotency_key=f"t:lot-b-{wallet}",
            expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        )  # fmt: skip
    await debit(session_maker, wallet, "15", f"t:lot-spend-{wallet}")
    async with session_maker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT expires_at IS NOT NULL, remaining_amount FROM token_lots "
                    "WHERE wallet_id = :w ORDER BY id"
                ),
                {"w": wallet},
            )
        ).all()
    assert [(bool(r[0]), r[1]) for r in rows] == [(False, Decimal("5")), (True, Decimal("0"))]


async def test_history_cannot_be_rewritten(session_maker, make_organization):
    wallet = await new_wallet(session_maker, make_organization)
    await credit(session_maker, wallet, "5", f"t:immutable-{wallet}")
    for statement in (
        "UPDATE ledger_entries SET amount = amount * 2",
        "DELETE FROM ledger_transactions",
        "UPDATE token_balance_history SET balance_after = 0",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with session_maker() as session, session.begin():
                await session.execute(text(statement))


async def test_unbalanced_transaction_is_refused_at_commit(session_maker, make_organization):
    wallet = await new_wallet(session_maker, make_organization)
    with pytest.raises(DBAPIError, match="does not balance"):
        async with session_maker() as session, session.begin():
            tx = await session.scalar(
                text(
                    "INSERT INTO ledger_transactions"
                    " (organization_id, idempotency_key, kind, wallet_id, amount)"
                    " SELECT w.organization_id, :k, 'adjustment', w.id, 1"
                    " FROM organization_token_wallets w WHERE w.id = :w RETURNING id"
                ),
                {"k": f"t:unbalanced-{wallet}", "w": wallet},
            )
            await session.execute(
                text("INSERT INTO ledger_entries (organization_id, transaction_id, account_id,"
                     " amount) SELECT organization_id, :t, ledger_account_id, 1"
                     " FROM organization_token_wallets WHERE id = :w"),
                {"t": tx, "w": wallet},
            )  # fmt: skip
