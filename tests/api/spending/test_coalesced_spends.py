"""Single spends over HTTP with coalescing on: concurrent spends on one wallet share
transactions, and every caller still gets exactly the answer it would have had alone."""

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from itertools import cycle, islice
from typing import cast

import httpx
from psycopg import AsyncConnection
from sqlalchemy import text

from api.spending_state import SpendingState
from tests.api.helpers import Maker
from tests.api.spending.conftest import FundOrganization, LiveApi, MakeApiKey, serve
from tests.api.spending.test_consume import balance_and_debits, consume
from tokenbill.settings import Settings, to_libpq_url
from tokenbill.workflow_client import WorkflowClient

NEVER_BY_TIME = timedelta(minutes=10)  # these groups are flushed by their size, not the clock


@asynccontextmanager
async def coalescing(
    settings: Settings, window: timedelta, max_batch: int = 64
) -> AsyncIterator[LiveApi]:
    update = {"spend_coalesce_window": window, "spend_coalesce_max_batch": max_batch}
    served = cast(AsyncGenerator[LiveApi, None], serve(settings.model_copy(update=update)))
    api = await anext(served)
    try:
        yield api
    finally:
        await served.aclose()


async def transactions_of(session_maker: Maker, org: int) -> list[str]:
    """The database transaction (xmin) of each of the organization's spends."""
    async with session_maker() as session:
        rows = await session.scalars(
            text(
                "SELECT t.xmin::text FROM ledger_transactions t JOIN organization_token_wallets w"
                " ON w.id = t.wallet_id WHERE w.organization_id = :o AND t.kind = 'consumption'"
            ),
            {"o": org},
        )
        return list(rows)


async def test_concurrent_spends_on_one_wallet_apply_exactly_what_was_answered(
    spend_settings: Settings,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    session_maker: Maker,
):
    org = await fund("100")
    amounts = list(islice(cycle(["1", "2", "3", "5", "0.5"]), 240))
    key = await make_api_key(org)
    async with (
        coalescing(spend_settings, timedelta(milliseconds=20)) as api,
        # 32 connections, as the bench's callers: the in-process server resets some of 200
        # connections opened at once on a busy machine, with or without coalescing.
        httpx.AsyncClient(
            base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=60,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        ) as client,
    ):  # fmt: skip
        answers = await asyncio.gather(*(consume(client, org, a) for a in amounts))

    assert {a.status_code for a in answers} <= {201, 409}
    spent = [Decimal(m) for m, a in zip(amounts, answers, strict=True) if a.status_code == 201]
    balance, debits = await balance_and_debits(session_maker, org)
    assert balance >= 0
    assert sum(spent) == Decimal(100) - balance and debits == len(spent)
    for amount, answer in zip(amounts, answers, strict=True):
        if answer.status_code == 409:
            details = answer.json()["error"]["details"]
            assert answer.json()["error"]["code"] == "insufficient_balance"
            assert Decimal(details["requested"]) == Decimal(amount)
            assert Decimal(amount) > Decimal(details["balance"]) >= balance
    assert all(
        Decimal(m) > balance for m, a in zip(amounts, answers, strict=True) if a.status_code == 409
    ), "a spend that fits in what is left at the end fitted at its place in line"
    async with session_maker() as session:
        chain = (
            await session.execute(
                text(
                    "SELECT balance_before, balance_after, -change_amount FROM "
                    "token_balance_history WHERE organization_id = :o AND change_type = "
                    "'consumption' ORDER BY transaction_id"
                ),
                {"o": org},
            )
        ).all()
    assert chain[0][0] == Decimal(100) and chain[-1][1] == balance
    assert all(before - amount == after for before, after, amount in chain)
    assert all(chain[n][1] == chain[n + 1][0] for n in range(len(chain) - 1))


