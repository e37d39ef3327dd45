"""The coalescer with holds on the real database: new holds, captures and releases share their
group's transaction with single spends, in organization then arrival order, and each caller gets
the outcome it would have had alone at its place in the line."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.audit import Actor
from db.holds import HoldOutcome, HoldRequest, SettleRequest
from db.spend_limits import LimitSpec, replace_limits
from db.spend_pool import SpendPool
from db.spending import AlertDefaults, SpendContext, SpendOutcome, SpendRequest
from services.wallet.coalescer import LedgerCoalescer
from services.wallet.holds import capture as services_capture
from tests.services.test_spend_coalescer import DEFAULTS, NEVER_BY_TIME, funded

Maker = async_sessionmaker[AsyncSession]
MakeOrganization = Callable[[], Awaitable[int]]
CONTEXT = SpendContext("service", "api_key:7", "10.0.0.1", "request-1")
Outcome = SpendOutcome | HoldOutcome


def hold(org: int, amount: str, key: str, *, asked: str = "ttl:PT5M") -> HoldRequest:
    return HoldRequest(
        org, Decimal(amount), key, datetime.now(UTC) + timedelta(minutes=5), asked, "claim"
    )


def spend(org: int, amount: str, key: str) -> SpendRequest:
    return SpendRequest(org, Decimal(amount), key, "claim review")


def capture(org: int, hold_id: int | None, amount: str | None = None) -> SettleRequest:
    assert hold_id is not None
    return SettleRequest(org, hold_id, "captured", None if amount is None else Decimal(amount))


def release(org: int, hold_id: int | None) -> SettleRequest:
    assert hold_id is not None
    return SettleRequest(org, hold_id, "released")


def one_group(coalescer: LedgerCoalescer, *operations: object) -> Awaitable[list[Outcome]]:
    """The operations sent together, in this order; the coalescer's batch size is their number,
    so they go in one group."""

    async def sent(operation: object) -> Outcome:
        if isinstance(operation, SpendRequest):
            return await coalescer.spend(operation, CONTEXT)
        if isinstance(operation, HoldRequest):
            return await coalescer.hold(operation, CONTEXT)
        assert isinstance(operation, SettleRequest)
        return await coalescer.settle(operation, CONTEXT)

    return asyncio.gather(*(sent(o) for o in operations))


async def wallet(session_maker: Maker, org: int) -> tuple[Decimal, Decimal]:
    async with session_maker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT current_balance, held_balance FROM organization_token_wallets "
                    "WHERE organization_id = :o"
                ),
                {"o": org},
            )
        ).one()
    return row.current_balance, row.held_balance


async def test_holds_spends_and_captures_in_one_group_are_answered_in_arrival_order(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
):
    org = await funded(session_maker, make_organization, "10")
    other = await funded(session_maker, make_organization, "3")
    first = await LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, 1).hold(
        hold(org, "2", "h0"), CONTEXT
    )
    line = (
        hold(org, "3", "a"),  # 8 -> 5
        spend(other, "4", "elsewhere"),  # another wallet: refused on its own balance
        spend(org, "4", "s1"),  # 5 -> 1
        hold(org, "2", "b"),  # no longer fits after the two before it
        capture(org, first.hold_id, "1"),  # 1 captured, 1 released: 1 -> 2
        hold(org, "2", "c"),  # 2 -> 0
        spend(org, "1", "s2"),  # nothing left
    )
    coalescer = LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=len(line))

    outcomes = await one_group(coalescer, *line)

    assert [(o.status, o.balance) for o in outcomes] == [
        ("applied", Decimal(5)),
        ("insufficient_balance", Decimal(3)),
        ("applied", Decimal(1)),
        ("insufficient_balance", Decimal(1)),
        ("applied", Decimal(2)),
        ("applied", Decimal(0)),
        ("insufficient_balance", Decimal(0)),
    ]
    held = outcomes[4]
    assert isinstance(held, HoldOutcome)
    assert (held.captured_amount, held.released_amount) == (Decimal(1), Decimal(1))
    assert await wallet(session_maker, org) == (Decimal(0), Decimal(5))
    assert await wallet(session_maker, other) == (Decimal(3), Decimal(0))
    reserve_of_first = await _reserve_transaction(session_maker, org, first.hold_id)
    async with session_maker() as session:
        groups = await session.scalar(
            text(
                "SELECT count(DISTINCT t.xmin::text) FROM ledger_transactions t "
                "JOIN organization_token_wallets w ON w.id = t.wallet_id "
                "WHERE w.organization_id = :o AND t.id > :first"
            ),
            {"o": org, "first": reserve_of_first},
        )
    assert groups == 1, "the group's holds, capture, release and spend committed together"


async def _reserve_transaction(session_maker: Maker, org: int, hold_id: int | None) -> int:
    async with session_maker() as session:
        found = await session.scalar(
            text(
                "SELECT hold_transaction_id FROM token_holds WHERE organization_id = :o AND id = :h"
            ),
            {"o": org, "h": hold_id},
        )
    assert found is not None
    return int(found)


async def test_a_hold_key_sent_twice_in_one_group_or_across_groups_holds_once(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
):
    org = await funded(session_maker, make_organization, "10")
    coalescer = LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=3)

    together = await one_group(
        coalescer, hold(org, "2", "k"), hold(org, "2", "k"), hold(org, "3", "k")
    )
    later = await one_group(
        coalescer, spend(org, "1", "s"), hold(org, "2", "k"), spend(org, "1", "t")
    )
    alone = await LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, 1).hold(
        hold(org, "2", "k"), CONTEXT
    )

    assert [o.status for o in together] == ["applied", "replayed", "idempotency_key_reused"]
    assert [o.status for o in later] == ["applied", "replayed", "applied"]
    assert alone.status == "replayed"
    hold_ids = {o.hold_id for o in (*together[:2], later[1], alone) if isinstance(o, HoldOutcome)}
    assert len(hold_ids) == 1, "one hold, answered to every replay"
    assert await wallet(session_maker, org) == (Decimal(6), Decimal(2))


async def test_a_failed_group_answers_every_caller_with_the_error_and_applies_nothing(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
):
    org = await funded(session_maker, make_organization, "10")
    placed = await LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, 1).hold(
        hold(org, "2", "p"), CONTEXT
    )
    coalescer = LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=4)
    line = (
        spend(org, "1", "fine-spend"),
        hold(org, "1", "fine-hold"),
        capture(org, placed.hold_id),
        # The server refuses it mid-transaction: token_holds.expiry_request holds 64 characters.
        hold(org, "1", "unwritable", asked="ttl:" + "P" * 80),
    )

    answers = await asyncio.gather(*(one_group(coalescer, o) for o in line), return_exceptions=True)

    assert all(isinstance(a, Exception) for a in answers), answers
    assert await wallet(session_maker, org) == (Decimal(8), Decimal(2)), "nothing applied"
    retried = await one_group(coalescer, *line[:3], spend(org, "1", "another"))
    assert [o.status for o in retried] == ["applied"] * 4, "the keys and the hold stayed free"
    assert await wallet(session_maker, org) == (Decimal(5), Decimal(1))


async def test_a_failed_group_of_hold_commands_alone_applies_nothing_either(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
):
    """A group of hold commands only goes as one statement without BEGIN and COMMIT
    (db/spend_together.py): the statement is its transaction, so a failure in its last write
    still takes back the holds and the capture before it."""
    org = await funded(session_maker, make_organization, "10")
    placed = await LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, 1).hold(
        hold(org, "2", "p"), CONTEXT
    )
    coalescer = LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=3)
    line = (
        hold(org, "1", "fine-hold"),
        capture(org, placed.hold_id, "1"),
        hold(org, "1", "unwritable", asked="ttl:" + "P" * 80),  # expiry_request: 64 characters
    )

    answers = await asyncio.gather(*(one_group(coalescer, o) for o in line), return_exceptions=True)

    assert all(isinstance(a, Exception) for a in answers), answers
    assert await wallet(session_maker, org) == (Decimal(8), Decimal(2)), "nothing applied"
    retried = await one_group(coalescer, *line[:2], hold(org, "1", "another"))
    assert [o.status for o in retried] == ["applied"] * 3, "the key and the hold stayed free"
    assert await wallet(session_maker, org) == (Decimal(7), Decimal(2))


@pytest.mark.parametrize("first", ["capture", "release"])
async def test_capture_and_release_of_one_hold_in_one_group_the_first_wins(
    first: str, pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
):
    org = await funded(session_maker, make_organization, "10")
    placed = await LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, 1).hold(
        hold(org, "4", "h"), CONTEXT
    )
    settlements = [capture(org, placed.hold_id), release(org, placed.hold_id)]
    if first == "release":
        settlements.reverse()
    coalescer = LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=2)

    winner, loser = await one_group(coalescer, *settlements)

    assert winner.status == "applied"
    assert isinstance(loser, HoldOutcome)
    assert (loser.status, loser.hold_status) == (
        "hold_not_active", "captured" if first == "capture" else "released"
    )  # fmt: skip
    expected = (Decimal(6), Decimal(0)) if first == "capture" else (Decimal(10), Decimal(0))
    assert await wallet(session_maker, org) == expected


async def test_concurrent_holds_spends_and_captures_never_take_a_wallet_below_zero(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
):
    org = await funded(session_maker, make_organization, "30")
    coalescer = LedgerCoalescer(pool, DEFAULTS, 0.002, max_batch=8, adaptive=True)

    async def hold_and_capture(n: int) -> list[str]:
        placed = await coalescer.hold(hold(org, "2", f"hold-{n}"), CONTEXT)
        if placed.status != "applied":
            return [placed.status]
        captured = await coalescer.settle(capture(org, placed.hold_id, "1"), CONTEXT)
        return [placed.status, captured.status]

    async def spend_one(n: int) -> list[str]:
        return [(await coalescer.spend(spend(org, "1", f"spend-{n}"), CONTEXT)).status]

    answers = await asyncio.gather(
        *(hold_and_capture(n) if n % 2 else spend_one(n) for n in range(40))
    )

    balance, held = await wallet(session_maker, org)
    assert balance >= 0 and held == 0
    holds = [a for n, a in enumerate(answers) if n % 2]
    spends = [a for n, a in enumerate(answers) if not n % 2]
    captured = sum(1 for a in holds if a == ["applied", "applied"])
    spent = sum(1 for a in spends if a == ["applied"])
    assert all(a in (["applied", "applied"], ["insufficient_balance"]) for a in holds), holds
    assert all(a in (["applied"], ["insufficient_balance"]) for a in spends), spends
    assert balance == Decimal(30 - captured - spent), "each applied answer is in the balance"


async def test_an_adaptive_lone_hold_starts_at_once_without_waiting_the_window(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
):
    org = await funded(session_maker, make_organization, "10")
    coalescer = LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=64, adaptive=True)

    placed = await asyncio.wait_for(coalescer.hold(hold(org, "3", "alone"), CONTEXT), 60)
    released = await asyncio.wait_for(coalescer.settle(release(org, placed.hold_id), CONTEXT), 60)

    assert (placed.status, released.status, released.balance) == ("applied", "applied", Decimal(10))


@dataclass
class Line:
    """The spend line the services take, with a relay that counts its nudges."""

    pool: SpendPool
    coalescer: LedgerCoalescer
    defaults: AlertDefaults = DEFAULTS
    nudges: int = 0

    @property
    def relay(self) -> "Line":
        return self

    def nudge(self) -> None:
        self.nudges += 1


async def test_coalesced_captures_count_against_limits_and_a_soft_one_nudges_the_relay(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
):
    org = await funded(session_maker, make_organization, "100")
    async with session_maker() as session, session.begin():
        await replace_limits(
            session, org, [LimitSpec(None, "day", Decimal(5), "soft")], actor=Actor.system("t")
        )
    line = Line(pool, LedgerCoalescer(pool, DEFAULTS, NEVER_BY_TIME, max_batch=2))
    placed = await one_group(line.coalescer, hold(org, "4", "a"), hold(org, "4", "b"))

    ids = [p.hold_id for p in placed if isinstance(p, HoldOutcome) and p.hold_id is not None]

    captured = await asyncio.gather(*(services_capture(line, org, i, None, CONTEXT) for i in ids))

    assert [c.status for c in captured] == ["applied", "applied"]
    assert [c.events for c in captured] == [0, 1], "the second capture crossed the soft cap"
    assert line.nudges == 1
    async with session_maker() as session:
        used = await session.scalar(
            text("SELECT sum(used) FROM spend_limit_usage WHERE organization_id = :o"),
            {"o": org},
        )
    assert used == Decimal(8)
