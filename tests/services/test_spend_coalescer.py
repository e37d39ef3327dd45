"""The spend coalescer on the real database: the spends of one window share one transaction and
each gets the outcome it would have had alone at its place in the line."""

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.spend_pool import SpendPool
from db.spending import AlertDefaults, SpendContext, SpendOutcome, SpendRequest
from services.wallet.coalescer import SpendCoalescer

Maker = async_sessionmaker[AsyncSession]
DEFAULTS = AlertDefaults(low=Decimal(0), critical=Decimal(0), auto_topup=False)
NEVER_BY_TIME = 600.0  # seconds: these groups are flushed by their size, never by the clock


async def funded(
    session_maker: Maker, make_organization: Callable[[], Awaitable[int]], amount: str
) -> int:
    org = await make_organization()
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, org)
        await ledger.credit(
            session, wallet_id=wallet, amount=Decimal(amount), idempotency_key=f"test:{org}:fund"
        )
    return org


async def commits_and_audit(
    session_maker: Maker, applied: dict[int | None, int]
) -> tuple[int | None, list[Row[Any]]]:
    """How many commits wrote these ledger transactions, and their audit rows (transaction id,
    actor, address, request id)."""
    async with session_maker() as session:
        commits = await session.scalar(
            text("SELECT count(DISTINCT xmin::text) FROM ledger_transactions WHERE id = ANY(:ids)"),
            {"ids": list(applied)},
        )
        audit = (
            await session.execute(
                text(
                    "SELECT target_id::bigint, actor_id, ip_address, request_id "
                    "FROM token_audit_logs "
                    "WHERE action = 'tokens.consume' AND target_id = ANY(:ids)"
                ),
                {"ids": [str(i) for i in applied]},
            )
        ).all()
    return commits, list(audit)


async def test_one_window_is_one_transaction_answered_in_arrival_order_per_wallet(
    pool: SpendPool, session_maker: Maker, make_organization: Callable[[], Awaitable[int]]
):
    a = await funded(session_maker, make_organization, "10")
    b = await funded(session_maker, make_organization, "4")
    line = [(a, "3"), (b, "5"), (a, "5"), (a, "4"), (b, "4"), (a, "2"), (a, "1")]
    coalescer = SpendCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=len(line))
    spends = [
        asyncio.create_task(
            coalescer.spend(
                SpendRequest(org, Decimal(amount), f"line-{n}", "claim review"),
                SpendContext("service", f"api_key:{n // 4}", f"10.0.0.{n}", f"request-{n}"),
            )
        )
        for n, (org, amount) in enumerate(line)
    ]
    outcomes = await asyncio.gather(*spends)

    assert [(o.status, o.balance) for o in outcomes] == [
        ("applied", Decimal(7)),
        ("insufficient_balance", Decimal(4)),
        ("applied", Decimal(2)),
        ("insufficient_balance", Decimal(2)),
        ("applied", Decimal(0)),
        ("applied", Decimal(0)),
        ("insufficient_balance", Decimal(0)),
    ]
    applied = {o.transaction_id: n for n, o in enumerate(outcomes) if o.status == "applied"}
    transactions, audit = await commits_and_audit(session_maker, applied)
    async with session_maker() as session:
        balances: dict[int, Decimal] = dict(
            (
                await session.execute(
                    text(
                        "SELECT organization_id, current_balance FROM organization_token_wallets "
                        "WHERE organization_id IN (:a, :b)"
                    ),
                    {"a": a, "b": b},
                )
            ).all()
        )
    assert transactions == 1, "the window's spends committed together"
    assert sorted(audit) == sorted(
        (i, f"api_key:{n // 4}", f"10.0.0.{n}", f"request-{n}") for i, n in applied.items()
    ), "each spend's audit row names its own caller and request"
    assert balances == {a: Decimal(0), b: Decimal(0)}


async def test_one_callers_window_goes_as_one_statement_and_audits_each_request_as_its_own(
    pool: SpendPool, session_maker: Maker, make_organization: Callable[[], Awaitable[int]]
):
    """One caller's spends are one run: one statement, `ledger_spend_batch_in_context` (0028),
    whose contexts still give every audit row its own address and request."""
    orgs = [await funded(session_maker, make_organization, "5") for _ in range(3)]
    line = [(orgs[0], "2"), (orgs[1], "5"), (orgs[0], "4"), (orgs[2], "1"), (orgs[0], "3")]
    coalescer = SpendCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=len(line))
    outcomes = await asyncio.gather(
        *(
            coalescer.spend(
                SpendRequest(org, Decimal(amount), f"one-run-{n}", "claim review"),
                SpendContext("service", "api_key:3", f"10.0.1.{n}", f"request-{n}"),
            )
            for n, (org, amount) in enumerate(line)
        )
    )

    assert [o.status for o in outcomes] == [
        "applied", "applied", "insufficient_balance", "applied", "applied",
    ]  # fmt: skip
    applied = {o.transaction_id: n for n, o in enumerate(outcomes) if o.status == "applied"}
    statements, audit = await commits_and_audit(session_maker, applied)
    assert statements == 1, "the run committed as one transaction"
    assert sorted(audit) == sorted(
        (i, "api_key:3", f"10.0.1.{n}", f"request-{n}") for i, n in applied.items()
    )