async def test_the_same_key_twice_in_one_window_spends_once_and_both_get_the_answer(
    spend_settings: Settings,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    session_maker: Maker,
):
    org = await fund("10")
    async with (
        coalescing(spend_settings, NEVER_BY_TIME, max_batch=2) as api,
        api.client(await make_api_key(org)) as client,
    ):
        twice = await asyncio.gather(*(consume(client, org, "4", key="order-7") for _ in "ab"))
        other_body = await asyncio.gather(
            consume(client, org, "1", key="order-8"), consume(client, org, "2", key="order-8")
        )

    assert [a.status_code for a in twice] == [201, 201]
    assert twice[0].json() == twice[1].json()
    assert sorted(a.headers.get("Idempotent-Replayed", "-") for a in twice) == ["-", "true"]
    assert sorted(a.status_code for a in other_body) == [201, 422]
    refused = next(a for a in other_body if a.status_code == 422)
    assert refused.json()["error"]["code"] == "idempotency_key_reused"
    assert len(set(await transactions_of(session_maker, org))) == 2, "one per window"
    applied = next(a for a in other_body if a.status_code == 201).json()["entry"]["amount"]
    assert await balance_and_debits(session_maker, org) == (Decimal(6) - Decimal(applied), 2)


async def test_a_window_whose_transaction_fails_answers_every_caller_and_applies_nothing(
    spend_settings: Settings,
    database_url: str,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    session_maker: Maker,
):
    org = await fund("10")
    keys = [f"claim-{n}" for n in range(5)]
    async with (
        coalescing(spend_settings, NEVER_BY_TIME, max_batch=len(keys)) as api,
        api.client(await make_api_key(org)) as client,
    ):
        async with session_maker() as holder, holder.begin():
            await holder.execute(
                text(
                    "SELECT 1 FROM organization_token_wallets WHERE organization_id = :o FOR UPDATE"
                ),
                {"o": org},
            )
            spends = asyncio.gather(*(consume(client, org, "1", key=k) for k in keys))
            await terminate_the_spend_waiting_for_the_wallet(database_url)
        failed = await spends
        retried = await asyncio.gather(*(consume(client, org, "1", key=k) for k in keys))

    assert [a.status_code for a in failed] == [503] * len(keys)
    assert {a.json()["error"]["code"] for a in failed} == {"database_unavailable"}
    assert [a.status_code for a in retried] == [201] * len(keys)
    assert not any("Idempotent-Replayed" in a.headers for a in retried), "nothing was applied"
    assert await balance_and_debits(session_maker, org) == (Decimal(5), 5)


async def terminate_the_spend_waiting_for_the_wallet(database_url: str) -> None:
    """Kill the server process of the coalesced transaction once it waits for the wallet lock
    (as the database's owner: the application role sees no other session)."""
    async with await AsyncConnection.connect(to_libpq_url(database_url), autocommit=True) as conn:
        for _ in range(600):
            cursor = await conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                "wait_event_type = 'Lock' AND query LIKE '%ledger_spend_batch%' "
                "AND datname = current_database()"
            )
            killed = await cursor.fetchone()
            if killed and killed[0]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the coalesced spend never reached the wallet lock")


async def test_with_the_window_at_zero_each_spend_is_its_own_transaction(
    spend_settings: Settings,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    session_maker: Maker,
):
    off = spend_settings.model_copy(update={"spend_coalesce_window": timedelta(0)})
    state = await SpendingState.open(off, WorkflowClient(off))
    await state.close()
    assert state.coalescer is None
    org = await fund("10")
    async with (
        coalescing(spend_settings, timedelta(0)) as api,
        api.client(await make_api_key(org)) as client,
    ):
        answers = await asyncio.gather(*(consume(client, org, "1") for _ in range(12)))
    assert sorted(a.status_code for a in answers) == [201] * 10 + [409] * 2
    assert len(set(await transactions_of(session_maker, org))) == 10


async def test_a_spend_replayed_in_a_later_window_answers_its_first_result(
    spend_settings: Settings, fund: FundOrganization, make_api_key: MakeApiKey
):
    org = await fund("10")
    key = uuid.uuid4().hex
    async with (
        coalescing(spend_settings, NEVER_BY_TIME, max_batch=1) as api,
        api.client(await make_api_key(org)) as client,
    ):
        first = await consume(client, org, "3", key=key, reference="claim-1")
        await consume(client, org, "1")
        again = await consume(client, org, "3", key=key, reference="claim-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.json()["balance"] == "7"
    assert again.headers["Idempotent-Replayed"] == "true"
