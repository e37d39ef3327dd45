"""Runs of holds and of settlements in one call (migration 0026): a group applied together gives
every request the answer, and leaves in the database the rows, that the same requests one at a
time (`ledger_hold`, `ledger_hold_settle`) give and leave."""

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.audit import Actor
from db.holds import HoldOutcome, HoldRequest, SettleRequest, place_hold, settle_hold
from db.spend_limits import LimitSpec, replace_limits
from db.spend_pool import SpendPool
from db.spend_together import Operated, apply_together
from db.spending import AlertDefaults, SpendContext

Maker = async_sessionmaker[AsyncSession]
MakeOrganization = Callable[[], Awaitable[int]]
# Thresholds the holds below cross (alerts at a hold, 0024).
DEFAULTS = AlertDefaults(low=Decimal(8), critical=Decimal(3), auto_topup=True)
CONTEXTS = [SpendContext("service", f"api_key:{n}", "10.0.0.1", f"request-{n}") for n in range(3)]


def in_five_minutes() -> datetime:
    """A hold's expiry, taken when the test runs: the suite may reach a test more than five
    minutes after it imported the module."""
    return datetime.now(UTC) + timedelta(minutes=5)


UNKNOWN_HOLD = 9_000_000_000


async def two_lots(
    session_maker: Maker, make_organization: MakeOrganization, *, first_expired: bool = False
) -> int:
    """An organization whose 12 tokens are in two lots of 5 and 7 (a capture's draw crosses
    from one to the other); the first one past its expiry, not swept yet, if asked."""
    org = await make_organization()
    expiries = (datetime.now(UTC) - timedelta(hours=1) if first_expired else None, None)
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, org)
        for n, (amount, expires) in enumerate(zip(("5", "7"), expiries, strict=True)):
            await ledger.credit(
                session, wallet_id=wallet, amount=Decimal(amount),
                idempotency_key=f"t:{org}:{n}", expires_at=expires,
            )  # fmt: skip
    return org


def holds(org: int) -> list[Operated]:
    """Placed, placed, refused for want of tokens, placed (under both thresholds), the first
    replayed, the second's key with another body."""
    asked = [("a", "3"), ("b", "4"), ("c", "6"), ("d", "3"), ("a", "3"), ("b", "5")]
    return [
        (HoldRequest(org, Decimal(n), key, in_five_minutes(), "ttl:PT5M", "claim", key), c)
        for (key, n), c in zip(asked, CONTEXTS * 2, strict=True)
    ]


def settlements(org: int, ids: dict[str, int]) -> list[Operated]:
    """A part captured, too much asked, a release, a whole capture (draws across both lots),
    the first again (a replay), an unknown hold, the released one captured (not active)."""
    asked: list[tuple[int, str, str | None]] = [
        (ids["a"], "captured", "1"),
        (ids["b"], "captured", "5"),
        (ids["b"], "released", None),
        (ids["d"], "captured", None),
        (ids["a"], "captured", "1"),
        (UNKNOWN_HOLD, "released", None),
        (ids["b"], "captured", "2"),
    ]
    return [
        (SettleRequest(org, hold, outcome, None if n is None else Decimal(n)), c)  # type: ignore[arg-type]
        for (hold, outcome, n), c in zip(asked, CONTEXTS * 3, strict=False)
    ]


async def one_at_a_time(pool: SpendPool, operations: list[Operated]) -> list[HoldOutcome]:
    outcomes = []
    async with pool.connection() as conn:
        for operation, context in operations:
            if isinstance(operation, HoldRequest):
                outcomes.append(await place_hold(conn, operation, context, DEFAULTS))
            else:
                assert isinstance(operation, SettleRequest)
                outcomes.append(
                    await settle_hold(
                        conn,
                        operation.organization_id,
                        operation.hold_id,
                        operation.outcome,
                        operation.amount,
                        context,
                    )
                )
    return outcomes


async def together(pool: SpendPool, operations: list[Operated]) -> list[HoldOutcome]:
    async with pool.connection() as conn:
        outcomes = await apply_together(conn, operations, DEFAULTS)
    assert all(isinstance(o, HoldOutcome) for o in outcomes)
    return [o for o in outcomes if isinstance(o, HoldOutcome)]