async def test_a_failed_transaction_answers_every_spend_in_it_with_the_error_and_applies_none(
    pool: SpendPool, session_maker: Maker, make_organization: Callable[[], Awaitable[int]]
):
    org = await funded(session_maker, make_organization, "10")
    coalescer = SpendCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=3)
    context = SpendContext("service", "tests")
    spends = [
        SpendRequest(org, Decimal(1), "fine-1", "claim review"),
        SpendRequest(org, Decimal(1), "unwritable", "a NUL byte \x00 no text column takes"),
        SpendRequest(org, Decimal(1), "fine-2", "claim review"),
    ]
    answers = await asyncio.gather(
        *(coalescer.spend(s, context) for s in spends), return_exceptions=True
    )

    assert all(isinstance(a, Exception) for a in answers), answers
    async with session_maker() as session:
        balance = await session.scalar(
            text(
                "SELECT current_balance FROM organization_token_wallets WHERE organization_id = :o"
            ),
            {"o": org},
        )
    assert balance == Decimal(10)
    retried = await asyncio.gather(
        coalescer.spend(spends[0], context), coalescer.spend(spends[2], context),
        coalescer.spend(SpendRequest(org, Decimal(1), "fine-3", "claim review"), context),
    )  # fmt: skip
    assert [o.status for o in retried] == ["applied"] * 3, "the keys stayed free"


async def test_spends_for_a_wallet_in_flight_wait_and_go_together_while_others_go_on(
    pool: SpendPool, session_maker: Maker, make_organization: Callable[[], Awaitable[int]]
):
    hot = await funded(session_maker, make_organization, "10")
    other = await funded(session_maker, make_organization, "10")
    coalescer = SpendCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=2)
    context = SpendContext("service", "tests")

    def spend(org: int, key: str) -> asyncio.Task[SpendOutcome]:
        request = SpendRequest(org, Decimal(1), key, "claim review")
        return asyncio.create_task(coalescer.spend(request, context))

    async with session_maker() as holder, holder.begin():
        await holder.execute(
            text("SELECT 1 FROM organization_token_wallets WHERE organization_id = :o FOR UPDATE"),
            {"o": hot},
        )
        first = [spend(hot, "first-1"), spend(hot, "first-2")]
        second = [spend(hot, "second-1"), spend(hot, "second-2")]
        elsewhere = await spend(other, "elsewhere")
        assert elsewhere.status == "applied", "a wallet in flight holds up no other wallet"
        assert not any(t.done() for t in first + second)
    outcomes = [await t for t in first + second]

    assert [o.balance for o in outcomes] == [Decimal(n) for n in (9, 8, 7, 6)]
    async with session_maker() as session:
        rows = await session.execute(
            text("SELECT id, xmin::text FROM ledger_transactions WHERE id = ANY(:ids)"),
            {"ids": [o.transaction_id for o in outcomes]},
        )
        transaction_of: dict[int, str] = dict(rows.all())
    groups = [transaction_of[o.transaction_id or 0] for o in outcomes]
    assert groups[0] == groups[1] != groups[2] == groups[3]


async def test_an_adaptive_lone_spend_starts_at_once_without_waiting_the_window(
    pool: SpendPool, session_maker: Maker, make_organization: Callable[[], Awaitable[int]]
):
    org = await funded(session_maker, make_organization, "10")
    coalescer = SpendCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=64, adaptive=True)
    request = SpendRequest(org, Decimal(3), "alone", "claim review")

    # With a 600 s window and room for 64 this could only finish if it started at once.
    outcome = await asyncio.wait_for(coalescer.spend(request, SpendContext("service", "t")), 60)

    assert (outcome.status, outcome.balance) == ("applied", Decimal(7))


async def test_an_adaptive_window_opens_while_a_spend_is_in_flight_and_groups_the_others(
    pool: SpendPool, session_maker: Maker, make_organization: Callable[[], Awaitable[int]]
):
    hot = await funded(session_maker, make_organization, "10")
    other = await funded(session_maker, make_organization, "10")
    coalescer = SpendCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=2, adaptive=True)
    context = SpendContext("service", "tests")

    def spend(org: int, key: str) -> asyncio.Task[SpendOutcome]:
        request = SpendRequest(org, Decimal(1), key, "claim review")
        return asyncio.create_task(coalescer.spend(request, context))

    async with session_maker() as holder, holder.begin():
        await holder.execute(
            text("SELECT 1 FROM organization_token_wallets WHERE organization_id = :o FOR UPDATE"),
            {"o": hot},
        )
        blocked = spend(hot, "blocked")
        await asyncio.sleep(0)  # it starts alone and waits for the row lock
        pair = [spend(other, "pair-1"), spend(other, "pair-2")]
        outcomes = [await t for t in pair]
        assert not blocked.done()
    assert (await blocked).status == "applied"

    assert [o.balance for o in outcomes] == [Decimal(9), Decimal(8)]
    async with session_maker() as session:
        rows = await session.execute(
            text("SELECT count(DISTINCT xmin::text) FROM ledger_transactions WHERE id = ANY(:ids)"),
            {"ids": [o.transaction_id for o in outcomes]},
        )
        assert rows.scalar_one() == 1, "the two that arrived while one was in flight went together"
