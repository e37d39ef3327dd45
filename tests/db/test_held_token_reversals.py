"""A purchase reversal or a dispute's freeze of tokens that active holds reserve (0024): the
available tokens go first, then the newest holds are released whole (audited, with an outbox
event saying why) until the rest is free; the wallet never goes below zero and the books
reconcile. Before 0024 the reversal broke ck_wallet_balance_not_negative and was retried for
ever after the money had gone back."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger, ledger_disputes
from db.holds import Connection, HoldOutcome, HoldRequest, place_hold, settle_hold
from db.reconciliation import check_wallets, use_one_snapshot
from db.spend_pool import SpendPool
from db.spending import SpendContext
from tests.database_helpers import rows

Maker = async_sessionmaker[AsyncSession]
CONTEXT = SpendContext("system", "tests")


async def _purchase(session_maker: Maker, organization_id: int, tokens: str) -> str:
    """Credit a purchase's lot; its credit key."""
    key = f"test:{uuid.uuid4()}:credit"
    async with session_maker() as session, session.begin():
        wallet_id = await ledger.ensure_wallet(session, organization_id)
        await ledger.credit(
            session, wallet_id=wallet_id, amount=Decimal(tokens), idempotency_key=key
        )
    return key


async def _hold(conn: Connection, organization_id: int, tokens: str) -> HoldOutcome:
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    wanted = HoldRequest(organization_id, Decimal(tokens), uuid.uuid4().hex, expires_at, "at:t")
    outcome = await place_hold(conn, wanted, CONTEXT)
    assert outcome.status == "applied" and outcome.hold_id is not None
    return outcome


async def _reverse(session_maker: Maker, credit_key: str, key: str) -> ledger.Posting | None:
    async with session_maker() as session, session.begin():
        return await ledger.reverse_credit(
            session, credit_key=credit_key, idempotency_key=key, description="refund",
            reference="ref",
        )  # fmt: skip


async def _wallet(session_maker: Maker, organization_id: int) -> Any:
    (wallet,) = await rows(
        session_maker,
        "SELECT id, current_balance, held_balance FROM organization_token_wallets"
        " WHERE organization_id = :o",
        o=organization_id,
    )
    return wallet


async def _statuses(session_maker: Maker, organization_id: int) -> dict[int, str]:
    found = await rows(
        session_maker,
        "SELECT id, status FROM token_holds WHERE organization_id = :o",
        o=organization_id,
    )
    return {r.id: r.status for r in found}


async def _reconciles(session_maker: Maker, wallet_id: int) -> None:
    async with session_maker() as session, session.begin():
        await use_one_snapshot(session)
        checked = await check_wallets(session, [wallet_id])
    assert checked.mismatches == []