def answered(outcomes: list[HoldOutcome], ids: dict[int, str]) -> list[tuple[object, ...]]:
    return [
        (
            o.status,
            ids.get(o.hold_id or 0),
            o.hold_status,
            o.amount,
            o.captured_amount,
            o.released_amount,
            o.balance,
            o.held,
            o.description,
            o.reference,
            o.events,
            o.limit and replace(o.limit, limit_id=0),  # each organization's own limit
        )
        for o in outcomes
    ]


async def book(
    session_maker: Maker, org: int, ids: dict[int, str], transactions: dict[int, str]
) -> dict[str, list[Any]]:
    """What the organization's rows say, hold and transaction ids named by their place."""

    def named(value: object) -> object:
        if isinstance(value, dict):
            return {
                k: transactions.get(v, v) if k.endswith("transaction_id") else v
                for k, v in value.items()
            }
        if isinstance(value, str):
            value = re.sub(r"^t:\d+:", "fund:", re.sub(r"org-\d+$", "org", value))
            return re.sub(r"^hold:(\d+):", lambda m: f"hold:{ids[int(m.group(1))]}:", value)
        return value

    queries = {
        "transactions": "SELECT idempotency_key, kind, amount, description, reference"
        " FROM ledger_transactions WHERE organization_id = :o ORDER BY id",
        "entries": "SELECT t.idempotency_key, a.code, e.amount FROM ledger_entries e"
        " JOIN ledger_transactions t ON t.id = e.transaction_id AND t.organization_id = :o"
        " JOIN ledger_accounts a ON a.id = e.account_id WHERE e.organization_id = :o"
        " ORDER BY e.id",
        "history": "SELECT t.idempotency_key, h.change_type, h.change_amount, h.balance_before,"
        " h.balance_after, h.description, h.reference FROM token_balance_history h"
        " JOIN ledger_transactions t ON t.id = h.transaction_id AND t.organization_id = :o"
        " WHERE h.organization_id = :o ORDER BY h.id",
        "audit": "SELECT actor_type, actor_id, action, target_id::bigint, before,"
        " after - 'expires_at',"
        " ip_address, request_id FROM token_audit_logs WHERE organization_id = :o"
        " AND action LIKE 'tokens.hold%' ORDER BY id",
        "holds": "SELECT id, idempotency_key, status, amount, captured_amount, released_amount,"
        " settled_at IS NOT NULL, capture_transaction_id IS NOT NULL,"
        " release_transaction_id IS NOT NULL FROM token_holds WHERE organization_id = :o"
        " ORDER BY id",
        "wallet": "SELECT current_balance, held_balance, total_consumed"
        " FROM organization_token_wallets WHERE organization_id = :o",
        "lots": "SELECT original_amount, remaining_amount FROM token_lots"
        " WHERE organization_id = :o ORDER BY id",
        "alerts": "SELECT event_type, payload - 'transaction_id' - 'notification_id'"
        " - 'wallet_id' - 'organization_id' FROM notification_events"
        " WHERE organization_id = :o ORDER BY id",
    }
    async with session_maker() as session:
        return {
            name: [
                tuple(ids.get(v, v) if type(v) is int else named(v) for v in row)
                for row in (await session.execute(text(sql), {"o": org})).all()
            ]
            for name, sql in queries.items()
        }


async def transaction_names(session_maker: Maker, org: int) -> dict[int, str]:
    async with session_maker() as session:
        rows = await session.execute(
            text("SELECT id, idempotency_key FROM ledger_transactions WHERE organization_id = :o"),
            {"o": org},
        )
        return {row.id: re.sub(r"^hold:\d+", "hold", row.idempotency_key) for row in rows}


async def test_runs_of_holds_and_settlements_answer_and_write_as_one_at_a_time(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
) -> None:
    alone, grouped = [await two_lots(session_maker, make_organization) for _ in range(2)]

    placed_alone = await one_at_a_time(pool, holds(alone))
    placed_grouped = await together(pool, holds(grouped))
    ids_alone = {o.hold_id: k for o, k in zip(placed_alone, "abcd", strict=False) if o.hold_id}
    ids_grouped = {o.hold_id: k for o, k in zip(placed_grouped, "abcd", strict=False) if o.hold_id}
    by_key_alone = {k: i for i, k in ids_alone.items() if i is not None}
    by_key_grouped = {k: i for i, k in ids_grouped.items() if i is not None}
    settled_alone = await one_at_a_time(pool, settlements(alone, by_key_alone))
    settled_grouped = await together(pool, settlements(grouped, by_key_grouped))

    assert [o.status for o in placed_grouped] == [
        "applied", "applied", "insufficient_balance", "applied", "replayed",
        "idempotency_key_reused",
    ]  # fmt: skip
    assert [o.status for o in settled_grouped] == [
        "applied", "capture_exceeds_hold", "applied", "applied", "replayed", "hold_not_found",
        "hold_not_active",
    ]  # fmt: skip
    assert sum(o.events for o in placed_grouped) == 2, "the low and the critical alert"
    assert answered(placed_grouped, ids_grouped) == answered(placed_alone, ids_alone)
    assert answered(settled_grouped, ids_grouped) == answered(settled_alone, ids_alone)
    transactions_alone = await transaction_names(session_maker, alone)
    transactions_grouped = await transaction_names(session_maker, grouped)
    assert await book(session_maker, grouped, ids_grouped, transactions_grouped) == await book(
        session_maker, alone, ids_alone, transactions_alone
    )


async def test_a_run_of_captures_is_judged_against_a_hard_limit_capture_by_capture(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
) -> None:
    alone, grouped = [await two_lots(session_maker, make_organization) for _ in range(2)]
    for org in (alone, grouped):
        async with session_maker() as session, session.begin():
            await replace_limits(
                session, org, [LimitSpec(None, "day", Decimal(4), "hard")], actor=Actor.system("t")
            )

    results = []
    for org, apply in ((alone, one_at_a_time), (grouped, together)):
        placed = await apply(pool, holds(org)[:2] + holds(org)[3:4])
        ids = {o.hold_id: k for o, k in zip(placed, "abd", strict=True) if o.hold_id}
        keys = {k: i for i, k in ids.items()}
        asked: list[Operated] = [
            (SettleRequest(org, keys[k], "captured", Decimal(n)), CONTEXTS[0])
            for k, n in (("a", "2"), ("b", "3"), ("d", "2"))
        ]
        results.append(answered(await apply(pool, asked), ids))

    alone_answers, grouped_answers = results
    assert [a[0] for a in grouped_answers] == ["applied", "spend_limit_reached", "applied"]
    assert grouped_answers == alone_answers


async def test_a_mixed_run_frees_released_and_expired_tokens_for_the_holds_after_them(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
) -> None:
    """Holds and settlements of one organization in one call, in arrival order: a capture draws
    the expired lot first (those tokens no longer count against the available balance) and a
    release gives tokens back, each before the holds that arrived after it."""
    orgs = [await two_lots(session_maker, make_organization, first_expired=True) for _ in "ab"]
    answers, books = [], []
    for org, apply in zip(orgs, (one_at_a_time, together), strict=True):
        placed = await apply(pool, holds(org)[:2])
        ids = {o.hold_id: k for o, k in zip(placed, "ab", strict=True) if o.hold_id}
        keys = {k: i for i, k in ids.items()}
        asked: list[Operated] = [
            (SettleRequest(org, keys["a"], "captured", Decimal(3)), CONTEXTS[0]),
            (
                HoldRequest(org, Decimal(3), "e", in_five_minutes(), "ttl:PT5M", "claim", "e"),
                CONTEXTS[1],
            ),
            (SettleRequest(org, keys["b"], "captured", Decimal(2)), CONTEXTS[2]),
            (
                HoldRequest(org, Decimal(5), "f", in_five_minutes(), "ttl:PT5M", "claim", "f"),
                CONTEXTS[0],
            ),
            (
                HoldRequest(org, Decimal(4), "g", in_five_minutes(), "ttl:PT5M", "claim", "g"),
                CONTEXTS[1],
            ),
            (SettleRequest(org, UNKNOWN_HOLD, "released"), CONTEXTS[2]),
        ]
        mixed = await apply(pool, asked)
        ids |= {o.hold_id: k for o, k in zip(mixed, "aebfgu", strict=True) if o.hold_id}
        answers.append(answered(mixed, ids))
        books.append(
            await book(session_maker, org, ids, await transaction_names(session_maker, org))
        )

    assert [a[0] for a in answers[1]] == [
        "applied", "applied", "applied", "insufficient_balance", "applied", "hold_not_found",
    ]  # fmt: skip
    assert answers[1] == answers[0]
    assert books[1] == books[0]