async def test_reversal_of_partly_held_tokens_releases_the_newest_hold_and_keeps_the_books(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    refunded = await _purchase(session_maker, org, "100")
    await _purchase(session_maker, org, "50")
    async with pool.connection() as conn:
        older = await _hold(conn, org, "40")
        newer = await _hold(conn, org, "80")  # available now 30: the reversal needs 70 more

    reversal_key = f"test:{uuid.uuid4()}:reversal"
    posting = await _reverse(session_maker, refunded, reversal_key)
    replay = await _reverse(session_maker, refunded, reversal_key)

    assert posting is not None and posting.amount == Decimal(100)
    assert posting.balance_after == Decimal(10)  # 30 available + 80 released - 100
    assert replay is not None and replay.replayed
    assert replay.transaction_id == posting.transaction_id
    wallet = await _wallet(session_maker, org)
    assert (wallet.current_balance, wallet.held_balance) == (Decimal(10), Decimal(40))
    assert await _statuses(session_maker, org) == {
        older.hold_id: "active",
        newer.hold_id: "released",
    }
    (audit,) = await rows(
        session_maker,
        "SELECT actor_type, actor_id, after FROM token_audit_logs WHERE organization_id = :o"
        " AND action = 'tokens.hold.release' AND target_id = :h",
        o=org, h=str(newer.hold_id),
    )  # fmt: skip
    assert (audit.actor_type, audit.actor_id) == ("system", f"reversal:{reversal_key}")
    assert audit.after["released"] == "80"
    (event,) = await rows(
        session_maker,
        "SELECT event_type, severity, payload FROM notification_events"
        " WHERE organization_id = :o AND event_type = 'wallet.hold_released'",
        o=org,
    )
    assert event.payload["hold_id"] == newer.hold_id
    assert (event.payload["reason"], event.payload["reversal_key"]) == (
        "purchase_reversed",
        reversal_key,
    )
    await _reconciles(session_maker, wallet.id)
    # The older hold keeps its whole promise (from the other purchase's lot); the withdrawn one
    # is refused at capture.
    assert older.hold_id is not None and newer.hold_id is not None
    async with pool.connection() as conn:
        kept = await settle_hold(conn, org, older.hold_id, "captured", None, CONTEXT)
        gone = await settle_hold(conn, org, newer.hold_id, "captured", None, CONTEXT)
    assert (kept.status, kept.captured_amount) == ("applied", Decimal(40))
    assert gone.status == "hold_not_active"
    await _reconciles(session_maker, wallet.id)


async def test_reversal_the_available_tokens_cover_releases_no_hold(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    refunded = await _purchase(session_maker, org, "100")
    await _purchase(session_maker, org, "50")
    async with pool.connection() as conn:
        hold = await _hold(conn, org, "50")  # available 100: exactly the reversal

    posting = await _reverse(session_maker, refunded, f"test:{uuid.uuid4()}:reversal")

    assert posting is not None and posting.balance_after == Decimal(0)
    assert await _statuses(session_maker, org) == {hold.hold_id: "active"}
    wallet = await _wallet(session_maker, org)
    assert wallet.held_balance == Decimal(50)
    await _reconciles(session_maker, wallet.id)


async def test_reversal_releases_as_many_holds_as_it_needs_newest_first(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    refunded = await _purchase(session_maker, org, "100")
    async with pool.connection() as conn:
        holds = [await _hold(conn, org, tokens) for tokens in ("30", "30", "30")]

    posting = await _reverse(session_maker, refunded, f"test:{uuid.uuid4()}:reversal")

    # 10 available; 90 held: the reversal needs 90 of them, all three holds.
    assert posting is not None and posting.amount == Decimal(100)
    assert set((await _statuses(session_maker, org)).values()) == {"released"}
    wallet = await _wallet(session_maker, org)
    assert (wallet.current_balance, wallet.held_balance) == (Decimal(0), Decimal(0))
    assert len(holds) == 3
    await _reconciles(session_maker, wallet.id)


async def test_dispute_freeze_of_held_tokens_releases_a_hold_and_a_forfeit_keeps_the_books(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    disputed = await _purchase(session_maker, org, "100")
    async with pool.connection() as conn:
        small = await _hold(conn, org, "20")
        big = await _hold(conn, org, "70")  # available 10
    dispute = f"dp_{uuid.uuid4().hex}"

    async with session_maker() as session, session.begin():
        frozen = await ledger_disputes.freeze(session, dispute, disputed, Decimal(50), "ref")
    async with session_maker() as session, session.begin():
        again = await ledger_disputes.freeze(session, dispute, disputed, Decimal(50), "ref")
    async with session_maker() as session, session.begin():
        await ledger_disputes.forfeit(session, dispute, "ref")

    assert frozen is not None and frozen.amount == Decimal(50) and not frozen.replayed
    assert again is not None and again.replayed
    assert await _statuses(session_maker, org) == {
        small.hold_id: "active",
        big.hold_id: "released",
    }
    wallet = await _wallet(session_maker, org)
    # 10 available + 70 released - 50 frozen; the small hold still reserves 20.
    assert (wallet.current_balance, wallet.held_balance) == (Decimal(30), Decimal(20))
    await _reconciles(session_maker, wallet.id)


async def test_a_reversal_racing_captures_never_takes_the_wallet_below_zero(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    """Reversal and captures queue on the wallet's row lock: whichever order they commit in,
    the wallet stays at or above zero and the books reconcile."""
    for _ in range(4):
        org = await make_organization()
        refunded = await _purchase(session_maker, org, "60")
        await _purchase(session_maker, org, "40")
        async with pool.connection() as conn:
            holds = [await _hold(conn, org, tokens) for tokens in ("35", "45")]

        async def capture(hold: HoldOutcome, org: int = org) -> HoldOutcome:
            async with pool.connection() as conn:
                assert hold.hold_id is not None
                return await settle_hold(conn, org, hold.hold_id, "captured", None, CONTEXT)

        await asyncio.gather(
            _reverse(session_maker, refunded, f"test:{uuid.uuid4()}:reversal"),
            *(capture(hold) for hold in holds),
        )

        wallet = await _wallet(session_maker, org)
        assert wallet.current_balance >= 0 and wallet.held_balance >= 0
        await _reconciles(session_maker, wallet.id)
        (lots,) = await rows(
            session_maker,
            "SELECT sum(remaining_amount) AS left FROM token_lots WHERE organization_id = :o",
            o=org,
        )
        assert lots.left == wallet.current_balance + wallet.held_balance


async def test_a_replayed_reversal_releases_no_hold_placed_after_it(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    refunded = await _purchase(session_maker, org, "100")
    await _purchase(session_maker, org, "50")
    async with pool.connection() as conn:
        await _hold(conn, org, "120")
    key = f"test:{uuid.uuid4()}:reversal"
    await _reverse(session_maker, refunded, key)
    async with pool.connection() as conn:
        after = await _hold(conn, org, "50")  # all that is left: available 0 again

    replay = await _reverse(session_maker, refunded, key)

    assert replay is not None and replay.replayed
    assert (await _statuses(session_maker, org)).get(after.hold_id or 0) == "active"
    (released,) = await rows(
        session_maker,
        "SELECT count(*) AS n FROM ledger_transactions WHERE organization_id = :o"
        " AND kind = 'hold_release'",
        o=org,
    )
    assert released.n == 1


async def test_a_reversal_with_the_longest_purchase_reference_releases_holds(
    session_maker: Maker, pool: SpendPool, make_organization: Callable[..., Awaitable[int]]
) -> None:
    """The audit actor is cut to its column (64 characters); the event keeps the whole key."""
    org = await make_organization()
    refunded = await _purchase(session_maker, org, "10")
    async with pool.connection() as conn:
        hold = await _hold(conn, org, "10")
    key = f"purchase:{'R' * 64}:reversal"

    posting = await _reverse(session_maker, refunded, key)

    assert posting is not None and posting.balance_after == Decimal(0)
    (audit,) = await rows(
        session_maker,
        "SELECT actor_id FROM token_audit_logs WHERE organization_id = :o"
        " AND action = 'tokens.hold.release'",
        o=org,
    )
    assert audit.actor_id == f"reversal:{key}"[:64]
    (event,) = await rows(
        session_maker,
        "SELECT idempotency_key, payload FROM notification_events WHERE organization_id = :o"
        " AND event_type = 'wallet.hold_released'",
        o=org,
    )
    assert event.idempotency_key == f"hold_released:{hold.hold_id}"
    assert event.payload["reversal_key"] == key