async def test_a_settlement_of_a_hold_placed_earlier_in_its_run_sees_it_placed(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
) -> None:
    """A hold's id is known only once its group commits, but one can be guessed: a capture of
    it in the same run is answered and written as after the hold alone."""
    alone, grouped = [await two_lots(session_maker, make_organization) for _ in "ab"]
    placed = await one_at_a_time(pool, holds(alone)[:1])
    assert placed[0].hold_id is not None
    settled = await one_at_a_time(
        pool, [(SettleRequest(alone, placed[0].hold_id, "captured", Decimal(1)), CONTEXTS[1])]
    )
    async with session_maker() as session:
        guessed = await session.scalar(
            text(
                "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END"
                " FROM token_holds_id_seq"
            )
        )
    both = await together(
        pool,
        [
            holds(grouped)[0],
            (SettleRequest(grouped, int(guessed), "captured", Decimal(1)), CONTEXTS[1]),
        ],
    )

    assert both[0].hold_id == guessed
    assert [o.status for o in both] == ["applied", "applied"]
    ids_alone, ids_grouped = {placed[0].hold_id: "a"}, {int(guessed): "a"}
    assert answered(both, ids_grouped) == answered(placed + settled, ids_alone)
    assert await book(
        session_maker, grouped, ids_grouped, await transaction_names(session_maker, grouped)
    ) == await book(session_maker, alone, ids_alone, await transaction_names(session_maker, alone))


async def test_a_run_carries_any_text_amount_and_instant_to_the_database_as_sent(
    pool: SpendPool, session_maker: Maker, make_organization: MakeOrganization
) -> None:
    """A run's arrays are sent as literals (db/array_literals.py): quotes, backslashes, commas,
    braces, spaces, the word NULL and non-ASCII text, 4-decimal amounts and a microsecond
    expiry in another zone arrive as they were sent, as with a hold placed alone."""
    texts = ['say "hi", {x}', 'back\\slash \\" end', "NULL", " ", "", "ünï, 東京"]
    expires = (datetime.now(UTC) + timedelta(minutes=7)).astimezone(
        timezone(timedelta(hours=-3, minutes=-30))
    )
    orgs = [await two_lots(session_maker, make_organization) for _ in "ab"]
    runs: list[list[Operated]] = [
        [
            (
                HoldRequest(org, Decimal("0.0125"), f"k{n}{t}", expires, f"at:{t}", t, t or None),
                SpendContext("service", t, "10.0.0.1", f"request {t}"),
            )
            for n, t in enumerate(texts)
        ]
        for org in orgs
    ]
    placed_alone = await one_at_a_time(pool, runs[0])
    placed_grouped = await together(pool, runs[1])

    assert [o.status for o in placed_grouped] == ["applied"] * len(texts)
    assert [(o.description, o.reference) for o in placed_grouped] == [(t, t or None) for t in texts]
    assert {o.expires_at for o in placed_grouped} == {expires}
    assert {o.amount for o in placed_grouped} == {Decimal("0.0125")}
    ids_alone = {o.hold_id or 0: str(n) for n, o in enumerate(placed_alone)}
    ids_grouped = {o.hold_id or 0: str(n) for n, o in enumerate(placed_grouped)}
    assert answered(placed_grouped, ids_grouped) == answered(placed_alone, ids_alone)
    async with session_maker() as session:
        keys = await session.scalars(
            text("SELECT idempotency_key FROM token_holds WHERE organization_id = :o ORDER BY id"),
            {"o": orgs[1]},
        )
        assert [k.removeprefix(f"hold:{orgs[1]}:") for k in keys] == [
            f"k{n}{t}" for n, t in enumerate(texts)
        ]
